"""Variant-effect evaluation: per-element correlations with bootstrap CIs, and Table 1.

Zero-shot scores are correlated with |measured effect| and oriented so that a larger value means
a larger predicted change: `cosine_distance` = 1 − cosine similarity, `abs_llr` = |LLR|, and
`dot`, `l1`, `l2` as computed. Supervised transfer effects (alt − ref) are correlated with the
signed effect (docs/paper.md, Tasks: CAGI5). A cell type's value is the mean of its elements'
r (HepG2 = LDLR, SORT1, F9; K562 = PKLR), its CI the percentile interval of that mean over
resamples drawn within each element.

Any dataset with measured effects is evaluated this way: CAGI5's `effect`, or the column a
user's variants name with `effect:` (zero-shot scores against its absolute value, transfer
effects against it signed); per element where the variants have an `element` column, else over
all of them as one element, `all`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from glmeval.metrics import metric_value
from glmeval.stats import bootstrap_metric_samples, percentile_ci
from glmeval.vocabulary import STRAND_VIEWS

METRICS = ("pearson", "spearman")
ORIENTED = {  # table score name: (zero-shot column, orientation)
    "cosine_distance": ("cosine", lambda v: 1 - v),
    "dot": ("dot", lambda v: v),
    "l1": ("l1", lambda v: v),
    "l2": ("l2", lambda v: v),
    "abs_llr": ("llr", np.abs),
}


def zero_shot_scores(scores: pd.DataFrame) -> dict[str, np.ndarray]:
    """The oriented table scores present in a zero-shot score table; where it has both strands,
    each strand's own too (`cosine_distance (forward)`, ...)."""
    found = {}
    for name, (column, orient) in ORIENTED.items():
        for suffix, label in [("", name)] + [(f"_{s}", f"{name} ({s})") for s in STRAND_VIEWS]:
            if column + suffix in scores:
                found[label] = orient(scores[column + suffix].to_numpy(np.float64))
    return found


def correlations(
    values: np.ndarray,
    truth: np.ndarray,
    elements: np.ndarray,
    groups: Mapping[str, Sequence[str]],
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Pearson and Spearman r of `values` against `truth` per element (rows with a NaN value are
    left out and counted), then per group of elements as the mean of their r; with 95 % CIs."""
    rows, group_rows, samples = [], [], {}
    for element in sorted(set(elements)):
        keep = (elements == element) & ~np.isnan(values)
        missing = int((elements == element).sum() - keep.sum())
        row = {"element": element, "n": int(keep.sum()), "n_missing": missing}
        for metric in METRICS:
            observed = metric_value(metric, truth[keep], values[keep])
            # constant scores (one-hot distances within an element) stay constant resampled
            boot = np.full(n_boot, np.nan)
            if np.isfinite(observed):
                boot = bootstrap_metric_samples(metric, truth[keep], values[keep], n_boot, seed)
            samples[element, metric] = boot
            row |= _summary(metric, observed, boot)
        rows.append(row)
    by_element = {row["element"]: row for row in rows}
    for group, members in groups.items():
        present = [m for m in members if m in by_element]
        if not present:
            continue
        row = {
            "element": group,
            "n": sum(by_element[m]["n"] for m in present),
            "n_missing": sum(by_element[m]["n_missing"] for m in present),
        }
        for metric in METRICS:
            observed = np.mean([by_element[m][metric] for m in present])
            boot = np.mean([samples[m, metric] for m in present], axis=0)
            row |= _summary(metric, observed, boot)
        group_rows.append(row)
    return pd.DataFrame(group_rows + rows)


def _summary(metric: str, observed: float, boot: np.ndarray) -> dict:
    low, high = percentile_ci(boot, 0.95)
    return {metric: observed, f"{metric}_lo": low, f"{metric}_hi": high}


def table1(long: pd.DataFrame, groups: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Table 1 shaped: one row per (training, dataset, model, window, score), the Pearson r of
    each cell type then of each element as columns (the long table keeps Spearman and the CIs).
    Transfer rows of several tasks (one per cell type) merge into one row per model and probe."""
    long = long.assign(
        training=long["training"].str.replace(r"^transfer: .*", "transfer", regex=True)
    )
    keys = ["training", "dataset", "model", "window", "score"]
    wide = long.pivot(index=keys, columns="element", values="pearson")
    wide = wide.reindex(pd.MultiIndex.from_frame(long[keys].drop_duplicates()))
    cell_types = [g for g in groups if g in wide.columns]
    elements = sorted(c for c in wide.columns if c not in groups)
    table = wide[cell_types + elements].reset_index().rename_axis(columns=None)
    if "training_overlap" in long:
        notes = long.drop_duplicates(keys).set_index(keys)["training_overlap"]
        table["training_overlap"] = notes.reindex(pd.MultiIndex.from_frame(table[keys])).values
    return table


def evaluate_variants(
    variants: pd.DataFrame,
    zero_shot: Mapping[str, pd.DataFrame],
    transfer: Sequence[tuple[dict, pd.DataFrame]],
    groups: Mapping[str, Sequence[str]],
    dataset: str,
    n_boot: int = 1000,
    windows: Mapping[str, int | None] | None = None,
    length: int | None = None,
    overlaps: Mapping[str, str] | None = None,
    effect: str = "effect",
) -> pd.DataFrame:
    """The long table: one row per (training, model, window, score, element or cell type) with
    n, Pearson and Spearman r and their CIs. `variants`: the dataset's windows (`length` bases;
    None: whole elements), which transfer effects are keyed by; `zero_shot`: model -> its score
    table, which carries its own variants' measured effects (a model with its own window length
    in `windows` may keep other variants); `transfer`: (labels {task, model, probe,
    representation, layer}, effects table) pairs; `overlaps`: model -> why it is not zero-shot /
    frozen-only on these data (glmeval.cards), its rows' `training_overlap`; `effect`: the
    column of measured effects (zero-shot scores are correlated with its absolute value: CAGI5's
    `abs_effect` where the column is CAGI5's `effect`)."""
    truth = variants.set_index("id")
    windows, overlaps = windows or {}, overlaps or {}
    parts = []

    def add(training, model, window, score, rows, values, signed):
        note = overlaps.get(model.split("/")[0], "")
        truth_values = pd.to_numeric(rows[effect], errors="coerce").to_numpy(np.float64)
        if not signed:
            cagi5 = effect == "effect" and "abs_effect" in rows
            truth_values = rows["abs_effect"].to_numpy(np.float64) if cagi5 else abs(truth_values)
        elements = rows["element"] if "element" in rows else pd.Series("all", index=rows.index)
        values = np.asarray(values, np.float64)
        table = correlations(
            np.where(np.isnan(truth_values), np.nan, values),  # no effect measured: missing
            truth_values,
            elements.astype(str).to_numpy(),
            groups,
            n_boot,
        )
        window = "element" if window is None else str(window)
        parts.append(
            table.assign(
                training=training,
                dataset=dataset,
                model=model,
                window=window,
                score=score,
                training_overlap=note,
            )
        )

    for model, scores in zero_shot.items():
        for name, values in zero_shot_scores(scores).items():
            window = windows.get(model, length)
            add("zero-shot", model, window, name, scores, values, signed=False)
    for labels, effects in transfer:
        add(
            f"transfer: {labels['task']}",
            f"{labels['model']}/{labels['probe']}",
            length,
            f"{labels['representation']} L{labels['layer']}",
            truth.loc[effects["id"]],
            effects["effect_pred"],
            signed=True,
        )
    long = pd.concat(parts, ignore_index=True)
    keys = ["training", "dataset", "model", "window", "score"]
    return long[[*keys, *long.columns[: -len(keys) - 1], "training_overlap"]]
