"""What averaging the two strands changes: probes on the demo task, zero-shot on real CAGI5.

    python benchmarks/strands.py [--n-train 6000] [--elements LDLR SORT1 F9 PKLR] [--cpus 2]

1. Probes: the demo's motif_activity task (synthetic, 230 bp; config/demo.yaml's sizes) embedded
   with `strands: both` by the tiny demo models and, from ../shared, the real Mistral-DNA; a
   ridge probe (the demo's alpha) on the last layer's mean of the forward strand, of the reverse
   strand and of the two strands averaged. Prints test Pearson r of each.
2. Zero-shot: the real Mistral-DNA on the CAGI5 saturation-mutagenesis variants of `elements`
   (whole elements), scored with `strands="both"`: the mean over elements of Pearson r between
   |effect| and each distance, forward, reverse and averaged (the score's own column).

Prints the figures and seconds; no assertion.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from glmeval.data.cagi5 import prepare_cagi5
from glmeval.data.synthetic import GENERATORS
from glmeval.embed import extract
from glmeval.metrics import metric_value
from glmeval.models import load_embedder
from glmeval.models.build import BUILDERS
from glmeval.probes.inputs import load_features
from glmeval.probes.linear import ridge
from glmeval.vep import zero_shot_scores
from glmeval.zeroshot import score_variants

SHARED = Path(os.environ.get("GLMEVAL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
MISTRAL = SHARED / "models" / "mistral-dna-v1-1m-hg38-finetuned-tf1"
VIEWS = {"forward": "mean_forward", "reverse": "mean_reverse", "averaged": "mean"}


def demo_models(root: Path) -> dict:
    models = {}
    for name, family in (("tiny_nt", "masked_lm"), ("tiny_mistral", "causal_lm")):
        BUILDERS[name](root / name, n_layers=2, hidden_size=32)
        models[name] = ({"family": family, "n_layers": 2, "strands": "both"}, root / name)
    if MISTRAL.is_dir():
        models["mistral_dna"] = ({"family": "causal_lm", "n_layers": 4, "strands": "both"}, MISTRAL)
    return models


def probe_figures(root: Path, n_train: int) -> None:
    sizes = {"train": n_train, "valid": 1000, "test": 1000}
    data = GENERATORS["motif_regression"](sum(sizes.values()), length=230, seed=1)
    bounds = np.cumsum([0, *sizes.values()])
    splits = {s: data.iloc[a:b] for s, a, b in zip(sizes, bounds[:-1], bounds[1:])}
    print(
        f"demo motif_activity, ridge (alpha 0.001) on the last layer's mean, test Pearson r "
        f"({n_train} training rows):"
    )
    for name, (settings, path) in demo_models(root).items():
        model = load_embedder(name, settings, str(path))
        start = time.perf_counter()
        for split in ("train", "test"):
            extract(model, splits[split]["sequence"].tolist(), root / name / split, batch_size=128)
        seconds = time.perf_counter() - start
        y = {s: splits[s][["activity"]].to_numpy(np.float64) for s in ("train", "test")}
        row = []
        for label, rep in VIEWS.items():
            x = {s: load_features(root / name / s, rep, model.n_layers) for s in ("train", "test")}
            pred = ridge(x["train"], y["train"], x["test"], alpha=0.001)
            row.append(f"{label} {metric_value('pearson', y['test'][:, 0], pred[:, 0]):.4f}")
        print(f"  {name}: {', '.join(row)} (both strands embedded in {seconds:.0f} s)")


def zeroshot_figures(root: Path, elements: list[str]) -> None:
    if not MISTRAL.is_dir():
        print("zero-shot: ../shared has no Mistral-DNA checkpoint; skipped")
        return
    prepare_cagi5("cagi5", {"cagi5": str(SHARED / "data" / "cagi5"), "elements": elements}, root)
    variants = pd.read_parquet(root / "variants.parquet")
    model = load_embedder("mistral_dna", {"family": "causal_lm", "n_layers": 4}, str(MISTRAL))
    start = time.perf_counter()
    scores = score_variants(model, variants, ("cosine", "l2"), strands="both", batch_size=64)
    seconds = time.perf_counter() - start
    oriented = zero_shot_scores(scores)
    truth = variants["abs_effect"].to_numpy(np.float64)
    print(
        f"zero-shot, real Mistral-DNA, CAGI5 {', '.join(elements)} ({len(variants)} variants, "
        f"whole elements, {seconds:.0f} s): mean over elements of Pearson r with |effect|"
    )
    for score in ("cosine_distance", "l2"):
        row = []
        for label, suffix in (
            ("forward", " (forward)"),
            ("reverse", " (reverse)"),
            ("averaged", ""),
        ):
            values = oriented[score + suffix]
            r = [
                metric_value("pearson", truth[mask], values[mask])
                for mask in (variants["element"] == e for e in elements)
            ]
            row.append(f"{label} {np.mean(r):.4f}")
        print(f"  {score}: {', '.join(row)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--elements", nargs="+", default=["LDLR", "SORT1", "F9", "PKLR"])
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.cpus)
    with tempfile.TemporaryDirectory() as tmp:
        probe_figures(Path(tmp) / "probes", args.n_train)
        zeroshot_figures(Path(tmp) / "cagi5", args.elements)


if __name__ == "__main__":
    main()
