"""The CPU constants of glmeval.cost, measured on this machine, each from its own workload
(not the validation runs of benchmarks/cost_validation.py), on one thread as a workflow job:

- JOB_SECONDS: a Snakemake `script:` job that imports what the workflow's jobs import and
  does nothing else, timed by Snakemake's own records (median of 3 jobs);
- CPU_FLOPS, CPU_STATE_SECONDS and TOKEN_SECONDS: `glmeval.embed.extract` with four stand-in
  language models (NT-shaped: 32 layers of width 80, 2 of 32, 4 of 256, 12 of 24) over 230-nt
  sequences, fitted (least squares) as seconds = FLOPs / CPU_FLOPS (2 FLOP per parameter per
  token, parameters 12 · layers · width²) + tokens · layers · width · CPU_STATE_SECONDS (the
  element-wise work of every layer's states) + tokens · TOKEN_SECONDS (tokenizing, batching,
  pooling, writing);
- LOAD_SECONDS: a fresh process loading the 32-layer stand-in (transformers imported, the
  model built) after glmeval's own imports;
- CPU_PROBE_FLOPS: `glmeval.nn.train.fit` of the paper's token CNNs (rep_cnn, insert_cnn,
  chip_cnn, onehot-input ResidualBind) for 2 epochs, FLOPs counted by torch (a training step
  as 3 forward passes), the median of the probes;
- CPU_LINEAR_FLOPS: `glmeval.probes.linear.ridge` of 20,000 × 512 features (2·N·D² + D³);
- RUN_SECONDS: a probe job of 20 one-epoch runs on 60 rows, per run.

    python benchmarks/cost_model.py
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from glmeval.cost import probe_flops as count_probe_flops

BIN = Path(sys.executable).parent
#: the probes' training recipe (2 epochs that never stop early)
RECIPE = {
    "bn_momentum": 0.99,
    "lr": 1e-3,
    "batch_size": 128,
    "max_epochs": 2,
    "patience": 5,
    "lr_factor": 0.2,
    "lr_patience": 5,
    "min_lr": 1e-7,
    "shuffle": True,
    "alpha": 0.0,
}


def job_seconds(root: Path) -> float:
    (root / "noop.py").write_text(
        "import glmeval.probes.run, glmeval.embed, glmeval.models, glmeval.data.tasks\n"
        "open(snakemake.output[0], 'w').close()\n"
    )
    (root / "Snakefile").write_text(
        textwrap.dedent(
            """
            rule all:
                input: expand("out{i}", i=range(3))
            rule noop:
                output: "out{i}"
                script: "noop.py"
            """
        )
    )
    subprocess.run(
        [str(BIN / "snakemake"), "--cores", "1", "--quiet"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    spans = []
    for record in (root / ".snakemake" / "metadata").iterdir():
        meta = json.loads(record.read_text())
        if base64.b64decode(record.name).decode().startswith("out"):
            spans.append(meta["endtime"] - meta["starttime"])
    return statistics.median(spans)


def forward_constants(root: Path) -> tuple[float, float, float]:
    from glmeval.embed import extract
    from glmeval.models import load_embedder
    from glmeval.models.build import build_tiny_nt

    torch.set_num_threads(1)  # as a workflow job (Snakemake sets its threads' variables)
    rng = np.random.default_rng(0)
    rows, seconds = [], []
    for layers, width, n in ((32, 80, 400), (2, 32, 2000), (4, 256, 400), (12, 24, 1000)):
        path = root / f"nt{layers}"
        build_tiny_nt(path, hidden_size=width, n_layers=layers)
        model = load_embedder("nt", {"family": "masked_lm", "n_layers": layers}, path)
        sequences = ["".join(rng.choice(list("ACGT"), 230)) for _ in range(n)]
        tokens = sum(len(e) for e in model.encode(sequences))
        start = time.perf_counter()
        extract(model, sequences, root / f"emb{layers}", token_layers=[layers])
        seconds.append(time.perf_counter() - start)
        rows.append([2 * 12 * layers * width**2 * tokens, tokens * layers * width, tokens])
        print(f"  extract: {layers} layers x {width}: {tokens} tokens in {seconds[-1]:.2f} s")
    (per_flop, per_element, per_token), *_ = np.linalg.lstsq(rows, seconds, rcond=None)
    return 1 / per_flop, per_element, per_token


def load_seconds(root: Path) -> float:
    """A fresh process, glmeval's modules imported (JOB_SECONDS has them), loading a stand-in
    checkpoint: transformers imported, the model built; median of 3."""
    code = (
        "import time, sys\n"
        "import glmeval.embed\n"
        "from glmeval.models import load_embedder\n"
        "start = time.perf_counter()\n"
        "load_embedder('nt', {'family': 'masked_lm', 'n_layers': 32}, sys.argv[1])\n"
        "print(time.perf_counter() - start)"
    )
    spans = [
        float(
            subprocess.run(
                [sys.executable, "-c", code, str(root / "nt32")],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        for _ in range(3)
    ]
    return statistics.median(spans)


def probe_flops() -> float:
    from glmeval.nn.train import TrainConfig, fit
    from glmeval.probes.run import build_probe

    cases = [
        ({"type": "rep_cnn", "width": 1.0, "reduce_dim": 128}, (42, 80)),
        ({"type": "insert_cnn"}, (31, 80)),
        ({"type": "chip_cnn", "reduce_dim": 128}, (36, 80)),
        ({"type": "resnet"}, (230, 4)),
    ]
    rates = []
    n_train, n_valid = 2000, 250
    for settings, shape in cases:
        probe = RECIPE | settings
        forward, _ = count_probe_flops(json.dumps(probe, sort_keys=True), shape, 1)
        torch.manual_seed(0)
        model = build_probe(probe, shape, 1)
        x = np.random.default_rng(0).standard_normal((n_train + n_valid, *shape), np.float32)
        y = np.random.default_rng(1).standard_normal((n_train + n_valid, 1), np.float32)
        config = TrainConfig(**{k: probe[k] for k in TrainConfig.__dataclass_fields__})
        start = time.perf_counter()
        fit(model, "mse", (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), config, 0)
        seconds = time.perf_counter() - start
        rate = 2 * (3 * n_train + n_valid) * forward / seconds
        rates.append(rate)
        print(f"  {settings['type']} on {shape}: {rate:.3g} FLOP/s")
    return statistics.median(rates)


def linear_flops() -> float:
    from glmeval.probes.linear import ridge

    n, d = 20_000, 512
    x = np.random.default_rng(0).standard_normal((n, d), np.float32)
    y = np.random.default_rng(1).standard_normal((n, 1), np.float32)
    start = time.perf_counter()
    ridge(x, y, x[:1000], 1e-3)
    return (2 * n * d**2 + d**3) / (time.perf_counter() - start)


def run_seconds(root: Path) -> float:
    from glmeval.data.tasks import prepare_task
    from glmeval.embed import extract
    from glmeval.models.onehot import OneHotEmbedder
    from glmeval.probes.run import Run, run_probe_group

    source = {
        "synthetic": "motif_regression",
        "length": 50,
        "n_train": 40,
        "n_valid": 10,
        "n_test": 10,
    }
    prepare_task("t", {"kind": "regression", "source": source}, root / "data")
    embeddings = {}
    for split in ("train", "valid", "test"):
        table = pd.read_parquet(root / "data" / f"{split}.parquet")
        embeddings[split] = root / split
        extract(OneHotEmbedder(), table["sequence"].tolist(), root / split, token_layers=[0])
    probe = RECIPE | {"type": "insert_cnn", "max_epochs": 1}
    runs = [Run(0, 1.0, seed, str(root / f"run{seed}")) for seed in range(20)]
    start = time.perf_counter()
    run_probe_group(
        root / "data",
        embeddings,
        probe,
        "tokens",
        runs,
        root / "runs.json",
        {"task": "t", "model": "onehot", "probe": "p"},
    )
    return (time.perf_counter() - start) / len(runs)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("job", "runs"):
            (root / name).mkdir()
        print(f"JOB_SECONDS = {job_seconds(root / 'job'):.2f}")
        flops, per_element, per_token = forward_constants(root)
        print(
            f"CPU_FLOPS = {flops:.3g}\nCPU_STATE_SECONDS = {per_element:.3g}\n"
            f"TOKEN_SECONDS = {per_token:.3g}"
        )
        print(f"LOAD_SECONDS = {load_seconds(root):.2f}")
        print(f"CPU_PROBE_FLOPS = {probe_flops():.3g}")
        print(f"CPU_LINEAR_FLOPS = {linear_flops():.3g}")
        print(f"RUN_SECONDS = {run_seconds(root / 'runs'):.2f}")


if __name__ == "__main__":
    main()
