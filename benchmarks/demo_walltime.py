"""Run the demo from scratch in a temporary directory and print its wall time.

    python benchmarks/demo_walltime.py [--cores 2] [--repeats 1]

Target (walking-skeleton issue): <= 5 minutes on 2 cores.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_once(cores: int) -> float:
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
             "--configfile", str(REPO / "config" / "demo.yaml"), "--cores", str(cores),
             "--directory", workdir, "--quiet"],
            check=True, capture_output=True,
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    times = [run_once(args.cores) for _ in range(args.repeats)]
    print(f"demo wall time on {args.cores} cores: runs {[round(t, 1) for t in times]} s, "
          f"median {statistics.median(times):.1f} s (target <= 300 s)")


if __name__ == "__main__":
    main()
