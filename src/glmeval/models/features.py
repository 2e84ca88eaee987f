"""Bring your own features: the `features` family reads representations computed elsewhere.

`source` (a path, or a path inside a download) is one file for every split, or a directory with
one file per split (`train`, `valid`, `test`, each `.parquet`, `.csv`, `.tsv` or `.npy`):

- a table: an id column (`id_column`, default `id`) and one numeric column per feature —
  per-sequence features (N, D);
- a `.npy` array: (N, D) per-sequence features or (N, T, D) per-token matrices, row i belonging
  to the i-th id of its ids file (`ids`: one id per line; in a directory, `{split}.ids.txt`).

Each split's rows are looked up by id and written as a standard embedding artifact: one layer
(0), `pooled.npy` with the features as its `mean` representation (per-token matrices: their mean
over tokens) and no `cls`, and `tokens.L0.npy` for per-token matrices (`per_token: true`). From
there probes, statistics, figures and the report work as for any model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from glmeval import __version__
from glmeval.data.tasks import read_table
from glmeval.io import atomic_path, sha256_of, write_json
from glmeval.models.families import ModelError
from glmeval.vocabulary import SPLITS

TABLE_SUFFIXES = (".parquet", ".csv", ".tsv")
FLOAT16_MAX = 65504


def features_file(path: str | Path, split: str) -> Path:
    """The file holding `split`'s features: `path` itself, or `path/{split}.*` in a directory."""
    path = Path(path)
    if not path.is_dir():
        return path
    found = [path / f"{split}{suffix}" for suffix in (*TABLE_SUFFIXES, ".npy")]
    found = [p for p in found if p.exists()]
    if len(found) != 1:
        raise ModelError(
            f"{path}: a features directory needs exactly one file named {split}.parquet, "
            f"{split}.csv, {split}.tsv or {split}.npy; found {[p.name for p in found] or 'none'}."
        )
    return found[0]


def _ids_file(path: Path, ids: str | None, split: str) -> Path:
    """The model's `ids`, else `{split}.ids.txt` beside the .npy (a features directory)."""
    if ids is not None:
        return Path(ids)
    beside = path.with_name(f"{split}.ids.txt")
    if beside.exists():
        return beside
    raise ModelError(
        f"{path}: a .npy of features has no ids; set the model's `ids` to a text file with "
        f"the id of each row, one per line (in a features directory: {split}.ids.txt)."
    )


def read_features(
    path: str | Path, ids: str | None = None, id_column: str = "id", split: str = "train"
) -> tuple[list[str], np.ndarray]:
    """(ids, values) of a features file: values (N, D) or, from a .npy, (N, T, D) (memory-mapped);
    named errors for a missing id column, non-numeric features, a row count that differs from
    the ids' and duplicate ids."""
    path = Path(path)
    if path.suffix == ".npy":
        values = np.load(path, mmap_mode="r")
        ids_path = _ids_file(path, ids, split)
        names = [line.strip() for line in ids_path.read_text().splitlines() if line.strip()]
        if len(names) != len(values):
            raise ModelError(f"{ids_path}: {len(names)} ids for the {len(values)} rows of {path}.")
        if values.ndim not in (2, 3):
            raise ModelError(
                f"{path}: features of shape {values.shape}; expected (N, D) per-sequence "
                "features or (N, T, D) per-token matrices."
            )
    elif path.suffix in TABLE_SUFFIXES:
        table = read_table(path)
        if id_column not in table.columns:
            raise ModelError(
                f"{path}: no id column {id_column!r} (it has {list(table.columns)[:5]}...); "
                "set the model's id_column."
            )
        columns = [c for c in table.columns if c != id_column]
        text = [c for c in columns if not pd.api.types.is_numeric_dtype(table[c])]
        if text or not columns:
            raise ModelError(
                f"{path}: column {text[0]!r} is not numeric; every column but the id column "
                f"{id_column!r} must be a feature."
                if text
                else f"{path}: no feature columns besides {id_column!r}."
            )
        names, values = table[id_column].astype(str).tolist(), table[columns].to_numpy(np.float32)
    else:
        raise ModelError(
            f"{path}: features must be a .parquet, .csv or .tsv table or a .npy array; "
            f"got {path.suffix or 'no suffix'}."
        )
    seen = pd.Index(names)
    if seen.has_duplicates:
        raise ModelError(f"{path}: id {seen[seen.duplicated()][0]!r} has more than one row.")
    return names, values


def _width(path: Path) -> int:
    """The feature width of a split's file, without reading its values."""
    if path.suffix == ".npy":
        return int(np.load(path, mmap_mode="r").shape[-1])
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return len(pq.read_schema(path).names) - 1
    return len(pd.read_csv(path, nrows=0, sep="\t" if path.suffix == ".tsv" else ",").columns) - 1


def write_features(
    name: str,
    model: dict,
    path: str | Path,
    split: str,
    split_ids: list[str],
    out_dir: str | Path,
    meta: dict,
) -> None:
    """Write split `split` (its rows' ids `split_ids`) of features model `name` as an embedding
    artifact at `out_dir` (atomically)."""
    ids, id_column = model.get("ids"), model.get("id_column", "id")
    file = features_file(path, split)
    if Path(path).is_dir():
        widths = {s: _width(features_file(path, s)) for s in SPLITS}
        if len(set(widths.values())) > 1:
            raise ModelError(
                f"model {name!r}: the splits' features differ in width {widths} ({path}); "
                "every split needs the same features."
            )
    names, values = read_features(file, ids, id_column, split)
    index = pd.Index(names)
    rows = index.get_indexer(split_ids)
    if (rows < 0).any():
        first = split_ids[int(np.flatnonzero(rows < 0)[0])]
        raise ModelError(
            f"model {name!r}: {(rows < 0).sum()} of the {len(split_ids)} ids of split {split!r} "
            f"have no features in {file}, the first {first!r}; the file needs a row for every id "
            f"of the task (resources/data/<task>/{split}.parquet)."
        )
    per_token = bool(model.get("per_token", False))
    if per_token != (values.ndim == 3):
        raise ModelError(
            f"model {name!r}: {file} holds {'per-token matrices' if values.ndim == 3 else 'per-sequence features'} "
            f"{values.shape}, but per_token is {str(per_token).lower()}; set per_token: "
            f"{str(values.ndim == 3).lower()}."
        )
    x = np.asarray(values[rows], dtype=np.float32)
    bad = ~np.isfinite(x).reshape(len(x), -1).all(axis=1) | (
        np.abs(np.nan_to_num(x)).reshape(len(x), -1).max(axis=1) > FLOAT16_MAX
    )
    if bad.any():
        raise ModelError(
            f"model {name!r}: the features of id {split_ids[int(np.flatnonzero(bad)[0])]!r} in "
            f"{file} are not finite or exceed the float16 range (|x| > {FLOAT16_MAX}); fix or "
            "rescale them."
        )
    pooled = pooled_array(len(x), x.shape[-1])
    pooled[:, 0, 1] = x.mean(axis=1) if per_token else x
    write_pooled(
        out_dir,
        pooled,
        {
            **meta,
            "model": name,
            "features_file": str(file),
            "features_sha256": sha256_of(file),
            "device": "none (features read from a file)",
        },
        tokens=x.astype(np.float16) if per_token else None,
    )


def pooled_array(n: int, width: int) -> np.ndarray:
    """An empty (n, 1, 2, width) float16 pooled array of a one-layer artifact without CLS: its
    `cls` slot NaN, its `mean` slot (`[:, 0, 1]`) for the caller to fill."""
    return np.full((n, 1, 2, width), np.nan, dtype=np.float16)


def write_pooled(
    out_dir: str | Path, pooled: np.ndarray, meta: dict, tokens: np.ndarray | None = None
) -> None:
    """A standard embedding artifact at `out_dir` (atomically) of features computed without a
    model: layer 0 only, `pooled` (`pooled_array`, filled) and, where given, its (N, T, D)
    per-token matrices; `meta` names the model and what made the features."""
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        np.save(tmp / "pooled.npy", pooled)
        if tokens is not None:
            np.save(tmp / "tokens.L0.npy", tokens)
        write_json(
            {
                **meta,
                "n_layers": 0,
                "hidden_size": int(pooled.shape[-1]),
                "has_cls": False,
                "dtype": "float16",
                "pooled_shape": list(pooled.shape),
                "token_layers": [0] if tokens is not None else [],
                "max_tokens": int(tokens.shape[1]) if tokens is not None else None,
                "n_sequences": len(pooled),
                "glmeval_version": __version__,
            },
            tmp / "meta.json",
        )
