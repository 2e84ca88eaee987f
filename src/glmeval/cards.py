"""Model cards, and which models' training data overlap a task.

A model's card is its configured `card` (parameters, context length, hidden size, licence,
pre-training corpus, the functional tracks it was trained on) over its family's defaults: a
supervised family (Sei) knows the assays it was trained on, and the workflow's own RBP model was
trained on the assays of its training task. A task (or variants set) says which assays its data
come from (`assays`).

A model trained on functional tracks is *supervised*: on a task whose assays it was trained on
— or a task that declares none, where no overlap can be ruled out — it is neither zero-shot nor
frozen-only, and every table and figure says so (`training_overlap`) instead of ranking it
silently beside the self-supervised models.

A local checkpoint (`source.path`) fills the card's blanks from its own files: `hidden_size`
from its config.json, `parameters` from the tensor shapes in its safetensors headers (no weight
is read), and a checkpoint whose `architectures` name a task head (e.g.
`MixtralForSequenceClassification`) is a fine-tuned model, not a self-supervised one.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

CARD_FIELDS = (
    "parameters",
    "context_bases",
    "hidden_size",
    "licence",
    "corpus",
    "trained_on",
    "url",
)
#: What a supervised family was trained on, where the family fixes it.
FAMILY_CARDS = {
    "sei": {
        "parameters": 73_500_000,  # its trunk (the checkpoint's tensors)
        "context_bases": 4096,
        "hidden_size": 16,  # its spline_tr output: 960 positions x 16 coefficients
        "tokens_per_sequence": 960,
        "corpus": "hg38 sequences with 21,907 chromatin profiles (Cistrome, ENCODE, Roadmap)",
        "trained_on": ["ChIP-seq", "DNase-seq", "ATAC-seq", "histone ChIP-seq"],
        "url": "https://doi.org/10.1038/s41588-022-01102-2",
    },
    "rbp": {"hidden_size": 192},
    "kmer": {
        "parameters": 0,
        "corpus": "none (k-mer counts)",
        "trained_on": [],
    },  # layers[-10]: input_length // 10 positions x 192
    "enformer": {
        "parameters": 251_221_292,
        "context_bases": 196_608,
        "hidden_size": 3072,
        "licence": "Apache-2.0",
        "corpus": "human and mouse genomes with 6,956 ENCODE/FANTOM5 tracks",
        "trained_on": ["ChIP-seq", "DNase-seq", "ATAC-seq", "CAGE", "histone ChIP-seq"],
        "url": "https://doi.org/10.1038/s41592-021-01252-x",
    },
    "borzoi": {
        "parameters": 185_892_699,
        "context_bases": 524_288,
        "hidden_size": 1920,
        "licence": "Apache-2.0",
        "corpus": "human and mouse genomes with ENCODE, GTEx and FANTOM5 tracks",
        "trained_on": ["RNA-seq", "CAGE", "DNase-seq", "ATAC-seq", "ChIP-seq", "histone ChIP-seq"],
        "url": "https://doi.org/10.1038/s41588-024-02053-6",
    },
}
#: `architectures` of a checkpoint fine-tuned with a task head (transformers' class names).
TASK_HEAD = re.compile(r"For(Sequence|Token|MultipleChoice|QuestionAnswering)\w*$|Classif|Regress")
_WIDTH_KEYS = ("hidden_size", "d_model", "n_embd", "dim")
#: The mark of an overlapping model in figures, explained in their footnote.
MARK = "†"
#: The kind of representation each family gives (the figures' markers, the leaderboard's column);
#: a transformers family, or one not listed, is a language model.
FAMILY_KINDS = {
    "onehot": "one-hot",
    "kmer": "k-mer",
    "random_init": "control",
    "sei": "supervised",
    "enformer": "supervised",
    "borzoi": "supervised",
    "rbp": "supervised",
    "supervised": "supervised",
}


#: A fine-tuning probe's kind in the leaderboard: how it trains, then its head (LoRA-CNN).
FINETUNE_LABELS = {"lora": "LoRA", "full": "Full-FT", "scratch": "Scratch"}


def finetune_kind(probe: dict) -> str:
    """A fine-tuning probe's kind: LoRA-CNN, Full-FT-MLP, Scratch-CNN, ..."""
    head = "MLP" if probe["type"] == "rep_mlp" else "CNN"
    return f"{FINETUNE_LABELS[probe['finetune']]}-{head}"


def representation_kind(model: dict) -> str:
    """language model, control, supervised, one-hot or k-mer: the kind of representation a
    configured model gives (a `features` model: supervised where it says so)."""
    if model.get("supervised"):
        return "supervised"
    return FAMILY_KINDS.get(model["family"], "language model")


NOT_FROZEN = "not zero-shot / not frozen-only"


def checkpoint_card(path: str | Path) -> dict:
    """What a local checkpoint's own files say: `hidden_size` (config.json), `parameters` (the
    tensor shapes in its `*.safetensors` headers; no weight is read) and `fine_tuned`: the
    task-head class its config.json's `architectures` names, if any. {} where `path` is not a
    directory with a readable config.json."""
    path = Path(path)
    try:
        checkpoint = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    card = {}
    width = next((checkpoint[k] for k in _WIDTH_KEYS if isinstance(checkpoint.get(k), int)), None)
    if width is not None:
        card["hidden_size"] = width
    shards = sorted(path.glob("*.safetensors"))
    if shards:
        from safetensors import SafetensorError, safe_open

        try:
            total = 0
            for shard in shards:
                with safe_open(str(shard), framework="numpy") as f:
                    total += sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
            card["parameters"] = total
        except (OSError, SafetensorError):  # a damaged file: loading the model names it
            card.pop("parameters", None)
    heads = [a for a in checkpoint.get("architectures") or [] if TASK_HEAD.search(str(a))]
    if heads:
        card["fine_tuned"] = heads[0]
    return card


def model_card(config: dict, name: str) -> dict:
    """Model `name`'s card: its family's defaults, what a local checkpoint's files say
    (`checkpoint_card`), its own `card`, and for a model the workflow trains (`source.train`),
    the assays of its training task."""
    model = config["models"][name]
    family = model["family"]
    if family == "random_init":  # the base model's architecture, none of its training
        card = {
            **model_card(config, model["of"]),
            "trained_on": [],
            "corpus": "none (random weights)",
        }
        card.pop("fine_tuned", None)
        return card
    source = model.get("source", {})
    local = {}  # a local checkpoint (not a file inside a download, nor features read by id)
    if (
        source.get("path")
        and "download" not in source
        and family not in ("onehot", "features", "kmer")
    ):
        local = checkpoint_card(source["path"])
    card = {**FAMILY_CARDS.get(family, {}), **local, **model.get("card", {})}
    train = model.get("source", {}).get("train")
    if train is not None:  # its training task's assays (or the task, where it declares none)
        assays = config["tasks"][train["task"]].get("assays") or [f"task {train['task']}"]
        card["trained_on"] = sorted({*card.get("trained_on", []), *assays})
        card.setdefault("corpus", f"this workflow's task {train['task']}")
        if family == "rbp":  # its pooled positions (glmeval.models.rbp.POOL)
            card.setdefault("tokens_per_sequence", train.get("input_length", 1000) // 10)
    return card


def overlap(config: dict, model: str, assays: list[str] | None, task: str | None = None) -> str:
    """Why `model` is not zero-shot / frozen-only on data from `assays` (None: undeclared), or
    '' where it was trained on no functional tracks or on none of those assays."""
    train = config["models"][model].get("source", {}).get("train", {})
    if task is not None and train.get("task") == task:
        return "trained on this task's data"
    trained = model_card(config, model).get("trained_on", [])
    if not trained:
        return ""
    if assays is None:
        return f"trained on {', '.join(trained)}; the data's assays are not declared"
    shared = [a for a in assays if a.lower() in {t.lower() for t in trained}]
    return f"trained on {', '.join(shared)}" if shared else ""


def task_overlaps(config: dict) -> dict[str, dict[str, str]]:
    """{task: {model: why it is not zero-shot / frozen-only there}} for every task's models
    (variants sets too, by their `assays`), only where there is an overlap."""
    sets = [(name, task, task["models"]) for name, task in config["tasks"].items()]
    for name, variants in config.get("variants", {}).items():
        models = [*variants.get("zeroshot", {}).get("models", [])]
        for transfer in variants.get("transfer", []):  # the activity task's models
            models += config["tasks"][transfer["task"]]["models"]
        sets.append((name, variants, models))
    found = {}
    for name, entry, models in sets:
        notes = {m: overlap(config, m, entry.get("assays"), name) for m in dict.fromkeys(models)}
        if any(notes.values()):
            found[name] = {m: note for m, note in notes.items() if note}
    return found


def card_table(config: dict) -> pd.DataFrame:
    """One row per configured model: label, family and its card."""
    rows = []
    for name, model in config["models"].items():
        card = model_card(config, name)
        trained = card.get("trained_on", [])
        rows.append(
            {
                "model": name,
                "label": model.get("label", name),
                "family": model["family"],
                **{key: card.get(key) for key in CARD_FIELDS if key != "trained_on"},
                "trained_on": "; ".join(trained),
                "training": _training(model["family"], trained, card.get("fine_tuned")),
            }
        )
    return pd.DataFrame(rows)


def _training(family: str, trained_on: list[str], fine_tuned: str | None = None) -> str:
    if trained_on:
        return "supervised (functional tracks)"
    if family in ("onehot", "kmer", "random_init"):
        return "none"
    return f"fine-tuned ({fine_tuned})" if fine_tuned else "self-supervised"


def mark_overlaps(table: pd.DataFrame, overlaps: dict[str, dict[str, str]]) -> pd.DataFrame:
    """`table` (with task and model columns) with `training_overlap`: why the row's model is
    not zero-shot / frozen-only on its task, or ''."""
    notes = [overlaps.get(t, {}).get(m, "") for t, m in zip(table["task"], table["model"])]
    return table.assign(training_overlap=notes)
