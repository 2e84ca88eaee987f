"""DNA sequence checks and encodings shared by every task and model."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

ALPHABET = "ACGT"
_INVALID = re.compile(r"[^ACGTN]")
_LOOKUP = np.full(256, 4, dtype=np.int8)
for _i, _base in enumerate(ALPHABET):
    _LOOKUP[ord(_base)] = _i
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


class SequenceError(ValueError):
    """A sequence holds characters outside ACGTN."""


def check_sequences(seqs: Sequence[str], ids: Sequence[str], where: str) -> None:
    """Raise SequenceError naming `where` and the first offending row id and character."""
    for seq_id, seq in zip(ids, seqs):
        bad = _INVALID.search(seq)
        if bad:
            raise SequenceError(
                f"{where}, row id {seq_id!r}: character {bad.group()!r} at position "
                f"{bad.start()} is not one of A, C, G, T, N (upper case). Fix or drop that row."
            )


def one_hot(seqs: Sequence[str], length: int | None = None, n_value: float = 0.0) -> np.ndarray:
    """One-hot encode to (N, length, 4) float32 in A, C, G, T order.

    N is encoded as `n_value` in all four channels (0.0: all zeros, as the paper's archive stores
    it; 0.25: uniform). Sequences shorter than `length` are zero-padded on the right.
    """
    length = max(map(len, seqs), default=0) if length is None else length
    out = np.zeros((len(seqs), length, 4), dtype=np.float32)
    for row, seq in enumerate(seqs):
        codes = _LOOKUP[np.frombuffer(seq[:length].encode("ascii"), dtype=np.uint8)]
        known = codes < 4
        out[row, np.flatnonzero(known), codes[known]] = 1.0
        out[row, np.flatnonzero(~known)] = n_value
    return out


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]
