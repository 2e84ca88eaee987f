import sys
from pathlib import Path

from glmeval.data.prepare import prepare_variant_source

sys.stderr = open(snakemake.log[0], "w")
prepare_variant_source(
    snakemake.wildcards.variants, snakemake.params.source, Path(snakemake.output.meta).parent
)
