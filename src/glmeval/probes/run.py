"""Train one probe on one representation of one layer, evaluate it, write its artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from glmeval.data.tasks import SPLITS, load_split, load_task
from glmeval.io import write_json, write_parquet
from glmeval.metrics import evaluate
from glmeval.probes import linear
from glmeval.probes.cnn import RepCNN
from glmeval.probes.mlp import RepMLP
from glmeval.probes.train import TrainConfig, fit, predict

POOLED = {"cls": 0, "mean": 1}
#: Which representations each probe type consumes.
PROBE_INPUTS = {
    "ridge": ("cls", "mean"),
    "logistic": ("cls", "mean"),
    "rep_mlp": ("cls", "mean"),
    "rep_cnn": ("tokens",),
}


def load_features(embedding_dir: str | Path, representation: str, layer: int) -> np.ndarray:
    """(N, D) float32 pooled features, or the (N, T, D) float16 token memmap (read lazily)."""
    embedding_dir = Path(embedding_dir)
    if representation == "tokens":
        return np.load(embedding_dir / f"tokens.L{layer}.npy", mmap_mode="r")
    pooled = np.load(embedding_dir / "pooled.npy", mmap_mode="r")
    features = np.asarray(pooled[:, layer, POOLED[representation]], dtype=np.float32)
    if np.isnan(features).any():
        raise ValueError(f"{embedding_dir}: no {representation!r} representation for this model.")
    return features


def _fit_predict(probe: dict, kind: str, x: dict, y: dict, seed: int, device: str):
    """Test-set predictions (probabilities for binary tasks) and the training history."""
    kind_check = {"ridge": "regression", "logistic": "binary"}.get(probe["type"])
    if kind_check and kind_check != kind:
        raise ValueError(f"probe type {probe['type']!r} needs a {kind_check} task, not {kind}.")
    if probe["type"] == "ridge":
        return linear.ridge(x["train"], y["train"], x["test"], probe["alpha"]), []
    if probe["type"] == "logistic":
        return linear.logistic(x["train"], y["train"], x["test"], probe["alpha"], seed), []
    n_out, width = y["train"].shape[1], probe["width"]
    torch.manual_seed(seed)  # the initial weights are part of the replicate
    if probe["type"] == "rep_mlp":
        model = RepMLP(int(np.prod(x["train"].shape[1:])), n_out, width, probe["bn_momentum"])
    else:
        n_tokens, dim = x["train"].shape[1:]
        model = RepCNN(n_tokens, dim, n_out, width, probe["reduce_dim"], probe["bn_momentum"])
    config = TrainConfig(**{k: probe[k] for k in TrainConfig.__dataclass_fields__})
    history = fit(model, kind, (x["train"], y["train"]), (x["valid"], y["valid"]), config, seed, device)
    out = predict(model, x["test"], config.batch_size, torch.device(device))
    return (1 / (1 + np.exp(-out)) if kind == "binary" else out), history


def run_probe(
    task_dir: str | Path,
    embedding_dirs: dict[str, str | Path],
    probe: dict,
    representation: str,
    layer: int,
    seed: int,
    out_dir: str | Path,
    context: dict,
    device: str = "cpu",
) -> None:
    """Write `metrics.json` (tidy rows + history) and `predictions.parquet` into `out_dir`.

    `context` names the run for the tidy rows: task, model, probe (its config name).
    """
    task = load_task(task_dir)
    targets = task["targets"]
    frames = {split: load_split(task_dir, split) for split in SPLITS}
    y = {split: frames[split][targets].to_numpy(np.float32) for split in SPLITS}
    x = {split: load_features(embedding_dirs[split], representation, layer) for split in SPLITS}
    pred, history = _fit_predict(probe, task["kind"], x, y, seed, device)
    rows = [
        {
            **context,
            "target": target,
            "layer": layer,
            "representation": representation,
            "width": probe.get("width", 1.0),
            "seed": seed,
            "train_fraction": 1.0,
            "metric": metric,
            "value": value,
            "n_train": len(y["train"]),
            "n_test": len(y["test"]),
        }
        for j, target in enumerate(targets)
        for metric, value in evaluate(task["metrics"], y["test"][:, j], pred[:, j]).items()
    ]
    predictions = pd.DataFrame({"id": frames["test"]["id"]})
    for j, target in enumerate(targets):
        predictions[target] = y["test"][:, j]
        predictions[f"{target}_pred"] = pred[:, j]
    out_dir = Path(out_dir)
    write_parquet(predictions, out_dir / "predictions.parquet")
    write_json({"rows": rows, "history": history}, out_dir / "metrics.json")
