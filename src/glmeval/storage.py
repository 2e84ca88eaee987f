"""Sizes of token states, and the disk budget that bounds them (`storage.max_tokens_gb`).

One layer's token states of a task are (sequences × tokens × hidden size) float16 numbers per
sequence column. The planner counts them from the configuration alone, before any data exist:
the task's `size` (or a synthetic task's own), and the model's card (`hidden_size`,
`bases_per_token` or `tokens_per_sequence`; docs/models.md, Model cards). Where it has to
guess it guesses high (a token per base, two special tokens), so the count is an upper bound.

Without a budget every probed token layer is written with the pooled states, once, and kept
(the default). With one, the pooled states keep their extraction job, and the token layers are
written by further forward passes in parts (`TokenPart`), each part a temporary output deleted
once the probes that read it have finished; the parts run in waves whose token states fit the
budget together, and a wave's extraction waits for the previous wave's probes. Token layers
an embedding-gradient map reads stay with the pooled states (kept, and counted against the
budget), as do a `features` model's (they come from your file).
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass

from glmeval import cards, paths
from glmeval.data import synthetic
from glmeval.models.families import FAMILIES, kmer_width
from glmeval.plan import model_settings
from glmeval.vocabulary import TOKENS

#: The sequence length (bases, per sequence) of each archive dataset and of splicing's halves.
SOURCE_LENGTHS = {
    "lentimpra": 230,
    "chip": 200,
    "eclip": 200,
    "eclip_multitask": 1000,
    "insert_seq": 173,
    "splicing": 400,
}
GB = 1e9
#: bytes of one stored number (float16)
STORED_BYTES = 2
#: special tokens assumed where the tokenizer is unknown (CLS and SEP)
SPECIAL_TOKENS = 2


class BudgetError(ValueError):
    """`storage.max_tokens_gb` cannot hold what must be on disk at once, or cannot be planned
    (a size unknown); the message names the task, the model and the fix."""


def sequence_length(task: dict) -> int | None:
    """The length of a task's sequences where the configuration fixes it (synthetic tasks, the
    paper's datasets); None for a user's table."""
    source = task["source"]
    if "synthetic" in source:
        maker = getattr(synthetic, source["synthetic"])
        return source.get("length", inspect.signature(maker).parameters["length"].default)
    dataset = source.get("archive", "splicing" if "splicing" in source else None)
    return SOURCE_LENGTHS.get(dataset)


@dataclass(frozen=True)
class TaskSize:
    sequences: int  # over the three splits
    length: int  # bases per sequence (per column)
    columns: int  # sequence columns (splicing: left and right)


def task_size(config: dict, task: str) -> TaskSize | None:
    """A task's size from its `size` key, or a synthetic task's source; None where unknown."""
    entry = config["tasks"][task]
    source = entry["source"]
    columns = 2 if "splicing" in source else 1
    size = entry.get("size", {})
    length = size.get("length", sequence_length(entry))
    if "synthetic" in source:
        sequences = sum(source[f"n_{split}"] for split in ("train", "valid", "test"))
        return TaskSize(size.get("sequences", sequences), length, columns)
    if "sequences" not in size or length is None:
        return None
    return TaskSize(size["sequences"], length, columns)


def token_shape(config: dict, model: str, length: int) -> tuple[int, int] | None:
    """(tokens per sequence, hidden size) of `model`'s token states of `length`-base sequences,
    from its card (an upper bound where the tokenizer is unknown: a token per base); None where
    the card has no hidden size."""
    settings = model_settings(config, model)
    family = FAMILIES[settings["family"]]
    if family.name == "onehot":
        return length, 4 ** settings.get("k", 1)
    if family.name == "kmer":  # pooled spectra only: no token states are ever written
        return length, kmer_width(settings["k"], settings.get("canonical", False))
    card = cards.model_card(config, model)
    if "hidden_size" not in card:
        return None
    if "tokens_per_sequence" in card:
        return card["tokens_per_sequence"], card["hidden_size"]
    per_token = card.get("bases_per_token", family.bases_per_token or 1)
    # whole k-mers, the remainder as single bases (NT), and the special tokens
    tokens = length // per_token + length % per_token + SPECIAL_TOKENS
    return math.ceil(tokens), card["hidden_size"]


def layer_bytes(config: dict, model: str, task: str) -> int | None:
    """Bytes of one layer's token states of `model` over every split of `task` (an upper bound);
    None where the task's size or the model's hidden size is unknown."""
    size = task_size(config, task)
    shape = size and token_shape(config, model, size.length)
    if not shape:
        return None
    tokens, hidden = shape
    return size.sequences * size.columns * tokens * hidden * STORED_BYTES


@dataclass(frozen=True)
class TokenPart:
    """Token layers of one model on one task written by one forward pass: a temporary output,
    in `wave` (a wave's parts fit the budget together)."""

    model: str
    task: str
    index: int
    layers: tuple[int, ...]
    wave: int
    layer_bytes: int

    def path(self, split: str) -> str:
        return paths.TOKEN_STATES.format(
            model=self.model, task=self.task, part=self.index, split=split
        )

    @property
    def bytes(self) -> int:
        return self.layer_bytes * len(self.layers)


@dataclass(frozen=True)
class TokenStorage:
    """Where each probed token layer is written: `kept` ({(model, task): layers} with the
    pooled states, never deleted) and `parts` (temporary, in waves); `budget` in bytes, None
    without one (every token layer kept); `layer_bytes` {(model, task): bytes of one layer}
    (None where unknown, possible only without a budget)."""

    kept: dict[tuple[str, str], tuple[int, ...]]
    parts: tuple[TokenPart, ...]
    budget: float | None
    layer_bytes: dict[tuple[str, str], int | None]

    @property
    def kept_bytes(self) -> int:
        """Bytes of the token layers kept (those of a known size)."""
        return sum((self.layer_bytes[key] or 0) * len(layers) for key, layers in self.kept.items())

    @property
    def peak_bytes(self) -> int:
        """The most token bytes on disk at once, by the planner's count."""
        waves: dict[int, int] = {}
        for part in self.parts:
            waves[part.wave] = waves.get(part.wave, 0) + part.bytes
        return self.kept_bytes + max(waves.values(), default=0)

    def part_of(self, model: str, task: str, layer: int) -> TokenPart | None:
        """The part that holds a layer (None: the layer is kept, or not probed on tokens)."""
        return self._parts_by_layer.get((model, task, layer))

    @functools.cached_property
    def _parts_by_layer(self) -> dict[tuple[str, str, int], TokenPart]:
        return {(p.model, p.task, layer): p for p in self.parts for layer in p.layers}


def format_gb(n: float) -> str:
    return f"{n / GB:,.3f} GB" if n < 10 * GB else f"{n / GB:,.1f} GB"


def _at_least(n: float) -> str:
    """`n` bytes in GB, rounded up to what a budget must be."""
    return f"{math.ceil(n / GB * 1000) / 1000:g}"


def token_storage(config: dict, probe_jobs, attribution_jobs) -> TokenStorage:
    """Where the token layers `probe_jobs` read are written (module docstring). Raises a
    BudgetError where a budget cannot hold what must be on disk at once."""
    layers: dict[tuple[str, str], set[int]] = {}
    for j in probe_jobs:
        if j.representation == TOKENS:
            layers.setdefault((j.model, j.task), set()).add(j.layer)
    sizes = {key: layer_bytes(config, *key) for key in layers}
    budget_gb = config.get("storage", {}).get("max_tokens_gb")
    if budget_gb is None:
        kept = {key: tuple(sorted(v)) for key, v in layers.items()}
        return TokenStorage(kept, (), None, sizes)
    budget = budget_gb * GB
    unknown = [key for key, size in sizes.items() if size is None]
    if unknown:
        model, task = unknown[0]
        raise BudgetError(
            f"storage.max_tokens_gb needs the size of every token layer; model {model!r} on "
            f"task {task!r} has none: give tasks.{task}.size.sequences (and size.length where "
            f"the source does not fix it; task.json after `snakemake data` has both) and "
            f"models.{model}.card.hidden_size."
        )
    # read by embedding-gradient maps, or read from a features file: with the pooled states
    pinned = {
        (j.job.model, j.task, j.job.layer)
        for j in attribution_jobs
        if j.job is not None
        and "embedding_gradient" in j.methods
        and j.job.representation == TOKENS
    }
    kept, free = {}, {}
    for (model, task), chosen in layers.items():
        from_file = FAMILIES[model_settings(config, model)["family"]].loader == "features"
        for layer in sorted(chosen):
            home = kept if from_file or (model, task, layer) in pinned else free
            home.setdefault((model, task), []).append(layer)
    kept = {key: tuple(v) for key, v in kept.items()}
    storage = TokenStorage(kept, (), budget, sizes)
    if storage.kept_bytes > budget:
        raise BudgetError(
            f"storage.max_tokens_gb is {budget_gb:g}, and the token layers kept with the "
            f"pooled states (read by embedding-gradient maps or from a features file) take "
            f"{format_gb(storage.kept_bytes)}: {sorted(kept)}. Raise storage.max_tokens_gb to at "
            f"least {_at_least(storage.kept_bytes)}, or drop those maps."
        )
    room = budget - storage.kept_bytes
    parts: list[TokenPart] = []
    wave, used = 0, 0.0
    for (model, task), free_layers in free.items():
        size = sizes[model, task]
        if size > room:
            raise BudgetError(
                f"storage.max_tokens_gb is {budget_gb:g}: one token layer of model {model!r} on "
                f"task {task!r} takes {format_gb(size)}"
                + (f" beside {format_gb(storage.kept_bytes)} kept" if storage.kept_bytes else "")
                + f". Raise storage.max_tokens_gb to at least "
                f"{_at_least(size + storage.kept_bytes)}, or probe that model's pooled "
                "states only on that task (its token-level probes off)."
            )
        index, pending = 0, list(free_layers)
        while pending:
            fit = int((room - used) // size)
            if fit == 0:
                wave, used = wave + 1, 0.0
                continue
            chosen, pending = pending[:fit], pending[fit:]
            parts.append(TokenPart(model, task, index, tuple(chosen), wave, size))
            index, used = index + 1, used + size * len(chosen)
    return TokenStorage(kept, tuple(parts), budget, sizes)
