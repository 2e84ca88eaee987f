"""Cost of zero-shot scoring per 1,000 variants, per model family.

    python benchmarks/zeroshot_cost.py [--n 1000] [--length 230] [--repeats 3]

Random SNVs in random `length`-bp windows, scored by `glmeval.zeroshot.score_variants` with every
score the model supports (distances, and llr where it has an LM head), forward strand. Prints,
per model: the sequences run through the model per 1k variants (counted at its forward pass)
and the median seconds per 1k variants. Models: one-hot, the tiny offline builds of NT (masked
LM, 6-mers), Mistral (causal LM, BPE) and GPN (masked, per base), and the real Mistral-DNA from
../shared when present (distances only: the checkpoint has no LM head).
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from glmeval.models import load_embedder
from glmeval.models.build import BUILDERS
from glmeval.zeroshot import available_scores, score_variants

SHARED = Path(os.environ.get("GLMEVAL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
TINY = {"tiny_nt": "masked_lm", "tiny_mistral": "causal_lm", "tiny_gpn": "gpn"}


def random_variants(n: int, length: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    refs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]
    index = length // 2 - 1
    alleles = [(r[index], rng.choice([b for b in "ACGT" if b != r[index]])) for r in refs]
    return pd.DataFrame(
        {
            "id": [f"v{i}" for i in range(n)],
            "ref": [a for a, _ in alleles],
            "alt": [b for _, b in alleles],
            "variant_index": index,
            "ref_sequence": refs,
            "alt_sequence": [r[:index] + b + r[index + 1 :] for r, (_, b) in zip(refs, alleles)],
        }
    )


def count_rows(embedder) -> list[int]:
    """Count the sequences entering the model's backbone (a forward pre-hook)."""
    counter = [0]
    inner = getattr(embedder, "inner", embedder)
    module = getattr(inner, "backbone", None)
    if module is not None:
        module.register_forward_pre_hook(
            lambda _m, args, kwargs: counter.__setitem__(
                0, counter[0] + len(kwargs.get("input_ids", args[0] if args else []))
            ),
            with_kwargs=True,
        )
    return counter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--length", type=int, default=230)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    variants = random_variants(args.n, args.length)
    with tempfile.TemporaryDirectory() as root:
        models = {"onehot": ({"family": "onehot", "n_layers": 0}, None)}
        for name, family in TINY.items():
            BUILDERS[name](Path(root) / name, n_layers=2)
            models[name] = ({"family": family, "n_layers": 2}, Path(root) / name)
        mistral = SHARED / "models" / "mistral-dna-v1-1m-hg38-finetuned-tf1"
        if mistral.is_dir():
            models["mistral_dna"] = ({"family": "causal_lm", "n_layers": 4}, mistral)
        print(
            f"{args.n} random SNVs in {args.length}-bp windows, forward strand, CPU "
            f"({torch.get_num_threads()} threads), median of {args.repeats}"
        )
        print(f"{'model':12s} {'scores':28s} {'sequences/1k':>12s} {'s/1k variants':>13s}")
        for name, (settings, path) in models.items():
            embedder = load_embedder(name, settings, path)
            scores = available_scores(embedder)
            counter = count_rows(embedder)
            seconds = []
            for _ in range(args.repeats):
                counter[0] = 0
                start = time.perf_counter()
                score_variants(embedder, variants, scores, batch_size=64)
                seconds.append(time.perf_counter() - start)
            per_1k = 1000 / args.n
            rows = f"{counter[0] * per_1k:12.0f}" if counter[0] else f"{'-':>12s}"
            print(
                f"{name:12s} {','.join(scores):28s} {rows} "
                f"{statistics.median(seconds) * per_1k:13.2f}"
            )


if __name__ == "__main__":
    main()
