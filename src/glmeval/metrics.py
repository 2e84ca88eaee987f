"""Task metrics as the paper computed them (on probabilities for binary tasks)."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score


def pearson(y: np.ndarray, pred: np.ndarray) -> float:
    return float(stats.pearsonr(y, pred).statistic)


def spearman(y: np.ndarray, pred: np.ndarray) -> float:
    return float(stats.spearmanr(y, pred).statistic)


def auroc(y: np.ndarray, prob: np.ndarray) -> float:
    return float(roc_auc_score(y, prob))


def aupr(y: np.ndarray, prob: np.ndarray) -> float:
    return float(average_precision_score(y, prob))


METRIC_FUNCTIONS = {"pearson": pearson, "spearman": spearman, "auroc": auroc, "aupr": aupr}


def evaluate(metrics: list[str], y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Each named metric of predictions `pred` against truth `y` (both 1-D)."""
    return {name: METRIC_FUNCTIONS[name](y, pred) for name in metrics}
