"""The `glmeval` command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from glmeval.config import (
    SCHEMA,
    ConfigError,
    config_errors,
    invalid_message,
    load_config,
    read_config,
)
from glmeval.figures.plan import figure_plan
from glmeval.plan import probe_jobs, transfer_jobs, variant_window


def run_matrix(config: dict):
    """Probe runs per task × model × probe (a table with columns task, model, probe, runs)."""
    import pandas as pd

    rows = [(j.task, j.model, j.probe) for j in probe_jobs(config)]
    jobs = pd.DataFrame(rows, columns=["task", "model", "probe"])  # none: variants only
    return jobs.value_counts().rename("runs").reset_index()


def zeroshot_matrix(config: dict):
    """Zero-shot scoring per variants dataset × model: its window and scores."""
    import pandas as pd

    rows = []
    for name, variants in config.get("variants", {}).items():
        zeroshot = variants.get("zeroshot", {})
        for model in zeroshot.get("models", []):
            window = variant_window(config, name, model) or variants.get("length", "element")
            scores = zeroshot.get("scores", "auto")
            scores = scores if scores == "auto" else ", ".join(scores)
            rows.append({"variants": name, "model": model, "window": window, "scores": scores})
    return pd.DataFrame(rows, columns=["variants", "model", "window", "scores"])


def print_matrix(config: dict) -> None:
    """The configuration's runs as tables a reader can hold against the paper's figures: one
    block of model × probe run counts per group of tasks that ask for the same, then zero-shot
    windows and the transferred probes."""
    matrix = run_matrix(config)
    blocks: dict[str, list[str]] = {}
    for task, runs in matrix.groupby("task", sort=False):
        table = runs.pivot(index="model", columns="probe", values="runs")
        models = [m for m in config["tasks"][task]["models"] if m in table.index]
        probes = [p for p in config["tasks"][task]["probes"] if p in table.columns]
        text = table.loc[models, probes].fillna(0).astype(int).replace(0, "").to_string()
        blocks.setdefault(text, []).append(task)
    for text, tasks in blocks.items():
        head = ", ".join(tasks) if len(tasks) < 4 else f"{tasks[0]} ... {tasks[-1]}"
        print(f"\nprobe runs per task: {head} ({len(tasks)} task{'s' * (len(tasks) > 1)})")
        print(text)
    zeroshot = zeroshot_matrix(config)
    if len(zeroshot):
        print("\nzero-shot scores")
        print(zeroshot.to_string(index=False))
    attribution = config.get("attribution", {})
    if attribution:
        print(f"\nattribution (the top {attribution['top_k']} test sequences of each task)")
    for task, spec in attribution.get("tasks", {}).items():
        explained = [
            f"{m['model']}/{m.get('probe', 'lm')}: {', '.join(m['methods'])}"
            for m in spec.get("maps", [])
        ]
        if "gia" in spec:
            explained.append(f"GIA {spec['gia']['model']}/{spec['gia']['probe']}")
        print(f"  {task}: " + "; ".join(explained))
    transfer = transfer_jobs(config, probe_jobs(config))
    for name in sorted({t.variants for t in transfer}):
        runs = sorted(
            {(t.job.task, t.job.model, t.job.probe) for t in transfer if t.variants == name}
        )
        print(f"\ntransfer to {name}: " + ", ".join(f"{t}/{m}/{p}" for t, m, p in runs))
    made, skipped = figure_plan(config, probe_jobs(config))
    print(f"\nfigures: {', '.join(f.name for f in made) or 'none'}")
    for figure in skipped:
        print(f"  not made: {figure.name} ({figure.kind}): {figure.reason}")


@contextlib.contextmanager
def closed_pipe_ok():
    """Output cut short by its reader (`glmeval check CONFIG | head`) ends quietly: the rest is
    dropped, with no BrokenPipeError traceback."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit goes nowhere
        os.close(devnull)


def check(
    config_path: str,
    schema_path: str | None,
    cost: bool = False,
    profile: str | None = None,
    device: str = "gpu",
) -> int:
    """Validate a configuration and the files and checkpoints it names (glmeval.checks), list
    every problem, and print what it asks for, warning of hub models that no commit or lock
    entry pins; with `cost`, what it will cost (glmeval.cost, submissions grouped as the
    Snakemake `profile` directory says); 1 if it is invalid."""
    from glmeval.checks import Checks, check_config
    from glmeval.models.lock import unpinned_models

    try:
        config = read_config(config_path)
        errors, passed = config_errors(config, schema_path or SCHEMA)
    except ConfigError as error:
        print(error, file=sys.stderr)  # it names the file
        return 1
    except OSError as error:
        print(f"{config_path}: cannot read {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    checks = check_config(config) if passed else Checks()
    problems = errors + checks.problems
    with closed_pipe_ok():
        if not problems:
            print(f"{config_path}: valid")
        for note in checks.notes:
            print(f"{config_path}: note: {note}")
    if problems:
        print(f"{config_path}: {invalid_message(problems)}", file=sys.stderr)
        return 1
    for warning in unpinned_models(config):
        print(f"{config_path}: warning: {warning}", file=sys.stderr)
    with closed_pipe_ok():
        jobs = probe_jobs(config)
        print(
            f"  tasks: {len(config['tasks'])}, models: {len(config['models'])}, "
            f"probe jobs: {len(jobs)}"
        )
        print_matrix(config)
        if cost:
            from glmeval.cost import report

            print(f"\ncost ({device}; submissions as {profile or 'no profile'} groups them):")
            print(report(config, profile, device))
    return 0


def preflight(config_path: str, schema_path: str | None, gpu_memory_gb: float | None) -> int:
    """Check everything the configuration needs from outside before any job; 1 on a problem."""
    from glmeval.preflight import preflight as check_run

    try:
        config = load_config(config_path, schema_path or SCHEMA)
    except ConfigError as error:
        print(error, file=sys.stderr)  # it names the file
        return 1
    result = check_run(config, gpu_memory_gb=gpu_memory_gb)
    with closed_pipe_ok():
        print(result.report())
    return 1 if result.problems else 0


def zenodo(record: str) -> int:
    """List a Zenodo record's files with their sizes and checksums (for `downloads:`)."""
    from glmeval.download import DownloadError, zenodo_files

    try:
        files = zenodo_files(record)
    except DownloadError as error:
        print(error, file=sys.stderr)
        return 1
    with closed_pipe_ok():
        for name, remote in sorted(files.items()):
            print(f"{name}\t{remote.size}\t{remote.checksum}")
    return 0


SCHEMA_HELP = "default: the schema glmeval ships (config/schema.yaml in the repository)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glmeval", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser(
        "check",
        help="validate a configuration, the files and checkpoints it names; summarise its jobs",
    )
    check_parser.add_argument("config")
    check_parser.add_argument("--schema", help=SCHEMA_HELP)
    check_parser.add_argument(
        "--cost",
        action="store_true",
        help="also print the run's cost: jobs, submissions, GPU/CPU-hours, disk, memory",
    )
    check_parser.add_argument(
        "--profile",
        default="profiles/slurm",
        help="the Snakemake profile whose grouping counts submissions (default: %(default)s)",
    )
    check_parser.add_argument(
        "--device",
        choices=["gpu", "cpu"],
        default="gpu",
        help="price the profile's GPU rules on a GPU, or every job on this CPU",
    )
    preflight_parser = commands.add_parser(
        "preflight", help="check downloads, hub models, disk, packages before any job"
    )
    preflight_parser.add_argument("config")
    preflight_parser.add_argument("--schema", help=SCHEMA_HELP)
    preflight_parser.add_argument(
        "--gpu-memory-gb",
        type=float,
        help="the GPUs' memory: flag models whose weights fill it, fine-tuning jobs it cannot hold",
    )
    zenodo_parser = commands.add_parser("zenodo", help="list a Zenodo record's files")
    zenodo_parser.add_argument("record")
    args = parser.parse_args(argv)
    if args.command == "zenodo":
        return zenodo(args.record)
    if args.command == "preflight":
        return preflight(args.config, args.schema, args.gpu_memory_gb)
    return check(args.config, args.schema, args.cost, args.profile, args.device)


if __name__ == "__main__":
    sys.exit(main())
