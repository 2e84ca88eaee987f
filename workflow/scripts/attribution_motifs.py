import sys
from pathlib import Path

import pandas as pd

from glmeval.attribution.run import motif_tables, read_maps
from glmeval.figures.attribution import logos, recovery_heatmap

sys.stderr = open(snakemake.log[0], "w")
settings, out = snakemake.params.settings, snakemake.output
selection = pd.read_parquet(snakemake.input.selection)
motif_tables(
    selection,
    snakemake.input.maps,
    snakemake.params.motifs,
    Path(out.seqlets).parent,
    settings["seqlet_threshold"],
    settings["max_pvalue"],
    settings["null_draws"],
    settings["null_seed"],
)
_, maps = read_maps(snakemake.input.maps)
seqlets = pd.read_csv(out.seqlets, keep_default_na=False)
logos(selection, maps, seqlets, settings["logos"], out.logos_png, out.logos_pdf)
recovery_heatmap(pd.read_csv(out.recovery), list(maps), out.recovery_png, out.recovery_pdf)
