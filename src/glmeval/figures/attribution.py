"""Attribution figures. Fig. 6 from the attribution tables (`attribution`): how much the maps
agree, which motifs each recovers, and the GIA interaction of motif pairs by spacing. And the
attribution jobs' own figures: logos of every map side by side for the top sequences, matched
motifs boxed (`logos`, tangermeme `plot_logo`), and the motif-recovery heatmap (map × motif,
`recovery_heatmap`)."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from glmeval.attribution.importance import per_base
from glmeval.data.sequence import one_hot_array
from glmeval.figures.style import save_figure


def _agreement(ax, agreement: pd.DataFrame) -> None:
    maps = list(dict.fromkeys([*agreement["map_a"], *agreement["map_b"]]))
    matrix = pd.DataFrame(np.eye(len(maps)), index=maps, columns=maps)
    for a, b, r in zip(agreement["map_a"], agreement["map_b"], agreement["pearson"]):
        matrix.loc[a, b] = matrix.loc[b, a] = r
    image = ax.imshow(matrix.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1)
    for (i, j), v in np.ndenumerate(matrix.to_numpy(float)):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(maps)), maps, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(maps)), maps, fontsize=7)
    ax.figure.colorbar(image, ax=ax, label="mean per-sequence Pearson r", shrink=0.8)
    ax.set_title("agreement of attribution maps")


def _recovery(ax, recovery: pd.DataFrame, top: int = 12) -> None:
    table = recovery.pivot_table(index="map", columns="motif", values="fraction", fill_value=0.0)
    table = table[table.sum().sort_values(ascending=False).index[:top]]
    image = ax.imshow(table.to_numpy(float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(table)), table.index, fontsize=7)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=60, ha="right", fontsize=7)
    ax.figure.colorbar(image, ax=ax, label="fraction of sequences", shrink=0.8)
    ax.set_title("motifs recovered")


def _gia(ax, gia: pd.DataFrame) -> None:
    for (a, b), rows in gia.groupby(["motif_a", "motif_b"], sort=False):
        rows = rows.sort_values("spacing")
        sem = rows["interaction_sd"] / np.sqrt(rows["n_backgrounds"])
        ax.errorbar(
            rows["spacing"],
            rows["interaction"],
            yerr=sem,
            marker="o",
            capsize=2,
            label=f"{a} → {b}",
        )
    ax.axhline(0, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("spacing (bases between motifs)")
    ax.set_ylabel("interaction Δ(AB) − Δ(A) − Δ(B)")
    ax.set_title("GIA: motif pairs")
    ax.legend(fontsize=7)


def attribution(tables: dict[str, pd.DataFrame], spec: dict):
    """`tables`: any of agreement, recovery (motifs/*.csv) and gia (gia.csv)."""
    drawers = {"agreement": _agreement, "recovery": _recovery, "gia": _gia}
    present = [(name, table) for name, table in tables.items() if name in drawers and len(table)]
    if not present:
        raise ValueError(f"attribution of {spec['task']}: every table is empty")
    maps = len(set(tables.get("agreement", pd.DataFrame({"map_a": []}))["map_a"])) + 1
    sizes = {"agreement": max(4.6, 2.8 + 0.45 * maps), "recovery": 5.2, "gia": 4.6}
    widths = [sizes[name] for name, _ in present]
    fig, axes = plt.subplots(
        1,
        len(present),
        figsize=(sum(widths), max(4.2, 2.6 + 0.4 * maps)),
        squeeze=False,
        gridspec_kw={"width_ratios": widths},
    )
    for ax, (name, table) in zip(axes.flat, present):
        drawers[name](ax, table)
    fig.suptitle(spec.get("title", f"{spec['task']}: attribution"))
    fig.tight_layout()
    source = pd.concat([t.assign(panel=n) for n, t in present], ignore_index=True)
    return fig, source


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
    x = one_hot_array(sequences[:n])
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
