import sys
from pathlib import Path

from glmeval.attribution.motifs import write_meme
from glmeval.data.synthetic import PWMS

sys.stderr = open(snakemake.log[0], "w")
write_meme(PWMS, Path(snakemake.output[0]))
