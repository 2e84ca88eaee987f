import sys

from glmeval.download import download

sys.stderr = open(snakemake.log[0], "w")
download(snakemake.params.spec, snakemake.output[0], offline=snakemake.params.offline)
