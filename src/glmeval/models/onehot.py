"""The one-hot baseline as a model family: its only layer is the one-hot matrix.

With `k` > 1, position i is the one-hot (4^k channels, A < C < G < T, first base most
significant) of the k-mer starting at base i: mean pooling then gives the k-mer composition
(k = 2: the paper's dinucleotide baseline, as frequencies rather than counts). k-mers that
contain N or run past the sequence end are zero rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from glmeval.data.sequence import base_codes
from glmeval.models.base import Encoded, padding_mask


class OneHotEmbedder:
    """A, C, G, T channels (k = 1); N is `n_value` in every channel (0.0 by default, see
    docs/semantics.md). Larger `k`: one channel per k-mer (module docstring)."""

    n_layers = 0
    has_cls = False
    has_lm_head = False

    def __init__(self, name: str = "onehot", n_value: float = 0.0, device: str = "cpu", k: int = 1):
        self.name = name
        self.k = k
        self.hidden_size = 4**k
        self.device = torch.device(device)
        self._table = torch.zeros(self.hidden_size + 1, self.hidden_size)
        self._table[: self.hidden_size] = torch.eye(self.hidden_size)
        self._table[self.hidden_size] = n_value if k == 1 else 0.0

    def _kmer_ids(self, codes: np.ndarray) -> np.ndarray:
        """Each position's k-mer index, `hidden_size` where it has N or runs past the end."""
        if self.k == 1:
            return codes
        n, ids = len(codes), np.zeros(len(codes), np.int64)
        valid = np.zeros(n, bool)
        valid[: max(n - self.k + 1, 0)] = True
        for offset in range(self.k):
            shifted = np.full(n, 4, np.int64)
            shifted[: max(n - offset, 0)] = codes[offset:]  # nothing left once offset >= n
            valid &= shifted < 4
            ids = ids * 4 + np.minimum(shifted, 3)
        return np.where(valid, ids, self.hidden_size)

    def encode(self, seqs: Sequence[str]) -> list[Encoded]:
        encoded = []
        for seq in seqs:
            ids = self._kmer_ids(base_codes(seq).astype(np.int64))
            encoded.append(Encoded(ids, np.zeros(len(ids), bool), np.ones(len(ids), np.int32)))
        return encoded

    def hidden_states(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        mask = padding_mask(batch, self.device)
        ids = torch.full(mask.shape, self.hidden_size, dtype=torch.long)
        for row, enc in enumerate(batch):
            ids[row, : len(enc)] = torch.from_numpy(enc.ids.astype(np.int64))
        states = self._table[ids].to(self.device) * mask[..., None]
        return states[None], mask
