import sys

from glmeval.download import download

sys.stderr = open(snakemake.log[0], "w")
# offline is read here, not a param: switching it on must not make finished downloads stale
download(snakemake.params.spec, snakemake.output[0], offline=snakemake.config["offline"])
