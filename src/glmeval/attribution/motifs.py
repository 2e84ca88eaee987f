"""Motifs in attribution maps: seqlets (tangermeme `recursive_seqlets`) annotated with TOMTOM
against a motif database (`annotate_seqlets`, memelite), which motifs each map recovers, and
how much the maps of different models agree.

A seqlet is a span whose per-base importance (`importance.per_base`) stands out of the map's own
distribution (`threshold`: its p-value); it is matched to the database motif TOMTOM ranks first,
and counts as that motif when the match's p-value is below `max_pvalue`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats

from glmeval.attribution.maps import one_hot
from glmeval.io import atomic_path

SEQLET_COLUMNS = ["map", "row", "id", "start", "end", "score", "motif", "motif_pvalue"]


def write_meme(pwms: Mapping[str, np.ndarray], path) -> None:
    """A MEME-format motif file (memelite) of (len, 4) probability matrices (A, C, G, T)."""
    from memelite.io import write_meme as memelite_write_meme

    with atomic_path(path) as tmp:
        memelite_write_meme(str(tmp), {name: np.asarray(pwm).T for name, pwm in pwms.items()})


def seqlets(
    importance: np.ndarray,
    sequences: Sequence[str],
    ids: Sequence[str],
    motifs_path: str,
    threshold: float = 0.01,
    max_pvalue: float = 0.05,
    min_length: int = 4,
    max_length: int = 20,
) -> pd.DataFrame:
    """Seqlets of a (N, L) importance map with their best database match (SEQLET_COLUMNS but
    `map`); `motif` is empty where no match reaches `max_pvalue`."""
    from tangermeme.annotate import annotate_seqlets
    from tangermeme.seqlet import recursive_seqlets

    scores = torch.from_numpy(np.nan_to_num(np.asarray(importance, np.float32)))
    found = recursive_seqlets(
        scores, threshold=threshold, min_seqlet_len=min_length, max_seqlet_len=max_length
    )
    columns = [c for c in SEQLET_COLUMNS if c != "map"]
    if found.empty:
        return pd.DataFrame(columns=columns)
    found = found.rename(columns={"example_idx": "row", "attribution": "score"})
    index, pvalues = annotate_seqlets(one_hot(sequences), found, motifs_path, n_jobs=1)
    names = motif_names(motifs_path)
    found["motif_pvalue"] = pvalues[:, 0].numpy()
    found["motif"] = [
        names[i] if p < max_pvalue else "" for i, p in zip(index[:, 0].tolist(), found.motif_pvalue)
    ]
    found["id"] = np.asarray(ids)[found["row"].to_numpy()]
    return found[columns].sort_values(["row", "start"]).reset_index(drop=True)


def motif_names(path: str) -> list[str]:
    """Motif names of a MEME file, in file order (TOMTOM's indices)."""
    with open(path) as meme:
        return [line.split()[1] for line in meme if line.startswith("MOTIF")]


def recovery(found: pd.DataFrame, n_sequences: int) -> pd.DataFrame:
    """Per map and matched motif: seqlets, sequences holding one, and that as a fraction of
    the selected sequences."""
    hits = found[found["motif"] != ""]
    table = hits.groupby(["map", "motif"]).agg(
        n_seqlets=("row", "size"), n_sequences=("row", "nunique")
    )
    table["fraction"] = table["n_sequences"] / n_sequences
    return table.reset_index()


def agreement(importance: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Per pair of maps: the mean over sequences of the per-sequence Pearson and Spearman r
    between their (N, L) importances (the paper's comparison: docs/paper.md, Attribution), and
    the sequences with a defined r."""
    rows = []
    names = list(importance)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            pearson, spearman = [], []
            for x, y in zip(importance[a], importance[b]):
                keep = np.isfinite(x) & np.isfinite(y)
                if keep.sum() > 2 and np.ptp(x[keep]) > 0 and np.ptp(y[keep]) > 0:
                    pearson.append(stats.pearsonr(x[keep], y[keep])[0])
                    spearman.append(stats.spearmanr(x[keep], y[keep])[0])
            rows.append(
                {
                    "map_a": a,
                    "map_b": b,
                    "pearson": float(np.mean(pearson)) if pearson else np.nan,
                    "spearman": float(np.mean(spearman)) if spearman else np.nan,
                    "n_sequences": len(pearson),
                }
            )
    return pd.DataFrame(rows, columns=["map_a", "map_b", "pearson", "spearman", "n_sequences"])
