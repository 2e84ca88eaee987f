import sys

import pandas as pd

from glmeval.io import write_parquet
from glmeval.models import load_embedder
from glmeval.runtime import resolve_device
from glmeval.zeroshot import available_scores, keyed_scores, score_variants

sys.stderr = open(snakemake.log[0], "w")
settings = snakemake.params.zeroshot
model = snakemake.params.model
if "precision" in settings:  # single-SNV ref/alt differences are small: the paper used fp32
    model = {**model, "precision": settings["precision"]}
embedder = load_embedder(
    snakemake.wildcards.model,
    model,
    snakemake.input.get("model"),
    device=resolve_device(snakemake.params.device),
)
scores = settings.get("scores", "auto")
layer = settings.get("layer", "last")
variants = pd.read_parquet(snakemake.input.variants)
scored = score_variants(
    embedder,
    variants,
    available_scores(embedder) if scores == "auto" else scores,
    layer=None if layer == "last" else layer,
    strands=settings.get("strands", "forward"),
    batch_size=settings.get("batch_size", 32),
)
write_parquet(keyed_scores(variants, scored), snakemake.output[0])  # the input's own keys
