"""The HTML report's landing page (workflow/report/workflow.rst) rendered as Snakemake renders
it (Jinja, then docutils), without a workflow run: the leaderboard first, the figures this run
made, a short configuration hash."""

from types import SimpleNamespace

import pandas as pd
from conftest import REPO
from docutils.core import publish_parts
from jinja2 import Environment

from glmeval.leaderboard import to_markdown
from glmeval.report import leaderboard_html, report_landing

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
    landing = report_landing(
        tmp_path / "leaderboard.md", [("made", tmp_path / "made.png"), ("fig2a_hepg2", "x.png")]
    )
    assert landing["figures"] == ["made"]
    config = {
        "report_landing": {
            **landing,
            "provenance": [
                {"section": "glmeval", "key": "configuration sha256", "value": "ab" * 32},
                {"section": "models", "key": "tiny_nt", "value": "built offline: tiny_nt"},
            ],
            "skipped": [],
            "leakage": [],
        }
    }
    html = _landing(config)
    title = html.index("frozen genomic language model representations")
    board = html.index("ranks first in 100% of resamples")
    assert title < board < html.index("Provenance") and board < html.index("About this report")
    assert "This run made these figures:" in html and 'literal">made<' in html
    assert "fig2a_hepg2" not in html
    assert "abababababababab…" in html and "ab" * 32 not in html  # the full hash: provenance.csv
    assert "built offline: tiny_nt" in html
    assert "align-items: flex-start !important" in html  # the page reads from the top
    empty = _landing({"report_landing": {**config["report_landing"], "leaderboard": ""}})
    assert "Not written yet" in empty


def test_landing_before_anything_is_written(tmp_path):
    landing = report_landing(tmp_path / "absent.md", [("fig3", tmp_path / "fig3.png")])
    assert landing == {"leaderboard": "", "figures": []}
    config = {"report_landing": {**landing, "provenance": [], "skipped": [], "leakage": []}}
    html = _landing(config)
    assert "This run made none yet" in html and "Not written yet" in html
