"""Motifs in attribution maps: seqlets (tangermeme `recursive_seqlets`) annotated with TOMTOM
against a motif database (`annotate_seqlets`, memelite), which motifs each map recovers, how
much the maps of different models agree, and how much importance lies on planted bases; each
with its chance level.

A seqlet is a span whose per-base importance (`importance.per_base`) stands out of the map's own
distribution (`threshold`: its p-value); it is matched to the database motif TOMTOM ranks first,
and counts as that motif when the match's p-value is below `max_pvalue` (a decoy of the
synthetic database, `decoy_*`, is reported as such: it is no recovery).

The null of every summary (docs/attribution.md, Chance levels) is the same statistic on null
maps: each sequence's map circularly shifted by a random offset (per sequence and draw, at
least `max_length` bases from 0), which keeps the map's own structure (its peaks, their widths
and number) and breaks only its alignment with the sequence. Each table gives the observed
value, the null's mean and 2.5-97.5 % interval over the draws, and the empirical p-value
(1 + #draws at least as extreme) / (1 + draws).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from glmeval.attribution.maps import one_hot
from glmeval.data.synthetic import DECOY_PREFIX
from glmeval.io import atomic_path

SEQLET_COLUMNS = ["map", "row", "id", "start", "end", "score", "motif", "motif_pvalue"]
#: The chance-level columns every summary table carries after its observed value.
NULL_COLUMNS = ["null_mean", "null_low", "null_high", "pvalue", "n_draws"]
RECOVERY_COLUMNS = ["map", "motif", "decoy", "n_seqlets", "n_sequences", "fraction"]
RECOVERY_COLUMNS += NULL_COLUMNS
AGREEMENT_STATS = ("pearson", "spearman")
PLANTED_COLUMNS = ["map", "share", "planted_fraction", "enrichment", *NULL_COLUMNS]


def null_offsets(n_sequences: int, length: int, draws: int, seed: int, min_shift: int = 20):
    """(draws, N) circular-shift offsets, uniform on [min_shift, length - min_shift] so that
    no null map stays within a seqlet's length of its own alignment (all offsets but 0 where
    the sequence is too short for that)."""
    rng = np.random.default_rng(seed)
    low = min_shift if length > 2 * min_shift else 1
    return rng.integers(low, max(length - low + 1, low + 1), size=(draws, n_sequences))


def shifted(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(D, N, L) null maps: row n of the (N, L) map rolled by offsets[d, n] in draw d."""
    length = values.shape[-1]
    index = (np.arange(length)[None, None] - offsets[..., None]) % length
    return np.take_along_axis(np.broadcast_to(values, (len(offsets), *values.shape)), index, 2)


def null_summary(observed: float, null: np.ndarray, two_sided: bool = False) -> dict:
    """The null's mean and 2.5-97.5 % interval and the empirical p-value of `observed`:
    (1 + #draws ≥ observed) / (1 + draws), or with |draw − mean| ≥ |observed − mean| where
    `two_sided`. NaN draws are dropped; all NaN (or observed NaN): NaN."""
    null = np.asarray(null, float)
    null = null[np.isfinite(null)]
    if not len(null) or not np.isfinite(observed):
        return dict.fromkeys(NULL_COLUMNS[:-1], np.nan) | {"n_draws": len(null)}
    mean = float(null.mean())
    if two_sided:
        extreme = np.abs(null - mean) >= abs(observed - mean) - 1e-12
    else:
        extreme = null >= observed - 1e-12
    low, high = np.percentile(null, [2.5, 97.5])
    return {
        "null_mean": mean,
        "null_low": float(low),
        "null_high": float(high),
        "pvalue": float((1 + extreme.sum()) / (1 + len(null))),
        "n_draws": len(null),
    }


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


def is_decoy(motif: str) -> bool:
    return motif.startswith(DECOY_PREFIX)


def null_seqlets(
    importance: np.ndarray,
    sequences: Sequence[str],
    offsets: np.ndarray,
    motifs_path: str,
    threshold: float = 0.01,
    max_pvalue: float = 0.05,
) -> pd.DataFrame:
    """Seqlets of every null draw of a (N, L) map (`shifted` by `offsets`, (D, N)), called
    and annotated in one batch (the draws stacked as extra rows): SEQLET_COLUMNS but `map`
    and `id`, with `draw`, and `row` the sequence's row in the selection."""
    draws, n = offsets.shape
    stacked = shifted(np.nan_to_num(np.asarray(importance, np.float32)), offsets)
    found = seqlets(
        stacked.reshape(draws * n, -1),
        list(sequences) * draws,
        np.arange(draws * n),
        motifs_path,
        threshold,
        max_pvalue,
    )
    rows = found["row"].to_numpy(int)
    return found.drop(columns="id").assign(draw=rows // n, row=rows % n)


def recovery(
    found: pd.DataFrame,
    n_sequences: int,
    null: pd.DataFrame | None = None,
    draws: int = 0,
) -> pd.DataFrame:
    """Per map and matched motif (RECOVERY_COLUMNS): seqlets, sequences holding one, that as
    a fraction of the selected sequences, whether the motif is a decoy, and the fraction's
    chance level over the `draws` of `null` (`null_seqlets` of each map, with `map`): one
    row for each motif matched in the map or in its null maps."""
    hits = found[found["motif"] != ""]
    table = hits.groupby(["map", "motif"]).agg(
        n_seqlets=("row", "size"), n_sequences=("row", "nunique")
    )
    table["fraction"] = table["n_sequences"] / n_sequences
    fractions = pd.Series(dtype=float)
    if null is not None and draws:
        null_hits = null[null["motif"] != ""]
        fractions = null_hits.groupby(["map", "motif", "draw"])["row"].nunique() / n_sequences
        pairs = fractions.index.droplevel("draw").unique()
        table = table.reindex(table.index.union(pairs)).fillna(
            {"n_seqlets": 0, "n_sequences": 0, "fraction": 0.0}
        )
    rows = []
    for (label, motif), observed in table.iterrows():
        if null is not None and draws:
            per_draw = np.zeros(draws)
            if (label, motif) in fractions.index.droplevel("draw"):
                drawn = fractions.loc[(label, motif)]
                per_draw[drawn.index.to_numpy(int)] = drawn.to_numpy()
            chance = null_summary(observed["fraction"], per_draw)
        else:
            chance = dict.fromkeys(NULL_COLUMNS, np.nan) | {"n_draws": 0}
        rows.append(
            {
                "map": label,
                "motif": motif,
                "decoy": is_decoy(motif),
                "n_seqlets": int(observed["n_seqlets"]),
                "n_sequences": int(observed["n_sequences"]),
                "fraction": observed["fraction"],
                **chance,
            }
        )
    return pd.DataFrame(rows, columns=RECOVERY_COLUMNS)


def row_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of (..., L) arrays; NaN where a row is constant."""
    x = x - x.mean(-1, keepdims=True)
    y = y - y.mean(-1, keepdims=True)
    norm = np.sqrt((x * x).sum(-1) * (y * y).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (x * y).sum(-1) / norm, np.nan)


def _row_means(r: np.ndarray) -> np.ndarray:
    """The mean of each row of `r` over its finite values (NaN where none is)."""
    finite = np.isfinite(r)
    count = finite.sum(-1)
    total = np.where(finite, r, 0).sum(-1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def agreement(
    importance: Mapping[str, np.ndarray], offsets: np.ndarray | None = None
) -> pd.DataFrame:
    """Per pair of maps: the mean over sequences of the per-sequence Pearson and Spearman r
    between their (N, L) importances (the paper's comparison: docs/paper.md, Attribution;
    non-finite values count as 0, constant rows are left out), the sequences with a defined
    r, and each r's two-sided chance level with the second map `shifted` by `offsets`."""
    from scipy.stats import rankdata

    values = {k: np.nan_to_num(np.asarray(v, float)) for k, v in importance.items()}
    ranks = {k: rankdata(v, axis=-1) for k, v in values.items()}
    rows = []
    names = list(values)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            row = {"map_a": a, "map_b": b}
            for stat, source in zip(AGREEMENT_STATS, (values, ranks)):
                r = row_correlations(source[a], source[b])
                row[stat] = float(_row_means(r))
                row["n_sequences"] = int(np.isfinite(r).sum())
                if offsets is None:
                    chance = dict.fromkeys(NULL_COLUMNS, np.nan) | {"n_draws": 0}
                else:
                    null = row_correlations(source[a][None], shifted(source[b], offsets))
                    chance = null_summary(row[stat], _row_means(null), two_sided=True)
                row |= {f"{stat}_{k}": v for k, v in chance.items()}
            rows.append(row)
    columns = ["map_a", "map_b", "pearson", "spearman", "n_sequences"]
    columns += [f"{stat}_{k}" for stat in AGREEMENT_STATS for k in NULL_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def planted_mask(selection: pd.DataFrame, lengths: Mapping[str, int]) -> np.ndarray | None:
    """(N, L) True on each selected sequence's planted motif bases (its `motifs` column,
    `name:strand:start;...`, as the synthetic tasks record them; each motif as long as
    `lengths` says); None where the selection records no planted motifs."""
    if "motifs" not in selection:
        return None
    annotations = selection["motifs"].fillna("").astype(str)
    if not annotations.str.len().any():
        return None
    mask = np.zeros((len(selection), len(selection["sequence"].iloc[0])), bool)
    for n, planted in enumerate(annotations):
        for site in filter(None, planted.split(";")):
            name, _, start = site.split(":")
            if name in lengths:  # a motif of unknown length is left out
                mask[n, int(start) : int(start) + lengths[name]] = True
    return mask


def planted_share(
    importance: Mapping[str, np.ndarray], mask: np.ndarray, offsets: np.ndarray | None = None
) -> pd.DataFrame:
    """Per map (PLANTED_COLUMNS): the share of its |importance| on planted bases (all
    sequences pooled), the planted bases' share of all bases, the enrichment share / null
    mean, and the share's chance level with each sequence's map `shifted` by `offsets`."""
    rows = []
    for label, values in importance.items():
        magnitude = np.abs(np.nan_to_num(np.asarray(values, float)))
        total = magnitude.sum()
        share = float((magnitude * mask).sum() / total) if total > 0 else np.nan
        if offsets is None or not total > 0:
            chance = dict.fromkeys(NULL_COLUMNS, np.nan) | {"n_draws": 0}
        else:
            null = (shifted(magnitude, offsets) * mask).sum((1, 2)) / total
            chance = null_summary(share, null)
        enrichment = share / chance["null_mean"] if chance["null_mean"] > 0 else np.nan
        rows.append(
            {
                "map": label,
                "share": share,
                "planted_fraction": float(mask.mean()),
                "enrichment": enrichment,
                **chance,
            }
        )
    return pd.DataFrame(rows, columns=PLANTED_COLUMNS)
