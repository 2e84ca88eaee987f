"""One figure per task: representations × probes side by side, the one-hot baseline marked; a
layer-sweep panel and a data-fraction panel where the task has them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from glmeval.io import atomic_path  # noqa: E402
from glmeval.stats import MEAN_TARGET  # noqa: E402

PRIMARY_METRICS = ("pearson", "auroc", "spearman", "aupr")


def _summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds (and targets) per model × layer × representation × probe."""
    keys = ["model", "layer", "representation", "probe"]
    summary = table.groupby(keys, as_index=False)["value"].agg(mean="mean", sd="std")
    return summary.fillna({"sd": 0.0})


def _summary_by_fraction(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds per train fraction at each model's last probed layer; empty when
    the task has a single fraction."""
    if table["train_fraction"].nunique() < 2:
        return table.iloc[:0]
    last = table[table.groupby("model")["layer"].transform("max") == table["layer"]]
    keys = ["model", "representation", "probe", "train_fraction"]
    return (
        last.groupby(keys, as_index=False)["value"].agg(mean="mean", sd="std").fillna({"sd": 0.0})
    )


def _curves(ax, summary: pd.DataFrame, x: str, xlabel: str, title: str, metric: str) -> None:
    """One mean ± sd curve over `x` per model × representation × probe."""
    for (model, rep, probe), rows in summary.groupby(["model", "representation", "probe"]):
        ax.errorbar(
            rows[x],
            rows["mean"],
            yerr=rows["sd"],
            marker="o",
            capsize=2,
            label=f"{model} {probe} ({rep})",
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"test {metric}")
    ax.set_title(title)
    ax.legend(fontsize=7)


def plot_task(
    table_path: str | Path,
    out_paths: Sequence[str | Path],
    baseline_models: Sequence[str] = (),
) -> None:
    """Plot task table `table_path` to every path in `out_paths` (format from the suffix)."""
    table = pd.read_csv(table_path)
    if (table["target"] == MEAN_TARGET).any():  # a multi-target task: the mean over targets
        table = table[table["target"] == MEAN_TARGET]
    metric = next(m for m in PRIMARY_METRICS if m in set(table["metric"]))
    table = table[table["metric"] == metric]
    full_data = table["train_fraction"] == table["train_fraction"].max()
    summary = _summary(table[full_data])
    last = summary.groupby("model")["layer"].transform("max") == summary["layer"]
    final = summary[last]
    sweep = summary[
        summary.groupby(["model", "representation", "probe"])["layer"].transform("nunique") > 1
    ]

    fractions = _summary_by_fraction(table)
    n_panels = 1 + bool(len(sweep)) + bool(len(fractions))
    fig, axes = plt.subplots(1, n_panels, figsize=(6.5 * n_panels, 4.2), squeeze=False)
    ax = axes[0, 0]
    combos = sorted({(p, r) for p, r in zip(final["probe"], final["representation"])})
    models = sorted(final["model"].unique())
    step = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        rows = final[final["model"] == model].set_index(["probe", "representation"])
        xs = [
            k + (i - (len(models) - 1) / 2) * step for k, c in enumerate(combos) if c in rows.index
        ]
        present = [c for c in combos if c in rows.index]
        ax.errorbar(
            xs,
            rows.loc[present, "mean"],
            yerr=rows.loc[present, "sd"],
            fmt="o",
            capsize=3,
            label=model,
        )
    baseline = final[final["model"].isin(baseline_models)]
    if len(baseline):
        best = baseline.loc[baseline["mean"].idxmax()]
        ax.axhline(best["mean"], color="0.3", ls="--", lw=1)
        ax.text(
            len(combos) - 0.5,
            best["mean"],
            f"one-hot baseline ({best['probe']}, {best['representation']})",
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.3",
        )
    ax.set_xticks(range(len(combos)), [f"{p}\n{r}" for p, r in combos])
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"{Path(table_path).stem}: last probed layer of each model")
    ax.legend(fontsize=8, title="model")

    if len(sweep):
        _curves(axes[0, 1], sweep, "layer", "layer (0 = embedding output)", "layer sweep", metric)
        axes[0, 1].xaxis.get_major_locator().set_params(integer=True)
    if len(fractions):
        title = "data fraction (last probed layer)"
        _curves(
            axes[0, -1], fractions, "train_fraction", "fraction of training data", title, metric
        )
    fig.tight_layout()
    save_figure(fig, out_paths)


def save_figure(fig, paths, **savefig) -> None:
    """Write `fig` to each path (its format from the suffix), atomically; then close it."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=150, **savefig)
    plt.close(fig)
