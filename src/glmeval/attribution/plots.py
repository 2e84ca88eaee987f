"""Attribution figures: logos of every map side by side for the top sequences, matched motifs
boxed (tangermeme `plot_logo`), and the motif-recovery heatmap (map × motif)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from glmeval.attribution.maps import one_hot, per_base
from glmeval.figures.style import save_figure


def logos(
    selection: pd.DataFrame,
    maps: Mapping[str, np.ndarray],
    seqlets: pd.DataFrame,
    n_sequences: int,
    png,
    pdf,
    width: int = 100,
) -> None:
    """One column per selected sequence (the first `n_sequences`), one row per map: each base's
    importance drawn as its letter, seqlets matched to a database motif boxed and named. Each
    column shows the `width` bases where the first map's importance is largest."""
    from tangermeme.plot import plot_logo

    sequences = selection["sequence"].tolist()
    n = min(n_sequences, len(selection))
    x = one_hot(sequences[:n]).numpy()
    labels = list(maps)
    width = min(width, x.shape[-1])
    first = np.abs(per_base(labels[0].rsplit("/", 1)[1], maps[labels[0]][:n], sequences[:n]))
    starts = [int(np.argmax(np.convolve(row, np.ones(width), mode="valid"))) for row in first]
    fig, axes = plt.subplots(
        len(labels), n, figsize=(0.07 * width * n, 1.3 * len(labels)), squeeze=False
    )
    for r, label in enumerate(labels):
        importance = per_base(label.rsplit("/", 1)[1], maps[label][:n], sequences[:n])
        for c, start in enumerate(starts):
            ax, end = axes[r, c], start + width
            hits = seqlets[(seqlets["map"] == label) & (seqlets["row"] == c)]
            hits = hits[(hits["motif"] != "") & (hits["start"] >= start) & (hits["end"] <= end)]
            annotations = pd.DataFrame(
                {
                    "motif_name": hits["motif"],
                    "start": hits["start"] - start,
                    "end": hits["end"] - start,
                    "strand": "+",
                    "score": hits["score"],
                }
            )
            logo = (x[c] * importance[c])[:, start:end]
            plot_logo(logo, ax=ax, annotations=annotations, show_score=False)
            ax.set_yticks([])
            ax.set_xticks(range(0, width + 1, 20), range(start, end + 1, 20), fontsize=7)
            if c == 0:
                ax.set_ylabel(
                    label.replace("/", "\n"), rotation=0, ha="right", va="center", fontsize=8
                )
            if r == 0:
                prediction = selection["prediction"].iloc[c]
                ax.set_title(f"{selection['id'].iloc[c]} (prediction {prediction:.2f})", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("position (bp)", fontsize=8)
    save_figure(fig, (png, pdf), bbox_inches="tight")


def recovery_heatmap(recovery: pd.DataFrame, maps: list[str], png, pdf, top: int = 20) -> None:
    """Fraction of the selected sequences in which each map has a seqlet matched to each motif
    (the `top` motifs recovered most often overall), maps as rows."""
    table = recovery.pivot_table(index="map", columns="motif", values="fraction", fill_value=0.0)
    table = table.reindex(index=maps, fill_value=0.0)
    order = table.sum().sort_values(ascending=False).index[:top]
    table = table[order] if len(order) else table
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * max(len(order), 1), 0.9 + 0.35 * len(maps)))
    image = ax.imshow(table.to_numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(maps)), maps, fontsize=8)
    ax.set_xticks(range(len(order)), list(order), rotation=60, ha="right", fontsize=8)
    if not len(order):
        ax.text(0, 0, "no seqlet matched a motif", ha="center", va="center", color="white")
    fig.colorbar(image, ax=ax, label="fraction of sequences")
    ax.set_title("motifs recovered per attribution map")
    save_figure(fig, (png, pdf), bbox_inches="tight")
