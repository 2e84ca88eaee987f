"""Attribution figures. Fig. 6 from the attribution tables (`attribution`): how much the maps
agree, which motifs each recovers, and the GIA interaction of motif pairs by spacing. And the
attribution jobs' own figures: logos of every map side by side for the top sequences, matched
motifs boxed (`logos`, tangermeme `plot_logo`), and the motif-recovery heatmap (map × motif,
`recovery_heatmap`). Every summary is drawn with its chance level (docs/attribution.md, Chance
levels): a cell whose value lies within its null's 95 % interval is hatched and gives the null's
mean beside its value; GIA draws the shuffled-motif control's interval.

The tables of older runs, without chance levels, are drawn as before."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from glmeval.attribution.importance import per_base
from glmeval.data.sequence import one_hot_array
from glmeval.figures.style import save_figure

CHANCE_NOTE = "hatched: within the null's 95 % interval (chance)"


def within_null(values, low, high) -> np.ndarray:
    """Whether each value lies within its null's [low, high] (False where no null)."""
    values, low, high = (np.asarray(v, float) for v in (values, low, high))
    with np.errstate(invalid="ignore"):
        return np.isfinite(low) & (values >= low) & (values <= high)


def _hatch(ax, i: int, j: int) -> None:
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", ec="0.6", lw=0))


def _agreement(ax, agreement: pd.DataFrame) -> None:
    maps = list(dict.fromkeys([*agreement["map_a"], *agreement["map_b"]]))
    matrix = pd.DataFrame(np.eye(len(maps)), index=maps, columns=maps)
    null = matrix * np.nan
    chance = "pearson_null_low" in agreement
    for row in agreement.itertuples(index=False):
        a, b = row.map_a, row.map_b
        matrix.loc[a, b] = matrix.loc[b, a] = row.pearson
        if chance:
            null.loc[a, b] = null.loc[b, a] = row.pearson_null_mean
            if within_null(row.pearson, row.pearson_null_low, row.pearson_null_high):
                i, j = maps.index(a), maps.index(b)
                _hatch(ax, i, j)
                _hatch(ax, j, i)
    image = ax.imshow(matrix.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1)
    for (i, j), v in np.ndenumerate(matrix.to_numpy(float)):
        if np.isfinite(v):
            expected = null.iloc[i, j]
            text = f"{v:.2f}" + (f"\n({expected:.2f})" if np.isfinite(expected) else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=5 if chance else 6)
    ax.set_xticks(range(len(maps)), maps, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(maps)), maps, fontsize=7)
    ax.figure.colorbar(image, ax=ax, label="mean per-sequence Pearson r", shrink=0.8)
    title = "agreement of attribution maps"
    if chance:
        title += f"\n(null mean in brackets; {CHANCE_NOTE})"
    ax.set_title(title, fontsize=9 if chance else None)


def _recovery_cells(ax, recovery: pd.DataFrame, table: pd.DataFrame) -> None:
    """Hatch each cell of the map × motif `table` within its null's interval, and write the
    observed fraction over the null's mean."""
    if "null_low" not in recovery:
        return
    chance = recovery.set_index(["map", "motif"])
    for i, label in enumerate(table.index):
        for j, motif in enumerate(table.columns):
            value = table.iloc[i, j]
            if (label, motif) in chance.index:
                row = chance.loc[(label, motif)]
                low, high, mean = row["null_low"], row["null_high"], row["null_mean"]
            else:  # never matched, in the map or its null maps
                low = high = mean = 0.0
            if within_null(value, low, high):
                _hatch(ax, i, j)
            colour = "black" if value > 0.6 else "white"
            ax.text(
                j,
                i,
                f"{value:.2f}\n({mean:.2f})",
                ha="center",
                va="center",
                fontsize=5,
                color=colour,
            )


def _planted(ax, planted: pd.DataFrame) -> None:
    """Share of each map's |importance| on planted bases, with its null's mean and 95 %
    interval beside each bar."""
    y = np.arange(len(planted))
    ax.barh(y, planted["share"], color="C0", label="observed")
    if "null_low" in planted:
        ax.errorbar(
            planted["null_mean"],
            y,
            xerr=[
                planted["null_mean"] - planted["null_low"],
                planted["null_high"] - planted["null_mean"],
            ],
            fmt="|",
            color="k",
            capsize=3,
            label="null mean, 95 % interval",
        )
    ax.set_yticks(y, planted["map"], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of |importance| on planted bases")
    ax.set_title("importance on planted motifs")
    ax.legend(fontsize=7, loc="lower right")


def _planted_motifs(recovery: pd.DataFrame) -> pd.DataFrame:
    """The rows of motifs a map can recover: decoys (`decoy`) left out."""
    if "decoy" in recovery:
        return recovery[~recovery["decoy"].astype(bool)]
    return recovery


def _recovery(ax, recovery: pd.DataFrame, top: int = 12) -> None:
    recovery = _planted_motifs(recovery)
    table = recovery.pivot_table(index="map", columns="motif", values="fraction", fill_value=0.0)
    table = table[table.sum().sort_values(ascending=False).index[:top]]
    image = ax.imshow(table.to_numpy(float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    _recovery_cells(ax, recovery, table)
    ax.set_yticks(range(len(table)), table.index, fontsize=7)
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=60, ha="right", fontsize=7)
    ax.figure.colorbar(image, ax=ax, label="fraction of sequences", shrink=0.8)
    title = "motifs recovered"
    if "null_low" in recovery:
        title += f"\n(null mean in brackets; {CHANCE_NOTE})"
    ax.set_title(title, fontsize=9 if "null_low" in recovery else None)


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
        if "null_low" in rows:
            ax.fill_between(
                rows["spacing"], rows["null_low"], rows["null_high"], color="0.5", alpha=0.25
            )
            ax.plot(rows["spacing"], rows["null_mean"], color="0.5", lw=0.8, ls=":")
    if "null_low" in gia:
        ax.fill_between([], [], [], color="0.5", alpha=0.25, label="shuffled motifs (95 %)")
    ax.axhline(0, color="0.5", lw=0.8, ls="--")
    ax.set_xlabel("spacing (bases between motifs)")
    ax.set_ylabel("interaction Δ(AB) − Δ(A) − Δ(B)")
    ax.set_title("GIA: motif pairs")
    ax.legend(fontsize=7)


def attribution(tables: dict[str, pd.DataFrame], spec: dict):
    """`tables`: any of agreement, recovery, planted (motifs/*.csv) and gia (gia.csv)."""
    drawers = {"agreement": _agreement, "recovery": _recovery, "planted": _planted, "gia": _gia}
    present = [(name, table) for name, table in tables.items() if name in drawers and len(table)]
    if not present:
        raise ValueError(f"attribution of {spec['task']}: every table is empty")
    maps = len(set(tables.get("agreement", pd.DataFrame({"map_a": []}))["map_a"])) + 1
    sizes = {
        "agreement": max(4.6, 2.8 + 0.45 * maps),
        "recovery": 5.2,
        "planted": 4.6,
        "gia": 4.6,
    }
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
    (the `top` motifs recovered most often overall; decoys left out), maps as rows; a cell
    within its null's 95 % interval hatched, the null's mean in brackets."""
    recovery = _planted_motifs(recovery)
    table = recovery.pivot_table(index="map", columns="motif", values="fraction", fill_value=0.0)
    table = table.reindex(index=maps, fill_value=0.0)
    order = table.sum().sort_values(ascending=False).index[:top]
    table = table[order] if len(order) else table
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * max(len(order), 1), 0.9 + 0.35 * len(maps)))
    image = ax.imshow(table.to_numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    if len(order):
        _recovery_cells(ax, recovery, table)
    ax.set_yticks(range(len(maps)), maps, fontsize=8)
    ax.set_xticks(range(len(order)), list(order), rotation=60, ha="right", fontsize=8)
    if not len(order):
        ax.text(0, 0, "no seqlet matched a motif", ha="center", va="center", color="white")
    fig.colorbar(image, ax=ax, label="fraction of sequences")
    title = "motifs recovered per attribution map"
    if "null_low" in recovery:
        title += f"\n(null mean in brackets; {CHANCE_NOTE})"
    ax.set_title(title, fontsize=9)
    save_figure(fig, (png, pdf), bbox_inches="tight")
