"""DNA sequence checks and encodings shared by every task and model."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

ALPHABET = "ACGT"
_INVALID = re.compile(r"[^ACGTN]")
_LOOKUP = np.full(256, 4, dtype=np.uint8)
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


def base_codes(seq: str) -> np.ndarray:
    """Integer codes of `seq`: A, C, G, T = 0..3; anything else (N) = 4."""
    return _LOOKUP[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


_ONE_HOT = np.eye(5, 4, dtype=np.uint8)  # base code 4 (N, padding) -> all-zero row


def padded_one_hot(codes: Sequence[np.ndarray], length: int) -> np.ndarray:
    """(N, 4, length) uint8 one-hot (A, C, G, T; N all zero) of base-code arrays, zero-padded
    symmetrically as the paper's supervised models were fed: floor((length - L) / 2) all-zero
    positions on the left, the rest on the right. Codes longer than `length` are an error."""
    padded = np.full((len(codes), length), 4, dtype=np.uint8)
    for row, ids in enumerate(codes):
        if len(ids) > length:
            raise ValueError(f"row {row}: {len(ids)} bases do not fit in {length}")
        left = (length - len(ids)) // 2
        padded[row, left : left + len(ids)] = ids
    return _ONE_HOT[padded].transpose(0, 2, 1)


def one_hot_array(sequences: Sequence[str]) -> np.ndarray:
    """(N, 4, L) float32 one-hot (A, C, G, T) of equal-length sequences, the input attribution
    explains; case-insensitive, N (or any other letter) all zeros."""
    lengths = {len(s) for s in sequences}
    if len(lengths) != 1:
        raise ValueError(
            f"attribution needs sequences of one length; got lengths {sorted(lengths)}"
        )
    codes = np.frombuffer("".join(sequences).upper().encode(), np.uint8).reshape(len(sequences), -1)
    return np.stack([codes == ord(base) for base in ALPHABET], axis=1).astype(np.float32)
