import sys

import pandas as pd

from glmeval.io import atomic_path, write_csv
from glmeval.paper_values import agreement, paper_comparison, read_reported, to_markdown

sys.stderr = open(snakemake.log[0], "w")
variants = [pd.read_csv(path) for path in snakemake.input.variants]
comparison = paper_comparison(
    pd.read_csv(snakemake.input.summary),
    read_reported(snakemake.input.reported),
    pd.concat(variants, ignore_index=True) if variants else None,
)
write_csv(comparison, snakemake.output.csv)
with atomic_path(snakemake.output.md) as tmp:
    tmp.write_text(agreement(comparison) + "\n\n" + to_markdown(comparison))
