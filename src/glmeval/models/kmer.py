"""k-mer spectra as a model family (`kmer`): each sequence's k-mer counts, no network.

A `kmer` model's only representation is its layer-0 `mean` (no CLS, no token layers): the
counts of every k-mer of each sequence, computed with numpy from base codes (rolling k-mer ids,
one `np.bincount` per block of rows with a row offset), never through a one-hot tensor.

- `k`: an int, or a list of ints whose spectra are concatenated in that order;
- `canonical` (default false): a k-mer and its reverse complement share one column (the pair's
  lexicographically smaller member names it; a palindrome, its own reverse complement, is one
  column counted once per occurrence);
- `scale`: `counts` (default), or `frequency`: counts over the sequence's valid k-mers of that k
  (0 where it has none).

k-mers that contain N (or any base other than A, C, G, T) are not counted. Columns are in
lexicographic order (A < C < G < T) of each k; `feature_names` gives them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from glmeval.data.sequence import ALPHABET
from glmeval.models.families import ModelError, kmer_width
from glmeval.models.features import pooled_array, write_pooled

_CODES = np.full(256, 4, dtype=np.uint8)
for _i, _base in enumerate(ALPHABET):
    _CODES[ord(_base)] = _i
#: cells of one block of rows (rows × (columns + positions)): its int64 counts and k-mer ids
#: stay under ~64 MB each
BLOCK_CELLS = 8_000_000


def ks_of(model: dict) -> list[int]:
    """The model's k values, in the order their spectra are concatenated."""
    k = model.get("k", 1)
    return [k] if isinstance(k, int) else list(k)


@lru_cache(maxsize=16)
def columns_of(k: int, canonical: bool) -> tuple[np.ndarray, int]:
    """(column of each k-mer id, number of columns): the identity with 4**k columns, or with
    `canonical` each id's column is that of the smaller of it and its reverse complement."""
    ids = np.arange(4**k, dtype=np.int64)
    if not canonical:
        return ids, 4**k
    reverse = np.zeros_like(ids)
    rest = ids.copy()
    for _ in range(k):  # the complement of the last base becomes the first
        reverse = reverse * 4 + (3 - rest % 4)
        rest //= 4
    representative = np.minimum(ids, reverse)
    names, column = np.unique(representative, return_inverse=True)
    return column.astype(np.int64), len(names)


def kmer_name(kmer_id: int, k: int) -> str:
    return "".join(ALPHABET[(kmer_id >> (2 * (k - 1 - i))) & 3] for i in range(k))


def feature_names(model: dict) -> list[str]:
    """Every column's k-mer, in order (canonical: the smaller member of its pair)."""
    canonical = bool(model.get("canonical", False))
    names = []
    for k in ks_of(model):
        column, n = columns_of(k, canonical)
        first = np.full(n, -1, dtype=np.int64)
        ids = np.arange(4**k)
        first[column[::-1]] = ids[::-1]  # each column's smallest id
        names += [kmer_name(int(i), k) for i in first]
    return names


def _codes(seqs: Sequence[str]) -> np.ndarray:
    """(N, longest) uint8 base codes (A, C, G, T = 0..3, anything else 4), padded with 4."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    longest = int(lengths.max(initial=0))
    if len(seqs) and (lengths == longest).all():  # one length: one buffer
        raw = np.frombuffer("".join(seqs).encode("ascii"), dtype=np.uint8)
        return _CODES[raw].reshape(len(seqs), longest)
    codes = np.full((len(seqs), longest), 4, dtype=np.uint8)
    for row, seq in enumerate(seqs):
        codes[row, : len(seq)] = _CODES[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
    return codes


def _spectrum(codes: np.ndarray, k: int, canonical: bool) -> np.ndarray:
    """(rows, columns) int64 counts of the k-mers of a block of base codes."""
    column, n_columns = columns_of(k, canonical)
    rows, length = codes.shape
    positions = max(length - k + 1, 0)
    ids = np.zeros((rows, positions), dtype=np.intp)
    valid = np.ones((rows, positions), dtype=bool)
    for offset in range(k):
        window = codes[:, offset : offset + positions]
        valid &= window < 4
        ids <<= 2
        ids += np.minimum(window, 3)
    if canonical:
        ids = column[ids]
    ids += (np.arange(rows, dtype=np.intp) * n_columns)[:, None]  # each row its own columns
    counts = np.bincount(ids[valid], minlength=rows * n_columns)  # k-mers with N left out
    return counts.reshape(rows, n_columns)


def spectra(
    seqs: Sequence[str],
    k: int | Sequence[int],
    canonical: bool = False,
    scale: str = "counts",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """(N, columns) k-mer spectra of `seqs` (module docstring), float32, or written into `out`
    (any (N, columns) float array, e.g. the mean slot of a float16 pooled array), by blocks of
    rows."""
    ks = [k] if isinstance(k, int) else list(k)
    widths = [columns_of(kk, canonical)[1] for kk in ks]
    if out is None:
        out = np.zeros((len(seqs), sum(widths)), dtype=np.float32)
    longest = max(map(len, seqs), default=0)
    block = max(1, BLOCK_CELLS // (max(widths) + 1 + longest))
    for start in range(0, len(seqs), block):
        codes = _codes(seqs[start : start + block])
        at = 0
        for kk, n_columns in zip(ks, widths):
            counts = _spectrum(codes, kk, canonical)
            if scale == "frequency":
                total = counts.sum(axis=1, keepdims=True)
                values = counts / np.maximum(total, 1)
            else:  # a count is at most the length: a table lookup, not a float16 conversion
                values = np.arange(longest + 1, dtype=out.dtype)[counts]
            out[start : start + len(codes), at : at + n_columns] = values
            at += n_columns
    return out


def write_kmer(name: str, model: dict, seqs: Sequence[str], out_dir: str | Path, meta: dict):
    """The k-mer spectra of `seqs` as an embedding artifact at `out_dir` (atomically): layer 0,
    `mean` = the spectra, no CLS and no token layers."""
    ks, canonical = ks_of(model), bool(model.get("canonical", False))
    scale = model.get("scale", "counts")
    longest = max(map(len, seqs), default=0)
    if scale == "counts" and longest > 65504:
        raise ModelError(
            f"model {name!r}: sequences of up to {longest} bases give counts beyond the float16 "
            "range of the stored features (65504); set scale: frequency."
        )
    pooled = pooled_array(len(seqs), kmer_width(ks, canonical))
    spectra(seqs, ks, canonical, scale, out=pooled[:, 0, 1])
    write_pooled(
        out_dir,
        pooled,
        {
            **meta,
            "model": name,
            "k": ks,
            "canonical": canonical,
            "scale": scale,
            "feature_names": feature_names(model),
            "device": "none (k-mer spectra computed with numpy)",
        },
    )
