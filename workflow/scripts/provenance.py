import sys

from glmeval.io import write_csv
from glmeval.provenance import provenance

sys.stderr = open(snakemake.log[0], "w")
params = snakemake.params
table = provenance(params.models, params.config_sha256, params.workflow_dir, snakemake.input)
write_csv(table, snakemake.output[0])
