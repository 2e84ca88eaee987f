"""What a resolved model snapshot holds: the files resolving a hub model downloads, and the
record of where the snapshot came from. Shared by `glmeval.models` (which writes snapshots),
the model lock (`glmeval.models.lock`), the loaders and preflight."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path

from glmeval.io import read_json

#: Written by `resolve_model` into every snapshot: where it came from, at which commit.
SOURCE_RECORD = "glmeval_source.json"
#: Top-level hub files the loaders read besides the weights: config, tokenizer (vocabularies,
#: merges, sentencepiece and tiktoken models) and the repository's own code.
HUB_ESSENTIALS = ("*.json", "*.py", "*.txt", "*.model", "*.tiktoken")
#: The weight formats the PyTorch loaders read, (weights, shard index), in order of preference:
#: only the first one a repository has is fetched.
HUB_WEIGHTS = (
    ("*.safetensors", "*.safetensors.index.json"),
    ("pytorch_model*.bin", "pytorch_model*.bin.index.json"),
)


def hub_files(names: Iterable[str]) -> list[str]:
    """The files of a hub repository, from its file listing `names`, that resolving a model
    downloads: the top-level `HUB_ESSENTIALS` and one weight format, safetensors where the
    repository has them, else pytorch_model*.bin, each with its shard index. Never a folder
    (jax_model/, onnx/), another framework's weights (TensorFlow, Flax, JAX, ONNX, Rust), a
    second copy of the weights, a README or images."""
    top = [name for name in names if "/" not in name]
    files = {
        name
        for name in top
        if any(fnmatch(name, pattern) for pattern in HUB_ESSENTIALS)
        and not name.endswith(".index.json")
    }
    for weights, index in HUB_WEIGHTS:
        if any(fnmatch(name, weights) for name in top):
            files |= {name for name in top if fnmatch(name, weights) or fnmatch(name, index)}
            break
    return sorted(files)


def snapshot_record(path: str | Path | None) -> dict | None:
    """What `resolve_model` recorded about the snapshot at `path` (repo, revision, commit)."""
    record = Path(path) / SOURCE_RECORD if path is not None else None
    return read_json(record) if record is not None and record.exists() else None
