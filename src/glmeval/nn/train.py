"""One training loop for every neural probe and for the models the workflow trains itself
(glmeval.models.rbp).

Adam (Keras epsilon 1e-7), a loss from `LOSSES`, ReduceLROnPlateau and early stopping on the
validation loss (or a validation score) with the best weights restored. Inputs are arrays or
row readers (`glmeval.nn.rows.RowFile`), or a tuple of them for two-input models (splicing's
left and right halves): batches are read row-wise, so N × T × D never has to fit in memory.
Any other input reads its own batches (`read(rows)`: tokenized sequences, for fine-tuning).

A run with a `checkpoint` file resumes after its last complete epoch; batches may be run in
micro-batches (gradients accumulated), so a batch that does not fit in memory keeps its size.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from glmeval.io import atomic_path
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
    if hasattr(x, "read"):
        return x.read(rows)
    return torch.from_numpy(np.ascontiguousarray(x[rows])).float()  # torch casts fp16 faster


def _to(xb, device: torch.device):
    return tuple(part.to(device) for part in xb) if isinstance(xb, tuple) else (xb.to(device),)


def _chunks(xb, yb: torch.Tensor, size: int | None):
    """(x, y) parts of a batch, near-equal in size: at most `size` rows each, as long as each
    keeps two (BatchNorm trains on no fewer)."""
    n = len(yb)
    count = 1 if not size or size >= n else min(-(-n // size), n // 2)
    bounds = np.linspace(0, n, count + 1).round().astype(int)
    for start, end in itertools.pairwise(bounds):
        part = slice(int(start), int(end))
        x_part = tuple(p[part] for p in xb) if isinstance(xb, tuple) else xb[part]
        yield x_part, yb[part]


def trained_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of what training changes: the parameters that require gradients, and the buffers
    (a frozen base model's weights are left out)."""
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    trained |= {name for name, _ in model.named_buffers()}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in trained}


def load_trained_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a `trained_state` into `model`, whose other weights stay as they are."""
    unexpected = model.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise ValueError(f"the saved state has weights the model lacks: {unexpected[:5]}")


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


def predict(model: nn.Module, x, batch_size: int, device: torch.device | str) -> np.ndarray:
    """Raw model outputs (logits for binary tasks) for every row of `x`."""
    model.eval()
    device = torch.device(device)
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
    checkpoint: str | Path | None = None,
    micro_batch: int | None = None,
    timings: list[float] | None = None,
) -> list[dict]:
    """Train `model` in place with the loss named `loss` (a key of LOSSES); restore the best
    validation weights; return the per-epoch history. `train` and `valid` are (x, y) pairs.

    The learning-rate schedule and early stopping follow the validation loss, or, with
    `score = (name, fn(y, logits))`, that validation score, maximised (recorded as `name`).
    `param_groups` replaces the parameters that require gradients as Adam's parameters (e.g.
    weight decay on some kernels only). `checkpoint`: a file the state after every complete
    epoch is written to (atomically), and that a rerun resumes from, with the same result as
    an uninterrupted run. `micro_batch`: rows run at once, gradients accumulated over a batch.
    `timings` gets the seconds of each epoch run (training and validation).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device(device)
    model.to(device)
    loss_fn = LOSSES[loss]()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(param_groups or trainable, lr=config.lr, eps=1e-7)
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
    state = {"epoch": 0, "best": -np.inf, "best_state": None, "stale": 0, "history": []}
    if checkpoint is not None and Path(checkpoint).exists():
        state = _resume(checkpoint, model, optimizer, scheduler, rng)
    elif checkpoint is not None:
        _save_checkpoint(checkpoint, state, model, optimizer, scheduler, rng)
    history = state["history"]
    valid_y = torch.from_numpy(
        np.array(valid[1], dtype=np.float32)
    )  # a copy: memmaps are read-only
    predict_batch = micro_batch or config.batch_size
    for epoch in range(state["epoch"] + 1, config.max_epochs + 1):
        if state["stale"] >= config.patience:
            break
        model.train()
        started, total = time.perf_counter(), 0.0
        # the next batch is read from disk while this one trains
        for xb, yb in prefetch(batches(*train, config.batch_size, rng if config.shuffle else None)):
            if len(yb) == 1:  # BatchNorm cannot train on a single row
                continue
            optimizer.zero_grad()
            for x_part, y_part in _chunks(xb, yb, micro_batch):
                part_loss = loss_fn(model(*_to(x_part, device)), y_part.to(device))
                (part_loss * (len(y_part) / len(yb))).backward()
                total += part_loss.item() * len(y_part)
            optimizer.step()
        logits = predict(model, valid[0], predict_batch, device)
        entry = {
            "epoch": epoch,
            "train_loss": total / len(train[1]),
            "val_loss": loss_fn(torch.from_numpy(logits), valid_y).item(),
            "lr": optimizer.param_groups[0]["lr"],
        }
        if score:
            entry[score[0]] = score[1](valid[1], logits)
        history.append(entry)
        seconds = time.perf_counter() - started  # not in the history: it is deterministic
        if timings is not None:
            timings.append(seconds)
        print(
            f"epoch {epoch}: "
            + " ".join(f"{k} {v:.4g}" for k, v in entry.items() if k != "epoch")
            + f" ({seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
        monitored = entry[score[0]] if score else entry["val_loss"]
        scheduler.step(monitored)
        if sign * monitored > state["best"]:
            state |= {"best": sign * monitored, "best_state": trained_state(model), "stale": 0}
        else:
            state["stale"] += 1
        state["epoch"] = epoch
        if checkpoint is not None:
            _save_checkpoint(checkpoint, state, model, optimizer, scheduler, rng)
    load_trained_state(model, state["best_state"])
    return history


def _save_checkpoint(path, state: dict, model, optimizer, scheduler, rng) -> None:
    """The training state after `state["epoch"]` complete epochs, written atomically."""
    saved = {
        **state,
        "model": trained_state(model),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    with atomic_path(path) as tmp:
        torch.save(saved, tmp)


def _resume(path, model, optimizer, scheduler, rng) -> dict:
    """Restore the training state saved in `path` and return its progress."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    load_trained_state(model, saved.pop("model"))
    optimizer.load_state_dict(saved.pop("optimizer"))
    scheduler.load_state_dict(saved.pop("scheduler"))
    rng.bit_generator.state = saved.pop("numpy_rng")
    torch.set_rng_state(saved.pop("torch_rng"))
    cuda_rng = saved.pop("cuda_rng")
    if cuda_rng is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_rng)
    print(f"resuming after epoch {saved['epoch']} from {path}", file=sys.stderr, flush=True)
    return saved
