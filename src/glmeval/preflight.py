"""Preflight: what a run of a configuration needs from outside the workflow, checked from a
login node before any job is submitted.

`preflight(config)` asks the download servers and the Hugging Face hub (never fetching a data
file or a weight), looks at what is already under `resources/`, the free disk, the installed
packages and the SLURM profile, and returns a `Preflight`: information lines (what will be
fetched, how many bytes) and problems, one line each, every one naming its configuration key
and the fix. `glmeval preflight CONFIG` prints it and exits 1 if there is any problem;
`snakemake preflight` does the same for the workflow's configuration.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from glmeval.config import downloads_needed
from glmeval.download import (
    ZENODO_API,
    DownloadError,
    archive_kind,
    is_downloaded,
    resolve_remote,
    url_size,
)
from glmeval.models import SOURCE_RECORD, hub_files, hub_network_errors
from glmeval.models.families import family_of
from glmeval.models.lock import entry_key, read_lock, unpinned_models
from glmeval.paths import DOWNLOADS, MODEL_SNAPSHOT
from glmeval.plan import finetuned, model_settings, probe_jobs, probe_settings, token_layers
from glmeval.storage import GB, STORED_BYTES, token_shape

#: Bytes per weight on the GPU by precision.
WEIGHT_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
#: Rules whose jobs run a model (they need a GPU in the SLURM profile for GPU-only families);
#: `finetune` where a fine-tuning probe trains it.
MODEL_RULES = ("extract_embeddings", "zeroshot_scores")


@dataclass
class Preflight:
    """What the run will fetch and write (`notes`), and what stops it (`problems`)."""

    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fetch_bytes: int = 0
    write_bytes: int = 0

    def report(self) -> str:
        lines = [*self.notes, ""]
        lines += [f"PROBLEM {p}" for p in self.problems] or ["no problems found"]
        return "\n".join(lines)


def preflight(
    config: dict,
    root: str | Path = ".",
    zenodo_api: str = ZENODO_API,
    hub_endpoint: str | None = None,
    profile: str | Path | None = "profiles/slurm/config.yaml",
    gpu_memory_gb: float | None = None,
) -> Preflight:
    """Check everything `config` (validated) needs, for a workflow rooted at `root`."""
    root, result = Path(root), Preflight()
    offline = config.get("offline", False)
    _downloads(config, root, result, offline, zenodo_api)
    hub = hub_models(config)
    _hub_models(config, hub, root, result, offline, hub_endpoint)
    _embeddings(config, root, result)
    _disk(root, result)
    _runtime(config, root, result, profile, gpu_memory_gb)
    if gpu_memory_gb:
        finetuning_memory(config, result, gpu_memory_gb)
    return result


def finetuning_memory(config: dict, result: Preflight, gpu_memory_gb: float) -> None:
    """Fine-tuning jobs whose estimated GPU memory (`glmeval.cost.finetune_gpu_bytes`) would
    not fit the GPU at their batch size."""
    from glmeval.cost import CostModel
    from glmeval.run_plan import RunPlan

    model = CostModel(RunPlan(config))
    largest: dict[tuple[str, str], tuple[float, str]] = {}
    for group in model.plan.probe_groups:
        if finetuned(config, group.probe):
            needed = model.finetune_group(group)[-1]
            key = (group.probe, group.model)
            largest[key] = max(largest.get(key, (0.0, "")), (needed, group.task))
    for (probe, name), (needed, task) in sorted(largest.items()):
        if needed > 0.9 * gpu_memory_gb * 1e9:
            settings = probe_settings(config, probe, name)
            fixes = (
                []
                if settings.get("gradient_checkpointing")
                else ["set its gradient_checkpointing: true"]
            )
            fixes += [] if settings["finetune"] == "lora" else ["use finetune: lora"]
            fixes += ["lower its batch_size", "request larger GPUs"]
            result.problems.append(
                f"probes.{probe}: fine-tuning models.{name} (on {task}) needs about "
                f"{_gb(needed)} of GPU memory at its batch size (weights, gradients, Adam's "
                f"states, activations), more than 90% of a {gpu_memory_gb:g} GB GPU: "
                + ", ".join(fixes[:-1])
                + f" or {fixes[-1]}."
            )


def hub_models(config: dict) -> list[str]:
    """The hub models whose snapshots the run reads (a random_init control reads its base's)."""
    used = set(config["models"]) & _models_used(config)
    names = {model_settings(config, m).get("of", m) for m in used}
    return sorted(n for n in names if "hub" in config["models"][n].get("source", {}))


def _models_used(config: dict) -> set[str]:
    used = {m for task in config["tasks"].values() for m in task["models"]}
    for variants in config.get("variants", {}).values():
        used |= set(variants.get("zeroshot", {}).get("models", []))
    for spec in config.get("attribution", {}).get("tasks", {}).values():
        used |= {m["model"] for m in spec.get("maps", [])}
    return used


def _downloads(config, root, result, offline, api) -> None:
    for name in downloads_needed(config):
        spec = config["downloads"][name]
        out = root / DOWNLOADS / name
        if is_downloaded(spec, out):
            result.notes.append(f"download {name}: present in {DOWNLOADS}/{name}")
            continue
        if offline:
            result.problems.append(_offline_problem(f"downloads.{name}", f"{DOWNLOADS}/{name}"))
            continue
        if not any(k in spec for k in ("sha256", "md5", "checksum_file", "zenodo")):
            result.notes.append(
                f"WARNING downloads.{name}: no checksum, so a truncated or changed file would be "
                "used unnoticed; pin sha256: <hex> (the first download prints it)."
            )
        try:
            remote = resolve_remote(spec, name, api)
            size = remote.size if remote.size is not None else url_size(remote.url)
        except DownloadError as err:  # its message may name the key already
            key, message = f"downloads.{name}", str(err)
            result.problems.append(message if message.startswith(key) else f"{key}: {message}")
            continue
        unpacked = spec.get("unpack", archive_kind(remote.name) is not None)
        need = (size or 0) * (2 if unpacked else 1)
        result.fetch_bytes += size or 0
        result.write_bytes += need
        result.notes.append(
            f"download {name}: {remote.name}, {_gb(size)} to fetch"
            + (", at least as much again unpacked" if need > (size or 0) else "")
            + ("" if remote.checksum else ", not verifiable (no checksum)")
        )


def _hub_models(config, names, root, result, offline, endpoint) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    result.notes += [f"WARNING {w}" for w in unpinned_models(config)]
    lock = read_lock(Path(config["models_lock"])) if config.get("models_lock") else {}
    api = HfApi(endpoint=endpoint)
    for name in names:
        source = config["models"][name]["source"]
        repo, revision = source["hub"], source["revision"]
        commit = lock.get(entry_key(repo, revision), {}).get("commit", revision)
        snapshot = MODEL_SNAPSHOT.format(model=name)
        out = root / snapshot
        if (out / SOURCE_RECORD).is_file():
            result.notes.append(f"model {name}: snapshot present in {snapshot}")
            continue
        if offline:
            result.problems.append(_offline_problem(f"models.{name}", snapshot))
            continue
        where = f"models.{name}.source: {repo}@{commit}"
        try:
            info = api.model_info(repo, revision=commit, files_metadata=True)
        except RevisionNotFoundError:
            result.problems.append(
                f"{where}: the repository has no revision {commit!r}. Put a commit of its 'Files "
                f"and versions' history in models.{name}.source.revision."
            )
            continue
        except RepositoryNotFoundError:
            result.problems.append(
                f"{where}: no such repository on the hub (or it is gated and no token is set: "
                f"`hf auth login`). Fix models.{name}.source.hub."
            )
            continue
        except (HfHubHTTPError, ValueError, *hub_network_errors()) as err:
            result.problems.append(
                f"{where}: the hub did not answer ({type(err).__name__}: {str(err)[:300]}). "
                "Where the hub is unreachable, run `snakemake models` where it is, copy "
                f"{Path(snapshot).parent}/ over and set offline: true."
            )
            continue
        sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
        wanted = hub_files(sizes)
        missing = [f for f in ("config.json",) if f not in wanted]
        if not any(f.endswith((".safetensors", ".bin")) for f in wanted):
            missing.append("a PyTorch weight file (*.safetensors or pytorch_model*.bin)")
        if missing:
            result.problems.append(
                f"{where}: the loader needs {', '.join(missing)}, which the revision does not "
                "hold. Pick a revision with PyTorch weights, or another repository."
            )
            continue
        size = sum(sizes[f] for f in wanted)
        result.fetch_bytes += size
        result.write_bytes += size
        skipped = sum(sizes.values()) - size
        result.notes.append(
            f"model {name}: {repo}@{commit[:12]}, {len(wanted)} files, {_gb(size)} to fetch"
            + (f" ({_gb(skipped)} of other formats skipped)" if skipped else "")
        )


def _embeddings(config, root, result) -> None:
    """Bytes of the embeddings the plan writes, for the tasks already prepared (sizes known):
    every layer pooled, and the token layers probes read (at most `storage.max_tokens_gb` of
    them at once; glmeval.storage)."""
    unknown, tokens = [], 0
    for task, spec in config["tasks"].items():
        sizes = _task_size(root / "resources" / "data" / task)
        if sizes is None:
            unknown.append(task)
            continue
        rows, bases = sizes
        for model in spec["models"]:
            settings = model_settings(config, model)
            shape = token_shape(config, model, bases)
            if family_of(model, settings).loader in ("onehot", "features") or shape is None:
                continue
            per_token, width = shape
            layers = settings.get("n_layers", 0) + 1
            result.write_bytes += rows * layers * 2 * width * STORED_BYTES
            tokens += rows * len(token_layers(config, model, task)) * per_token * width
    budget = config.get("storage", {}).get("max_tokens_gb")
    result.write_bytes += min(tokens * STORED_BYTES, budget * GB if budget else math.inf)
    if unknown:
        result.notes.append(
            f"embeddings of {len(unknown)} task(s) not counted ({', '.join(unknown[:5])}"
            + (", ..." if len(unknown) > 5 else "")
            + "): not prepared yet; run `snakemake data`, then preflight again."
        )


def _task_size(task_dir: Path) -> tuple[int, int] | None:
    """(rows over all splits, longest sequence) of a prepared task; None if not prepared."""
    import pyarrow.parquet as pq

    if not (task_dir / "task.json").is_file():
        return None
    rows, bases = 0, 0
    for split in task_dir.glob("*.parquet"):
        table = pq.read_table(split, columns=["sequence"])
        rows += table.num_rows
        lengths = [len(s) for s in table.column("sequence").to_pylist()[:1000]]
        bases = max([bases, *lengths])
    return rows, bases


def _disk(root: Path, result: Preflight) -> None:
    existing = next(p for p in [root.resolve(), *root.resolve().parents] if p.exists())
    free = shutil.disk_usage(existing).free
    result.notes.append(
        f"disk: {_gb(result.fetch_bytes)} to fetch, {_gb(result.write_bytes)} to write "
        f"(downloads, snapshots, embeddings); {_gb(free)} free at {existing}"
    )
    if result.write_bytes > free:
        result.problems.append(
            f"disk: the run needs about {_gb(result.write_bytes)} but {existing} has "
            f"{_gb(free)} free. Free space, run from a larger filesystem (scratch), or run fewer "
            "tasks or models at a time."
        )


def _runtime(config, root, result, profile, gpu_memory_gb) -> None:
    gpu_rules = _profile_gpu_rules(root / profile) if profile else None
    tuned = {j.model for j in probe_jobs(config) if finetuned(config, j.probe)}
    for name in sorted(set(config["models"]) & _models_used(config)):
        settings = model_settings(config, name)
        family = family_of(name, settings)
        for module in family.requires:
            if importlib.util.find_spec(module) is None:
                install = family.install or f"pip install 'glmeval[{family.extra}]'"
                result.problems.append(
                    f"models.{name} (family {family.name}) needs the Python package "
                    f"{module!r}, which is not installed here: {install}."
                )
        if family.gpu_only and gpu_rules is not None:
            rules = {*MODEL_RULES, *(["finetune"] if name in tuned else [])}
            for rule in sorted(rules - gpu_rules):
                result.problems.append(
                    f"models.{name} (family {family.name}) runs only on a CUDA GPU, but "
                    f"{profile} requests none for {rule}: give it gpu: 1 under set-resources."
                )
        parameters = settings.get("card", {}).get("parameters")
        if parameters and gpu_memory_gb:
            precision = settings.get("precision", family.precision)
            weights = parameters * WEIGHT_BYTES.get(precision, 4)
            if weights > 0.8 * gpu_memory_gb * 1e9:
                result.problems.append(
                    f"models.{name}: its weights alone take {_gb(weights)} in {precision}, more "
                    f"than 80% of a {gpu_memory_gb:g} GB GPU, leaving too little for a batch. "
                    "Request larger GPUs (a constraint in the profile) or a lower precision."
                )


def _profile_gpu_rules(path: Path) -> set[str] | None:
    """The rules a Snakemake profile gives a GPU (None without a readable profile)."""
    if not path.is_file():
        return None
    resources = (yaml.safe_load(path.read_text()) or {}).get("set-resources", {}) or {}
    return {
        rule
        for rule, settings in resources.items()
        if isinstance(settings, dict) and (settings.get("gpu") or settings.get("gres"))
    }


def _offline_problem(key: str, path: str) -> str:
    return (
        f"{key}: offline is true but {path} is not there. On a machine with network access run "
        "`snakemake download` and `snakemake models` with this configuration, then copy "
        "resources/downloads/ and resources/models/ into this checkout."
    )


def _gb(n: float | None) -> str:
    return "size unknown" if n is None else f"{n / 1e9:.2f} GB"


__all__ = ["Preflight", "hub_models", "preflight"]
