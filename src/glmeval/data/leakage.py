"""Leakage between a task's splits: the same sequence, its reverse complement, or a near copy on
both sides of a split.

- exact: identical sequences;
- reverse_complement: a sequence equal to the reverse complement of one in another split (the
  public lentiMPRA release ships both orientations of each element);
- near: pairs whose canonical k-mer sets (a k-mer and its reverse complement count as one)
  have a Jaccard similarity of at least `threshold`, and are not exact or reverse-complement
  copies. Candidates come from MinHash with banding (`n_bands` bands of `rows_per_band`
  hashes), and every candidate's Jaccard is then computed exactly, so a reported pair is
  always a true near-duplicate; a pair at the threshold is found with probability
  1 − (1 − J^rows)^bands (0.99 at J = 0.5 with the defaults).

`resplit` moves every group of copies (exact and reverse-complement, and near ones if asked)
to one split: the split that holds most of the group, ties to train, then valid, then test.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pandas as pd

from glmeval.data.sequence import reverse_complement

SPLITS = ("train", "valid", "test")
KINDS = ("exact", "reverse_complement", "near")
DEFAULTS = {"k": 16, "threshold": 0.5, "n_bands": 16, "rows_per_band": 2, "examples": 5}
_CODES = np.full(256, 255, dtype=np.uint8)
_CODES[np.frombuffer(b"ACGT", dtype=np.uint8)] = np.arange(4, dtype=np.uint8)


def canonical_kmers(sequence: str, k: int) -> np.ndarray:
    """The distinct canonical k-mers of `sequence` as integers (k ≤ 31); k-mers with an N are
    skipped."""
    codes = _CODES[np.frombuffer(sequence.encode(), dtype=np.uint8)]
    n = len(codes) - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(codes, k)
    valid = (windows != 255).all(axis=1)
    windows = windows[valid].astype(np.uint64)
    weights = np.uint64(4) ** np.arange(k - 1, -1, -1, dtype=np.uint64)
    forward = windows @ weights
    reverse = (np.uint64(3) - windows[:, ::-1]) @ weights
    return np.unique(np.minimum(forward, reverse))


def _mix(x: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of x xor seed: one independent hash function per seed."""
    with np.errstate(over="ignore"):
        z = x ^ np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def minhash(kmer_sets: list[np.ndarray], n_hashes: int) -> np.ndarray:
    """(N, n_hashes) MinHash signatures; a sequence without k-mers gets all-max (never a
    candidate)."""
    lengths = np.array([len(s) for s in kmer_sets])
    signatures = np.full((len(kmer_sets), n_hashes), np.iinfo(np.uint64).max, dtype=np.uint64)
    present = lengths > 0
    if not present.any():
        return signatures
    flat = np.concatenate([s for s in kmer_sets if len(s)])
    starts = np.concatenate([[0], np.cumsum(lengths[present])[:-1]])
    for i in range(n_hashes):
        signatures[present, i] = np.minimum.reduceat(_mix(flat, i + 1), starts)
    return signatures


def _near_pairs(kmer_sets, split_of, threshold, n_bands, rows_per_band) -> set[tuple[int, int]]:
    """Row pairs in different splits with k-mer Jaccard ≥ threshold (verified exactly)."""
    signatures = minhash(kmer_sets, n_bands * rows_per_band)
    empty = np.array([len(s) == 0 for s in kmer_sets])
    candidates = set()
    for band in range(n_bands):
        keys = signatures[:, band * rows_per_band : (band + 1) * rows_per_band]
        buckets: dict[bytes, list[int]] = {}
        for row in np.flatnonzero(~empty):
            buckets.setdefault(keys[row].tobytes(), []).append(row)
        for rows in buckets.values():
            if len(rows) > 1 and len({split_of[r] for r in rows}) > 1:
                candidates.update(
                    (a, b) for a, b in combinations(rows, 2) if split_of[a] != split_of[b]
                )
    near = set()
    for a, b in candidates:
        shared = len(np.intersect1d(kmer_sets[a], kmer_sets[b], assume_unique=True))
        if shared / (len(kmer_sets[a]) + len(kmer_sets[b]) - shared) >= threshold:
            near.add((a, b))
    return near


def find_leaks(
    splits: dict[str, pd.DataFrame], column: str = "sequence", **options
) -> pd.DataFrame:
    """Every cross-split pair of copies: columns kind, split_a, id_a, split_b, id_b, jaccard
    (split_a before split_b in train, valid, test order)."""
    settings = DEFAULTS | options
    frame = pd.concat(
        [splits[s][["id", column]].assign(split=s) for s in SPLITS], ignore_index=True
    )
    sequences, split_of = frame[column].tolist(), frame["split"].tolist()
    pairs: dict[tuple[int, int], tuple[str, float]] = {}
    first_row: dict[str, list[int]] = {}
    for row, seq in enumerate(sequences):
        first_row.setdefault(seq, []).append(row)
    for rows in first_row.values():
        for a, b in combinations(rows, 2):
            if split_of[a] != split_of[b]:
                pairs[a, b] = ("exact", 1.0)
    for row, seq in enumerate(sequences):
        rc = reverse_complement(seq)
        if rc == seq:
            continue
        for other in first_row.get(rc, ()):
            if split_of[other] != split_of[row]:
                pairs.setdefault((min(row, other), max(row, other)), ("reverse_complement", 1.0))
    kmer_sets = [canonical_kmers(seq, settings["k"]) for seq in sequences]
    near = _near_pairs(
        kmer_sets, split_of, settings["threshold"], settings["n_bands"], settings["rows_per_band"]
    )
    for a, b in near - pairs.keys():
        shared = len(np.intersect1d(kmer_sets[a], kmer_sets[b], assume_unique=True))
        pairs[a, b] = ("near", shared / (len(kmer_sets[a]) + len(kmer_sets[b]) - shared))
    order = {s: i for i, s in enumerate(SPLITS)}
    rows = []
    for (a, b), (kind, jaccard) in sorted(pairs.items()):
        if order[split_of[a]] > order[split_of[b]]:
            a, b = b, a
        rows.append((kind, split_of[a], frame["id"][a], split_of[b], frame["id"][b], jaccard))
    return pd.DataFrame(rows, columns=["kind", "split_a", "id_a", "split_b", "id_b", "jaccard"])


def summarize(leaks: pd.DataFrame, n_examples: int = DEFAULTS["examples"]) -> dict:
    """task.json's `leakage`: pair counts per kind and split pair, rows of each split with a
    copy elsewhere, and a few example pairs per kind."""
    counts = {kind: {f"{a}-{b}": 0 for a, b in combinations(SPLITS, 2)} for kind in KINDS}
    for (kind, a, b), n in Counter(zip(leaks["kind"], leaks["split_a"], leaks["split_b"])).items():
        counts[kind][f"{a}-{b}"] = n
    affected = {
        split: len(
            set(leaks.loc[leaks["split_a"] == split, "id_a"])
            | set(leaks.loc[leaks["split_b"] == split, "id_b"])
        )
        for split in SPLITS
    }
    examples = {
        kind: leaks[leaks["kind"] == kind].head(n_examples).to_dict("records") for kind in KINDS
    }
    return {"pairs": counts, "rows_with_a_copy_elsewhere": affected, "examples": examples}


def resplit(
    splits: dict[str, pd.DataFrame], leaks: pd.DataFrame, kinds=("exact", "reverse_complement")
) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """`splits` with every group of copies (connected by pairs of `kinds`) in one split, and
    the number of rows moved into each split."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in leaks.loc[leaks["kind"].isin(kinds), ["id_a", "id_b"]].itertuples(index=False):
        parent[find(a)] = find(b)
    split_of = {i: s for s in SPLITS for i in splits[s]["id"]}
    members: dict[str, list[str]] = {}
    for row in parent:
        members.setdefault(find(row), []).append(row)
    target = {}
    for group in members.values():
        votes = Counter(split_of[i] for i in group)
        best = max(SPLITS, key=lambda s: (votes[s], -SPLITS.index(s)))
        target.update({i: best for i in group})
    frame = pd.concat([splits[s].assign(_split=s) for s in SPLITS], ignore_index=True)
    destination = frame["id"].map(target).fillna(frame["_split"])
    moved = {s: int(((destination == s) & (frame["_split"] != s)).sum()) for s in SPLITS}
    new = {s: frame[destination == s].drop(columns="_split").reset_index(drop=True) for s in SPLITS}
    return new, moved


def leakage_table(audits: dict[str, dict]) -> pd.DataFrame:
    """One row per task, kind and split pair from the tasks' task.json `leakage` entries:
    task, kind, splits, pairs, resplit (whether that kind was resplit; pairs are after it)."""
    rows = [
        (task, kind, splits, n, kind in audit.get("resplit", {}).get("kinds", []))
        for task, audit in audits.items()
        for kind, counts in audit["pairs"].items()
        for splits, n in counts.items()
    ]
    return pd.DataFrame(rows, columns=["task", "kind", "splits", "pairs", "resplit"])
