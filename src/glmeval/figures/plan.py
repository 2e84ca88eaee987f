"""Which figures a configuration makes, decided before any job runs (no matplotlib, no torch).

A configuration's `figures:` section names the panels it wants (`config/config.yaml`: the
paper's, each file named after its panel). Without one, every task gets each kind its runs
allow (`<task>_<kind>`). A panel whose inputs the configuration does not produce (Fig. 6
without attribution, a layer sweep of models probed at one layer) is skipped with a one-line
reason: it is logged by the `figures` target and listed on the report's landing page.

The `reproduction` figure (every number the paper reported that this run matches, ours against
the paper's) is made where the configuration runs a task and model the paper reported
(`paper_values`); without a `figures:` section only then.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from glmeval import paths
from glmeval.data.taskfile import METRICS
from glmeval.data.variants import effect_column
from glmeval.plan import ProbeJob, model_settings, transfer_jobs

MULTI_TARGET_KINDS = ("multilabel", "multitask_regression")
METRIC_LABELS = {"pearson": "Pearson r", "spearman": "Spearman ρ", "auroc": "AUROC", "aupr": "AUPR"}

#: Each kind: what it shows and how it was computed (the report's caption).
CAPTIONS = {
    "probes": (
        "Each representation's test {metric} per probe (as the paper's Fig. 2a), at the "
        "model's last probed layer and the full training data; error bars are 95% bootstrap "
        "confidence intervals (over replicates where there are several, else over test rows)."
    ),
    "models": (
        "The test {metric} of each representation with its best probe of those listed (as the "
        "paper's Fig. 2b lollipops), grouped by kind, each marked by its shape: language "
        "models (circles), controls (crosses), supervised models (triangles), one-hot "
        "(squares); each model has its colour of every figure; one-hot models show each "
        "probe. Whiskers: 95% bootstrap CIs."
    ),
    "layers": (
        "Test {metric} of each probe at every probed layer (0 = embedding output), one panel "
        "per model, full training data; bands are 95% bootstrap CIs."
    ),
    "widths": (
        "Test {metric} against the probe's width factor (0.5, 1, 2 × the paper's filters and "
        "units) at each model's last layer; whiskers are 95% bootstrap CIs."
    ),
    "targets": (
        "Per protein/target: mean ± sd over replicates of the test {metric} of each "
        "representation (y) against the reference (x), as the paper's Figs. 3 and 5; the "
        "diagonal is parity and the averages over targets are printed in each panel."
    ),
    "replicates": (
        "Test {metric} of every replicate run (boxes: quartiles; points: runs) for each "
        "representation with its best probe, full training data (as the paper's Fig. 4). Stars "
        "mark the configured test against the task's baseline (* p < 0.05, ** p < 0.01, "
        "*** p < 0.001; comparisons table)."
    ),
    "fractions": (
        "Test {metric} against the fraction of training data, mean ± s.e.m. over replicates "
        "(the paper's downsampling panels), each representation with its best probe at full data."
    ),
    "table1": (
        "CAGI5 saturation mutagenesis (the paper's Table 1): Pearson r between each model's "
        "variant score and the measured effect, per cell type and element; zero-shot scores "
        "and supervised transfer."
    ),
    "attribution": (
        "Attribution (the paper's Fig. 6): agreement between the attribution maps of the top "
        "test sequences (mean per-sequence Pearson r), the database motifs their seqlets "
        "recover, the share of importance on planted motifs (synthetic tasks), and, where "
        "configured, global importance analysis of motif pairs by spacing. Each beside its "
        "chance level: cells within the null's 95 % interval (each sequence's map circularly "
        "shifted) hatched, the null's mean in brackets; GIA's shuffled-motif control in grey."
    ),
    "reproduction": (
        "The reproduction at a glance: every number the paper or its repository reported that "
        "this run matches (results/tables/paper_comparison.csv), the paper's value (x) against "
        "ours (y) with our 95% bootstrap CI (cross-task averages have none: open markers), one "
        "colour per paper panel; the diagonal is parity. Points whose paper value falls outside "
        "our CI are named (panel · task · model · probe); the title counts the numbers within "
        "our CI and gives the median absolute difference between ours and the paper's."
    ),
}
TASK_KINDS = ("probes", "models", "layers", "widths", "targets", "replicates", "fractions")
#: The repository the workflow runs from: a relative `paper_values` not found in the working
#: directory is read from there (glmeval.checks, glmeval.run_plan).
REPOSITORY = Path(__file__).resolve().parents[3]
#: The report's category of a kind's figures where the spec names none (default: Figures): the
#: reproduction beside the leaderboard and the paper comparison, on the landing page.
DEFAULT_CATEGORIES = {"reproduction": "Leaderboard"}


@dataclass(frozen=True)
class FigureJob:
    name: str
    kind: str
    spec: dict = field(hash=False)
    caption: str = ""

    @property
    def outputs(self) -> dict[str, str]:
        """The figure as PNG and PDF, and the numbers it plots as CSV (its source data)."""
        return {
            ext: paths.FIGURE.format(figure=self.name, ext=ext) for ext in ("png", "pdf", "csv")
        }

    @property
    def tasks(self) -> list[str]:
        return list(self.spec.get("tasks", [self.spec["task"]] if "task" in self.spec else []))

    @property
    def category(self) -> str:
        """The report's category: the spec's, else the kind's default (Figures)."""
        return self.spec.get("category", DEFAULT_CATEGORIES.get(self.kind, "Figures"))

    @property
    def subcategory(self) -> str:
        """The report's subcategory: the figure's tasks, or its variants, or what it shows."""
        if self.tasks:
            return ", ".join(self.tasks)
        if "variants" in self.spec:
            return self.spec["variants"]
        return {"reproduction": "the paper's numbers"}.get(self.kind, self.kind)


@dataclass(frozen=True)
class Skipped:
    name: str
    kind: str
    reason: str


def headline_metric(config: dict, task: str) -> str:
    return METRICS[config["tasks"][task]["kind"]][0]


def _runs(jobs: Sequence[ProbeJob], spec: dict) -> list[ProbeJob]:
    models = spec.get("models")
    probes = spec.get("probes")
    return [
        j
        for j in jobs
        if j.task in spec["_tasks"]
        and (models is None or j.model in models)
        and (probes is None or j.probe in probes)
    ]


def _width(config: dict, probe: str) -> float:
    return float(config["probes"][probe].get("width", 1.0))


def reported_pairs(path: str | Path) -> set[tuple[str, str]]:
    """The (task, model) of every number in the reported-values table at `path` (a task may be
    a glob: a cross-task average); read with the standard library, at parse time."""
    with open(path, newline="") as handle:
        return {(row.get("task") or "", row.get("model") or "") for row in csv.DictReader(handle)}


def _compared_pairs(config: dict, jobs: Sequence[ProbeJob]) -> set[tuple[str, str]]:
    """The (task or variants, model) pairs the paper comparison sets beside the paper's: each
    probe run's, and each variants dataset's with measured effects (zero-shot and transfer)."""
    pairs = {(j.task, j.model) for j in jobs}
    for name, variants in config.get("variants", {}).items():
        if effect_column(variants):
            pairs |= {(name, m) for m in variants.get("zeroshot", {}).get("models", [])}
    pairs |= {(t.variants, t.job.model) for t in transfer_jobs(config, list(jobs))}
    return pairs


def _why_not_reproduction(config: dict, jobs: Sequence[ProbeJob], paper_values) -> str | None:
    if not config.get("paper_values"):
        return "no paper_values are configured: there are no paper numbers to set ours beside"
    if not jobs:
        return "the configuration runs no probe: there is no paper comparison table"
    path = Path(paper_values or config["paper_values"])
    if not path.exists() and not path.is_absolute() and (REPOSITORY / path).is_file():
        path = REPOSITORY / path  # shipped with the workflow (as glmeval.run_plan reads it)
    if not path.exists():
        return f"paper_values {str(path)!r} is not there"
    reported = reported_pairs(path)
    ours = _compared_pairs(config, jobs)
    if not any(m == model and fnmatchcase(t, task) for task, model in reported for t, m in ours):
        tasks = sorted({t for t, _ in reported})
        return (
            f"none of its tasks and models is one the paper reported ({path.name}: tasks "
            f"{', '.join(tasks[:6])}{', …' if len(tasks) > 6 else ''})"
        )
    return None


def _why_not(
    kind: str, spec: dict, config: dict, jobs: Sequence[ProbeJob], paper_values=None
) -> str | None:
    """Why `spec` cannot be drawn from what the configuration runs; None when it can."""
    if kind == "reproduction":
        return _why_not_reproduction(config, jobs, paper_values)
    if kind == "table1":
        variants = config.get("variants", {}).get(spec["variants"])
        if variants is None:
            return f"variants {spec['variants']!r} are not configured"
        scored = variants.get("zeroshot") or variants.get("transfer")
        if not effect_column(variants) or not scored:
            return (
                f"variants {spec['variants']!r} have no CAGI5 effects (nor a column of measured "
                "effects named by effect:) with scores to correlate"
            )
        return None
    if kind == "attribution":
        task = spec["task"]
        planned = config.get("attribution", {}).get("tasks", {}).get(task)
        if planned is None:
            return f"no attribution is configured for task {task!r} (attribution.tasks)"
        if not planned.get("maps") and not planned.get("gia"):
            return f"attribution of {task!r} has neither maps nor gia"
        return None
    missing = [t for t in spec["_tasks"] if t not in config["tasks"]]
    if missing:
        return f"tasks {missing} are not configured"
    runs = _runs(jobs, spec)
    if kind == "targets":  # the reference is drawn whatever models and probes are listed
        x = spec["x"]
        runs += [
            j
            for j in jobs
            if j.task in spec["_tasks"]
            and j.model == x["model"]
            and j.probe == x.get("probe", j.probe)
        ]
    if not runs:
        return "the configuration runs no probe for these tasks, models and probes"
    if len({headline_metric(config, t) for t in spec["_tasks"]}) > 1:
        return "its tasks have different headline metrics"
    if kind == "models" and len({j.model for j in runs}) < 2:
        return "only one model is probed"
    if kind == "layers":
        per_model = {}
        for j in runs:
            per_model.setdefault((j.model, j.probe, j.representation), set()).add(j.layer)
        if max(map(len, per_model.values())) < 2:
            return "every model is probed at one layer (set probe_layers: all to sweep)"
    if kind == "widths":
        widths = {}
        for j in runs:
            key = (j.model, config["probes"][j.probe]["type"], j.representation)
            widths.setdefault(key, set()).add(_width(config, j.probe))
        if max(map(len, widths.values())) < 2:
            return "no probe is run at more than one width"
    if kind == "replicates" and len({j.seed for j in runs}) < 2:
        return "one seed per configuration (set the task's seeds for replicates)"
    if kind == "fractions" and len({j.train_fraction for j in runs}) < 2:
        return "one training-data fraction (set the task's train_fractions)"
    if kind == "targets":
        x = spec["x"]
        if not any(j.model == x["model"] for j in runs):
            return "its reference (x) model is not probed in these tasks"
        many = len(spec["_tasks"]) > 1 or any(
            config["tasks"][t]["kind"] in MULTI_TARGET_KINDS for t in spec["_tasks"]
        )
        if not many:
            return "a single target: a per-target scatter needs several tasks or targets"
        if not {j.model for j in runs} - {x["model"]}:
            return "no model besides the reference is probed"
    return None


def _auto_specs(config: dict, jobs: Sequence[ProbeJob], paper_values=None) -> dict[str, dict]:
    """Every kind for every task with probe runs; Table 1 per CAGI5 dataset; Fig. 6 per
    attribution task; the reproduction where the paper reported one of the runs."""
    specs = {}
    for task in dict.fromkeys(j.task for j in jobs):
        models = config["tasks"][task]["models"]
        for kind in TASK_KINDS:
            spec = {"kind": kind, "task": task}
            if kind == "targets":
                onehot = [m for m in models if model_settings(config, m)["family"] == "onehot"]
                spec["x"] = {"model": (onehot or models)[0]}
            specs[f"{task}_{kind}"] = spec
    for name in config.get("variants", {}):
        specs[f"{name}_table1"] = {"kind": "table1", "variants": name}
    for task in config.get("attribution", {}).get("tasks", {}):
        specs[f"{task}_attribution"] = {"kind": "attribution", "task": task}
    if _why_not_reproduction(config, jobs, paper_values) is None:
        specs["reproduction"] = {"kind": "reproduction"}
    return specs


def figure_plan(
    config: dict, jobs: Sequence[ProbeJob], paper_values: str | Path | None = None
) -> tuple[list[FigureJob], list[Skipped]]:
    """The figures the configuration asks for (its `figures:` section, else every kind its runs
    allow) that its runs can draw, and those skipped with the reason. `paper_values`: the
    reported-values file (`glmeval.run_plan` resolves it); default the configuration's, read
    from the working directory, else from the repository."""
    specs = config.get("figures") or _auto_specs(config, jobs, paper_values)
    made, skipped = [], []
    for name, spec in specs.items():
        spec = {**spec, "_tasks": [spec["task"]] if "task" in spec else spec.get("tasks", [])}
        kind = spec["kind"]
        reason = _why_not(kind, spec, config, jobs, paper_values)
        if reason:
            skipped.append(Skipped(name, kind, reason))
            continue
        metric = headline_metric(config, spec["_tasks"][0]) if spec["_tasks"] else "pearson"
        caption = CAPTIONS[kind].format(metric=METRIC_LABELS.get(metric, metric))
        if spec.get("caption"):
            caption = f"{spec['caption']} {caption}"
        spec.pop("_tasks")
        made.append(FigureJob(name, kind, spec, caption))
    return made, skipped


def figure_inputs(job: FigureJob, config: dict) -> list[str]:
    """The result tables `job` is drawn from."""
    if job.kind == "reproduction":
        return [paths.PAPER_COMPARISON.format(ext="csv")]
    if job.kind == "table1":
        return [paths.VARIANT_TABLE1.format(variants=job.spec["variants"], ext="csv")]
    if job.kind == "attribution":
        task = job.spec["task"]
        planned = config["attribution"]["tasks"][task]
        tables = []
        if planned.get("maps"):
            tables += [
                paths.ATTRIBUTION_MOTIFS.format(task=task, table=name)
                for name in ("agreement", "recovery", "planted")
            ]
        if "gia" in planned:
            tables.append(paths.ATTRIBUTION_GIA.format(task=task))
        return tables
    return [paths.PROBE_SUMMARY, paths.PROBE_COMPARISONS, paths.PROBE_METRICS_TABLE]
