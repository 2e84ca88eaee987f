"""The Embedder protocol that every model family implements.

Layer indices: 0 is the embedding output and `n_layers` the last block's output, as the
model itself returns it (for ESM / Nucleotide Transformer that last state is after the final
layer norm, matching the paper's "layer 32"). See docs/semantics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch


@dataclass(frozen=True)
class Encoded:
    """One tokenized sequence.

    `ids`: token ids (for one-hot: base codes 0-3, 4 = N); `special`: True for tokens that carry
    no nucleotide (CLS, SEP, EOS, ...); `n_bases`: nucleotides covered by each token (0 for
    special tokens), so token i spans bases [cumsum - n_bases, cumsum).
    """

    ids: np.ndarray
    special: np.ndarray
    n_bases: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

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
    device: torch.device

    def encode(self, seqs: Sequence[str]) -> list[Encoded]: ...

    def hidden_states(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        """(layers+1, B, T, D) float hidden states and the (B, T) padding mask (True = token)."""
        ...


class TokenizationError(ValueError):
    """A tokenizer altered, dropped or overflowed the input bases."""


def padding_mask(batch: list[Encoded], device: torch.device) -> torch.Tensor:
    width = max(map(len, batch))
    lengths = torch.tensor([len(e) for e in batch], device=device)
    return torch.arange(width, device=device)[None, :] < lengths[:, None]
