import sys
from pathlib import Path

from glmeval.data.cagi5 import prepare_cagi5

sys.stderr = open(snakemake.log[0], "w")
prepare_cagi5(
    snakemake.wildcards.variants, snakemake.params.source, Path(snakemake.output.meta).parent
)
