"""A task's files: its validated splits (`{split}.parquet`) and `task.json`, written by
`write_task` for every reader (glmeval.data.tasks for tables and synthetic tasks, the archive,
splicing). Below the readers: it imports none of them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from glmeval.data.sequence import check_sequences
from glmeval.io import write_json, write_parquet
from glmeval.vocabulary import SPLITS

METRICS = {
    "regression": ["pearson", "spearman"],
    "binary": ["auroc", "aupr"],
    "multilabel": ["auroc", "aupr"],  # several binary targets (multitask eCLIP)
    "multitask_regression": ["spearman", "pearson"],  # several continuous targets (splicing)
}


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
