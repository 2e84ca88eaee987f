"""The numbers Tang & Koo (2025) and its repository reported, beside ours.

`resources/paper/reported.csv` holds one row per reported number, keyed by this project's
configuration names (`config/config.yaml`): `panel` (fig2a, fig2b, supp_layers, supp_widths,
fig3, fig5, fig4a, fig4b, table1, ...), `task`, `model`, `probe`, `representation`, `layer`,
`width`, `target`, `train_fraction`, `metric`, `value` and `source` (the paper's file or figure
it was read from). Two optional columns refine the match: `statistic` (`mean`, the
default, or `median`: the paper's INSERT-seq boxplot medians) and `score` (a zero-shot score of
Table 1: `cosine_distance`, `abs_llr`, `dot`, `l1`, `l2`, as `glmeval.vep` names them).

An empty key means "any": our row at the task's largest train fraction, the model's last probed
layer and the headline target (`_mean` where the task has one). A `task` with glob characters
(`chip_*`) is a cross-task average, as the paper's "average AUROC" over its 10 TFs: ours is the
mean over every matching task of our summary, and missing when any of them lacks the row.

Table 1 rows (task = the variants dataset, `cagi5`) name their target as `glmeval.vep` does: a
cell type (HepG2 = mean of LDLR, SORT1, F9; K562 = PKLR; `variants.<name>.cell_types`) or an
element; zero-shot rows leave probe, representation and layer empty and give the `score`, in
our orientation (a cosine correlation of the paper's notebooks is stored negated, as ours scores
1 - cosine); transfer rows give the lentiMPRA probe, representation and layer.

`paper_comparison` matches the probe summary table (`glmeval.tables.SUMMARY_COLUMNS`) and,
given `variants`, the long variant-effect table of `glmeval.vep.evaluate_variants` (Table 1).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd

from glmeval.tables import headline_targets, largest, pipe_table

REQUIRED_COLUMNS = [
    "panel",
    "task",
    "model",
    "probe",
    "representation",
    "layer",
    "width",
    "target",
    "train_fraction",
    "metric",
    "value",
    "source",
]
OPTIONAL_COLUMNS = {"statistic": "mean", "score": None}
STATISTICS = ("mean", "median")
TEXT_KEYS = ["task", "model", "probe", "representation", "target", "metric", "score"]
NUMBER_KEYS = ["layer", "width", "train_fraction"]
COMPARISON_COLUMNS = [
    "panel",
    "task",
    "target",
    "model",
    "probe",
    "representation",
    "layer",
    "width",
    "train_fraction",
    "metric",
    "statistic",
    "score",
    "paper",
    "ours",
    "ours_ci_low",
    "ours_ci_high",
    "difference",
    "match",
    "source",
]
_GLOB = set("*?[")


def read_reported(path) -> pd.DataFrame:
    """The reported-values table at `path`, its keys typed (text keys: str or NaN; layer,
    width, train_fraction, value: float) and the optional columns filled. Errors name the file
    and the missing column or the bad row."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{path}: empty file; a reported-values table needs the columns "
            f"{', '.join(REQUIRED_COLUMNS)}"
        ) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing)}; a reported-values table needs "
            f"{', '.join(REQUIRED_COLUMNS)}"
        )
    for column, default in OPTIONAL_COLUMNS.items():
        if column not in frame.columns:
            frame[column] = default if default is not None else ""
    frame = frame.mask(frame == "")
    frame["statistic"] = frame["statistic"].fillna("mean")
    for column in NUMBER_KEYS + ["value"]:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() & frame[column].notna()
        if column == "value":
            bad |= ~np.isfinite(numbers)
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise ValueError(
                f"{path}, line {row + 2}: column {column!r} is {frame[column].iloc[row]!r}, "
                "not a number" + (" (value must be given)" if column == "value" else "")
            )
        frame[column] = numbers.astype(np.float64)
    for column in ("task", "model", "metric"):
        if frame[column].isna().any():
            row = int(np.argmax(frame[column].isna().to_numpy()))
            raise ValueError(f"{path}, line {row + 2}: column {column!r} is empty")
    unknown = ~frame["statistic"].isin(STATISTICS)
    if unknown.any():
        row = int(np.argmax(unknown.to_numpy()))
        raise ValueError(
            f"{path}, line {row + 2}: statistic {frame['statistic'].iloc[row]!r} is not one of "
            f"{', '.join(STATISTICS)}"
        )
    return frame


def variant_summary(long: pd.DataFrame) -> pd.DataFrame:
    """The long variant-effect table (`glmeval.vep.evaluate_variants`) as summary rows: task =
    the variants dataset, target = the element or cell type; zero-shot rows keep their `score`
    (probe, representation and layer empty), transfer rows (model `model/probe`, score
    `representation L<layer>`) get their probe, representation and layer back."""
    rows = []
    for record in long.to_dict("records"):
        transfer = str(record["training"]).startswith("transfer")
        model, probe, representation, layer, score = record["model"], None, None, np.nan, None
        if transfer:
            model, probe = str(record["model"]).split("/", 1)
            representation, _, level = str(record["score"]).rpartition(" L")
            layer = float(level)
        else:
            score = record["score"]
        for metric in ("pearson", "spearman"):
            if metric not in record:
                continue
            rows.append(
                {
                    "task": record["dataset"],
                    "target": record["element"],
                    "model": model,
                    "layer": layer,
                    "representation": representation,
                    "probe": probe,
                    "width": np.nan,
                    "train_fraction": np.nan,
                    "metric": metric,
                    "n_replicates": 1,
                    "mean": record[metric],
                    "std": np.nan,
                    "median": record[metric],
                    "ci_low": record.get(f"{metric}_lo", np.nan),
                    "ci_high": record.get(f"{metric}_hi", np.nan),
                    "ci_method": "test_rows",
                    "score": score,
                }
            )
    return pd.DataFrame(rows)


def _typed(summary: pd.DataFrame) -> pd.DataFrame:
    out = summary.copy()
    for column in TEXT_KEYS:
        if column not in out.columns:
            out[column] = None
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    for column in NUMBER_KEYS:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(np.float64)
    for column in ("mean", "median", "ci_low", "ci_high"):
        if column not in out.columns:
            out[column] = np.nan
    return out


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _candidates(rows: pd.DataFrame, wanted: dict) -> pd.DataFrame:
    """Our rows matching a reported row's keys; for an empty key, the largest train fraction,
    the last layer and the headline target."""
    for column in TEXT_KEYS:
        if column in ("task", "model") or not _known(wanted[column]):
            continue
        rows = rows[rows[column] == wanted[column]]
    for column in NUMBER_KEYS:
        if _known(wanted[column]):
            rows = rows[np.isclose(rows[column].to_numpy(np.float64), wanted[column])]
    for column in ("train_fraction", "layer"):
        if not _known(wanted[column]) and rows[column].notna().any():
            rows = largest(rows, column)
    if not _known(wanted["target"]) and rows["target"].nunique() > 1:
        rows = headline_targets(rows, by=None)
    return rows


def paper_comparison(
    summary: pd.DataFrame, reported: pd.DataFrame, variants: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per reported number (none dropped): the paper's value, ours (the summary's
    `mean`, or `median` where the reported statistic is one) with its CI, and ours - paper.
    `ours` is NaN where our runs lack the configuration (`match` "missing") or where several of
    our rows fit it ("ambiguous: n rows"). A cross-task row (`task` a glob) averages the matching
    tasks' values and has no CI. `variants`: the long variant-effect table, for Table 1."""
    ours = _typed(summary)
    if variants is not None and len(variants):
        ours = _typed(pd.concat([ours, variant_summary(variants)], ignore_index=True))
    groups = {key: frame for key, frame in ours.groupby(["task", "model"], sort=False)}
    tasks = list(dict.fromkeys(ours["task"].dropna()))
    empty = ours.iloc[:0]
    reported = reported.copy()
    for column, default in OPTIONAL_COLUMNS.items():
        if column not in reported.columns:
            reported[column] = default
    out = []
    for record in reported.to_dict("records"):
        record["statistic"] = record["statistic"] if _known(record["statistic"]) else "mean"
        record = {
            k: (None if isinstance(v, float) and np.isnan(v) and k in TEXT_KEYS else v)
            for k, v in record.items()
        }
        pattern = str(record["task"])
        glob = bool(_GLOB & set(pattern))
        names = [t for t in tasks if fnmatchcase(t, pattern)] if glob else [pattern]
        found = [_candidates(groups.get((name, record["model"]), empty), record) for name in names]
        column = record["statistic"]
        ours_value = low = high = np.nan
        if glob:
            complete = sum(len(f) == 1 for f in found)
            if not names:
                match = "missing: no task matches"
            elif complete == len(names):
                ours_value = float(np.mean([f[column].iloc[0] for f in found]))
                match = f"mean of {len(names)} tasks"
            else:
                match = f"missing: {complete} of {len(names)} tasks"
        else:
            rows = found[0]
            if len(rows) == 1:
                ours_value = float(rows[column].iloc[0])
                low, high = float(rows["ci_low"].iloc[0]), float(rows["ci_high"].iloc[0])
                match = "matched"
            else:
                match = "missing" if rows.empty else f"ambiguous: {len(rows)} rows"
        paper = float(record["value"])
        out.append(
            {
                **{k: record.get(k) for k in COMPARISON_COLUMNS if k in record},
                "paper": paper,
                "ours": ours_value,
                "ours_ci_low": low,
                "ours_ci_high": high,
                "difference": ours_value - paper,
                "match": match,
            }
        )
    return pd.DataFrame(out, columns=COMPARISON_COLUMNS)


def agreement(comparison: pd.DataFrame) -> str:
    """The reproduction in one line: how many of the paper's numbers fall within our 95 % CI
    (of those we have a CI for), and the median |ours - paper| over every number we have."""
    compared = comparison.dropna(subset=["ours"])
    if compared.empty:
        return f"None of the paper's {len(comparison)} numbers has a run of ours to compare with."
    with_ci = compared.dropna(subset=["ours_ci_low", "ours_ci_high"])
    within = with_ci["paper"].between(with_ci["ours_ci_low"], with_ci["ours_ci_high"]).sum()
    median = compared["difference"].abs().median()
    return (
        f"{within} of the {len(with_ci)} paper numbers we have a 95 % CI for fall within it; "
        f"median |ours - paper| {median:.3f} over the {len(compared)} of {len(comparison)} "
        "numbers we have."
    )


def _cell(value, column: str, digits: int) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        if column in ("layer",) and float(value).is_integer():
            return str(int(value))
        if column in ("width", "train_fraction"):
            return f"{value:g}"
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(comparison: pd.DataFrame, columns=None, digits: int = 3) -> str:
    """A pipe table of `comparison` (its `columns`, default all but those empty in every row);
    numbers to `digits` decimals, missing values as empty cells, numeric columns right-aligned."""
    if columns is None:
        columns = [c for c in comparison.columns if comparison[c].notna().any()] or list(
            comparison.columns
        )
    numeric = {c for c in columns if pd.api.types.is_numeric_dtype(comparison[c])}
    rows = (
        [_cell(record[c], c, digits) for c in columns]
        for record in comparison[columns].to_dict("records")
    )
    return pipe_table(columns, rows, right=numeric)
