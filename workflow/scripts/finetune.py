import sys
from pathlib import Path

import torch

from glmeval.probes.finetune import run_finetune_group
from glmeval.probes.run import Run
from glmeval.runtime import resolve_device

sys.stderr = open(snakemake.log[0], "w")
torch.set_num_threads(snakemake.threads)
wc = snakemake.wildcards
settings = snakemake.params.settings
run_finetune_group(
    Path(snakemake.input.task).parent,
    wc.model,
    snakemake.params.model,
    snakemake.input.get("model"),
    settings["probe"],
    wc.representation,
    [Run(**run) for run in snakemake.params.runs],
    snakemake.output[0],
    context={"task": wc.task, "model": wc.model, "probe": wc.probe},
    device=resolve_device(snakemake.params.device),
    fraction_sampling=settings["fraction_sampling"],
    fraction_splits=settings["fraction_splits"],
)
