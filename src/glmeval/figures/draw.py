"""Draw one planned figure (`glmeval.figures.plan.FigureJob`) from its input tables: PNG,
vector PDF, and the plotted numbers as CSV."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from glmeval.figures import panels
from glmeval.figures.attribution import attribution
from glmeval.figures.reproduction import reproduction
from glmeval.figures.style import Labels, save_figure
from glmeval.figures.table1 import table1
from glmeval.io import write_csv


def draw(
    kind: str,
    spec: dict,
    inputs: Sequence[str | Path],
    outputs: Mapping[str, str | Path],
    labels: Labels,
    metric: str,
) -> None:
    """`inputs` as `glmeval.figures.plan.figure_inputs` lists them; `outputs`: png, pdf, csv.
    A model trained on the figure's data is marked, with a footnote (glmeval.cards)."""
    datasets = spec.get("tasks") or [spec[key] for key in ("task", "variants") if key in spec]
    labels = labels.marked(datasets)
    if kind == "reproduction":
        fig, source = reproduction(pd.read_csv(inputs[0]), spec, labels)
    elif kind == "table1":
        fig, source = table1(pd.read_csv(inputs[0]), spec, labels)
    elif kind == "attribution":
        tables = {Path(p).stem: pd.read_csv(p) for p in inputs}
        fig, source = attribution(tables, spec)
    else:
        fig, source = panels.TASK_FIGURES[kind](panels.Results.read(*inputs), spec, labels, metric)
    if labels.note:
        fig.text(0.01, 0, labels.note, fontsize=7, va="top", ha="left")
    write_csv(source, outputs["csv"])
    save_figure(fig, [outputs["png"], outputs["pdf"]], bbox_inches="tight")
