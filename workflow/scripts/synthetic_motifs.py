import sys
from pathlib import Path

from glmeval.attribution.motifs import write_meme
from glmeval.data.synthetic import motif_database

sys.stderr = open(snakemake.log[0], "w")
write_meme(motif_database(), Path(snakemake.output[0]))
