"""The embedding engine: every layer from one forward pass, written as float16 memmaps.

Artifact (one directory per model × task × split):
- `pooled.npy` (N, layers+1, 2, D) float16: [..., 0, :] CLS state (NaN for families without a
  CLS token), [..., 1, :] mean over the tokens that carry bases (special tokens and padding
  excluded);
- `tokens.L{layer}.npy` (N, T, D) float16 for each requested layer: every token including special
  tokens, zero rows after a sequence's last token; T = the longest tokenization in the split;
- `meta.json`: model, layers, dtype, pooling rules, token layers, strands, shapes, bytes, input
  sha256.

With `strands="both"` the reverse complement of every sequence is embedded too: the arrays above
hold the base-aligned mean of the two views (the reverse view's states flipped back onto the
forward tokens, `align_reverse`), and `pooled.forward.npy` / `pooled.reverse.npy` hold each
strand's own pooled states, so probes can compare the three side by side.

How it runs (docs/semantics.md, "Extraction"):
- Sequences are ordered longest first and cut into shards of `shard_rows`; a shard is cut into
  batches of similar token length, so padding is small. Rows land in input order.
- A batch holds `batch_size` sequences, or (`batch_size=None`) as many as fit a token budget: on
  a GPU chosen from its free memory, halved and the shard restarted on out-of-memory.
- Autocast precision on GPU is the model's (bf16 by default); CPU runs fp32.
- Each finished batch is cast to float16 on its device and copied asynchronously to pinned host
  memory; a background thread writes it into the memmaps while the next batch runs.
- The arrays fill a `<out_dir>.partial/` directory; after each shard they are flushed and
  `progress.json` records it, so a killed job resumes at its first unfinished shard and the final
  arrays are bit-identical to an uninterrupted run (the batch plan is recorded with the progress).
  The finished directory is renamed onto `out_dir`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import queue
import shutil
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from glmeval import __version__
from glmeval.data.sequence import reverse_complement
from glmeval.io import read_json, write_json
from glmeval.models import Embedder, Encoded
from glmeval.vocabulary import STRAND_VIEWS, STRANDS

POOLING_RULES = {
    "cls": "hidden state of token 0 (the CLS token); NaN where the family has no CLS token",
    "mean": "mean over tokens that carry bases; special tokens and padding excluded",
}
SHARD_ROWS = 4096
CPU_BATCH_TOKENS = 8192  # token budget of an automatic batch on CPU
MAX_BATCH_TOKENS = 1 << 17  # larger GPU batches gain no throughput
GPU_MEMORY_FRACTION = 0.6  # of the free memory, for one batch's activations and outputs


def pool(states: torch.Tensor, content: torch.Tensor, has_cls: bool) -> torch.Tensor:
    """(S, B, T, D) states and (B, T) content mask -> (B, S, 2, D) [cls, mean]."""
    weights = content.to(states.dtype)
    counts = weights.sum(1).clamp(min=1)
    mean = torch.einsum("sbtd,bt->sbd", states, weights) / counts[None, :, None]
    cls = states[:, :, 0] if has_cls else torch.full_like(mean, float("nan"))
    return torch.stack([cls, mean], dim=2).transpose(0, 1)


def align_reverse(
    states: torch.Tensor, forward: list[Encoded], reverse: list[Encoded]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(S, B, Tr, D) states of the reverse complements, flipped back onto the forward tokens:
    (S, B, Tf, D) where a forward token gets the mean, over its bases, of the reverse token
    covering each base; special tokens pair with the reverse's in order (CLS with CLS, SEP with
    SEP). Also the (B, Tf) mask of the forward tokens that got a value (a special token without
    a counterpart did not)."""
    n_layers, n_rows, width_r, dim = states.shape
    width_f = max(map(len, forward))
    target, source, weight = [], [], []
    paired = torch.zeros(n_rows, width_f, dtype=torch.bool)
    for row, (f, r) in enumerate(zip(forward, reverse)):
        f_token = np.repeat(np.arange(len(f)), f.n_bases)  # the token of each forward base
        r_token = np.repeat(np.arange(len(r)), r.n_bases)[::-1]  # ... of the reverse strand
        if len(f_token) != len(r_token):
            raise ValueError(
                f"row {row}: the forward tokens cover {len(f_token)} bases, the reverse "
                f"complement's {len(r_token)}; the strands cannot be aligned."
            )
        f_special, r_special = np.flatnonzero(f.special), np.flatnonzero(r.special)
        pairs = len(f_special) == len(r_special)
        target += [row * width_f + f_token, row * width_f + f_special[: pairs * len(f_special)]]
        source += [row * width_r + r_token, row * width_r + r_special[: pairs * len(r_special)]]
        weight += [1.0 / f.n_bases[f_token], np.ones(pairs * len(f_special))]
        paired[row, np.flatnonzero(f.n_bases)] = True
        paired[row, f_special] = pairs
    device = states.device
    target, source = (torch.from_numpy(np.concatenate(x)).to(device) for x in (target, source))
    weight = torch.from_numpy(np.concatenate(weight)).to(device, states.dtype)
    flat = states.reshape(n_layers, n_rows * width_r, dim)
    aligned = states.new_zeros(n_layers, n_rows * width_f, dim)
    aligned.index_add_(1, target, flat[:, source] * weight[None, :, None])
    return aligned.reshape(n_layers, n_rows, width_f, dim), paired.to(device)


def plan_batches(
    rows: np.ndarray, lengths: np.ndarray, batch_size: int | None, batch_tokens: int
) -> list[np.ndarray]:
    """Cut `rows` (ordered longest first) into consecutive batches of `batch_size` sequences, or
    (None) of as many sequences as keep count × longest length within `batch_tokens`."""
    if batch_size:
        return [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    batches, start = [], 0
    while start < len(rows):
        count = max(1, batch_tokens // int(lengths[rows[start]]))
        batches.append(rows[start : start + count])
        start += count
    return batches


def auto_batch_tokens(embedder: Embedder) -> int:
    """Token budget of one batch: from the GPU's free memory, or CPU_BATCH_TOKENS on CPU."""
    device = torch.device(embedder.device)
    if device.type != "cuda":
        return CPU_BATCH_TOKENS
    free, _ = torch.cuda.mem_get_info(device)
    # per token: every layer's state in the model dtype, its fp32 copy and stack, plus the
    # forward's transient activations (MLP and attention, ~32 D-wide half-precision vectors)
    per_token = (embedder.n_layers + 1) * embedder.hidden_size * 10 + 64 * embedder.hidden_size
    return int(min(MAX_BATCH_TOKENS, max(1, free * GPU_MEMORY_FRACTION // per_token)))


def extract(
    embedder: Embedder,
    sequences: Sequence[str],
    out_dir: str | Path,
    token_layers: Sequence[int] = (),
    batch_size: int | None = None,
    meta: dict | None = None,
    shard_rows: int = SHARD_ROWS,
    work_dir: str | Path | None = None,
    strands: str | None = None,
    pooled: bool = True,
) -> None:
    """Embed `sequences` with `embedder` into the artifact directory `out_dir`.

    `batch_size`: sequences per batch; None sizes batches by a token budget (module docstring).
    `work_dir` (default `<out_dir>.partial`) holds the arrays until they are complete; an
    interrupted run with the same inputs resumes there. `strands`: "forward", or "both" to
    average the two strands' states (module docstring); by default the embedder's own
    (`strands` of its model's settings). `pooled=False`: the token layers only (a part of them
    under a disk budget, `glmeval.storage`)."""
    strands = strands or getattr(embedder, "strands", "forward")
    if strands not in STRANDS:
        raise ValueError(f"strands is {strands!r}; choose one of {', '.join(STRANDS)}.")
    token_layers = list(token_layers)
    bad = [layer for layer in token_layers if not 0 <= layer <= embedder.n_layers]
    if bad:
        raise ValueError(
            f"model {embedder.name!r} has layers 0..{embedder.n_layers}; "
            f"token-level layers {bad} do not exist."
        )
    out_dir = Path(out_dir)
    work = Path(work_dir) if work_dir else out_dir.with_name(out_dir.name + ".partial")
    settings = [meta, strands] + ([] if pooled else ["tokens only"])
    fingerprint = _fingerprint(embedder, sequences, token_layers, batch_size, shard_rows, settings)
    finished = out_dir / "meta.json"
    if finished.exists() and read_json(finished).get("fingerprint") == fingerprint:
        print(f"{out_dir} is complete and up to date", file=sys.stderr)
        return
    encoded = embedder.encode(sequences)
    reverse = None
    if strands == "both":
        reverse = embedder.encode([reverse_complement(seq) for seq in sequences])
        if any(enc.n_bases.sum() != len(seq) for enc, seq in zip(encoded, sequences)):
            raise ValueError(
                f"model {embedder.name!r}: its output positions are not aligned to bases, so "
                "its reverse-strand states cannot be flipped back; use strands: forward."
            )
    lengths = np.array([len(e) for e in encoded])
    order = np.argsort(-lengths, kind="stable")
    shards = [order[i : i + shard_rows] for i in range(0, len(order), shard_rows)]
    n, width, dim = len(encoded), int(lengths.max()), embedder.hidden_size
    pooled_shape = (n, embedder.n_layers + 1, 2, dim)
    shapes = {"pooled": pooled_shape} if pooled else {}
    if pooled and reverse is not None:
        shapes |= {f"pooled.{view}": pooled_shape for view in STRAND_VIEWS}
    shapes |= {f"tokens.L{layer}": (n, width, dim) for layer in token_layers}
    progress = _resume(work, fingerprint)
    if progress is None:
        progress = {"fingerprint": fingerprint, "shards_done": 0, "batch_tokens": None}
        work.mkdir(parents=True)
        arrays = {
            name: np.lib.format.open_memmap(work / f"{name}.npy", "w+", np.float16, shape)
            for name, shape in shapes.items()
        }
        try:
            for name in shapes:
                _reserve(work / f"{name}.npy", embedder.name)
        except OSError:
            shutil.rmtree(work)  # nothing to resume: free what was allocated
            raise
        write_json(progress, work / "progress.json")
    else:
        arrays = {name: np.load(work / f"{name}.npy", mmap_mode="r+") for name in shapes}
    # both strands: two forward passes' states are held at once
    views = 1 if reverse is None else len(STRAND_VIEWS)
    batch_tokens = progress["batch_tokens"] or auto_batch_tokens(embedder) // views
    done = sum(len(s) for s in shards[: progress["shards_done"]])
    bar = tqdm(
        total=n,
        initial=done,
        unit="seq",
        desc=f"embed {embedder.name}",
        file=sys.stderr,
        mininterval=1 if sys.stderr.isatty() else 30,
    )
    writer = _Writer(arrays, embedder.name)
    tokens = 0  # padded tokens run, for the tokens/s figure
    try:
        for index in range(progress["shards_done"], len(shards)):
            while True:
                batches = plan_batches(shards[index], lengths, batch_size, batch_tokens)
                try:
                    for rows in batches:
                        _run_batch(embedder, encoded, reverse, np.sort(rows), token_layers, writer)
                        tokens += len(rows) * int(lengths[rows[0]])
                        bar.set_postfix_str(
                            f"{tokens / max(bar.format_dict['elapsed'], 1e-9):.0f} tokens/s",
                            refresh=False,
                        )
                        bar.update(len(rows))
                    break
                except torch.OutOfMemoryError:
                    batch_tokens = _back_off(embedder, batch_size, batch_tokens, int(lengths.max()))
                    bar.n = done  # the shard is redone
                    bar.refresh()
            writer.drain()
            for array in arrays.values():
                array.flush()
            done += len(shards[index])
            progress |= {"shards_done": index + 1, "batch_tokens": batch_tokens}
            write_json(progress, work / "progress.json")
    finally:
        writer.close()
        bar.close()
    nbytes = sum((work / f"{name}.npy").stat().st_size for name in shapes)
    record = {
        **(meta or {}),
        "model": embedder.name,
        "n_layers": embedder.n_layers,
        "hidden_size": dim,
        "has_cls": embedder.has_cls,
        "dtype": "float16",
        "pooled_shape": list(pooled_shape) if pooled else None,
        "pooling": POOLING_RULES,
        "token_layers": token_layers,
        "strands": strands,
        "max_tokens": width,
        "n_sequences": n,
        "bytes": nbytes,
        "bytes_per_sequence": nbytes / n,
        "paper_fp32_bytes_per_sequence": storage_baseline(lengths, dim, embedder.n_layers),
        "batch": {"size": batch_size, "tokens": None if batch_size else batch_tokens},
        "glmeval_version": __version__,
        "device": device_name(embedder.device),
        "fingerprint": fingerprint,
    }
    write_json(record, work / "meta.json")
    (work / "progress.json").unlink()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(work, out_dir)
    print(storage_report(record), file=sys.stderr)


def storage_baseline(lengths: np.ndarray, dim: int, n_layers: int) -> dict:
    """Bytes per sequence of the paper's cache (docs/paper.md, Compute): fp32 full-token
    matrices padded to the longest sequence, for one layer and for all layers (what its layer
    sweep recomputed)."""
    one_layer = int(lengths.max()) * dim * 4
    return {"one_layer": one_layer, "all_layers": one_layer * (n_layers + 1)}


def device_name(device) -> str:
    """The device a job ran on, with the GPU's model: `cuda:0 (NVIDIA H200)`, `cpu`."""
    device = torch.device(device)
    if device.type != "cuda":
        return device.type
    return f"{device} ({torch.cuda.get_device_name(device)})"


def storage_report(meta: dict) -> str:
    paper = meta["paper_fp32_bytes_per_sequence"]
    ours = meta["bytes_per_sequence"]
    pooled = "every layer pooled, " if meta["pooled_shape"] else ""
    return (
        f"{meta['model']}: {ours / 1024:.1f} KiB per sequence ({pooled}token layers "
        f"{meta['token_layers']}), against the paper's fp32 full tokens "
        f"{paper['one_layer'] / 1024:.1f} KiB per layer ({ours / paper['one_layer']:.2f}×) and "
        f"{paper['all_layers'] / 1024:.1f} KiB for all {meta['n_layers'] + 1} layers "
        f"({ours / paper['all_layers']:.3f}×)."
    )


def _run_batch(embedder, encoded, reverse, rows, token_layers, writer) -> None:
    """Embed one batch (and, with `reverse` encodings, its reverse complements) and queue its
    outputs for writing."""
    batch = [encoded[i] for i in rows]
    states, mask = embedder.hidden_states(batch)
    content = content_mask(batch, mask)
    outputs = {}
    if reverse is not None:
        outputs["pooled.forward"] = pool(states, content, embedder.has_cls)
        reversed_batch = [reverse[i] for i in rows]
        r_states, r_mask = embedder.hidden_states(reversed_batch)
        outputs["pooled.reverse"] = pool(
            r_states, content_mask(reversed_batch, r_mask), embedder.has_cls
        )
        aligned, paired = align_reverse(r_states, batch, reversed_batch)
        del r_states
        states = torch.where(paired[None, :, :, None], (states + aligned) / 2, states)
    outputs["pooled"] = pool(states, content, embedder.has_cls)
    for layer in token_layers:
        outputs[f"tokens.L{layer}"] = states[layer] * mask[..., None]
    writer.put(rows, outputs)


def content_mask(batch: list[Encoded], mask: torch.Tensor) -> torch.Tensor:
    """(B, T) True at the positions that carry bases."""
    special = torch.zeros(mask.shape, dtype=torch.bool)
    for row, enc in enumerate(batch):
        special[row, : len(enc)] = torch.from_numpy(enc.special)
    return mask & ~special.to(mask.device)


def _back_off(embedder, batch_size, batch_tokens, longest) -> int:
    if batch_size or batch_tokens < 2 * longest:
        raise torch.OutOfMemoryError(
            f"model {embedder.name!r}: out of GPU memory with "
            + (f"batch_size {batch_size}" if batch_size else f"a single {longest}-token sequence")
            + "; lower models.<model>.batch_size (or remove it to size batches automatically), "
            "use a GPU with more memory, or shorter sequences / long_sequences: window."
        )
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    print(
        f"out of memory at {batch_tokens} tokens per batch; retrying the shard with "
        f"{batch_tokens // 2}",
        file=sys.stderr,
    )
    return batch_tokens // 2


class _Writer:
    """Casts finished batches to float16, starts their copy to the host, and writes them into
    the memmaps on a background thread, so the device runs the next batch meanwhile. Errors
    surface on the next call."""

    def __init__(self, arrays: dict[str, np.ndarray], model: str):
        self.arrays, self.model = arrays, model
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def put(self, rows: np.ndarray, outputs: dict[str, torch.Tensor]) -> None:
        self._raise()
        halves, overflow = {}, []
        for name, tensor in outputs.items():
            if name not in self.arrays:  # not kept (the pooled states of a token part)
                continue
            half = tensor.half()
            overflow.append((torch.isinf(half) & torch.isfinite(tensor)).any())
            halves[name] = _to_host(half)
        flag = _to_host(torch.stack(overflow).any())
        event = torch.cuda.Event() if flag.is_pinned() else None
        if event is not None:
            event.record()
        self.queue.put((rows, halves, flag, event))

    def drain(self) -> None:
        self.queue.join()
        self._raise()

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        while (item := self.queue.get()) is not None:
            try:
                if self.error is None:
                    self._write(*item)
            except Exception as err:  # noqa: BLE001 (re-raised in the main thread)
                self.error = err
            finally:
                self.queue.task_done()
        self.queue.task_done()

    def _write(self, rows, halves, flag, event) -> None:
        if event is not None:
            event.synchronize()
        if bool(flag):
            raise OverflowError(
                f"model {self.model!r}: hidden states exceed the float16 range (|x| > 65504); "
                "they cannot be stored as float16."
            )
        for name, half in halves.items():
            values = half.numpy()
            target = self.arrays[name]
            if values.ndim == 3:  # token matrices: this batch may be narrower than the array
                target[rows, : values.shape[1]] = values
            else:
                target[rows] = values


def _reserve(path: Path, model: str) -> None:
    """Allocate the blocks of the (sparse) array file `path` now: writing a memmap into a hole
    on a full disk kills the process with SIGBUS, where this raises a named OSError."""
    fallocate = getattr(os, "posix_fallocate", None)  # Linux; not macOS
    if fallocate is None:
        return
    with open(path, "r+b") as fh:
        size = os.fstat(fh.fileno()).st_size
        try:
            fallocate(fh.fileno(), 0, size)
        except OSError as err:
            if err.errno != errno.ENOSPC:
                if err.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    return  # a filesystem that cannot reserve: write into the holes as before
                raise
            raise OSError(
                errno.ENOSPC,
                f"No space left on device for the embeddings of model {model!r}: "
                f"{path.name} needs {size / 2**20:.1f} MiB in {path.parent}. Free space there "
                "(or run the workflow in a directory on a larger filesystem) and rerun.",
            ) from err


def _to_host(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.device.type != "cuda":
        return tensor
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    return host.copy_(tensor, non_blocking=True)


def _fingerprint(embedder, sequences, token_layers, batch_size, shard_rows, meta) -> str:
    """What the arrays depend on: the sequences, the model and the extraction settings."""
    digest = hashlib.sha256()
    for seq in sequences:
        digest.update(seq.encode() + b"\n")
    model = [embedder.name, embedder.n_layers, embedder.hidden_size, embedder.has_cls]
    settings = [model, token_layers, batch_size, shard_rows, meta, __version__]
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _resume(work: Path, fingerprint: str) -> dict | None:
    """The progress of an interrupted run in `work` with the same inputs; None (after clearing
    `work`) when there is none."""
    record = work / "progress.json"
    if record.exists():
        progress = read_json(record)
        if progress["fingerprint"] == fingerprint:
            print(
                f"resuming the extraction in {work} after shard {progress['shards_done']}",
                file=sys.stderr,
            )
            return progress
        print(f"discarding {work}: it was started with other inputs", file=sys.stderr)
    if work.exists():
        shutil.rmtree(work)
    return None
