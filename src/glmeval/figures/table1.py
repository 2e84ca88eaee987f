"""The paper's Table 1 (CAGI5 variant effects) as a heatmap and as Markdown."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from glmeval.figures.style import Labels

ROW_KEYS = ["training", "dataset", "model", "window", "score"]


def _row_labels(table: pd.DataFrame, labels: Labels) -> list[str]:
    return [
        f"{labels.model(m.split('/')[0])}{'/' + m.split('/', 1)[1] if '/' in m else ''} "
        f"· {score} · {window} nt ({training})"
        for training, m, window, score in zip(
            table["training"], table["model"], table["window"], table["score"]
        )
    ]


def table1(table: pd.DataFrame, spec: dict, labels: Labels):
    """Rows: model × score (zero-shot or transfer); columns: cell types, then elements."""
    values = table.drop(columns=[*ROW_KEYS, "training_overlap"], errors="ignore")
    fig, ax = plt.subplots(figsize=(2.5 + 0.42 * values.shape[1], 1.0 + 0.3 * len(values)))
    image = ax.imshow(values.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(values.to_numpy(float)):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(values.shape[1]), values.columns, rotation=60, ha="right")
    ax.set_yticks(range(len(values)), _row_labels(table, labels), fontsize=7)
    fig.colorbar(image, ax=ax, label="Pearson r", shrink=0.8)
    ax.set_title(spec.get("title", f"{spec['variants']}: Table 1"))
    fig.tight_layout()
    return fig, table
