import sys
from pathlib import Path

from glmeval.data.tasks import prepare_task

sys.stderr = open(snakemake.log[0], "w")
prepare_task(snakemake.wildcards.task, snakemake.params.task, Path(snakemake.output.meta).parent)
