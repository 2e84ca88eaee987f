import os
import shutil
import sys
from pathlib import Path

import pandas as pd

from glmeval.embed import extract
from glmeval.io import read_json, sha256_of
from glmeval.models import embedding_settings, load_embedder, local_path, snapshot_record
from glmeval.models.features import write_features
from glmeval.models.kmer import write_kmer
from glmeval.runtime import resolve_device
from glmeval.vocabulary import SPLITS

sys.stderr = open(snakemake.log[0], "w")
model = snakemake.params.model
columns = read_json(snakemake.input.task)["sequence_columns"]
embedder = None
# your own features, looked up by id, and k-mer spectra: no model runs
if model["family"] not in ("features", "kmer"):
    embedder = load_embedder(
        snakemake.wildcards.model,
        model,
        snakemake.input.get("model"),
        device=resolve_device(snakemake.params.device),
    )


def embed_split(split_file: str, out: Path) -> None:
    """One split's artifact at `out` (one per sequence column of a two-sequence task)."""
    split = pd.read_parquet(split_file)
    if model["family"] == "kmer":  # cheap to redo: computed again from the sequences
        shutil.rmtree(out, ignore_errors=True)
        for column in columns:
            write_kmer(
                snakemake.wildcards.model,
                model,
                split[column].tolist(),
                out if columns == ["sequence"] else out / column,
                meta={"input_sha256": sha256_of(split_file), "sequence_column": column},
            )
        return
    if embedder is None:
        shutil.rmtree(out, ignore_errors=True)  # cheap to redo: read again from the file
        write_features(
            snakemake.wildcards.model,
            model,
            local_path(model, snakemake.input.model),
            Path(split_file).stem,
            split["id"].tolist(),
            out,
            meta={"source": model.get("source"), "input_sha256": sha256_of(split_file)},
        )
        return
    for column in columns:
        single = columns == ["sequence"]
        extract(
            embedder,
            split[column].tolist(),
            out if single else out / column,
            token_layers=snakemake.params.token_layers,
            batch_size=model.get("batch_size"),
            pooled=snakemake.params.pooled,
            meta={
                "source": model.get("source"),
                "snapshot": snapshot_record(snakemake.input.get("model")),
                "random_init": model.get("random_init"),
                "settings": embedding_settings(model),
                "input_sha256": sha256_of(split_file),
                "sequence_column": column,
            },
        )


# Every split is embedded beside its output (`<split>.done`, with its shards in progress in
# `<split>.done.partial`) and moved into place once all are: Snakemake deletes the outputs of
# a killed job, not these, so its rerun resumes (glmeval.embed.extract skips what is complete).
finished = {split: Path(getattr(snakemake.output, split) + ".done") for split in SPLITS}
for split in SPLITS:
    embed_split(getattr(snakemake.input, split), finished[split])
for split in SPLITS:
    os.replace(finished[split], getattr(snakemake.output, split))
