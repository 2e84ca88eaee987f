import sys
from pathlib import Path

import torch

from glmeval.probes.run import run_probe
from glmeval.runtime import resolve_device
from glmeval.vocabulary import SPLITS

sys.stderr = open(snakemake.log[0], "w")
torch.set_num_threads(snakemake.threads)
wc = snakemake.wildcards
settings = snakemake.params.run
run_probe(
    Path(snakemake.input.task).parent,
    dict(zip(SPLITS, snakemake.input.embeddings)),
    settings["probe"],
    wc.representation,
    int(wc.layer),
    int(wc.seed),
    Path(snakemake.output.metrics).parent,
    context={"task": wc.task, "model": wc.model, "probe": wc.probe},
    train_fraction=float(wc.fraction),
    fraction_sampling=settings["fraction_sampling"],
    fraction_splits=settings["fraction_splits"],
    device=resolve_device(snakemake.params.device),
)
