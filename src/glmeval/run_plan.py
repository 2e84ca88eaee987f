"""Everything one run of the workflow makes, planned once from a validated configuration: the
jobs (`glmeval.plan`), the figures (`glmeval.figures.plan`), every target list the Snakefile asks
for, and each rule's inputs as a function of its wildcards (the rules' input functions). Plain
Python, reading no file: the workflow builds it at parse time, thousands of jobs at the paper's
scale."""

from __future__ import annotations

import dataclasses
import string
from pathlib import Path

from glmeval import cards, paths, plan, storage
from glmeval import config as glm_config
from glmeval.data.variants import effect_column
from glmeval.figures import plan as figure_plan
from glmeval.models.families import kmer_width
from glmeval.vocabulary import SPLITS, TOKENS


def _filled(pattern: str, wildcards) -> str:
    """`pattern` with every wildcard taken from a rule's `wildcards`."""
    names = [name for _, name, _, _ in string.Formatter().parse(pattern) if name]
    return pattern.format(**{name: getattr(wildcards, name) for name in names})


def _downloads(entry) -> list[str]:
    """The downloads an entry uses (one directory each)."""
    return [paths.DOWNLOAD.format(download=d) for d in sorted(glm_config.downloads_used(entry))]


def _files_and_downloads(entry) -> list[str]:
    """The local files an entry names and the downloads it uses."""
    return glm_config.local_files(entry) + _downloads(entry)


class RunPlan:
    """The plan of one configuration. `repo_dir` is the repository: a relative `paper_values`
    path is read from the working directory where it is there, else from the repository."""

    def __init__(self, config: dict, repo_dir: str | Path = "."):
        self.config = config
        self.probe_jobs = plan.probe_jobs(config)
        self.probe_groups = plan.probe_groups(config, self.probe_jobs)
        self._group_of = {run: g for g in self.probe_groups for run in g.runs}
        self._groups = {
            (g.task, g.model, g.representation, g.probe, g.layer): g for g in self.probe_groups
        }
        # {task or variants: {model: why it is not zero-shot / frozen-only there}} (model cards)
        self.training_overlaps = cards.task_overlaps(config)
        # tasks with probe jobs (the others are only prepared, by the `data` target)
        self.tasks = list(dict.fromkeys(j.task for j in self.probe_jobs))
        # every probe job's record of its finished runs (their predictions among them)
        self.probe_records = [g.path for g in self.probe_groups]
        self.zeroshot = plan.zeroshot_scores(config)
        self.transfer = plan.transfer_jobs(config, self.probe_jobs)
        self._transfers = {t.path: t for t in self.transfer}
        # variants prepared at a zero-shot model's own window length
        self.variant_windows = plan.variant_windows(config)
        self.attribution_jobs = plan.attribution_jobs(config, self.probe_jobs)
        # where token layers are written: with the pooled states, or in temporary parts
        frozen = plan.frozen_jobs(config, self.probe_jobs)
        self.token_storage = storage.token_storage(config, frozen, self.attribution_jobs)
        self._parts = {(p.model, p.task, p.index): p for p in self.token_storage.parts}
        # the (model, task) pairs whose pooled extraction a probe job reads (under a disk
        # budget, a model probed only on token layers in parts has none), and its directories
        self.extractions = list(
            dict.fromkeys(
                (g.model, g.task)
                for g in self.probe_groups
                if not self._part(g) and not plan.finetuned(config, g.probe)
            )
        )
        self.embeddings = sorted(
            paths.EMBEDDINGS.format(model=m, task=t, split=split)
            for m, t in self.extractions
            for split in SPLITS
        )
        # each wave's probe records, which the next wave's extractions wait for
        self._wave_records: dict[int, list[str]] = {}
        for group in self.probe_groups:
            if part := self._part(group):
                self._wave_records.setdefault(part.wave, []).append(group.path)
        self.paper_values = None
        if config.get("paper_values") and self.probe_jobs:
            path = Path(config["paper_values"])
            chosen = path if path.is_absolute() or path.exists() else Path(repo_dir) / path
            self.paper_values = str(chosen)
        self.figure_jobs, self.skipped_figures = figure_plan.figure_plan(
            config, self.probe_jobs, self.paper_values
        )
        self.figures = {f.name: f for f in self.figure_jobs}

    # ------------------------------------------------------------------------ targets

    @property
    def tables(self) -> list[str]:
        """The probe tables (none for a configuration of variants only) and the model cards."""
        tables = [paths.TASK_TABLE.format(task=task) for task in self.tasks]
        if self.tasks:
            tables += [
                paths.PROBE_METRICS_TABLE,
                paths.PROBE_SUMMARY,
                paths.PROBE_COMPARISONS,
                paths.LEAKAGE_TABLE,
            ]
        return tables + [paths.MODEL_CARDS]

    @property
    def variant_tables(self) -> list[str]:
        """Table 1 and the correlations of each dataset with measured effects (CAGI5's, or a
        user's `effect:` column) and scores to evaluate."""
        return [
            path
            for name, v in self.config["variants"].items()
            if effect_column(v) and (name in self.zeroshot or v.get("transfer"))
            for path in (
                paths.VARIANT_TABLE1.format(variants=name, ext="csv"),
                paths.VARIANT_CORRELATIONS.format(variants=name),
            )
        ]

    @property
    def zeroshot_targets(self) -> list[str]:
        """Every zero-shot score, transfer effect and variant table."""
        scores = [path for files in self.zeroshot.values() for path in files]
        return scores + [t.path for t in self.transfer] + self.variant_tables

    @property
    def attribution_targets(self) -> list[str]:
        """Each explained task's motif recovery and figures, and each GIA table."""
        mapped = sorted({j.task for j in self.attribution_jobs})
        targets = [
            path
            for task in mapped
            for path in (
                paths.ATTRIBUTION_MOTIFS.format(task=task, table="recovery"),
                *(
                    paths.ATTRIBUTION_FIGURE.format(task=task, figure=figure, ext=ext)
                    for figure in ("logos", "recovery")
                    for ext in ("png", "pdf")
                ),
            )
        ]
        tasks = self.config.get("attribution", {}).get("tasks", {})
        return targets + [
            paths.ATTRIBUTION_GIA.format(task=t) for t, s in tasks.items() if "gia" in s
        ]

    @property
    def figure_targets(self) -> list[str]:
        """The figures, their index, the leaderboard, each Table 1 as Markdown, the paper's
        numbers beside ours, and the provenance."""
        boards = [paths.LEADERBOARD.format(ext=ext) for ext in ("csv", "md")]
        return [
            *(path for f in self.figure_jobs for path in f.outputs.values()),
            paths.FIGURE_INDEX,
            *(boards if self.probe_jobs else []),
            *(p.replace(".csv", ".md") for p in self.variant_tables if p.endswith("_table1.csv")),
            *(paths.PAPER_COMPARISON.format(ext=ext) for ext in ("csv", "md") if self.paper_values),
            paths.PROVENANCE,
        ]

    @property
    def all_targets(self) -> list[str]:
        """Everything the configuration asks for (the workflow's `all`)."""
        return [
            *self.tables,
            *self.figure_targets,
            *self.variant_tables,
            *self.attribution_targets,
        ]

    @property
    def model_snapshots(self) -> list[str]:
        """The hub snapshots, tiny builds and downloaded checkpoints the tasks and variants use."""
        config = self.config
        used = [m for task in config["tasks"].values() for m in task["models"]]
        used += [
            m for v in config["variants"].values() for m in v.get("zeroshot", {}).get("models", [])
        ]
        fetched = (paths.fill(paths.MODEL_SNAPSHOT, model=""), paths.DOWNLOADS)
        return sorted({d for d in map(self.model_dir, used) if d and str(d).startswith(fetched)})

    @property
    def prepared_data(self) -> list[str]:
        """Every task and variants dataset prepared (the `data` target)."""
        return [
            *(paths.TASK_META.format(task=task) for task in self.config["tasks"]),
            *(paths.VARIANTS_META.format(variants=v) for v in self.config["variants"]),
            *(p.replace("variants.parquet", "task.json") for p in self.variant_windows),
        ]

    @property
    def downloads(self) -> list[str]:
        """Every download the tasks, variants, models and attribution use (`download`)."""
        return [paths.DOWNLOAD.format(download=d) for d in glm_config.downloads_needed(self.config)]

    @property
    def model_kinds(self) -> dict[str, str]:
        """Each configured model's kind of representation (the leaderboard's `kind`)."""
        return {n: cards.representation_kind(m) for n, m in self.config["models"].items()}

    @property
    def tuned_kinds(self) -> dict[str, str]:
        """Each fine-tuning probe's kind (the leaderboard's `kind` of its entries)."""
        probes = self.config["probes"]
        return {n: cards.finetune_kind(p) for n, p in probes.items() if "finetune" in p}

    def model_names(self, kmer: bool) -> str:
        """A wildcard pattern of the configured models that are (not) k-mer spectra."""
        return plan.kmer_names_pattern(self.config, kmer)

    def kmer_width(self, wildcards) -> int:
        """The columns of a kmer model's spectra (`kmer_spectra`'s memory)."""
        settings = plan.model_settings(self.config, wildcards.model)
        return kmer_width(settings["k"], settings.get("canonical", False))

    def probe_names(self, kind: str) -> str:
        """A wildcard pattern of the configured probes of `kind` (linear, neural, finetune)."""
        return plan.probe_names_pattern(self.config, kind)

    @property
    def model_cards(self) -> list[dict]:
        """Every configured model's card (`glmeval.cards`)."""
        return cards.card_table(self.config).to_dict("records")

    @property
    def figure_labels(self) -> dict:
        """How figures name and colour models and probes, and the training overlaps."""
        config = self.config
        return {
            "models": {
                name: {
                    "family": model["family"],
                    "label": model.get("label", name),
                    "supervised": bool(cards.model_card(config, name).get("trained_on")),
                }
                for name, model in config["models"].items()
            },
            "probes": {
                name: {k: p[k] for k in ("type", "finetune") if k in p}
                for name, p in config["probes"].items()
            },
            "overlaps": self.training_overlaps,
        }

    @property
    def task_names(self) -> str:
        """A wildcard pattern of the tasks with probe runs."""
        return plan.alternatives(self.tasks)

    @property
    def figure_names(self) -> str:
        """A wildcard pattern of the planned figures."""
        return plan.alternatives(self.figures)

    def model_dir(self, model: str) -> str | None:
        """Where a model's checkpoint lives (`glmeval.plan.model_dir`)."""
        return plan.model_dir(self.config, model)

    # ------------------------------------------------------------------------ rule inputs
    # Each takes the rule's wildcards (attributes named as glmeval.paths.WILDCARDS).

    def task_settings(self, wildcards) -> dict:
        """The task's settings with every download reference resolved to a local path."""
        return glm_config.resolve_files(self.config["tasks"][wildcards.task])

    def task_sources(self, wildcards) -> list[str]:
        """The local files and downloads a task is prepared from."""
        return _files_and_downloads(self.config["tasks"][wildcards.task]["source"])

    def variants_sources(self, wildcards) -> list[str]:
        return _files_and_downloads(self.config["variants"][wildcards.variants])

    def model_settings(self, wildcards) -> dict:
        return plan.model_settings(self.config, wildcards.model)

    def training_task(self, wildcards) -> list[str]:
        """The prepared task a supervised model (rbp) is trained on; task.json first."""
        task = self.model_settings(wildcards)["source"]["train"]["task"]
        splits = [paths.TASK_SPLIT.format(task=task, split=split) for split in SPLITS]
        return [paths.TASK_META.format(task=task), *splits]

    def embedding_inputs(self, wildcards) -> dict:
        """The task's splits (by name) and description, and the model's checkpoint."""
        return {
            **{s: paths.TASK_SPLIT.format(task=wildcards.task, split=s) for s in SPLITS},
            "task": paths.TASK_META.format(task=wildcards.task),
            **plan.model_inputs(self.config, wildcards.model),
        }

    def token_layers(self, wildcards) -> list[int]:
        """Layers whose token matrices are written with the pooled states: every layer a probe
        job of the task reads, or under a disk budget those kept (`glmeval.storage`)."""
        return list(self.token_storage.kept.get((wildcards.model, wildcards.task), ()))

    @property
    def token_parts(self) -> list[str]:
        """Every temporary part of token layers (the first split's directory of each)."""
        return [p.path(SPLITS[0]) for p in self.token_storage.parts]

    def token_part(self, wildcards) -> storage.TokenPart:
        return self._parts[wildcards.model, wildcards.task, int(wildcards.part)]

    def previous_wave(self, wildcards) -> list[str]:
        """The records of the probe jobs that read the previous wave's token parts: a part's
        extraction waits for them, so the waves' token states are not on disk together."""
        return self._wave_records.get(self.token_part(wildcards).wave - 1, [])

    def probe_embeddings(self, wildcards) -> list[str]:
        return self.group_embeddings(self.probe_group(wildcards))

    def group_embeddings(self, group: plan.ProbeGroup) -> list[str]:
        """The three splits' embeddings a probe job reads: a part of token layers under a disk
        budget, else those written with the pooled states."""
        part = self._part(group)
        if part is not None:
            return [part.path(split) for split in SPLITS]
        return [
            paths.EMBEDDINGS.format(model=group.model, task=group.task, split=split)
            for split in SPLITS
        ]

    def _part(self, group: plan.ProbeGroup) -> storage.TokenPart | None:
        """The part of token layers a probe job reads (None: the pooled extraction's)."""
        if group.representation != TOKENS or plan.finetuned(self.config, group.probe):
            return None
        return self.token_storage.part_of(group.model, group.task, group.layer)

    def probe_settings(self, wildcards) -> dict:
        """A probe job's settings: the probe's for the model, and how the task draws its train
        fractions."""
        task = self.config["tasks"][wildcards.task]
        return {
            "probe": plan.probe_settings(self.config, wildcards.probe, wildcards.model),
            **{k: task[k] for k in ("fraction_sampling", "fraction_splits")},
        }

    def probe_group(self, wildcards) -> plan.ProbeGroup:
        """The probe job a `train_probes` or `fit_linear_probes` rule runs."""
        layer = int(wildcards.layer) if hasattr(wildcards, "layer") else None
        key = (wildcards.task, wildcards.model, wildcards.representation, wildcards.probe, layer)
        return self._groups[key]

    def group_runs(self, wildcards) -> list[dict]:
        """The runs of a probe job (`glmeval.probes.run.Run` fields)."""
        return [
            {
                "layer": j.layer,
                "train_fraction": j.train_fraction,
                "seed": j.seed,
                "out_dir": j.run_dir,
            }
            for j in self.probe_group(wildcards).runs
        ]

    def record_of(self, job: plan.ProbeJob) -> str:
        """The record of the probe job that trains run `job` (the rule input that stands for
        the run's files)."""
        return self._group_of[job].path

    def task_records(self, wildcards) -> list[str]:
        return [g.path for g in self.probe_groups if g.task == wildcards.task]

    def task_metrics(self, wildcards) -> list[str]:
        return [j.metrics_path for j in self.probe_jobs if j.task == wildcards.task]

    def model_records(self, wildcards) -> list[str]:
        records = [g.path for g in self.probe_groups if g.model == wildcards.model]
        if not records:
            raise ValueError(
                f"no probe runs of model {wildcards.model!r}; models with runs: "
                f"{sorted({j.model for j in self.probe_jobs})}"
            )
        return records

    def model_metrics(self, wildcards) -> list[str]:
        return [j.metrics_path for j in self.probe_jobs if j.model == wildcards.model]

    def transfer_run(self, wildcards) -> plan.ProbeJob:
        """The probe run a transfer job applies (`glmeval.plan.transfer_jobs`)."""
        return self._transfers[_filled(paths.TRANSFER_EFFECTS, wildcards)].job

    def transfer_inputs(self, wildcards) -> dict:
        """The variants, the model's checkpoint, and the record of the applied run's job."""
        return self.variant_model_inputs(wildcards) | {
            "runs": self.record_of(self.transfer_run(wildcards))
        }

    def variant_model_inputs(self, wildcards) -> dict:
        """The variants (at the model's own zero-shot window, if it has one; a transfer job
        reads the dataset's windows) and the model's checkpoint."""
        window = None
        if not hasattr(wildcards, "task"):  # a zero-shot job, not a transfer
            window = plan.variant_window(self.config, wildcards.variants, wildcards.model)
        return {
            "variants": plan.variants_path(wildcards.variants, window),
            **plan.model_inputs(self.config, wildcards.model),
        }

    def zeroshot_windows(self, wildcards) -> dict:
        """Each zero-shot model's window length (None: the dataset's own)."""
        entry = self.config["variants"][wildcards.variants]
        models = entry.get("zeroshot", {}).get("models", [])
        return {m: plan.variant_window(self.config, wildcards.variants, m) for m in models}

    def transfer_elements(self, wildcards) -> list[str]:
        """The elements a transfer task's probes explain (its cell type's)."""
        entries = self.config["variants"][wildcards.variants].get("transfer", [])
        return [
            e for entry in entries if entry["task"] == wildcards.task for e in entry["elements"]
        ]

    def variant_table_inputs(self, wildcards) -> dict:
        name = wildcards.variants
        return {
            "variants": paths.VARIANTS.format(variants=name),
            "zeroshot": self.zeroshot.get(name, []),
            "transfer": [t.path for t in self.transfer if t.variants == name],
        }

    def transfer_labels(self, wildcards) -> list[dict]:
        return [
            dataclasses.asdict(t.job) for t in self.transfer if t.variants == wildcards.variants
        ]

    def variant_effect(self, wildcards) -> str | None:
        """The column of measured effects a variants dataset is evaluated against."""
        return effect_column(self.config["variants"][wildcards.variants])

    def attribution_job(self, wildcards) -> plan.AttributionJob:
        key = (wildcards.task, wildcards.model, wildcards.probe)
        return next(j for j in self.attribution_jobs if (j.task, j.model, j.probe) == key)

    def attribution_reference(self, wildcards) -> plan.ProbeJob:
        """The run whose top test predictions select the sequences a task's maps explain."""
        return plan.attribution_reference(self.config, self.probe_jobs, wildcards.task)

    def attribution_selection_inputs(self, wildcards) -> dict:
        """The test split, and the record of the reference run's job."""
        return {
            "test": paths.TASK_SPLIT.format(task=wildcards.task, split="test"),
            "runs": self.record_of(self.attribution_reference(wildcards)),
        }

    def attribution_map_inputs(self, wildcards) -> dict:
        """The selection, the explained probe's weights, the model's checkpoint and, for the
        embedding-gradient map, the test split's cached embeddings."""
        job = self.attribution_job(wildcards)
        inputs = {"selection": paths.ATTRIBUTION_SELECTION.format(task=wildcards.task)}
        if job.job is not None:
            inputs["runs"] = self.record_of(job.job)
            if "embedding_gradient" in job.methods:
                inputs["embeddings"] = paths.EMBEDDINGS.format(
                    model=job.model, task=job.task, split="test"
                )
        return inputs | self._checkpoint(job.model)

    def gia_settings(self, wildcards) -> dict:
        return self.config["attribution"]["tasks"][wildcards.task]["gia"]

    def gia_run(self, wildcards) -> plan.ProbeJob:
        """The probe run GIA predicts with."""
        gia = self.gia_settings(wildcards)
        return plan.explained_run(
            self.config, self.probe_jobs, wildcards.task, gia["model"], gia["probe"]
        )

    def gia_inputs(self, wildcards) -> dict:
        inputs = {
            "selection": paths.ATTRIBUTION_SELECTION.format(task=wildcards.task),
            "runs": self.record_of(self.gia_run(wildcards)),
        }
        return inputs | self._checkpoint(self.gia_settings(wildcards)["model"])

    @property
    def motifs_file(self) -> str:
        """The motif database: the synthetic tasks' own, or the configured (downloaded) file."""
        motifs = self.config.get("attribution", {}).get("motifs", "synthetic")
        if motifs == "synthetic":
            return paths.SYNTHETIC_MOTIFS
        return glm_config.resolve_files(motifs)

    def motifs_inputs(self, wildcards) -> dict:
        motifs = self.config["attribution"]["motifs"]
        downloads = _downloads({"motifs": motifs}) if motifs != "synthetic" else []
        return {
            "selection": paths.ATTRIBUTION_SELECTION.format(task=wildcards.task),
            "maps": [j.path for j in self.attribution_jobs if j.task == wildcards.task],
            "motifs": downloads or [self.motifs_file],
        }

    def figure_inputs(self, wildcards) -> list[str]:
        return figure_plan.figure_inputs(self.figures[wildcards.figure], self.config)

    def figure_metric(self, wildcards) -> str:
        """The metric a figure plots: its first task's headline metric."""
        job = self.figures[wildcards.figure]
        if job.tasks and job.kind != "attribution":
            return figure_plan.headline_metric(self.config, job.tasks[0])
        return "pearson"

    def _checkpoint(self, model: str) -> dict:
        weights = self.model_dir(model)
        return {"model": weights} if weights else {}
