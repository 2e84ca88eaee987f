"""Cluster resource requests that scale with the model and the data (memory in MB, minutes).

Called by the rules' `resources:` when a job is scheduled. A missing input raises
FileNotFoundError naming it, which Snakemake takes as "not known yet" and asks again once the
input exists. Estimates are deliberately generous (× 2 on time); memory also scales with the
retry attempt, so a job killed for memory is resubmitted with more (`retries:` in the profile).
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from glmeval.cost import BASE_MEM_MB, GPU_FLOPS, READ_MB_PER_S, finetune_flops
from glmeval.io import read_json

#: a probe run's time limit besides streaming tokens (fit, predictions, files; generous)
RUN_MINUTES = 0.5
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def _exists(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "not created yet", str(path))
    return path


def weights_mb(model_dir: str | Path | None) -> float:
    """Size of a model's weight files (0 for models without a checkpoint, e.g. one-hot)."""
    if model_dir is None:
        return 0.0
    files = [p for p in _exists(model_dir).rglob("*") if p.suffix in WEIGHT_SUFFIXES]
    return sum(p.stat().st_size for p in files) / 1e6


def forward_gpu_seconds(parameters: float, tokens: float) -> float:
    """GPU seconds of forward passes over `tokens` tokens: 2 FLOP per parameter per token at
    GPU_FLOPS."""
    return 2 * parameters * tokens / GPU_FLOPS


def extraction(
    model_dir: str | Path | None,
    split_files: tuple[str | Path, ...],
    task_json: str | Path,
    attempt: int = 1,
) -> dict[str, int]:
    """Memory and time of embedding a task's splits: the weights loaded in fp32 (about 3
    copies at peak), and 2 FLOP per parameter per token at GPU_FLOPS with one token per base
    (an upper bound for k-mer and BPE tokenizers), doubled."""
    weights = weights_mb(model_dir)
    rows = sum(pq.read_metadata(_exists(path)).num_rows for path in split_files)
    task = read_json(_exists(task_json))
    bases = task["sequence_length"]["max"] * len(task["sequence_columns"])
    minutes = 2 * forward_gpu_seconds(weights * 1e6 / 4, rows * bases) / 60
    return {
        "mem_mb": int((BASE_MEM_MB + 3 * weights) * attempt),
        "runtime": 15 + math.ceil(minutes),
    }


def kmer_spectra(
    split_files: tuple[str | Path, ...], task_json: str | Path, width: int, attempt: int = 1
) -> dict[str, int]:
    """Memory and time of a kmer model's spectra of a task's splits (glmeval.models.kmer): the
    largest split's float16 pooled array (two slots of `width` columns per sequence column)
    beside the process, and numpy's counting at about 5 million k-mers a second, doubled."""
    rows = [pq.read_metadata(_exists(path)).num_rows for path in split_files]
    task = read_json(_exists(task_json))
    columns = len(task["sequence_columns"])
    pooled_mb = max(rows) * columns * width * 2 * 2 / 1e6
    bases = sum(rows) * task["sequence_length"]["max"] * columns
    return {
        "mem_mb": int((BASE_MEM_MB + 2 * pooled_mb) * attempt),
        "runtime": 15 + math.ceil(2 * bases / 5e6 / 60),
    }


def probe(
    embedding_dirs: tuple[str | Path, ...],
    representation: str,
    layer: int,
    max_epochs: int,
    attempt: int = 1,
    runs: int = 1,
) -> dict[str, int]:
    """Memory and time of a probe job of `runs` runs (every seed and train fraction; a linear
    probe's layers too). Pooled features are held in memory as float32 (with a working copy),
    one layer at a time; token matrices are streamed from disk once per epoch. Each run takes
    RUN_MINUTES besides its reads."""
    pooled_mb, token_mb = 0.0, 0.0
    for directory in map(_exists, embedding_dirs):  # a two-sequence task: one per column
        if representation == "tokens":
            tokens = directory.rglob(f"tokens.L{layer}.npy")
            token_mb += sum(os.path.getsize(path) for path in tokens) / 1e6
        else:
            for pooled in directory.rglob("pooled.npy"):
                n, _, _, dim = np.load(pooled, mmap_mode="r").shape
                pooled_mb += 2 * n * dim * 4 / 1e6
    minutes = 2 * max_epochs * token_mb / READ_MB_PER_S / 60
    return {
        "mem_mb": int((BASE_MEM_MB + pooled_mb) * attempt),
        "runtime": 30 + math.ceil(runs * (RUN_MINUTES + minutes)),
    }


def finetune(
    model_dir: str | Path | None,
    split_files: tuple[str | Path, ...],
    task_json: str | Path,
    probe: dict,
    fractions: tuple[float, ...],
    attempt: int = 1,
) -> dict[str, int]:
    """Memory and time of a fine-tuning job (one run per train fraction in `fractions`): the
    weights in host memory while loading and saving (3 copies; 6 where every weight trains,
    with Adam's states), and at most `max_epochs` epochs of `finetune_flops` at GPU_FLOPS with
    one token per base (an upper bound), doubled. A job cut off by its time limit resumes
    after each run's last complete epoch."""
    weights = weights_mb(model_dir)
    rows = [pq.read_metadata(_exists(path)).num_rows for path in split_files]
    bases = read_json(_exists(task_json))["sequence_length"]["max"]
    parameters = weights * 1e6 / 4
    flops = sum(
        finetune_flops(probe, parameters, dict(zip(("train", "valid", "test"), rows)), bases, f)
        for f in fractions
    )
    copies = 3 if probe["finetune"] == "lora" else 6
    return {
        "mem_mb": int((BASE_MEM_MB + copies * weights) * attempt),
        "runtime": 15 + math.ceil(2 * flops / GPU_FLOPS / 60 + len(fractions) * RUN_MINUTES),
    }
