import sys

from glmeval.figures.draw import draw
from glmeval.figures.style import Labels

sys.stderr = open(snakemake.log[0], "w")
params = snakemake.params
draw(
    params.kind,
    params.spec,
    list(snakemake.input),
    snakemake.output,
    Labels.from_config(params.labels),
    params.metric,
)
