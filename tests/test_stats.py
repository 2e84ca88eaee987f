import warnings

import numpy as np
import pandas as pd
import pytest

from glmeval.metrics import METRIC_FUNCTIONS, metric_value
from glmeval.stats import (
    bootstrap_mean_ci,
    bootstrap_metric_ci,
    compare,
    mann_whitney,
    paired_bootstrap,
    summarize,
)
from glmeval.tables import COMPARE_COLUMNS, RUN_KEYS, SUMMARY_COLUMNS
from glmeval.tables import CONFIGURATION as CONFIG
from glmeval.tables import RUN_COLUMNS as COLUMNS


def _slow_metric_ci(metric, y, pred, n_boot, seed, level=0.95):
    """Reference: one metric_value call per resample, same index stream as the module."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))
    if y.ndim == 1:
        boots = np.array([metric_value(metric, y[i], pred[i]) for i in idx])
    else:
        boots = np.array(
            [
                np.nanmean([metric_value(metric, y[i, t], pred[i, t]) for t in range(y.shape[1])])
                for i in idx
            ]
        )
    boots = boots[np.isfinite(boots)]
    a = (1 - level) / 2
    return tuple(np.quantile(boots, [a, 1 - a]))


def test_mean_ci_covers_true_mean_and_narrows():
    rng = np.random.default_rng(1)
    widths = []
    for n in (10, 100, 1000):
        low, high = bootstrap_mean_ci(rng.normal(3.0, 1.0, n), n_boot=2000, seed=0)
        assert low < 3.0 < high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] == pytest.approx(2 * 1.96 / np.sqrt(1000), rel=0.25)
    assert np.isnan(bootstrap_mean_ci([1.0])).all()
    assert np.isnan(bootstrap_mean_ci([1.0, np.nan])).all()


def test_bootstraps_are_deterministic():
    rng = np.random.default_rng(2)
    v = rng.normal(size=20)
    assert bootstrap_mean_ci(v, seed=5) == bootstrap_mean_ci(v, seed=5)
    assert bootstrap_mean_ci(v, seed=5) != bootstrap_mean_ci(v, seed=6)
    y = rng.normal(size=200)
    p = y + rng.normal(size=200)
    assert bootstrap_metric_ci("pearson", y, p, 200, 3) == bootstrap_metric_ci(
        "pearson", y, p, 200, 3
    )


@pytest.mark.parametrize("metric", ["pearson", "spearman", "auroc", "aupr"])
def test_test_rows_ci_matches_slow_loop(metric):
    rng = np.random.default_rng(3)
    n = 150
    binary = metric in ("auroc", "aupr")
    y = (rng.random(n) < 0.4).astype(float) if binary else rng.normal(size=n)
    pred = np.round(rng.random(n) + (0.5 * y if binary else y), 1)  # ties
    y[rng.choice(n, 20, replace=False)] = np.nan  # unobserved truth is omitted
    fast = bootstrap_metric_ci(metric, y, pred, n_boot=300, seed=7)
    slow = _slow_metric_ci(metric, y, pred, n_boot=300, seed=7)
    assert fast == pytest.approx(slow, abs=1e-10)
    point = metric_value(metric, y, pred)
    assert fast[0] < point < fast[1]


def test_other_metrics_loop(monkeypatch):
    monkeypatch.setitem(METRIC_FUNCTIONS, "neg_mae", lambda y, p: -float(np.mean(np.abs(y - p))))
    rng = np.random.default_rng(8)
    y = rng.normal(size=50)
    pred = y + rng.normal(size=50)
    y[:4] = np.nan
    fast = bootstrap_metric_ci("neg_mae", y, pred, n_boot=100, seed=2)
    assert fast == pytest.approx(_slow_metric_ci("neg_mae", y, pred, n_boot=100, seed=2))


def test_test_rows_ci_two_dimensional_is_target_mean():
    rng = np.random.default_rng(4)
    y = rng.normal(size=(80, 3))
    pred = y + rng.normal(size=(80, 3))
    y[rng.random((80, 3)) < 0.2] = np.nan
    fast = bootstrap_metric_ci("spearman", y, pred, n_boot=100, seed=1)
    slow = _slow_metric_ci("spearman", y, pred, n_boot=100, seed=1)
    assert fast == pytest.approx(slow, abs=1e-10)


def test_paired_bootstrap_detects_better_predictor_and_ties():
    rng = np.random.default_rng(6)
    y = rng.normal(size=300)
    good = [y + rng.normal(scale=0.5, size=300) for _ in range(3)]
    bad = [y + rng.normal(scale=2.0, size=300) for _ in range(3)]
    out = paired_bootstrap("pearson", y, good, bad, n_boot=500, seed=0)
    assert out["diff"] > 0 and out["p"] < 0.01 and out["ci_low"] > 0
    assert out["p_greater"] == pytest.approx(out["p"] / 2) and out["p_less"] == 1.0
    same = paired_bootstrap("pearson", y, good, good, n_boot=200, seed=0)
    assert same == {
        "diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p": 1.0, "p_greater": 1.0, "p_less": 1.0
    }
    reverse = paired_bootstrap("pearson", y, bad, good, n_boot=500, seed=0)
    assert reverse["diff"] == pytest.approx(-out["diff"]) and reverse["p"] < 0.01


def test_paired_bootstrap_two_dimensional():
    rng = np.random.default_rng(7)
    y = rng.normal(size=(200, 4))
    y[rng.random((200, 4)) < 0.3] = np.nan
    good = [np.nan_to_num(y) + rng.normal(scale=0.5, size=(200, 4))]
    bad = [np.nan_to_num(y) + rng.normal(scale=2.0, size=(200, 4))]
    out = paired_bootstrap("spearman", y, good, bad, n_boot=200, seed=0)
    expected = np.mean([metric_value("spearman", y[:, t], good[0][:, t]) for t in range(4)])
    expected -= np.mean([metric_value("spearman", y[:, t], bad[0][:, t]) for t in range(4)])
    assert out["diff"] == pytest.approx(expected) and out["p"] < 0.01


def test_mann_whitney_matches_paper():
    one_hot = [0.3124, 0.2951, 0.2980, 0.3106, 0.3053]
    dnabert2 = [0.2048, 0.2215, 0.2017, 0.1942, 0.2340]
    rbp = [0.2957, 0.2880, 0.2829, 0.2876, 0.2885]
    assert mann_whitney(dnabert2, one_hot) == pytest.approx(0.0079, abs=5e-5)
    assert mann_whitney(rbp, one_hot) == pytest.approx(0.0159, abs=5e-5)
    assert mann_whitney(one_hot, dnabert2, alternative="greater") == pytest.approx(1 / 252)
    assert np.isnan(mann_whitney([1.0], one_hot))


# --------------------------------------------------------------------------- tables


TARGETS = ["t1", "t2"]


def _predictions(ids, y, pred):
    frame = pd.DataFrame({"id": ids})
    for j, t in enumerate(TARGETS):
        frame[t] = y[:, j]
        frame[f"{t}_pred"] = pred[:, j]
    return frame


def _fixture(n_seeds_a=5, n_test=120, shuffle_ids=False):
    """Two-target task 'spl' with baseline onehot/cnn (5 seeds) and model gpn (n_seeds_a);
    single-target task 'mpra' with one run per model."""
    rng = np.random.default_rng(11)
    ids = np.array([f"r{i}" for i in range(n_test)])
    y = rng.normal(size=(n_test, 2))
    y[rng.random((n_test, 2)) < 0.1] = np.nan
    truth = np.nan_to_num(y)
    runs = {
        ("spl", "onehot", 0, "cnn"): {
            s: truth + rng.normal(scale=1.5, size=y.shape) for s in range(5)
        },
        ("spl", "gpn", 3, "cnn"): {
            s: truth + rng.normal(scale=0.4, size=y.shape) for s in range(n_seeds_a)
        },
        ("mpra", "onehot", 0, "cnn"): {0: truth + rng.normal(scale=1.0, size=y.shape)},
        ("mpra", "gpn", 3, "cnn"): {0: truth + rng.normal(scale=1.0, size=y.shape)},
    }
    store, rows = {}, []
    for (task, model, layer, probe), seeds in runs.items():
        for seed, pred in seeds.items():
            order = np.random.default_rng(seed).permutation(n_test) if shuffle_ids else None
            frame = _predictions(ids, y, pred)
            if task == "mpra":
                frame = frame.drop(columns=["t2", "t2_pred"])
            if shuffle_ids and model == "gpn":
                frame = frame.iloc[order].reset_index(drop=True)
            key = (task, model, layer, "emb", probe, 1.0, 1.0, seed)
            store[key] = frame
            targets = TARGETS if task == "spl" else ["t1"]
            per_target = {
                t: metric_value("spearman", y[:, j], pred[:, j]) for j, t in enumerate(targets)
            }
            if task == "spl":
                per_target["_mean"] = float(np.mean(list(per_target.values())))
            for target, value in per_target.items():
                rows.append(
                    {
                        "task": task,
                        "target": target,
                        "model": model,
                        "layer": layer,
                        "representation": "emb",
                        "probe": probe,
                        "width": 1.0,
                        "seed": seed,
                        "train_fraction": 1.0,
                        "metric": "spearman",
                        "value": value,
                        "n_train": 500,
                        "n_test": n_test,
                    }
                )
    calls = []

    def load(key):
        calls.append(key)
        return store[tuple(key[k] for k in [*RUN_KEYS, "seed"])]

    return pd.DataFrame(rows, columns=COLUMNS), load, calls


BASELINES = {
    "spl": {"model": "onehot", "probe": "cnn", "representation": "emb", "layer": 0, "width": 1.0},
    "mpra": {"model": "onehot", "probe": "cnn", "representation": "emb", "layer": 0, "width": 1},
}


def test_summarize_replicates_and_single_run():
    metrics, load, calls = _fixture()
    out = summarize(metrics, load, n_boot=200, seed=0)
    assert list(out.columns) == SUMMARY_COLUMNS
    assert len(out) == len(metrics.groupby(CONFIG))
    rep = out[(out.task == "spl") & (out.model == "gpn") & (out.target == "t1")].iloc[0]
    values = metrics[(metrics.task == "spl") & (metrics.model == "gpn") & (metrics.target == "t1")]
    assert rep.ci_method == "replicates" and rep.n_replicates == 5
    assert rep["mean"] == pytest.approx(values.value.mean())
    assert rep["std"] == pytest.approx(values.value.std(ddof=1))
    assert rep["median"] == pytest.approx(values.value.median())
    assert (rep.ci_low, rep.ci_high) == bootstrap_mean_ci(values.value.to_numpy(), 200, 0)
    single = out[(out.task == "mpra") & (out.model == "gpn")].iloc[0]
    assert single.ci_method == "test_rows" and single.n_replicates == 1 and np.isnan(single["std"])
    assert (
        single["mean"]
        == single["median"]
        == pytest.approx(metrics[(metrics.task == "mpra") & (metrics.model == "gpn")].value.iloc[0])
    )
    assert single.ci_low < single["mean"] < single.ci_high
    assert {k["task"] for k in calls} == {"mpra"}  # replicated configs need no predictions
    assert calls[0] == {
        "task": "mpra",
        "model": "gpn",
        "layer": 3,
        "representation": "emb",
        "probe": "cnn",
        "width": 1.0,
        "train_fraction": 1.0,
        "seed": 0,
    }


def test_summarize_single_run_mean_target_uses_all_targets():
    metrics, load, _ = _fixture()
    metrics = metrics[(metrics.task == "spl") & (metrics.seed == 0)]
    out = summarize(metrics, load, n_boot=100, seed=0).set_index(["model", "target"])
    row = out.loc[("gpn", "_mean")]
    assert row.ci_method == "test_rows"
    frame = load(
        {
            "task": "spl",
            "model": "gpn",
            "layer": 3,
            "representation": "emb",
            "probe": "cnn",
            "width": 1.0,
            "train_fraction": 1.0,
            "seed": 0,
        }
    )
    expected = bootstrap_metric_ci(
        "spearman",
        frame[TARGETS].to_numpy(),
        frame[[f"{t}_pred" for t in TARGETS]].to_numpy(),
        100,
        0,
    )
    assert (row.ci_low, row.ci_high) == expected


def test_compare_rows_against_baseline():
    metrics, load, calls = _fixture()
    # a configuration at a train_fraction the baseline lacks, and a task without a baseline
    extra = metrics[metrics.model == "gpn"].assign(train_fraction=0.5)
    other = metrics[metrics.task == "mpra"].assign(task="nobase")
    out = compare(pd.concat([metrics, extra, other]), BASELINES, load, n_boot=200, seed=0)
    assert list(out.columns) == COMPARE_COLUMNS
    assert set(out.model) == {"gpn"}  # the baseline is not compared with itself
    assert set(out.train_fraction) == {1.0} and set(out.task) == {"spl", "mpra"}
    assert len(out) == 4  # spl: t1, t2, _mean; mpra: t1
    assert (out.baseline_model == "onehot").all() and (out.baseline_probe == "cnn").all()
    spl = out[out.task == "spl"].set_index("target")
    assert (spl.n_replicates == 5).all() and (spl.baseline_n_replicates == 5).all()
    assert (spl.paired_seeds == 5).all()
    np.testing.assert_allclose(spl.mannwhitney_p, 2 / 252)
    np.testing.assert_allclose(spl.mannwhitney_p_greater, 1 / 252)
    # per-target rows of a task with "_mean" skip the paired test
    assert spl.loc[["t1", "t2"], ["paired_diff", "paired_p"]].isna().all().all()
    mean_row = spl.loc["_mean"]
    base_mean = metrics[(metrics.model == "onehot") & (metrics.target == "_mean")].value.mean()
    assert mean_row["baseline_mean"] == pytest.approx(base_mean)
    assert mean_row.paired_diff == pytest.approx(mean_row["mean"] - base_mean)
    assert mean_row.paired_diff > 0 and mean_row.paired_p < 0.01
    assert mean_row.paired_ci_low > 0
    mpra = out[out.task == "mpra"].iloc[0]
    assert mpra.paired_seeds == 1 and np.isfinite(mpra.paired_p)
    assert np.isnan(mpra.mannwhitney_p)  # one replicate per side
    assert len(calls) == len({tuple(c.items()) for c in calls})  # each run loaded once


def test_compare_p_value_is_the_tasks_own_test():
    metrics, load, _ = _fixture()
    out = compare(metrics, BASELINES, load, n_boot=200, seed=0).set_index(["task", "target"])
    assert (out.test == "mannwhitney").all() and (out.alternative == "two-sided").all()
    np.testing.assert_allclose(out.p_value, out.mannwhitney_p, equal_nan=True)
    # the paper's Task 5 test: the reference (here onehot) greater than each configuration
    less = {task: {**spec, "alternative": "less"} for task, spec in BASELINES.items()}
    out = compare(metrics, less, load, n_boot=200, seed=0).set_index(["task", "target"])
    np.testing.assert_allclose(out.loc["spl", "p_value"], 1.0)  # gpn is far better: no evidence
    paired = {task: {**spec, "test": "paired_bootstrap", "alternative": "greater"}
              for task, spec in BASELINES.items()}
    out = compare(metrics, paired, load, n_boot=200, seed=0).set_index(["task", "target"])
    row = out.loc[("spl", "_mean")]
    assert row.p_value == pytest.approx(1 / 201) and row.paired_p == pytest.approx(2 / 201)
    assert np.isnan(out.loc[("spl", "t1"), "p_value"])  # per-target rows have no paired test


def test_compare_aligns_ids_and_rejects_mismatch():
    metrics, load, _ = _fixture(n_seeds_a=3)
    plain = compare(metrics, BASELINES, load, n_boot=100, seed=0)
    metrics_s, load_s, _ = _fixture(n_seeds_a=3, shuffle_ids=True)
    shuffled = compare(metrics_s, BASELINES, load_s, n_boot=100, seed=0)
    pd.testing.assert_frame_equal(plain, shuffled)
    assert plain.set_index(["task", "target"]).loc[("spl", "_mean"), "paired_seeds"] == 3

    def broken(key):
        frame = load(key)
        if key["model"] == "gpn":
            frame = frame.assign(id=frame["id"].str.replace("r1", "x1"))
        return frame

    with pytest.raises(ValueError, match=r"task spl.*gpn.*onehot"):
        compare(metrics[metrics.task == "spl"], BASELINES, broken, n_boot=50, seed=0)


@pytest.mark.parametrize("metric", ["pearson", "spearman", "auroc", "aupr"])
def test_tiny_resamples_match_metric_value_including_nan(metric):
    """Few known rows: resamples with < 3 rows, one class or constant input give NaN."""
    from glmeval.stats import _Scorer

    binary = metric in ("auroc", "aupr")
    y = (
        np.array([1.0, 0.0, np.nan, 1.0, 0.0, np.nan])
        if binary
        else np.array([0.3, 1.2, np.nan, -0.5, 0.7, np.nan])
    )
    pred = np.array([0.9, 0.2, 0.5, 0.4, 0.4, 0.1])
    fast = _Scorer(metric, y, [pred]).resampled(200, 3)[0]
    idx = np.random.default_rng(3).integers(0, len(y), size=(200, len(y)))
    slow = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in idx:
            try:
                slow.append(metric_value(metric, y[i], pred[i]))
            except ValueError:
                slow.append(np.nan)
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    assert np.isnan(fast).any() and np.isfinite(fast).any()
