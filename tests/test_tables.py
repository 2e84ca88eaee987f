"""The results tables' one Markdown writer and the row selectors their consumers share."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glmeval.tables import (
    TIE_BREAK,
    best_rows,
    full_data,
    headline_target,
    headline_targets,
    last_layer,
    markdown_table,
    pipe_table,
)
from glmeval.vocabulary import MEAN_TARGET


def test_pipe_table_writes_header_compact_separator_and_rows():
    text = pipe_table(
        ["name", "score", "note"], [["a", "0.500", "x"], ["b", "1.250", ""]], {"score"}
    )
    assert text == (
        "| name | score | note |\n|---|---:|---|\n| a | 0.500 | x |\n| b | 1.250 |  |\n"
    )
    assert pipe_table(["a"], []) == "| a |\n|---|\n"


def test_markdown_table_formats_a_frame():
    frame = pd.DataFrame({"model": ["m", "n"], "pearson": [0.12345, np.nan], "n": [3, 4]})
    assert markdown_table(frame) == (
        "| model | pearson | n |\n|---|---|---|\n| m | 0.123 | 3 |\n| n | – | 4 |\n"
    )


def _summary() -> pd.DataFrame:
    """Two tasks: `multi` with per-target and `_mean` rows at two fractions, `single` with one
    target; models probed at two layers, a tie on the mean in `single`."""
    rows = []
    for target in ("a", "b", MEAN_TARGET):
        for fraction in (0.5, 1.0):
            rows.append(
                ("multi", target, "m", 2, "mean", "ridge", 1.0, fraction, 0.4 + fraction / 10)
            )
    rows += [
        ("single", "y", "m", 1, "mean", "rep_mlp", 1.0, 0.2, 0.9),
        ("single", "y", "m", 3, "mean", "rep_mlp", 1.0, 0.8, 0.6),
        ("single", "y", "m", 3, "cls", "ridge", 1.0, 0.8, 0.7),
        ("single", "y", "m", 3, "mean", "ridge", 1.0, 0.8, 0.7),
        ("single", "y", "n", 5, "mean", "ridge", 1.0, 0.8, np.nan),
        ("single", "y", "n", 4, "mean", "ridge", 1.0, 0.8, 0.5),
    ]
    columns = ["task", "target", "model", "layer", "representation", "probe", "width"]
    return pd.DataFrame(rows, columns=columns + ["train_fraction", "mean"])


def test_headline_targets_keep_mean_where_a_task_has_one():
    summary = _summary()
    rows = headline_targets(summary)
    assert set(rows.loc[rows.task == "multi", "target"]) == {MEAN_TARGET}
    assert set(rows.loc[rows.task == "single", "target"]) == {"y"}
    several = summary[(summary.task == "multi") & (summary.target != MEAN_TARGET)]
    assert len(headline_targets(several)) == len(several)  # lenient: several targets stay
    assert headline_target("multi", summary.loc[summary.task == "multi", "target"]) == MEAN_TARGET
    assert headline_target("single", ["y", "y"]) == "y"
    with pytest.raises(ValueError, match="several targets"):
        headline_target("multi", ["a", "b"])


def test_full_data_keeps_each_tasks_largest_fraction():
    rows = full_data(_summary())
    assert rows.groupby("task")["train_fraction"].unique().map(list).to_dict() == {
        "multi": [1.0],
        "single": [0.8],
    }


def test_last_layer_is_per_task_and_model():
    rows = last_layer(full_data(_summary()))
    layers = rows.groupby(["task", "model"])["layer"].unique().map(list).to_dict()
    assert layers == {("multi", "m"): [2], ("single", "m"): [3], ("single", "n"): [5]}


def test_best_rows_highest_mean_with_the_tie_break():
    single = full_data(_summary()).query("task == 'single'")
    ranked = best_rows(single, "model", tie_break=TIE_BREAK)
    assert list(ranked["model"]) == ["m", "n"]  # highest mean first; NaN means passed over
    chosen = ranked.iloc[0]
    assert (chosen["probe"], chosen["representation"], chosen["mean"]) == ("ridge", "cls", 0.7)
    assert ranked.iloc[1]["layer"] == 4
    # without a tie break: the first of the tied rows, groups in sorted order
    first = best_rows(single, ["model"])
    assert list(first["model"]) == ["m", "n"]
    assert first.iloc[0]["representation"] == "cls" and first.iloc[1]["layer"] == 4
    swapped = best_rows(single.iloc[::-1], ["model"])
    assert swapped.iloc[0]["representation"] == "mean" and swapped.iloc[0]["mean"] == 0.7
    assert best_rows(single.iloc[::-1], "model", TIE_BREAK).iloc[0]["representation"] == "cls"


def test_a_run_deleted_by_hand_is_named_with_the_job_to_force(tmp_path):
    from glmeval.tables import collect_metrics

    gone = tmp_path / "L0" / "mlp" / "frac1" / "seed3" / "metrics.json"
    with pytest.raises(FileNotFoundError, match="snakemake --forcerun") as info:
        collect_metrics([gone])
    assert str(gone) in str(info.value) and "runs.json" in str(info.value)
