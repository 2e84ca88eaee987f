"""One style for every figure: readable names for models and probes, a colour per model kept
across figures, the paper's colour per kind of representation, and atomic PNG + PDF output."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zlib import crc32

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from glmeval.figures.plan import METRIC_LABELS
from glmeval.io import atomic_path

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

#: Kinds of representation and their colours, as in the paper's lollipops (Fig. 2b): language
#: models blue, supervised models green, one-hot orange; controls grey.
GROUP_COLORS = {
    "language model": "#1f77b4",
    "control": "#7f7f7f",
    "supervised": "#2ca02c",
    "one-hot": "#ff7f0e",
}
FAMILY_GROUPS = {
    "onehot": "one-hot",
    "random_init": "control",
    "sei": "supervised",
    "rbp": "supervised",
    "supervised": "supervised",
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
    groups: Mapping[str, str] = field(default_factory=dict)  # name -> GROUP_COLORS key
    probe_types: Mapping[str, str] = field(default_factory=dict)  # probe name -> type
    order: tuple[str, ...] = ()  # models in configuration order (stable colours)

    @classmethod
    def from_config(cls, config: dict) -> Labels:
        models = config.get("models", {})
        return cls(
            models={n: m.get("label", n) for n, m in models.items()},
            groups={n: FAMILY_GROUPS.get(m["family"], "language model") for n, m in models.items()},
            probe_types={n: p["type"] for n, p in config.get("probes", {}).items()},
            order=tuple(models),
        )

    def model(self, name: str) -> str:
        return self.models.get(name, name)

    def group(self, name: str) -> str:
        return self.groups.get(name, "language model")

    def color(self, name: str):
        index = self.order.index(name) if name in self.order else crc32(name.encode())
        return _PALETTE[index % len(_PALETTE)]

    def probe(self, probe: str, representation: str) -> str:
        """The paper's probe names: Mean-Ridge, CLS-MLP, CNN."""
        kind = PROBE_TYPE_LABELS.get(self.probe_types.get(probe, probe), probe)
        rep = REPRESENTATION_LABELS.get(representation, representation)
        return f"{rep}-{kind}" if rep else kind


def metric_label(metric: str) -> str:
    return f"test {METRIC_LABELS.get(metric, metric)}"


def save_figure(fig, paths: Iterable[str | Path], **savefig) -> None:
    """Write `fig` to each path (its format from the suffix), atomically; then close it."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), dpi=150, **savefig)
    plt.close(fig)
