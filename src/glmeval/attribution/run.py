"""The attribution workflow's steps: the sequences explained, the maps of one model (and probe),
global importance analysis, and the motif tables of a task (docs/attribution.md)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from glmeval.attribution import maps as M
from glmeval.attribution.importance import METHODS, observed, per_base
from glmeval.io import atomic_path, read_json, write_csv, write_json


def select_top(test: pd.DataFrame, predictions: pd.DataFrame, k: int) -> pd.DataFrame:
    """The `k` test sequences the reference model predicts highest (the mean over its targets;
    docs/paper.md), best first: rank, id, row (in the test split), prediction, sequence, and the
    test split's other columns (e.g. a synthetic task's planted `motifs`)."""
    pred = predictions.set_index("id")[[c for c in predictions if c.endswith("_pred")]]
    test = test.reset_index(drop=True).assign(row=np.arange(len(test)))
    test["prediction"] = pred.loc[test["id"]].mean(axis=1).to_numpy()
    top = test.sort_values("prediction", ascending=False, kind="stable").head(k)
    top.insert(0, "rank", np.arange(len(top)))
    first = ["rank", "id", "row", "prediction", "sequence"]
    return top[first + [c for c in top if c not in first]].reset_index(drop=True)


def explain(
    selection: pd.DataFrame,
    methods: Sequence[str],
    embedder=None,
    probe=None,
    representation: str | None = None,
    layer: int | None = None,
    tokens: np.ndarray | None = None,
    settings: Mapping | None = None,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """The maps `methods` of one model for the selected sequences. `probe`: (module, record)
    from `load_probe`, absent for `reverse_entropy`; `embedder`: the model (None for a one-hot
    probe, which is explained directly); `tokens`: the selection's cached (N, T, D) token
    matrices, for `embedding_gradient`."""
    settings = {"n_shuffles": 20, "batch_size": 64, "seed": 0, **(settings or {})}
    sequences = selection["sequence"].tolist()
    x = M.one_hot(sequences)
    out = {}
    if probe is not None:
        model = (
            M.OneHotModel(probe[0])
            if embedder is None
            else M.PipelineModel(embedder, probe, representation, layer)
        )
    grads = None
    for method in methods:
        if method in ("saliency", "input_x_gradient"):
            if grads is None:
                grads = M.corrected_gradients(model, x, device)
            out[method] = grads if method == "saliency" else observed(grads, sequences)
        elif method == "deep_lift_shap":
            out[method] = M.deep_lift_shap(
                model, x, settings["n_shuffles"], settings["seed"], device
            )
        elif method == "ism":
            out[method] = M.ism(model, x, settings["batch_size"], device)
        elif method == "embedding_gradient":
            width = probe[1]["input_shape"][0]
            padded = np.zeros((len(tokens), width, tokens.shape[2]), np.float32)
            padded[:, : tokens.shape[1]] = tokens[:, :width]
            per_token = M.embedding_gradient(probe[0], padded, device)
            encoded = embedder.encode(sequences) if embedder is not None else None
            out[method] = (
                per_token[:, : x.shape[-1]]  # one-hot: one token per base
                if encoded is None
                else M.to_bases(per_token, encoded, x.shape[-1])
            )
        elif method == "reverse_entropy":
            out[method] = M.reverse_entropy(embedder, sequences, settings["batch_size"])
        else:
            raise ValueError(f"unknown attribution method {method!r}; choose from {list(METHODS)}")
    return out


def write_maps(maps: Mapping[str, np.ndarray], record: dict, out_dir: str | Path) -> None:
    """`{method}.npy` (float32) per map and `index.json` (the record, each map's shape and
    kind) into `out_dir`, written whole or not at all."""
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for method, values in maps.items():
            np.save(tmp / f"{method}.npy", np.asarray(values, np.float32))
        shapes = {m: {"shape": list(v.shape), "kind": METHODS[m]} for m, v in maps.items()}
        write_json({**record, "maps": shapes}, tmp / "index.json")


def read_maps(map_dirs: Sequence[str | Path]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The tidy index (task, model, probe, representation, layer, method, kind, shape, path)
    of the maps in `map_dirs`, and each map by its label `model/probe/method`."""
    rows, arrays = [], {}
    for directory in map(Path, map_dirs):
        record = read_json(directory / "index.json")
        for method, info in record["maps"].items():
            label = f"{record['model']}/{record['probe']}/{method}"
            path = directory / f"{method}.npy"
            arrays[label] = np.load(path)
            rows.append(
                {
                    "map": label,
                    **{
                        k: record.get(k)
                        for k in ("task", "model", "probe", "representation", "layer")
                    },
                    "method": method,
                    "kind": info["kind"],
                    "shape": "x".join(map(str, info["shape"])),
                    "path": str(path),
                }
            )
    return pd.DataFrame(rows), arrays


def motif_tables(
    selection: pd.DataFrame,
    map_dirs: Sequence[str | Path],
    motifs_path: str,
    out_dir: str | Path,
    threshold: float = 0.01,
    max_pvalue: float = 0.05,
    null_draws: int = 100,
    null_seed: int = 0,
) -> None:
    """maps.csv (the index), seqlets.csv, recovery.csv, agreement.csv and planted.csv of a
    task's maps, each summary with its chance level over `null_draws` shifted maps
    (`motifs.null_offsets`, the same offsets for every map). planted.csv is empty (its header)
    where the selection records no planted motifs."""
    from glmeval.attribution.motifs import (
        PLANTED_COLUMNS,
        agreement,
        null_offsets,
        null_seqlets,
        planted_mask,
        planted_share,
        recovery,
        seqlets,
    )
    from glmeval.data.synthetic import CONSENSUS

    index, arrays = read_maps(map_dirs)
    sequences, ids = selection["sequence"].tolist(), selection["id"].tolist()
    importance = {
        label: per_base(label.rsplit("/", 1)[1], values, sequences)
        for label, values in arrays.items()
    }
    offsets = null_offsets(len(sequences), len(sequences[0]), null_draws, null_seed)
    found, null = [], []
    for label, values in importance.items():
        found.append(
            seqlets(values, sequences, ids, motifs_path, threshold, max_pvalue).assign(map=label)
        )
        null.append(
            null_seqlets(values, sequences, offsets, motifs_path, threshold, max_pvalue).assign(
                map=label
            )
        )
    found = pd.concat(found, ignore_index=True)
    null = pd.concat(null, ignore_index=True)
    out_dir = Path(out_dir)
    write_csv(index, out_dir / "maps.csv")
    write_csv(found[["map", *[c for c in found if c != "map"]]], out_dir / "seqlets.csv")
    write_csv(recovery(found, len(selection), null, null_draws), out_dir / "recovery.csv")
    write_csv(agreement(importance, offsets), out_dir / "agreement.csv")
    mask = planted_mask(selection, {name: len(c) for name, c in CONSENSUS.items()})
    if mask is None:
        print("planted.csv: the selection records no planted motifs (`motifs`)", file=sys.stderr)
        planted = pd.DataFrame(columns=PLANTED_COLUMNS)
    else:
        planted = planted_share(importance, mask, offsets)
    write_csv(planted, out_dir / "planted.csv")


def selection_tokens(embedding_dir: str | Path, layer: int, rows: Sequence[int]) -> np.ndarray:
    """(N, T, D) float32 cached token matrices of the selected test rows."""
    from glmeval.probes.inputs import load_features

    tokens = load_features(embedding_dir, "tokens", layer)
    return np.asarray(tokens[np.asarray(rows)], np.float32)
