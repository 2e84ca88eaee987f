import sys

import pandas as pd

from glmeval.io import write_csv

sys.stderr = open(snakemake.log[0], "w")
write_csv(pd.DataFrame(snakemake.params.cards), snakemake.output.cards)
overlaps = [
    {"task": task, "model": model, "training_overlap": note}
    for task, notes in snakemake.params.overlaps.items()
    for model, note in notes.items()
]
write_csv(pd.DataFrame(overlaps, columns=["task", "model", "training_overlap"]), snakemake.output.overlaps)
