import sys

from glmeval.tables import write_combined_table

sys.stderr = open(snakemake.log[0], "w")
write_combined_table(snakemake.input, snakemake.output[0])
