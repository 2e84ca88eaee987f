"""The embedding engine: every layer from one forward pass, written as float16 memmaps.

Artifact (one directory per model × task × split):
- `pooled.npy` (N, layers+1, 2, D) float16: [..., 0, :] CLS state (NaN for families without a
  CLS token), [..., 1, :] mean over the tokens that carry bases (special tokens and padding
  excluded);
- `tokens.L{layer}.npy` (N, T, D) float16 for each requested layer: every token including special
  tokens, zero rows after a sequence's last token; T = the longest tokenization in the split;
- `meta.json`: model, layers, dtype, pooling rules, token layers, shapes, bytes, input sha256.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.lib.format import open_memmap
from tqdm import tqdm

from glmeval import __version__
from glmeval.io import atomic_path, write_json
from glmeval.models import Embedder

POOLING_RULES = {
    "cls": "hidden state of token 0 (the CLS token); NaN where the family has no CLS token",
    "mean": "mean over tokens that carry bases; special tokens and padding excluded",
}


def pool(states: torch.Tensor, content: torch.Tensor, has_cls: bool) -> torch.Tensor:
    """(S, B, T, D) states and (B, T) content mask -> (B, S, 2, D) [cls, mean]."""
    weights = content[None, :, :, None].to(states.dtype)
    mean = (states * weights).sum(2) / weights.sum(2).clamp(min=1)
    cls = states[:, :, 0] if has_cls else torch.full_like(mean, float("nan"))
    return torch.stack([cls, mean], dim=2).transpose(0, 1)


def extract(
    embedder: Embedder,
    sequences: Sequence[str],
    out_dir: str | Path,
    token_layers: Sequence[int] = (),
    batch_size: int = 64,
    meta: dict | None = None,
) -> None:
    """Embed `sequences` with `embedder` into the artifact directory `out_dir` (atomically)."""
    bad = [layer for layer in token_layers if not 0 <= layer <= embedder.n_layers]
    if bad:
        raise ValueError(
            f"model {embedder.name!r} has layers 0..{embedder.n_layers}; "
            f"token-level layers {bad} do not exist."
        )
    encoded = embedder.encode(sequences)
    n, n_states, dim = len(encoded), embedder.n_layers + 1, embedder.hidden_size
    lengths = np.array([len(e) for e in encoded])
    width = int(lengths.max())
    order = np.argsort(lengths, kind="stable")  # similar lengths share a batch: little padding
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        pooled = open_memmap(tmp / "pooled.npy", "w+", np.float16, (n, n_states, 2, dim))
        tokens = {
            layer: open_memmap(tmp / f"tokens.L{layer}.npy", "w+", np.float16, (n, width, dim))
            for layer in token_layers
        }
        progress = tqdm(total=n, unit="seq", desc=f"embed {embedder.name}", file=sys.stderr)
        for start in range(0, n, batch_size):
            rows = np.sort(order[start : start + batch_size])
            batch = [encoded[i] for i in rows]
            states, mask = embedder.hidden_states(batch)
            special = torch.zeros_like(mask)
            for row, enc in enumerate(batch):
                special[row, : len(enc)] = torch.from_numpy(enc.special)
            pooled[rows] = _to_float16(pool(states, mask & ~special, embedder.has_cls), embedder)
            for layer, array in tokens.items():
                layer_states = states[layer] * mask[..., None]
                array[rows, : layer_states.shape[1]] = _to_float16(layer_states, embedder)
            progress.update(len(rows))
        progress.close()
        for array in (pooled, *tokens.values()):
            array.flush()
        nbytes = sum(p.stat().st_size for p in tmp.glob("*.npy"))
        write_json(
            {
                **(meta or {}),
                "model": embedder.name,
                "n_layers": embedder.n_layers,
                "hidden_size": dim,
                "has_cls": embedder.has_cls,
                "dtype": "float16",
                "pooled_shape": list(pooled.shape),
                "pooling": POOLING_RULES,
                "token_layers": list(token_layers),
                "max_tokens": width,
                "n_sequences": n,
                "bytes": nbytes,
                "bytes_per_sequence": nbytes / n,
                "glmeval_version": __version__,
            },
            tmp / "meta.json",
        )


def _to_float16(tensor: torch.Tensor, embedder: Embedder) -> np.ndarray:
    values = tensor.cpu().numpy()
    array = values.astype(np.float16)
    if not np.array_equal(np.isfinite(array), np.isfinite(values)):
        raise OverflowError(
            f"model {embedder.name!r}: hidden states exceed the float16 range "
            f"(max |x| = {float(tensor.abs().max()):.3g}); they cannot be stored as float16."
        )
    return array

