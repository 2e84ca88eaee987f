"""The HTML report's landing page (workflow/report/workflow.rst) rendered as Snakemake renders
it (Jinja, then docutils), without a workflow run: the leaderboard first, the figures this run
made, a short configuration hash."""

import pickle
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from conftest import REPO
from docutils.core import publish_parts
from jinja2 import Environment

from glmeval.leaderboard import to_markdown
from glmeval.report import Landing, leaderboard_html

BOARD = pd.DataFrame(
    {
        "task": "mpra",
        "metric": "pearson",
        "target": "activity",
        "train_fraction": 1.0,
        "model": ["good", "onehot"],
        "probe": "cnn",
        "representation": "emb",
        "layer": [3, 0],
        "width": 1.0,
        "n_replicates": 1,
        "mean": [0.9, 0.7],
        "ci_low": [0.88, 0.68],
        "ci_high": [0.92, 0.72],
        "ci_method": "test rows",
        "baseline_model": "onehot",
        "baseline_probe": "cnn",
        "diff": [0.2, float("nan")],
        "diff_ci_low": [0.1, float("nan")],
        "diff_ci_high": [0.3, float("nan")],
        "test": "mannwhitney",
        "alternative": "two-sided",
        "p_value": float("nan"),
        "rank": [1.0, 2.0],
        "rank_low": [1.0, 2.0],
        "rank_high": [1.0, 2.0],
        "p_best": [1.0, 0.0],
        "training_overlap": "",
    }
)


def _landing(config: dict) -> str:
    """workflow.rst as `snakemake --report` renders it: HTML."""
    env = Environment(trim_blocks=True, lstrip_blocks=True)
    text = (REPO / "workflow" / "report" / "workflow.rst").read_text()
    rst = env.from_string(text).render(snakemake=SimpleNamespace(config=config))
    return publish_parts(rst, writer="html")["html_body"]


def test_leaderboard_markdown_becomes_html():
    html = leaderboard_html(to_markdown(BOARD) + "\n| a \\| b | `x` <0.001 |\n|---|---|\n")
    assert "<h1" not in html and "# Leaderboard" not in html and "\n" not in html
    assert "<h4>Stability</h4><ul><li>mpra (pearson): good ranks first in 100%" in html
    assert "<h4>mpra — pearson</h4><p>Target <code>activity</code>, train fraction 1" in html
    assert "<td>good</td><td>cnn (emb, L3)</td>" in html
    assert "<td>— (one seed: no test)</td>" in html and "<td>— (baseline)</td>" in html
    assert "<th>a | b</th><th><code>x</code> &lt;0.001</th>" in html


def test_landing_shows_the_leaderboard_first_and_only_the_figures_made(tmp_path):
    (tmp_path / "leaderboard.md").write_text(to_markdown(BOARD))
    (tmp_path / "made.png").write_bytes(b"png")
    (tmp_path / "provenance.csv").write_text(
        "section,key,value\n"
        f"glmeval,configuration sha256,{'ab' * 32}\n"
        "models,tiny_nt,built offline: tiny_nt\n"
    )
    landing = Landing(
        planned=(("made", str(tmp_path / "made.png")), ("fig2a_hepg2", "x.png")),
        leaderboard_md=str(tmp_path / "leaderboard.md"),
        provenance_csv=str(tmp_path / "provenance.csv"),
        leakage_csv=str(tmp_path / "leakage.csv"),
    )
    assert landing.figures == ["made"]
    html = _landing({"report_landing": landing})
    title = html.index("frozen genomic language model representations")
    board = html.index("ranks first in 100% of resamples")
    assert title < board < html.index("Provenance") and board < html.index("About this report")
    assert "This run made these figures:" in html and 'literal">made<' in html
    assert "fig2a_hepg2" not in html
    assert "abababababababab…" in html and "ab" * 32 not in html  # the full hash: provenance.csv
    assert "built offline: tiny_nt" in html
    assert "align-items: flex-start !important" in html  # the page reads from the top
    (tmp_path / "leaderboard.md").unlink()
    assert "Not written yet" in _landing({"report_landing": landing})


def test_landing_reads_nothing_until_the_report_is_built(tmp_path, monkeypatch):
    """The workflow builds the landing at parse time: nothing is read then, and it pickles
    (Snakemake hands the configuration to every script job)."""
    opened = []
    for method in ("exists", "read_text", "open"):
        monkeypatch.setattr(Path, method, lambda self, *a, **k: opened.append(self))
    landing = Landing(planned=(("fig3", str(tmp_path / "fig3.png")),))
    assert opened == [] and pickle.loads(pickle.dumps(landing)) == landing


def test_landing_before_anything_is_written(tmp_path):
    landing = Landing(
        planned=(("fig3", str(tmp_path / "fig3.png")),),
        leaderboard_md=str(tmp_path / "absent.md"),
        provenance_csv=str(tmp_path / "absent.csv"),
        leakage_csv=str(tmp_path / "absent_leakage.csv"),
    )
    assert (landing.leaderboard, landing.figures, landing.provenance, landing.leakage) == (
        "",
        [],
        [],
        [],
    )
    html = _landing({"report_landing": landing})
    assert "This run made none yet" in html and "Not written yet" in html
