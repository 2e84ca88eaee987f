"""Canonical task datasets: `{split}.parquet` (id, sequence, targets...) plus `task.json`.

`prepare_task` reads a configured source (a table, FASTA, a synthetic generator here; the
paper's archives and splicing through their readers), and `glmeval.data.taskfile` validates and
writes the files; `load_split` and `load_task` read them back."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from glmeval.data.synthetic import GENERATORS
from glmeval.data.taskfile import write_task
from glmeval.io import read_json, sha256_of
from glmeval.vocabulary import SPLITS

TARGETS = {"motif_regression": ["activity"], "motif_grammar": ["label"]}


def _synthetic_splits(source: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    sizes = [source["n_train"], source["n_valid"], source["n_test"]]
    length, seed = source.get("length", 230), source.get("seed", 0)
    df = GENERATORS[source["synthetic"]](sum(sizes), length=length, seed=seed)
    bounds = [0, sizes[0], sizes[0] + sizes[1], sum(sizes)]
    splits = {s: df.iloc[a:b].reset_index(drop=True) for s, a, b in zip(SPLITS, bounds, bounds[1:])}
    provenance = {"synthetic": source["synthetic"], "length": length, "seed": seed}
    return splits, provenance


def read_table(path: str | Path) -> pd.DataFrame:
    """A Parquet, TSV (.tsv, .txt) or CSV table."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".txt") else ",")


def _read_fasta(path: str | Path) -> pd.DataFrame:
    from pyfaidx import Fasta

    try:
        records = Fasta(str(path), as_raw=True)  # upper-cased (and counted) by _table_splits
    except ValueError as err:
        if "Duplicate key" not in str(err):
            raise
        raise ValueError(
            f"{path}: two records are named {str(err).split('Duplicate key ')[-1]}; record names "
            "are the row ids and must be unique. Rename or remove one of them."
        ) from None
    names = list(records.keys())
    return pd.DataFrame({"id": names, "sequence": [records[name][:] for name in names]})


def _table_splits(source: dict, targets: list[str]) -> tuple[dict[str, pd.DataFrame], dict]:
    """Your own data: one table with a split column (or a seeded random split), one table per
    split, or FASTA sequences joined to a label table by id."""
    id_col = source.get("id_column", "id")
    seq_col = source.get("sequence_column", "sequence")
    split_col = source.get("split_column", "split")
    names = {**{s: s for s in SPLITS}, **source.get("split_names", {})}
    if "files" in source:
        parts = []
        for split in (s for s in SPLITS if s in source["files"]):
            part = read_table(source["files"][split]).assign(**{split_col: names[split]})
            if id_col not in part.columns:
                part[id_col] = [f"{split}-{i}" for i in range(len(part))]
            parts.append(part)
        df, where, inputs = (
            pd.concat(parts, ignore_index=True),
            source["files"]["train"],
            list(source["files"].values()),
        )
    elif "fasta" in source:
        labels = read_table(source["labels"])
        if id_col not in labels.columns:
            raise ValueError(
                f"{source['labels']}: no id column {id_col!r}; it has {list(labels.columns)}."
            )
        sequences = _read_fasta(source["fasta"]).rename(columns={"id": id_col, "sequence": seq_col})
        labels[id_col] = labels[id_col].astype(str)
        unmatched = sorted(set(labels[id_col]) - set(sequences[id_col]))
        if unmatched:
            raise ValueError(
                f"{source['labels']}: {len(unmatched)} ids have no sequence in {source['fasta']}, "
                f"e.g. {unmatched[:3]}."
            )
        df, where, inputs = (
            labels.merge(sequences, on=id_col),
            source["labels"],
            [source["fasta"], source["labels"]],
        )
    else:
        df, where, inputs = read_table(source["table"]), source["table"], [source["table"]]
        if id_col not in df.columns:
            df[id_col] = [f"row-{i}" for i in range(len(df))]
    if "random_split" in source:
        _draw_splits(df, source, split_col, names, where)
    missing = [c for c in [id_col, seq_col, split_col, *targets] if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; it has {list(df.columns)}.")
    df = df.rename(columns={id_col: "id", seq_col: "sequence"})
    df["id"] = df["id"].astype(str)
    # a missing sequence is empty (astype(str) would make NaN the valid sequence "NAN")
    sequences = df["sequence"].fillna("").astype(str)
    lower = int(sequences.str.contains("[a-z]", regex=True).sum())
    if lower:
        print(
            f"{where}: {lower} sequence(s) have lower-case (soft-masked) bases; read as upper "
            "case (counted in task.json provenance as uppercased_rows)",
            file=sys.stderr,
        )
    df["sequence"] = sequences.str.upper()
    unknown = sorted(set(df[split_col].astype(str)) - set(names.values()))
    if unknown:
        raise ValueError(
            f"{where}: split values {unknown} are none of {sorted(names.values())}; map them "
            "with split_names (e.g. valid: dev)."
        )
    splits = {
        s: df[df[split_col].astype(str) == names[s]].drop(columns=split_col).reset_index(drop=True)
        for s in SPLITS
    }
    provenance = {"inputs": {str(p): sha256_of(p) for p in inputs}}
    return splits, provenance | ({"uppercased_rows": lower} if lower else {})


def _draw_splits(df: pd.DataFrame, source: dict, split_col: str, names: dict, where) -> None:
    """`random_split` in place: the splits it names are drawn at random (seeded) from the train
    rows — the train file's (`files`), the split column's train rows, or every row of a table
    or FASTA without one when it names both valid and test; the others keep their own file or
    split value."""
    options = dict(source["random_split"])
    drawn = [s for s in ("valid", "test") if s in options]
    if "files" not in source and len(drawn) == 2:
        pool = np.ones(len(df), dtype=bool)
    elif split_col not in df.columns:
        raise ValueError(
            f"{where}: random_split draws only {drawn}; the other splits come from the split "
            f"column {split_col!r}, which it lacks (columns: {list(df.columns)}). Add the "
            "column, or give random_split both valid and test."
        )
    else:
        pool = (df[split_col].astype(str) == names["train"]).to_numpy()
    labels = _random_split(
        int(pool.sum()), options.get("valid", 0), options.get("test", 0), options.get("seed", 0)
    )
    if split_col not in df.columns:
        df[split_col] = None
    df.loc[pool, split_col] = [names[label] for label in labels]


def given_splits(source: dict) -> list[str]:
    """The default `leakage.fixed`, the splits `resplit` never changes: a test split given as
    its own file (the user's evaluation set), unless `random_split` draws it. Train and valid
    files may exchange rows, which is what asking for `resplit` means."""
    drawn = set(source.get("random_split", {})) - {"seed"}
    return ["test"] if "test" in source.get("files", {}) and "test" not in drawn else []


def _random_split(n: int, valid: float, test: float, seed: int = 0) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n)
    labels = np.empty(n, dtype=object)
    n_valid, n_test = round(n * valid), round(n * test)
    labels[order[:n_valid]] = "valid"
    labels[order[n_valid : n_valid + n_test]] = "test"
    labels[order[n_valid + n_test :]] = "train"
    return labels


def prepare_task(name: str, task: dict, out_dir: str | Path) -> dict:
    """Write `{out_dir}/{split}.parquet` and `{out_dir}/task.json` for configured task `name`
    (its file references already resolved to local paths); return the task.json content."""
    source = task["source"]
    settings = {"fixed": given_splits(source), **task.get("leakage", {})}
    checks = {"invalid": task.get("invalid", "error"), "leakage": settings}
    if "archive" in source:
        from glmeval.data.archive import ARCHIVE_TASKS

        return ARCHIVE_TASKS[source["archive"]](name, source, out_dir, **checks)
    if "splicing" in source:
        from glmeval.data.splicing import prepare_splicing

        return prepare_splicing(name, source, out_dir, **checks)
    if "synthetic" in source:
        targets = TARGETS[source["synthetic"]]
        splits, provenance = _synthetic_splits(source)
    else:
        targets = task["targets"]
        splits, provenance = _table_splits(source, targets)
    return write_task(
        name,
        task["kind"],
        targets,
        splits,
        provenance,
        out_dir,
        **checks,
        check_classes="synthetic" not in source,
    )


def load_split(task_dir: str | Path, split: str) -> pd.DataFrame:
    return pd.read_parquet(Path(task_dir) / f"{split}.parquet")


def load_task(task_dir: str | Path) -> dict:
    return read_json(Path(task_dir) / "task.json")
