"""Fine-tuning probes (docs/finetuning.md): a language model and a probe's head trained end to
end on a task, beside the frozen probes and written as they are (`metrics.json`,
`predictions.parquet`, `model.pt`).

Three kinds (`finetune`): `lora` trains LoRA adapters (peft) on the family's attention and
feed-forward projections and leaves the base weights as they are; `full` trains every weight;
`scratch` trains every weight of the same architecture from the random initialisation of the
`random_init` control (seeded by the run's seed). The head is initialised, and the data
ordered, by the run's seed alone, so `full` and `scratch` differ only in the model's initial
weights.

The model reads sequences as extraction does: the family's tokenizer, windows (`long_sequences:
window`), strands (`strands: both`: the mean of the two strands' base-aligned states) and, on a
GPU, precision (autocast). The head reads the last layer's states: their mean over the bases
(`rep_mlp`) or the token matrix padded to the task's longest tokenization (the token CNNs).
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from glmeval.data.sequence import reverse_complement
from glmeval.embed import align_reverse, content_mask, device_name, pool
from glmeval.io import atomic_path
from glmeval.models import Embedder, Encoded, load_embedder, snapshot_record
from glmeval.models.base import unwrapped
from glmeval.models.families import ModelError, family_of
from glmeval.nn.train import TrainConfig, fit, predict, trained_state
from glmeval.probes.inputs import ProbeInputError
from glmeval.probes.run import (
    CHECKPOINT,
    Labels,
    Run,
    build_probe,
    finish_attempt,
    job_fingerprint,
    load_labels,
    loss_name,
    start_attempt,
    training_rows,
    write_probe_results,
)
from glmeval.vocabulary import SPLITS, TOKENS

#: The LoRA settings a probe leaves out.
LORA_DEFAULTS = {"rank": 8, "alpha": 16, "dropout": 0.05}
#: Module types LoRA can adapt (peft's LoRA layers).
ADAPTABLE = (nn.Linear, nn.Conv1d, nn.Embedding)


@dataclass(frozen=True)
class SequenceBatch:
    """Tokenized sequences of a batch, and their reverse complements' (`strands: both`)."""

    forward: list[Encoded]
    reverse: list[Encoded] | None

    def __len__(self) -> int:
        return len(self.forward)

    def __getitem__(self, rows: slice) -> SequenceBatch:
        return SequenceBatch(self.forward[rows], self.reverse and self.reverse[rows])

    def to(self, _device) -> SequenceBatch:  # the model moves the ids it makes of them
        return self


class Sequences:
    """A split's tokenized sequences, which `glmeval.nn.train.fit` batches by rows."""

    def __init__(self, forward: list[Encoded], reverse: list[Encoded] | None = None):
        self.forward, self.reverse = forward, reverse

    def __len__(self) -> int:
        return len(self.forward)

    def __getitem__(self, rows: np.ndarray) -> Sequences:
        batch = self.read(rows)
        return Sequences(batch.forward, batch.reverse)

    def read(self, rows: np.ndarray) -> SequenceBatch:
        return SequenceBatch(
            [self.forward[i] for i in rows], self.reverse and [self.reverse[i] for i in rows]
        )

    @property
    def longest(self) -> int:
        return max(map(len, self.forward))


def encode(embedder: Embedder, sequences: list[str]) -> Sequences:
    """A split's sequences tokenized as extraction does (both strands where the model's
    `strands` is `both`)."""
    forward = embedder.encode(sequences)
    if getattr(embedder, "strands", "forward") != "both":
        return Sequences(forward)
    reverse = embedder.encode([reverse_complement(seq) for seq in sequences])
    return Sequences(forward, reverse)


class FineTuned(nn.Module):
    """A language model under a probe's head: sequences in, the head's outputs out."""

    def __init__(self, embedder: Embedder, head: nn.Module, representation: str, n_tokens: int):
        super().__init__()
        self.embedder = embedder
        self.backbone = unwrapped(embedder).backbone
        self.head = head
        self.representation, self.n_tokens = representation, n_tokens

    def forward(self, batch: SequenceBatch) -> torch.Tensor:
        embedder = self.embedder
        states, mask = embedder.hidden_states(batch.forward)  # (1, B, T, D): the last layer
        if batch.reverse is not None:
            reverse, _ = embedder.hidden_states(batch.reverse)
            aligned, paired = align_reverse(reverse, batch.forward, batch.reverse)
            states = torch.where(paired[None, :, :, None], (states + aligned) / 2, states)
        if self.representation == TOKENS:
            tokens = states[0] * mask[..., None]
            x = nn.functional.pad(tokens, (0, 0, 0, self.n_tokens - tokens.shape[1]))
        else:
            pooled = pool(states, content_mask(batch.forward, mask), embedder.has_cls)
            x = pooled[:, 0, 0 if self.representation == "cls" else 1]
        return self.head(x)


def lora_targets(name: str, model: dict, probe: dict, backbone: nn.Module) -> list[str]:
    """The module names LoRA adapts in `backbone`: the probe's `lora.target_modules`, each of
    which must name one of its modules, else those of the family's defaults it has (a Mixtral's
    fused experts have no linear layers: its attention projections only)."""
    chosen = probe.get("lora", {}).get("target_modules")
    targets = list(chosen or family_of(name, model).lora_targets)
    present = _targets_present(backbone, targets)
    missing = [t for t in targets if t not in present]
    if (chosen and missing) or not present:
        raise ModelError(
            f"model {name!r}: LoRA target modules {missing or targets} are not among its "
            f"adaptable modules {adaptable_modules(backbone)}; set the probe's "
            "lora.target_modules to some of these."
        )
    return present


def adaptable_modules(backbone: nn.Module) -> list[str]:
    """The names of the modules of `backbone` that LoRA can adapt, as a target names them: the
    last part of their path (the last two where it is an index: GPN's `conv.1`), sorted."""
    names = set()
    for path, module in backbone.named_modules():
        if _adaptable(module):
            parts = path.split(".")
            names.add(".".join(parts[-2:]) if parts[-1].isdigit() else parts[-1])
    return sorted(names)


def _targets_present(backbone: nn.Module, targets: list[str]) -> list[str]:
    """The `targets` that name an adaptable module of `backbone` (as peft matches them: the
    module's path, or its end after a dot)."""
    paths = [p for p, m in backbone.named_modules() if _adaptable(m)]
    return [t for t in targets if any(p == t or p.endswith("." + t) for p in paths)]


def _adaptable(module: nn.Module) -> bool:
    return isinstance(module, ADAPTABLE) or type(module).__name__ == "Conv1D"  # GPT-2's


def add_lora(backbone: nn.Module, name: str, model: dict, probe: dict) -> list[str]:
    """LoRA adapters on `backbone`'s target modules (peft), in place; only they train. Returns
    the targets."""
    from peft import LoraConfig, inject_adapter_in_model

    targets = lora_targets(name, model, probe, backbone)
    settings = {**LORA_DEFAULTS, **probe.get("lora", {})}
    config = LoraConfig(
        r=settings["rank"],
        lora_alpha=settings["alpha"],
        lora_dropout=settings["dropout"],
        target_modules=targets,
        bias="none",
    )
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    inject_adapter_in_model(config, backbone)
    for module_name, parameter in backbone.named_parameters():
        parameter.requires_grad_("lora_" in module_name)
    return targets


def load_model(
    name: str, model: dict, path: str | None, probe: dict, seed: int, device: str
) -> Embedder:
    """Model `name` prepared for fine-tuning by `probe`: its weights (`scratch`: the random
    initialisation of seed `seed`), LoRA adapters or every weight trainable, gradient
    checkpointing where asked."""
    kind = probe["finetune"]
    settings = {**model, "random_init": seed} if kind == "scratch" else model
    embedder = load_embedder(name, settings, path, device)
    inner = unwrapped(embedder)
    inner.trainable = True
    if kind == "lora":
        torch.manual_seed(seed)  # the adapters' initialisation is part of the replicate
        inner.lora_targets = add_lora(inner.backbone, name, model, probe)
    else:
        for parameter in inner.backbone.parameters():
            parameter.requires_grad_(True)
    if probe.get("gradient_checkpointing"):
        if not getattr(inner.model, "supports_gradient_checkpointing", False):
            raise ModelError(
                f"model {name!r}: its code does not support gradient checkpointing; set "
                "the probe's gradient_checkpointing: false (or a smaller batch_size)."
            )
        inner.model.gradient_checkpointing_enable({"use_reentrant": False})
    return embedder


def build(
    embedder: Embedder, probe: dict, representation: str, n_tokens: int, n_out: int, seed: int
) -> FineTuned:
    """The model and its head, the head initialised by `seed`."""
    torch.manual_seed(seed)
    shape = (
        (n_tokens, embedder.hidden_size) if representation == TOKENS else (embedder.hidden_size,)
    )
    head = build_probe(probe, shape, n_out)
    return FineTuned(embedder, head, representation, n_tokens).to(embedder.device)


def parameter_counts(model: FineTuned) -> dict[str, int]:
    """Trainable and total parameters, of the model and its head together."""
    parameters = list(model.parameters())
    return {
        "trainable_parameters": sum(p.numel() for p in parameters if p.requires_grad),
        "total_parameters": sum(p.numel() for p in parameters),
    }


def save_finetuned(model: FineTuned, probe: dict, n_out: int, path: str | Path) -> None:
    """What the run trained (LoRA: the adapters; full, scratch: every weight of the model) and
    its head, written atomically; `load_finetuned` rebuilds the model from it."""
    record = {
        "probe": probe,
        "representation": model.representation,
        "n_tokens": model.n_tokens,
        "n_out": n_out,
        "backbone": {k: v.cpu() for k, v in trained_state(model.backbone).items()},
        "head": {k: v.cpu() for k, v in model.head.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(record, tmp)


def load_finetuned(
    path: str | Path, name: str, model: dict, model_path: str | None, seed: int, device="cpu"
) -> FineTuned:
    """The fine-tuned model saved at `path` by `save_finetuned` (from model `name`'s checkpoint
    at `model_path`, the run's `seed`), in eval mode."""
    saved = torch.load(path, map_location="cpu", weights_only=False)
    embedder = load_model(name, model, model_path, saved["probe"], seed, device)
    finetuned = build(
        embedder, saved["probe"], saved["representation"], saved["n_tokens"], saved["n_out"], 0
    )
    missing = set(trained_state(finetuned.backbone)) - set(saved["backbone"])
    if missing:
        raise ModelError(f"{path}: the saved model lacks {sorted(missing)[:5]}; train it again.")
    finetuned.backbone.load_state_dict(saved["backbone"], strict=False)
    finetuned.head.load_state_dict(saved["head"])
    return finetuned.eval()


def peak_memory(device: torch.device) -> dict:
    """The run's peak memory: the GPU's allocated bytes, or this process's resident set."""
    if device.type == "cuda":
        return {"bytes": torch.cuda.max_memory_allocated(device), "of": "GPU (allocated)"}
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"bytes": kib * 1024, "of": "process (resident set, every run of the job so far)"}


def finetune_run(
    labels: Labels,
    sequences: dict[str, Sequences],
    embedder: Embedder,
    probe: dict,
    representation: str,
    run: Run,
    keys: dict,
    device: str = "cpu",
    fraction_sampling: str = "per_seed",
    fraction_splits: tuple[str, ...] = ("train", "valid"),
) -> None:
    """Fine-tune one run of `embedder` (as `load_model` prepared it for the run's seed) and
    write its artifacts into `run.out_dir`. A killed run resumes after its last complete epoch
    (`CHECKPOINT`); out of memory, it halves its micro-batch (the batch size, over which
    gradients accumulate, stays) and resumes there."""
    out_dir = Path(run.out_dir)
    x, y = training_rows(
        labels, sequences, run.train_fraction, run.seed, fraction_sampling, fraction_splits
    )
    task = labels.task
    n_tokens = max(s.longest for s in sequences.values())
    config = TrainConfig(**{k: probe[k] for k in TrainConfig.__dataclass_fields__})
    micro = config.batch_size
    checkpoint = out_dir / CHECKPOINT
    torch_device = torch.device(device)
    finetuned = build(embedder, probe, representation, n_tokens, len(task["targets"]), run.seed)
    if torch_device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(torch_device)
    while True:
        timings: list[float] = []
        try:  # the checkpoint (epoch 0 before the first) restores what a failed try trained
            history = fit(
                finetuned,
                loss_name(task, probe),
                (x["train"], y["train"]),
                (x["valid"], y["valid"]),
                config,
                run.seed,
                device,
                checkpoint=checkpoint,
                micro_batch=micro,
                timings=timings,
            )
            break
        except torch.OutOfMemoryError:
            if micro <= 2:
                raise torch.OutOfMemoryError(
                    f"model {embedder.name!r}: out of GPU memory with micro-batches of 2 "
                    "sequences; set the probe's gradient_checkpointing: true, use LoRA, or a "
                    "larger GPU."
                ) from None
            finetuned.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            micro //= 2
            print(f"out of memory: retrying with micro-batches of {micro}", file=sys.stderr)
    out = predict(finetuned, x["test"], micro, device)
    if loss_name(task, probe) == "bce":
        out = 1 / (1 + np.exp(-out))
    save_finetuned(finetuned, probe, len(task["targets"]), out_dir / "model.pt")
    record = {
        "kind": probe["finetune"],
        **parameter_counts(finetuned),
        "batch_size": config.batch_size,
        "micro_batch": micro,
        "seconds_per_epoch": float(np.median(timings)) if timings else None,
        "peak_memory": peak_memory(torch_device),
        "device": str(torch_device),
    }
    if probe["finetune"] == "lora":
        record["lora"] = {
            **LORA_DEFAULTS,
            **probe.get("lora", {}),
            "target_modules": unwrapped(embedder).lora_targets,
        }
    fields = {"width": probe.get("width", 1.0), "seed": run.seed, "n_train": len(y["train"])}
    write_probe_results(
        task,
        labels.frames["test"],
        y["test"],
        out,
        history,
        out_dir,
        {**keys, **fields, "train_fraction": run.train_fraction},
        {"finetune": record},
    )
    checkpoint.unlink(missing_ok=True)


def run_finetune_group(
    task_dir: str | Path,
    name: str,
    model: dict,
    model_path: str | None,
    probe: dict,
    representation: str,
    runs: list[Run],
    record: str | Path,
    context: dict,
    device: str = "cpu",
    fraction_sampling: str = "per_seed",
    fraction_splits: tuple[str, ...] = ("train", "valid"),
) -> None:
    """Fine-tune every run of one job (seeds and train fractions of one probe on one model and
    task), tokenizing the task once, and write `record` last. A killed job resumes: finished
    runs are kept, an unfinished one resumes after its last complete epoch."""
    record = Path(record)
    labels = load_labels(task_dir, probe, representation)
    if labels.columns != ("sequence",):
        raise ProbeInputError(
            f"task {labels.task['name']!r}: fine-tuning reads one sequence per row, and this "
            f"task has {labels.columns} (a splicing task); probe it with frozen representations."
        )
    snapshot = snapshot_record(model_path)
    settings = {
        "probe": probe,
        "model": model,
        "representation": representation,
        "context": context,
        "fraction_sampling": fraction_sampling,
        "fraction_splits": list(fraction_splits),
    }
    digest = job_fingerprint(settings, snapshot=snapshot)
    done = start_attempt(record, digest, runs)
    sequences = None  # tokenized once, by the first run's model
    layer = runs[0].layer
    keys = {**context, "layer": layer, "representation": representation}
    for count, run in enumerate(runs, 1):
        if run in done:
            continue
        started = time.perf_counter()
        embedder = load_model(name, model, model_path, probe, run.seed, device)
        if sequences is None:
            frames = labels.frames
            sequences = {s: encode(embedder, frames[s]["sequence"].tolist()) for s in SPLITS}
        finetune_run(
            labels,
            sequences,
            embedder,
            probe,
            representation,
            run,
            keys,
            device,
            fraction_sampling,
            fraction_splits,
        )
        print(
            f"run {count} of {len(runs)}: fraction {run.train_fraction:g}, seed {run.seed} "
            f"({time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
        )
    # what the runs were computed with, as a probe job's record names its embeddings' model
    made = {"model": name, "snapshot": snapshot, "device": device_name(device)}
    finish_attempt(record, digest, runs, {"embeddings": made})
