"""One figure per task: representations × probes side by side, the one-hot baseline marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from glmeval.io import atomic_path  # noqa: E402

PRIMARY_METRICS = ("pearson", "auroc", "spearman", "aupr")


def _summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds (and targets) per model × layer × representation × probe."""
    keys = ["model", "layer", "representation", "probe"]
    summary = table.groupby(keys, as_index=False)["value"].agg(mean="mean", sd="std")
    return summary.fillna({"sd": 0.0})


def plot_task(
    table_path: str | Path,
    out_paths: Sequence[str | Path],
    baseline_models: Sequence[str] = (),
) -> None:
    """Plot task table `table_path` to every path in `out_paths` (format from the suffix)."""
    table = pd.read_csv(table_path)
    metric = next(m for m in PRIMARY_METRICS if m in set(table["metric"]))
    summary = _summary(table[table["metric"] == metric])
    last = summary.groupby("model")["layer"].transform("max") == summary["layer"]
    final = summary[last]
    sweep = summary[summary.groupby(["model", "representation", "probe"])["layer"].transform("nunique") > 1]

    n_panels = 2 if len(sweep) else 1
    fig, axes = plt.subplots(1, n_panels, figsize=(6.5 * n_panels, 4.2), squeeze=False)
    ax = axes[0, 0]
    combos = sorted({(p, r) for p, r in zip(final["probe"], final["representation"])})
    models = sorted(final["model"].unique())
    step = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        rows = final[final["model"] == model].set_index(["probe", "representation"])
        xs = [k + (i - (len(models) - 1) / 2) * step for k, c in enumerate(combos) if c in rows.index]
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

    if n_panels == 2:
        ax = axes[0, 1]
        for (model, rep, probe), rows in sweep.groupby(["model", "representation", "probe"]):
            ax.errorbar(rows["layer"], rows["mean"], yerr=rows["sd"], marker="o", capsize=2,
                        label=f"{model} {probe} ({rep})")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("layer (0 = embedding output)")
        ax.set_ylabel(f"test {metric}")
        ax.set_title("layer sweep")
        ax.legend(fontsize=7)
    fig.tight_layout()
    for path in out_paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=150)
    plt.close(fig)
