"""Canonical task datasets: `{split}.parquet` (id, sequence, targets...) plus `task.json`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
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


def write_task(
    name: str,
    kind: str,
    targets: list[str],
    splits: dict[str, pd.DataFrame],
    provenance: dict,
    out_dir: str | Path,
    sequence_columns: tuple[str, ...] = ("sequence",),
    invalid: str = "error",
    missing_targets: bool = False,
    extra: dict | None = None,
    check_classes: bool = False,
    leakage: dict | None = None,
) -> dict:
    """Validate a task's splits and write them with `task.json` (last, so a task is complete
    only when its task.json exists); return the task.json content.

    Each split is a DataFrame with a unique string `id`, the `sequence_columns` (upper-case
    ACGTN) and the `targets`. Rows with non-ACGTN sequences or missing targets are an error
    naming the row (`invalid: error`), or are dropped and counted in task.json and the log
    (`invalid: drop`). Duplicate ids and empty splits are always errors. With
    `missing_targets` (splicing: unobserved tissues), a row lacks targets only when all are
    missing, and task.json says `targets_may_be_missing`. `extra` is added to task.json.
    Targets that are not numbers, or infinite, are always errors naming the row. With
    `check_classes` (a user's table), the labels of a binary or multilabel task must be 0/1
    with both classes in every split. `leakage` (the task's `leakage` settings) configures the
    audit of copies across splits (glmeval.data.leakage), reported in task.json as `leakage`;
    with its `resplit` kinds, each group of such copies is moved to one split first.
    """
    out_dir = Path(out_dir)
    dropped = {}
    for split in SPLITS:
        part = splits[split].reset_index(drop=True)
        where = f"task {name!r}, split {split!r}"
        absent = part[targets].isna()
        bad = absent.all(axis=1) if missing_targets else absent.any(axis=1)
        for column in sequence_columns:
            empty = part[column].isna() | part[column].eq("")
            bad |= empty | part[column].str.contains(r"[^ACGTN]", regex=True, na=False)
        if bad.any() and invalid == "error":
            row, first = part[bad].iloc[:1], absent[bad].iloc[0]
            missing = [t for t in targets if first[t]]
            if first.all() if missing_targets else first.any():
                raise ValueError(
                    f"{where}, row id {row['id'].iloc[0]!r}: missing target value(s) {missing}. "
                    "Fix the data or set the task's invalid: drop to drop such rows."
                )
            for column in sequence_columns:
                value = row[column].iloc[0]
                if not isinstance(value, str) or not value:
                    raise ValueError(
                        f"{where}, row id {row['id'].iloc[0]!r}: an empty sequence (column "
                        f"{column!r}). Fill it in or remove the row, or set the task's invalid: "
                        "drop to drop such rows."
                    )
                check_sequences(row[column], row["id"], where=where)
        if bad.any():
            dropped[split] = int(bad.sum())
            print(
                f"{where}: dropped {bad.sum()} rows with invalid sequence or targets",
                file=sys.stderr,
            )
            part = part[~bad].reset_index(drop=True)
        part = _numeric_targets(part, targets, where)
        if part.empty:
            raise ValueError(f"{where}: the split is empty.")
        splits[split] = part
    audit = _leakage_audit(name, splits, sequence_columns, leakage or {})
    if check_classes and kind in ("binary", "multilabel"):
        _check_classes(name, kind, targets, splits)
    ids = pd.concat([splits[s]["id"] for s in SPLITS], keys=SPLITS).reset_index(level=0)
    repeated = ids["id"].duplicated(keep=False)
    if repeated.any():
        first = ids.loc[repeated, "id"].iloc[0]
        found = sorted(set(ids.loc[ids["id"] == first, "level_0"]), key=SPLITS.index)
        raise ValueError(
            f"task {name!r}: duplicate ids, e.g. {first!r} ({(ids['id'] == first).sum()} rows, "
            f"in split(s) {found}). Every row needs its own id across train, valid and test: "
            "make the id column unique, or leave it out so that rows are numbered."
        )
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
        "targets_may_be_missing": missing_targets,
        "dropped": dropped,
        "provenance": provenance,
        "leakage": audit,
        **(extra or {}),
    }
    write_json(meta, out_dir / "task.json")
    return meta


def _leakage_audit(name: str, splits: dict, sequence_columns, settings: dict) -> dict:
    """Audit the splits for copies across them, first moving each group of copies of the
    `resplit` kinds to one split (in place; rows of the `fixed` splits never move), every move
    logged; the `leakage` entry of task.json. Copies left across splits are a warning on
    stderr (the job's log), repeated in task.json as `warning`."""
    from glmeval.data import leakage

    options = {k: v for k, v in settings.items() if k in leakage.DEFAULTS}

    def audit(within: bool = False) -> pd.DataFrame:
        if len(sequence_columns) == 1:
            return leakage.find_leaks(splits, sequence_columns[0], within, **options)
        columns = list(sequence_columns)  # several sequences per row (splicing): one key
        keyed = {s: splits[s].assign(_key=splits[s][columns].agg("N".join, axis=1)) for s in SPLITS}
        return leakage.find_leaks(keyed, "_key", within, **options)

    found, report = audit(), {"settings": leakage.DEFAULTS | options}
    n_examples = report["settings"]["examples"]
    kinds = settings.get("resplit", [])
    if kinds:
        before = leakage.summarize(found, n_examples)["pairs"]
        new, moved = leakage.resplit(splits, audit(within=True), kinds, settings.get("fixed", []))
        rows = moved.pop("rows")
        _log_resplit(name, kinds, moved, rows)
        for split in SPLITS:
            if new[split].empty:
                raise ValueError(
                    f"task {name!r}: resplit ({list(kinds)}) left split {split!r} empty: every "
                    "row of it has a copy in a larger group elsewhere. Split the data again, or "
                    "resplit fewer kinds."
                )
        examples = [dict(zip(("id", "from", "to"), row)) for row in rows[:n_examples]]
        report["resplit"] = {"kinds": list(kinds), "before": before, **moved, "examples": examples}
        splits.update(new)
        found = audit()
    report |= leakage.summarize(found, n_examples)
    warning = leakage.leakage_warning(name, report)
    if warning:
        print(warning, file=sys.stderr)
        report["warning"] = warning
    return report


def _log_resplit(name: str, kinds, moved: dict, rows: list) -> None:
    """Every moved row, then the counts, on stderr (the prepare_task job's log)."""
    for row_id, a, b in rows:
        print(f"task {name!r}: resplit moved row {row_id!r} {a} -> {b}", file=sys.stderr)
    moves = ", ".join(f"{k} {n}" for k, n in moved["moves"].items() if n) or "none"
    sizes = ", ".join(
        f"{s} {moved['sizes_before'][s]} -> {moved['sizes_after'][s]}" for s in SPLITS
    )
    line = (
        f"task {name!r}: resplit {list(kinds)} moved {len(rows)} rows in "
        f"{moved['groups_moved']} of {moved['groups']} groups of copies ({moves}); sizes: {sizes}"
    )
    if moved["unresolved"]["groups"]:
        line += (
            f"; {moved['unresolved']['groups']} groups ({moved['unresolved']['rows']} rows) "
            f"left as they are: they have rows in a fixed split {moved['fixed']}"
        )
    print(line, file=sys.stderr)
    for s in SPLITS:
        if moved["sizes_after"][s] < 0.75 * moved["sizes_before"][s]:
            print(
                f"warning: task {name!r}: resplit shrank {s} from {moved['sizes_before'][s]} to "
                f"{moved['sizes_after'][s]} rows (most of its copy groups' rows were elsewhere)",
                file=sys.stderr,
            )


def _numeric_targets(part: pd.DataFrame, targets: list[str], where: str) -> pd.DataFrame:
    """`part` with its target columns as numbers; a value that is not a number, or is
    infinite, is an error naming the row (a missing value stays NaN)."""
    values = part[targets].apply(pd.to_numeric, errors="coerce")
    wrong = (values.isna() & part[targets].notna()) | np.isinf(values.to_numpy(dtype=float))
    if wrong.to_numpy().any():
        row, col = np.argwhere(wrong.to_numpy())[0]
        value = part[targets[col]].iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        raise ValueError(
            f"{where}, row id {part['id'].iloc[row]!r}: target {targets[col]!r} is "
            f"{value!r}, not a finite number. Fix or remove that row "
            "(an infinite value often comes from the log of 0 or a division by 0)."
        )
    return part.assign(**{target: values[target] for target in targets})


def _check_classes(name: str, kind: str, targets: list[str], splits: dict) -> None:
    """A binary or multilabel task's labels are 0/1, both classes in every split: a single
    class leaves AUROC and AUPR undefined and gives a probe nothing to learn."""
    for split in SPLITS:
        for target in targets:
            observed = sorted(splits[split][target].dropna().unique().tolist())
            where = f"task {name!r}, split {split!r}, target {target!r}"
            other = [v for v in observed if v not in (0, 1)]
            if other:
                raise ValueError(
                    f"{where}: labels {other[:3]} are not 0 or 1, as a {kind} task's labels "
                    "must be. Recode the column as 0/1, or make the task a regression."
                )
            if len(observed) < 2:
                raise ValueError(
                    f"{where}: a single class ({observed}); AUROC and AUPR are undefined and a "
                    "probe cannot learn from it. Rebalance the splits (e.g. random_split) or "
                    "leave the target out."
                )


def load_split(task_dir: str | Path, split: str) -> pd.DataFrame:
    return pd.read_parquet(Path(task_dir) / f"{split}.parquet")


def load_task(task_dir: str | Path) -> dict:
    return read_json(Path(task_dir) / "task.json")
