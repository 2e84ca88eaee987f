"""Supervised sequence-to-function CNNs (Sei, the paper's RBP model) read at one internal layer.

Their input is the one-hot sequence zero-padded symmetrically to a fixed length, as the paper
fed them; their output positions (Sei's spline channels, RBP's pooled bins) are not aligned to
bases, so no position is special and `n_bases` is all zero. They have one representation
(layer 0) and no language-model head.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from glmeval.data.sequence import base_codes, padded_one_hot
from glmeval.models.base import Encoded, TokenizationError


class PaddedInputEmbedder:
    """Subclasses set name, device, input_length, n_positions, hidden_size and `features`."""

    n_layers = 0
    has_cls = False
    has_lm_head = False
    name: str
    device: torch.device
    input_length: int
    n_positions: int

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4, input_length) one-hot -> (B, n_positions, hidden_size)."""
        raise NotImplementedError

    def encode(self, seqs: Sequence[str]) -> list[Encoded]:
        encoded = []
        for row, seq in enumerate(seqs):
            if len(seq) > self.input_length:
                raise TokenizationError(
                    f"model {self.name!r}: sequence {row} is {len(seq)} bp but the model takes "
                    f"at most {self.input_length} bp. Shorten the task's sequences."
                )
            blank = np.zeros(self.n_positions, bool), np.zeros(self.n_positions, np.int32)
            encoded.append(Encoded(base_codes(seq).astype(np.int64), *blank))
        return encoded

    def hidden_states(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(padded_one_hot([enc.ids for enc in batch], self.input_length))
        with torch.inference_mode():
            states = self.features(x.float().to(self.device)).float()
        mask = torch.ones(states.shape[:2], dtype=torch.bool, device=self.device)
        return states[None], mask

    def logits(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError(
            f"model {self.name!r} is a supervised CNN with no language-model head; it has no "
            "token logits."
        )
