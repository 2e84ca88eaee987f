"""What the paper's figures, leaderboard and report cost beyond the probes.

    python benchmarks/figures_cost.py [--repeats 5] [--rows 20000] [--models 10] [--seeds 5]

1. Planning: `figure_plan` of config/config.yaml (every paper panel against its 7,661 probe
   runs), which every `snakemake` invocation pays at parse time; median of `repeats`.
2. The leaderboard's bootstrap ranks of one task: `models` models × `seeds` seeds of `rows`
   test rows, 1,000 joint resamples, for Pearson (lentiMPRA, INSERT-seq) and Spearman
   (splicing) — the rule's cost is this times the tasks (25 in the paper's configuration).
Prints seconds; no assertion.
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from glmeval.config import load_config
from glmeval.figures.plan import figure_plan
from glmeval.leaderboard import leaderboard
from glmeval.plan import probe_jobs
from glmeval.tables import SUMMARY_COLUMNS

REPO = Path(__file__).resolve().parents[1]


def plan_seconds(repeats: int) -> tuple[float, int]:
    config = load_config(REPO / "config" / "config.yaml", REPO / "config" / "schema.yaml")
    jobs = probe_jobs(config)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        made, _ = figure_plan(config, jobs)
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(made)


def rank_seconds(metric: str, rows: int, models: int, seeds: int) -> float:
    rng = np.random.default_rng(0)
    y = rng.normal(size=rows)
    predictions, summary, metrics = {}, [], []
    for m in range(models):
        for seed in range(seeds):
            pred = y + rng.normal(scale=1 + m / models, size=rows)
            predictions[f"m{m}", seed] = pd.DataFrame(
                {"id": np.arange(rows), "y": y, "y_pred": pred}
            )
            metrics.append(
                {
                    "task": "t",
                    "target": "y",
                    "model": f"m{m}",
                    "layer": 1,
                    "representation": "tokens",
                    "probe": "cnn",
                    "width": 1.0,
                    "train_fraction": 1.0,
                    "metric": metric,
                    "seed": seed,
                    "value": float(np.corrcoef(y, pred)[0, 1]),
                }
            )
    metrics = pd.DataFrame(metrics)
    keys = [c for c in SUMMARY_COLUMNS[:9]]
    summary = metrics.groupby(keys, as_index=False)["value"].agg(n_replicates="size", mean="mean")
    summary = summary.assign(
        ci_low=summary["mean"], ci_high=summary["mean"], ci_method="replicates"
    )
    start = time.perf_counter()
    leaderboard(
        summary,
        pd.DataFrame(columns=keys),
        metrics,
        lambda key: predictions[key["model"], key["seed"]],
        n_boot=1000,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    seconds, n = plan_seconds(args.repeats)
    print(
        f"figure_plan, paper configuration: {n} panels in {seconds * 1000:.0f} ms (median of {args.repeats})"
    )
    for metric in ("pearson", "spearman"):
        seconds = rank_seconds(metric, args.rows, args.models, args.seeds)
        print(
            f"leaderboard ranks, one task, {metric}: {args.models} models x {args.seeds} seeds x "
            f"{args.rows} rows, 1000 resamples: {seconds:.1f} s"
        )


if __name__ == "__main__":
    main()
