"""What the leakage audit adds to preparing a task, at the paper's largest task sizes.

    python benchmarks/leakage_cost.py [--rows 226000] [--length 230] [--repeats 3]

`rows` random sequences of `length` bases split 80/10/10 (lentiMPRA HepG2 is 226,253 × 230 nt;
the audit runs once, when the task is prepared), with 1 % of test rows planted as reverse
complements and 1 % as near copies (3 substitutions) of training rows. Prints the median
seconds of `find_leaks` and the pairs found per kind; no assertion.
"""

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from glmeval.data.leakage import find_leaks
from glmeval.data.sequence import reverse_complement


def planted_splits(rows: int, length: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, (rows, length))
    seqs = ["".join("ACGT"[c] for c in row) for row in codes]
    n_train, n_valid = int(rows * 0.8), int(rows * 0.1)
    bounds = {"train": (0, n_train), "valid": (n_train, n_train + n_valid)}
    bounds["test"] = (n_train + n_valid, rows)
    n_plant = (rows - n_train - n_valid) // 100
    test0 = bounds["test"][0]
    for i in range(n_plant):
        seqs[test0 + i] = reverse_complement(seqs[i])
        near = list(seqs[n_plant + i])
        for j in rng.choice(length, 3, replace=False):
            near[j] = "ACGT"[("ACGT".index(near[j]) + 1) % 4]
        seqs[test0 + n_plant + i] = "".join(near)
    return {
        split: pd.DataFrame({"id": [f"r{i}" for i in range(a, b)], "sequence": seqs[a:b]})
        for split, (a, b) in bounds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=226_000)
    parser.add_argument("--length", type=int, default=230)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    splits = planted_splits(args.rows, args.length)
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        leaks = find_leaks(splits)
        seconds.append(time.perf_counter() - start)
    print(
        f"{args.rows} rows × {args.length} nt: find_leaks {statistics.median(seconds):.1f} s "
        f"(median of {args.repeats}); pairs {leaks['kind'].value_counts().to_dict()}; "
        f"planted {len(splits['test']) // 100} of each"
    )


if __name__ == "__main__":
    main()
