import sys

import pandas as pd

from glmeval.attribution.gia import backgrounds, global_importance
from glmeval.attribution.maps import OneHotModel, PipelineModel, explained_directly, one_hot
from glmeval.io import write_csv
from glmeval.models import load_embedder
from glmeval.plan import ProbeJob
from glmeval.probes.run import load_probe
from glmeval.runtime import resolve_device

sys.stderr = open(snakemake.log[0], "w")
gia, run = snakemake.params.gia, snakemake.params.job
device = resolve_device(snakemake.params.device)
probe = load_probe(ProbeJob(**run).model_path)
settings = snakemake.params.model
if explained_directly(settings):
    model = OneHotModel(probe[0])
else:
    embedder = load_embedder(gia["model"], settings, snakemake.input.get("model"), device=device)
    model = PipelineModel(embedder, probe, run["representation"], run["layer"])
top = pd.read_parquet(snakemake.input.selection)["sequence"].iloc[0]
table = global_importance(
    model,
    backgrounds(one_hot([top])[0], gia["n_backgrounds"], seed=0),
    gia["motifs"],
    [tuple(pair) for pair in gia["pairs"]],
    gia["spacings"],
    gia["start"],
    batch_size=snakemake.params.settings["batch_size"],
    device=device,
    seed=snakemake.params.settings["null_seed"],
)
write_csv(table.assign(model=gia["model"], probe=gia["probe"]), snakemake.output[0])
