"""One style for every figure: readable names for models and probes, one colour per model in
every figure (from the configuration's model order), a marker per kind of representation, and
atomic PNG + PDF output."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from zlib import crc32

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from glmeval.cards import MARK, NOT_FROZEN, finetune_kind, representation_kind
from glmeval.figures.plan import METRIC_LABELS
from glmeval.io import atomic_path
from glmeval.vocabulary import strand_view

plt.rcParams.update(
    {
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
        "pdf.fonttype": 42,  # editable text in the vector PDF
        "svg.fonttype": "none",
    }
)

#: Kinds of representation, in the order the lollipops (Fig. 2b) group them, and their markers:
#: a model keeps its own colour (`Labels.color`) in every figure, its kind is the marker's shape.
GROUP_MARKERS = {
    "language model": "o",
    "control": "X",
    "supervised": "^",
    "one-hot": "s",
    "k-mer": "D",
    "fine-tuned": "P",  # a language model trained under a probe's head (docs/finetuning.md)
}
PROBE_TYPE_LABELS = {
    "ridge": "Ridge",
    "ols": "OLS",
    "logistic": "Logistic",
    "rep_mlp": "MLP",
    "rep_cnn": "CNN",
    "chip_cnn": "CNN",
    "splice_cnn": "CNN",
    "insert_cnn": "CNN",
    "resnet": "ResidualBind",
    "mprann": "MPRAnn",
}
REPRESENTATION_LABELS = {"cls": "CLS", "mean": "Mean", "tokens": ""}
_PALETTE = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors


@dataclass(frozen=True)
class Labels:
    """How a figure names and colours the configuration's models and probes."""

    models: Mapping[str, str] = field(default_factory=dict)  # name -> label
    groups: Mapping[str, str] = field(default_factory=dict)  # name -> GROUP_MARKERS key
    probe_types: Mapping[str, str] = field(default_factory=dict)  # probe name -> type
    #: fine-tuning probes -> their kind (LoRA-CNN, ...), their label in every figure
    tuned: Mapping[str, str] = field(default_factory=dict)
    order: tuple[str, ...] = ()  # models in configuration order (stable colours)
    #: {task or variants: {model: why it is not zero-shot / frozen-only there}}
    overlaps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    note: str = ""  # the footnote explaining the marked models

    @classmethod
    def from_config(cls, config: dict) -> Labels:
        models = config.get("models", {})
        return cls(
            models={n: m.get("label", n) for n, m in models.items()},
            groups={n: representation_kind(m) for n, m in models.items()},
            probe_types={n: p["type"] for n, p in config.get("probes", {}).items()},
            tuned={
                n: finetune_kind(p) for n, p in config.get("probes", {}).items() if "finetune" in p
            },
            order=tuple(models),
            overlaps=config.get("overlaps", {}),
        )

    def marked(self, datasets: Iterable[str]) -> Labels:
        """These labels for a figure of `datasets` (tasks or variants sets): a model whose
        training data overlap one of them is marked (glmeval.cards), and `note` says why."""
        why = {}
        for dataset in datasets:
            for model, reason in self.overlaps.get(dataset, {}).items():
                why.setdefault(model, []).append(f"{dataset}: {reason}")
        if not why:
            return self
        models = {**self.models}
        for model in why:
            models[model] = f"{self.model(model)} {MARK}"
        lines = [f"{MARK} {NOT_FROZEN} —"]
        lines += [f"{self.model(m)}: {'; '.join(reasons)}" for m, reasons in why.items()]
        return replace(self, models=models, note="\n".join(lines))

    def model(self, name: str) -> str:
        return self.models.get(name, name)

    def group(self, name: str) -> str:
        return self.groups.get(name, "language model")

    def color(self, name: str):
        """The model's colour, the same in every figure of the configuration: the palette in
        the configuration's model order (a model it does not name: by a hash of its name)."""
        index = self.order.index(name) if name in self.order else crc32(name.encode())
        return _PALETTE[index % len(_PALETTE)]

    def marker(self, name: str) -> str:
        return GROUP_MARKERS.get(self.group(name), "o")

    def probe(self, probe: str, representation: str) -> str:
        """The paper's probe names: Mean-Ridge, CLS-MLP, CNN; one strand's: Mean-Ridge
        (forward); a fine-tuning probe's kind: LoRA-CNN."""
        if probe in self.tuned:
            return self.tuned[probe]
        kind = PROBE_TYPE_LABELS.get(self.probe_types.get(probe, probe), probe)
        base, strand = strand_view(representation)
        rep = REPRESENTATION_LABELS.get(base, base)
        label = f"{rep}-{kind}" if rep else kind
        return f"{label} ({strand})" if strand else label


def metric_label(metric: str) -> str:
    return f"test {METRIC_LABELS.get(metric, metric)}"


def save_figure(fig, paths: Iterable[str | Path], **savefig) -> None:
    """Write `fig` to each path (its format from the suffix), atomically; then close it."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=150, **savefig)
    plt.close(fig)
