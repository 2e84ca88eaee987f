"""Train probes on one representation of a model's layers, evaluate them, write their
artifacts: one run (`run_probe`), or every run of one probe job (`run_probe_group`), which
loads its inputs once and resumes where a killed attempt stopped."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from glmeval.data.tasks import load_split, load_task
from glmeval.io import atomic_path, read_json, sha256_of, write_json, write_parquet
from glmeval.metrics import evaluate
from glmeval.nn.train import TrainConfig, fit, l2_param_groups, n_rows, predict
from glmeval.probes import linear
from glmeval.probes.cnn import ChipCNN, InsertCNN, MPRAnn, RepCNN, ResidualBind, SpliceCNN
from glmeval.probes.inputs import ProbeInputError, load_features, pad_tokens, take
from glmeval.probes.kinds import LINEAR_PROBES, PROBE_TASK_KINDS
from glmeval.probes.mlp import RepMLP
from glmeval.vocabulary import MEAN_TARGET, SPLITS


def loss_name(task: dict, probe: dict) -> str:
    """The training loss: diff_KL for splicing (targets with an offset), BCE for binary tasks
    (the paper's NT-MLP BCE on linear outputs with `paper_compat`), MSE otherwise."""
    if task.get("target_offset"):
        return "diff_kl"
    if task["kind"] in ("binary", "multilabel"):
        compat = probe["type"] == "rep_mlp" and probe.get("paper_compat")
        return "bce_on_outputs" if compat else "bce"
    return "mse"


def build_probe(probe: dict, shape: tuple[int, ...], n_out: int) -> torch.nn.Module:
    """The probe network for inputs of per-row `shape` ((D,) pooled or (T, D) tokens)."""
    kind, bn = probe["type"], probe["bn_momentum"]
    if kind == "rep_mlp":
        return RepMLP(int(np.prod(shape)), n_out, probe["width"], bn)
    n_tokens, dim = shape
    if kind == "rep_cnn":
        return RepCNN(n_tokens, dim, n_out, probe["width"], probe.get("reduce_dim", 128), bn)
    if kind == "chip_cnn":
        reduce = not probe.get("paper_compat", False)
        return ChipCNN(n_tokens, dim, n_out, probe.get("reduce_dim", 512), reduce, bn)
    if kind == "splice_cnn":
        return SpliceCNN(n_tokens, dim, n_out, probe.get("reduce_dim"), bn)
    architecture = {"insert_cnn": InsertCNN, "resnet": ResidualBind, "mprann": MPRAnn}[kind]
    return architecture(n_tokens, dim, n_out, bn_momentum=bn)


def choose_alpha(probe: dict, task: dict, x: dict, y: dict, seed: int) -> dict:
    """A probe with `alphas`: each fit on train and scored on valid by the task's headline
    metric (the mean over its targets), the best chosen; the record metrics.json keeps."""
    alphas, metric = probe["alphas"], task["metrics"][0]
    y_valid = y["valid"][:, : len(task["targets"])]  # without a target offset's column
    if probe["type"] == "logistic":
        chosen, scores = linear.logistic_grid(
            x["train"], y["train"], x["valid"], y_valid, alphas, seed, metric
        )
    else:
        chosen, scores = linear.ridge_grid(
            x["train"], y["train"], x["valid"], y_valid, alphas, metric
        )
    return {"alpha": chosen, "alphas": list(alphas), "metric": metric, "valid_scores": scores}


def _fit_linear(probe: dict, x: dict, y: dict, seed: int, alpha: float | None = None):
    """Test predictions of a linear probe fit on its `fit_on` splits, at `alpha` (chosen on a
    grid) or the probe's own."""
    fit_on = ("train", "valid") if probe.get("fit_on") == "train_valid" else ("train",)
    x_fit = np.concatenate([x[s] for s in fit_on])
    y_fit = np.concatenate([y[s] for s in fit_on])
    if probe["type"] == "logistic":
        hard = probe.get("paper_compat", False)
        alpha = probe["alpha"] if alpha is None else alpha
        return linear.logistic(x_fit, y_fit, x["test"], alpha, seed, hard_labels=hard)
    if alpha is not None:  # chosen on a grid: fit as the grid scored it
        return linear.ridge_float64(x_fit, y_fit, x["test"], alpha)
    alpha = probe["alpha"] if probe["type"] == "ridge" else 0.0
    return linear.ridge(x_fit, y_fit, x["test"], alpha)


def _fit_neural(probe: dict, task: dict, x: dict, y: dict, seed: int, device: str):
    loss = loss_name(task, probe)
    first = x["train"][0] if isinstance(x["train"], tuple) else x["train"]
    n_out = len(task["targets"])
    torch.manual_seed(seed)  # the initial weights are part of the replicate
    model = build_probe(probe, first.shape[1:], n_out)
    config = TrainConfig(**{k: probe[k] for k in TrainConfig.__dataclass_fields__})
    if probe["type"] == "rep_cnn" and probe.get("paper_compat"):
        config = dataclasses.replace(config, shuffle=False)  # docs/paper.md, Known issues
    history = fit(
        model,
        loss,
        (x["train"], y["train"]),
        (x["valid"], y["valid"]),
        config,
        seed,
        device,
        param_groups=l2_param_groups(model),
    )
    out = predict(model, x["test"], config.batch_size, torch.device(device))
    if loss == "bce":
        out = 1 / (1 + np.exp(-out))
    elif loss == "bce_on_outputs":
        out = np.clip(out, 1e-7, 1 - 1e-7)
    return out, history, model


def save_probe(model: torch.nn.Module, probe: dict, input_shape, n_out: int, path) -> None:
    """The trained weights and what rebuilds the module (`load_probe`), written atomically."""
    with atomic_path(path) as tmp:
        state = {"probe": probe, "input_shape": list(input_shape), "n_out": n_out}
        torch.save({**state, "state_dict": model.cpu().state_dict()}, tmp)


def load_probe(path) -> tuple[torch.nn.Module, dict]:
    """The probe saved at `path`, in eval mode, and its record (probe, input_shape, n_out)."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    model = build_probe(saved["probe"], tuple(saved["input_shape"]), saved["n_out"])
    model.load_state_dict(saved.pop("state_dict"))
    return model.eval(), saved


def check_labels(task: dict, frames: dict[str, pd.DataFrame], y: dict[str, np.ndarray]) -> None:
    """Named errors for labels no probe can learn from: NaN (where a task has no missing
    targets), a constant target or a single class in a split, binary labels other than 0/1."""
    binary = task["kind"] in ("binary", "multilabel")
    for split in SPLITS:
        for j, target in enumerate(task["targets"]):
            values = y[split][:, j]
            where = f"task {task['name']!r}, split {split!r}, target {target!r}"
            missing = np.isnan(values)
            if missing.any() and not task.get("targets_may_be_missing"):
                row = frames[split]["id"].iloc[int(np.argmax(missing))]
                raise ProbeInputError(
                    f"{where}: NaN label at row id {row!r}; prepare the task again."
                )
            observed = np.unique(values[~missing])
            if binary and not set(observed) <= {0.0, 1.0}:
                raise ProbeInputError(f"{where}: binary labels must be 0/1, found {observed[:5]}.")
            if len(observed) < 2:
                what = "a single class" if binary else "a constant target"
                raise ProbeInputError(
                    f"{where}: {what} ({observed.tolist()}) gives no metric; rebalance the split "
                    "or leave the target out."
                )


#: The draw of a `shared` train fraction: one subsample per fraction for every replicate.
SHARED_SAMPLE_SEED = 0


def subsample(n: int, fraction: float, seed: int) -> np.ndarray:
    """Sorted rows of a `fraction` of `n`, drawn without replacement; the same for every model
    at the same seed and fraction (so runs pair across models)."""
    if fraction >= 1:
        return np.arange(n)
    rng = np.random.default_rng([seed, round(fraction * 1_000_000)])
    return np.sort(rng.choice(n, size=max(2, round(fraction * n)), replace=False))


@dataclass(frozen=True)
class Labels:
    """A task's description, splits and label matrices, checked once for a probe job."""

    task: dict
    frames: dict[str, pd.DataFrame]
    y: dict[str, np.ndarray]
    columns: tuple[str, ...]


def load_labels(task_dir: str | Path, probe: dict, representation: str) -> Labels:
    """The task's splits and labels, with every check that does not depend on the layer: the
    probe fits the task's kind and sequence columns, and the labels can be learned."""
    task_dir = Path(task_dir)
    task = load_task(task_dir)
    kinds = PROBE_TASK_KINDS.get(probe["type"])
    if kinds and task["kind"] not in kinds:
        raise ProbeInputError(
            f"probe type {probe['type']!r} fits {'/'.join(sorted(kinds))} tasks; "
            f"task {task['name']!r} is {task['kind']}."
        )
    targets, columns = task["targets"], tuple(task.get("sequence_columns", ["sequence"]))
    if probe["type"] == "splice_cnn" and len(columns) != 2:
        raise ProbeInputError(
            f"splice_cnn needs a two-sequence task; {task['name']!r} has {columns}."
        )
    if representation == "tokens" and len(columns) == 2 and probe["type"] != "splice_cnn":
        raise ProbeInputError(
            f"task {task['name']!r} has two sequences {columns}: token-level probes of it must "
            "be splice_cnn (pooled probes concatenate the two)."
        )
    frames = {split: load_split(task_dir, split) for split in SPLITS}
    y = {split: frames[split][targets].to_numpy(np.float32) for split in SPLITS}
    check_labels(task, frames, y)
    return Labels(task, frames, y, columns)


def load_layer(
    task_dir: str | Path,
    embedding_dirs: dict[str, str | Path],
    labels: Labels,
    representation: str,
    layer: int,
) -> dict:
    """One representation of one layer for every split, checked against the labels' rows."""
    task_dir = Path(task_dir)
    x = {
        split: load_features(
            embedding_dirs[split],
            representation,
            layer,
            labels.columns,
            task_dir / f"{split}.parquet",
        )
        for split in SPLITS
    }
    for split in SPLITS:
        if n_rows(x[split]) != len(labels.y[split]):
            raise ProbeInputError(
                f"{embedding_dirs[split]}: {n_rows(x[split])} embedded rows, but split {split!r} "
                f"of task {labels.task['name']!r} has {len(labels.y[split])}; extract the "
                "embeddings again."
            )
    return pad_tokens(x)


def training_rows(
    labels: Labels,
    x: dict,
    train_fraction: float,
    seed: int,
    fraction_sampling: str = "per_seed",
    fraction_splits: tuple[str, ...] = ("train", "valid"),
) -> tuple[dict, dict]:
    """The inputs and targets a run trains on: `fraction_splits` subsampled to the run's
    `train_fraction` (`run_probe`), a target offset appended to the train and valid targets."""
    y, x = dict(labels.y), dict(x)
    offset = labels.task.get("target_offset")
    sample_seed = SHARED_SAMPLE_SEED if fraction_sampling == "shared" else seed
    for split in ("train", "valid"):
        if offset:  # the loss adds the offset back (splicing: PSI = σ(Δ + mean logit))
            frame = labels.frames[split]
            y[split] = np.column_stack([y[split], frame[offset].to_numpy(np.float32)])
        if split in fraction_splits:
            rows = subsample(len(y[split]), train_fraction, sample_seed)
            x[split], y[split] = take(x[split], rows), y[split][rows]
    return x, y


def train_run(
    labels: Labels,
    x: dict,
    probe: dict,
    seed: int,
    out_dir: str | Path,
    keys: dict,
    train_fraction: float = 1.0,
    device: str = "cpu",
    fraction_sampling: str = "per_seed",
    fraction_splits: tuple[str, ...] = ("train", "valid"),
) -> None:
    """Train one run on loaded inputs and write its artifacts into `out_dir` (`run_probe`);
    `keys` name it in the tidy rows (task, model, probe, layer, representation)."""
    task, frames = labels.task, labels.frames
    x, y = training_rows(labels, x, train_fraction, seed, fraction_sampling, fraction_splits)
    extra = None
    if probe["type"] in LINEAR_PROBES and "alphas" in probe:
        extra = {"regularisation": choose_alpha(probe, task, x, y, seed)}
        pred, history = _fit_linear(probe, x, y, seed, extra["regularisation"]["alpha"]), []
    elif probe["type"] in LINEAR_PROBES:
        pred, history = _fit_linear(probe, x, y, seed), []
    else:
        pred, history, model = _fit_neural(probe, task, x, y, seed, device)
        first = x["train"][0] if isinstance(x["train"], tuple) else x["train"]
        save_probe(model, probe, first.shape[1:], len(task["targets"]), Path(out_dir) / "model.pt")
    write_probe_results(
        task,
        frames["test"],
        y["test"],
        pred,
        history,
        out_dir,
        {
            **keys,
            "width": probe.get("width", 1.0),
            "seed": seed,
            "train_fraction": train_fraction,
            "n_train": len(y["train"]),
        },
        extra,
    )


def run_probe(
    task_dir: str | Path,
    embedding_dirs: dict[str, str | Path],
    probe: dict,
    representation: str,
    layer: int,
    seed: int,
    out_dir: str | Path,
    context: dict,
    train_fraction: float = 1.0,
    device: str = "cpu",
    fraction_sampling: str = "per_seed",
    fraction_splits: tuple[str, ...] = ("train", "valid"),
) -> None:
    """Write `metrics.json` (tidy rows + history) and `predictions.parquet` into `out_dir`.

    `context` names the run for the tidy rows: task, model, probe (its config name).
    `train_fraction` subsamples `fraction_splits` (train and valid as the paper's Task 4 did; its
    Task 5 kept its whole validation split); test is always whole. The subsample is drawn per
    seed (`per_seed`), or once per fraction and shared by every replicate (`shared`, the paper's
    code). Every input is checked before training starts.
    """
    labels = load_labels(task_dir, probe, representation)
    x = load_layer(task_dir, embedding_dirs, labels, representation, layer)
    keys = {**context, "layer": layer, "representation": representation}
    train_run(
        labels,
        x,
        probe,
        seed,
        out_dir,
        keys,
        train_fraction,
        device,
        fraction_sampling,
        fraction_splits,
    )


#: A run's files, written in this order: `metrics.json` last, so its presence means complete.
RUN_FILES = ("model.pt", "predictions.parquet", "metrics.json")
#: A fine-tuning run's training state after its last complete epoch, until it is complete.
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class Run:
    """One run of a probe job: its layer, train fraction, seed and directory."""

    layer: int
    train_fraction: float
    seed: int
    out_dir: str


def _fingerprint(settings: dict, embedding_dirs: dict[str, str | Path]) -> str:
    """What a finished run was trained from: the job's settings and its embeddings' records."""
    records = sorted(
        str(path) + ":" + sha256_of(path)
        for directory in embedding_dirs.values()
        for path in Path(directory).rglob("meta.json")
    )
    return job_fingerprint(settings, embeddings=records)


def job_fingerprint(settings: dict, **inputs) -> str:
    """A job's settings and what its runs read (`inputs`), hashed: what `start_attempt`
    compares an unfinished attempt by."""
    text = json.dumps({"settings": settings, **inputs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_probe_group(
    task_dir: str | Path,
    embedding_dirs: dict[str, str | Path],
    probe: dict,
    representation: str,
    runs: list[Run],
    record: str | Path,
    context: dict,
    device: str = "cpu",
    fraction_sampling: str = "per_seed",
    fraction_splits: tuple[str, ...] = ("train", "valid"),
) -> None:
    """Train every run of one probe job (`glmeval.plan.ProbeGroup`), loading the labels once
    and each layer once, and write `record` (the runs, finished) last.

    A job killed part-way resumes: its rerun keeps the runs that finished (their `metrics.json`
    written, from the same settings and embeddings) and trains the rest. A job started afresh
    (no unfinished attempt, or one with other settings) first removes the runs' old files, so
    no run of other settings is ever kept. Progress goes to stderr, one line per run."""
    record = Path(record)
    settings = {
        "probe": probe,
        "representation": representation,
        "context": context,
        "fraction_sampling": fraction_sampling,
        "fraction_splits": list(fraction_splits),
    }
    fingerprint = _fingerprint(settings, embedding_dirs)
    done = start_attempt(record, fingerprint, runs)
    labels = load_labels(task_dir, probe, representation)
    by_layer: dict[int, list[Run]] = {}
    for run in runs:
        by_layer.setdefault(run.layer, []).append(run)
    count = len(done)
    for layer, layer_runs in by_layer.items():
        todo = [r for r in layer_runs if r not in done]
        if not todo:
            continue
        x = load_layer(task_dir, embedding_dirs, labels, representation, layer)
        keys = {**context, "layer": layer, "representation": representation}
        for run in todo:
            started = time.perf_counter()
            train_run(
                labels,
                x,
                probe,
                run.seed,
                run.out_dir,
                keys,
                run.train_fraction,
                device,
                fraction_sampling,
                fraction_splits,
            )
            count += 1
            print(
                f"run {count} of {len(runs)}: layer {layer}, fraction {run.train_fraction:g}, "
                f"seed {run.seed} ({time.perf_counter() - started:.1f} s)",
                file=sys.stderr,
            )
    finish_attempt(record, fingerprint, runs, {"embeddings": _made_by(embedding_dirs)})


def start_attempt(record: Path, fingerprint: str, runs: list[Run]) -> set[Run]:
    """The runs of a job (writing `record` when done) that an unfinished attempt with the same
    `fingerprint` finished; a job started afresh removes its runs' old files first."""
    attempt = record.with_name(record.name + ".attempt")
    resuming = attempt.exists() and read_json(attempt).get("fingerprint") == fingerprint
    done = {r for r in runs if resuming and (Path(r.out_dir) / RUN_FILES[-1]).exists()}
    if not resuming:
        for run in runs:
            for name in (*RUN_FILES, CHECKPOINT):
                (Path(run.out_dir) / name).unlink(missing_ok=True)
        write_json({"fingerprint": fingerprint}, attempt)
    if done:
        print(f"resuming: {len(done)} of {len(runs)} runs finished before", file=sys.stderr)
    return done


def finish_attempt(record: Path, fingerprint: str, runs: list[Run], made: dict) -> None:
    """Write the job's `record` (its runs, and `made`: what they were computed from)."""
    listed = [dataclasses.asdict(r) for r in runs]
    write_json({"fingerprint": fingerprint, **made, "runs": listed}, record)
    record.with_name(record.name + ".attempt").unlink()


def _made_by(embedding_dirs: dict[str, str | Path]) -> dict:
    """What computed the embeddings a job read (for the provenance table): the model, its
    snapshot and the device, from the train split's record."""
    meta = read_json(min(Path(embedding_dirs["train"]).rglob("meta.json")))
    return {key: meta.get(key) for key in ("model", "snapshot", "device")}


def write_probe_results(
    task, test: pd.DataFrame, y_test, pred, history, out_dir, keys, extra: dict | None = None
) -> None:
    """Tidy metric rows (per target, plus `_mean` over targets of a multi-target task) and the
    test-set predictions, written atomically; `extra` (an alpha chosen on a grid) is kept in
    metrics.json beside them."""
    targets = task["targets"]
    per_target = {
        target: evaluate(task["metrics"], y_test[:, j], pred[:, j])
        for j, target in enumerate(targets)
    }
    if len(targets) > 1:
        per_target[MEAN_TARGET] = {
            metric: float(np.nanmean([per_target[t][metric] for t in targets]))
            for metric in task["metrics"]
        }
    rows = [
        {**keys, "target": target, "metric": metric, "value": value, "n_test": len(y_test)}
        for target, values in per_target.items()
        for metric, value in values.items()
    ]
    predictions = pd.DataFrame({"id": test["id"]})
    for j, target in enumerate(targets):
        predictions[target] = y_test[:, j]
        predictions[f"{target}_pred"] = pred[:, j]
    out_dir = Path(out_dir)
    write_parquet(predictions, out_dir / "predictions.parquet")
    write_json({"rows": rows, "history": history, **(extra or {})}, out_dir / "metrics.json")
