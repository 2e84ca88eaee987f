"""glmeval.cost's predictions against a real run: the paper configuration scaled down, run by
Snakemake on this machine's CPU, predicted seconds per rule and bytes on disk beside measured.

The scaled-down configuration keeps the paper's structure on three of its tasks (lentiMPRA K562
with NT's 33-layer CNN sweep, a ChIP-seq task, INSERT-seq's seeds and fractions) as synthetic
tasks of the same sequence lengths, `--sequences` each; its language models are stand-ins with
the paper models' layer counts and hidden sizes divided by `--shrink` (NT 2.5B: 32 layers,
2560 / 32 = 80; GPN 25 layers; DNABERT-2 12 layers, BPE; HyenaDNA 2 layers), its probes the
paper's with `max_epochs` 2 that never stop early (patience 3). `--budget-layers` sets
storage.max_tokens_gb to that many of the largest token layer, so the token layers go in waves.

Measured: each job's seconds from Snakemake's records (run with one core: jobs one at a time),
token bytes on disk polled every 0.2 s (the peak) and everything under results/ at the end.

    python benchmarks/cost_validation.py --sequences 1000 [--shrink 32] [--budget-layers 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from glmeval.config import load_config, validate_config
from glmeval.cost import CostModel, Profile
from glmeval.run_plan import RunPlan
from glmeval.storage import GB

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: the paper's language models: (builder, layers, hidden size, card extras)
STANDINS = {
    "nt_2b5_1000g": ("tiny_nt", 32, 2560, {"bases_per_token": 6}),
    "gpn_human": ("tiny_gpn", 25, 512, {}),
    "dnabert2": ("tiny_bert", 12, 768, {}),
    "hyenadna": ("tiny_gpn", 2, 256, {}),
}
TASKS = {  # the paper's task: (synthetic kind, length, models, probes, extra settings)
    "lentimpra_k562": (
        "motif_regression",
        230,
        ["onehot", "nt_2b5_1000g", "gpn_human", "hyenadna", "dnabert2"],
        ["ridge", "rep_mlp_05", "rep_cnn_1", "nt_rep_cnn", "onehot_cnn"],
        {},
    ),
    "chip_arid3": (
        "motif_grammar",
        200,
        ["onehot", "dinucleotide", "nt_2b5_1000g"],
        ["chip_cnn", "logistic", "rep_mlp_chip"],
        {"seeds": [0, 1]},
    ),
    "insert_seq": (
        "motif_regression",
        173,
        ["onehot", "nt_2b5_1000g", "gpn_human"],
        ["insert_cnn", "onehot_insert_cnn"],
        {"seeds": [0, 1, 2], "train_fractions": [0.5, 1.0]},
    ),
}


def scaled_config(sequences: int, shrink: int, budget_layers: float | None) -> dict:
    paper = load_config(REPO / "config" / "config.yaml")
    models = {m: paper["models"][m] for m in ("onehot", "dinucleotide")}
    for name, (builder, layers, hidden, card) in STANDINS.items():
        width = hidden // shrink
        args = {"hidden_size": width}
        if builder != "tiny_gpn":
            args["n_heads"] = 4
        models[name] = {
            "family": "gpn" if builder == "tiny_gpn" else "masked_lm",
            "source": {"builder": builder, "args": args},
            "n_layers": layers,
            "card": {"hidden_size": width, **card},
            "probe_layers": paper["models"][name].get("probe_layers", "last"),
        }
    tasks = {}
    for name, (kind, length, task_models, probes, extra) in TASKS.items():
        spec = dict(paper["tasks"][name])
        for key in ("size", "source", "baseline", "probe_layers"):
            spec.pop(key, None)
        n_valid = sequences // 10
        spec |= {
            "source": {
                "synthetic": kind,
                "length": length,
                "n_train": sequences - 2 * n_valid,
                "n_valid": n_valid,
                "n_test": n_valid,
            },
            "kind": "regression" if kind == "motif_regression" else "binary",
            "models": task_models,
            "probes": probes,
            **extra,
        }
        if name != "lentimpra_k562":
            spec["probe_layers"] = {"nt_2b5_1000g": [10, 32]}
        tasks[name] = spec
    used = {p for t in tasks.values() for p in t["probes"]}
    probes = {}
    for name in used:
        probe = {k: v for k, v in paper["probes"][name].items() if k != "model_overrides"}
        if "max_epochs" in probe or probe["type"] not in ("ridge", "ols", "logistic"):
            probe |= {"max_epochs": 2, "patience": 3}
        probe["models"] = [m for m in probe.get("models", models) if m in models]
        probes[name] = probe
    config = {"seeds": [0], "device": "cpu", "models": models, "tasks": tasks, "probes": probes}
    config = validate_config(config)
    if budget_layers:
        largest = max(v for v in RunPlan(config).token_storage.layer_bytes.values())
        config["storage"] = {"max_tokens_gb": budget_layers * largest / GB}
    return config


class DiskPoll(threading.Thread):
    """The largest total size of the token states under `root` seen while it runs."""

    def __init__(self, root: Path):
        super().__init__(daemon=True)
        self.root, self.peak, self.done = root, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            files = (self.root / "results" / "embeddings").rglob("tokens.L*.npy")
            total = 0
            for path in files:
                try:
                    total += path.stat().st_size
                except FileNotFoundError:
                    continue
            self.peak = max(self.peak, total)
            time.sleep(0.2)


def measured_seconds(root: Path) -> dict[str, float]:
    seconds: dict[str, float] = {}
    seen = set()
    for record in (root / ".snakemake" / "metadata").iterdir():
        meta = json.loads(record.read_text())
        key = (meta["rule"], tuple(meta["log"]))  # a job's log: its own
        if key in seen or meta.get("starttime") is None:
            continue  # one record per output: a job with three outputs has three
        seen.add(key)
        seconds[meta["rule"]] = seconds.get(meta["rule"], 0) + meta["endtime"] - meta["starttime"]
    return seconds


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(root: Path, config: dict, record: Path) -> None:
    """Run `config` in `root` (one job at a time), polling the token bytes on disk; record the
    peak and the wall time."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    poll = DiskPoll(root)
    poll.start()
    started = time.perf_counter()
    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--cores",
            "1",
            "--configfile",
            "config.yaml",
            "--quiet",
            "--show-failed-logs",
            "results/tables/probe_metrics.csv",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    poll.done.set()
    poll.join()
    if result.returncode:
        sys.exit(result.stderr[-3000:])
    record.write_text(json.dumps({"peak": poll.peak, "wall": time.perf_counter() - started}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--shrink", type=int, default=32)
    parser.add_argument("--budget-layers", type=float, default=4)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    config = scaled_config(args.sequences, args.shrink, args.budget_layers)
    model = CostModel(RunPlan(config), Profile(), device="cpu")
    rules = model.estimate()
    storage = model.plan.token_storage
    root = args.workdir or Path(tempfile.mkdtemp(prefix="cost_validation_"))
    record = root / "measured.json"
    if not record.exists():  # a finished run is reported again, with today's constants
        run(root, config, record)
    disk = json.loads(record.read_text())
    measured = measured_seconds(root)
    print(
        f"{args.sequences} sequences a task, hidden sizes / {args.shrink}, budget "
        f"{storage.budget / GB:.4f} GB; {sum(r.jobs for r in rules.values())} jobs planned, "
        f"run in {disk['wall']:.0f} s\n"
    )
    print("| rule | jobs | predicted s | measured s | predicted / measured |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in ("extract_embeddings", "extract_token_states", "fit_linear_probes", "train_probes"):
        rule = rules.get(name)
        if rule is None:
            continue
        predicted = sum(rule.job_seconds)
        print(
            f"| {name} | {rule.jobs} | {predicted:.0f} | {measured.get(name, 0):.0f} | "
            f"{predicted / measured[name]:.2f} |"
        )
    heavy = ("extract_embeddings", "extract_token_states", "fit_linear_probes", "train_probes")
    predicted = sum(sum(rules[n].job_seconds) for n in heavy if n in rules)
    actual = sum(measured.get(n, 0) for n in heavy)
    print(f"| all four | | {predicted:.0f} | {actual:.0f} | {predicted / actual:.2f} |\n")
    _, final = model.disk()
    final_measured = du(root / "results" / "embeddings") + du(root / "results" / "probes")
    token_peak = storage.peak_bytes
    print("| bytes | predicted | measured | predicted / measured |")
    print("| --- | ---: | ---: | ---: |")
    print(
        f"| token states at the peak | {token_peak:,} | {disk['peak']:,} | "
        f"{token_peak / disk['peak']:.2f} |"
    )
    print(f"| results at the end | {final:,} | {final_measured:,} | {final / final_measured:.2f} |")
    print(
        f"\nthe budget {storage.budget:,.0f} bytes; measured peak within it: "
        f"{disk['peak'] <= storage.budget}"
    )


if __name__ == "__main__":
    main()
