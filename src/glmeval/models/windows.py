"""Sequences longer than a model's context, embedded as windows and stitched back together.

A sequence is cut into consecutive, non-overlapping windows of `window_bases` nucleotides; each
window is tokenized and run on its own. The stitched sequence keeps the leading special tokens
of the first window (e.g. CLS), the base-carrying tokens of every window in order, and the
trailing special tokens of the last window, so every base is covered exactly once and the
pooled mean is over all of the sequence's bases. A window sees no context beyond its own edges.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from glmeval.models.base import Embedder, Encoded, TokenizationError


class Windowed:
    """An Embedder that runs `inner` on windows of at most `window_bases` bases."""

    def __init__(self, inner: Embedder, window_bases: int):
        self.inner = inner
        self.window_bases = window_bases
        for attr in (
            "name",
            "n_layers",
            "hidden_size",
            "has_cls",
            "has_lm_head",
            "device",
        ):
            setattr(self, attr, getattr(inner, attr))

    def encode(self, seqs: Sequence[str]) -> list[Encoded]:
        encoded = []
        for index, seq in enumerate(seqs):
            size = self.window_bases
            pieces = [seq[start : start + size] for start in range(0, len(seq), size)] or [seq]
            try:
                windows = self.inner.encode(pieces)
            except TokenizationError as err:
                raise TokenizationError(
                    f"model {self.name!r}, sequence {index} ({len(seq)} bases) cut into windows "
                    f"of {size} bases: {err} Lower models.{self.name}.window_bases."
                ) from err
            kept = [
                _kept(w, first=j == 0, last=j == len(windows) - 1) for j, w in enumerate(windows)
            ]
            encoded.append(
                Encoded(
                    ids=np.concatenate([w.ids[k] for w, k in zip(windows, kept)]),
                    special=np.concatenate([w.special[k] for w, k in zip(windows, kept)]),
                    n_bases=np.concatenate([w.n_bases[k] for w, k in zip(windows, kept)]),
                    windows=tuple(zip(windows, kept)),
                )
            )
        return encoded

    def hidden_states(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        def rows_first(windows):
            states, mask = self.inner.hidden_states(windows)
            return states.movedim(1, 0), mask  # (R, S, T, D)

        states, mask = self._stitched(batch, rows_first, token_dim=1)
        return states.movedim(0, 1), mask

    def logits(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        return self._stitched(batch, self.inner.logits, token_dim=0)

    def _stitched(self, batch, run, token_dim: int):
        """Run the windows, len(batch) at a time; concatenate each sequence's kept positions.

        `run(windows)` returns (rows, ...) outputs whose rows have tokens on `token_dim`."""
        flat = [(row, win, kept) for row, enc in enumerate(batch) for win, kept in enc.windows]
        parts: list[list[torch.Tensor]] = [[] for _ in batch]
        for start in range(0, len(flat), len(batch)):
            chunk = flat[start : start + len(batch)]
            out, _ = run([win for _, win, _ in chunk])
            for offset, (row, _, kept) in enumerate(chunk):
                index = torch.from_numpy(kept).to(out.device)
                parts[row].append(out[offset].index_select(token_dim, index))
        sequences = [torch.cat(p, dim=token_dim) for p in parts]
        lengths = [s.shape[token_dim] for s in sequences]
        shape = list(sequences[0].shape)
        shape[token_dim] = max(lengths)
        stitched = sequences[0].new_zeros(len(batch), *shape)
        for row, seq in enumerate(sequences):
            stitched[row].narrow(token_dim, 0, lengths[row]).copy_(seq)
        mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
        return stitched, mask.to(stitched.device)


def _kept(window: Encoded, first: bool, last: bool) -> np.ndarray:
    """Positions of `window` kept in the stitched sequence."""
    content = np.flatnonzero(~window.special)
    begin, end = (content[0], content[-1] + 1) if len(content) else (0, 0)
    positions = np.arange(len(window))
    keep = ~window.special
    if first:
        keep |= positions < begin
    if last:
        keep |= positions >= end
    return np.flatnonzero(keep)
