"""One probe job trains many runs (glmeval.probes.run.run_probe_group): the same files as one
run at a time, inputs read once per layer, and a killed job resumes where it stopped."""

import os
from pathlib import Path

import pandas as pd
import pytest

from glmeval.data.tasks import prepare_task
from glmeval.embed import extract
from glmeval.io import read_json
from glmeval.models.onehot import OneHotEmbedder
from glmeval.probes import run as probe_run
from glmeval.probes.run import Run, run_probe, run_probe_group

PROBE = {
    "type": "rep_mlp",
    "alpha": 1e-3,
    "width": 0.25,
    "lr": 1e-3,
    "batch_size": 64,
    "max_epochs": 2,
    "patience": 2,
    "lr_factor": 0.2,
    "lr_patience": 1,
    "min_lr": 1e-6,
    "shuffle": True,
    "bn_momentum": 0.9,
}
CONTEXT = {"task": "toy", "model": "onehot", "probe": "mlp"}


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("task")
    spec = {
        "kind": "regression",
        "source": {
            "synthetic": "motif_regression",
            "length": 40,
            "seed": 0,
            "n_train": 120,
            "n_valid": 40,
            "n_test": 40,
        },
    }
    prepare_task("toy", spec, root / "data")
    dirs = {}
    for split in ("train", "valid", "test"):
        sequences = pd.read_parquet(root / "data" / f"{split}.parquet")["sequence"].tolist()
        dirs[split] = root / "emb" / split
        extract(OneHotEmbedder(), sequences, dirs[split])
    return root / "data", dirs


def _runs(root, n=5):
    return [Run(0, 1.0 if i % 2 else 0.5, i, str(root / f"run{i}")) for i in range(n)]


def _files(runs):
    return {r.out_dir: sorted(p.name for p in Path(r.out_dir).glob("*")) for r in runs}


def test_a_job_writes_what_its_runs_would_one_at_a_time(task, tmp_path):
    data, dirs = task
    runs = _runs(tmp_path / "job", n=3)
    run_probe_group(data, dirs, PROBE, "mean", runs, tmp_path / "runs.json", CONTEXT)
    for run in runs:
        alone = tmp_path / "alone" / str(run.seed)
        run_probe(data, dirs, PROBE, "mean", 0, run.seed, alone, CONTEXT, run.train_fraction)
        grouped = read_json(f"{run.out_dir}/metrics.json")
        assert grouped["rows"] == read_json(alone / "metrics.json")["rows"]
        pd.testing.assert_frame_equal(
            pd.read_parquet(f"{run.out_dir}/predictions.parquet"),
            pd.read_parquet(alone / "predictions.parquet"),
        )
    record = read_json(tmp_path / "runs.json")
    assert [r["seed"] for r in record["runs"]] == [0, 1, 2]
    assert not (tmp_path / "runs.json.attempt").exists()


def test_a_killed_job_keeps_its_finished_runs_and_redoes_the_rest(task, tmp_path, monkeypatch):
    data, dirs = task
    runs = _runs(tmp_path / "job", n=5)
    record = tmp_path / "runs.json"
    trained = []
    train_run = probe_run.train_run

    def killed_at_run_4(labels, x, probe, seed, *args, **kwargs):
        if seed == 3:
            raise KeyboardInterrupt("killed")  # as a scheduler's signal ends the job
        trained.append(seed)
        return train_run(labels, x, probe, seed, *args, **kwargs)

    # a run left by an older job of other settings: a fresh start must not count it finished
    stale = Path(runs[3].out_dir) / "metrics.json"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"rows": [], "history": []}')
    monkeypatch.setattr(probe_run, "train_run", killed_at_run_4)
    with pytest.raises(KeyboardInterrupt):
        run_probe_group(data, dirs, PROBE, "mean", runs, record, CONTEXT)
    assert trained == [0, 1, 2] and not record.exists()
    finished = {r.out_dir: (r.out_dir + "/metrics.json") for r in runs[:3]}
    stamps = {d: os.stat(m).st_mtime_ns for d, m in finished.items()}
    assert _files(runs[3:]) == {r.out_dir: [] for r in runs[3:]}  # the stale run removed

    def counted(labels, x, probe, seed, *args, **kwargs):
        trained.append(seed)
        return train_run(labels, x, probe, seed, *args, **kwargs)

    trained.clear()
    monkeypatch.setattr(probe_run, "train_run", counted)
    run_probe_group(data, dirs, PROBE, "mean", runs, record, CONTEXT)
    assert trained == [3, 4]  # runs 1-3 kept, the rest redone
    assert {d: os.stat(m).st_mtime_ns for d, m in finished.items()} == stamps
    assert all((Path(r.out_dir) / "metrics.json").exists() for r in runs)
    assert record.exists() and not (tmp_path / "runs.json.attempt").exists()


def test_a_job_with_other_settings_starts_afresh(task, tmp_path, monkeypatch):
    """A killed attempt's runs are kept only for the same settings: a changed probe retrains
    every run (none of the old settings' files survive)."""
    data, dirs = task
    runs = _runs(tmp_path / "job", n=3)
    record = tmp_path / "runs.json"
    train_run = probe_run.train_run

    def killed_at_run_2(labels, x, probe, seed, *args, **kwargs):
        if seed == 1:
            raise KeyboardInterrupt("killed")
        return train_run(labels, x, probe, seed, *args, **kwargs)

    monkeypatch.setattr(probe_run, "train_run", killed_at_run_2)
    with pytest.raises(KeyboardInterrupt):
        run_probe_group(data, dirs, PROBE, "mean", runs, record, CONTEXT)
    old = read_json(runs[0].out_dir + "/metrics.json")
    monkeypatch.setattr(probe_run, "train_run", train_run)
    wider = {**PROBE, "width": 0.5}
    run_probe_group(data, dirs, wider, "mean", runs, record, CONTEXT)
    new = read_json(runs[0].out_dir + "/metrics.json")
    assert {r["width"] for r in new["rows"]} == {0.5} and old["rows"] != new["rows"]
    assert [r["seed"] for r in read_json(record)["runs"]] == [0, 1, 2]
