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


def test_landing_shows_the_reproduction_at_a_glance(tmp_path):
    """The paper comparison's one line (escaped: |ours - paper| is no reST substitution) and the
    reproduction figure inlined, under the leaderboard; nothing where neither is written."""
    line = (
        "3 of the 4 paper numbers we have a 95 % CI for fall within it; median |ours - paper| 0.020"
    )
    (tmp_path / "paper_comparison.md").write_text(f"{line}\n\n| panel |\n| --- |\n| fig2a |\n")
    (tmp_path / "reproduction.png").write_bytes(b"\x89PNG fake")
    (tmp_path / "leaderboard.md").write_text(to_markdown(BOARD))
    landing = Landing(
        planned=(("reproduction", str(tmp_path / "reproduction.png")),),
        leaderboard_md=str(tmp_path / "leaderboard.md"),
        provenance_csv=str(tmp_path / "absent.csv"),
        leakage_csv=str(tmp_path / "absent_leakage.csv"),
        paper_comparison_md=str(tmp_path / "paper_comparison.md"),
        reproduction_png=str(tmp_path / "reproduction.png"),
    )
    assert landing.agreement == line
    assert landing.reproduction.startswith('<img class="reproduction"')
    assert "data:image/png;base64,iVBORyBmYWtl" in landing.reproduction
    html = _landing({"report_landing": landing})
    assert "The paper&#x27;s numbers" in html or "The paper's numbers" in html
    assert "median |ours - paper| 0.020" in html and "data:image/png;base64," in html
    assert html.index("ranks first in") < html.index("median |ours") < html.index("About this")
    assert "plots them, ours against the paper" in html
    # a real figure's base64 runs over lines: docutils refuses a line over 10,000 characters
    (tmp_path / "reproduction.png").write_bytes(b"\x89PNG" + bytes(range(256)) * 200)
    html = _landing({"report_landing": landing})
    assert "data:image/png;base64," in html and "line-length-limit" not in html
    assert max(map(len, landing.reproduction.splitlines())) < 200
    (tmp_path / "reproduction.png").unlink()
    html = _landing({"report_landing": landing})
    assert "median |ours - paper|" in html and "data:image/png" not in html
    (tmp_path / "paper_comparison.md").unlink()
    assert landing.agreement == "" and "paper_comparison" not in _landing(
        {"report_landing": landing}
    )
