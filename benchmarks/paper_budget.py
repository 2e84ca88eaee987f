"""The paper configuration's GPU budget for the language models' forward passes, by model and
task, from glmeval.job_resources's cost model (2 FLOP per parameter per token at
job_resources.GPU_FLOPS), against the paper's own runs, which extracted NT once per probed layer.

Dataset sizes are the paper's (docs/paper.md, Tasks; ChIP-seq and eCLIP from their test sizes at a
70/10/20 split); parameter counts are the checkpoints' (Sei: its trunk; convolutions are
counted at every input position). Prints a Markdown table of GPU-hours.

    python benchmarks/paper_budget.py [--config config/config.yaml]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from glmeval.config import load_config
from glmeval.job_resources import GPU_FLOPS, forward_gpu_seconds
from glmeval.plan import probe_jobs, variant_window

REPO = Path(__file__).resolve().parents[1]
#: sequences (train + valid + test) and bases per sequence of each task family
TASKS = {
    "lentimpra_hepg2": (245_800, 230),
    "lentimpra_k562": (393_300, 230),
    "chip": (50_000, 200),  # per TF: test 2.7k-17.5k, about 10k
    "eclip": (18_000, 200),  # per RBP: test 0.7k-6.6k, about 3.6k
    "insert_seq": (11_417, 173),
    "splicing": (50_956, 800),  # two 400-nt halves
}
PARAMETERS = {
    "nt_2b5_1000g": 2.5e9,
    "nt_2b5_species": 2.5e9,
    "nt_500m_human": 5e8,
    "nt_500m_1000g": 5e8,
    "dnabert2": 1.17e8,
    "dnabert2_random": 1.17e8,
    "gpn_human": 6.6e7,
    "hyenadna": 1.6e6,
    "sei": 7.35e7,
    "rbp": 1e6,
}
#: tokens per base (NT: 6-mers; DNABERT-2: BPE, about 4.5 bases a token; Sei: 4,096 positions)
TOKENS_PER_BASE = {"nt": 1 / 6, "dnabert2": 1 / 4.5}
N_VARIANTS = 18_442


def tokens(model: str, sequences: int, bases: int) -> float:
    if model == "sei":
        return sequences * 4096
    rate = next((r for prefix, r in TOKENS_PER_BASE.items() if model.startswith(prefix)), 1.0)
    return sequences * bases * rate


def group(task: str) -> str:
    return task.split("_")[0] if task.startswith(("chip", "eclip")) else task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=REPO / "config" / "config.yaml")
    args = parser.parse_args()
    config = load_config(args.config, REPO / "config" / "schema.yaml")
    pairs = sorted({(j.model, j.task) for j in probe_jobs(config)})
    hours: dict[tuple[str, str], float] = {}
    for model, task in pairs:
        if model in PARAMETERS:
            sequences, bases = TASKS[group(task)]
            key = (model, group(task))
            seconds = forward_gpu_seconds(PARAMETERS[model], tokens(model, sequences, bases))
            hours[key] = hours.get(key, 0.0) + seconds / 3600
    for name, variants in config["variants"].items():
        zeroshot = variants.get("zeroshot", {})
        for model in zeroshot.get("models", []):
            window = variant_window(config, name, model) or variants["length"]
            passes = 3 if model.startswith(("nt", "gpn", "dnabert2")) else 2  # + masked LLR
            seconds = forward_gpu_seconds(
                PARAMETERS[model], tokens(model, passes * N_VARIANTS, window)
            )
            hours[model, f"{name} zero-shot"] = seconds / 3600
    columns = [*TASKS, "cagi5 zero-shot"]
    models = [m for m in PARAMETERS if any(k[0] == m for k in hours)]
    print(f"GPU-hours of forward passes at {GPU_FLOPS:.0e} FLOP/s (bf16, about 1/3 of an A100)\n")
    print("| model | " + " | ".join(columns) + " | total |")
    print("| --- |" + " ---: |" * (len(columns) + 1))
    for model in models:
        row = [hours.get((model, c), 0.0) for c in columns]
        cells = [f"{h:.2f}" if h else "" for h in row]
        print(f"| {model} | " + " | ".join(cells) + f" | {sum(row):.2f} |")
    total = sum(hours.values())
    print(f"\nall models: {total:.1f} GPU-hours")
    nt = "nt_2b5_1000g"
    once = sum(h for (m, c), h in hours.items() if m == nt and c != "cagi5 zero-shot")
    lenti = sum(h for (m, c), h in hours.items() if m == nt and c.startswith("lentimpra"))
    # the paper: one extraction per layer (32 on lentiMPRA; layers 32 and 10 elsewhere)
    paper = 32 * lenti + 2 * (once - lenti)
    print(f"NT 2.5B embeddings: {once:.1f} GPU-hours (every layer from one pass) against "
          f"{paper:.1f} for the paper's per-layer extractions ({paper / once:.1f}x)")


if __name__ == "__main__":
    main()
