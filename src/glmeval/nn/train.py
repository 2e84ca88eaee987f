"""One training loop for every neural probe and for the models the workflow trains itself
(glmeval.models.rbp).

Adam (Keras epsilon 1e-7), a loss from `LOSSES`, ReduceLROnPlateau and early stopping on the
validation loss (or a validation score) with the best weights restored. Inputs are arrays or
row readers (`glmeval.nn.rows.RowFile`), or a tuple of them for two-input models (splicing's
left and right halves): batches are read row-wise, so N × T × D never has to fit in memory.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from glmeval.nn.rows import prefetch


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


class DiffKL(nn.Module):
    """The splicing loss `diff_KL` (docs/paper.md, Tasks: splicing) on Δlogit predictions.

    Targets are (B, tissues + 1): Δlogit per tissue (NaN where unobserved) and, last, the exon's
    mean logit. ψ = σ(Δ + mean logit), clipped to [1e-5, 1 - 1e-5]; the Bernoulli KL of the
    observed entries, averaged over all (exon, tissue) entries as in the paper.
    """

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        delta, offset = target[:, :-1], target[:, -1:]
        observed = ~torch.isnan(delta)
        psi_pred = torch.sigmoid(pred + offset).clamp(1e-5, 1 - 1e-5)
        psi_true = torch.sigmoid(torch.nan_to_num(delta) + offset).clamp(1e-5, 1 - 1e-5)
        psi_true = torch.where(observed, psi_true, psi_pred.detach())
        kl = psi_true * torch.log(psi_true / psi_pred) + (1 - psi_true) * torch.log(
            (1 - psi_true) / (1 - psi_pred)
        )
        return (kl * observed).mean()


class BCEOnOutputs(nn.Module):
    """Keras `BinaryCrossentropy(from_logits=False)` on a linear output: the output is clipped
    to [1e-7, 1 - 1e-7] and read as a probability. The paper's NT-MLP bug (docs/paper.md,
    Known issues: NT MLP loss), kept for `paper_compat` only."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy(pred.clamp(1e-7, 1 - 1e-7), target)


LOSSES = {
    "mse": nn.MSELoss,
    "bce": nn.BCEWithLogitsLoss,
    "diff_kl": DiffKL,
    "bce_on_outputs": BCEOnOutputs,
}


def l2_param_groups(model: nn.Module, l2: float = 1e-8) -> list[dict] | None:
    """Adam parameter groups that apply Keras' L2(`l2`) kernel regulariser to the kernels a
    model lists in `l2_kernels()`: weight decay 2·l2 gives the identical gradient. None for
    models without such kernels."""
    if not hasattr(model, "l2_kernels"):
        return None
    decayed = {id(p) for p in model.l2_kernels()}
    return [
        {"params": model.l2_kernels(), "weight_decay": 2 * l2},
        {"params": [p for p in model.parameters() if id(p) not in decayed]},
    ]


def _read(x, rows: np.ndarray):
    if isinstance(x, tuple):
        return tuple(_read(part, rows) for part in x)
    return torch.from_numpy(np.ascontiguousarray(x[rows])).float()  # torch casts fp16 faster


def _to(xb, device: torch.device):
    return tuple(part.to(device) for part in xb) if isinstance(xb, tuple) else (xb.to(device),)


def n_rows(x) -> int:
    return len(x[0]) if isinstance(x, tuple) else len(x)


def batches(
    x, y: np.ndarray | None, batch_size: int, rng: np.random.Generator | None = None
) -> Iterator[tuple[torch.Tensor | tuple, torch.Tensor | None]]:
    """Float32 batches of rows of `x` (an array, a row reader or a tuple of them) and `y`,
    shuffled when `rng` is given."""
    n = n_rows(x)
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        rows = np.sort(order[start : start + batch_size])  # sorted rows read files sequentially
        yield _read(x, rows), None if y is None else torch.from_numpy(y[rows].astype(np.float32))


def predict(model: nn.Module, x, batch_size: int, device: torch.device) -> np.ndarray:
    """Raw model outputs (logits for binary tasks) for every row of `x`."""
    model.eval()
    with torch.inference_mode():
        outs = [model(*_to(xb, device)).cpu() for xb, _ in prefetch(batches(x, None, batch_size))]
    return torch.cat(outs).numpy()


def fit(
    model: nn.Module,
    loss: str,
    train: tuple,
    valid: tuple,
    config: TrainConfig,
    seed: int,
    device: str = "cpu",
    param_groups: list[dict] | None = None,
    score: tuple[str, Callable[[np.ndarray, np.ndarray], float]] | None = None,
) -> list[dict]:
    """Train `model` in place with the loss named `loss` (a key of LOSSES); restore the best
    validation weights; return the per-epoch history. `train` and `valid` are (x, y) pairs.

    The learning-rate schedule and early stopping follow the validation loss, or, with
    `score = (name, fn(y, logits))`, that validation score, maximised (recorded as `name`).
    `param_groups` replaces `model.parameters()` as Adam's parameters (e.g. weight decay on
    some kernels only).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device(device)
    model.to(device)
    loss_fn = LOSSES[loss]()
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
    valid_y = torch.from_numpy(
        np.array(valid[1], dtype=np.float32)
    )  # a copy: memmaps are read-only
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        started, total = time.perf_counter(), 0.0
        # the next batch is read from disk while this one trains
        for xb, yb in prefetch(batches(*train, config.batch_size, rng if config.shuffle else None)):
            if len(yb) == 1:  # BatchNorm cannot train on a single row
                continue
            optimizer.zero_grad()
            batch_loss = loss_fn(model(*_to(xb, device)), yb.to(device))
            batch_loss.backward()
            optimizer.step()
            total += batch_loss.item() * len(yb)
        logits = predict(model, valid[0], config.batch_size, device)
        entry = {
            "epoch": epoch,
            "train_loss": total / len(train[1]),
            "val_loss": loss_fn(torch.from_numpy(logits), valid_y).item(),
            "lr": optimizer.param_groups[0]["lr"],
        }
        if score:
            entry[score[0]] = score[1](valid[1], logits)
        history.append(entry)
        seconds = time.perf_counter() - started  # logged only: the history is deterministic
        print(
            f"epoch {epoch}: "
            + " ".join(f"{k} {v:.4g}" for k, v in entry.items() if k != "epoch")
            + f" ({seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
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
