"""Frozen probe against LoRA, full fine-tuning and from-scratch training, under one head.

Cases: the demo's two tasks (motif_activity, motif_grammar; config/demo.yaml) with each tiny
random-weight model (tiny_nt, tiny_mistral) and the demo's CNN probe recipes, and, where
../shared is present, the real Mistral-DNA 1M on GUE human TF binding task 0 (its train / dev /
test as train / valid / test) with the paper configuration's language-model CNN recipe
(`rep_cnn_1`) under an epoch budget. Each condition runs in its own process, so its peak
resident memory is its own:

- frozen: the last layer's token states extracted once (timed apart), then the CNN probe;
- lora, full, scratch: `glmeval.probes.finetune` (docs/finetuning.md) with the same head.

    python benchmarks/finetune.py [--cases demo,gue] [--epochs-gue 5] [--workdir DIR]

Prints one row per case and condition: the test metric, the trainable parameters, the epochs
run, seconds per epoch (median), the peak resident memory, and the frozen probe's extraction
seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GLMEVAL_SHARED", REPO.parent / "shared"))
MISTRAL = "mistral-dna-v1-1m-hg38-finetuned-tf1"
CONDITIONS = ("frozen", "lora", "full", "scratch")
TRAIN_KEYS = ("lr", "batch_size", "max_epochs", "patience", "lr_factor", "lr_patience", "min_lr")


def _defaults(probe: dict) -> dict:
    """A probe's settings with the schema's defaults filled in (as the workflow runs it)."""
    defaults = {"width": 1.0, "bn_momentum": 0.99, "lr": 1e-4, "batch_size": 64}
    defaults |= {"max_epochs": 100, "patience": 10, "lr_factor": 0.2, "lr_patience": 5}
    return {**defaults, "min_lr": 1e-8, "shuffle": True, **probe}


def cases(names: list[str], epochs_gue: int) -> list[dict]:
    """(task source, model, probe, metric) of each case."""
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    out = []
    if "demo" in names:
        recipes = {"motif_activity": "rep_cnn", "motif_grammar": "rep_cnn_binary"}
        for task, recipe in recipes.items():
            spec = demo["tasks"][task]
            probe = {k: v for k, v in demo["probes"][recipe].items() if k != "layers"}
            for model in ("tiny_nt", "tiny_mistral"):
                settings = {k: demo["models"][model][k] for k in ("family", "n_layers")}
                out.append(
                    {
                        "task": task,
                        "source": spec["source"],
                        "kind": spec["kind"],
                        "model": model,
                        "settings": settings,
                        "builder": demo["models"][model]["source"]["builder"],
                        "probe": _defaults(probe),
                    }
                )
    if "gue" in names and (SHARED / "models" / MISTRAL).is_dir():
        paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["probes"]
        probe = {k: v for k, v in paper["rep_cnn_1"].items() if k not in ("models", "layers")}
        probe |= {"max_epochs": epochs_gue, "patience": 3, "lr_patience": 2}
        out.append(
            {
                "task": "gue_tf0",
                "source": {
                    "files": {
                        split: str(SHARED / "data" / "gue_tf" / "0" / f"{name}.csv")
                        for split, name in zip(("train", "valid", "test"), ("train", "dev", "test"))
                    }
                },
                "kind": "binary",
                "task_settings": {"targets": ["label"]},
                "model": "mistral_dna",
                "settings": {"family": "causal_lm", "n_layers": 4},
                "path": str(SHARED / "models" / MISTRAL),
                "probe": _defaults(probe),
            }
        )
    return out


def prepare(case: dict, workdir: Path) -> tuple[Path, str | None]:
    """The case's prepared task directory and its model's checkpoint."""
    from glmeval.data.tasks import prepare_task
    from glmeval.models.build import BUILDERS

    task_dir = workdir / "data" / case["task"]
    if not (task_dir / "task.json").exists():
        spec = {k: case[k] for k in ("kind", "source")} | case.get("task_settings", {})
        prepare_task(case["task"], spec, task_dir)
    path = case.get("path")
    if path is None:
        path = workdir / "models" / case["model"]
        if not path.exists():
            BUILDERS[case["builder"]](path, n_layers=case["settings"]["n_layers"])
    return task_dir, str(path)


def run_one(case: dict, condition: str, workdir: Path) -> dict:
    """One condition of one case, in this process: its record."""
    import torch

    from glmeval.io import read_json
    from glmeval.probes.run import Run

    torch.set_num_threads(os.cpu_count() or 1)
    task_dir, path = prepare(case, workdir)
    out = workdir / "runs" / case["task"] / case["model"] / condition
    layer = case["settings"]["n_layers"]
    metric = "pearson" if case["kind"] == "regression" else "auroc"
    record: dict = {}
    if condition == "frozen":
        import pandas as pd

        from glmeval.embed import extract
        from glmeval.models import load_embedder
        from glmeval.probes.run import run_probe

        embedder = load_embedder(case["model"], case["settings"], path)
        started, dirs = time.perf_counter(), {}
        for split in ("train", "valid", "test"):
            sequences = pd.read_parquet(task_dir / f"{split}.parquet")["sequence"].tolist()
            dirs[split] = out / "embeddings" / split
            extract(embedder, sequences, dirs[split], token_layers=[layer], pooled=False)
        record["extraction_seconds"] = time.perf_counter() - started
        context = {"task": case["task"], "model": case["model"], "probe": "frozen"}
        run_probe(task_dir, dirs, case["probe"], "tokens", layer, 0, out / "run", context)
        head = torch.load(out / "run" / "model.pt", weights_only=False)["state_dict"]
        record["trainable_parameters"] = sum(
            v.numel() for k, v in head.items() if "running_" not in k and "num_batches" not in k
        )
    else:
        from glmeval.probes.finetune import run_finetune_group

        probe = {**case["probe"], "finetune": condition}
        run_finetune_group(
            task_dir,
            case["model"],
            case["settings"],
            path,
            probe,
            "tokens",
            [Run(layer, 1.0, 0, str(out / "run"))],
            out / "runs.json",
            {"task": case["task"], "model": case["model"], "probe": condition},
        )
        tuned = read_json(out / "run" / "metrics.json")["finetune"]
        record |= {k: tuned[k] for k in ("trainable_parameters", "seconds_per_epoch")}
    metrics = read_json(out / "run" / "metrics.json")
    rows = [r for r in metrics["rows"] if r["metric"] == metric]
    record |= {
        "metric": metric,
        "value": rows[0]["value"],
        "epochs": len(metrics["history"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="demo,gue")
    parser.add_argument("--epochs-gue", type=int, default=5)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # "<case index> <condition>"
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="glmeval-finetune-"))
    chosen = cases(args.cases.split(","), args.epochs_gue)
    if args.one:
        index, condition = args.one.split()
        print(json.dumps(run_one(chosen[int(index)], condition, workdir)))
        return
    print(f"workdir {workdir}", flush=True)
    header = "task  model  condition  metric  value  trainable  epochs  s/epoch  peak_MB  extract_s"
    print(header, flush=True)
    for index, case in enumerate(chosen):
        for condition in CONDITIONS:
            command = [sys.executable, __file__, "--cases", args.cases]
            command += ["--epochs-gue", str(args.epochs_gue), "--workdir", str(workdir)]
            done = subprocess.run(
                [*command, "--one", f"{index} {condition}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                sys.exit(f"{case['task']} {case['model']} {condition} failed:\n{done.stderr}")
            record = json.loads(done.stdout.strip().splitlines()[-1])
            seconds = record.get("seconds_per_epoch")
            if seconds is None:  # the frozen probe's epochs, from its training log
                epochs = re.findall(r"^epoch \d+: .*\(([\d.]+) s\)$", done.stderr, re.MULTILINE)
                seconds = float(np.median([float(s) for s in epochs]))
            print(
                f"{case['task']}  {case['model']}  {condition}  {record['metric']}  "
                f"{record['value']:.3f}  {record['trainable_parameters']:,}  "
                f"{record['epochs']}  {seconds:.1f}  {record['peak_rss_mb']:,.0f}  "
                f"{record.get('extraction_seconds', float('nan')):.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
