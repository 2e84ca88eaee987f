"""Keras defaults the paper relied on, made explicit for PyTorch (see docs/deviations.md)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn


def batch_norm(channels: int, momentum: float = 0.99) -> nn.BatchNorm1d:
    """Keras BatchNormalization: `momentum` in Keras' convention (0.99 = PyTorch 0.01), eps 1e-3.

    Keras' 0.99 suits the paper's 10^5-row training sets; on a few thousand rows the running
    statistics lag the weights and validation loss swings, so small runs lower it (e.g. 0.9).
    """
    return nn.BatchNorm1d(channels, eps=1e-3, momentum=1.0 - momentum)


def dense_block(n_in: int, n_out: int, bn_momentum: float, activation=nn.ReLU) -> list:
    """Dense(n_out) → BN → activation → Dropout(0.5): the paper's dense block, as layers to
    unpack into an `nn.Sequential`."""
    return [nn.Linear(n_in, n_out), batch_norm(n_out, bn_momentum), activation(), nn.Dropout(0.5)]


def _kernels(module: nn.Module):
    """Every conv and dense layer in `module` (itself included), in `modules()` order."""
    return [layer for layer in module.modules() if isinstance(layer, (nn.Linear, nn.Conv1d))]


def init_normal(module: nn.Module, std: float = 0.005) -> None:
    """RandomNormal(0, std) kernels and zero biases on every conv and dense layer."""
    for layer in _kernels(module):
        nn.init.normal_(layer.weight, 0.0, std)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def init_glorot(module: nn.Module) -> None:
    """Keras' default GlorotUniform kernels and zero biases on every conv and dense layer.

    uniform(±sqrt(6 / (fan_in + fan_out))) with fan = channels x kernel size, which is what
    `xavier_uniform_` computes for Conv1d (out, in, k) and Linear (out, in) weights.
    """
    for layer in _kernels(module):
        nn.init.xavier_uniform_(layer.weight)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def init_he_uniform(module: nn.Module) -> None:
    """Keras HeUniform kernels, uniform(±sqrt(6 / fan_in)), fan_in = in x kernel size, and zero
    biases on every conv and dense layer."""
    for layer in _kernels(module):
        fan_in = layer.weight[0].numel()
        bound = math.sqrt(6.0 / fan_in)
        nn.init.uniform_(layer.weight, -bound, bound)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


class Exp(nn.Module):
    """Keras 'exponential' activation."""

    def forward(self, x):
        return x.exp()


class ResidualBlock(nn.Module):
    """Keras `residual_block` (ResidualBind, `model_2CNN`, the RBP model; docs/paper.md, Probes),
    on (B, C, L), channels preserved.

    Conv1D(C, k, dilation 1, no bias, 'same') → BN; then for each dilation d: activation →
    Dropout → Conv1D(C, k, dilation d, no bias, 'same') → BN; add the block input; activation.
    `activation` is a module class (a fresh instance per use), e.g. `nn.ReLU` or `nn.SiLU`.
    The ResNet's `dilated=5` is `dilations=(1, 2, 4, 8, 16)`; the RBP and INSERT-seq models'
    `dilated=True` is `(2, 4)`.
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        dilations: Sequence[int] = (2, 4),
        activation: Callable[[], nn.Module] = nn.ReLU,
        dropout: float = 0.1,
        bn_momentum: float = 0.99,
    ):
        super().__init__()
        c, k = channels, kernel_size
        layers = [nn.Conv1d(c, c, k, padding="same", bias=False), batch_norm(c, bn_momentum)]
        for dilation in dilations:
            layers += [
                activation(),
                nn.Dropout(dropout),
                nn.Conv1d(c, c, k, padding="same", dilation=dilation, bias=False),
                batch_norm(c, bn_momentum),
            ]
        self.body = nn.Sequential(*layers)
        self.activation = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x + self.body(x))
