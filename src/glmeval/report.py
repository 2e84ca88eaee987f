"""Tidy result tables: per task, all tasks in `probe_metrics.csv`, and the replicate summary and
baseline comparisons (`glmeval.stats`) in `probe_summary.csv` / `probe_comparisons.csv`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from glmeval import stats
from glmeval.cards import mark_overlaps
from glmeval.io import read_json, write_csv
from glmeval.plan import ProbeJob

COLUMNS = [
    "task",
    "target",
    "model",
    "layer",
    "representation",
    "probe",
    "width",
    "seed",
    "train_fraction",
    "metric",
    "value",
    "n_train",
    "n_test",
]


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """`frame` as a Markdown pipe table: floats to `digits` decimals, missing values as –."""

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "–"
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def collect_metrics(metric_files: Iterable[str | Path]) -> pd.DataFrame:
    """The tidy rows of every probe's `metrics.json`, in a stable order."""
    rows = [row for path in metric_files for row in read_json(path)["rows"]]
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(COLUMNS[:9] + ["metric"], kind="stable").reset_index(drop=True)


def write_task_table(metric_files: Iterable[str | Path], out_path: str | Path) -> None:
    write_csv(collect_metrics(metric_files), out_path)


def write_combined_table(task_tables: Iterable[str | Path], out_path: str | Path) -> None:
    write_csv(pd.concat([pd.read_csv(path) for path in task_tables], ignore_index=True), out_path)


def predictions_loader(root: str | Path = "."):
    """`load(key)`: the predictions of the run that a stats key (run keys + seed) names, read
    from its directory under `root`."""

    def load(key: dict) -> pd.DataFrame:
        job = ProbeJob(
            key["task"],
            key["model"],
            key["representation"],
            int(key["layer"]),
            key["probe"],
            float(key["train_fraction"]),
            int(key["seed"]),
        )
        return pd.read_parquet(Path(root) / job.predictions_path)

    return load


def write_probe_stats(
    metrics_path: str | Path,
    baselines: dict[str, dict],
    summary_path: str | Path,
    comparisons_path: str | Path,
    n_boot: int = 1000,
    root: str | Path = ".",
    overlaps: dict[str, dict[str, str]] | None = None,
) -> None:
    """Replicate summaries and comparisons with each task's baseline (`glmeval.plan.baselines`),
    reading each run's predictions from its directory under `root`; each row marked with why its
    model is not zero-shot / frozen-only on the task (`glmeval.cards.task_overlaps`), if so."""
    table = pd.read_csv(metrics_path)
    load_predictions = predictions_loader(root)
    summary = stats.summarize(table, load_predictions, n_boot)
    comparisons = stats.compare(table, baselines, load_predictions, n_boot)
    write_csv(mark_overlaps(summary, overlaps or {}), summary_path)
    write_csv(mark_overlaps(comparisons, overlaps or {}), comparisons_path)


def leakage_landing(path: str | Path = "results/tables/leakage.csv") -> list[dict]:
    """The report's leakage mark: one {task, shared} per task whose splits share copies (the
    leakage table at `path`, pairs after any resplit; docs/semantics.md, Leakage), [] when
    there is none or the table is not written yet."""
    from glmeval.data.leakage import leakage_marks

    if not Path(path).exists():
        return []
    marks = leakage_marks(pd.read_csv(path))
    return [{"task": task, "shared": shared} for task, shared in marks.items()]


# --------------------------------------------------------------------------- the report's landing


def _inline_html(text: str) -> str:
    """Markdown's `code` spans as <code>, everything else escaped."""
    import html
    import re

    parts = re.split(r"`([^`]*)`", text)
    return "".join(
        f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts)
    )


def _cells(line: str) -> list[str]:
    import re

    cells = re.split(r"(?<!\\)\|", line.strip().removeprefix("|").removesuffix("|"))
    return [c.strip().replace("\\|", "|") for c in cells]


def leaderboard_html(markdown: str) -> str:
    """The leaderboard's Markdown (`glmeval.leaderboard.to_markdown`: headings, paragraphs,
    bullet lists, pipe tables, `code`) as HTML on one line, for the report's landing page (an
    rst `raw` block); its `# Leaderboard` title is left to the page."""
    out, paragraph, items, table = [], [], [], []

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{_inline_html(' '.join(paragraph))}</p>")
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in items) + "</ul>")
        if table:
            head, *rows = [_cells(r) for r in table if not set(r) <= set("|-: ")]
            cells = "".join(f"<th>{_inline_html(c)}</th>" for c in head)
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>"
                for row in rows
            )
            out.append(f'<table class="leaderboard"><tr>{cells}</tr>{body}</table>')
        paragraph.clear(), items.clear(), table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            if paragraph or items:
                flush()
            table.append(line)
        elif line.startswith("- "):
            if paragraph or table:
                flush()
            items.append(line[2:])
        elif line.startswith("#"):
            flush()
            level, title = len(line) - len(line.lstrip("#")), line.lstrip("#").strip()
            if level > 1:
                out.append(f"<h4>{_inline_html(title)}</h4>")
        elif line.strip():
            if items or table:
                flush()
            paragraph.append(line.strip())
        else:
            flush()
    flush()
    return "".join(out)


def report_landing(
    leaderboard_md: str | Path = "results/tables/leaderboard.md",
    figures: Iterable[tuple[str, str | Path]] = (),
) -> dict:
    """What the report's landing page (workflow/report/workflow.rst) shows besides the
    configuration: `leaderboard`, the leaderboard as HTML ('' before it is written), and
    `figures`, the names of the figures this run made (of `figures`: (name, PNG path) pairs,
    those whose PNG exists), which its introduction cites."""
    path = Path(leaderboard_md)
    return {
        "leaderboard": leaderboard_html(path.read_text()) if path.exists() else "",
        "figures": [name for name, png in figures if Path(png).exists()],
    }
