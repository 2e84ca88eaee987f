import sys

import pandas as pd

from glmeval.config import resolve_device
from glmeval.embed import extract
from glmeval.io import read_json, sha256_of
from glmeval.models import load_embedder, snapshot_record

sys.stderr = open(snakemake.log[0], "w")
model = snakemake.params.model
embedder = load_embedder(
    snakemake.wildcards.model,
    model,
    snakemake.input.get("model"),
    device=resolve_device(snakemake.params.device),
)
split = pd.read_parquet(snakemake.input.split)
columns = read_json(snakemake.input.task)["sequence_columns"]
for column in columns:  # a two-sequence task (splicing) gets one artifact per column
    extract(
        embedder,
        split[column].tolist(),
        snakemake.output[0] if columns == ["sequence"] else f"{snakemake.output[0]}/{column}",
        token_layers=snakemake.params.token_layers,
        batch_size=model.get("batch_size", 64),
        meta={
            "source": model.get("source"),
            "snapshot": snapshot_record(snakemake.input.get("model")),
            "random_init": model.get("random_init"),
            "input_sha256": sha256_of(snakemake.input.split),
            "sequence_column": column,
        },
    )
