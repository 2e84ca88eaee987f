"""The results tables: their columns, the row selectors every consumer shares, and the one
Markdown writer.

Tables. Every probe run writes tidy rows (`RUN_COLUMNS`: one per run × target × metric) to its
`metrics.json`; `collect_metrics` gathers them per task (`write_task_table`) and
`write_combined_table` joins the tasks in `probe_metrics.csv`. `glmeval.stats` summarises the
replicates of each configuration (`CONFIGURATION`) into `probe_summary.csv`
(`SUMMARY_COLUMNS`) and compares it with its task's baseline in `probe_comparisons.csv`
(`COMPARE_COLUMNS`); `predictions_loader` reads the predictions of the run a row names
(`RUN_KEYS` + seed).

Selectors. The leaderboard (`glmeval.leaderboard`), the figures (`glmeval.figures.panels`) and
the paper's numbers (`glmeval.paper_values`) pick rows of the summary by the same rules: a
task's headline target (`_mean` where it has one; `headline_targets`, `headline_target`), its
full data (its largest train_fraction; `full_data`), a model's last probed layer
(`last_layer`) and the best row of a group (highest mean; `best_rows`).

Markdown. `pipe_table` writes every pipe table the workflow makes from cells its caller has
formatted; `markdown_table` formats a whole frame for it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from glmeval.io import read_json, write_csv
from glmeval.plan import ProbeJob
from glmeval.vocabulary import MEAN_TARGET

# --------------------------------------------------------------------------- columns

#: The tidy per-run rows (`metrics.json`, `probe_metrics.csv`): one per run × target × metric.
RUN_COLUMNS = [
    "task",
    "target",
    "model",
    "layer",
    "representation",
    "probe",
    "width",
    "seed",
    "train_fraction",
    "metric",
    "value",
    "n_train",
    "n_test",
]
#: A configuration: what its replicate runs (seeds) share; one summary row each.
CONFIGURATION = [c for c in RUN_COLUMNS if c not in ("seed", "value", "n_train", "n_test")]
#: What names one run (with its seed): a configuration but its target and metric.
RUN_KEYS = [c for c in CONFIGURATION if c not in ("target", "metric")]
#: What tells a task's configurations apart at one target, train_fraction and metric (what a
#: task's baseline names).
SETUP_KEYS = ["model", "probe", "representation", "layer", "width"]
#: `probe_summary.csv` (`glmeval.stats.summarize`).
SUMMARY_COLUMNS = CONFIGURATION + [
    "n_replicates",
    "mean",
    "std",
    "median",
    "ci_low",
    "ci_high",
    "ci_method",
]
#: `probe_comparisons.csv` (`glmeval.stats.compare`).
COMPARE_COLUMNS = CONFIGURATION + [
    "baseline_model",
    "baseline_probe",
    "n_replicates",
    "baseline_n_replicates",
    "mean",
    "baseline_mean",
    "mannwhitney_p",
    "mannwhitney_p_greater",
    "paired_seeds",
    "paired_diff",
    "paired_ci_low",
    "paired_ci_high",
    "paired_p",
    "test",
    "alternative",
    "p_value",
]
#: How `best_rows` breaks ties of the mean (the leaderboard's): the first in this order.
TIE_BREAK = ["probe", "representation", "layer", "width"]


# --------------------------------------------------------------------------- selectors


def headline_target(task: str, targets: Iterable[str]) -> str:
    """The headline target of `task` among `targets`: `_mean` where present, else its single
    target; a ValueError where it has several but no `_mean` (strict: for a ranking)."""
    targets = set(targets)
    if MEAN_TARGET in targets:
        return MEAN_TARGET
    if len(targets) == 1:
        return next(iter(targets))
    raise ValueError(f"task {task}: several targets {sorted(targets)} but no '{MEAN_TARGET}' row")


def headline_targets(table: pd.DataFrame, by: str | list[str] | None = "task") -> pd.DataFrame:
    """The headline rows of each `by` group (of the whole table for None): its `_mean` rows
    where it has any, else all its rows (lenient: several targets without `_mean` stay)."""
    is_mean = table["target"] == MEAN_TARGET
    if by is None:
        return table[is_mean] if is_mean.any() else table
    has_mean = table.groupby(by)["target"].transform(lambda t: (t == MEAN_TARGET).any())
    return table[~has_mean | is_mean]


def largest(table: pd.DataFrame, column: str, by: str | list[str] | None = None) -> pd.DataFrame:
    """The rows holding the largest `column` of their `by` group (of the whole table for None)."""
    if by is None:
        return table[table[column] == table[column].max()]
    return table[table[column] == table.groupby(by)[column].transform("max")]


def full_data(table: pd.DataFrame) -> pd.DataFrame:
    """Each task's rows at its full data: its largest train_fraction."""
    return largest(table, "train_fraction", "task")


def last_layer(table: pd.DataFrame) -> pd.DataFrame:
    """Each task × model's rows at its last probed layer."""
    return largest(table, "layer", ["task", "model"])


def best_rows(
    rows: pd.DataFrame, by: str | list[str], tie_break: Sequence[str] | None = None
) -> pd.DataFrame:
    """The row with the highest mean in each `by` group.

    Without `tie_break`: groups in sorted order, a tie to the first of its rows in `rows`' order
    (NaN means are passed over). With `tie_break` (e.g. `TIE_BREAK`): finite means only, a tie to
    the first in `tie_break` order (ascending, then `rows`' order), highest mean first."""
    if tie_break is None:
        return rows.loc[rows.groupby(by)["mean"].idxmax()]
    rows = rows[np.isfinite(rows["mean"])]
    order = ["mean", *tie_break]
    rows = rows.sort_values(order, ascending=[False] + [True] * len(tie_break), kind="stable")
    return rows.drop_duplicates(by)


# --------------------------------------------------------------------------- Markdown


def pipe_table(header: Sequence, rows: Iterable[Sequence], right: Collection = ()) -> str:
    """A Markdown pipe table: the `header` row, the separator (`|---|---:|`: `---:` for the
    columns named in `right`, right-aligned) and `rows`, each cell as given (its caller formats
    and escapes it); newline-terminated."""
    lines = [
        "| " + " | ".join(map(str, header)) + " |",
        "|" + "".join("---:|" if c in right else "---|" for c in header),
    ]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """`frame` as a Markdown pipe table: floats to `digits` decimals, missing values as –."""

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "–"
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    return pipe_table(
        frame.columns, ([cell(v) for v in row] for row in frame.itertuples(index=False))
    )


# --------------------------------------------------------------------------- run tables


def collect_metrics(metric_files: Iterable[str | Path]) -> pd.DataFrame:
    """The tidy rows of every probe's `metrics.json`, in a stable order."""
    metric_files = list(metric_files)
    missing = [str(path) for path in metric_files if not Path(path).exists()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} probe runs have no metrics, the first {missing[0]}, though their "
            "jobs' records say they finished (a file deleted by hand?). Force the job that "
            "trains it: snakemake --forcerun <its record>, the runs.json beside its frac*/ "
            "directories (a linear probe's: <representation>/<probe>.runs.json)."
        )
    rows = [row for path in metric_files for row in read_json(path)["rows"]]
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    return table.sort_values(RUN_COLUMNS[:9] + ["metric"], kind="stable").reset_index(drop=True)


def write_task_table(metric_files: Iterable[str | Path], out_path: str | Path) -> None:
    write_csv(collect_metrics(metric_files), out_path)


def write_combined_table(task_tables: Iterable[str | Path], out_path: str | Path) -> None:
    write_csv(pd.concat([pd.read_csv(path) for path in task_tables], ignore_index=True), out_path)


def predictions_loader(root: str | Path = "."):
    """`load(key)`: the predictions of the run that a stats key (run keys + seed) names, read
    from its directory under `root`."""

    def load(key: dict) -> pd.DataFrame:
        job = ProbeJob(
            key["task"],
            key["model"],
            key["representation"],
            int(key["layer"]),
            key["probe"],
            float(key["train_fraction"]),
            int(key["seed"]),
        )
        return pd.read_parquet(Path(root) / job.predictions_path)

    return load
