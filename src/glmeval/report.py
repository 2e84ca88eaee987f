"""The Snakemake report's landing page (workflow/report/workflow.rst): what it shows besides
the configuration (`Landing`, read when the report is built), the leakage mark
(`leakage_landing`) and the leaderboard as HTML (`leaderboard_html`). The results tables
themselves are built in `glmeval.tables` and `glmeval.stats`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from glmeval import paths
from glmeval.provenance import read_provenance


def leakage_landing(path: str | Path = paths.LEAKAGE_TABLE) -> list[dict]:
    """The report's leakage mark: one {task, shared} per task whose splits share copies (the
    leakage table at `path`, pairs after any resplit; docs/semantics.md, Leakage), [] when
    there is none or the table is not written yet."""
    from glmeval.data.leakage import leakage_marks

    if not Path(path).exists():
        return []
    marks = leakage_marks(pd.read_csv(path))
    return [{"task": task, "shared": shared} for task, shared in marks.items()]


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


@dataclass(frozen=True)
class Landing:
    """What the report's landing page (workflow/report/workflow.rst) shows besides the
    configuration. The workflow puts one in its configuration at parse time, holding only the
    plan; Snakemake renders the page when it builds the report, and only then does each
    attribute read the run's tables. `planned`: (name, PNG path) of each planned figure;
    `skipped`: each figure not made, with why (glmeval.figures.plan.Skipped as a dict);
    `reproduction_png`: the planned `reproduction` figure ('' where none is planned)."""

    planned: tuple[tuple[str, str], ...] = ()
    skipped: tuple[dict, ...] = ()
    leaderboard_md: str = paths.LEADERBOARD.format(ext="md")
    provenance_csv: str = paths.PROVENANCE
    leakage_csv: str = paths.LEAKAGE_TABLE
    paper_comparison_md: str = paths.PAPER_COMPARISON.format(ext="md")
    reproduction_png: str = ""

    @property
    def agreement(self) -> str:
        """The paper comparison's one line (glmeval.paper_values.agreement): how many of the
        paper's numbers fall within our 95 % CI, the median |ours - paper| ('' before it is
        written, or where the configuration has no paper_values)."""
        path = Path(self.paper_comparison_md)
        return path.read_text().split("\n", 1)[0].strip() if path.exists() else ""

    @property
    def reproduction(self) -> str:
        """The reproduction figure as an HTML <img> (its PNG inlined), '' before it is drawn.
        The base64 runs over lines of 76 characters (docutils refuses a line of over 10,000;
        a browser drops the line breaks of a URL); the page indents them into its raw block."""
        import base64
        import html

        path = Path(self.reproduction_png) if self.reproduction_png else None
        if path is None or not path.exists():
            return ""
        data = base64.encodebytes(path.read_bytes()).decode("ascii").strip()
        alt = html.escape(f"{path.name}: the paper's numbers against ours")
        return f'<img class="reproduction" alt="{alt}" src="data:image/png;base64,{data}">'

    @property
    def leaderboard(self) -> str:
        """The leaderboard as HTML ('' before it is written)."""
        path = Path(self.leaderboard_md)
        return leaderboard_html(path.read_text()) if path.exists() else ""

    @property
    def figures(self) -> list[str]:
        """The names of the planned figures this run made (whose PNG exists)."""
        return [name for name, png in self.planned if Path(png).exists()]

    @property
    def provenance(self) -> list[dict]:
        return read_provenance(self.provenance_csv)

    @property
    def leakage(self) -> list[dict]:
        return leakage_landing(self.leakage_csv)
