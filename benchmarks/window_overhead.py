"""Cost of embedding long sequences in stitched windows versus one pass, per family.

    python benchmarks/window_overhead.py [--n 64] [--length 900] [--window 300] [--repeats 5]

Builds the tiny offline models (and the real Mistral-DNA from ../shared when present), embeds
`n` random sequences of `length` bases with every layer, once whole and once in windows of
`window` bases, and prints the median sequences per second of each and their ratio.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from glmeval.models import load_embedder
from glmeval.models.build import BUILDERS

SHARED = Path(os.environ.get("GLMEVAL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
FAMILIES = {"tiny_nt": "masked_lm", "tiny_bert": "masked_lm", "tiny_mistral": "causal_lm",
            "tiny_mixtral": "causal_lm", "tiny_gpn": "gpn"}


def rate(model, seqs, batch_size=16) -> float:
    start = time.perf_counter()
    encoded = model.encode(seqs)
    for i in range(0, len(encoded), batch_size):
        model.hidden_states(encoded[i : i + batch_size])
    return len(seqs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--length", type=int, default=900)
    parser.add_argument("--window", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), args.length)) for _ in range(args.n)]
    with tempfile.TemporaryDirectory() as root:
        models = {}
        for name, family in FAMILIES.items():
            context = {} if family == "gpn" else {"max_tokens": 4096}  # GPN: no position limit
            BUILDERS[name](Path(root) / name, n_layers=2, **context)
            models[name] = ({"family": family, "n_layers": 2}, Path(root) / name)
        mistral = SHARED / "models" / "mistral-dna-v1-1m-hg38-finetuned-tf1"
        if mistral.is_dir():
            models["mistral_dna"] = ({"family": "causal_lm", "n_layers": 4}, mistral)
        print(f"{args.n} sequences x {args.length} bp, windows of {args.window} bp, "
              f"median of {args.repeats} (seq/s)")
        print(f"{'model':14s} {'whole':>8s} {'windows':>8s} {'ratio':>6s}")
        for name, (settings, path) in models.items():
            whole = load_embedder(name, settings, path)
            windowed = load_embedder(
                name, {**settings, "long_sequences": "window", "window_bases": args.window}, path
            )
            a = statistics.median(rate(whole, seqs) for _ in range(args.repeats))
            b = statistics.median(rate(windowed, seqs) for _ in range(args.repeats))
            print(f"{name:14s} {a:8.1f} {b:8.1f} {b / a:6.2f}")


if __name__ == "__main__":
    main()
