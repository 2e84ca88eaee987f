"""Fig. 6 from the attribution tables: how much the maps agree, which motifs each recovers,
and the GIA interaction of motif pairs by spacing."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


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
