"""k-mer spectra (the `kmer` family) against the one-hot `k: 6` embedder's pooled extraction.

    python benchmarks/kmer_features.py [--n 300000] [--length 230] [--onehot-n 2000]

Each case runs in a fresh process on `n` random sequences of `length` bases (1% N) and prints
its seconds and peak memory: the process's peak resident set minus its resident set once the
sequences exist (so the figure is what the computation adds), and the features' bytes. Cases:
- kmer k=6, k=[4,5,6] (canonical and not): `glmeval.models.kmer.spectra` into a float16
  (N, columns) array, as `write_kmer` fills the artifact's pooled `mean` slot;
- onehot k=6: `glmeval.embed.extract` of `OneHotEmbedder(k=6)` (pooled only, no token layers)
  on `--onehot-n` sequences, whose time is also scaled linearly to `n`.

`--ridge N` instead times a ridge probe's grid of 6 alphas on N rows of the canonical k = 4-6
spectra (2,728 features) with a random target: one eigendecomposition for the whole grid
(`glmeval.probes.linear.ridge_solutions`) against sklearn's Ridge fitted once per alpha (on
float64 features: the same solution), and the largest gap between their predictions.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CASES = {
    "kmer k=6": {"k": 6, "canonical": False},
    "kmer k=6 canonical": {"k": 6, "canonical": True},
    "kmer k=[4,5,6]": {"k": [4, 5, 6], "canonical": False},
    "kmer k=[4,5,6] canonical": {"k": [4, 5, 6], "canonical": True},
    "onehot k=6 (embed.extract)": {"onehot": 6},
}


def sequences(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length), dtype=np.uint8)
    codes[rng.random((n, length)) < 0.01] = 4
    text = np.frombuffer(b"ACGTN", dtype=np.uint8)[codes].tobytes().decode("ascii")
    return [text[i * length : (i + 1) * length] for i in range(n)]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_case(name: str, n: int, length: int) -> dict:
    """One case in this process: seconds, the peak memory it adds (MB), the features' MB."""
    seqs = sequences(n, length)
    before = _rss_mb()
    spec = CASES[name]
    started = time.perf_counter()
    if "onehot" in spec:
        from glmeval.embed import extract
        from glmeval.models.onehot import OneHotEmbedder

        embedder = OneHotEmbedder(k=spec["onehot"])
        with tempfile.TemporaryDirectory() as tmp:
            extract(embedder, seqs, Path(tmp) / "art", token_layers=[], batch_size=64)
            features = np.load(Path(tmp) / "art" / "pooled.npy", mmap_mode="r").nbytes
    else:
        from glmeval.models.families import kmer_width
        from glmeval.models.kmer import spectra

        out = np.zeros((n, kmer_width(spec["k"], spec["canonical"])), dtype=np.float16)
        spectra(seqs, spec["k"], spec["canonical"], out=out)
        features = out.nbytes
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "added_mb": peak - before, "features_mb": features / 1e6}


def ridge_grid(n: int, length: int) -> None:
    from sklearn.linear_model import Ridge

    from glmeval.models.kmer import spectra
    from glmeval.probes.linear import ridge_solutions

    x = spectra(sequences(n, length), [4, 5, 6], canonical=True)
    y = np.random.default_rng(1).normal(size=(n, 1))
    alphas = [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
    started = time.perf_counter()
    eigen = ridge_solutions(x, y, alphas)
    eigen_s = time.perf_counter() - started
    started = time.perf_counter()
    fits = [Ridge(alpha=a).fit(x.astype(np.float64), y) for a in alphas]
    sklearn_s = time.perf_counter() - started
    gap = max(
        np.abs((x @ c + b).ravel() - f.predict(x.astype(np.float64)).ravel()).max()
        / f.predict(x.astype(np.float64)).std()
        for (c, b), f in zip(eigen, fits)
    )
    print(
        f"ridge grid of {len(alphas)} alphas, {n:,} x {x.shape[1]:,}: eigendecomposition "
        f"{eigen_s:.1f} s, sklearn Ridge per alpha {sklearn_s:.1f} s; largest prediction gap "
        f"{gap:.1e} of the predictions' sd"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--length", type=int, default=230)
    parser.add_argument("--onehot-n", type=int, default=2000)
    parser.add_argument("--ridge", type=int, metavar="N", help="time a ridge grid on N rows")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ridge:
        ridge_grid(args.ridge, args.length)
        return
    if args.case:
        print(json.dumps(run_case(args.case, args.n, args.length)))
        return
    print(f"{args.n:,} random sequences of {args.length} nt (one-hot: {args.onehot_n:,})")
    print(
        f"{'case':30} {'n':>9} {'seconds':>9} {'s per 300k':>11} {'peak +MB':>9} {'features MB':>12}"
    )
    for name in CASES:
        n = args.onehot_n if "onehot" in name else args.n
        command = [sys.executable, __file__, "--case", name, "--n", str(n)]
        command += ["--length", str(args.length)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        scaled = result["seconds"] * 300_000 / n
        print(
            f"{name:30} {n:>9,} {result['seconds']:>9.2f} {scaled:>11.1f} "
            f"{result['added_mb']:>9.0f} {result['features_mb']:>12.1f}"
        )


if __name__ == "__main__":
    main()
