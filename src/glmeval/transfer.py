"""Supervised transfer (docs/paper.md, Tasks: CAGI5): a probe trained on an activity task
(lentiMPRA) predicts the ref and alt windows of each variant; the effect is prediction(alt) −
prediction(ref).

The windows go through the same path as the probe's training data: the embedding engine writes
their float16 artifact, `load_features` reads it, and token matrices are zero-padded to the
width the probe was trained on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from glmeval.embed import extract
from glmeval.models import Embedder
from glmeval.nn.train import predict
from glmeval.probes.inputs import ProbeInputError, Rows, load_features
from glmeval.probes.run import load_probe


def probe_predictions(
    embedder: Embedder,
    probe: tuple[torch.nn.Module, dict],
    representation: str,
    layer: int,
    sequences: list[str],
    device: str = "cpu",
    batch_size: int = 256,
    where: str | Path = "the probe",
) -> np.ndarray:
    """(N, n_out) raw outputs of a trained probe (`load_probe`) on `sequences`, read through
    the embedding engine and feature loader that made its training data."""
    model, saved = probe
    with tempfile.TemporaryDirectory() as tmp:
        token_layers = [layer] if representation == "tokens" else []
        extract(embedder, sequences, Path(tmp) / "windows", token_layers=token_layers)
        x = load_features(Path(tmp) / "windows", representation, layer)
        if isinstance(x, Rows):
            width = saved["input_shape"][0]
            if x.n_tokens > width:
                raise ProbeInputError(
                    f"{where}: the sequences need {x.n_tokens} tokens but the probe was trained "
                    f"on {width}; use sequences as long as the probe's training sequences."
                )
            x = Rows(x.source, x.rows, width)
        elif x.shape[1:] != tuple(saved["input_shape"]):
            raise ProbeInputError(
                f"{where}: trained on inputs {saved['input_shape']}, the sequences give "
                f"{list(x.shape[1:])}; the probe and the embedding model do not match."
            )
        return predict(model.to(device), x, batch_size, torch.device(device))


def transfer_effects(
    embedder: Embedder,
    probe_path: str | Path,
    representation: str,
    layer: int,
    variants: pd.DataFrame,
    device: str = "cpu",
    batch_size: int = 256,
) -> pd.DataFrame:
    """id, pred_ref, pred_alt and effect_pred (alt − ref; the mean over targets of a multi-target
    probe) for every variant, in input order."""
    sequences = [*variants["ref_sequence"], *variants["alt_sequence"]]
    pred = probe_predictions(
        embedder,
        load_probe(probe_path),
        representation,
        layer,
        sequences,
        device,
        batch_size,
        where=probe_path,
    )
    pred = pred.astype(np.float64).mean(axis=1)
    n = len(variants)
    ref, alt = pred[:n], pred[n:]
    return pd.DataFrame(
        {
            "id": variants["id"].to_numpy(),
            "pred_ref": ref,
            "pred_alt": alt,
            "effect_pred": alt - ref,
        }
    )
