import sys

from glmeval.leaderboard import write_leaderboard

sys.stderr = open(snakemake.log[0], "w")
write_leaderboard(
    snakemake.input.summary,
    snakemake.input.comparisons,
    snakemake.input.metrics,
    snakemake.output.csv,
    snakemake.output.md,
    n_boot=snakemake.params.n_boot,
    leakage_path=snakemake.input.leakage,
    kinds=snakemake.params.kinds,
    tuned=snakemake.params.tuned,
)
