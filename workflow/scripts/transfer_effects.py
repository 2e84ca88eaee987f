import sys

import pandas as pd

from glmeval.io import write_parquet
from glmeval.models import load_embedder
from glmeval.runtime import resolve_device
from glmeval.transfer import transfer_effects

sys.stderr = open(snakemake.log[0], "w")
wc = snakemake.wildcards
variants = pd.read_parquet(snakemake.input.variants)
if "element" in variants:  # CAGI5: the elements this task's cell type explains
    variants = variants[variants["element"].isin(snakemake.params.elements)]
embedder = load_embedder(
    wc.model,
    snakemake.params.model,
    snakemake.input.get("model"),
    device=resolve_device(snakemake.params.device),
)
effects = transfer_effects(
    embedder,
    snakemake.params.probe,
    wc.representation,
    int(wc.layer),
    variants.reset_index(drop=True),
    device=resolve_device(snakemake.params.device),
)
write_parquet(effects, snakemake.output[0])
