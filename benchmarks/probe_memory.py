"""Peak memory of training a token-level probe on an embedding larger than the page cache budget.

    python benchmarks/probe_memory.py [--n 40000] [--tokens 41] [--dim 1280] [--epochs 1]

Writes a float16 token matrix file (n × tokens × dim, NT-shaped by default: 41 tokens at 230 bp)
and trains `rep_cnn` on it for `epochs` epochs through the real training loop, in a fresh
process for each reader: glmeval's row reader (`RowFile`, what probes use) and a plain
`np.load(mmap_mode="r")`. Prints the file size, each run's peak resident memory (VmHWM) and
seconds per epoch. The paper's largest case (K562, ~315k × 41 × 2560) is 66 GB on disk.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import sys, time
import numpy as np, torch
from glmeval.probes.cnn import RepCNN
from glmeval.nn.rows import open_rows
from glmeval.nn.train import TrainConfig, fit

path, reader, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(2)
x = open_rows(path) if reader == "rowfile" else np.load(path, mmap_mode="r")
n, tokens, dim = x.shape
y = np.random.default_rng(0).normal(size=(n, 1)).astype(np.float32)
split = int(n * 0.9)
rows = np.arange(n)

class View:  # train/valid rows of one file
    def __init__(self, rows): self.rows = rows; self.shape = (len(rows), tokens, dim)
    def __len__(self): return len(self.rows)
    def __getitem__(self, r): return x[self.rows[r]]

model = RepCNN(tokens, dim, reduce_dim=128)
config = TrainConfig(lr=1e-4, batch_size=256, max_epochs=epochs, patience=epochs)
start = time.perf_counter()
fit(model, "mse", (View(rows[:split]), y[:split]), (View(rows[split:]), y[split:]), config, 0)
seconds = (time.perf_counter() - start) / epochs
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(f"{reader}\\t{int(peak) / 1024:.0f}\\t{seconds:.1f}")
"""


def write_tokens(path: Path, n: int, tokens: int, dim: int) -> None:
    """A float16 .npy written in chunks with plain writes (writing does not inflate memory)."""
    header = {"descr": "<f2", "fortran_order": False, "shape": (n, tokens, dim)}
    rng = np.random.default_rng(0)
    with open(path, "wb") as out:
        np.lib.format.write_array_header_1_0(out, header)
        for start in range(0, n, 1000):
            rows = min(1000, n - start)
            out.write(rng.standard_normal((rows, tokens, dim), dtype=np.float32).astype("<f2"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40000)
    parser.add_argument("--tokens", type=int, default=41)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tokens.npy"
        write_tokens(path, args.n, args.tokens, args.dim)
        print(f"token file: {args.n} x {args.tokens} x {args.dim} float16 = "
              f"{path.stat().st_size / 2**30:.2f} GiB")
        print("reader\tpeak RSS (MiB)\ts/epoch")
        for reader in ("rowfile", "mmap"):
            result = subprocess.run(
                [sys.executable, "-c", CHILD, str(path), reader, str(args.epochs)],
                capture_output=True, text=True, check=True,
            )
            print(result.stdout.strip())


if __name__ == "__main__":
    main()
