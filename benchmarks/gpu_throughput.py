"""Extraction throughput of real model configurations (random weights) through the engine.

    python benchmarks/gpu_throughput.py [--models nt_500m nt_2b5 dnabert2] [--lengths 230 1024]
        [--n 20000] [--repeats 3] [--device cuda] [--peak-tflops 989] [--hyena DIR]

Weights do not change speed, so each model is the public configuration of the real checkpoint,
random-initialised (`random_init`), with the Nucleotide Transformer's 6-mer tokenizer (NT) or a
BPE tokenizer of DNABERT-2's vocabulary size. For every model and length it runs
`glmeval.embed.extract` (every layer pooled, automatic batches, the family's autocast) on `n`
random sequences and prints the median over `repeats` of sequences/s, tokens/s, achieved TFLOP/s,
MFU against `--peak-tflops` (dense bf16; H100/H200 SXM: 989) and peak GPU memory.

- NT v1 is an ESM (transformers-native), so NT-500M and NT-2.5B run their real architecture.
- DNABERT-2's own code (ALiBi attention, GeGLU MLP) is remote code on the hub; without network
  this runs transformers' BERT with DNABERT-2's sizes. Its MLP has 2/3 of the GeGLU's FLOPs.
- HyenaDNA exists only as remote code: pass `--hyena DIR`, a local snapshot of a
  LongSafari/hyenadna-*-hf repository (its code and config), to include it.

FLOPs per sequence of T tokens: 2 × (non-embedding parameters) × T + 4 × layers × T² × hidden
(attention scores and values); HyenaDNA counts the parameter term only.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, BertConfig, EsmConfig

from glmeval.embed import extract
from glmeval.models import load_embedder
from glmeval.models.build import bpe_tokenizer, build_tiny_nt

# Public configurations (config.json of each hub checkpoint).
NT = {"position_embedding_type": "absolute", "emb_layer_norm_before": False, "token_dropout": False}
CONFIGS = {
    "nt_500m": (
        "masked_lm",
        dict(hidden_size=1280, num_hidden_layers=24, num_attention_heads=20,
             intermediate_size=5120, max_position_embeddings=1002, **NT),
    ),
    "nt_2b5": (
        "masked_lm",
        dict(hidden_size=2560, num_hidden_layers=32, num_attention_heads=40,
             intermediate_size=10240, max_position_embeddings=1002, **NT),
    ),
    "dnabert2": (
        "masked_lm",
        {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
         "intermediate_size": 3072, "vocab_size": 4096, "max_position_embeddings": 4096},
    ),
}  # fmt: skip


def build(name: str, root: Path, hyena: Path | None) -> tuple[str, Path, int]:
    """A directory holding the model's config and tokenizer; (family, path, layers)."""
    out = root / name
    if name == "hyenadna":
        config = AutoConfig.from_pretrained(hyena, trust_remote_code=True)
        return "hyenadna", hyena, config.n_layer
    family, settings = CONFIGS[name]
    if name.startswith("nt"):
        build_tiny_nt(out, hidden_size=8, n_layers=1, max_tokens=1002)  # the NT tokenizer
        config = EsmConfig.from_pretrained(out)
        for key, value in settings.items():
            setattr(config, key, value)
    else:
        bpe_tokenizer(settings["vocab_size"], settings["max_position_embeddings"]).save_pretrained(
            out
        )
        config = BertConfig(**settings, pad_token_id=3)
    for weights in out.glob("*.safetensors"):
        weights.unlink()
    config.save_pretrained(out)
    return family, out, config.num_hidden_layers


def flops_per_sequence(model, tokens: int) -> float:
    net = model.inner if hasattr(model, "inner") else model
    params = sum(p.numel() for p in net.backbone.parameters())
    params -= net.backbone.get_input_embeddings().weight.numel()
    attention = 0 if net.family.name == "hyenadna" else 4 * model.n_layers * tokens**2
    return 2 * params * tokens + attention * model.hidden_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["nt_500m", "nt_2b5", "dnabert2"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[230, 1024])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--hyena", type=Path)
    args = parser.parse_args()
    models = args.models + (["hyenadna"] if args.hyena else [])
    cuda = args.device.startswith("cuda")
    device = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"device: {device}; {args.n} random sequences per run; median of {args.repeats}")
    print(
        f"{'model':9s} {'bp':>5s} {'tokens':>6s} {'seq/s':>9s} {'tokens/s':>11s} "
        f"{'TFLOP/s':>8s} {'MFU':>6s} {'peak GiB':>8s} {'batch tokens':>12s}"
    )
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as root:
        for name in models:
            family, path, layers = build(name, Path(root), args.hyena)
            settings = {"family": family, "n_layers": layers, "random_init": 0}
            model = load_embedder(name, settings, path, device=args.device)
            for length in args.lengths:
                seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(args.n)]
                tokens = len(model.encode(seqs[:1])[0])
                extract(model, seqs[: min(len(seqs), 256)], Path(root) / "warmup")
                rates, peaks, batch = [], [], None
                for repeat in range(args.repeats):
                    if cuda:
                        torch.cuda.synchronize()
                        torch.cuda.reset_peak_memory_stats()
                    out = Path(root) / f"{name}_{length}_{repeat}"
                    start = time.perf_counter()
                    extract(model, seqs, out)
                    if cuda:
                        torch.cuda.synchronize()
                        peaks.append(torch.cuda.max_memory_allocated() / 2**30)
                    rates.append(args.n / (time.perf_counter() - start))
                    batch = json.loads((out / "meta.json").read_text())["batch"]
                rate = statistics.median(rates)
                tflops = rate * flops_per_sequence(model, tokens) / 1e12
                peak = f"{max(peaks):8.1f}" if peaks else f"{'-':>8s}"
                print(
                    f"{name:9s} {length:5d} {tokens:6d} {rate:9.1f} {rate * tokens:11.0f} "
                    f"{tflops:8.1f} {tflops / args.peak_tflops:6.1%} {peak} "
                    f"{batch['tokens']:12d}"
                )
            del model
            if cuda:
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
