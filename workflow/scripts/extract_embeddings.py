import os
import sys
from pathlib import Path

import pandas as pd

from glmeval.embed import extract
from glmeval.io import read_json, sha256_of
from glmeval.models import embedding_settings, load_embedder, local_path, snapshot_record
from glmeval.models.features import write_features
from glmeval.runtime import resolve_device

sys.stderr = open(snakemake.log[0], "w")
model = snakemake.params.model
split = pd.read_parquet(snakemake.input.split)
out = Path(snakemake.output[0])


def read_features_file():
    """Your own features (family features), looked up by id: no model runs."""
    write_features(
        snakemake.wildcards.model,
        model,
        local_path(model, snakemake.input.model),
        snakemake.wildcards.split,
        split["id"].tolist(),
        out,
        meta={"source": model.get("source"), "input_sha256": sha256_of(snakemake.input.split)},
    )


def run_model():
    embedder = load_embedder(
        snakemake.wildcards.model,
        model,
        snakemake.input.get("model"),
        device=resolve_device(snakemake.params.device),
    )
    columns = read_json(snakemake.input.task)["sequence_columns"]
    # work in progress lives beside the output, which Snakemake deletes when a job fails
    staging = out.with_name(out.name + ".partial")
    for column in columns:  # a two-sequence task (splicing) gets one artifact per column
        single = columns == ["sequence"]
        extract(
            embedder,
            split[column].tolist(),
            out if single else staging / column,
            token_layers=snakemake.params.token_layers,
            batch_size=model.get("batch_size"),
            work_dir=staging if single else staging / f"{column}.partial",
            meta={
                "source": model.get("source"),
                "snapshot": snapshot_record(snakemake.input.get("model")),
                "random_init": model.get("random_init"),
                "settings": embedding_settings(model),
                "input_sha256": sha256_of(snakemake.input.split),
                "sequence_column": column,
            },
        )
    if columns != ["sequence"]:
        out.mkdir(parents=True, exist_ok=True)
        for column in columns:
            os.replace(staging / column, out / column)
        staging.rmdir()


if model["family"] == "features":
    read_features_file()
else:
    run_model()
