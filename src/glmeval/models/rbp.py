"""The paper's supervised multitask eCLIP "RBP" model (`chip-clip-seq/RBP_pretrain.py`;
docs/paper.md, Probes).

Trained by the workflow on a prepared multitask binary task (`train_rbp`), then used frozen as an
embedder (`RBPEmbedder`). Keras original, input one-hot (1000, 4), every convolution 'same':

- Conv1D(96, 19, no bias, L2 1e-8) → BN → exponential → Dropout(0.1);
- `residual_block(k=3, dilated)`: Conv1D(96, 3, no bias) → BN, then for dilations 2 and 4:
  ReLU → Dropout(0.1) → Conv1D(96, 3, dilation, no bias) → BN; add the block input; ReLU;
- a second ReLU (a no-op after the block's own, so not repeated here);
- MaxPool(10) → Dropout(0.1) → Conv1D(192, 7, no bias, L2) → BN → ReLU → GAP → Dropout(0.1);
- Dense(512, no bias, L2) → BN → ReLU → Dropout(0.5) → Dense(n_tasks) → sigmoid.

**Embedding layer.** The paper embeds with `model.layers[-10].output`. The Keras model's 32
layers, in order: 0 Input, 1 Conv1D(96), 2 BN, 3 exponential, 4 Dropout; residual block 5 Conv1D,
6 BN, 7 ReLU, 8 Dropout, 9 Conv1D(dil 2), 10 BN, 11 ReLU, 12 Dropout, 13 Conv1D(dil 4), 14 BN,
15 Add, 16 ReLU; 17 ReLU; 18 MaxPool1D, 19 Dropout, 20 Conv1D(192), 21 BN, 22 ReLU,
23 GlobalAveragePooling1D, 24 Dropout, 25 Flatten, 26 Dense(512), 27 BN, 28 ReLU, 29 Dropout,
30 Dense(n_tasks), 31 sigmoid. From the Add on the graph is a single chain, so the count from the
end does not depend on how Keras orders the residual branch: layers[-10] is layer 22, the ReLU
after the 192-filter convolution's BN, (L/10, 192) = (100, 192) at 1000 bp (`RBPNet.embed`).

Departures, all Keras defaults or conventions made explicit (docs/deviations.md): glorot-uniform
kernels and zero biases; BN eps 1e-3 and Keras momentum (`bn_momentum`); Adam eps 1e-7; the L2
penalty 1e-8·Σw² as Adam weight decay 2e-8 on the same kernels (the identical gradient); sigmoid
folded into `BCEWithLogitsLoss`; validation AUPR pooled over all (row, target) pairs as Keras'
`AUC(curve='PR')` does on multi-label data, but exact average precision instead of its
200-threshold interpolation; the best epoch's weights always restored (Keras 2 restores only when
early stopping fires); seeded. N bases are all-zero rows, like the padding.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from glmeval.data.sequence import base_codes, padded_one_hot
from glmeval.data.tasks import load_split, load_task
from glmeval.io import atomic_path, read_json, write_json
from glmeval.metrics import aupr
from glmeval.models.supervised import PaddedInputEmbedder
from glmeval.nn.layers import Exp, ResidualBlock, batch_norm, init_glorot
from glmeval.nn.train import TrainConfig, fit, l2_param_groups, predict
from glmeval.vocabulary import SPLITS

L2 = 1e-8
POOL = 10
HIDDEN = 192
_FIX = "Train it with the workflow's RBP training rule (glmeval.models.rbp.train_rbp)."


class RBPNet(nn.Module):
    """The RBP model: (B, 4, L) one-hot -> (B, n_tasks) logits; `embed` is Keras layers[-10]."""

    def __init__(self, n_tasks: int, bn_momentum: float = 0.99):
        super().__init__()
        m = bn_momentum
        self.features = nn.Sequential(
            nn.Conv1d(4, 96, 19, padding="same", bias=False),
            batch_norm(96, m),
            Exp(),
            nn.Dropout(0.1),
            ResidualBlock(96, dilations=(2, 4), activation=nn.ReLU, bn_momentum=m),
            nn.MaxPool1d(POOL),
            nn.Dropout(0.1),
            nn.Conv1d(96, HIDDEN, 7, padding="same", bias=False),
            batch_norm(HIDDEN, m),
            nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Dropout(0.1),
            nn.Linear(HIDDEN, 512, bias=False),
            batch_norm(512, m),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(512, n_tasks),
        )
        init_glorot(self)  # Keras defaults

    def l2_kernels(self) -> list[nn.Parameter]:
        """The kernels that carry Keras' L2(1e-8) regulariser: conv 96, conv 192, dense 512."""
        return [self.features[0].weight, self.features[7].weight, self.head[1].weight]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4, L) -> (B, L // 10, 192): the ReLU after the 192-filter convolution."""
        return self.features(x).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(-1))


def _load(task_dir: Path, split: str, targets: list[str], length: int):
    """A split as padded uint8 one-hot (N, 4, length), 4 bytes per base, and float targets."""
    df = load_split(task_dir, split)
    too_long = df["sequence"].str.len() > length
    if too_long.any():
        row = df[too_long].iloc[0]
        raise ValueError(
            f"{task_dir}, split {split!r}, row id {row['id']!r}: {len(row['sequence'])} bases "
            f"exceed the RBP model's input_length {length}. Raise input_length."
        )
    y = np.array(df[targets], dtype=np.float32)
    if np.isnan(y).any():
        raise ValueError(
            f"{task_dir}, split {split!r}: missing target values; the multitask RBP model needs "
            "every target of every row."
        )
    return padded_one_hot([base_codes(s) for s in df["sequence"]], length), y


def train_rbp(
    task_dir: str | Path,
    out_dir: str | Path,
    seed: int = 0,
    input_length: int = 1000,
    max_epochs: int = 100,
    patience: int = 12,
    batch_size: int = 100,
    lr: float = 1e-3,
    lr_factor: float = 0.2,
    lr_patience: int = 4,
    min_lr: float = 1e-7,
    bn_momentum: float = 0.99,
    device: str = "cpu",
) -> dict:
    """Train the RBP model on every target of a prepared binary or multilabel task `task_dir` (paper recipe:
    BCE, Adam, early stopping and ReduceLROnPlateau on validation AUPR); write `model.pt` and
    `config.json` into `out_dir` atomically and return the summary (the config)."""
    task_dir = Path(task_dir)
    task = load_task(task_dir)
    if task["kind"] not in ("binary", "multilabel"):
        raise ValueError(
            f"{task_dir}: the RBP model needs a binary or multilabel task, not {task['kind']!r}."
        )
    targets = task["targets"]
    train, valid, test = (_load(task_dir, s, targets, input_length) for s in SPLITS)
    torch.manual_seed(seed)
    model = RBPNet(len(targets), bn_momentum)
    config = TrainConfig(lr, batch_size, max_epochs, patience, lr_factor, lr_patience, min_lr)
    history = fit(
        model,
        "bce",
        train,
        valid,
        config,
        seed,
        device,
        param_groups=l2_param_groups(model, L2),
        # rank-based, so logits serve as probabilities; pooled over (row, target) as in Keras
        score=("val_aupr", lambda y, logits: aupr(y.ravel(), logits.ravel())),
    )
    best = max(history, key=lambda entry: entry["val_aupr"])
    test_logits = predict(model, test[0], batch_size, device)
    summary = {
        "task": task["name"],
        "targets": targets,
        "n_tasks": len(targets),
        "input_length": input_length,
        "seed": seed,
        "best_epoch": best["epoch"],
        "val_aupr": best["val_aupr"],
        "test_aupr": aupr(test[1].ravel(), test_logits.ravel()),
        "training": {
            "max_epochs": max_epochs,
            "patience": patience,
            "batch_size": batch_size,
            "lr": lr,
            "lr_factor": lr_factor,
            "lr_patience": lr_patience,
            "min_lr": min_lr,
            "bn_momentum": bn_momentum,
        },
        "history": history,
    }
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp / "model.pt")
        write_json(summary, tmp / "config.json")
    return summary


class RBPEmbedder(PaddedInputEmbedder):
    """A trained RBP model's layers[-10] output, (input_length // 10, 192), as its only layer.

    Output positions are pooled windows of the padded input, not base-aligned: none is special
    and `n_bases` is all zero. `random_init_seed`: the same architecture with fresh seeded
    weights (the random-init control); only `config.json` is read then.
    """

    hidden_size = HIDDEN

    def __init__(
        self,
        name: str,
        path: str | Path,
        device: str = "cpu",
        random_init_seed: int | None = None,
    ):
        self.name = name
        self.device = torch.device(device)
        config_file, weights = Path(path) / "config.json", Path(path) / "model.pt"
        try:
            config = read_json(config_file)
            n_tasks, self.input_length = (
                int(config["n_tasks"]),
                int(config["input_length"]),
            )
        except FileNotFoundError:
            raise FileNotFoundError(
                f"model {name!r}: {config_file} does not exist. {_FIX}"
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"model {name!r}: {config_file} is not a train_rbp config ({error!r}). "
                f"Delete {path} and retrain. {_FIX}"
            ) from error
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if random_init_seed is None else random_init_seed)
            self.net = RBPNet(n_tasks)
        if random_init_seed is None:
            if not weights.is_file():
                raise FileNotFoundError(f"model {name!r}: {weights} does not exist. {_FIX}")
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True)
                self.net.load_state_dict(state)
            except (RuntimeError, EOFError, pickle.UnpicklingError) as error:
                reason = " ".join(str(error).split())[:200] or type(error).__name__
                raise ValueError(
                    f"model {name!r}: {weights} is not an RBP checkpoint matching {config_file} "
                    f"({reason}). Delete {path} and retrain. {_FIX}"
                ) from error
        self.net.eval().to(self.device)
        self.n_positions = self.input_length // POOL

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.embed(x)  # (B, input_length // 10, 192)
