import sys

from glmeval.data.leakage import leakage_table
from glmeval.data.tasks import load_task
from glmeval.io import write_csv

sys.stderr = open(snakemake.log[0], "w")
audits = {
    task: load_task(path.rsplit("/", 1)[0])["leakage"]
    for task, path in zip(snakemake.params.tasks, snakemake.input)
}
write_csv(leakage_table(audits), snakemake.output[0])
