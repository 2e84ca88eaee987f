"""All layers from one pass (the engine) against the paper's per-layer reruns, side by side.

    python benchmarks/embed_layers.py [--n 256] [--length 230] [--layers 32] [--repeats 3]

Builds a random-initialised Nucleotide-Transformer-shaped ESM with `layers` blocks (offline, tiny
width), embeds `n` random sequences of `length` bases and prints the median seconds of:
- naive: the model rerun once per layer (fp32, fixed batch 64, input order), keeping that
  layer's full token matrices in fp32 as the paper's layer sweep did (docs/paper.md, Compute);
- engine: `glmeval.embed.extract` once: every layer pooled, plus the token matrices of every
  layer (the same content as the naive sweep) or of none (pooled only);
and the ratio of the naive time to the engine's, with the bytes per sequence each keeps.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from glmeval.embed import extract
from glmeval.models import load_embedder
from glmeval.models.build import build_tiny_nt


def naive_sweep(model, seqs: list[str], batch_size: int = 64) -> int:
    """The paper's approach: one full forward pass per layer; returns bytes kept per sequence."""
    encoded = model.encode(seqs)
    kept = 0
    for layer in range(model.n_layers + 1):
        matrices = []
        for start in range(0, len(encoded), batch_size):
            states, mask = model.hidden_states(encoded[start : start + batch_size])
            matrices.append((states[layer] * mask[..., None]).numpy().astype(np.float32))
        kept += sum(m.nbytes for m in matrices)
    return kept // len(seqs)


def timed(run) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--length", type=int, default=230)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), args.length)) for _ in range(args.n)]
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        build_tiny_nt(root / "nt", hidden_size=args.hidden, n_layers=args.layers)
        model = load_embedder("nt", {"family": "masked_lm", "n_layers": args.layers}, root / "nt")
        every_layer = list(range(args.layers + 1))
        times: dict[str, list[float]] = {"naive": [], "engine_tokens": [], "engine_pooled": []}
        sizes = {}
        for repeat in range(args.repeats):
            seconds, sizes["naive"] = timed(lambda: naive_sweep(model, seqs))
            times["naive"].append(seconds)
            for name, layers in (("engine_tokens", every_layer), ("engine_pooled", [])):
                out = root / f"{name}{repeat}"
                seconds, _ = timed(lambda o=out, t=layers: extract(model, seqs, o, token_layers=t))
                times[name].append(seconds)
                sizes[name] = sum(p.stat().st_size for p in out.glob("*.npy")) // args.n
    naive = statistics.median(times["naive"])
    print(
        f"{args.n} sequences x {args.length} bp, ESM with {args.layers} layers x {args.hidden} "
        f"wide, CPU ({torch.get_num_threads()} threads), median of {args.repeats} runs"
    )
    print(f"{'approach':44s} {'seconds':>8s} {'speed-up':>9s} {'bytes/seq':>10s}")
    labels = {
        "naive": f"naive: {args.layers + 1} passes, fp32 tokens per layer",
        "engine_tokens": "engine: 1 pass, all layers pooled + tokens",
        "engine_pooled": "engine: 1 pass, all layers pooled",
    }
    for name, label in labels.items():
        seconds = statistics.median(times[name])
        print(f"{label:44s} {seconds:8.2f} {naive / seconds:8.1f}x {sizes[name]:10,d}")


if __name__ == "__main__":
    main()
