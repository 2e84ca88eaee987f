"""The job plan: every probe run, transfer, attribution map and variants window a validated
configuration asks for, with where each writes (`glmeval.paths`). Plain Python (no torch): the
workflow plans from it at parse time, thousands of jobs at the paper's scale."""

from __future__ import annotations

import re
from dataclasses import dataclass

from glmeval import paths
from glmeval.models.families import FAMILIES, NO_NETWORK, RANDOM_INIT
from glmeval.probes.kinds import LINEAR_PROBES, PROBE_INPUTS, TOKEN_PROBES
from glmeval.vocabulary import (
    REPRESENTATIONS,
    STRAND_VIEWS,
    TOKENS,
    strand_view,
)


def model_settings(config: dict, name: str) -> dict:
    """Model `name`'s effective settings. A random_init control is its base model (`of`) with
    `random_init: <seed>`; its own keys (probe_layers, batch_size, ...) override the base's. A
    hub model carries `models_lock`, the lock file that pins its snapshot (docs/models.md)."""
    model = config["models"][name]
    if model["family"] == RANDOM_INIT:
        own = {k: v for k, v in model.items() if k not in ("family", "of", "seed")}
        base = config["models"][model["of"]]
        model = {**base, **own, "random_init": model.get("seed", 0), "of": model["of"]}
    if "hub" in model.get("source", {}) and "models_lock" in config:
        return {**model, "models_lock": config["models_lock"]}
    return model


def probe_settings(config: dict, probe: str, model: str) -> dict:
    """Probe `probe`'s settings for `model`: its own, with that model's `model_overrides`."""
    settings = dict(config["probes"][probe])
    overrides = settings.pop("model_overrides", {})
    return {**settings, **overrides.get(model, {})}


def probe_layers(model: dict, spec=None) -> list[int]:
    """The layers to probe: `spec` (a task's per-model choice), else the model's probe_layers."""
    n_layers = model.get("n_layers", 0)
    spec = spec or model.get("probe_layers", "last")
    if spec == "last":
        return [n_layers]
    if spec == "all":
        return list(range(n_layers + 1))
    return sorted(spec)


def fraction_label(fraction: float) -> str:
    """A train fraction as it appears in paths: 1, 0.5, 0.25."""
    return f"{fraction:g}"


@dataclass(frozen=True)
class ProbeJob:
    task: str
    model: str
    representation: str
    layer: int
    probe: str
    train_fraction: float
    seed: int

    @property
    def wildcards(self) -> dict:
        """The run's fields as the workflow's wildcards name them (`glmeval.paths.PROBE_RUN`)."""
        return {
            "task": self.task,
            "model": self.model,
            "representation": self.representation,
            "layer": self.layer,
            "probe": self.probe,
            "fraction": fraction_label(self.train_fraction),
            "seed": self.seed,
        }

    @property
    def run_dir(self) -> str:
        return paths.PROBE_RUN.format(**self.wildcards)

    @property
    def metrics_path(self) -> str:
        return paths.PROBE_METRICS.format(**self.wildcards)

    @property
    def predictions_path(self) -> str:
        return paths.PROBE_PREDICTIONS.format(**self.wildcards)

    @property
    def model_path(self) -> str:
        return paths.PROBE_MODEL.format(**self.wildcards)


@dataclass(frozen=True)
class ProbeGroup:
    """The runs one job trains, reading its inputs once: every seed and train fraction of one
    probe on one representation of one layer, and for a linear probe every layer it sweeps
    (`layer` None)."""

    task: str
    model: str
    representation: str
    probe: str
    layer: int | None
    runs: tuple[ProbeJob, ...]

    @property
    def path(self) -> str:
        """The job's output: the record of its finished runs."""
        fields = {k: getattr(self, k) for k in ("task", "model", "representation", "probe")}
        if self.layer is None:
            return paths.PROBE_SWEEP_RUNS.format(**fields)
        return paths.PROBE_RUNS.format(**fields, layer=self.layer)


def probe_groups(config: dict, jobs: list[ProbeJob]) -> list[ProbeGroup]:
    """`jobs` (the config's `probe_jobs`) as the jobs that train them, in their order."""
    grouped: dict[tuple, list[ProbeJob]] = {}
    for j in jobs:
        linear = config["probes"][j.probe]["type"] in LINEAR_PROBES
        key = (j.task, j.model, j.representation, j.probe, None if linear else j.layer)
        grouped.setdefault(key, []).append(j)
    return [ProbeGroup(*key, tuple(runs)) for key, runs in grouped.items()]


def finetuned(config: dict, probe_name: str) -> bool:
    """Whether probe `probe_name` fine-tunes the model under it (docs/finetuning.md)."""
    return "finetune" in config["probes"][probe_name]


def frozen_jobs(config: dict, jobs: list[ProbeJob]) -> list[ProbeJob]:
    """The probe jobs that read stored embeddings (a fine-tuning probe reads sequences)."""
    return [j for j in jobs if not finetuned(config, j.probe)]


def representations(config: dict, model_name: str, probe_name: str) -> list[str]:
    """Representations of `model_name` that probe `probe_name` consumes and the config enables;
    for a `strands: both` model, each strand's own pooled ones too (`mean_forward`, ...). A
    fine-tuning probe reads one: the token states (a token CNN) or their mean (an MLP)."""
    probe = config["probes"][probe_name]
    if model_name not in probe.get("models", config["models"]):
        return []
    if finetuned(config, probe_name):
        return [TOKENS if probe["type"] in TOKEN_PROBES else "mean"]
    settings = model_settings(config, model_name)
    family = FAMILIES[settings["family"]]
    # a features model has token matrices only where its file holds them; a kmer model none
    has_tokens = family.loader != "kmer" and (
        family.loader != "features" or settings.get("per_token", False)
    )
    chosen = [
        rep
        for rep in config.get("representations", list(REPRESENTATIONS))
        if rep in PROBE_INPUTS[probe["type"]]
        and (rep != "cls" or family.has_cls)
        and (rep != TOKENS or has_tokens)
    ]
    if settings.get("strands") != "both":
        return chosen
    # each strand's own pooled states beside the two strands' mean
    views = [f"{rep}_{strand}" for rep in chosen if rep != TOKENS for strand in STRAND_VIEWS]
    return chosen + views


def probe_jobs(config: dict, task: str | None = None) -> list[ProbeJob]:
    """Every task × model × representation × layer × probe × train fraction × seed the config
    asks for (a task's own `seeds` replace the global ones, a probe's own the task's). A
    fine-tuning probe trains on the last layer, and is left out where `finetuning` is false."""
    jobs = []
    for task_name, task_cfg in config["tasks"].items():
        if task is not None and task_name != task:
            continue
        task_seeds = task_cfg.get("seeds", config.get("seeds", [0]))
        for model_name in task_cfg["models"]:
            for probe_name in task_cfg["probes"]:
                tuned = finetuned(config, probe_name)
                if tuned and not config.get("finetuning", True):
                    continue
                seeds = config["probes"][probe_name].get("seeds", task_seeds)
                for rep in representations(config, model_name, probe_name):
                    layers = probe_layers(
                        model_settings(config, model_name),
                        "last" if tuned else task_cfg.get("probe_layers", {}).get(model_name),
                    )
                    only = config["probes"][probe_name].get("layers", "all")
                    if only != "all":
                        layers = [
                            layer
                            for layer in layers
                            if layer in (layers[-1:] if only == "last" else only)
                        ]
                    for layer in layers:
                        if strand_view(rep)[0] == "cls" and layer == 0:  # one vector for all
                            continue
                        for fraction in task_cfg.get("train_fractions", [1.0]):
                            for seed in seeds:
                                jobs.append(
                                    ProbeJob(
                                        task_name,
                                        model_name,
                                        rep,
                                        layer,
                                        probe_name,
                                        fraction,
                                        seed,
                                    )
                                )
    return jobs


def baselines(config: dict, jobs: list[ProbeJob]) -> dict[str, dict]:
    """Each task's baseline configuration among `jobs` (the config's `probe_jobs`) for the
    comparison tables: the task's `baseline` (model and probe), else its first one-hot model
    with its first token-level probe (or its first probe). Tasks without a one-hot model have
    none."""
    result = {}
    for task_name, task_cfg in config["tasks"].items():
        chosen = task_cfg.get("baseline")
        if chosen is None:
            onehot = [
                m for m in task_cfg["models"] if model_settings(config, m)["family"] == "onehot"
            ]
            if not onehot:
                continue
            chosen = {"model": onehot[0]}
        own = [j for j in jobs if j.task == task_name and j.model == chosen["model"]]
        if "probe" in chosen:
            own = [j for j in own if j.probe == chosen["probe"]]
        own.sort(key=lambda j: j.representation != TOKENS)  # stable: token probes first
        if own:
            job = own[0]
            result[task_name] = {
                "model": job.model,
                "probe": job.probe,
                "representation": job.representation,
                "layer": job.layer,
                "width": config["probes"][job.probe].get("width", 1.0),
                "test": chosen.get("test", "mannwhitney"),
                "alternative": chosen.get("alternative", "two-sided"),
            }
    return result


def token_layers(config: dict, model: str, task: str) -> list[int]:
    """Layers whose token-level matrices some configured probe of `task` reads."""
    jobs = frozen_jobs(config, probe_jobs(config, task))
    return sorted({j.layer for j in jobs if j.model == model and j.representation == TOKENS})


@dataclass(frozen=True)
class TransferJob:
    """A trained probe (`job`, a run on the full training set) applied to a variants dataset."""

    variants: str
    job: ProbeJob

    @property
    def path(self) -> str:
        return paths.TRANSFER_EFFECTS.format(**self.job.wildcards, variants=self.variants)


def transfer_jobs(config: dict, jobs: list[ProbeJob]) -> list[TransferJob]:
    """For each variants dataset's transfer entries: the first seed's full-data run of each
    listed probe, at the last layer probed, per model and representation (docs/paper.md,
    Tasks: CAGI5). A features model has no features for the variants' windows, and a kmer
    model's are not computed for them: neither is transferred."""
    out = []
    for name, variants in config.get("variants", {}).items():
        for entry in variants.get("transfer", []):
            chosen = {}
            for j in jobs:
                if FAMILIES[model_settings(config, j.model)["family"]].loader in NO_NETWORK:
                    continue
                if j.task == entry["task"] and j.probe in entry["probes"] and j.train_fraction == 1:
                    key = (j.model, j.representation, j.probe)
                    best = chosen.get(key)
                    if best is None or (j.layer, -j.seed) > (best.layer, -best.seed):
                        chosen[key] = j
            out += [TransferJob(name, j) for j in chosen.values()]
    return out


def variant_window(config: dict, variants: str, model: str) -> int | None:
    """The window length of `model`'s zero-shot scores of `variants` when it has its own
    (`zeroshot.windows`); None: the dataset's own windows."""
    entry = config["variants"][variants]
    window = entry.get("zeroshot", {}).get("windows", {}).get(model)
    return None if window in (None, entry.get("length")) else window


def variants_path(variants: str, window: int | None = None) -> str:
    """The prepared variants table: the dataset's own windows, or those of another length."""
    if window is None:
        return paths.VARIANTS.format(variants=variants)
    return paths.VARIANTS_WINDOW.format(variants=variants, length=window)


def alternatives(names) -> str:
    """A wildcard pattern matching exactly `names` (none: a pattern that never matches)."""
    return "|".join(map(re.escape, names)) or "(?!)"


def probe_names_pattern(config: dict, kind: str) -> str:
    """A wildcard pattern of the configured probes of `kind`: `linear`, `neural` (on stored
    embeddings) or `finetune`."""

    def kind_of(probe: dict) -> str:
        if "finetune" in probe:
            return "finetune"
        return "linear" if probe["type"] in LINEAR_PROBES else "neural"

    return alternatives(n for n, p in config["probes"].items() if kind_of(p) == kind)


def kmer_names_pattern(config: dict, kmer: bool) -> str:
    """A wildcard pattern of the configured models that are (not) of the kmer family: their
    spectra are counted on a CPU (`kmer_spectra`), every other model's by `extract_embeddings`."""
    models = config["models"]
    return alternatives(
        n for n in models if (model_settings(config, n)["family"] == "kmer") == kmer
    )


def model_dir(config: dict, model: str) -> str | None:
    """Where a model's checkpoint lives: its local path, the download holding it (the
    checkpoint is `source.path` inside), or the resolved snapshot (a random_init control uses
    its base model's); None for a model without one (one-hot)."""
    settings = model_settings(config, model)
    source = settings.get("source", {})
    if "download" in source:
        return paths.DOWNLOAD.format(download=source["download"])
    if "path" in source:
        return source["path"]
    if "train" in source:
        return paths.SUPERVISED_MODEL.format(model=model)
    return paths.MODEL_SNAPSHOT.format(model=settings.get("of", model)) if source else None


def model_inputs(config: dict, model: str) -> dict[str, str]:
    """What a job embedding with `model` reads besides its sequences: the checkpoint, and a
    features model's .npy row ids."""
    inputs = {}
    weights = model_dir(config, model)
    if weights:
        inputs["model"] = weights
    ids = model_settings(config, model).get("ids")
    if ids:
        inputs["ids"] = ids
    return inputs


def variant_windows(config: dict) -> list[str]:
    """The variants tables prepared at a zero-shot model's own window length."""
    return sorted(
        {
            variants_path(name, variant_window(config, name, model))
            for name, variants in config["variants"].items()
            for model in variants.get("zeroshot", {}).get("models", [])
            if variant_window(config, name, model)
        }
    )


def zeroshot_scores(config: dict) -> dict[str, list[str]]:
    """Each variants dataset's zero-shot score files, one per model (datasets scored zero-shot)."""
    return {
        name: [
            paths.ZEROSHOT_SCORES.format(variants=name, model=model)
            for model in variants["zeroshot"]["models"]
        ]
        for name, variants in config["variants"].items()
        if "zeroshot" in variants
    }


@dataclass(frozen=True)
class AttributionJob:
    """The maps of one model in one task: through a trained probe run, or the LM's own."""

    task: str
    model: str
    probe: str  # "lm": the language model's own maps
    methods: tuple[str, ...]
    job: ProbeJob | None

    @property
    def path(self) -> str:
        return paths.ATTRIBUTION_MAPS.format(task=self.task, model=self.model, probe=self.probe)


def explained_run(config: dict, jobs: list[ProbeJob], task: str, model: str, probe: str):
    """The probe run attribution explains: its first seed's full-data run at the last layer
    probed, token-level where the probe reads tokens. None if the task has no such run."""
    runs = [
        j
        for j in jobs
        if (j.task, j.model, j.probe) == (task, model, probe) and j.train_fraction == 1
    ]
    if not runs:
        return None
    seed = min(j.seed for j in runs)
    return max(
        (j for j in runs if j.seed == seed),
        key=lambda j: (j.representation == TOKENS, j.layer),
    )


def attribution_jobs(config: dict, jobs: list[ProbeJob]) -> list[AttributionJob]:
    out = []
    for task, spec in config.get("attribution", {}).get("tasks", {}).items():
        for entry in spec.get("maps", []):
            probe = entry.get("probe")
            job = explained_run(config, jobs, task, entry["model"], probe) if probe else None
            out.append(
                AttributionJob(task, entry["model"], probe or "lm", tuple(entry["methods"]), job)
            )
    return out


def attribution_reference(config: dict, jobs: list[ProbeJob], task: str) -> ProbeJob | None:
    """The run whose top test predictions select the sequences a task's maps explain."""
    spec = config["attribution"]["tasks"][task]
    chosen = spec.get("reference") or config["tasks"][task].get("baseline")
    if chosen is None:
        chosen = baselines(config, jobs).get(task)
    return chosen and explained_run(config, jobs, task, chosen["model"], chosen["probe"])
