import sys

from glmeval.stats import write_probe_stats

sys.stderr = open(snakemake.log[0], "w")
write_probe_stats(
    snakemake.input.metrics,
    snakemake.params.baselines,
    snakemake.output.summary,
    snakemake.output.comparisons,
    n_boot=snakemake.params.n_boot,
    overlaps=snakemake.params.overlaps,
)
