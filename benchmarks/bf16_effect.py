"""What bf16 autocast does to the numbers, against fp32, on the CPU (a GPU run is the same
script with --device cuda).

    python benchmarks/bf16_effect.py [--n 400] [--device cpu]

1. Hidden states: for each model and layer, the maximum and mean over 64 random 230-bp
   sequences of the relative difference ||bf16 - fp32|| / ||fp32|| of the mean-pooled state.
2. Zero-shot: the real Mistral-DNA (../shared) scores CAGI5 variants in 230-nt element windows
   (the first --n of LDLR, SORT1, F9, PKLR) with cosine distance in fp32 and bf16; prints the
   correlation of the two score vectors and each precision's Pearson r with the measured effect.

bf16 is what glmeval's engine uses on a GPU for embeddings (docs/deviations.md); CPU autocast
rounds the same matrix multiplications to bf16.
"""

import argparse
import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr

from glmeval.data.cagi5 import element_context, read_cagi5
from glmeval.models import load_embedder
from glmeval.models.build import BUILDERS
from glmeval.zeroshot import score_variants

SHARED = Path(os.environ.get("GLMEVAL_SHARED", Path(__file__).resolve().parents[2] / "shared"))
TINY = {"tiny_nt": "masked_lm", "tiny_bert": "masked_lm", "tiny_mistral": "causal_lm"}
MISTRAL = SHARED / "models" / "mistral-dna-v1-1m-hg38-finetuned-tf1"


def autocast(device: str, bf16: bool):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def pooled(embedder, seqs, device, bf16) -> torch.Tensor:
    batch = embedder.encode(seqs)
    with autocast(device, bf16):
        states, mask = embedder.hidden_states(batch)
    content = torch.zeros(mask.shape, dtype=torch.bool)
    for row, enc in enumerate(batch):
        content[row, : len(enc)] = torch.from_numpy(~enc.special)
    keep = content.to(mask.device) & mask
    keep = keep[None, :, :, None].float()
    return ((states.float() * keep).sum(2) / keep.sum(2)).cpu()  # (layers, N, D)


def states_report(models: dict, device: str) -> None:
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 230)) for _ in range(64)]
    print("model          layer  max rel diff  mean rel diff")
    for name, (settings, path) in models.items():
        embedder = load_embedder(name, settings, path, device=device)
        full, half = pooled(embedder, seqs, device, False), pooled(embedder, seqs, device, True)
        rel = (half - full).norm(dim=-1) / full.norm(dim=-1)  # (layers, N)
        for layer in range(full.shape[0]):
            worst, mean = rel[layer].max().item(), rel[layer].mean().item()
            print(f"{name:<14} {layer:>5}  {worst:>12.2e}  {mean:>13.2e}")


def zeroshot_report(n: int, device: str) -> None:
    if not MISTRAL.is_dir():
        print(f"zero-shot: skipped ({MISTRAL} not found)")
        return
    cagi5 = SHARED / "data" / "cagi5"
    variants = read_cagi5(cagi5)
    variants = variants[variants["element"].isin(["LDLR", "SORT1", "F9", "PKLR"])]
    variants = variants.reset_index(drop=True).assign(id=lambda t: [f"v{i}" for i in t.index])
    kept, _ = element_context(variants, cagi5 / "elements.csv", length=230)
    kept = kept.head(n)
    embedder = load_embedder(
        "mistral_dna", {"family": "causal_lm", "n_layers": 4}, MISTRAL, device=device
    )
    scores = {}
    for bf16 in (False, True):
        with autocast(device, bf16):
            scores[bf16] = score_variants(embedder, kept, ["cosine"])["cosine"].to_numpy()
    effect = kept["effect"].abs().to_numpy()
    agreement = pearsonr(scores[False], scores[True])[0]
    print(f"zero-shot, Mistral-DNA, cosine, {len(kept)} CAGI5 variants (230 nt):")
    print(f"  r(fp32 scores, bf16 scores) = {agreement:.4f}")
    for bf16, label in [(False, "fp32"), (True, "bf16")]:
        print(f"  {label}: Pearson r with |effect| = {pearsonr(scores[bf16], effect)[0]:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        models = {}
        for name, family in TINY.items():
            BUILDERS[name](Path(root) / name, n_layers=2)
            models[name] = ({"family": family, "n_layers": 2}, Path(root) / name)
        if MISTRAL.is_dir():
            models["mistral_dna"] = ({"family": "causal_lm", "n_layers": 4}, MISTRAL)
        states_report(models, args.device)
    zeroshot_report(args.n, args.device)


if __name__ == "__main__":
    main()
