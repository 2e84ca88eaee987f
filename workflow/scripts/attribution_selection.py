import sys

import pandas as pd

from glmeval.attribution.run import select_top
from glmeval.io import write_parquet

sys.stderr = open(snakemake.log[0], "w")
selection = select_top(
    pd.read_parquet(snakemake.input.test),
    pd.read_parquet(snakemake.params.predictions),
    snakemake.params.top_k,
)
write_parquet(selection, snakemake.output[0])
