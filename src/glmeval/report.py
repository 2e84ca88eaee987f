"""Tidy result tables: per task, all tasks in `probe_metrics.csv`, and the replicate summary and
baseline comparisons (`glmeval.stats`) in `probe_summary.csv` / `probe_comparisons.csv`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from glmeval import stats
from glmeval.cards import mark_overlaps
from glmeval.config import ProbeJob
from glmeval.io import read_json, write_csv

COLUMNS = [
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


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """`frame` as a Markdown pipe table: floats to `digits` decimals, missing values as –."""

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "–"
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def collect_metrics(metric_files: Iterable[str | Path]) -> pd.DataFrame:
    """The tidy rows of every probe's `metrics.json`, in a stable order."""
    rows = [row for path in metric_files for row in read_json(path)["rows"]]
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(COLUMNS[:9] + ["metric"], kind="stable").reset_index(drop=True)


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


def write_probe_stats(
    metrics_path: str | Path,
    baselines: dict[str, dict],
    summary_path: str | Path,
    comparisons_path: str | Path,
    n_boot: int = 1000,
    root: str | Path = ".",
    overlaps: dict[str, dict[str, str]] | None = None,
) -> None:
    """Replicate summaries and comparisons with each task's baseline (`glmeval.config.baselines`),
    reading each run's predictions from its directory under `root`; each row marked with why its
    model is not zero-shot / frozen-only on the task (`glmeval.cards.task_overlaps`), if so."""
    table = pd.read_csv(metrics_path)
    load_predictions = predictions_loader(root)
    summary = stats.summarize(table, load_predictions, n_boot)
    comparisons = stats.compare(table, baselines, load_predictions, n_boot)
    write_csv(mark_overlaps(summary, overlaps or {}), summary_path)
    write_csv(mark_overlaps(comparisons, overlaps or {}), comparisons_path)
