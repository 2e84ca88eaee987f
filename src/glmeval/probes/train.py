"""One training loop for every neural probe.

Adam (Keras epsilon 1e-7), MSE or binary cross-entropy on logits, ReduceLROnPlateau and early
stopping on the validation loss (or a validation score) with the best weights restored. Inputs may be memory-mapped
arrays: batches are read row-wise, so N × T × D never has to fit in memory.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
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


def fit(
    model: nn.Module,
    kind: str,
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    param_groups: list[dict] | None = None,
    score: tuple[str, Callable[[np.ndarray, np.ndarray], float]] | None = None,
) -> list[dict]:
    """Train `model` in place (best validation weights restored); return the per-epoch history.

    The learning-rate schedule and early stopping follow the validation loss, or, with
    `score = (name, fn(y, logits))`, that validation score, maximised (recorded as `name`).
    `param_groups` replaces `model.parameters()` as Adam's parameters (e.g. weight decay on
    some kernels only).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device(device)
    model.to(device)
    loss_fn = LOSSES[kind]()
    optimizer = torch.optim.Adam(param_groups or model.parameters(), lr=config.lr, eps=1e-7)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="max" if score else "min",
        factor=config.lr_factor,
        patience=config.lr_patience - 1,  # Keras cuts after lr_patience bad epochs, torch after +1
        min_lr=config.min_lr,
        threshold=1e-4,
        threshold_mode="abs",
    )
    sign = 1.0 if score else -1.0  # the monitored value is maximised
    best, best_state, stale, history = -np.inf, None, 0, []
    valid_y = torch.from_numpy(np.array(valid[1], dtype=np.float32))  # a copy: memmaps are read-only
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
        logits = predict(model, valid[0], config.batch_size, device)
        entry = {
            "epoch": epoch,
            "train_loss": total / len(train[0]),
            "val_loss": loss_fn(torch.from_numpy(logits), valid_y).item(),
            "lr": optimizer.param_groups[0]["lr"],
        }
        if score:
            entry[score[0]] = score[1](valid[1], logits)
        history.append(entry)
        print(
            f"epoch {epoch}: " + " ".join(f"{k} {v:.4g}" for k, v in entry.items()), file=sys.stderr
        )
        monitored = entry[score[0]] if score else entry["val_loss"]
        scheduler.step(monitored)
        if sign * monitored > best:
            best, best_state, stale = sign * monitored, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    return history
