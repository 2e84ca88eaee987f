"""Replicate summaries, confidence intervals and significance tests for the tidy metric table.

Confidence intervals. A configuration (task, target, model, layer, representation, probe,
width, train_fraction, metric) trained with several seeds gets a percentile bootstrap CI of the
mean over its replicate values (`ci_method = "replicates"`): this is the spread the paper
reports (5 runs for Tasks 2/4/6, 50 for Task 5) and it covers training noise. A configuration
with a single run (Task 1 in the paper) has no replicate spread, so its CI comes from
resampling the test rows of that run's predictions (`ci_method = "test_rows"`): it covers the
finite test set only, not training noise, so its width is not comparable to a replicates CI.

Comparisons against a task's baseline (e.g. one-hot CNN) report the paper's Mann-Whitney U
tests over replicate values (two-sided as in Task 4, and one-sided "greater" as in Task 5) and a
paired bootstrap over test rows: the same resampled rows score both configurations, averaged
over the seeds both have, which removes the shared test-set noise from the difference.

For a multi-target task the "_mean" target is the mean over targets of the per-target metric
(NaN targets, e.g. a tissue with < 3 observed test rows in a resample, are skipped). Every
bootstrap is seeded with `numpy.random.default_rng(seed)`; the same seed resamples the same rows
for every configuration of equal test size. Pearson, Spearman, AUROC and AUPR are computed for
all resamples at once (exactly matching `glmeval.metrics`); other metrics loop.

The tables' columns are `glmeval.tables`'; `write_probe_stats` writes `probe_summary.csv` and
`probe_comparisons.csv` from `probe_metrics.csv`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from glmeval.cards import mark_overlaps
from glmeval.io import write_csv
from glmeval.metrics import metric_value
from glmeval.tables import (
    COMPARE_COLUMNS,
    CONFIGURATION,
    RUN_KEYS,
    SETUP_KEYS,
    SUMMARY_COLUMNS,
    predictions_loader,
)
from glmeval.vocabulary import MEAN_TARGET

_CHUNK_ELEMENTS = 100_000  # rows x resamples per chunk: arrays stay cache-sized
#: A configuration meets its task's baseline at the same target, train_fraction and metric.
_BASELINE_MATCH = ["target", "train_fraction", "metric"]

LoadPredictions = Callable[[dict], pd.DataFrame]


# --------------------------------------------------------------------------- resampled metrics
#
# A resample of n test rows is held as multiplicity weights W (rows x resamples): W[i, b] is how
# often row i was drawn in resample b (rows first: row gathers and cumsums stay contiguous). Every metric is then a weighted statistic over the original rows, and
# ranks within a resample follow from one sort per column plus cumulative weights, so no
# resample is ever sorted. Results equal `metric_value` on the resampled rows (float rounding).


def _tie_groups(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last position of each position's tie group in sorted values."""
    n = len(sorted_values)
    pos = np.arange(n)
    new = np.ones(n, bool)
    new[1:] = sorted_values[1:] != sorted_values[:-1]
    last = np.ones(n, bool)
    last[:-1] = new[1:]
    start = np.maximum.accumulate(np.where(new, pos, 0))
    end = np.minimum.accumulate(np.where(last, pos, n - 1)[::-1])[::-1]
    return start, end


class _Order:
    """A column's stable sort order and tie groups."""

    def __init__(self, values: np.ndarray):
        self.order = np.argsort(values, kind="stable")
        self.start, self.end = _tie_groups(values[self.order])

    def ranks(self, w: np.ndarray) -> np.ndarray:
        """Average ranks (1-based, ties shared) of every row within each weighted resample."""
        cw = np.cumsum(w[self.order], axis=0)
        before = cw[self.start - 1]
        before[self.start == 0] = 0.0
        r = before + (cw[self.end] - before + 1) / 2
        out = np.empty_like(r)
        out[self.order] = r
        return out


_CONSTANT = 1e-12  # a variance below this share of the squared scale: constant input (NaN)


def _correlation(cxy, cxx, cyy, x_scale, y_scale) -> np.ndarray:
    """Pearson r from (co)variances; NaN for a constant side, as scipy gives."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.clip(cxy / np.sqrt(cxx * cyy), -1.0, 1.0)
    constant = (cxx <= _CONSTANT * x_scale**2) | (cyy <= _CONSTANT * y_scale**2)
    return np.where(constant, np.nan, r)


class _Column:
    """One truth column scored against several prediction columns on weighted resamples."""

    VECTORISED = ("pearson", "spearman", "auroc", "aupr")

    def __init__(self, metric: str, y: np.ndarray, preds: list[np.ndarray]):
        self.metric = metric
        self.known = ~np.isnan(y)
        self.y = y[self.known]
        preds = [p[self.known] for p in preds]
        # a NaN prediction on a known row makes the metric NaN (as on the full test set)
        self.bad = np.array([bool(np.isnan(p).any()) for p in preds])
        self.preds = [np.where(np.isnan(p), 0.0, p) for p in preds]
        if metric == "pearson":  # every weighted moment in one matrix product
            y0 = self.y - self.y.mean() if len(self.y) else self.y
            p0 = [p - p.mean() for p in self.preds] if len(self.y) else self.preds
            self.moments = np.stack([y0, y0 * y0] + [v for p in p0 for v in (p, p * p, y0 * p)])
            self.scales = [np.abs(v).max(initial=0.0) for v in [y0] + p0]
        elif metric == "spearman":
            self.y_order = _Order(self.y)
            self.p_orders = [_Order(p) for p in self.preds]
        elif metric == "auroc":
            self.pos = (self.y == 1).astype(np.float64)
            self.p_orders = [_Order(p) for p in self.preds]
        elif metric == "aupr":
            self.p_orders = [_Order(-p) for p in self.preds]  # descending scores

    def scores(self, w_all: np.ndarray) -> np.ndarray:
        """(predictions, resamples) metric values; NaN where < 3 known rows were drawn."""
        w = w_all[self.known]
        sw = w.sum(axis=0)
        if self.metric == "pearson":
            out = self._pearson(w, sw)
        elif self.metric == "spearman":
            out = self._spearman(w, sw)
        elif self.metric == "auroc":
            out = np.stack([self._auroc(w, sw, order) for order in self.p_orders])
        elif self.metric == "aupr":
            out = np.stack([self._aupr(w, order) for order in self.p_orders])
        else:
            out = np.stack([self._loop(w, p) for p in self.preds])
        invalid = (sw < 3)[None, :] | self.bad[:, None]
        return np.where(invalid, np.nan, out)

    def _pearson(self, w, sw) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            m = (self.moments @ w) / sw
        my, cyy = m[0], m[1] - m[0] ** 2
        out = []
        for j in range(len(self.preds)):
            mp, mpp, myp = m[2 + 3 * j], m[3 + 3 * j], m[4 + 3 * j]
            r = _correlation(myp - my * mp, cyy, mpp - mp * mp, self.scales[0], self.scales[1 + j])
            out.append(r)
        return np.stack(out)

    def _spearman(self, w, sw) -> np.ndarray:
        # ranks of a resample average (sw + 1) / 2 exactly, ties included
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (sw + 1) / 2
            ry = self.y_order.ranks(w)
            cyy = np.einsum("ib,ib->b", w * ry, ry) / sw - mean**2
            out = []
            for order in self.p_orders:
                rp = order.ranks(w)
                wrp = w * rp
                cpp = np.einsum("ib,ib->b", wrp, rp) / sw - mean**2
                cyp = np.einsum("ib,ib->b", wrp, ry) / sw - mean**2
                out.append(_correlation(cyp, cyy, cpp, sw, sw))
        return np.stack(out)

    def _auroc(self, w, sw, order: _Order) -> np.ndarray:
        n_pos = self.pos @ w
        n_neg = sw - n_pos
        with np.errstate(invalid="ignore", divide="ignore"):
            u = self.pos @ (w * order.ranks(w)) - n_pos * (n_pos + 1) / 2
            return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)

    def _aupr(self, w, order: _Order) -> np.ndarray:
        """sklearn's average precision: each positive scores the precision at the end of its
        score tie group (thresholds in decreasing order)."""
        ws = w[order.order]
        hits = ws * (self.y[order.order] == 1)[:, None]
        tp, drawn = np.cumsum(hits, axis=0), np.cumsum(ws, axis=0)
        n_pos = hits.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(drawn > 0, tp / drawn, 0.0)[order.end]
            ap = np.einsum("ib,ib->b", hits, precision) / n_pos
        return np.where(n_pos > 0, ap, 0.0)  # sklearn: 0 without positives

    def _loop(self, w: np.ndarray, pred: np.ndarray) -> np.ndarray:
        rows = np.arange(w.shape[0])
        out = []
        for wb in w.T.astype(np.int64):
            take = np.repeat(rows, wb)
            try:
                out.append(metric_value(self.metric, self.y[take], pred[take]))
            except ValueError:  # e.g. a resample holding one class
                out.append(np.nan)
        return np.array(out, np.float64)


def nanmean0(values: np.ndarray) -> np.ndarray:
    """The mean over axis 0 ignoring NaN; NaN, without a warning, where a column has no value."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=0)


class _Scorer:
    """Prediction arrays (1-D, or 2-D rows x targets scored as the target mean) on resamples."""

    def __init__(self, metric: str, y: np.ndarray, preds: list[np.ndarray]):
        self.n = len(y)
        if y.ndim == 1:
            self.columns = [_Column(metric, y, preds)]
        else:
            self.columns = [
                _Column(metric, y[:, t], [p[:, t] for p in preds]) for t in range(y.shape[1])
            ]

    def scores(self, w: np.ndarray) -> np.ndarray:
        """(predictions, resamples)."""
        return nanmean0(np.stack([c.scores(w) for c in self.columns]))

    def observed(self) -> np.ndarray:
        return self.scores(np.ones((self.n, 1)))[:, 0]

    def resampled(self, n_boot: int, seed: int) -> np.ndarray:
        return np.concatenate(
            [self.scores(w) for w in _weight_chunks(self.n, n_boot, seed)], axis=1
        )


def _weight_chunks(n: int, n_boot: int, seed: int):
    """Multiplicity weights of n_boot resamples of n rows (rng.integers index draws), chunked."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // max(n, 1)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        flat = (idx * b + np.arange(b)[:, None]).ravel()
        yield np.bincount(flat, minlength=n * b).reshape(n, b).astype(np.float64)


def percentile_ci(samples: np.ndarray, level: float) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return float(low), float(high)


def _as_arrays(y, pred) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, np.float64)
    pred = np.asarray(pred, np.float64)
    if y.shape != pred.shape or y.ndim not in (1, 2):
        raise ValueError(f"truth {y.shape} and predictions {pred.shape} must match (1-D or 2-D)")
    return y, pred


# --------------------------------------------------------------------------- public tests


def bootstrap_mean_ci(
    values: Sequence[float], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of replicate values (NaNs dropped; NaN if < 2)."""
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    if v.size < 2:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, v.size, size=(n_boot, v.size))
    return percentile_ci(v[idx].mean(axis=1), level)


def bootstrap_metric_samples(metric: str, y, pred, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """`metric` on `n_boot` resamples of the rows (with replacement); y/pred as below."""
    y, pred = _as_arrays(y, pred)
    if len(y) == 0:
        return np.full(n_boot, np.nan)
    return _Scorer(metric, y, [pred]).resampled(n_boot, seed)[0]


def resampled_scores(
    metric: str, y, preds: Sequence, n_boot: int = 1000, seed: int = 0
) -> np.ndarray:
    """(len(preds), n_boot): `metric` of each prediction array on the same resamples of the rows.

    The resamples depend only on (len(y), n_boot, seed), so separate calls with equal test
    sizes and seeds score the same rows."""
    y = np.asarray(y, np.float64)
    return _Scorer(metric, y, [_as_arrays(y, p)[1] for p in preds]).resampled(n_boot, seed)


def bootstrap_metric_ci(
    metric: str, y, pred, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of `metric` over test rows resampled with replacement.

    y/pred are 1-D, or 2-D (rows x targets) for the mean over targets ("_mean")."""
    if len(y) == 0:
        return float("nan"), float("nan")
    return percentile_ci(bootstrap_metric_samples(metric, y, pred, n_boot, seed), level)


def paired_bootstrap(
    metric: str,
    y,
    preds_a: Sequence,
    preds_b: Sequence,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Paired bootstrap of mean_seeds(metric(a)) - mean_seeds(metric(b)) over shared test rows.

    Each resample scores every prediction array of both sides on the same rows. Returns the
    observed `diff`, its percentile CI, the one-sided p_greater = P(d* <= 0) (a greater than b)
    and p_less = P(d* >= 0), each as (count + 1) / (n + 1) with n the resamples with a finite
    difference, and the two-sided p = min(1, 2 min(p_greater, p_less))."""
    y = np.asarray(y, np.float64)
    a = [_as_arrays(y, p)[1] for p in preds_a]
    b = [_as_arrays(y, p)[1] for p in preds_b]
    if not a or not b:
        raise ValueError("paired_bootstrap needs at least one prediction array per side")
    scorer = _Scorer(metric, y, a + b)

    def diff(scores: np.ndarray) -> np.ndarray:
        return scores[: len(a)].mean(axis=0) - scores[len(a) :].mean(axis=0)

    observed = float(diff(scorer.observed()[:, None])[0])
    d = diff(scorer.resampled(n_boot, seed))
    d = d[np.isfinite(d)]
    low, high = percentile_ci(d, level)
    if d.size == 0:
        p = p_greater = p_less = float("nan")
    else:
        p_greater = float((np.sum(d <= 0) + 1) / (d.size + 1))
        p_less = float((np.sum(d >= 0) + 1) / (d.size + 1))
        p = min(1.0, 2 * min(p_greater, p_less))
    return {
        "diff": observed,
        "ci_low": low,
        "ci_high": high,
        "p": p,
        "p_greater": p_greater,
        "p_less": p_less,
    }


def mann_whitney(a: Sequence[float], b: Sequence[float], alternative: str = "two-sided") -> float:
    """Mann-Whitney U p-value (scipy; exact for small samples without ties); NaN if a side < 2."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size < 2 or b.size < 2:
        return float("nan")
    from scipy.stats import mannwhitneyu  # imported here: probe jobs import this module

    return float(mannwhitneyu(a, b, alternative=alternative).pvalue)


# --------------------------------------------------------------------------- table helpers


def _py(value):
    return value.item() if isinstance(value, np.generic) else value


def run_key(config: dict, seed) -> dict:
    """The key of one probe run's predictions: `config`'s `RUN_KEYS` and `seed`, as Python
    scalars."""
    return {**{k: _py(config[k]) for k in RUN_KEYS}, "seed": _py(seed)}


class PredictionCache:
    """`load` (a `LoadPredictions`) with each run's predictions read once, by `run_key`."""

    def __init__(self, load: LoadPredictions):
        self._load = load
        self._frames: dict[tuple, pd.DataFrame] = {}

    def __call__(self, key: dict) -> pd.DataFrame:
        k = tuple(key.items())
        if k not in self._frames:
            self._frames[k] = self._load(dict(key))
        return self._frames[k]


def _target_columns(frame: pd.DataFrame, target: str) -> list[str]:
    if target != MEAN_TARGET:
        return [target]
    targets = [c for c in frame.columns if c != "id" and f"{c}_pred" in frame.columns]
    if not targets:
        raise ValueError("predictions hold no target columns with a '_pred' partner")
    return targets


def truth_pred(frame: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray]:
    """(truth, prediction) of `target` in a run's predictions: (N,) arrays, or (N, targets)
    for `MEAN_TARGET`."""
    cols = _target_columns(frame, target)
    y = frame[cols].to_numpy(np.float64)
    pred = frame[[f"{c}_pred" for c in cols]].to_numpy(np.float64)
    return (y[:, 0], pred[:, 0]) if target != MEAN_TARGET else (y, pred)


def _describe(config: dict) -> str:
    return ", ".join(f"{k}={config[k]}" for k in ("model", "representation", "layer", "probe"))


def _seed_values(group: pd.DataFrame) -> pd.Series:
    return group.groupby("seed", sort=True)["value"].mean()


# --------------------------------------------------------------------------- tables


def summarize(
    metrics: pd.DataFrame, load_predictions: LoadPredictions, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Per configuration: replicate count, mean, std (ddof 1), median and a 95% CI.

    The CI bootstraps the replicate values when >= 2 are finite ("replicates"), otherwise the
    test rows of the single run (`load_predictions(run key)`, "test_rows"); "none" when the
    configuration has no finite value."""
    load = PredictionCache(load_predictions)
    rows = []
    for values, group in metrics.groupby(CONFIGURATION, sort=True, dropna=False):
        config = dict(zip(CONFIGURATION, values))
        per_seed = _seed_values(group)
        finite = per_seed[np.isfinite(per_seed)]
        row = {
            **config,
            "n_replicates": len(per_seed),
            "mean": finite.mean() if len(finite) else np.nan,
            "std": finite.std(ddof=1) if len(finite) > 1 else np.nan,
            "median": finite.median() if len(finite) else np.nan,
        }
        if len(finite) >= 2:
            low, high = bootstrap_mean_ci(finite.to_numpy(), n_boot, seed)
            method = "replicates"
        elif len(finite) == 1:
            frame = load(run_key(config, finite.index[0]))
            y, pred = truth_pred(frame, config["target"])
            low, high = bootstrap_metric_ci(config["metric"], y, pred, n_boot, seed)
            method = "test_rows"
        else:
            low, high, method = np.nan, np.nan, "none"
        rows.append({**row, "ci_low": low, "ci_high": high, "ci_method": method})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _is_baseline(table: pd.DataFrame, spec: dict) -> pd.Series:
    mask = pd.Series(True, index=table.index)
    for key in SETUP_KEYS:
        value = spec[key]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            mask &= table[key].isna()
        else:
            mask &= table[key] == (float(value) if key == "width" else value)
    return mask


def _aligned(
    frames: list[pd.DataFrame], ids: pd.Index, task: str, config: dict, base: dict
) -> list[pd.DataFrame]:
    out = []
    for frame in frames:
        fid = pd.Index(frame["id"])
        if not fid.is_unique or len(fid) != len(ids) or not fid.isin(ids).all():
            raise ValueError(
                f"task {task}: test ids differ between [{_describe(config)}] and baseline "
                f"[{_describe(base)}] (train_fraction={config['train_fraction']})"
            )
        out.append(frame.set_index("id").loc[ids].reset_index())
    return out


def _paired(
    config: dict, base: dict, seeds: list, load: PredictionCache, n_boot: int, seed: int
) -> dict[str, float]:
    task, target = config["task"], config["target"]
    frames_a = [load(run_key(config, s)) for s in seeds]
    frames_b = [load(run_key(base, s)) for s in seeds]
    ids = pd.Index(frames_a[0]["id"])
    if not ids.is_unique:
        raise ValueError(f"task {task}: duplicate test ids in [{_describe(config)}]")
    ids = ids.sort_values()  # a canonical row order: results do not depend on storage order
    frames_a = _aligned(frames_a, ids, task, config, base)
    frames_b = _aligned(frames_b, ids, task, config, base)
    cols = _target_columns(frames_a[0], target)
    y = frames_a[0][cols].to_numpy(np.float64)
    for frame in frames_a[1:] + frames_b:
        if _target_columns(frame, target) != cols or not np.allclose(
            frame[cols].to_numpy(np.float64), y, rtol=1e-5, atol=1e-6, equal_nan=True
        ):
            raise ValueError(
                f"task {task}: test truth differs between [{_describe(config)}] and baseline "
                f"[{_describe(base)}] for target {target}"
            )
    pa = [truth_pred(f, target)[1] for f in frames_a]
    pb = [truth_pred(f, target)[1] for f in frames_b]
    if target != MEAN_TARGET:
        y = y[:, 0]
    return paired_bootstrap(config["metric"], y, pa, pb, n_boot, seed)


def compare(
    metrics: pd.DataFrame,
    baselines: dict[str, dict],
    load_predictions: LoadPredictions,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Every non-baseline configuration against its task's baseline at the same target, metric
    and train_fraction: Mann-Whitney over replicate values (two-sided and "greater") and a paired
    test-row bootstrap over the seeds both have. The paired test is skipped (NaN) for the
    per-target rows of a task that has a "_mean" target. `p_value` is the task's own test
    (baseline `test`: mannwhitney or paired_bootstrap) with its `alternative` (the
    configuration two-sided / greater / less than the baseline)."""
    load = PredictionCache(load_predictions)
    rows = []
    for task, table in metrics.groupby("task", sort=True):
        if task not in baselines:
            continue
        spec = baselines[task]
        has_mean = (table["target"] == MEAN_TARGET).any()
        is_base = _is_baseline(table, spec)
        base_groups = {}
        for values, g in table[is_base].groupby(CONFIGURATION, sort=True, dropna=False):
            base_config = dict(zip(CONFIGURATION, values))
            base_groups[tuple(base_config[k] for k in _BASELINE_MATCH)] = g
        for values, group in table[~is_base].groupby(CONFIGURATION, sort=True, dropna=False):
            config = dict(zip(CONFIGURATION, values))
            key = tuple(config[k] for k in _BASELINE_MATCH)
            if key not in base_groups:
                continue
            base_group = base_groups[key]
            base = {**config, **{k: _py(base_group[k].iloc[0]) for k in SETUP_KEYS}}
            a, b = _seed_values(group), _seed_values(base_group)
            shared = sorted(set(a.index) & set(b.index))
            row = {
                **config,
                "baseline_model": base["model"],
                "baseline_probe": base["probe"],
                "n_replicates": len(a),
                "baseline_n_replicates": len(b),
                "mean": a.mean(),
                "baseline_mean": b.mean(),
                "mannwhitney_p": mann_whitney(a, b),
                "mannwhitney_p_greater": mann_whitney(a, b, alternative="greater"),
                "paired_seeds": len(shared),
            }
            paired = dict.fromkeys(
                ("diff", "ci_low", "ci_high", "p", "p_greater", "p_less"), np.nan
            )
            if shared and (not has_mean or config["target"] == MEAN_TARGET):
                paired = _paired(config, base, shared, load, n_boot, seed)
            test, alternative = (
                spec.get("test", "mannwhitney"),
                spec.get("alternative", "two-sided"),
            )
            if test == "mannwhitney":
                p_value = mann_whitney(a, b, alternative=alternative)
            else:
                p_value = paired[
                    {"two-sided": "p", "greater": "p_greater", "less": "p_less"}[alternative]
                ]
            rows.append(
                {
                    **row,
                    **{f"paired_{k}": paired[k] for k in ("diff", "ci_low", "ci_high", "p")},
                    "test": test,
                    "alternative": alternative,
                    "p_value": p_value,
                }
            )
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


# --------------------------------------------------------------------------- files


def write_probe_stats(
    metrics_path: str | Path,
    baselines: dict[str, dict],
    summary_path: str | Path,
    comparisons_path: str | Path,
    n_boot: int = 1000,
    root: str | Path = ".",
    overlaps: dict[str, dict[str, str]] | None = None,
) -> None:
    """Replicate summaries and comparisons with each task's baseline (`glmeval.plan.baselines`),
    reading each run's predictions from its directory under `root`; each row marked with why its
    model is not zero-shot / frozen-only on the task (`glmeval.cards.task_overlaps`), if so."""
    table = pd.read_csv(metrics_path)
    load_predictions = predictions_loader(root)
    summary = summarize(table, load_predictions, n_boot)
    comparisons = compare(table, baselines, load_predictions, n_boot)
    write_csv(mark_overlaps(summary, overlaps or {}), summary_path)
    write_csv(mark_overlaps(comparisons, overlaps or {}), comparisons_path)
