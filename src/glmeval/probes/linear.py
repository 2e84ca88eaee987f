"""Linear probes on pooled representations: ridge / OLS (regression), logistic (binary)."""

from __future__ import annotations

import numpy as np

# sklearn is imported where used: neural probe jobs import this module too


def ridge(x_train, y_train, x_test, alpha: float) -> np.ndarray:
    """Ridge(alpha), or OLS at alpha 0, per target on the rows where it is observed (paper:
    alpha 1e-3, fit on train only); predictions (N, targets)."""

    from sklearn.linear_model import LinearRegression, Ridge

    def model():
        return Ridge(alpha=alpha) if alpha > 0 else LinearRegression()

    if not np.isnan(y_train).any():
        return model().fit(x_train, y_train).predict(x_test).reshape(len(x_test), -1)
    columns = []
    for j in range(y_train.shape[1]):
        known = ~np.isnan(y_train[:, j])
        columns.append(model().fit(x_train[known], y_train[known, j]).predict(x_test))
    return np.stack(columns, axis=1)


def logistic(
    x_train, y_train, x_test, alpha: float, seed: int, hard_labels: bool = False
) -> np.ndarray:
    """L2 logistic regression (C = 1/alpha) per target; test-set probabilities (N, targets), or
    0/1 predictions with `hard_labels` (the paper's AUROC on `predict()`; docs/paper.md, Known
    issues: hard-label AUROC)."""
    from sklearn.linear_model import LogisticRegression

    columns = []
    for j in range(y_train.shape[1]):
        model = LogisticRegression(C=1.0 / alpha, max_iter=2000, random_state=seed)
        model.fit(x_train, y_train[:, j])
        columns.append(model.predict(x_test) if hard_labels else model.predict_proba(x_test)[:, 1])
    return np.stack(columns, axis=1).astype(np.float64)
