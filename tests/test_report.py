"""The figures, leaderboard and provenance of the shared workflow run (the demo's tasks), and its
HTML report built by `snakemake --report` and opened in headless Chromium."""

import subprocess
import sys
from pathlib import Path

import browser
import pandas as pd
import pytest
from conftest import REPO, SHARED

BIN = Path(sys.executable).parent


def test_every_figure_the_runs_allow_is_made_and_the_rest_say_why(workflow_run):
    index = pd.read_csv(workflow_run / "results" / "figures" / "index.csv")
    made = index[index["status"] == "made"]
    kinds = set(made["kind"])
    cagi5 = (SHARED / "data" / "cagi5").is_dir()  # Table 1 needs the real CAGI5 variants
    assert {"probes", "models", "layers", "attribution"} | ({"table1"} if cagi5 else set()) <= kinds
    for name in made["figure"]:
        for ext in ("png", "pdf", "csv"):
            assert (workflow_run / "results" / "figures" / f"{name}.{ext}").stat().st_size > 200
    skipped = index[index["status"] == "skipped"].set_index("figure")["caption_or_reason"]
    assert skipped["motif_activity_replicates"].startswith("one seed per configuration")
    assert skipped["motif_grammar_fractions"].startswith("one training-data fraction")
    if cagi5:
        assert "no CAGI5 effects" in skipped["sei_variants_table1"]
    log = (workflow_run / "logs" / "figure_index.log").read_text()
    assert "figure motif_grammar_targets (targets) skipped: a single target" in log


def test_leaderboard_numbers_are_the_summary_s(workflow_run):
    tables = workflow_run / "results" / "tables"
    board = pd.read_csv(tables / "leaderboard.csv")
    summary = pd.read_csv(tables / "probe_summary.csv")
    keys = ["task", "target", "model", "layer", "representation", "probe", "width", "metric"]
    joined = board.merge(summary, on=keys, suffixes=("", "_summary"))
    assert len(joined) == len(board) > 0
    for column in ("mean", "ci_low", "ci_high"):
        assert (joined[column] - joined[f"{column}_summary"]).abs().max() < 1e-12
    # each model's best configuration; a model fine-tuned (lora_cnn) enters apart, as LoRA-CNN
    tuned = {True: " (LoRA-CNN)", False: ""}
    summary["entry"] = summary["model"] + summary["probe"].eq("lora_cnn").map(tuned)
    board["entry"] = board["model"] + board["kind"].eq("LoRA-CNN").map(tuned)
    assert board["entry"].str.endswith("(LoRA-CNN)").any()
    best = summary.groupby(["task", "metric", "entry"])["mean"].max()
    assert (
        board.set_index(["task", "metric", "entry"])["mean"]
        == best[board.set_index(["task", "metric", "entry"]).index]
    ).all()
    grammar = board[(board["task"] == "motif_grammar") & (board["metric"] == "auroc")]
    assert grammar.sort_values("rank")["model"].iloc[0] == "onehot"  # the planted grammar
    assert (grammar["rank_low"] <= grammar["rank"]).all() and (
        grammar["rank"] <= grammar["rank_high"]
    ).all()
    assert "motif_grammar (auroc)" in (tables / "leaderboard.md").read_text()


def test_provenance_names_versions_checkpoints_and_devices(workflow_run):
    table = pd.read_csv(workflow_run / "results" / "tables" / "provenance.csv")
    values = {(s, k): v for s, k, v in table.itertuples(index=False)}
    assert len(values["glmeval", "configuration sha256"]) == 64
    assert values["packages", "torch"].startswith("2.")
    assert values["models", "tiny_nt"] == "built offline: tiny_nt"
    assert values["devices", "tiny_nt"] == "cpu"


@pytest.mark.skipif(browser.chromium_path() is None, reason="chromium is not installed")
def test_report_renders_in_a_browser_and_lists_every_figure(
    workflow_run, workflow_config, tmp_path
):
    report = tmp_path / "report.html"
    result = subprocess.run(
        [
            str(BIN / "snakemake"),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--configfile",
            str(workflow_config),
            "--directory",
            str(workflow_run),
            "all",
            "zeroshot",
            "--report",
            str(report),
        ],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = browser.render_report(report, tmp_path / "report.png")
    assert "frozen genomic language model representations against one-hot DNA" in page.landing
    assert "configuration sha256" in page.landing and "tiny_nt" in page.landing
    assert "motif_activity_replicates (replicates): one seed per configuration" in page.landing
    assert "paper numbers we have a 95 % CI for fall within it" in page.landing  # reproduction
    # the landing reads from the top: its title and the leaderboard's stability notes are on
    # the first screen (1400 × 1000 px, no scrolling)
    assert "frozen genomic language model representations against one-hot DNA" in (
        page.first_screen
    )
    assert "ranks first in" in page.first_screen and "Stability" in page.first_screen
    index = pd.read_csv(workflow_run / "results" / "figures" / "index.csv")
    made = set(index.loc[index["status"] == "made", "figure"])
    assert "fig2a_hepg2" not in made and "fig2a_hepg2" not in page.landing
    assert all(name in page.landing for name in made)  # the figures the run made, cited
    for name in index.loc[index["status"] == "made", "figure"]:
        assert f"{name}.png" in page.text, name
    for item in (
        "leaderboard.csv",
        "paper_comparison.csv",
        "provenance.csv",
        "probe_summary.csv",
        "logos.png",
    ):
        assert item in page.text
    assert "Leaderboard" in page.text and "Fig. 6: attribution" in page.text
    assert not browser.is_blank(tmp_path / "report.png")


def test_the_papers_numbers_stand_beside_the_runs(workflow_run):
    comparison = pd.read_csv(workflow_run / "results" / "tables" / "paper_comparison.csv")
    summary = pd.read_csv(workflow_run / "results" / "tables" / "probe_summary.csv")
    grammar = comparison[comparison["task"] == "motif_grammar"].iloc[0]
    ours = summary[
        (summary["task"] == "motif_grammar")
        & (summary["model"] == "onehot")
        & (summary["probe"] == "rep_cnn_binary")
        & (summary["metric"] == "auroc")
    ]
    assert grammar["match"] == "matched" and grammar["ours"] == ours["mean"].item()
    assert grammar["difference"] == pytest.approx(ours["mean"].item() - 0.97)
    never_run = comparison[comparison["model"] == "tiny_mistral"].iloc[0]
    assert never_run["match"] == "missing" and pd.isna(never_run["ours"])
    assert (
        "| no CLS token: never run |"
        in (workflow_run / "results" / "tables" / "paper_comparison.md").read_text()
    )
    # the reproduction at a glance: the matched number only, ours against the paper's
    plotted = pd.read_csv(workflow_run / "results" / "figures" / "reproduction.csv")
    assert list(plotted["task"]) == ["motif_grammar"] and plotted["paper"].item() == 0.97
    assert plotted["ours"].item() == ours["mean"].item()
