import dataclasses
import functools
import re
from pathlib import Path

from glmeval import cards, cluster
from glmeval import config as glm_config
from glmeval import paths, plan
from glmeval.data.variants import effect_column
from glmeval import provenance
from glmeval import report as report_tables
from glmeval.figures import plan as figure_plan
from glmeval.vocabulary import SPLITS

glm_config.validate_config(config, glm_config.SCHEMA)  # config/schema.yaml
CONFIG_SHA256 = provenance.config_hash(config)

PROBE_JOBS = plan.probe_jobs(config)
# {task or variants: {model: why it is not zero-shot / frozen-only there}} (model cards)
TRAINING_OVERLAPS = cards.task_overlaps(config)
# tasks with probe jobs (the others are only prepared, by the `data` target)
TASKS = [task for task in config["tasks"] if any(j.task == task for j in PROBE_JOBS)]
# (a configuration of variants only has no probe tables)
TABLES = [paths.TASK_TABLE.format(task=task) for task in TASKS] + [
    *(
        [
            "results/tables/probe_metrics.csv",
            "results/tables/probe_summary.csv",
            "results/tables/probe_comparisons.csv",
            "results/tables/leakage.csv",
        ]
        if TASKS
        else []
    ),
    "results/tables/model_cards.csv",
]
ZEROSHOT = plan.zeroshot_scores(config)
TRANSFER = plan.transfer_jobs(config, PROBE_JOBS)
# variants prepared at a zero-shot model's own window length
VARIANT_WINDOWS = plan.variant_windows(config)
# datasets with measured effects (CAGI5's, or a user's effect: column) and scores to evaluate
VARIANT_TABLES = [
    f"results/tables/{name}_{table}.csv"
    for name, v in config["variants"].items()
    if effect_column(v) and (name in ZEROSHOT or v.get("transfer"))
    for table in ("table1", "correlations")
]
EMBEDDINGS = plan.embedding_dirs(PROBE_JOBS)
BASELINE_MODELS = [
    m for m, spec in config["models"].items() if spec["family"] == "onehot"
]


wildcard_constraints:
    **paths.WILDCARDS,


def task_config(wildcards):
    """The task's settings with every download reference resolved to a local path."""
    return glm_config.resolve_files(config["tasks"][wildcards.task])


def download_dirs(entry):
    return [
        paths.DOWNLOAD.format(download=d)
        for d in sorted(glm_config.downloads_used(entry))
    ]


def model_config(wildcards):
    return plan.model_settings(config, wildcards.model)


def variant_model_inputs(wildcards):
    """The variants (at the model's own zero-shot window, if it has one; a transfer job reads
    the dataset's windows) and the model's checkpoint."""
    window = None
    if "task" not in wildcards.keys():
        window = plan.variant_window(config, wildcards.variants, wildcards.model)
    return {
        "variants": plan.variants_path(wildcards.variants, window),
        **plan.model_inputs(config, wildcards.model),
    }


def zeroshot_windows(wildcards):
    """Each zero-shot model's window length (None: the dataset's own)."""
    models = (
        config["variants"][wildcards.variants].get("zeroshot", {}).get("models", [])
    )
    return {m: plan.variant_window(config, wildcards.variants, m) for m in models}


def transfer_elements(wildcards):
    """The elements a transfer task's probes explain (its cell type's)."""
    entries = config["variants"][wildcards.variants].get("transfer", [])
    return [
        e
        for entry in entries
        if entry["task"] == wildcards.task
        for e in entry["elements"]
    ]


def probe_config(wildcards):
    return plan.probe_settings(config, wildcards.probe, wildcards.model)


def probe_run_config(wildcards):
    """A probe run's settings: the probe's for the model, and how the task draws its train
    fractions (one function: thousands of jobs evaluate it)."""
    task = config["tasks"][wildcards.task]
    return {
        "probe": probe_config(wildcards),
        **{k: task[k] for k in ("fraction_sampling", "fraction_splits")},
    }


def token_layers(wildcards):
    return plan.token_layers(config, wildcards.model, wildcards.task)


def task_source_files(wildcards):
    """Local files and downloads a task is prepared from."""
    source = config["tasks"][wildcards.task]["source"]
    return glm_config.local_files(source) + download_dirs(source)


def variants_source_files(wildcards):
    entry = config["variants"][wildcards.variants]
    return glm_config.local_files(entry) + download_dirs(entry)


def model_dir(model):
    """Where a model's checkpoint lives (`glmeval.plan.model_dir`)."""
    return plan.model_dir(config, model)


def training_task_files(wildcards):
    """The prepared task a supervised model (rbp) is trained on; task.json first."""
    task = model_config(wildcards)["source"]["train"]["task"]
    splits = [paths.TASK_SPLIT.format(task=task, split=split) for split in SPLITS]
    return [paths.TASK_META.format(task=task), *splits]


def embedding_inputs(wildcards):
    return {
        "split": paths.TASK_SPLIT.format(task=wildcards.task, split=wildcards.split),
        "task": paths.TASK_META.format(task=wildcards.task),
        **plan.model_inputs(config, wildcards.model),
    }


LINEAR_PROBE_NAMES = plan.probe_names_pattern(config, linear=True)
NEURAL_PROBE_NAMES = plan.probe_names_pattern(config, linear=False)


# one estimate per job serves both of its resources (memory and time)
cached_extraction = functools.cache(cluster.extraction)
cached_probe = functools.cache(cluster.probe)


def extraction_resource(key):
    """`key` (mem_mb or runtime) of an extraction job, from the model's weights and the split."""

    def resource(wildcards, input, attempt):
        model = input.get("model")
        return cached_extraction(model, input.split, input.task, attempt)[key]

    return resource


def probe_resource(key):
    """`key` (mem_mb or runtime) of a probe run, from the sizes of its inputs."""

    def resource(wildcards, input, attempt):
        estimate = cached_probe(
            tuple(input.embeddings),
            wildcards.representation,
            int(wildcards.layer),
            config["probes"][wildcards.probe]["max_epochs"],
            attempt,
        )
        return estimate[key]

    return resource


def task_metrics(wildcards):
    return [j.metrics_path for j in PROBE_JOBS if j.task == wildcards.task]


def model_metrics(wildcards):
    jobs = [j.metrics_path for j in PROBE_JOBS if j.model == wildcards.model]
    if not jobs:
        raise ValueError(
            f"no probe runs of model {wildcards.model!r}; models with runs: "
            f"{sorted({j.model for j in PROBE_JOBS})}"
        )
    return jobs


PREDICTIONS = [j.predictions_path for j in PROBE_JOBS]


# attribution (docs/attribution.md)
ATTRIBUTION_JOBS = plan.attribution_jobs(config, PROBE_JOBS)
ATTRIBUTION = [
    f"results/attribution/{task}/{name}"
    for task in sorted({j.task for j in ATTRIBUTION_JOBS})
    for name in (
        "motifs/recovery.csv",
        "logos.png",
        "logos.pdf",
        "recovery.png",
        "recovery.pdf",
    )
] + [
    f"results/attribution/{task}/gia.csv"
    for task, spec in config.get("attribution", {}).get("tasks", {}).items()
    if "gia" in spec
]


def attribution_job(wildcards):
    return next(
        j
        for j in ATTRIBUTION_JOBS
        if (j.task, j.model, j.probe)
        == (wildcards.task, wildcards.model, wildcards.probe)
    )


def attribution_reference(wildcards):
    job = plan.attribution_reference(config, PROBE_JOBS, wildcards.task)
    return {
        "test": paths.TASK_SPLIT.format(task=wildcards.task, split="test"),
        "predictions": job.predictions_path,
    }


def attribution_map_inputs(wildcards):
    """The selection, the explained probe's weights, the model's checkpoint and, for the
    embedding-gradient map, the test split's cached embeddings."""
    job = attribution_job(wildcards)
    inputs = {"selection": f"results/attribution/{wildcards.task}/selection.parquet"}
    if job.job is not None:
        inputs["probe"] = job.job.model_path
        if "embedding_gradient" in job.methods:
            inputs["embeddings"] = paths.EMBEDDINGS.format(
                model=job.model, task=job.task, split="test"
            )
    weights = model_dir(job.model)
    if weights:
        inputs["model"] = weights
    return inputs


def gia_run(wildcards):
    """The probe run GIA predicts with."""
    gia = config["attribution"]["tasks"][wildcards.task]["gia"]
    return plan.explained_run(
        config, PROBE_JOBS, wildcards.task, gia["model"], gia["probe"]
    )


def gia_inputs(wildcards):
    gia = config["attribution"]["tasks"][wildcards.task]["gia"]
    job = gia_run(wildcards)
    inputs = {
        "selection": f"results/attribution/{wildcards.task}/selection.parquet",
        "probe": job.model_path,
    }
    weights = model_dir(gia["model"])
    if weights:
        inputs["model"] = weights
    return inputs


def motifs_file():
    motifs = config.get("attribution", {}).get("motifs", "synthetic")
    if motifs == "synthetic":
        return "resources/motifs/synthetic.meme"
    return glm_config.resolve_files(motifs)


def motifs_inputs(wildcards):
    motifs = config["attribution"]["motifs"]
    downloads = download_dirs({"motifs": motifs}) if motifs != "synthetic" else []
    return {
        "selection": f"results/attribution/{wildcards.task}/selection.parquet",
        "maps": [j.path for j in ATTRIBUTION_JOBS if j.task == wildcards.task],
        "motifs": downloads or [motifs_file()],
    }


FIGURE_JOBS, SKIPPED_FIGURES = figure_plan.figure_plan(config, PROBE_JOBS)
FIGURE_BY_NAME = {f.name: f for f in FIGURE_JOBS}
FIGURES = [path for f in FIGURE_JOBS for path in f.outputs.values()]
# how figures name and colour models and probes
FIGURE_LABELS = {
    "models": {
        n: {
            "family": m["family"],
            "label": m.get("label", n),
            "supervised": bool(cards.model_card(config, n).get("trained_on")),
        }
        for n, m in config["models"].items()
    },
    "probes": {n: {"type": p["type"]} for n, p in config["probes"].items()},
    "overlaps": TRAINING_OVERLAPS,
}
# the paper's numbers ship with the workflow: a relative path is read from the working
# directory where it is there, else from the repository
PAPER_VALUES = None
if config.get("paper_values") and PROBE_JOBS:
    path = Path(config["paper_values"])
    PAPER_VALUES = str(path if path.is_absolute() or path.exists() else REPO_DIR / path)
PAPER_COMPARISON = [
    f"results/tables/paper_comparison.{ext}" for ext in ("csv", "md") if PAPER_VALUES
]
LEADERBOARD = (
    ["results/tables/leaderboard.csv", "results/tables/leaderboard.md"]
    if PROBE_JOBS
    else []
)

FIGURE_TARGETS = [
    *FIGURES,
    "results/figures/index.csv",
    *LEADERBOARD,
    *[p.replace(".csv", ".md") for p in VARIANT_TABLES if p.endswith("_table1.csv")],
    *PAPER_COMPARISON,
    "results/tables/provenance.csv",
]


def figure_job(wildcards):
    return FIGURE_BY_NAME[wildcards.figure]


# The report's landing page (report/workflow.rst) is rendered from the configuration alone, so
# it reads the run's provenance and the figures not made from this key, set after validation.
config["report_landing"] = {
    "provenance": provenance.read_provenance("results/tables/provenance.csv"),
    "skipped": [dataclasses.asdict(s) for s in SKIPPED_FIGURES],
    # tasks whose splits share copies (marked ‡ on the leaderboard too)
    "leakage": report_tables.leakage_landing("results/tables/leakage.csv"),
}
