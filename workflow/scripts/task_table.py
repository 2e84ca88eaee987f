import sys

from glmeval.tables import write_task_table

sys.stderr = open(snakemake.log[0], "w")
write_task_table(snakemake.params.metrics, snakemake.output[0])
