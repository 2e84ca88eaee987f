"""The Embedder protocol that every model family implements.

Layer indices: 0 is the embedding output and `n_layers` the last block's output, as the
model itself returns it (for ESM / Nucleotide Transformer that last state is after the final
layer norm, matching the paper's "layer 32"). See docs/semantics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # torch is imported where models run, not where the workflow is planned
    import torch


@dataclass(frozen=True)
class Encoded:
    """One tokenized sequence.

    `ids`: the model's input ids (for one-hot: base codes 0-3, 4 = N). `special` and `n_bases`
    describe the model's *output positions*: `special` is True where a position carries no
    nucleotide (CLS, SEP, EOS, ...), `n_bases` is the number of nucleotides each position covers
    (0 for special ones), so position i spans bases [cumsum - n_bases, cumsum). For language
    models positions are tokens; supervised models whose outputs are not base-aligned (Sei, RBP)
    have no special positions and all-zero `n_bases`.
    """

    ids: np.ndarray
    special: np.ndarray
    n_bases: np.ndarray
    windows: tuple = ()  # (window Encoded, kept positions) pairs this sequence is stitched from

    def __len__(self) -> int:
        return len(self.special)

    def spans(self) -> np.ndarray:
        """(T, 2) [start, end) nucleotide span of every token; special tokens get (-1, -1)."""
        end = np.cumsum(self.n_bases)
        spans = np.stack([end - self.n_bases, end], axis=1)
        spans[self.special] = -1
        return spans


class Embedder(Protocol):
    name: str
    n_layers: int  # number of blocks; hidden states are indexed 0..n_layers
    hidden_size: int
    has_cls: bool  # token 0 is a CLS token whose state summarises the sequence
    has_lm_head: bool  # `logits` is available
    device: torch.device
    strands: str  # forward | both: what `glmeval.embed.extract` embeds (set by load_embedder)

    def encode(self, seqs: Sequence[str]) -> list[Encoded]: ...

    def hidden_states(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        """(layers+1, B, T, D) float hidden states and the (B, T) padding mask (True = token)."""
        ...

    def logits(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, V) float LM logits over the vocabulary and the (B, T) padding mask."""
        ...


def unwrapped(embedder: Embedder) -> Embedder:
    """The model behind a wrapper (a Windowed model's `inner`); the embedder itself otherwise."""
    return getattr(embedder, "inner", embedder)


def lm_head(embedder: Embedder) -> str | None:
    """'masked_lm', 'causal_lm' or None (not a language model)."""
    family = getattr(unwrapped(embedder), "family", None)
    return getattr(family, "head", None)


class TokenizationError(ValueError):
    """A tokenizer altered, dropped or overflowed the input bases."""


def padding_mask(batch: list[Encoded], device: torch.device) -> torch.Tensor:
    import torch

    width = max(map(len, batch))
    lengths = torch.tensor([len(e) for e in batch], device=device)
    return torch.arange(width, device=device)[None, :] < lengths[:, None]
