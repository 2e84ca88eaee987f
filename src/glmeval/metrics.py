"""Task metrics as the paper computed them (on probabilities for binary tasks).

Rows whose truth is NaN (an unobserved splicing tissue) are omitted, as scipy's
`nan_policy='omit'` did in the paper.
"""

from __future__ import annotations

import numpy as np

# scipy.stats and sklearn.metrics are imported where used: every probe job imports this module,
# and they are a second of its start-up


def pearson(y: np.ndarray, pred: np.ndarray) -> float:
    from scipy.stats import pearsonr

    return float(pearsonr(y, pred).statistic)


def spearman(y: np.ndarray, pred: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(y, pred).statistic)


def auroc(y: np.ndarray, prob: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, prob))


def aupr(y: np.ndarray, prob: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, prob))


METRIC_FUNCTIONS = {"pearson": pearson, "spearman": spearman, "auroc": auroc, "aupr": aupr}


def metric_value(name: str, y: np.ndarray, pred: np.ndarray) -> float:
    """Metric `name` of 1-D predictions against truth, over the rows where the truth is known;
    NaN when fewer than 3 such rows remain."""
    known = ~np.isnan(y)
    if known.sum() < 3:
        return float("nan")
    return METRIC_FUNCTIONS[name](y[known], pred[known])


def evaluate(metrics: list[str], y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Each named metric of predictions `pred` against truth `y` (both 1-D)."""
    return {name: metric_value(name, y, pred) for name in metrics}
