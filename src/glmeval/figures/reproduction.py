"""The reproduction at a glance: every number the paper reported that this run matches
(`glmeval.paper_values.paper_comparison`), the paper's value against ours with our 95% CI, one
colour per paper panel, the points whose paper value falls outside our CI named."""

from __future__ import annotations

import sys
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from glmeval.figures.style import Labels
from glmeval.paper_values import agreement

#: At most this many points outside our CI are named in the plot (the largest |ours - paper|);
#: the CSV names every one.
MAX_NAMED = 12
#: Keys that tell apart two matched numbers of one panel, task, model and probe.
_DETAIL_KEYS = ["representation", "layer", "width", "target", "train_fraction", "statistic"]
_PALETTE = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _detail(key: str, value) -> str:
    if key == "layer":
        return f"L{value:g}"
    if key == "width":
        return f"width {value:g}"
    if key == "train_fraction":
        return f"{value:g} of train"
    return str(value)


def point_names(rows: pd.DataFrame, labels: Labels) -> list[str]:
    """A short name per row: panel · task · model · probe (or zero-shot score), then whichever
    of representation, layer, width, target, fraction and statistic tell apart rows that would
    otherwise share a name."""
    base = []
    for record in rows.to_dict("records"):
        probe = record.get("probe")
        if _known(probe):
            rep = record.get("representation")
            what = labels.probe(probe, rep) if _known(rep) else probe
        else:
            what = record.get("score") if _known(record.get("score")) else ""
        parts = [record["panel"], record["task"], labels.model(record["model"]), what]
        base.append(" · ".join(str(p) for p in parts if _known(p) and p != ""))
    names = list(base)
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(base):
        groups.setdefault(name, []).append(i)
    for indices in groups.values():
        if len(indices) < 2:
            continue
        group = rows.iloc[indices]
        varying = [
            k for k in _DETAIL_KEYS if k in group and group[k].astype(str).nunique(dropna=False) > 1
        ]
        for i in indices:
            record = rows.iloc[i]
            extra = [_detail(k, record[k]) for k in varying if _known(record[k])]
            names[i] = " · ".join([base[i], *extra])
    return names


def _empty(comparison: pd.DataFrame, spec: dict):
    """A figure that says plainly why there is nothing to plot."""
    counts = comparison["match"].fillna("missing").str.split(":").str[0].value_counts()
    why = ", ".join(f"{n} {match}" for match, n in counts.items()) or "the table is empty"
    message = (
        f"No number the paper reported has a value of this run to compare with "
        f"({len(comparison)} reported: {why}).\nA run at the paper's scale (config/config.yaml) "
        "fills this figure in; results/tables/paper_comparison.md lists every number."
    )
    print(f"reproduction: nothing to plot. {message}", file=sys.stderr)
    fig, ax = plt.subplots(figsize=(6.5, 2.2))
    ax.axis("off")
    ax.text(0.5, 0.5, textwrap.fill(message, 80), ha="center", va="center", fontsize=9, wrap=True)
    ax.set_title(spec.get("title", "The paper's numbers against ours"))
    return fig


def reproduction(comparison: pd.DataFrame, spec: dict, labels: Labels):
    """x: the paper's value, y: ours with our 95% CI as a vertical bar (none for a cross-task
    average: an open marker), the identity line, a colour per panel; the points outside our CI
    named (the MAX_NAMED farthest numbered in the plot and keyed below it: the CSV's `key`; every
    one in the CSV's `name` where `outside_ci`).
    Returns the figure and the plotted rows."""
    rows = comparison.dropna(subset=["ours", "paper"]).reset_index(drop=True)
    if rows.empty:
        source = rows.assign(
            within_ci=pd.Series(dtype=object), outside_ci=False, name="", named=False, key=pd.NA
        )
        return _empty(comparison, spec), source
    low, high = rows["ours_ci_low"], rows["ours_ci_high"]
    has_ci = low.notna() & high.notna()
    within = rows["paper"].between(low, high)
    outside = has_ci & ~within
    rows = rows.assign(
        within_ci=within.where(has_ci, other=None).astype(object),
        outside_ci=outside,
        name=point_names(rows, labels),
    )
    gap = rows["difference"].abs()
    farthest = rows.assign(gap=gap)[outside].nlargest(MAX_NAMED, "gap")
    rows["named"] = rows.index.isin(farthest.index)
    rows["key"] = pd.Series(range(1, len(farthest) + 1), index=farthest.index, dtype="Int64")

    panels = list(dict.fromkeys(rows["panel"].fillna("")))
    fig, ax = plt.subplots(figsize=(7.5, 6.0))
    for k, panel in enumerate(panels):
        color = _PALETTE[k % len(_PALETTE)]
        sub = rows[rows["panel"].fillna("") == panel]
        ci = sub[has_ci[sub.index]]
        if len(ci):
            err = np.vstack([ci["ours"] - ci["ours_ci_low"], ci["ours_ci_high"] - ci["ours"]])
            ax.errorbar(
                ci["paper"],
                ci["ours"],
                yerr=err.clip(0),
                fmt="o",
                ms=4,
                color=color,
                ecolor=color,
                elinewidth=0.7,
                alpha=0.8,
                label=f"{panel or '(no panel)'} ({len(sub)})",
            )
        bare = sub[~has_ci[sub.index]]
        if len(bare):
            ax.scatter(
                bare["paper"],
                bare["ours"],
                s=22,
                facecolors="none",
                edgecolors=[color],
                label=None if len(ci) else f"{panel or '(no panel)'} ({len(sub)})",
            )
    values = pd.concat([rows["paper"], rows["ours"], low[has_ci], high[has_ci]]).to_numpy(float)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = 0.05 * (hi - lo or 1.0)
    lims = (lo - pad, hi + pad)
    ax.plot(lims, lims, color="0.5", lw=0.8, ls="--", zorder=0)
    ax.set_xlim(lims)
    ax.set_ylim(lims)
    ax.set_aspect("equal")
    # the named points are numbered in the plot and keyed below it (names would overlap)
    key = []
    for number, record in enumerate(rows.loc[farthest.index].to_dict("records"), start=1):
        ax.annotate(
            str(number),
            (record["paper"], record["ours"]),
            xytext=(3, 2),
            textcoords="offset points",
            fontsize=6,
            fontweight="bold",
        )
        key.append(
            f"{number}  {record['name']}: paper {record['paper']:.3f}, ours {record['ours']:.3f} "
            f"[{record['ours_ci_low']:.3f}, {record['ours_ci_high']:.3f}]"
        )
    more = int(outside.sum()) - len(key)
    if more > 0:
        key.append(f"… and {more} more outside our CI (named in the CSV: outside_ci, name)")
    if key:
        ax.text(
            0,
            -0.15,
            "The paper's value outside our 95% CI (farthest first):\n" + "\n".join(key),
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=6,
        )
    ax.set_xlabel("the paper's value")
    ax.set_ylabel("ours (95% CI)")
    title = spec.get("title", "The paper's numbers against ours")
    ax.set_title(f"{title}\n{textwrap.fill(agreement(comparison), 90)}", fontsize=8)
    ax.legend(title="panel (numbers)", fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    return fig, rows
