"""Cluster resource estimates (glmeval.job_resources): they scale with the job's inputs."""

import numpy as np
import pandas as pd
import pytest

from glmeval import job_resources
from glmeval.io import write_json


def _split(tmp_path, rows, length=230):
    path = tmp_path / f"train{rows}.parquet"
    pd.DataFrame(
        {"id": [str(i) for i in range(rows)], "sequence": ["A" * length] * rows}
    ).to_parquet(path)
    task = tmp_path / "task.json"
    write_json({"sequence_length": {"max": length}, "sequence_columns": ["sequence"]}, task)
    return path, task


def test_extraction_scales_with_weights_sequences_and_attempt(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\0" * 10_000_000)  # 10 MB: 2.5M fp32 parameters
    (model / "config.json").write_text("{}")  # not weights
    small, task = _split(tmp_path, 100)
    large, _ = _split(tmp_path, 100_000)
    first = job_resources.extraction(model, (small,), task)
    assert first["mem_mb"] == 4000 + 30
    assert job_resources.extraction(model, (small,), task, attempt=2)["mem_mb"] == 2 * (4000 + 30)
    # 2 × 100k rows × 230 bases × 2 FLOP × 2.5e6 parameters / 1e14 FLOP/s, doubled: 4.6 s -> 1 min
    assert job_resources.extraction(model, (large,), task)["runtime"] == 15 + 1
    # a task's splits in one job: their rows add up. 10 GB of weights (a sparse file): 2.5e9
    # parameters; 2 × 2 × 2.5e9 × 100k rows × 230 bases / 1e14 = 38.3 min per large split
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "model.safetensors", "wb") as weights:
        weights.truncate(10_000_000_000)
    assert job_resources.extraction(big, (large,), task)["runtime"] == 15 + 39
    assert job_resources.extraction(big, (large, large, small), task)["runtime"] == 15 + 77
    assert job_resources.extraction(None, (small,), task)["mem_mb"] == 4000  # one-hot: no weights


def test_probe_scales_with_embedding_sizes(tmp_path):
    split = tmp_path / "train"
    split.mkdir()
    np.lib.format.open_memmap(split / "pooled.npy", "w+", np.float16, (1000, 3, 2, 500))
    np.lib.format.open_memmap(split / "tokens.L2.npy", "w+", np.float16, (1000, 400, 1000))
    pooled = job_resources.probe((split,), "mean", 2, max_epochs=100)
    assert pooled["mem_mb"] == 4000 + 4  # 2 × 1000 × 500 × 4 B
    assert pooled["runtime"] == 30 + 1  # half a minute per run, rounded up
    tokens = job_resources.probe((split,), "tokens", 2, max_epochs=100)
    # 800 MB × 100 epochs at 500 MB/s, doubled: 320 s, and half a minute: 5.83 -> 6 min
    assert tokens["mem_mb"] == 4000 and tokens["runtime"] == 30 + 6
    # a job of 50 runs (seeds × fractions): the same memory, 50 runs' time
    group = job_resources.probe((split,), "tokens", 2, max_epochs=100, runs=50)
    assert group["mem_mb"] == 4000 and group["runtime"] == 30 + 292  # ceil(50 × 5.83)


def test_an_input_not_created_yet_is_reported_as_such(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        job_resources.probe((tmp_path / "absent",), "mean", 0, max_epochs=1)
    assert info.value.filename == str(tmp_path / "absent")
