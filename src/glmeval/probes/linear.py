"""Linear probes on pooled representations: ridge / OLS (regression), logistic (binary); a grid
of alphas chosen on the validation split (`ridge_grid`, `logistic_grid`)."""

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


# ------------------------------------------------------------------ regularisation on a grid


def ridge_solutions(x, y, alphas, block: int = 65536) -> list[tuple[np.ndarray, np.ndarray]]:
    """(coefficients (D, targets), intercepts (targets,)) of ridge regression with an
    intercept, as sklearn's Ridge fits it, at every alpha (> 0) of `alphas`, from one
    eigendecomposition of the centred Gram matrix X_c'X_c = V diag(s) V': w(alpha) =
    V diag(1 / (s + alpha)) V' X_c'y_c. The Gram matrix is accumulated in float64 by blocks of
    rows, so X is never centred or copied whole. `y` must have no NaN."""
    x_mean = np.asarray(x.mean(axis=0, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    y_mean = y.mean(axis=0)
    gram = np.zeros((x.shape[1], x.shape[1]))
    moment = np.zeros((x.shape[1], y.shape[1]))
    for start in range(0, len(x), block):
        part = np.asarray(x[start : start + block], dtype=np.float64) - x_mean
        gram += part.T @ part
        moment += part.T @ (y[start : start + block] - y_mean)
    values, vectors = np.linalg.eigh(gram)
    values = np.clip(values, 0, None)  # rounding below zero on a rank-deficient Gram
    projected = vectors.T @ moment
    solutions = []
    for alpha in alphas:
        coef = vectors @ (projected / (values + alpha)[:, None])
        solutions.append((coef, y_mean - x_mean @ coef))
    return solutions


def ridge_float64(x_train, y_train, x_test, alpha: float) -> np.ndarray:
    """Ridge(alpha) predictions (N, targets) solved in float64 (`ridge_solutions`) where no
    target is missing, else `ridge`: a grid's chosen alpha is fit as the grid scored it (sklearn
    solves float32 features in float32, which ill-conditioned features such as overlapping
    k-mer counts make visibly less exact at small alpha)."""
    if np.isnan(y_train).any():
        return ridge(x_train, y_train, x_test, alpha)
    ((coef, intercept),) = ridge_solutions(x_train, y_train, [alpha])
    return np.asarray(x_test, dtype=np.float64) @ coef + intercept


def _score(metric: str, y: np.ndarray, pred: np.ndarray) -> float:
    """The headline `metric` of predictions over targets: the mean of its per-target values
    (NaN truths omitted), as the `_mean` target of a multi-target task."""
    from glmeval.metrics import metric_value

    values = [metric_value(metric, y[:, j], pred[:, j]) for j in range(y.shape[1])]
    return float(np.nanmean(values)) if not np.isnan(values).all() else float("nan")


def choose_alpha(alphas, scores: list[float]) -> float:
    """The alpha of the best finite validation score; a tie to the larger alpha (the simpler
    model). A grid without a finite score: a named error."""
    finite = [(s, a) for a, s in zip(alphas, scores) if np.isfinite(s)]
    if not finite:
        raise ValueError(
            f"no alpha of the grid {list(alphas)} gives a finite validation score; check the "
            "validation split's labels"
        )
    return max(finite)[1]


def ridge_grid(x_train, y_train, x_valid, y_valid, alphas, metric: str):
    """The alpha of `alphas` whose ridge fit on train scores best on valid by `metric`, and
    every alpha's validation score. Without missing targets one eigendecomposition serves the
    whole grid (`ridge_solutions`); with them, sklearn's Ridge per alpha and target."""
    n_targets = y_valid.shape[1]
    if not np.isnan(y_train).any():
        x_valid = np.asarray(x_valid, dtype=np.float64)
        preds = [x_valid @ c + b for c, b in ridge_solutions(x_train, y_train, alphas)]
    else:
        preds = [ridge(x_train, y_train, x_valid, alpha) for alpha in alphas]
    scores = [_score(metric, y_valid, p[:, :n_targets]) for p in preds]
    return choose_alpha(alphas, scores), scores


def logistic_grid(x_train, y_train, x_valid, y_valid, alphas, seed: int, metric: str):
    """The alpha (C = 1/alpha) of `alphas` whose logistic fit on train scores best on valid
    by `metric` (on probabilities), and every alpha's validation score."""
    scores = [
        _score(metric, y_valid, logistic(x_train, y_train, x_valid, alpha, seed))
        for alpha in alphas
    ]
    return choose_alpha(alphas, scores), scores
