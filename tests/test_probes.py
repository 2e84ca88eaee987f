import numpy as np
import pandas as pd
import pytest
import torch

from glmeval.data.tasks import prepare_task
from glmeval.embed import extract
from glmeval.io import read_json
from glmeval.metrics import evaluate
from glmeval.models.onehot import OneHotEmbedder
from glmeval.probes import linear
from glmeval.probes.cnn import RepCNN
from glmeval.probes.mlp import RepMLP
from glmeval.probes.run import run_probe
from glmeval.probes.train import TrainConfig, batches, fit, predict
from glmeval.report import COLUMNS, collect_metrics

PROBE_DEFAULTS = {"alpha": 1e-3, "width": 0.25, "reduce_dim": 16, "lr": 1e-3, "batch_size": 64,
                  "max_epochs": 3, "patience": 2, "lr_factor": 0.2, "lr_patience": 1,
                  "min_lr": 1e-6, "shuffle": True, "bn_momentum": 0.9}


def test_metrics_on_known_values():
    y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    m = evaluate(["auroc", "aupr", "pearson", "spearman"], y, p)
    assert m["auroc"] == 0.75 and m["aupr"] == pytest.approx(0.8333333)
    assert evaluate(["pearson"], np.arange(5.0), 2 * np.arange(5.0) + 1)["pearson"] == pytest.approx(1)


def test_ridge_recovers_linear_signal():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8))
    y = (x @ np.arange(8.0))[:, None]
    pred = linear.ridge(x[:400], y[:400], x[400:], alpha=1e-3)
    assert pred.shape == (100, 1) and np.corrcoef(pred[:, 0], y[400:, 0])[0, 1] > 0.999


def test_logistic_returns_probabilities():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, :1] > 0).astype(np.float32)
    prob = linear.logistic(x[:300], y[:300], x[300:], alpha=1.0, seed=0)
    assert ((prob >= 0) & (prob <= 1)).all() and evaluate(["auroc"], y[300:, 0], prob[:, 0])["auroc"] > 0.95


def test_architecture_shapes():
    assert RepCNN(41, 2560, n_out=1, width=1.0, reduce_dim=196)(torch.zeros(3, 41, 2560)).shape == (3, 1)
    assert RepMLP(64, n_out=2, width=0.5)(torch.zeros(4, 64)).shape == (4, 2)
    with pytest.raises(ValueError, match="at least 20 tokens"):
        RepCNN(19, 8)


def test_batches_cover_rows_once_from_memmap(tmp_path):
    x = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.float16, (10, 3, 2))
    x[:] = np.arange(10)[:, None, None]
    seen = [int(v) for xb, _ in batches(np.load(tmp_path / "x.npy", mmap_mode="r"), None, 4,
                                        np.random.default_rng(0)) for v in xb[:, 0, 0]]
    assert sorted(seen) == list(range(10)) and seen != list(range(10))


def test_fit_restores_best_weights_and_is_seeded():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6)).astype(np.float32)
    y = (x[:, :1] * 2).astype(np.float32)
    config = TrainConfig(lr=1e-2, batch_size=32, max_epochs=12, patience=3)

    def run():
        torch.manual_seed(1)
        model = RepMLP(6, width=0.1, bn_momentum=0.9)
        history = fit(model, "regression", (x[:200], y[:200]), (x[200:], y[200:]), config, seed=1)
        return model, history

    model, history = run()
    best = min(h["val_loss"] for h in history)
    mse = float(((predict(model, x[200:], 32, torch.device("cpu")) - y[200:]) ** 2).mean())
    assert mse == pytest.approx(best, rel=1e-4)
    _, again = run()
    assert [h["val_loss"] for h in again] == [h["val_loss"] for h in history]


@pytest.fixture(scope="module")
def onehot_task(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    task = {"kind": "regression", "source": {"synthetic": "motif_regression", "length": 60,
                                            "seed": 0, "n_train": 300, "n_valid": 60, "n_test": 60}}
    prepare_task("toy", task, root / "data")
    dirs = {}
    for split in ("train", "valid", "test"):
        seqs = pd.read_parquet(root / "data" / f"{split}.parquet")["sequence"].tolist()
        dirs[split] = root / "emb" / split
        extract(OneHotEmbedder(), seqs, dirs[split], token_layers=[0])
    return root, dirs


@pytest.mark.parametrize("probe,rep", [("ridge", "mean"), ("rep_mlp", "mean"), ("rep_cnn", "tokens")])
def test_run_probe_writes_tidy_rows_and_predictions(onehot_task, tmp_path, probe, rep):
    root, dirs = onehot_task
    config = {**PROBE_DEFAULTS, "type": probe}
    context = {"task": "toy", "model": "onehot", "probe": probe}
    run_probe(root / "data", dirs, config, rep, 0, 0, tmp_path, context)
    result = read_json(tmp_path / "metrics.json")
    table = collect_metrics([tmp_path / "metrics.json"])
    assert list(table.columns) == COLUMNS and set(table["metric"]) == {"pearson", "spearman"}
    assert (table["n_train"] == 300).all() and (table["n_test"] == 60).all()
    assert (len(result["history"]) > 0) == (probe != "ridge")
    pred = pd.read_parquet(tmp_path / "predictions.parquet")
    assert list(pred.columns) == ["id", "activity", "activity_pred"] and len(pred) == 60


def test_probe_on_missing_cls_is_refused(onehot_task, tmp_path):
    root, dirs = onehot_task
    with pytest.raises(ValueError, match="no 'cls' representation"):
        run_probe(root / "data", dirs, {**PROBE_DEFAULTS, "type": "ridge"}, "cls", 0, 0, tmp_path,
                  {"task": "toy", "model": "onehot", "probe": "ridge"})


def test_learning_rate_cut_after_lr_patience_bad_epochs_as_in_keras():
    """A frozen model (lr 1e-12) never improves after epoch 1; with lr_patience 2, Keras cuts
    the rate after epochs 2 and 3 were bad, so epoch 4 trains at lr × factor."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype(np.float32), rng.normal(size=(64, 1)).astype(np.float32)
    model = torch.nn.Linear(4, 1)
    config = TrainConfig(lr=1e-12, max_epochs=6, patience=10, lr_factor=0.5, lr_patience=2,
                         min_lr=0.0, shuffle=False)
    history = fit(model, "regression", (x, y), (x, y), config, seed=0)
    assert [h["lr"] for h in history[:5]] == pytest.approx([1e-12, 1e-12, 1e-12, 5e-13, 5e-13])
