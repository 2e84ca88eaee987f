"""What each attribution method's map holds, and a map's one importance per position: plain
numpy, no torch, so the figures read maps with it as the attribution jobs do."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from glmeval.data.sequence import one_hot_array

#: Methods and the maps they write: (N, L, 4) "bases" or (N, L) "positions".
METHODS = {
    "saliency": "bases",
    "input_x_gradient": "positions",
    "deep_lift_shap": "bases",
    "embedding_gradient": "positions",
    "ism": "bases",
    "reverse_entropy": "positions",
}


def observed(bases: np.ndarray, sequences: Sequence[str]) -> np.ndarray:
    """(N, L) values of a (N, L, 4) map at each sequence's own bases."""
    return (bases * one_hot_array(sequences).transpose(0, 2, 1)).sum(-1)


def per_base(method: str, values: np.ndarray, sequences: Sequence[str]) -> np.ndarray:
    """A map's one importance per position (N, L): the observed base's value, or for ISM minus
    the mean effect of the four letters (tangermeme's convention: a base whose mutation lowers
    the output is important)."""
    if METHODS[method] == "positions":
        return values
    if method == "ism":
        return -values.mean(-1)
    return observed(values, sequences)
