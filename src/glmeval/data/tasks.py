"""Canonical task datasets: `{split}.parquet` (id, sequence, targets...) plus `task.json`."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from glmeval.data.sequence import check_sequences
from glmeval.data.synthetic import GENERATORS
from glmeval.io import read_json, sha256_of, write_json, write_parquet

SPLITS = ("train", "valid", "test")
METRICS = {
    "regression": ["pearson", "spearman"],
    "binary": ["auroc", "aupr"],
    "multilabel": ["auroc", "aupr"],  # several binary targets (multitask eCLIP)
    "multitask_regression": ["spearman", "pearson"],  # several continuous targets (splicing)
}
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
    source = task["source"]
    if "synthetic" in source:
        targets = TARGETS[source["synthetic"]]
        splits, provenance = _synthetic_splits(source)
    else:
        targets = task["targets"]
        splits, provenance = _table_splits(source, targets)
    write_task(name, task["kind"], targets, splits, provenance, out_dir)


def write_task(
    name: str,
    kind: str,
    targets: list[str],
    splits: dict[str, pd.DataFrame],
    provenance: dict,
    out_dir: str | Path,
    sequence_columns: tuple[str, ...] = ("sequence",),
    invalid: str = "error",
) -> dict:
    """Validate a task's splits and write them with `task.json` (last, so a task is complete
    only when its task.json exists); return the task.json content.

    Each split is a DataFrame with a unique string `id`, the `sequence_columns` (upper-case
    ACGTN) and the `targets`. Rows with non-ACGTN sequences or missing targets are an error
    naming the row (`invalid: error`), or are dropped and counted in task.json and the log
    (`invalid: drop`). Duplicate ids and empty splits are always errors.
    """
    out_dir = Path(out_dir)
    dropped = {}
    for split in SPLITS:
        part = splits[split].reset_index(drop=True)
        where = f"task {name!r}, split {split!r}"
        bad = part[targets].isna().any(axis=1)
        for column in sequence_columns:
            bad |= part[column].str.contains(r"[^ACGTN]", regex=True) | part[column].eq("")
        if bad.any() and invalid == "error":
            row = part[bad].iloc[0]
            for column in sequence_columns:
                check_sequences(part[column], part["id"], where=where)
            raise ValueError(
                f"{where}, row id {row['id']!r}: missing target value(s) "
                f"{[t for t in targets if pd.isna(row[t])]}. Fix the data or set the task's "
                "invalid: drop to drop such rows."
            )
        if bad.any():
            dropped[split] = int(bad.sum())
            print(
                f"{where}: dropped {bad.sum()} rows with invalid sequence or targets",
                file=sys.stderr,
            )
            part = part[~bad].reset_index(drop=True)
        if part.empty:
            raise ValueError(f"{where}: the split is empty.")
        splits[split] = part
    ids = pd.concat([splits[s]["id"] for s in SPLITS])
    if ids.duplicated().any():
        raise ValueError(f"task {name!r}: duplicate ids, e.g. {ids[ids.duplicated()].iloc[0]!r}.")
    for split in SPLITS:
        write_parquet(splits[split], out_dir / f"{split}.parquet")
    lengths = pd.concat([splits[s][c].str.len() for s in SPLITS for c in sequence_columns])
    meta = {
        "name": name,
        "kind": kind,
        "targets": targets,
        "sequence_columns": list(sequence_columns),
        "metrics": METRICS[kind],
        "sequence_length": {"min": int(lengths.min()), "max": int(lengths.max())},
        "n": {split: len(splits[split]) for split in SPLITS},
        "dropped": dropped,
        "provenance": provenance,
    }
    write_json(meta, out_dir / "task.json")
    return meta


def load_split(task_dir: str | Path, split: str) -> pd.DataFrame:
    return pd.read_parquet(Path(task_dir) / f"{split}.parquet")


def load_task(task_dir: str | Path) -> dict:
    return read_json(Path(task_dir) / "task.json")
