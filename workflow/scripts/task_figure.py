import sys

from glmeval.figures import plot_task

sys.stderr = open(snakemake.log[0], "w")
plot_task(
    snakemake.input[0],
    [snakemake.output.png, snakemake.output.pdf],
    baseline_models=snakemake.params.baseline_models,
)
