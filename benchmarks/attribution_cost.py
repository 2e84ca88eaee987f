"""Cost of attribution maps per sequence, per model family.

    python benchmarks/attribution_cost.py [--n 4] [--length 230] [--repeats 3] [--device cpu]

Random `length`-bp sequences explained through an untrained token-level CNN probe (rep_cnn):
in-silico mutagenesis of the whole pipeline (3 × length mutants per sequence through tokenizer,
model, feature path and probe), the embedding-gradient map, and the model's own reverse-entropy
map (one masked pass per token, or one causal pass). Models: the one-hot probe alone, the tiny
offline builds of NT (masked LM, 6-mers), Mistral (causal LM, BPE) and GPN (masked, per base),
and the real Mistral-DNA from ../shared when present (no LM head: no entropy map). Prints the
median seconds per sequence of each map and the hours ISM takes for the paper's set (500
sequences per task) at that rate.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from glmeval.attribution import maps as M
from glmeval.models import load_embedder
from glmeval.models.build import BUILDERS
from glmeval.probes.run import build_probe

SHARED = Path(os.environ.get("GLMEVAL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
TINY = {"tiny_nt": "masked_lm", "tiny_mistral": "causal_lm", "tiny_gpn": "gpn"}
PROBE = {"type": "rep_cnn", "width": 0.5, "reduce_dim": 64, "bn_momentum": 0.99}


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--length", type=int, default=230)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list("ACGT"), args.length)) for _ in range(args.n)]
    x = M.one_hot(sequences)
    print(f"{args.n} random {args.length}-bp sequences, {args.device}, median of {args.repeats}")
    print(
        "| model | ISM (s/seq) | embedding gradient (s/seq) | reverse entropy (s/seq) | ISM, 500 seqs (h) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    torch.manual_seed(0)
    onehot = M.OneHotModel(build_probe(PROBE, (args.length, 4), 1))
    ism = timed(lambda: M.ism(onehot, x, 256, args.device), args.repeats) / args.n
    print(f"| one-hot CNN | {ism:.3f} | | | {500 * ism / 3600:.2f} |")
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for name, family in TINY.items():
            BUILDERS[name](Path(tmp) / name, n_layers=2)
            models[name] = ({"family": family, "n_layers": 2}, Path(tmp) / name)
        mistral = SHARED / "models" / "mistral-dna-v1-1m-hg38-finetuned-tf1"
        if mistral.is_dir():
            models["Mistral-DNA (real)"] = ({"family": "causal_lm", "n_layers": 4}, mistral)
        for name, (settings, path) in models.items():
            embedder = load_embedder(name, settings, str(path), device=args.device)
            print(measure(name, embedder, sequences, args))


def measure(name: str, embedder, sequences: list[str], args) -> str:
    """One table row: ISM, embedding-gradient and reverse-entropy seconds per sequence."""
    x = M.one_hot(sequences)
    encoded = embedder.encode(sequences)
    width = args.length + 2  # any tokenization, CLS and SEP included
    probe = build_probe(PROBE, (width, embedder.hidden_size), 1)
    model = M.PipelineModel(
        embedder,
        (probe, {"input_shape": [width, embedder.hidden_size]}),
        "tokens",
        embedder.n_layers,
    )
    shape = (args.n, width, embedder.hidden_size)
    tokens = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    ism = timed(lambda: M.ism(model, x, 256, args.device), args.repeats) / args.n
    gradient = timed(
        lambda: M.to_bases(M.embedding_gradient(probe, tokens), encoded, args.length),
        args.repeats,
    )
    entropy = ""
    if embedder.has_lm_head:
        seconds = timed(lambda: M.reverse_entropy(embedder, sequences), args.repeats)
        entropy = f"{seconds / args.n:.3f}"
    return f"| {name} | {ism:.3f} | {gradient / args.n:.4f} | {entropy} | {500 * ism / 3600:.2f} |"


if __name__ == "__main__":
    main()
