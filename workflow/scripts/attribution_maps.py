import sys

import pandas as pd

from glmeval.attribution.maps import explained_directly
from glmeval.attribution.run import explain, selection_tokens, write_maps
from glmeval.models import load_embedder
from glmeval.plan import ProbeJob
from glmeval.probes.run import load_probe
from glmeval.runtime import resolve_device

sys.stderr = open(snakemake.log[0], "w")
job, run = snakemake.params.job, snakemake.params.job["job"]
device = resolve_device(snakemake.params.device)
selection = pd.read_parquet(snakemake.input.selection)
model = snakemake.params.model
embedder = None
if not (run and explained_directly(model)):
    embedder = load_embedder(job["model"], model, snakemake.input.get("model"), device=device)
tokens = None
if "embeddings" in snakemake.input.keys():  # noqa: SIM118 (`in` tests a Namedlist's values)
    tokens = selection_tokens(snakemake.input.embeddings, run["layer"], selection["row"])
maps = explain(
    selection,
    job["methods"],
    embedder=embedder,
    probe=load_probe(ProbeJob(**run).model_path) if run else None,
    representation=run and run["representation"],
    layer=run and run["layer"],
    tokens=tokens,
    settings=snakemake.params.settings,
    device=device,
)
record = {k: job[k] for k in ("task", "model", "probe")}
if run:
    record |= {"representation": run["representation"], "layer": run["layer"], "seed": run["seed"]}
write_maps(maps, record, snakemake.output[0])
