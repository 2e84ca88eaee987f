"""The one-hot baseline as a model family: its only layer is the (L, 4) one-hot matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from glmeval.data.sequence import base_codes
from glmeval.models.base import Encoded, padding_mask


class OneHotEmbedder:
    """A, C, G, T channels; N is `n_value` in every channel (0.0 by default, see docs/semantics.md)."""

    n_layers = 0
    hidden_size = 4
    has_cls = False
    has_lm_head = False

    def __init__(self, name: str = "onehot", n_value: float = 0.0, device: str = "cpu"):
        self.name = name
        self.device = torch.device(device)
        self._table = torch.zeros(5, 4)
        self._table[:4] = torch.eye(4)
        self._table[4] = n_value

    def encode(self, seqs: Sequence[str]) -> list[Encoded]:
        encoded = []
        for seq in seqs:
            ids = base_codes(seq)
            encoded.append(Encoded(ids, np.zeros(len(ids), bool), np.ones(len(ids), np.int32)))
        return encoded

    def hidden_states(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        mask = padding_mask(batch, self.device)
        ids = torch.full(mask.shape, 4, dtype=torch.long)
        for row, enc in enumerate(batch):
            ids[row, : len(enc)] = torch.from_numpy(enc.ids.astype(np.int64))
        states = self._table[ids].to(self.device) * mask[..., None]
        return states[None], mask
