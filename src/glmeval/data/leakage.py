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

`resplit` moves every group of copies (connected by pairs of the chosen kinds, within or
across splits) to one split, so that no copy of the group is left on the other side:

- a group goes to the split that holds most of its rows (the fewest rows move);
- a tie goes to the tied split that has shrunk most so far relative to its size before the
  resplit (so the splits keep the proportions they had; no split collapses), then in train,
  valid, test order; groups are taken in a fixed order (majority groups first, then ties in
  the order of their first row), so the result is deterministic;
- rows of a `fixed` split (by default a test split given as its own file) never move, and
  no row moves into it: a group with rows in a fixed split and elsewhere stays as it is, and
  is counted as `unresolved` (its copies remain in the audit).

Adapter-flanked libraries (lentiMPRA: each element between fixed adapters, in both
orientations) are not exact reverse complements of each other, since the adapters are not
reverse-complemented; their two orientations share every canonical k-mer of the element and
are near copies, so `near` is the kind that keeps them together.
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
_NONE = np.iinfo(np.uint64).max  # no k-mer here (it holds an N): above every 4^k, k ≤ 31
_CHUNK = 8192  # sequences per block of k-mer matrices (memory: 16 bytes × rows × length)


def _kmer_matrix(codes: np.ndarray, k: int) -> np.ndarray:
    """(n, L − k + 1) canonical k-mers (min of the k-mer and its reverse complement, base 4) of
    (n, L) base codes; _NONE where a k-mer holds an N."""
    width = codes.shape[1] - k + 1
    forward = np.zeros((len(codes), width), np.uint64)
    reverse = np.zeros((len(codes), width), np.uint64)
    has_n = np.zeros((len(codes), width), bool)
    for j in range(k):
        column = codes[:, j : j + width]
        has_n |= column == 255
        base = (column & 3).astype(np.uint64)
        forward = forward * np.uint64(4) + base
        reverse += (np.uint64(3) - base) << np.uint64(2 * j)
    canonical = np.minimum(forward, reverse)
    canonical[has_n] = _NONE
    return canonical


def _codes(sequences: list[str], length: int) -> np.ndarray:
    return _CODES[np.frombuffer("".join(sequences).encode(), dtype=np.uint8)].reshape(-1, length)


def canonical_kmers(sequence: str, k: int) -> np.ndarray:
    """The distinct canonical k-mers of `sequence` as integers (k ≤ 31); k-mers with an N are
    skipped."""
    if len(sequence) < k:
        return np.empty(0, dtype=np.uint64)
    kmers = np.unique(_kmer_matrix(_codes([sequence], len(sequence)), k))
    return kmers[kmers != _NONE]


def _mix(x: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of x xor seed: one independent hash function per seed."""
    with np.errstate(over="ignore"):
        z = x ^ np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def minhash(sequences: list[str], k: int, n_hashes: int) -> np.ndarray:
    """(N, n_hashes) MinHash signatures of the sequences' canonical k-mer sets, computed on
    blocks of equal-length sequences; a sequence without k-mers gets _NONE throughout."""
    signatures = np.full((len(sequences), n_hashes), _NONE, dtype=np.uint64)
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    for length in np.unique(lengths[lengths >= k]):
        rows = np.flatnonzero(lengths == length)
        for block in np.array_split(rows, -(-len(rows) // _CHUNK)):
            kmers = _kmer_matrix(_codes([sequences[i] for i in block], int(length)), k)
            missing = kmers == _NONE
            for i in range(n_hashes):
                hashed = _mix(kmers, i + 1)
                hashed[missing] = _NONE
                signatures[block, i] = hashed.min(axis=1)
    return signatures


def _near_pairs(
    sequences, split_of, k, threshold, n_bands, rows_per_band, within: bool = False
) -> dict:
    """{(row a, row b): Jaccard} of the pairs in different splits (any two rows with `within`)
    whose canonical k-mer sets have Jaccard ≥ threshold: MinHash band collisions, each
    verified exactly."""
    signatures = minhash(sequences, k, n_bands * rows_per_band)
    split_codes = np.unique(np.asarray(split_of), return_inverse=True)[1]
    has_kmers = signatures[:, 0] != _NONE
    candidates = set()
    for band in range(n_bands):
        key = np.zeros(len(sequences), np.uint64)
        for column in signatures[:, band * rows_per_band : (band + 1) * rows_per_band].T:
            key = _mix(key ^ column, band + 1)
        rows = np.flatnonzero(has_kmers)
        rows = rows[np.argsort(key[rows], kind="stable")]
        ends = np.flatnonzero(np.diff(key[rows])) + 1
        for bucket in np.split(rows, ends):
            if len(bucket) > 1 and (within or len(set(split_codes[bucket])) > 1):
                candidates.update(
                    (a, b)
                    for a, b in combinations(sorted(bucket), 2)
                    if within or split_of[a] != split_of[b]
                )
    sets: dict[int, np.ndarray] = {}
    near = {}
    for a, b in sorted(candidates):
        for row in (a, b):
            if row not in sets:
                sets[row] = canonical_kmers(sequences[row], k)
        shared = len(np.intersect1d(sets[a], sets[b], assume_unique=True))
        jaccard = shared / (len(sets[a]) + len(sets[b]) - shared)
        if jaccard >= threshold:
            near[a, b] = jaccard
    return near


def find_leaks(
    splits: dict[str, pd.DataFrame], column: str = "sequence", within: bool = False, **options
) -> pd.DataFrame:
    """Every cross-split pair of copies: columns kind, split_a, id_a, split_b, id_b, jaccard
    (split_a before split_b in train, valid, test order). With `within`, pairs inside a split
    too (what `resplit` groups by, so that a moved row takes its copies with it)."""
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
            if within or split_of[a] != split_of[b]:
                pairs[a, b] = ("exact", 1.0)
    for row, seq in enumerate(sequences):
        rc = reverse_complement(seq)
        if rc == seq:
            continue
        for other in first_row.get(rc, ()):
            if within or split_of[other] != split_of[row]:
                pairs.setdefault((min(row, other), max(row, other)), ("reverse_complement", 1.0))
    near = _near_pairs(
        sequences,
        split_of,
        settings["k"],
        settings["threshold"],
        settings["n_bands"],
        settings["rows_per_band"],
        within,
    )
    for pair in near.keys() - pairs.keys():
        pairs[pair] = ("near", near[pair])
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
    splits: dict[str, pd.DataFrame],
    leaks: pd.DataFrame,
    kinds=("exact", "reverse_complement"),
    fixed=(),
) -> tuple[dict[str, pd.DataFrame], dict]:
    """`splits` with every group of copies (connected by pairs of `kinds` in `leaks`, best
    found with `find_leaks(..., within=True)`) in one split, by the rules of the module
    docstring; rows of the `fixed` splits never move. Returns the new splits and what moved:
    `moved_into` (rows per destination), `moves` (`from->to` counts), `groups` (groups of
    copies spanning splits), `groups_moved`, `unresolved` (groups and rows left spanning a
    fixed split), `sizes_before`/`sizes_after`, and `rows`: each moved row as (id, from, to)."""
    fixed = set(fixed)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in leaks.loc[leaks["kind"].isin(kinds), ["id_a", "id_b"]].itertuples(index=False):
        parent[find(a)] = find(b)
    frame = pd.concat([splits[s].assign(_split=s) for s in SPLITS], ignore_index=True)
    split_of = dict(zip(frame["id"], frame["_split"]))
    position = {row_id: i for i, row_id in enumerate(frame["id"])}
    members: dict[str, list[str]] = {}
    for row in parent:
        members.setdefault(find(row), []).append(row)
    groups = [
        sorted(group, key=position.__getitem__)
        for group in members.values()
        if len({split_of[i] for i in group}) > 1
    ]
    before = {s: len(splits[s]) for s in SPLITS}
    size = dict(before)
    target: dict[str, str] = {}
    unresolved = {"groups": 0, "rows": 0}
    ties = []
    for group in sorted(groups, key=lambda g: position[g[0]]):
        votes = Counter(split_of[i] for i in group)
        if fixed & votes.keys():
            unresolved["groups"] += 1
            unresolved["rows"] += len(group)
            continue
        most = max(votes.values())
        best = [s for s in SPLITS if votes[s] == most]
        if len(best) > 1:
            ties.append((group, votes, best))
            continue
        _assign(group, best[0], votes, target, size)
    for group, votes, best in ties:  # each to the tied split that has shrunk most so far
        chosen = min(best, key=lambda s: (size[s] / max(before[s], 1), SPLITS.index(s)))
        _assign(group, chosen, votes, target, size)
    destination = pd.Series(
        [target.get(i, s) for i, s in zip(frame["id"], frame["_split"])], index=frame.index
    )
    moved = frame["_split"] != destination
    rows = list(zip(frame["id"][moved], frame["_split"][moved], destination[moved]))
    moves = Counter(f"{a}->{b}" for _, a, b in rows)
    new = {s: frame[destination == s].drop(columns="_split").reset_index(drop=True) for s in SPLITS}
    report = {
        "moved_into": {s: int(((destination == s) & moved).sum()) for s in SPLITS},
        "moves": {f"{a}->{b}": moves[f"{a}->{b}"] for a in SPLITS for b in SPLITS if a != b},
        "groups": len(groups),
        "groups_moved": len({find(i) for i, _, _ in rows}),
        "unresolved": unresolved,
        "fixed": sorted(fixed, key=SPLITS.index),
        "sizes_before": before,
        "sizes_after": {s: len(new[s]) for s in SPLITS},
        "rows": rows,
    }
    return new, report


def _assign(group, split, votes, target, size) -> None:
    """Send `group` to `split`, updating the running split sizes."""
    target.update({i: split for i in group})
    for s, n in votes.items():
        if s != split:
            size[s] -= n
            size[split] += n


def leakage_warning(name: str, audit: dict) -> str | None:
    """The warning for a task whose splits still share copies (after any resplit): counts per
    split pair and kind, where the semantics are documented, and what to set; None if clean."""
    parts = []
    for a, b in combinations(SPLITS, 2):
        counts = {kind: audit["pairs"][kind][f"{a}-{b}"] for kind in KINDS}
        total = sum(counts.values())
        if total:
            detail = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items() if n)
            what = "" if parts else " copies / reverse complements"
            parts.append(f"{total}{what} across {a}/{b} ({detail} pairs)")
    if not parts:
        return None
    asked = audit.get("resplit", {}).get("kinds", [])
    found = [kind for kind in KINDS if any(audit["pairs"][kind].values())]
    hint = (
        "resplit: leakage: {resplit: [exact, reverse_complement, near]} keeps each group of "
        "copies in one split (near: adapter-flanked elements in both orientations)"
    )
    missing = [kind for kind in found if kind not in asked]
    if asked and missing:
        hint = f"resplit: add {missing} to leakage.resplit (it has {asked})"
    elif asked:
        hint = (
            "resplit left them: they have rows in a fixed split "
            f"({audit['resplit'].get('fixed', [])}, given as its own file), which resplit never "
            "changes; set leakage.fixed, or remove the copies from the files"
        )
    return (
        f"warning: task {name!r}: {'; '.join(parts)}; a probe scored on a split that shares "
        f"copies with its training data may look better than it is; see docs/semantics.md, "
        f"Leakage; {hint}."
    )


def leakage_marks(table: pd.DataFrame) -> dict[str, str]:
    """{task: what its splits share} for the tasks of a `leakage_table` with copies across
    splits (pairs after any resplit), e.g. `train-valid: 732 near`: the leaderboard's and the
    report's mark."""
    marks = {}
    shared = table[table["pairs"] > 0]
    for task, rows in shared.groupby("task", sort=True):
        by_splits = []
        for splits, part in rows.groupby("splits", sort=False):
            kinds = ", ".join(f"{int(r.pairs)} {r.kind}" for r in part.itertuples())
            by_splits.append(f"{splits}: {kinds}")
        marks[task] = "; ".join(by_splits)
    return marks


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
