import sys
from pathlib import Path

import torch

from glmeval.probes.run import Run, run_probe_group
from glmeval.runtime import resolve_device
from glmeval.vocabulary import SPLITS

sys.stderr = open(snakemake.log[0], "w")
torch.set_num_threads(snakemake.threads)
wc = snakemake.wildcards
settings = snakemake.params.settings
run_probe_group(
    Path(snakemake.input.task).parent,
    dict(zip(SPLITS, snakemake.input.embeddings)),
    settings["probe"],
    wc.representation,
    [Run(**run) for run in snakemake.params.runs],
    snakemake.output[0],
    context={"task": wc.task, "model": wc.model, "probe": wc.probe},
    fraction_sampling=settings["fraction_sampling"],
    fraction_splits=settings["fraction_splits"],
    device=resolve_device(snakemake.params.device),
)
