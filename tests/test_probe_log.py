"""The probe training log: one line per epoch, its number once."""

import re

import numpy as np
import torch

from glmeval.nn.train import TrainConfig, fit


def test_each_epoch_is_logged_once_with_its_number_once(capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x @ np.ones((4, 1), np.float32)).astype(np.float32)
    config = TrainConfig(max_epochs=2, patience=5, batch_size=16)
    fit(torch.nn.Linear(4, 1), "mse", (x[:48], y[:48]), (x[48:], y[48:]), config, seed=0)
    lines = [line for line in capsys.readouterr().err.splitlines() if "train_loss" in line]
    assert len(lines) == 2
    for number, line in enumerate(lines, start=1):
        assert line.startswith(f"epoch {number}: train_loss ")
        assert len(re.findall(r"\bepoch\b", line)) == 1
