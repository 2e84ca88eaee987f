"""The workflow's plan as text, to diff two trees: every job of the dry run, one line each.

    python benchmarks/plan_equivalence.py [--repo .] [--configfile config/demo.yaml] [targets]

Runs `snakemake -n` of the workflow in `--repo` (its `src` first on the import path, so an
older checkout in a `git worktree` plans with its own library) from an empty working directory,
and prints one line per job: its rule, outputs, inputs, log, wildcards and resources (less
tmpdir), each sorted. The repository's root is printed as `<repo>`, so two checkouts compare
equal where their plans do:

    git worktree add --detach ../plan_before HEAD
    python benchmarks/plan_equivalence.py --repo ../plan_before > before.txt
    python benchmarks/plan_equivalence.py > after.txt && diff before.txt after.txt

Dates, job ids and reasons are left out. Prints the job count and the seconds the dry run took
to stderr.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: What a job line keeps of the dry run's description of the job.
KEPT = ("input", "output", "log", "wildcards", "resources")


def plan(repo: Path, configfile: Path, targets: list[str]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    with tempfile.TemporaryDirectory() as workdir:
        cmd = [
            sys.executable,
            "-m",
            "snakemake",
            *targets,
            "--snakefile",
            str(repo / "workflow" / "Snakefile"),
            "--configfile",
            str(configfile),
            "--directory",
            workdir,
            "--cores",
            "1",
            "-n",
        ]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(done.stderr[-4000:])
        text = done.stdout.replace(str(repo), "<repo>").replace(workdir, "<workdir>")
    jobs, job = [], None
    for line in text.splitlines():
        rule = re.fullmatch(r"(?:local)?rule (\w+):", line)
        if rule:
            job = {"rule": rule.group(1)}
            jobs.append(job)
        elif job is not None and line.startswith("    ") and ": " in line:
            key, value = line.strip().split(": ", 1)
            if key in KEPT:
                items = sorted(v for v in value.split(", ") if not v.startswith("tmpdir="))
                job[key] = ", ".join(items)
        else:
            job = None
    rows = ["\t".join(f"{k}={v}" for k, v in job.items()) for job in jobs]
    return sorted(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=["all", "zeroshot"])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--configfile", type=Path, default=Path("config/demo.yaml"))
    args = parser.parse_args()
    repo = args.repo.resolve()
    configfile = args.configfile if args.configfile.is_absolute() else repo / args.configfile
    start = time.perf_counter()
    rows = plan(repo, configfile, args.targets)
    print("\n".join(rows))
    print(f"{len(rows)} jobs in {time.perf_counter() - start:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
