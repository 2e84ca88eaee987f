"""Probe inputs: pooled features in memory, token-level matrices read row-wise from disk.

Embedding artifacts are described in `glmeval.embed`. A task with several sequence columns
(splicing: `left`, `right`) has one artifact per column in `<split dir>/<column>/`; pooled
features of the columns are concatenated, token matrices stay a tuple (one model input each).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glmeval.io import read_json, sha256_of
from glmeval.nn.rows import open_rows
from glmeval.vocabulary import strand_view

POOLED = {"cls": 0, "mean": 1}


class ProbeInputError(ValueError):
    """A probe's inputs do not fit together; the message names the file and the fix."""


class Rows:
    """Selected rows of a row reader, each token matrix zero-padded to `n_tokens`."""

    def __init__(self, source, rows: np.ndarray | None = None, n_tokens: int | None = None):
        self.source = source
        self.rows = np.arange(len(source)) if rows is None else rows
        self.n_tokens = n_tokens or source.shape[1]
        self.shape = (len(self.rows), self.n_tokens, *source.shape[2:])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        block = self.source[self.rows[rows]]
        pad = self.n_tokens - block.shape[1]
        return np.pad(block, ((0, 0), (0, pad), (0, 0))) if pad else block


def take(x, rows: np.ndarray):
    """Rows `rows` of features `x` (an array, `Rows`, or a tuple of them)."""
    if isinstance(x, tuple):
        return tuple(take(part, rows) for part in x)
    if isinstance(x, Rows):
        return Rows(x.source, x.rows[rows], x.n_tokens)
    return x[rows]


def _artifact(embedding_dir: Path, split_file: Path | None) -> Path:
    meta_path = embedding_dir / "meta.json"
    if not meta_path.exists():
        raise ProbeInputError(f"{embedding_dir}: not an embedding artifact (no meta.json).")
    recorded = read_json(meta_path).get("input_sha256")
    if split_file is not None and recorded and recorded != sha256_of(split_file):
        raise ProbeInputError(
            f"{embedding_dir} was extracted from another version of {split_file}; "
            "delete it and rerun to extract it again."
        )
    return embedding_dir


def _load_one(directory: Path, representation: str, layer: int):
    if representation == "tokens":
        path = directory / f"tokens.L{layer}.npy"
        if not path.exists():
            have = sorted(p.name for p in directory.glob("tokens.L*.npy"))
            raise ProbeInputError(
                f"{directory}: no token-level layer {layer} (has {have or 'none'}); token "
                "layers are extracted for the configured token-level probes: rerun the "
                "extraction after changing the probes."
            )
        return Rows(open_rows(path))
    representation, strand = strand_view(representation)
    path = directory / (f"pooled.{strand}.npy" if strand else "pooled.npy")
    if not path.exists():
        raise ProbeInputError(
            f"{directory}: no {strand}-strand states ({path.name}); they are extracted for a "
            "model with strands: both: rerun the extraction after setting it."
        )
    pooled = np.load(path, mmap_mode="r")
    if layer >= pooled.shape[1]:
        raise ProbeInputError(
            f"{directory}: layer {layer} requested, the model has layers 0..{pooled.shape[1] - 1}."
        )
    features = np.asarray(pooled[:, layer, POOLED[representation]], dtype=np.float32)
    if np.isnan(features).any():
        raise ProbeInputError(f"{directory}: no {representation!r} representation for this model.")
    return features


def load_features(
    embedding_dir: str | Path,
    representation: str,
    layer: int,
    columns: tuple[str, ...] = ("sequence",),
    split_file: str | Path | None = None,
):
    """Pooled (N, D) float32 features, or a `Rows` reader of (N, T, D) token matrices; a tuple of
    readers for several sequence columns. `split_file`: the split the embeddings must come from."""
    embedding_dir = Path(embedding_dir)
    split_file = Path(split_file) if split_file else None
    if columns == ("sequence",):
        return _load_one(_artifact(embedding_dir, split_file), representation, layer)
    parts = [
        _load_one(_artifact(embedding_dir / column, split_file), representation, layer)
        for column in columns
    ]
    return tuple(parts) if representation == "tokens" else np.concatenate(parts, axis=1)


def pad_tokens(features: dict) -> dict:
    """Token readers of every split (and column) padded to one token count, the longest: a
    split's matrices are as wide as its own longest tokenization."""
    readers = [
        r
        for x in features.values()
        for r in (x if isinstance(x, tuple) else (x,))
        if isinstance(r, Rows)
    ]
    if not readers:
        return features
    width = max(r.n_tokens for r in readers)

    def widen(x):
        if isinstance(x, tuple):
            return tuple(widen(part) for part in x)
        return Rows(x.source, x.rows, width)

    return {split: widen(x) for split, x in features.items()}
