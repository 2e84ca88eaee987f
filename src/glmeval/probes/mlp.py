"""`rep_mlp` (docs/paper.md, Probes): the MLP probe on pooled representations."""

from __future__ import annotations

from torch import nn

from glmeval.nn.layers import dense_block, init_normal


class RepMLP(nn.Sequential):
    """Dense(512w)-BN-ReLU-Dropout(0.5)-Dense(256w)-BN-ReLU-Dropout(0.5)-Dense(n_out)."""

    def __init__(
        self, input_dim: int, n_out: int = 1, width: float = 1.0, bn_momentum: float = 0.99
    ):
        h1, h2 = int(512 * width), int(256 * width)
        super().__init__(
            nn.Flatten(),
            *dense_block(input_dim, h1, bn_momentum),
            *dense_block(h1, h2, bn_momentum),
            nn.Linear(h2, n_out),
        )
        init_normal(self)
