"""Seconds for one INSERT-seq probe group of 50 seeds: 50 jobs of one run each (before: each its
own process, paying Python's start, the imports and the reads of labels and embeddings) against
one job of 50 runs (`glmeval.probes.run.run_probe_group`: one process, inputs read once).

    python benchmarks/probe_jobs.py [--seeds 50] [--epochs 3] [--repeats 3]

The task is the demo's scale: a synthetic regression task of 173-nt sequences (INSERT-seq's
length; 400 train, 100 valid, 100 test rows) embedded one-hot, probed by the paper's INSERT-seq
CNN (`insert_cnn`) on the token matrices, on the CPU. Prints the median over `--repeats` of
each way and their ratio. Snakemake's own cost per job (scheduling, and on a cluster the queue
wait and submission) comes on top of the "before" figure and is not counted.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from glmeval.data.tasks import prepare_task
from glmeval.embed import extract
from glmeval.models.onehot import OneHotEmbedder
from glmeval.vocabulary import SPLITS

PROBE = {
    "type": "insert_cnn",
    "lr": 1e-3,
    "batch_size": 128,
    "patience": 10,
    "lr_factor": 0.2,
    "lr_patience": 5,
    "min_lr": 1e-7,
    "shuffle": True,
    "bn_momentum": 0.99,
    "alpha": 0.0,
}
CONTEXT = {"task": "insert", "model": "onehot", "probe": "insert_cnn"}
ONE_RUN = """
import sys
from glmeval.probes.run import run_probe
task, out, seed, epochs = sys.argv[1:]
dirs = {{s: f"{{task}}/emb/{{s}}" for s in ("train", "valid", "test")}}
probe = {probe!r} | {{"max_epochs": int(epochs)}}
run_probe(f"{{task}}/data", dirs, probe, "tokens", 0, int(seed), out, {context!r})
"""


def make_task(root: Path) -> dict:
    spec = {
        "kind": "regression",
        "source": {
            "synthetic": "motif_regression",
            "length": 173,
            "seed": 0,
            "n_train": 400,
            "n_valid": 100,
            "n_test": 100,
        },
    }
    prepare_task("insert", spec, root / "data")
    dirs = {}
    for split in SPLITS:
        sequences = pd.read_parquet(root / "data" / f"{split}.parquet")["sequence"].tolist()
        dirs[split] = root / "emb" / split
        extract(OneHotEmbedder(), sequences, dirs[split], token_layers=[0])
    return dirs


def separate(root: Path, seeds: int, epochs: int) -> float:
    code = ONE_RUN.format(probe=PROBE, context=CONTEXT)
    started = time.perf_counter()
    for seed in range(seeds):
        out = root / "separate" / f"seed{seed}"
        subprocess.run(
            [sys.executable, "-c", code, str(root), str(out), str(seed), str(epochs)], check=True
        )
    return time.perf_counter() - started


def grouped(root: Path, dirs: dict, seeds: int, epochs: int) -> float:
    code = (
        "import sys, json\n"
        "from glmeval.probes.run import Run, run_probe_group\n"
        "args = json.loads(sys.argv[1])\n"
        "run_probe_group(args['data'], args['dirs'], args['probe'], 'tokens',\n"
        "                [Run(**r) for r in args['runs']], args['record'], args['context'])\n"
    )
    runs = [
        {
            "layer": 0,
            "train_fraction": 1.0,
            "seed": seed,
            "out_dir": str(root / "grouped" / f"seed{seed}"),
        }
        for seed in range(seeds)
    ]
    args = {
        "data": str(root / "data"),
        "dirs": {k: str(v) for k, v in dirs.items()},
        "probe": PROBE | {"max_epochs": epochs},
        "runs": runs,
        "record": str(root / "grouped" / "runs.json"),
        "context": CONTEXT,
    }
    (root / "grouped").mkdir(exist_ok=True)
    (root / "grouped" / "runs.json").unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, json.dumps(args)], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dirs = make_task(root)
        before, after = [], []
        for _ in range(args.repeats):
            before.append(separate(root, args.seeds, args.epochs))
            after.append(grouped(root, dirs, args.seeds, args.epochs))
    b, a = statistics.median(before), statistics.median(after)
    print(f"{args.seeds} runs of insert_cnn, {args.epochs} epochs, 400 training rows, CPU")
    print(f"before (one process per run): {b:.1f} s median of {[round(x, 1) for x in before]}")
    print(
        f"after (one job of {args.seeds} runs): {a:.1f} s median of {[round(x, 1) for x in after]}"
    )
    print(f"ratio: {b / a:.2f}x; per run {b / args.seeds:.2f} s -> {a / args.seeds:.2f} s")


if __name__ == "__main__":
    main()
