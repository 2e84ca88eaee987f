"""The representations on real data: lentiMPRA WTC11 (regression) and GUE human TF binding
(classification) from ../shared, run through the workflow with the paper configuration's own
probe recipes, reported with the leaderboard's rank intervals.

Representations: one-hot DNA through the paper's networks (its one-hot CNN, ResidualBind and
MPRAnn for lentiMPRA, its ChIP-seq CNN for TF binding); base composition and dinucleotide
frequencies (the one-hot family's mean, k = 1 and 2) with the paper's fixed-alpha linear probes;
the 4-6-mer spectrum (`kmer` family) with ridge / logistic regression whose alpha is chosen on
the validation split; and the real Mistral-DNA 1M's every layer (mean-pooled) with the paper's
linear probes, plus ridge / logistic with a chosen alpha, and its last layer's tokens through
the paper's language-model CNN probe (`rep_cnn`; the ChIP-seq CNN's pools need 32 tokens, more
than its BPE gives a 101-nt sequence). One diagnosis beside the recipes: the paper's one-hot CNN
with Keras batch-norm momentum 0.9 (`onehot_cnn_bn09`; docs/benchmarks.md, Real data).

Splits. lentiMPRA WTC11 has only its redistributor's `val` and `test` files: `test` is the test
split; `val` is cut into train (80 %) and valid (20 %) by element, so both orientations of an
element (`<id>_F`, `<id>_R`) fall on one side. GUE's train/dev/test are its own. Mistral-DNA was
fine-tuned on GUE tf1 (task 1), so it is left out of that task; the default runs task 0.

    python benchmarks/real_data.py [--workdir DIR] [--seeds 0] [--gue 0] [--cores 2]

Prints each task's leaderboard (best probe per representation, its 95 % CI, its rank and rank
interval) and the wall time; the run's files stay in --workdir (results/tables/).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GLMEVAL_SHARED", REPO.parent / "shared"))
BIN = Path(sys.executable).parent
MISTRAL = "mistral-dna-v1-1m-hg38-finetuned-tf1"
#: the validation grid of the chosen-alpha linear probes (counts and embeddings alike)
ALPHAS = [float(a) for a in np.logspace(-3, 5, 9)]


def wtc11_table(shared: Path, seed: int = 0) -> pd.DataFrame:
    """id, sequence, activity, split: `test_WTC11` as test; `val_WTC11` cut 80/20 into train
    and valid by element (its `_F` and `_R` rows together)."""
    parts = []
    for name, split in (("val", None), ("test", "test")):
        table = pd.read_csv(shared / "data" / "lentimpra_wtc11" / f"{name}_WTC11.tsv", sep="\t")
        table = table.rename(columns={"seq_id": "id", "seq": "sequence", "mean_value": "activity"})
        if split is None:
            element = table["id"].str.rsplit("_", n=1).str[0]
            names = element.unique()
            rng = np.random.default_rng(seed)
            valid = set(rng.choice(names, size=round(0.2 * len(names)), replace=False))
            table["split"] = np.where(element.isin(valid), "valid", "train")
        else:
            table["split"] = split
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def configuration(shared: Path, data: Path, seeds: list[int], gue: list[int]) -> dict:
    """The benchmark's configuration: its tasks and models, the paper configuration's probes."""
    paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["probes"]
    probe = {name: {k: v for k, v in paper[name].items() if k != "models"} for name in paper}
    onehot_networks = {"onehot_cnn", "resnet", "mprann", "chip_cnn"}
    probes = {
        **{name: probe[name] for name in onehot_networks},
        "ridge": probe["ridge"],
        "logistic": probe["logistic"],
        "ridge_cv": {"type": "ridge", "alphas": ALPHAS},
        "logistic_cv": {"type": "logistic", "alphas": ALPHAS},
        "rep_cnn_1": {k: v for k, v in probe["rep_cnn_1"].items() if k != "<<"},
        # a diagnosis, not a recipe: the paper's one-hot CNN with batch-norm statistics that
        # follow the weights within an epoch of a small training set (Keras momentum 0.9)
        "onehot_cnn_bn09": {**probe["onehot_cnn"], "bn_momentum": 0.9},
    }
    for name in (*onehot_networks, "onehot_cnn_bn09"):
        probes[name]["models"] = ["onehot"]
    probes["chip_cnn"].pop("model_overrides", None)  # it names the paper's NT
    probes["rep_cnn_1"]["models"] = ["mistral_dna"]
    linear_models = ["composition", "dinucleotide", "mistral_dna"]
    for name in ("ridge", "logistic"):
        probes[name]["models"] = linear_models
    for name in ("ridge_cv", "logistic_cv"):
        probes[name]["models"] = ["kmer", "mistral_dna"]
    models = {
        "onehot": {"family": "onehot", "label": "one-hot"},
        "composition": {"family": "onehot", "label": "composition"},
        "dinucleotide": {"family": "onehot", "k": 2, "label": "dinucleotide"},
        "kmer": {"family": "kmer", "k": [4, 5, 6], "label": "4-6-mer counts"},
        "mistral_dna": {
            "family": "causal_lm",
            "source": {"path": str(shared / "models" / MISTRAL)},
            "n_layers": 4,
            "batch_size": 256,
            "label": "Mistral-DNA 1M",
        },
    }
    tasks = {
        "wtc11": {
            "description": "lentiMPRA WTC11 (Agarwal et al. 2025), 230 nt",
            "kind": "regression",
            "targets": ["activity"],
            "source": {"table": str(data / "wtc11.parquet")},
            "models": list(models),
            "probes": [
                "onehot_cnn",
                "onehot_cnn_bn09",
                "resnet",
                "mprann",
                "ridge",
                "ridge_cv",
                "rep_cnn_1",
            ],
            "probe_layers": {"mistral_dna": "all"},
            "baseline": {"model": "onehot", "probe": "onehot_cnn"},
        }
    }
    for index in gue:
        folder = shared / "data" / "gue_tf" / str(index)
        tasks[f"gue_tf{index}"] = {
            "description": f"GUE human TF binding, task {index}, 101 nt",
            "kind": "binary",
            "targets": ["label"],
            "source": {
                "files": {
                    s: str(folder / f"{f}.csv")
                    for s, f in zip(("train", "valid", "test"), ("train", "dev", "test"))
                }
            },
            "models": [m for m in models if m != "mistral_dna" or index != 1],
            "probes": ["chip_cnn", "logistic", "logistic_cv", "rep_cnn_1"],
            "probe_layers": {"mistral_dna": "all"},
            "baseline": {"model": "onehot", "probe": "chip_cnn"},
        }
    return {
        "seeds": seeds,
        "device": "cpu",
        "offline": True,
        "tasks": tasks,
        "models": models,
        "probes": probes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--gue", type=int, nargs="+", default=[0])
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    if not (SHARED / "data" / "lentimpra_wtc11").is_dir():
        sys.exit(f"no shared data at {SHARED} (set GLMEVAL_SHARED)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="glmeval-real-"))
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    if not (data / "wtc11.parquet").exists():  # rewritten, it would redo every job
        wtc11_table(SHARED).to_parquet(data / "wtc11.parquet", index=False)
    config = configuration(SHARED, data, args.seeds, args.gue)
    config_path = work / "real_data.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    start = time.perf_counter()
    command = [
        str(BIN / "snakemake"),
        "results/tables/leaderboard.md",
        "results/tables/probe_summary.csv",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--configfile",
        str(config_path),
        "--directory",
        str(work),
        "--cores",
        str(args.cores),
        "--show-failed-logs",
        "--quiet",
    ]
    subprocess.run(command, check=True, cwd=REPO)
    seconds = time.perf_counter() - start
    print((work / "results" / "tables" / "leaderboard.md").read_text())
    print(f"workdir {work}; {seconds / 60:.1f} min on {args.cores} cores")


if __name__ == "__main__":
    main()
