"""Keras defaults the paper relied on, made explicit for PyTorch (see docs/deviations.md)."""

from __future__ import annotations

from torch import nn


def batch_norm(channels: int, momentum: float = 0.99) -> nn.BatchNorm1d:
    """Keras BatchNormalization: `momentum` in Keras' convention (0.99 = PyTorch 0.01), eps 1e-3.

    Keras' 0.99 suits the paper's 10^5-row training sets; on a few thousand rows the running
    statistics lag the weights and validation loss swings, so small runs lower it (e.g. 0.9).
    """
    return nn.BatchNorm1d(channels, eps=1e-3, momentum=1.0 - momentum)


def init_normal(module: nn.Module, std: float = 0.005) -> None:
    """RandomNormal(0, std) kernels and zero biases on every conv and dense layer."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d)):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class Exp(nn.Module):
    """Keras 'exponential' activation."""

    def forward(self, x):
        return x.exp()
