import sys
from pathlib import Path

from glmeval.data.tasks import prepare_task

console, sys.stderr = sys.stderr, open(snakemake.log[0], "w")
meta = prepare_task(
    snakemake.wildcards.task, snakemake.params.task, Path(snakemake.output.meta).parent
)
if meta.get("leakage", {}).get("warning"):  # on the console too, not only in the log
    print(meta["leakage"]["warning"], file=console)
