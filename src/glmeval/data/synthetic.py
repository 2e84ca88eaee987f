"""Seeded synthetic regulatory tasks whose answer is known.

Sequences are drawn from an i.i.d. background and carry motif instances sampled from a handful
of built-in position weight matrices (PWMs). Each row records the planted instances in the
`motifs` column (`name:strand:start;...`), so attribution methods can be scored against truth.

- `motif_regression`: activity is an additive function of the planted motifs, scaled by their
  distance to the sequence centre, plus a cooperative term for an AP1–ETS pair within 25 bp, plus
  Gaussian noise; standardised to mean 0, sd 1.
- `motif_grammar`: label 1 iff the sequence holds ETS followed by AP1 on the same strand with a
  4–12 bp spacer; negatives carry the same motifs alone, in the wrong order or too far apart.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from glmeval.data.sequence import ALPHABET, reverse_complement

CONSENSUS = {
    "AP1": "TGACTCA",
    "ETS": "CCGGAAGT",
    "GATA": "AGATAAGG",
    "CEBP": "TTGCGCAA",
    "SP1": "GGGGCGGGG",
    "NFY": "AGCCAATCA",
}
#: Additive effect of one instance on activity (motif_regression).
EFFECTS = {"AP1": 1.0, "ETS": 0.8, "GATA": 0.6, "CEBP": -0.8, "SP1": 0.5, "NFY": 0.4}
COOPERATIVE_BONUS = 1.5
NOISE_SD = 0.5
GC_CONTENT = 0.42


def pwm(consensus: str, specificity: float = 0.94) -> np.ndarray:
    """A (len, 4) PWM putting `specificity` on the consensus base and the rest evenly elsewhere."""
    mat = np.full((len(consensus), 4), (1 - specificity) / 3)
    mat[np.arange(len(consensus)), [ALPHABET.index(b) for b in consensus]] = specificity
    return mat


PWMS = {name: pwm(seq) for name, seq in CONSENSUS.items()}
#: Each PWM row's normalised cumulative distribution, as `Generator.choice(4, p=row)` builds it.
_CDFS = {name: mat.cumsum(1) / mat.cumsum(1)[:, -1:] for name, mat in PWMS.items()}


def _background(rng: np.random.Generator, length: int) -> list[str]:
    p = [(1 - GC_CONTENT) / 2, GC_CONTENT / 2, GC_CONTENT / 2, (1 - GC_CONTENT) / 2]
    return list(rng.choice(list(ALPHABET), size=length, p=p))


def _sample_motif(rng: np.random.Generator, name: str, strand: str) -> str:
    cdf = _CDFS[name]  # one uniform per position: the draws of rng.choice(4, p=row), row by row
    picks = (rng.random(len(cdf))[:, None] >= cdf).sum(1)
    site = "".join(ALPHABET[i] for i in picks)
    return site if strand == "+" else reverse_complement(site)


def _plant(rng, bases: list[str], placements: list[tuple[str, str, int]]) -> str:
    for name, strand, start in placements:
        site = _sample_motif(rng, name, strand)
        bases[start : start + len(site)] = list(site)
    return "".join(bases)


def _free_positions(rng, length: int, names: list[str], max_tries: int = 50) -> list[int] | None:
    """Random non-overlapping starts for motifs `names`, or None if none found."""
    for _ in range(max_tries):
        starts = [int(rng.integers(0, length - len(CONSENSUS[n]) + 1)) for n in names]
        spans = sorted((s, s + len(CONSENSUS[n])) for s, n in zip(starts, names))
        if all(a[1] <= b[0] for a, b in pairwise(spans)):
            return starts
    return None


def _annotate(placements: list[tuple[str, str, int]]) -> str:
    return ";".join(f"{n}:{s}:{p}" for n, s, p in sorted(placements, key=lambda t: t[2]))


def motif_regression(n: int, length: int = 230, seed: int = 0) -> pd.DataFrame:
    """Rows of `id`, `sequence`, `activity`, `motifs` (see module docstring)."""
    rng = np.random.default_rng(seed)
    names = list(CONSENSUS)
    rows = []
    while len(rows) < n:
        chosen = list(rng.choice(names, size=min(int(rng.poisson(2.5)), 6)))
        starts = _free_positions(rng, length, chosen)
        if starts is None:
            continue
        placements = [(m, str(rng.choice(["+", "-"])), s) for m, s in zip(chosen, starts)]
        seq = _plant(rng, _background(rng, length), placements)
        activity = 0.0
        centre = length / 2
        for m, _, s in placements:
            activity += EFFECTS[m] * (1.5 - abs(s + len(CONSENSUS[m]) / 2 - centre) / centre)
        ap1 = [s for m, _, s in placements if m == "AP1"]
        ets = [s for m, _, s in placements if m == "ETS"]
        if any(abs(a - e) <= 25 for a in ap1 for e in ets):
            activity += COOPERATIVE_BONUS
        activity += rng.normal(0, NOISE_SD)
        rows.append((seq, activity, _annotate(placements)))
    df = pd.DataFrame(rows, columns=["sequence", "activity", "motifs"])
    df["activity"] = (df["activity"] - df["activity"].mean()) / df["activity"].std()
    df.insert(0, "id", [f"seq{i:06d}" for i in range(n)])
    return df


def _grammar_placements(rng, length: int, positive: bool) -> list[tuple[str, str, int]]:
    strand = str(rng.choice(["+", "-"]))
    distractors = list(rng.choice(["GATA", "CEBP", "SP1", "NFY"], size=int(rng.integers(0, 3))))
    la, lb = len(CONSENSUS["ETS"]), len(CONSENSUS["AP1"])
    if positive:
        gap = int(rng.integers(4, 13))
        block = la + gap + lb
        first, second = ("ETS", "AP1") if strand == "+" else ("AP1", "ETS")
        offset = la + gap if strand == "+" else lb + gap
        pair_names, pair_offsets = [first, second], [0, offset]
    else:
        case = rng.integers(0, 4)
        if case == 0:  # ETS alone
            pair_names, pair_offsets, block = ["ETS"], [0], la
        elif case == 1:  # AP1 alone
            pair_names, pair_offsets, block = ["AP1"], [0], lb
        elif case == 2:  # wrong order on the same strand
            gap = int(rng.integers(4, 13))
            first, second = ("AP1", "ETS") if strand == "+" else ("ETS", "AP1")
            offset = len(CONSENSUS[first]) + gap
            pair_names, pair_offsets = [first, second], [0, offset]
            block = offset + len(CONSENSUS[second])
        else:  # both present but too far apart
            offset = 60 + int(rng.integers(0, 40))
            pair_names, pair_offsets, block = ["ETS", "AP1"], [0, offset], offset + lb
    anchor = int(rng.integers(0, length - block + 1))
    placements = [(n, strand, anchor + o) for n, o in zip(pair_names, pair_offsets)]
    occupied = [(s, s + len(CONSENSUS[n])) for n, _, s in placements]
    for name in distractors:
        starts = _free_positions(rng, length, [name])
        span = (starts[0], starts[0] + len(CONSENSUS[name]))
        if all(span[1] <= a or span[0] >= b for a, b in occupied):
            occupied.append(span)
            placements.append((name, str(rng.choice(["+", "-"])), starts[0]))
    return placements


def motif_grammar(n: int, length: int = 200, seed: int = 0) -> pd.DataFrame:
    """Rows of `id`, `sequence`, `label` (0/1), `motifs` (see module docstring)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2)
    rows = []
    for label in labels:
        placements = _grammar_placements(rng, length, bool(label))
        seq = _plant(rng, _background(rng, length), placements)
        rows.append((seq, int(label), _annotate(placements)))
    df = pd.DataFrame(rows, columns=["sequence", "label", "motifs"])
    df.insert(0, "id", [f"seq{i:06d}" for i in range(n)])
    return df


GENERATORS = {"motif_regression": motif_regression, "motif_grammar": motif_grammar}


#: Decoy motifs are named `decoy_01`, `decoy_02`, ...: a seqlet matched to one is reported as
#: such and is not the recovery of a planted motif.
DECOY_PREFIX = "decoy_"
#: Targets of the synthetic motif database: the planted motifs among decoys, so that TOMTOM's
#: p-values (whose background is the targets' columns) rest on MEME's recommended 50 targets
#: rather than six (memelite warns below 25).
DATABASE_SIZE = 50


def decoy_pwms(n: int = DATABASE_SIZE - len(CONSENSUS), seed: int = 0) -> dict[str, np.ndarray]:
    """`n` seeded decoy PWMs (`pwm` of random consensus sequences of the planted motifs'
    lengths, 7-9 bases), none sharing a 5-mer with a planted consensus on either strand."""
    rng = np.random.default_rng(seed)
    planted = {
        seq[i : i + 5]
        for consensus in CONSENSUS.values()
        for seq in (consensus, reverse_complement(consensus))
        for i in range(len(seq) - 4)
    }
    decoys: dict[str, np.ndarray] = {}
    while len(decoys) < n:
        consensus = "".join(rng.choice(list(ALPHABET), int(rng.integers(7, 10))))
        if any(consensus[i : i + 5] in planted for i in range(len(consensus) - 4)):
            continue
        decoys[f"{DECOY_PREFIX}{len(decoys) + 1:02d}"] = pwm(consensus)
    return decoys


def motif_database(seed: int = 0) -> dict[str, np.ndarray]:
    """The synthetic motif database (`attribution.motifs: synthetic`): the planted PWMs, then
    the decoys."""
    return PWMS | decoy_pwms(seed=seed)
