"""Global importance analysis (Koo et al. 2021; docs/paper.md): motifs embedded in dinucleotide-
shuffled backgrounds, alone and in pairs across spacings (tangermeme `ersatz`, `marginalize`,
`space`). For a pair A, B with B starting `spacing` bases after A ends, the interaction is
Δ(AB) − Δ(A) − Δ(B): the effect of the pair beyond the sum of its parts, 0 for an additive
model and positive for cooperativity. Δ is the mean change of the model's output over the
backgrounds; each motif's Δ alone is measured at the position it takes in the pair.
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
    "n_backgrounds",
]


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
) -> pd.DataFrame:
    """One row per pair and spacing (COLUMNS): the pair's first motif at `start`, the second
    `spacing` bases after its end, in every background (N, 4, L)."""
    from tangermeme.marginalize import marginalize
    from tangermeme.space import space

    kwargs = {"batch_size": batch_size, "device": device}

    def effect(result) -> np.ndarray:
        before, after = (t.double().reshape(len(background), -1).mean(1) for t in result)
        return (after - before).numpy()

    rows = []
    for a, b in pairs:
        delta_a = effect(marginalize(model, background, motifs[a], start=start, **kwargs))
        for spacing in spacings:
            start_b = start + len(motifs[a]) + spacing
            if start_b + len(motifs[b]) > background.shape[-1]:
                raise ValueError(
                    f"GIA: {b} at {start_b} ({spacing} bases after {a} at {start}) runs past the "
                    f"{background.shape[-1]}-base sequence; use smaller spacings or start."
                )
            delta_b = effect(marginalize(model, background, motifs[b], start=start_b, **kwargs))
            pair = space(
                model, background, [motifs[a], motifs[b]], [[spacing]], start=start, **kwargs
            )
            delta_ab = effect(pair)
            interaction = delta_ab - delta_a - delta_b
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
                    "interaction": interaction.mean(),
                    "interaction_sd": interaction.std(ddof=1),
                    "n_backgrounds": len(background),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
