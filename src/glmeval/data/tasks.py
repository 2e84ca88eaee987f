"""Canonical task datasets: `{split}.parquet` (id, sequence, targets...) plus `task.json`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from glmeval.data.sequence import check_sequences
from glmeval.data.synthetic import GENERATORS
from glmeval.io import read_json, sha256_of, write_json, write_parquet

SPLITS = ("train", "valid", "test")
METRICS = {"regression": ["pearson", "spearman"], "binary": ["auroc", "aupr"]}
TARGETS = {"motif_regression": ["activity"], "motif_grammar": ["label"]}


def _synthetic_splits(source: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    sizes = [source["n_train"], source["n_valid"], source["n_test"]]
    df = GENERATORS[source["synthetic"]](sum(sizes), length=source["length"], seed=source["seed"])
    bounds = [0, sizes[0], sizes[0] + sizes[1], sum(sizes)]
    splits = {s: df.iloc[a:b].reset_index(drop=True) for s, a, b in zip(SPLITS, bounds, bounds[1:])}
    provenance = {k: source[k] for k in ("synthetic", "length", "seed")}
    return splits, provenance


def _table_splits(source: dict, targets: list[str]) -> tuple[dict[str, pd.DataFrame], dict]:
    path = Path(source["table"])
    reader = {".parquet": pd.read_parquet, ".tsv": lambda p: pd.read_csv(p, sep="\t")}
    df = reader.get(path.suffix, pd.read_csv)(path)
    columns = {"id": "id", source["sequence_column"]: "sequence", source["split_column"]: "split"}
    missing = [c for c in [*columns, *targets] if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; it has {list(df.columns)}.")
    df = df.rename(columns=columns)
    df["id"] = df["id"].astype(str)
    df["sequence"] = df["sequence"].str.upper()
    splits = {s: df[df["split"] == s].drop(columns="split").reset_index(drop=True) for s in SPLITS}
    empty = [s for s, part in splits.items() if part.empty]
    if empty:
        raise ValueError(f"{path}: no rows with {source['split_column']} in {empty}.")
    return splits, {"table": str(path), "sha256": sha256_of(path)}


def prepare_task(name: str, task: dict, out_dir: str | Path) -> None:
    """Write `{out_dir}/{split}.parquet` and `{out_dir}/task.json` for configured task `name`."""
    out_dir = Path(out_dir)
    source = task["source"]
    if "synthetic" in source:
        targets = TARGETS[source["synthetic"]]
        splits, provenance = _synthetic_splits(source)
    else:
        targets = task["targets"]
        splits, provenance = _table_splits(source, targets)
    ids = pd.concat([part["id"] for part in splits.values()])
    if ids.duplicated().any():
        raise ValueError(f"task {name!r}: duplicate ids, e.g. {ids[ids.duplicated()].iloc[0]!r}.")
    for split, part in splits.items():
        check_sequences(part["sequence"], part["id"], where=f"task {name!r}, split {split!r}")
    for split, part in splits.items():
        write_parquet(part, out_dir / f"{split}.parquet")
    lengths = pd.concat([part["sequence"].str.len() for part in splits.values()])
    write_json(
        {
            "name": name,
            "kind": task["kind"],
            "targets": targets,
            "metrics": METRICS[task["kind"]],
            "sequence_length": {"min": int(lengths.min()), "max": int(lengths.max())},
            "n": {split: len(part) for split, part in splits.items()},
            "provenance": provenance,
        },
        out_dir / "task.json",
    )


def load_split(task_dir: str | Path, split: str) -> pd.DataFrame:
    return pd.read_parquet(Path(task_dir) / f"{split}.parquet")


def load_task(task_dir: str | Path) -> dict:
    return read_json(Path(task_dir) / "task.json")
