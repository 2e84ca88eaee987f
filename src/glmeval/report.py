"""Tidy result tables: per task, then all tasks in `probe_metrics.csv`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

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


def collect_metrics(metric_files: Iterable[str | Path]) -> pd.DataFrame:
    """The tidy rows of every probe's `metrics.json`, in a stable order."""
    rows = [row for path in metric_files for row in read_json(path)["rows"]]
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(COLUMNS[:9] + ["metric"], kind="stable").reset_index(drop=True)


def write_task_table(metric_files: Iterable[str | Path], out_path: str | Path) -> None:
    write_csv(collect_metrics(metric_files), out_path)


def write_combined_table(task_tables: Iterable[str | Path], out_path: str | Path) -> None:
    write_csv(pd.concat([pd.read_csv(path) for path in task_tables], ignore_index=True), out_path)
