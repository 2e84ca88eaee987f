"""Linear probes on pooled representations: ridge (regression), logistic regression (binary)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge


def ridge(x_train, y_train, x_test, alpha: float) -> np.ndarray:
    """Ridge(alpha) fit on train (paper: alpha 1e-3, train only); predictions (N, targets)."""
    return Ridge(alpha=alpha).fit(x_train, y_train).predict(x_test).reshape(len(x_test), -1)


def logistic(x_train, y_train, x_test, alpha: float, seed: int) -> np.ndarray:
    """L2 logistic regression (C = 1/alpha) per target; test-set probabilities (N, targets)."""
    probs = [
        LogisticRegression(C=1.0 / alpha, max_iter=2000, random_state=seed)
        .fit(x_train, y_train[:, j])
        .predict_proba(x_test)[:, 1]
        for j in range(y_train.shape[1])
    ]
    return np.stack(probs, axis=1)
