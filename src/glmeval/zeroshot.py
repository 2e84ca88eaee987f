"""Zero-shot variant-effect scores for SNVs (docs/paper.md, Tasks: CAGI5): embedding distances
between the ref and alt sequences, and language-model log-likelihood ratios.

Distances compare the ref and alt output matrices of one layer (default: the last), E_ref and
E_alt, over aligned content tokens (special tokens and padding excluded):
cosine = Σ(E_ref⊙E_alt) / (‖E_ref‖_F ‖E_alt‖_F), dot = Σ(E_ref⊙E_alt), l1 = Σ|E_ref − E_alt|,
l2 = Σ(E_ref − E_alt)² (squared Euclidean).

Token alignment. A variant can change the tokenization (k-mer leftovers, BPE merges), so ref
and alt tokens are paired on the *common refinement* of the two tokenizations: the base axis is
cut at every token boundary of either tokenization; each resulting segment lies inside exactly
one ref token and one alt token, and is one aligned pair (the ref state of its covering token,
the alt state of its covering token). Where both tokenizations have the same spans (fixed k-mers,
single-nucleotide tokens, most BPE cases) this is token-by-token pairing, i.e. the paper's
formula. Outputs that are not base-aligned (all-zero `n_bases`: Sei, RBP) are paired position by
position.

Likelihood ratios (`llr`), picked from the model family:
- masked LMs: the masked marginal. The ref token covering the variant base is masked, and
  llr = log p(alt token) − log p(ref token) at that position, from at most one forward pass per
  variant (variants sharing a reference and a masked token share it);
  the alt token is the ref token's string with the variant base replaced. The ref token is
  found from the token spans, not from the variant's index (an N before the variant is a token of
  its own in NT's 6-mers and shifts every later token). If that string is not in the vocabulary,
  or the ref token does not spell its bases (an unknown token), the score is NaN and the note
  says why.
- causal LMs: log-likelihood of the alt sequence minus that of the ref sequence (the sum of the
  next-token log-probabilities of every token after the first).
For a windowed model (`long_sequences: window`) the likelihood is that of the window holding the
variant, which is what the stitched model sees: the other windows are identical in ref and alt.

With `strands="both"` every score is the mean of the forward score and the score of the reverse
complement (both sequences reverse-complemented, variant index L − 1 − i, alleles complemented);
each strand's own scores are kept beside the mean (`<score>_forward`, `<score>_reverse`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from glmeval.data.sequence import check_sequences, reverse_complement
from glmeval.models.base import Embedder, Encoded, lm_head, unwrapped
from glmeval.models.families import ModelError
from glmeval.vocabulary import STRAND_VIEWS, STRANDS

DISTANCES = ("cosine", "dot", "l1", "l2")
SCORES = (*DISTANCES, "llr")
COLUMNS = ("id", "ref", "alt", "variant_index", "ref_sequence", "alt_sequence")
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


class VariantError(ValueError):
    """A variant table row is not a valid SNV; the message names the row id."""


#: A VCF's or table's key columns as the input spelled them, and the copies the windows are cut
#: from (the FASTA's sequence name, upper-cased alleles: glmeval.data.variants).
INPUT_KEYS = ("CHROM", "POS", "REF", "ALT")
WINDOW_KEYS = ("chrom", "pos", "ref", "alt")


def keyed_scores(variants: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """The zero-shot output: the variants' own columns (their windows left out), then the
    scores, row by row. One set of keys: a VCF's or table's `CHROM`, `POS`, `REF`, `ALT` as the
    input spelled them (not also `chrom`, `pos`, `ref`, `alt`, the copies the windows were cut
    from); CAGI5's `chrom`, `pos`, `ref`, `alt`."""
    keys = variants.drop(columns=["ref_sequence", "alt_sequence"])
    if set(INPUT_KEYS) <= set(keys.columns):
        keys = keys.drop(columns=[c for c in WINDOW_KEYS if c in keys.columns])
    if scored["id"].tolist() != variants["id"].tolist():
        raise ValueError("the scores are not in the variants' order (their ids differ)")
    scores = scored.drop(columns="id").set_axis(keys.index)
    return pd.concat([keys, scores], axis=1)


def score_variants(
    embedder: Embedder,
    table: pd.DataFrame,
    scores: Sequence[str] = SCORES,
    layer: int | None = None,
    strands: str = "forward",
    batch_size: int = 16,
) -> pd.DataFrame:
    """One row per `table` row, in input order: id, one column per score and `note` (empty, or
    why a score is NaN). `table` has the columns in COLUMNS; `layer` defaults to the last;
    `strands` is "forward" or "both" (mean over the two strands, and each strand's own score
    beside it: `cosine_forward`, `cosine_reverse`, ...); `batch_size` variants run per forward
    pass."""
    _check_options(embedder, scores, layer, strands)
    check_variants(table)
    forward = _score_strand(embedder, table, scores, layer, batch_size)
    if strands == "forward":
        return forward
    reverse = _score_strand(embedder, reverse_complement_table(table), scores, layer, batch_size)
    averaged = (forward[list(scores)] + reverse[list(scores)]) / 2
    strands = [
        frame[list(scores)].add_suffix(f"_{view}")
        for view, frame in zip(STRAND_VIEWS, (forward, reverse))
    ]
    notes = [_strand_note(f, r) for f, r in zip(forward["note"], reverse["note"])]
    return pd.concat([forward[["id"]], averaged, *strands], axis=1).assign(note=notes)


def available_scores(embedder: Embedder) -> tuple[str, ...]:
    """The `auto` scores: every distance, and `llr` where the model has a usable LM head."""
    try:
        _check_options(embedder, SCORES, None, "forward")
    except ModelError:
        return DISTANCES
    return SCORES


def check_variants(table: pd.DataFrame) -> None:
    """Raise VariantError unless every row is an SNV whose alt sequence is its ref sequence with
    the one base at `variant_index` changed from `ref` to `alt`."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise VariantError(f"the variant table lacks the columns {missing}; it needs {COLUMNS}.")
    check_sequences(table["ref_sequence"], table["id"], "variant table ref_sequence")
    for row in table.itertuples(index=False):
        where = f"variant table, row id {row.id!r}"
        seq, i = row.ref_sequence, row.variant_index
        if not (row.ref in tuple("ACGT") and row.alt in tuple("ACGT") and row.ref != row.alt):
            raise VariantError(
                f"{where}: ref {row.ref!r} / alt {row.alt!r} is not an SNV (two different "
                "single bases from A, C, G, T). Drop indels and multi-base variants."
            )
        if not (float(i).is_integer() and 0 <= i < len(seq)):
            raise VariantError(f"{where}: variant_index {i!r} is not a position of ref_sequence.")
        i = int(i)
        if seq[i] != row.ref:
            raise VariantError(
                f"{where}: ref allele {row.ref!r} differs from ref_sequence[{i}] = {seq[i]!r}; "
                "check the variant's coordinates and strand."
            )
        if row.alt_sequence != seq[:i] + row.alt + seq[i + 1 :]:
            raise VariantError(
                f"{where}: alt_sequence is not ref_sequence with base {i} changed to {row.alt!r}."
            )


def reverse_complement_table(table: pd.DataFrame) -> pd.DataFrame:
    """The same variants on the reverse strand: sequences reverse-complemented, index
    L - 1 - i, alleles complemented."""
    return table.assign(
        ref=table["ref"].str.translate(_COMPLEMENT),
        alt=table["alt"].str.translate(_COMPLEMENT),
        variant_index=table["ref_sequence"].str.len() - 1 - table["variant_index"],
        ref_sequence=table["ref_sequence"].map(reverse_complement),
        alt_sequence=table["alt_sequence"].map(reverse_complement),
    )


def align_tokens(ref: Encoded, alt: Encoded) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the aligned (ref, alt) pairs: the common refinement of the two
    tokenizations' content spans (module docstring); position by position where outputs are not
    base-aligned."""
    if not ref.n_bases.any() and not alt.n_bases.any():
        if len(ref) != len(alt):
            raise ValueError(f"outputs of unequal length ({len(ref)}, {len(alt)}) cannot pair")
        content = np.flatnonzero(~ref.special)
        return content, content
    if ref.n_bases.sum() != alt.n_bases.sum():
        raise ValueError("ref and alt tokens cover different numbers of bases")
    ref_pos, alt_pos = np.flatnonzero(~ref.special), np.flatnonzero(~alt.special)
    ref_starts, alt_starts = ref.spans()[ref_pos, 0], alt.spans()[alt_pos, 0]
    cuts = np.union1d(ref_starts, alt_starts)  # the start of every refined segment
    return (
        ref_pos[np.searchsorted(ref_starts, cuts, side="right") - 1],
        alt_pos[np.searchsorted(alt_starts, cuts, side="right") - 1],
    )


def pair_distances(
    ref: torch.Tensor, alt: torch.Tensor, mask: torch.Tensor
) -> dict[str, np.ndarray]:
    """The four distances per variant between (B, P, D) aligned ref and alt states, over the
    pairs where the (B, P) `mask` is True; float32 products, float64 sums."""
    keep = mask[..., None].to(ref.dtype)
    ref, alt = ref * keep, alt * keep

    def total(x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=(1, 2), dtype=torch.float64)

    dot = total(ref * alt)
    scores = {
        "cosine": dot / (total(ref * ref) * total(alt * alt)).sqrt(),
        "dot": dot,
        "l1": total((ref - alt).abs()),
        "l2": total((ref - alt) ** 2),
    }
    return {name: value.cpu().numpy() for name, value in scores.items()}


def distance_scores(
    embedder: Embedder,
    refs: Sequence[str],
    alts: Sequence[str],
    layer: int,
    batch_size: int = 16,
) -> dict[str, np.ndarray]:
    """The four distances of every (ref, alt) sequence pair at `layer`; a variant's ref and alt
    run in the same forward batch. A reference shared by several variants (every variant of a
    CAGI5 element, scored on the whole element) runs once and its states are reused."""
    ref_enc, alt_enc = _encode(embedder, refs), _encode(embedder, alts)
    lengths = [max(len(r), len(a)) for r, a in zip(ref_enc, alt_enc)]
    shared = {seq for seq, count in Counter(refs).items() if count > 1}
    cache: dict[str, torch.Tensor] = {}  # shared reference -> its (T, D) states at `layer`
    out = {name: np.empty(len(refs)) for name in DISTANCES}
    for rows in _length_batches(lengths, batch_size):
        new = list(dict.fromkeys(refs[i] for i in rows if refs[i] not in cache))
        first = {seq: next(i for i in rows if refs[i] == seq) for seq in new}
        states, _ = embedder.hidden_states(
            [ref_enc[first[seq]] for seq in new] + [alt_enc[i] for i in rows]
        )
        states = states[layer]
        computed = {seq: states[k] for k, seq in enumerate(new)}
        cache.update({seq: state for seq, state in computed.items() if seq in shared})
        ref_states = _stacked([computed.get(refs[i], cache.get(refs[i])) for i in rows])
        ref_index, alt_index, mask = _padded_pairs(
            [align_tokens(ref_enc[i], alt_enc[i]) for i in rows], states.device
        )
        batch = torch.arange(len(rows), device=states.device)[:, None]
        distances = pair_distances(
            ref_states[batch, ref_index], states[len(new) :][batch, alt_index], mask
        )
        for name, values in distances.items():
            out[name][rows] = values
    return out


def _stacked(states: list[torch.Tensor]) -> torch.Tensor:
    """(B, T, D) from (T_i, D) states, zero-padded to the longest."""
    return torch.nn.utils.rnn.pad_sequence(states, batch_first=True)


def masked_llr(
    embedder: Embedder,
    refs: Sequence[str],
    index: Sequence[int],
    alt_alleles: Sequence[str],
    batch_size: int = 16,
) -> tuple[np.ndarray, list[str]]:
    """Masked-marginal log-likelihood ratio of every variant, and a note per variant ("" or why
    its score is NaN). One forward pass (one batch row) per distinct masked input: at most one
    per variant, and one for all the variants that share a reference and a masked token."""
    tokenizer = embedder.tokenizer
    vocab = tokenizer.get_vocab()
    scores, notes = np.full(len(refs), np.nan), [""] * len(refs)
    masked = {}  # (reference, masked position) -> masked Encoded
    queries = {}  # variant -> (its masked input's key, ref id, alt id)
    for row, (seq, enc, i, alt) in enumerate(
        zip(refs, _encode(embedder, refs), index, alt_alleles)
    ):
        # the token holding base i, from the token spans: never i // k (an N before the
        # variant is a token of its own in NT's 6-mers and shifts every later token)
        spans = enc.spans()
        pos = int(np.flatnonzero((spans[:, 0] <= i) & (i < spans[:, 1]))[0])
        token = tokenizer.convert_ids_to_tokens(int(enc.ids[pos]))
        start, end = spans[pos]
        if token.upper() != seq[start:end].upper():
            notes[row] = (
                f"the variant's token {token!r} does not spell its bases {seq[start:end]!r} "
                "(an unknown token), so there is no alt token to score"
            )
            continue
        offset = i - start
        base = alt if token[offset].isupper() else alt.lower()
        alt_token = token[:offset] + base + token[offset + 1 :]
        if alt_token not in vocab:
            notes[row] = f"alt token {alt_token!r} (ref token {token!r}) is not in the vocabulary"
            continue
        if (seq, pos) not in masked:
            ids = enc.ids.copy()
            ids[pos] = tokenizer.mask_token_id
            masked[seq, pos] = dataclasses.replace(enc, ids=ids)
        queries[row] = (seq, pos), enc.ids[pos], vocab[alt_token]
    keys = list(masked)
    log_p = {}
    for chunk in _length_batches([len(masked[k]) for k in keys], batch_size):
        logits, _ = embedder.logits([masked[keys[c]] for c in chunk])
        for b, c in enumerate(chunk):
            log_p[keys[c]] = torch.log_softmax(logits[b, keys[c][1]].double(), dim=-1).cpu()
    for row, (key, ref_id, alt_id) in queries.items():
        scores[row] = (log_p[key][alt_id] - log_p[key][ref_id]).item()
    return scores, notes


def causal_llr(
    embedder: Embedder,
    refs: Sequence[str],
    alts: Sequence[str],
    batch_size: int = 16,
) -> np.ndarray:
    """log-likelihood(alt) - log-likelihood(ref) of every pair under a causal LM. Refs and alts
    of similar length share batches; a sequence several variants share runs once."""
    unique = list(dict.fromkeys([*refs, *alts]))
    encoded = _encode(embedder, unique)
    loglik = np.empty(len(unique))
    for rows in _length_batches([len(e) for e in encoded], 2 * batch_size):
        batch = [encoded[i] for i in rows]
        logits, mask = embedder.logits(batch)
        ids = torch.zeros(mask.shape, dtype=torch.long)
        for b, enc in enumerate(batch):
            ids[b, : len(enc)] = torch.from_numpy(enc.ids)
        log_p = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        next_token = log_p.gather(-1, ids[:, 1:, None].to(log_p.device))[..., 0].double()
        loglik[rows] = (next_token * mask[:, 1:]).sum(1).cpu().numpy()
    position = {seq: i for i, seq in enumerate(unique)}
    return np.array([loglik[position[a]] - loglik[position[r]] for r, a in zip(refs, alts)])


def _encode(embedder: Embedder, seqs: Sequence[str]) -> list[Encoded]:
    """`embedder.encode`, tokenizing each distinct sequence once (the variants of one element
    share its reference sequence)."""
    unique = list(dict.fromkeys(seqs))
    encoded = dict(zip(unique, embedder.encode(unique)))
    return [encoded[seq] for seq in seqs]


def _score_strand(embedder, table, scores, layer, batch_size) -> pd.DataFrame:
    refs, alts = table["ref_sequence"].tolist(), table["alt_sequence"].tolist()
    out = pd.DataFrame({"id": table["id"].to_numpy()})
    notes = [""] * len(table)
    if any(name in DISTANCES for name in scores):
        layer = embedder.n_layers if layer is None else layer
        distances = distance_scores(embedder, refs, alts, layer, batch_size)
        out = out.assign(**{name: distances[name] for name in DISTANCES if name in scores})
    if "llr" in scores:
        index = table["variant_index"].astype(int).tolist()
        lm, refs, alts, index = _variant_window(embedder, refs, alts, index)
        if lm_head(lm) == "masked_lm":
            out["llr"], notes = masked_llr(lm, refs, index, table["alt"].tolist(), batch_size)
        else:
            out["llr"] = causal_llr(lm, refs, alts, batch_size)
    return out[["id", *scores]].assign(note=notes)


def _check_options(embedder, scores, layer, strands) -> None:
    """Named errors for bad options and unsupported scores, before any forward pass."""
    unknown = [name for name in scores if name not in SCORES]
    if unknown or not scores:
        raise ValueError(f"unknown zero-shot scores {unknown}; choose from {SCORES}.")
    if strands not in STRANDS:
        raise ValueError(f"strands is {strands!r}; choose 'forward' or 'both'.")
    if layer is not None and not 0 <= layer <= embedder.n_layers:
        raise ValueError(
            f"model {embedder.name!r}: layer {layer} is not one of 0..{embedder.n_layers}."
        )
    if "llr" not in scores:
        return
    head = lm_head(embedder)
    advice = "Use the distance scores (cosine, dot, l1, l2) instead."
    if head is None:
        raise ModelError(
            f"model {embedder.name!r} is not a language model, so it has no likelihood score "
            f"('llr'). {advice}"
        )
    if not embedder.has_lm_head:
        raise ModelError(
            f"model {embedder.name!r}: the checkpoint has no LM head, so it has no likelihood "
            f"score ('llr'); a head attached now would be random. {advice}"
        )
    if head == "masked_lm" and unwrapped(embedder).tokenizer.mask_token_id is None:
        raise ModelError(
            f"model {embedder.name!r}: its tokenizer has no mask token, so no masked-marginal "
            f"score ('llr'). {advice}"
        )


def _variant_window(embedder, refs, alts, index):
    """(model, refs, alts, index) for likelihoods; for a Windowed model: its inner model and
    the window holding each variant, the variant's index in that window."""
    size = getattr(embedder, "window_bases", None)
    if size is None:
        return embedder, refs, alts, index
    starts = [i // size * size for i in index]

    def cut(seqs):
        return [seq[start : start + size] for seq, start in zip(seqs, starts)]

    return embedder.inner, cut(refs), cut(alts), [i - start for i, start in zip(index, starts)]


def _length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length (sorted by length)."""
    order = np.argsort(lengths, kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _padded_pairs(pairs, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, P) ref positions, alt positions and pair mask from per-variant index arrays."""
    width = max(len(r) for r, _ in pairs)
    ref_index = torch.zeros(len(pairs), width, dtype=torch.long)
    alt_index = torch.zeros(len(pairs), width, dtype=torch.long)
    mask = torch.zeros(len(pairs), width, dtype=torch.bool)
    for b, (r, a) in enumerate(pairs):
        ref_index[b, : len(r)] = torch.from_numpy(r)
        alt_index[b, : len(a)] = torch.from_numpy(a)
        mask[b, : len(r)] = True
    return ref_index.to(device), alt_index.to(device), mask.to(device)


def _strand_note(forward: str, reverse: str) -> str:
    pairs = (("forward", forward), ("reverse", reverse))
    return "; ".join(f"{strand} strand: {note}" for strand, note in pairs if note)
