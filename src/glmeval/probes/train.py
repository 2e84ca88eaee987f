"""One training loop for every neural probe.

Adam (Keras epsilon 1e-7), MSE or binary cross-entropy on logits, ReduceLROnPlateau and early
stopping on the validation loss with the best weights restored. Inputs may be memory-mapped
arrays: batches are read row-wise, so N × T × D never has to fit in memory.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 100
    patience: int = 10
    lr_factor: float = 0.2
    lr_patience: int = 5
    min_lr: float = 1e-8
    shuffle: bool = True


LOSSES = {"regression": nn.MSELoss, "binary": nn.BCEWithLogitsLoss}


def batches(
    x: np.ndarray, y: np.ndarray | None, batch_size: int, rng: np.random.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Float32 batches of rows of `x` (and `y`), shuffled when `rng` is given."""
    order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
    for start in range(0, len(x), batch_size):
        rows = np.sort(order[start : start + batch_size])  # sorted rows read memmaps sequentially
        xb = torch.from_numpy(np.asarray(x[rows], dtype=np.float32))
        yield xb, None if y is None else torch.from_numpy(y[rows].astype(np.float32))


def predict(model: nn.Module, x: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    """Raw model outputs (logits for binary tasks) for every row of `x`."""
    model.eval()
    with torch.inference_mode():
        outs = [model(xb.to(device)).cpu() for xb, _ in batches(x, None, batch_size)]
    return torch.cat(outs).numpy()


def _mean_loss(model, loss_fn, x, y, batch_size, device) -> float:
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for xb, yb in batches(x, y, batch_size):
            total += loss_fn(model(xb.to(device)), yb.to(device)).item() * len(xb)
    return total / len(x)


def fit(
    model: nn.Module,
    kind: str,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
) -> list[dict]:
    """Train `model` in place (best validation weights restored); return the per-epoch history."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device(device)
    model.to(device)
    loss_fn = LOSSES[kind]()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, eps=1e-7)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        factor=config.lr_factor,
        patience=config.lr_patience - 1,  # Keras cuts after lr_patience bad epochs, torch after +1
        min_lr=config.min_lr,
        threshold=1e-4,
        threshold_mode="abs",
    )
    best_loss, best_state, stale, history = float("inf"), None, 0, []
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        total = 0.0
        for xb, yb in batches(*train, config.batch_size, rng if config.shuffle else None):
            if len(xb) == 1:  # BatchNorm cannot train on a single row
                continue
            optimizer.zero_grad()
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        val_loss = _mean_loss(model, loss_fn, *valid, config.batch_size, device)
        lr = optimizer.param_groups[0]["lr"]
        history.append(
            {"epoch": epoch, "train_loss": total / len(train[0]), "val_loss": val_loss, "lr": lr}
        )
        print(
            f"epoch {epoch}: train_loss {total / len(train[0]):.4f} val_loss {val_loss:.4f} lr {lr:.1e}",
            file=sys.stderr,
        )
        scheduler.step(val_loss)
        if val_loss < best_loss:
            best_loss, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    return history
