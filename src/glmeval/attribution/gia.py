"""Global importance analysis (Koo et al. 2021; docs/paper.md): motifs embedded in dinucleotide-
shuffled backgrounds, alone and in pairs across spacings (tangermeme `ersatz`, `marginalize`,
`space`). For a pair A, B with B starting `spacing` bases after A ends, the interaction is
Δ(AB) − Δ(A) − Δ(B): the effect of the pair beyond the sum of its parts, 0 for an additive
model and positive for cooperativity. Δ is the mean change of the model's output over the
backgrounds; each motif's Δ alone is measured at the position it takes in the pair.

Its chance level is a shuffled-motif control: the same interaction of the pair's motifs with
their letters shuffled (seeded; same length and composition, no longer the motif), at the same
positions in the same backgrounds. The table gives the interaction's 95 % interval over the
backgrounds (t), the control's mean and interval (`null_*`), and the paired t-test p-value of
interaction − control over the backgrounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

COLUMNS = [
    "motif_a",
    "motif_b",
    "spacing",
    "start_a",
    "start_b",
    "delta_a",
    "delta_b",
    "delta_ab",
    "interaction",
    "interaction_sd",
    "interaction_low",
    "interaction_high",
    "control_a",
    "control_b",
    "null_mean",
    "null_low",
    "null_high",
    "pvalue",
    "n_backgrounds",
]


def shuffled_motif(motif: str, seed: int) -> str:
    """`motif`'s letters in a seeded random order that differs from it (where any does)."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        out = "".join(rng.permutation(list(motif)))
        if out != motif:
            return out
    return motif


def mean_interval(values: np.ndarray) -> tuple[float, float]:
    """The 95 % t interval of the mean of `values`."""
    from scipy import stats

    values = np.asarray(values, float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def backgrounds(x: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """(n, 4, L) dinucleotide shuffles of the one-hot sequence `x` (4, L)."""
    from tangermeme.ersatz import dinucleotide_shuffle

    return dinucleotide_shuffle(x[None], n=n, random_state=seed)[0]


def global_importance(
    model: nn.Module,
    background: torch.Tensor,
    motifs: Mapping[str, str],
    pairs: Sequence[tuple[str, str]],
    spacings: Sequence[int],
    start: int,
    batch_size: int = 64,
    device: str = "cpu",
    seed: int = 0,
) -> pd.DataFrame:
    """One row per pair and spacing (COLUMNS): the pair's first motif at `start`, the second
    `spacing` bases after its end, in every background (N, 4, L), and the same of the
    shuffled-motif control (each motif shuffled with `seed`)."""
    from scipy import stats
    from tangermeme.marginalize import marginalize
    from tangermeme.space import space

    kwargs = {"batch_size": batch_size, "device": device}

    def effect(result) -> np.ndarray:
        before, after = (t.double().reshape(len(background), -1).mean(1) for t in result)
        return (after - before).numpy()

    controls = {name: shuffled_motif(m, seed + i) for i, (name, m) in enumerate(motifs.items())}

    alone: dict[tuple[str, int], np.ndarray] = {}

    def marginal(site: str, at: int) -> np.ndarray:
        if (site, at) not in alone:
            alone[site, at] = effect(marginalize(model, background, site, start=at, **kwargs))
        return alone[site, at]

    def interaction(sites: Mapping[str, str], a: str, b: str, spacing: int):
        start_b = start + len(sites[a]) + spacing
        delta_a, delta_b = marginal(sites[a], start), marginal(sites[b], start_b)
        pair = space(model, background, [sites[a], sites[b]], [[spacing]], start=start, **kwargs)
        delta_ab = effect(pair)
        return delta_a, delta_b, delta_ab, delta_ab - delta_a - delta_b

    rows = []
    for a, b in pairs:
        for spacing in spacings:
            start_b = start + len(motifs[a]) + spacing
            if start_b + len(motifs[b]) > background.shape[-1]:
                raise ValueError(
                    f"GIA: {b} at {start_b} ({spacing} bases after {a} at {start}) runs past the "
                    f"{background.shape[-1]}-base sequence; use smaller spacings or start."
                )
            delta_a, delta_b, delta_ab, observed = interaction(motifs, a, b, spacing)
            *_, control = interaction(controls, a, b, spacing)
            low, high = mean_interval(observed)
            null_low, null_high = mean_interval(control)
            rows.append(
                {
                    "motif_a": a,
                    "motif_b": b,
                    "spacing": spacing,
                    "start_a": start,
                    "start_b": start_b,
                    "delta_a": delta_a.mean(),
                    "delta_b": delta_b.mean(),
                    "delta_ab": delta_ab.mean(),
                    "interaction": observed.mean(),
                    "interaction_sd": observed.std(ddof=1),
                    "interaction_low": low,
                    "interaction_high": high,
                    "control_a": controls[a],
                    "control_b": controls[b],
                    "null_mean": control.mean(),
                    "null_low": null_low,
                    "null_high": null_high,
                    "pvalue": float(stats.ttest_rel(observed, control).pvalue),
                    "n_backgrounds": len(background),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
