import sys
from pathlib import Path

import pandas as pd

from glmeval.io import atomic_path, write_csv
from glmeval.tables import markdown_table
from glmeval.vep import evaluate_variants, table1

sys.stderr = open(snakemake.log[0], "w")
params = snakemake.params
zero_shot = {Path(path).stem: pd.read_parquet(path) for path in snakemake.input.zeroshot}
transfer = [
    (labels, pd.read_parquet(path))
    for labels, path in zip(params.transfer_labels, snakemake.input.transfer)
]
long = evaluate_variants(
    pd.read_parquet(snakemake.input.variants),
    zero_shot,
    transfer,
    params.cell_types,
    snakemake.wildcards.variants,
    params.n_boot,
    windows={m: w or params.length for m, w in params.windows.items()},
    length=params.length,
    overlaps=params.overlaps,
    effect=params.effect,
)
write_csv(long, snakemake.output.correlations)
table = table1(long, params.cell_types)
write_csv(table, snakemake.output.table)
with atomic_path(snakemake.output.markdown) as tmp:
    tmp.write_text(markdown_table(table))
