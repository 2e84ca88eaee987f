"""The paper's convolutional models (docs/paper.md, Probes), ported from Keras to PyTorch.

- `RepCNN` (`rep_cnn`): the Task 1 CNN probe on token-level representations and one-hot;
- `ResidualBind` (`ResNet`) and `MPRAnn`: the lentiMPRA one-hot baselines;
- `ChipCNN` (`chip_cnn`): the ChIP-seq / eCLIP probe (Tasks 2 and 6);
- `SpliceCNN` (`mtsplice_model`): the two-input alternative-splicing probe (Task 4);
- `InsertCNN` (`model_2CNN`): the INSERT-seq probe (Task 5).

Every model takes channels-last input (B, T, D), as the Keras originals do, and returns raw
(B, n_out) outputs: the regression value, or the logits of a binary task (the Keras sigmoid is
folded into the loss). Keras semantics are explicit: `valid` convolutions unless the original
says 'same', floor max-pooling, BN eps 1e-3 with Keras momentum (`batch_norm`), and each
original's initializer (`init_normal`, `init_glorot`, `init_he_uniform`). Keras flattens
(length, channels) where PyTorch flattens (channels, length): the dense layer after a flatten
sees its inputs in another order, with the same parameter count and initial distribution, which
only matters for loading Keras weights (never done here).
"""

from __future__ import annotations

import torch
from torch import nn

from glmeval.nn.layers import (
    Exp,
    ResidualBlock,
    batch_norm,
    dense_block,
    init_glorot,
    init_he_uniform,
    init_normal,
)


def _too_short(name: str, minimum: int, pools: str, n_tokens: int) -> ValueError:
    return ValueError(f"{name} needs at least {minimum} tokens ({pools}); got {n_tokens}.")


def _conv_block(c_in: int, c_out: int, kernel: int, pool: int, bn_momentum: float) -> list:
    """Conv1D(c_out, kernel, 'same') → BN → ReLU → MaxPool(pool) → Dropout(0.2)."""
    return [
        nn.Conv1d(c_in, c_out, kernel, padding="same"),
        batch_norm(c_out, bn_momentum),
        nn.ReLU(),
        nn.MaxPool1d(pool),
        nn.Dropout(0.2),
    ]


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
            raise _too_short("RepCNN (rep_cnn)", 20, "max-pools of 5 and 4", n_tokens)
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
            *dense_block(c2 * flat_len, d1, bn_momentum),
            *dense_block(d1, d2, bn_momentum),
            nn.Linear(d2, n_out),
        )
        init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.transpose(1, 2)))


class ResidualBind(nn.Module):
    """`ResNet` ("ResidualBind" in Table 1): the lentiMPRA one-hot baseline.

    GlorotUniform init, SiLU throughout. Conv1D(196, 19, same) → BN → SiLU → Dropout(0.2);
    `residual_block(k=3, dilations 1, 2, 4, 8, 16, silu)`; Dropout(0.2) → MaxPool(5) →
    Conv1D(256, 7, same) → BN → SiLU → Dropout(0.2) → MaxPool(5); Dense(256) per position (a
    k=1 convolution) → BN → SiLU → Dropout(0.5) → AveragePooling1D(2) → Flatten; Dense(256) →
    BN → SiLU → Dropout(0.5) → Dense(n_out). At 230 nt the lengths are 230→46→9→4: flatten 1024.
    """

    def __init__(self, n_tokens: int, dim: int = 4, n_out: int = 1, bn_momentum: float = 0.99):
        super().__init__()
        m = bn_momentum
        self.flat_len = n_tokens // 5 // 5 // 2
        if self.flat_len == 0:
            raise _too_short(
                "ResidualBind (ResNet)", 50, "max-pools of 5 and 5, average-pool of 2", n_tokens
            )
        self.features = nn.Sequential(
            nn.Conv1d(dim, 196, 19, padding="same"),
            batch_norm(196, m),
            nn.SiLU(),
            nn.Dropout(0.2),
            ResidualBlock(196, 3, (1, 2, 4, 8, 16), nn.SiLU, 0.1, m),
            nn.Dropout(0.2),
            nn.MaxPool1d(5),
            nn.Conv1d(196, 256, 7, padding="same"),
            batch_norm(256, m),
            nn.SiLU(),
            nn.Dropout(0.2),
            nn.MaxPool1d(5),
            nn.Conv1d(256, 256, 1),  # Keras Dense(256) on (length, channels): per position
            batch_norm(256, m),
            nn.SiLU(),
            nn.Dropout(0.5),
            nn.AvgPool1d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            *dense_block(256 * self.flat_len, 256, m, nn.SiLU),
            nn.Linear(256, n_out),
        )
        init_glorot(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.transpose(1, 2)))


class MPRAnn(nn.Module):
    """`MPRAnn` (Agarwal et al.'s architecture, retrained on one-hot).

    Keras default GlorotUniform init; every convolution 'valid'; softmax is over channels at
    each position (Keras' last axis). Conv1D(250, 7, relu) → BN → Conv1D(250, 8, softmax) → BN
    → MaxPool(2) → Dropout(0.1) → Conv1D(250, 3, softmax) → BN → Conv1D(100, 2, softmax) → BN
    → MaxPool(1) → Dropout(0.1) → Flatten → Dense(300, sigmoid) → Dropout(0.3) → Dense(200,
    sigmoid) → Dense(n_out). At 230 nt: 224→217→108→106→105, flatten 105×100 = 10500.
    """

    def __init__(self, n_tokens: int, dim: int = 4, n_out: int = 1, bn_momentum: float = 0.99):
        super().__init__()
        m = bn_momentum
        self.flat_len = (n_tokens - 6 - 7) // 2 - 2 - 1
        if self.flat_len <= 0:
            raise _too_short(
                "MPRAnn", 21, "valid convolutions of 7, 8, 3 and 2, max-pool of 2", n_tokens
            )
        self.features = nn.Sequential(
            nn.Conv1d(dim, 250, 7),
            nn.ReLU(),
            batch_norm(250, m),
            nn.Conv1d(250, 250, 8),
            nn.Softmax(dim=1),
            batch_norm(250, m),
            nn.MaxPool1d(2),
            nn.Dropout(0.1),
            nn.Conv1d(250, 250, 3),
            nn.Softmax(dim=1),
            batch_norm(250, m),
            nn.Conv1d(250, 100, 2),
            nn.Softmax(dim=1),
            batch_norm(100, m),
            nn.MaxPool1d(1),  # an identity, kept to mirror the Keras layer list
            nn.Dropout(0.1),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(100 * self.flat_len, 300),
            nn.Sigmoid(),
            nn.Dropout(0.3),
            nn.Linear(300, 200),
            nn.Sigmoid(),
            nn.Linear(200, n_out),
        )
        init_glorot(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.transpose(1, 2)))


class ChipCNN(nn.Module):
    """`chip_cnn`: the ChIP-seq / eCLIP probe (Tasks 2 and 6).

    [BN → Conv1D(reduce_dim=512, 1)] → three blocks Conv1D('same') → BN → ReLU → MaxPool →
    Dropout(0.2) with (64, 7, pool 4), (96, 5, pool 4), (128, 5, pool 2) → Flatten → Dense(256)
    → BN → ReLU → Dropout(0.5) → Dense(n_out) (logits; Keras applies a sigmoid).

    Init as in the code: HeUniform on the convolutions (the k=1 reduction included); the two
    Dense layers pass no initializer, so they keep Keras' default GlorotUniform.

    `reduce=True` is `NT_CNN.py`. `reduce=False` reproduces `representation_perf.py`, used for
    every non-NT input (docs/paper.md, Known issues: `chip_cnn` wiring): its first 64-filter
    conv reads the raw input, so the BN and k=1 reduction are dead code and not in the Keras
    model; here they are absent.
    """

    def __init__(
        self,
        n_tokens: int,
        dim: int,
        n_out: int = 1,
        reduce_dim: int = 512,
        reduce: bool = True,
        bn_momentum: float = 0.99,
    ):
        super().__init__()
        m = bn_momentum
        self.flat_len = n_tokens // 4 // 4 // 2
        if self.flat_len == 0:
            raise _too_short("ChipCNN (chip_cnn)", 32, "max-pools of 4, 4 and 2", n_tokens)
        if reduce:
            self.reduction = nn.Sequential(batch_norm(dim, m), nn.Conv1d(dim, reduce_dim, 1))
        else:
            self.reduction = nn.Identity()
        self.features = nn.Sequential(
            *_conv_block(reduce_dim if reduce else dim, 64, 7, 4, m),
            *_conv_block(64, 96, 5, 4, m),
            *_conv_block(96, 128, 5, 2, m),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            *dense_block(128 * self.flat_len, 256, m),
            nn.Linear(256, n_out),
        )
        init_he_uniform(self.reduction)
        init_he_uniform(self.features)
        init_glorot(self.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.reduction(x.transpose(1, 2))))


class SpliceCNN(nn.Module):
    """`mtsplice_model`: the two-input alternative-splicing probe (Task 4).

    Left and right inputs, each (B, T, D), through separate branches Conv1D(128, 7, same) → BN
    → ReLU → MaxPool(4) → Dropout(0.2); concatenated along the length axis (left first); then
    Conv1D(164, 5, same) → BN → ReLU → MaxPool(4) → Dropout(0.2) → Conv1D(256, 5, same) → BN →
    ReLU → MaxPool(2) → Dropout(0.2) → Flatten → two Dense(256) → BN → ReLU → Dropout(0.5) →
    Dense(n_out=56, linear). At (400, 4) per side: 100 + 100 → 200 → 50 → 25, flatten 6400.

    Init as in the code: HeUniform on the convolutions, Keras' default GlorotUniform on the
    Dense layers (they pass no initializer).

    `reduce_dim`: an int inserts BN → Conv1D(reduce_dim, 1) (HeUniform) at the start of each
    branch, as `chip_cnn` does; a guess at the undefined `mtsplice_embed_model` that the NT
    (71, 2560) probe called (docs/paper.md, Known issues: undefined splicing model). None
    (default) is `mtsplice_model` as written.
    """

    def __init__(
        self,
        n_tokens: int,
        dim: int,
        n_out: int = 56,
        reduce_dim: int | None = None,
        bn_momentum: float = 0.99,
    ):
        super().__init__()
        m = bn_momentum
        self.n_tokens = n_tokens
        self.flat_len = 2 * (n_tokens // 4) // 4 // 2
        if self.flat_len == 0:
            raise _too_short(
                "SpliceCNN (mtsplice_model)",
                16,
                "per side; max-pool of 4, then of 4 and 2 after concatenation",
                n_tokens,
            )

        def branch() -> nn.Sequential:
            if reduce_dim is None:
                return nn.Sequential(*_conv_block(dim, 128, 7, 4, m))
            reduction = [batch_norm(dim, m), nn.Conv1d(dim, reduce_dim, 1)]
            return nn.Sequential(*reduction, *_conv_block(reduce_dim, 128, 7, 4, m))

        self.left, self.right = branch(), branch()
        self.trunk = nn.Sequential(*_conv_block(128, 164, 5, 4, m), *_conv_block(164, 256, 5, 2, m))
        self.head = nn.Sequential(
            nn.Flatten(),
            *dense_block(256 * self.flat_len, 256, m),
            *dense_block(256, 256, m),
            nn.Linear(256, n_out),
        )
        for part in (self.left, self.right, self.trunk):
            init_he_uniform(part)
        init_glorot(self.head)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        if left.shape != right.shape:
            raise ValueError(
                f"SpliceCNN: left and right inputs must have the same shape; got "
                f"{tuple(left.shape)} and {tuple(right.shape)}."
            )
        both = torch.cat([self.left(left.transpose(1, 2)), self.right(right.transpose(1, 2))], 2)
        return self.head(self.trunk(both))


class InsertCNN(nn.Module):
    """`model_2CNN` (`RNAenlong/subsample.py`): the INSERT-seq probe (Task 5).

    Keras' default GlorotUniform init throughout. [optional LayerNormalization over channels,
    eps 1e-3] → Conv1D(48, 1) → Conv1D(96, 19, same, no bias, L2 1e-8) → BN → exponential →
    Dropout(0.1) → `residual_block(k=3, dilations 2, 4, relu)` → MaxPool(10) → Dropout(0.1) →
    Conv1D(128, 7, same, no bias, L2 1e-8) → BN → ReLU → GlobalAveragePooling → Dropout(0.1) →
    Dense(128, relu) → Dropout(0.5) → Dense(n_out, linear). `l2_kernels()` lists the two
    regularised kernels, as `RBPNet.l2_kernels` does (train with weight decay 2e-8 on them).
    """

    def __init__(
        self,
        n_tokens: int,
        dim: int,
        n_out: int = 1,
        layer_norm: bool = False,
        bn_momentum: float = 0.99,
    ):
        super().__init__()
        m = bn_momentum
        if n_tokens // 10 == 0:
            raise _too_short("InsertCNN (model_2CNN)", 10, "max-pool of 10", n_tokens)
        self.norm = nn.LayerNorm(dim, eps=1e-3) if layer_norm else nn.Identity()
        self.features = nn.Sequential(
            nn.Conv1d(dim, 48, 1),
            nn.Conv1d(48, 96, 19, padding="same", bias=False),
            batch_norm(96, m),
            Exp(),
            nn.Dropout(0.1),
            ResidualBlock(96, 3, (2, 4), nn.ReLU, 0.1, m),
            nn.MaxPool1d(10),
            nn.Dropout(0.1),
            nn.Conv1d(96, 128, 7, padding="same", bias=False),
            batch_norm(128, m),
            nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Dropout(0.1),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, n_out),
        )
        init_glorot(self)

    def l2_kernels(self) -> list[nn.Parameter]:
        """The kernels that carry Keras' L2(1e-8) regulariser: conv 96 and conv 128."""
        return [self.features[1].weight, self.features[8].weight]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.norm(x).transpose(1, 2)).mean(-1))
