"""The paper's figure kinds, drawn from the results tables only (never from a model or an
embedding). Each function takes the tables and a figure's spec (`glmeval.figures.plan`) and
returns the matplotlib figure and the numbers it plots (written beside it as source data).

Conventions shared by every kind: the headline target of a task (`_mean` where it has several),
its headline metric, the full training data, and each model's last probed layer, unless the
kind is about layers, targets or fractions (the selectors of `glmeval.tables`).
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from glmeval.figures.style import GROUP_MARKERS, PROBE_TYPE_LABELS, Labels, metric_label
from glmeval.tables import (
    SETUP_KEYS,
    best_rows,
    full_data,
    headline_targets,
    largest,
    last_layer,
)
from glmeval.vocabulary import MEAN_TARGET, STRAND_VIEWS, strand_view

_TYPE_ORDER = list(PROBE_TYPE_LABELS)
_REP_ORDER = ["cls", "mean", "tokens"]


@dataclass(frozen=True)
class Results:
    summary: pd.DataFrame  # probe_summary.csv
    comparisons: pd.DataFrame  # probe_comparisons.csv
    metrics: pd.DataFrame  # probe_metrics.csv (one row per replicate)

    @classmethod
    def read(cls, summary, comparisons, metrics) -> Results:
        return cls(pd.read_csv(summary), pd.read_csv(comparisons), pd.read_csv(metrics))


def _select(table: pd.DataFrame, spec: dict, metric: str, tasks=None) -> pd.DataFrame:
    """Rows of the spec's tasks, models and probes at `metric`."""
    tasks = tasks or spec.get("tasks") or [spec["task"]]
    rows = table[table["task"].isin(tasks) & (table["metric"] == metric)]
    if spec.get("models"):
        rows = rows[rows["model"].isin(spec["models"])]
    if spec.get("probes"):
        rows = rows[rows["probe"].isin(spec["probes"])]
    if rows.empty:
        raise ValueError(f"no results for {tasks} at {metric} with {spec}")
    return rows


def _ci(rows: pd.DataFrame) -> np.ndarray:
    return np.vstack([rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]]).clip(0)


def _probe_order(labels: Labels, probe: str, representation: str) -> tuple:
    kind = labels.probe_types.get(probe, probe)
    rank = _TYPE_ORDER.index(kind) if kind in _TYPE_ORDER else len(_TYPE_ORDER)
    base, strand = strand_view(representation)  # both strands' mean, then each strand's
    order = _REP_ORDER.index(base) if base in _REP_ORDER else len(_REP_ORDER)
    return rank, order, (None, *STRAND_VIEWS).index(strand)


def _labels_in_probe_order(rows: pd.DataFrame, column: str, labels: Labels) -> list[str]:
    """The distinct values of `rows[column]` (labels of probes), in the paper's probe order."""
    order = {}
    for label, p, r in rows[[column, "probe", "representation"]].itertuples(index=False):
        order[label] = min(order.get(label, (99, 99)), _probe_order(labels, p, r))
    return sorted(order, key=order.get)


def _model_order(labels: Labels, models) -> list[str]:
    return sorted(models, key=lambda m: labels.order.index(m) if m in labels.order else 1e9)


def probes(results: Results, spec: dict, labels: Labels, metric: str):
    """Fig. 2a: one line per model across the probes (Ridge, MLP, CNN on CLS/mean/tokens)."""
    rows = last_layer(full_data(headline_targets(_select(results.summary, spec, metric))))
    # each probe at the width asked for (default 1) where it was run at it, else at its own
    wanted = rows["width"] == spec.get("width", 1.0)
    rows = rows[wanted | ~wanted.groupby([rows["model"], rows["probe"]]).transform("any")]
    rows = rows.assign(
        probe_label=[labels.probe(p, r) for p, r in zip(rows["probe"], rows["representation"])]
    )
    rows = best_rows(rows, ["model", "probe_label"])
    categories = _labels_in_probe_order(rows, "probe_label", labels)
    fig, ax = plt.subplots(figsize=(3.2 + 1.1 * len(categories), 3.8))
    for model in _model_order(labels, rows["model"].unique()):
        own = rows[rows["model"] == model].set_index("probe_label").reindex(categories)
        x = np.flatnonzero(own["mean"].notna())
        own = own.dropna(subset=["mean"])
        ax.errorbar(
            x,
            own["mean"],
            yerr=_ci(own),
            marker="o",
            capsize=2,
            color=labels.color(model),
            label=labels.model(model),
        )
    ax.set_xticks(range(len(categories)), categories)
    ax.set_ylabel(metric_label(metric))
    ax.set_title(spec.get("title", spec["task"]))
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig, rows


def models(results: Results, spec: dict, labels: Labels, metric: str):
    """Fig. 2b: a lollipop per representation (its best probe), one-hot models once per probe;
    grouped by kind (its marker), each model in its own colour as in every other figure."""
    rows = last_layer(full_data(headline_targets(_select(results.summary, spec, metric))))
    onehot = rows["model"].map(labels.group) == "one-hot"
    tuned = rows["probe"].isin(list(labels.tuned))  # fine-tuned: an entry per kind
    entries = pd.concat(
        [
            best_rows(rows[~onehot & ~tuned], ["model"]),
            best_rows(rows[onehot | tuned], ["model", "probe"]),
        ]
    )
    several = entries["model"].duplicated(keep=False)
    entries = entries.assign(
        group=[
            "fine-tuned" if p in labels.tuned else labels.group(m)
            for m, p in zip(entries["model"], entries["probe"])
        ],
        label=[
            f"{labels.model(m)} {labels.probe(p, r)}" if many else labels.model(m)
            for m, p, r, many in zip(
                entries["model"], entries["probe"], entries["representation"], several
            )
        ],
    )
    groups = list(GROUP_MARKERS)
    entries = entries.sort_values(
        ["group", "mean"], key=lambda c: c.map(groups.index) if c.name == "group" else c
    )
    fig, ax = plt.subplots(figsize=(5.0, 0.9 + 0.32 * len(entries)))
    y = np.arange(len(entries))
    colors = [labels.color(m) for m in entries["model"]]
    low = min(0.0, float(entries["ci_low"].min()))
    ax.hlines(y, low, entries["mean"], color=colors, lw=1.5)
    ax.errorbar(entries["mean"], y, xerr=_ci(entries), fmt="none", ecolor="0.2", capsize=2)
    for group in dict.fromkeys(entries["group"]):
        own = (entries["group"] == group).to_numpy()
        ax.scatter(
            entries["mean"][own],
            y[own],
            color=[c for c, o in zip(colors, own) if o],
            marker=GROUP_MARKERS[group],
            s=40,
            zorder=3,
        )
    ax.set_yticks(y, entries["label"])
    ax.set_xlabel(metric_label(metric))
    ax.set_title(spec.get("title", spec["task"]))
    present = [g for g in groups if g in set(entries["group"])]
    ax.legend(
        handles=[
            Line2D([], [], ls="", marker=GROUP_MARKERS[g], color="0.3", label=g) for g in present
        ],
        fontsize=7,
        bbox_to_anchor=(1.02, 1),
        loc="upper left",
    )
    fig.tight_layout()
    return fig, entries


def _figure_legend(fig, axes) -> None:
    """One legend for every panel, right of them (each label once)."""
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5))


def _panels(n: int, width: float, height: float):
    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.remove()
    return fig, list(axes.flat[:n])


def layers(results: Results, spec: dict, labels: Labels, metric: str):
    """The layer sweep: one panel per model probed at several layers, a line per probe (each
    probe one colour in every panel)."""
    rows = full_data(headline_targets(_select(results.summary, spec, metric)))
    keys = ["model", "probe", "representation", "width"]
    rows = rows[rows.groupby(keys)["layer"].transform("nunique") > 1]
    rows = rows.assign(
        curve=[
            labels.probe(p, r) + (f" ×{w:g}" if w != 1.0 else "")
            for p, r, w in zip(rows["probe"], rows["representation"], rows["width"])
        ]
    )
    curves = _labels_in_probe_order(rows, "curve", labels)
    colors = dict(zip(curves, plt.get_cmap("tab10").colors * 3))
    swept = _model_order(labels, rows["model"].unique())
    fig, axes = _panels(len(swept), 4.2, 3.2)
    for ax, model in zip(axes, swept):
        for curve_label, curve in rows[rows["model"] == model].groupby("curve"):
            curve = best_rows(curve, ["layer"]).sort_values("layer")
            color = colors[curve_label]
            ax.plot(curve["layer"], curve["mean"], marker=".", color=color, label=curve_label)
            ax.fill_between(
                curve["layer"], curve["ci_low"], curve["ci_high"], color=color, alpha=0.2, lw=0
            )
        ax.set_title(labels.model(model))
        ax.set_xlabel("layer (0 = embedding output)")
        ax.set_ylabel(metric_label(metric))
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(spec.get("title", f"{spec['task']}: layer sweep"))
    fig.tight_layout()
    _figure_legend(fig, axes)
    return fig, rows


def widths(results: Results, spec: dict, labels: Labels, metric: str):
    """Probe width: the metric at width factors 0.5/1/2, a panel per probe, a line per model."""
    rows = last_layer(full_data(headline_targets(_select(results.summary, spec, metric))))
    rows = rows.assign(
        probe_label=[labels.probe(p, r) for p, r in zip(rows["probe"], rows["representation"])]
    )
    rows = best_rows(rows, ["model", "probe_label", "width"])
    rows = rows[rows.groupby(["model", "probe_label"])["width"].transform("nunique") > 1]
    probes = _labels_in_probe_order(rows, "probe_label", labels)
    fig, axes = _panels(len(probes), 3.6, 3.2)
    ticks = sorted(rows["width"].unique())
    for ax, probe in zip(axes, probes):
        own = rows[rows["probe_label"] == probe]
        for model in _model_order(labels, own["model"].unique()):
            curve = own[own["model"] == model].sort_values("width")
            ax.errorbar(
                curve["width"],
                curve["mean"],
                yerr=_ci(curve),
                marker="o",
                capsize=2,
                color=labels.color(model),
                label=labels.model(model),
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [f"{w:g}" for w in ticks])
        ax.set_xlabel("probe width factor")
        ax.set_ylabel(metric_label(metric))
        ax.set_title(probe)
    fig.suptitle(spec.get("title", f"{spec['task']}: probe width"))
    fig.tight_layout()
    _figure_legend(fig, axes)
    return fig, rows


def _configuration(rows: pd.DataFrame, choice: dict) -> pd.DataFrame:
    """One configuration of `choice['model']` (its probe, representation, layer where given;
    else the last layer and the best mean over targets), one row per task × target."""
    own = rows[rows["model"] == choice["model"]]
    for key in ("probe", "representation", "layer"):
        if key in choice:
            own = own[own[key] == choice[key]]
    if "layer" not in choice:
        own = largest(own, "layer")
    if own.empty:
        raise ValueError(f"no results for {choice}")
    scores = own.groupby(SETUP_KEYS)["mean"].mean()
    best = dict(zip(SETUP_KEYS, scores.idxmax()))
    return own[(own[SETUP_KEYS] == pd.Series(best)).all(axis=1)].set_index(["task", "target"])


def targets(results: Results, spec: dict, labels: Labels, metric: str):
    """Figs. 3 and 5: per target, each representation (y) against the reference (x)."""
    rows = full_data(
        _select(results.summary, {k: v for k, v in spec.items() if k != "models"}, metric)
    )
    several = rows.groupby("task")["target"].transform("nunique") > 1
    rows = rows[~several | (rows["target"] != MEAN_TARGET)]
    x = _configuration(rows, spec["x"])
    ys = spec.get("y") or [
        {"model": m, **({"probe": spec["x"]["probe"]} if "probe" in spec["x"] else {})}
        for m in _model_order(labels, set(rows["model"]) - {spec["x"]["model"]})
        if not spec.get("models") or m in spec["models"]
    ]
    ncols = min(3, len(ys))
    nrows = -(-len(ys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 3.3 * nrows), squeeze=False)
    source = []
    lo = float(rows["mean"].min() - rows["std"].max())
    hi = float(rows["mean"].max() + rows["std"].max())
    x_label = f"{labels.model(spec['x']['model'])} {labels.probe(x['probe'].iloc[0], x['representation'].iloc[0])}"
    for ax, choice in zip(axes.flat, ys):
        has_probe = (
            "probe" in choice
            and ((rows["model"] == choice["model"]) & (rows["probe"] == choice["probe"])).any()
        )
        y = _configuration(rows, choice if has_probe else {"model": choice["model"]})
        both = x.merge(y, left_index=True, right_index=True, suffixes=("_x", "_y"))
        ax.errorbar(
            both["mean_x"],
            both["mean_y"],
            xerr=both["std_x"],
            yerr=both["std_y"],
            fmt="o",
            ms=4,
            capsize=2,
            color=labels.color(choice["model"]),
        )
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, ls="--")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        y_label = f"{labels.model(choice['model'])} {labels.probe(y['probe'].iloc[0], y['representation'].iloc[0])}"
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.text(
            0.04,
            0.96,
            f"avg y {both['mean_y'].mean():.3f}\navg x {both['mean_x'].mean():.3f}",
            transform=ax.transAxes,
            va="top",
            fontsize=7,
        )
        source.append(both.reset_index().assign(x_label=x_label, y_label=y_label))
    for ax in axes.flat[len(ys) :]:
        ax.remove()
    fig.suptitle(spec.get("title", f"per-target {metric_label(metric)}"))
    fig.tight_layout()
    return fig, pd.concat(source, ignore_index=True)


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "n.s."


def replicates(results: Results, spec: dict, labels: Labels, metric: str):
    """Fig. 4: the replicate runs of each representation's best probe (frozen), with the test
    stars."""
    summary = last_layer(full_data(headline_targets(_select(results.summary, spec, metric))))
    summary = summary[~summary["probe"].isin(list(labels.tuned))]
    best = best_rows(summary, ["model"])
    runs = headline_targets(_select(results.metrics, spec, metric)).rename(
        columns={"value": "run_value"}
    )
    keys = ["task", "target", "train_fraction", "metric"] + SETUP_KEYS
    runs = runs.merge(best[keys], on=keys)
    comparisons = results.comparisons.merge(best[keys], on=keys)
    order = _model_order(labels, best["model"])
    fig, ax = plt.subplots(figsize=(1.2 + 0.8 * len(order), 3.8))
    values = [runs.loc[runs["model"] == m, "run_value"].to_numpy() for m in order]
    ax.boxplot(values, positions=range(len(order)), widths=0.6, showfliers=False)
    rng = np.random.default_rng(0)
    top = max(float(np.max(v)) for v in values if len(v))
    for i, (model, v) in enumerate(zip(order, values)):
        ax.scatter(
            i + rng.uniform(-0.15, 0.15, len(v)), v, s=8, color=labels.color(model), zorder=3
        )
        p = comparisons.loc[comparisons["model"] == model, "p_value"]
        if len(p):
            ax.text(i, top, _stars(float(p.iloc[0])), ha="center", va="bottom", fontsize=8)
    baseline = comparisons["baseline_model"].dropna().unique()
    ax.set_xticks(range(len(order)), [labels.model(m) for m in order], rotation=30, ha="right")
    ax.set_ylabel(metric_label(metric))
    title = spec.get("title", spec["task"])
    if len(baseline):
        title += f" (test against {labels.model(baseline[0])})"
    ax.set_title(title)
    fig.tight_layout()
    source = runs.merge(
        comparisons[["model", "p_value", "baseline_model", "test", "alternative"]],
        on="model",
        how="left",
    )
    return fig, source


def fractions(results: Results, spec: dict, labels: Labels, metric: str):
    """Downsampling: the metric against the fraction of training data, mean ± s.e.m. (each
    representation's best frozen probe)."""
    rows = headline_targets(_select(results.summary, spec, metric))
    rows = rows[~rows["probe"].isin(list(labels.tuned))]
    best = best_rows(last_layer(full_data(rows)), ["model"])
    keys = ["task", "target", "metric"] + SETUP_KEYS
    curves = rows.merge(best[keys], on=keys)
    curves = curves.assign(sem=curves["std"] / np.sqrt(curves["n_replicates"].clip(lower=1)))
    fig, ax = plt.subplots(figsize=(5.0, 3.8))
    for model in _model_order(labels, curves["model"].unique()):
        curve = curves[curves["model"] == model].sort_values("train_fraction")
        ax.errorbar(
            curve["train_fraction"],
            curve["mean"],
            yerr=curve["sem"],
            marker="o",
            capsize=2,
            color=labels.color(model),
            label=labels.model(model),
        )
    ax.set_xlabel("fraction of training data")
    ax.set_ylabel(metric_label(metric))
    ax.set_title(spec.get("title", f"{spec['task']}: downsampling"))
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig, curves


TASK_FIGURES = {
    "probes": probes,
    "models": models,
    "layers": layers,
    "widths": widths,
    "targets": targets,
    "replicates": replicates,
    "fractions": fractions,
}
