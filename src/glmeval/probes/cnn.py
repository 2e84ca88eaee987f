"""`rep_cnn` (paper §3.1): the CNN probe on token-level representations (and on one-hot)."""

from __future__ import annotations

import torch
from torch import nn

from glmeval.probes.layers import Exp, batch_norm, init_normal


class RepCNN(nn.Module):
    """BN, k=1 conv to `reduce_dim`, two conv blocks (exp then ReLU), two dense blocks.

    Input (B, T, D). Pooling is Keras 'valid' (floor); `width` scales the conv and dense widths,
    not `reduce_dim`, as in the paper.
    """

    def __init__(
        self,
        n_tokens: int,
        dim: int,
        n_out: int = 1,
        width: float = 1.0,
        reduce_dim: int = 128,
        bn_momentum: float = 0.99,
    ):
        super().__init__()
        c1, c2, d1, d2 = (int(n * width) for n in (196, 256, 512, 256))
        flat_len = n_tokens // 5 // 4
        if flat_len == 0:
            raise ValueError(
                f"rep_cnn needs at least 20 tokens (two max-pools of 5 and 4); got {n_tokens}."
            )
        self.features = nn.Sequential(
            batch_norm(dim, bn_momentum),
            nn.Conv1d(dim, reduce_dim, 1),
            nn.Conv1d(reduce_dim, c1, 7, padding=3),
            batch_norm(c1, bn_momentum),
            Exp(),
            nn.Dropout(0.2),
            nn.MaxPool1d(5),
            nn.Conv1d(c1, c2, 7, padding=3),
            batch_norm(c2, bn_momentum),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.Dropout(0.2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * flat_len, d1),
            batch_norm(d1, bn_momentum),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(d1, d2),
            batch_norm(d2, bn_momentum),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(d2, n_out),
        )
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.transpose(1, 2)))
