import sys

from glmeval.io import atomic_path
from glmeval.models import resolve_model

sys.stderr = open(snakemake.log[0], "w")
with atomic_path(snakemake.output[0]) as tmp:
    resolve_model(snakemake.params.model, tmp, snakemake.wildcards.model)
