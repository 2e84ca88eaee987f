import sys
from pathlib import Path

from glmeval.models.rbp import train_rbp
from glmeval.runtime import resolve_device

sys.stderr = open(snakemake.log[0], "w")
training = dict(snakemake.params.training)
train_rbp(
    Path(snakemake.input[0]).parent,
    snakemake.output[0],
    device=resolve_device(snakemake.params.device),
    **{k: v for k, v in training.items() if k != "task"},
)
