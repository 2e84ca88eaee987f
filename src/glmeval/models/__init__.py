"""Model families behind one Embedder protocol: resolving a configured model into a local
snapshot, and loading it from there (offline) as an Embedder."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from glmeval.io import read_json, write_json
from glmeval.models.base import Embedder, Encoded, TokenizationError
from glmeval.models.families import Family, ModelError, family_of
from glmeval.models.snapshot import SOURCE_RECORD, hub_files, snapshot_record

#: The HTTP clients of huggingface_hub 1.x and 2.x: their connection errors reach the caller
#: unwrapped and are no OSError (those of requests, under huggingface_hub 0.x, are).
HTTP_CLIENTS = ("httpx", "httpx2")


#: Model settings that change what a checkpoint's embeddings are (recorded with the arrays, so
#: changing one recomputes them instead of reusing a cache made without it).
EMBEDDING_SETTINGS = (
    "family",
    "layer_modules",
    "max_tokens",
    "long_sequences",
    "window_bases",
    "precision",
    "remote_code",
    "prepend_cls",
    "config_overrides",
    "attention",
    "n_value",
    "k",
    "strands",
)


def embedding_settings(model: dict) -> dict:
    """The `EMBEDDING_SETTINGS` a model sets."""
    return {key: model[key] for key in EMBEDDING_SETTINGS if key in model}


def load_embedder(name: str, model: dict, path: str | None, device: str = "cpu") -> Embedder:
    """The Embedder of model `name` (`model` = its effective settings) stored at `path` (for a
    `download` source: the unpacked download, which holds the checkpoint at `source.path`)."""
    family = family_of(name, model)
    if family.loader == "features":
        raise ModelError(
            f"model {name!r} reads its features from a file (family features): there is no "
            "model to run on sequences."
        )
    if family.loader == "kmer":
        raise ModelError(
            f"model {name!r} is a k-mer spectrum (family kmer), computed by "
            "glmeval.models.kmer.write_kmer: there is no model to run on sequences."
        )
    if family.refusal:
        raise ModelError(f"model {name!r} (family {family.name}): {family.refusal}")
    _check_runtime(name, family, device)
    path = local_path(model, path)
    if path is not None:
        _check_snapshot(name, model, Path(path))
    seed = model.get("random_init")
    if family.loader == "onehot":
        from glmeval.models.onehot import OneHotEmbedder

        embedder = OneHotEmbedder(name, model.get("n_value", 0.0), device, model.get("k", 1))
    elif family.loader == "transformers":
        from glmeval.models.hf import TransformersEmbedder

        embedder = TransformersEmbedder(name, str(path), family, model, device=device)
    elif family.loader == "sei":
        from glmeval.models.sei import SeiEmbedder

        embedder = SeiEmbedder(name, path, device=device, random_init_seed=seed)
    elif family.loader == "tracks":
        from glmeval.models.tracks import EMBEDDERS

        embedder = EMBEDDERS[family.name](name, path, device=device, random_init_seed=seed)
    else:
        from glmeval.models.rbp import RBPEmbedder

        embedder = RBPEmbedder(name, path, device=device, random_init_seed=seed)
    if embedder.n_layers != model.get("n_layers", 0):
        raise ModelError(
            f"models.{name}.n_layers is {model.get('n_layers', 0)} but the checkpoint at {path} "
            f"has {embedder.n_layers} layers. Set n_layers: {embedder.n_layers}."
        )
    card_width = model.get("card", {}).get("hidden_size")
    if card_width is not None and card_width != embedder.hidden_size:
        raise ModelError(
            f"models.{name}.card.hidden_size is {card_width} but the checkpoint at {path} has "
            f"states of width {embedder.hidden_size}: the card describes another model. Fix "
            "the card (or the source)."
        )
    if model.get("long_sequences") == "window":
        from glmeval.models.windows import Windowed

        embedder = Windowed(embedder, model["window_bases"])
    # what the embedding engine makes of it, wherever it runs (extraction, transfer, attribution)
    embedder.strands = model.get("strands", "forward")
    return embedder


def local_path(model: dict, path: str | Path | None) -> Path | None:
    """Where a model's checkpoint (or features file) is: `path`, or for a `download` source the
    unpacked download at `path` with `source.path` inside it."""
    if path is not None and "download" in model.get("source", {}):
        return Path(path) / model["source"]["path"]
    return None if path is None else Path(path)


def resolve_model(model: dict, out_dir: str | Path, name: str | None = None) -> None:
    """Materialise model `name`'s source into `out_dir`: run its builder or snapshot its hub
    repo at the pinned revision (the locked commit where `model["models_lock"]` has one), and
    record where it came from in `glmeval_source.json`."""
    out_dir = Path(out_dir)
    source = model["source"]
    if "builder" in source:
        from glmeval.models.build import BUILDERS

        BUILDERS[source["builder"]](out_dir, n_layers=model["n_layers"], **source.get("args", {}))
        record = {"builder": source["builder"], "args": source.get("args", {})}
    else:
        record = {**source, "commit": _snapshot(name, source, out_dir, model.get("models_lock"))}
    write_json(record, out_dir / SOURCE_RECORD)


def hub_network_errors() -> tuple[type[Exception], ...]:
    """What a hub call raises when the network fails: OSError, and the HTTPError of
    huggingface_hub's HTTP client (httpx or httpx2), which is no OSError."""
    clients = (client for client in HTTP_CLIENTS if importlib.util.find_spec(client))
    return (OSError, *(importlib.import_module(client).HTTPError for client in clients))


def _snapshot(name: str | None, source: dict, out_dir: Path, lock: str | None) -> str:
    """Download the hub snapshot's `hub_files`; with a model lock file, at its commit for
    repo@revision if it has one, and lock or verify the files (glmeval.models.lock)."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    from glmeval.models.lock import entry_key, lock_snapshot, read_lock

    repo, revision = source["hub"], source["revision"]
    locked = read_lock(Path(lock)).get(entry_key(repo, revision), {}) if lock else {}
    try:
        info = HfApi().model_info(repo, revision=locked.get("commit", revision))
        commit = info.sha
        files = hub_files(sibling.rfilename for sibling in info.siblings)
        snapshot_download(repo, revision=commit, local_dir=out_dir, allow_patterns=files)
        for code_repo in _code_repos(out_dir):  # code that its auto_map takes from elsewhere
            if "code_revision" not in source:
                raise ModelError(
                    f"model {name!r}: {repo} runs its code from another repository, {code_repo}. "
                    f"Give models.{name}.source.code_revision: a commit of {code_repo} (its 'Files "
                    "and versions' history), then resolve the model again."
                )
            code_revision = source["code_revision"]
            snapshot_download(
                code_repo, revision=code_revision, local_dir=out_dir, allow_patterns="*.py"
            )
    except (HfHubHTTPError, LocalEntryNotFoundError, *hub_network_errors()) as err:
        raise ModelError(
            f"cannot snapshot {repo}@{revision} from the Hugging Face hub "
            f"({type(err).__name__}: {err}). Without network access, resolve the models on a "
            "machine that has it (`snakemake models`) and copy resources/models/ over; see "
            "docs/models.md."
        ) from err
    if lock:
        lock_snapshot(name, Path(lock), repo, revision, commit, out_dir)
    return commit


def _code_repos(out_dir: Path) -> set[str]:
    """The other repositories whose code the snapshot's auto_maps name (`org/code--module.Class`,
    as NT v3's do); `resolve_model` copies that code beside the weights."""
    repos = set()
    for file in ("config.json", "tokenizer_config.json"):
        record = out_dir / file
        auto_map = read_json(record).get("auto_map", {}) if record.exists() else {}
        for reference in auto_map.values():
            for ref in reference if isinstance(reference, list) else [reference]:
                if ref and "--" in ref:
                    repos.add(ref.split("--")[0])
    return repos


def _check_runtime(name: str, family: Family, device: str) -> None:
    for module in family.requires:
        if importlib.util.find_spec(module) is None:
            install = family.install or f"pip install 'glmeval[{family.extra}]'"
            raise ModelError(
                f"model {name!r} (family {family.name}) needs the Python package {module!r}, "
                f"which is not installed: {install}."
            )
    if family.gpu_only and not str(device).startswith("cuda"):
        raise ModelError(
            f"model {name!r} (family {family.name}) runs only on a CUDA GPU (its kernels have no "
            f"CPU path) but the device is {device!r}. Run its embedding jobs on a GPU node "
            "(device: cuda)."
        )
    if family.name == "gpn":  # the gpn package registers its architectures with transformers
        gpn = importlib.import_module("gpn")
        if hasattr(gpn, "register_auto_classes"):
            gpn.register_auto_classes("gpn")
        else:
            importlib.import_module("gpn.model")


def _check_snapshot(name: str, model: dict, path: Path) -> None:
    if not path.exists():
        raise ModelError(
            f"model {name!r}: no checkpoint at {path}. Run the workflow's resolve_model rule "
            f"(snakemake {path}) or fix models.{name}.source.path."
        )
    hub = model.get("source", {}).get("hub")
    if hub is None:
        return
    wanted = model["source"]["revision"]
    got = snapshot_record(path) or {}
    if (got.get("hub"), got.get("revision")) != (hub, wanted):
        raise ModelError(
            f"model {name!r}: the snapshot at {path} is {got.get('hub')}@{got.get('revision')} "
            f"but the config asks for {hub}@{wanted}. Delete {path} and rerun to snapshot the "
            "configured revision."
        )
    if got.get("code_revision") != model["source"].get("code_revision"):
        raise ModelError(
            f"model {name!r}: the snapshot at {path} holds code at revision "
            f"{got.get('code_revision')} but the config asks for code_revision "
            f"{model['source'].get('code_revision')}. Delete {path} and rerun to snapshot it."
        )
    if model.get("models_lock"):
        from glmeval.models.lock import check_snapshot

        check_snapshot(name, Path(model["models_lock"]), hub, wanted, got.get("commit"), path)


__all__ = [
    "EMBEDDING_SETTINGS",
    "Embedder",
    "Encoded",
    "ModelError",
    "TokenizationError",
    "embedding_settings",
    "hub_files",
    "hub_network_errors",
    "load_embedder",
    "resolve_model",
    "snapshot_record",
]
