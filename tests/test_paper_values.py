"""resources/paper/reported.csv: the paper's numbers keyed by config/config.yaml's names, and
their comparison with our summary table (glmeval.paper_values)."""

from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from glmeval.config import load_config
from glmeval.paper_values import (
    COMPARISON_COLUMNS,
    REQUIRED_COLUMNS,
    agreement,
    paper_comparison,
    read_reported,
    to_markdown,
)
from glmeval.plan import probe_jobs, transfer_jobs
from glmeval.tables import SUMMARY_COLUMNS

REPO = Path(__file__).resolve().parents[1]
REPORTED = REPO / "resources" / "paper" / "reported.csv"
CONFIG = REPO / "config" / "config.yaml"
GLOB = set("*?[")


@pytest.fixture(scope="module")
def reported() -> pd.DataFrame:
    if not REPORTED.is_file():
        pytest.skip(f"{REPORTED} is absent")
    return read_reported(REPORTED)


@pytest.fixture(scope="module")
def config() -> dict:
    with CONFIG.open() as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def jobs():
    full = load_config(CONFIG, REPO / "config" / "schema.yaml")
    jobs = probe_jobs(full)
    return jobs, transfer_jobs(full, jobs)


def _tasks(config: dict, pattern: str) -> list[str]:
    names = list(config["tasks"]) + list(config.get("variants", {}))
    return [t for t in names if fnmatchcase(t, pattern)]


def test_reported_names_exist_in_config(reported, config):
    assert len(reported) > 0
    for row in reported.itertuples():
        assert _tasks(config, row.task), f"task {row.task!r} is not in {CONFIG}"
        assert row.model in config["models"], f"model {row.model!r} is not in {CONFIG}"
        if isinstance(row.probe, str):
            assert row.probe in config["probes"], f"probe {row.probe!r} is not in {CONFIG}"
        if isinstance(row.representation, str):
            assert row.representation in config["representations"]


def test_reported_rows_are_configured_runs(reported, config, jobs):
    """Every probe row is a run the config makes (task, model, probe, representation, layer,
    fraction); every glob row's configured tasks run it; Table 1 rows are the variants
    dataset's zero-shot models or transfer probes."""
    probe_runs, transfers = jobs
    runs = {
        (j.task, j.model, j.probe, j.representation, j.layer, j.train_fraction) for j in probe_runs
    }
    transfer_runs = {
        (t.variants, t.job.model, t.job.probe, t.job.representation, t.job.layer) for t in transfers
    }
    for row in reported.itertuples():
        if row.task in config.get("variants", {}):
            if isinstance(row.probe, str):
                key = (row.task, row.model, row.probe, row.representation, int(row.layer))
                assert key in transfer_runs, key
            else:
                assert row.model in config["variants"][row.task]["zeroshot"]["models"]
                assert isinstance(row.score, str), row
            continue
        tasks = [
            t for t in _tasks(config, row.task) if row.model in config["tasks"][t].get("models", [])
        ]
        assert tasks, row
        for task in tasks:
            key = (task, row.model, row.probe, row.representation, int(row.layer))
            assert key + (row.train_fraction,) in runs, key


def test_reported_values_and_keys(reported):
    scores = reported["metric"].isin(["auroc", "aupr", "pearson", "spearman"])
    assert scores.all()
    # every probe result the paper reports is a positive correlation or an AUROC; the CAGI5
    # zero-shot correlations of the language models are near zero, of either sign
    cagi = reported["task"] == "cagi5"
    assert reported.loc[~cagi, "value"].between(0, 1).all()
    assert reported.loc[cagi, "value"].between(-1, 1).all()
    assert reported.loc[reported["metric"] == "auroc", "value"].between(0.5, 1).all()
    keys = ["panel", *[c for c in REQUIRED_COLUMNS if c not in ("panel", "value", "source")]]
    keys += ["statistic", "score"]
    assert not reported.duplicated(keys).any()
    assert reported["source"].notna().all()
    # the variant-effect table records neither a probe's width nor a train fraction
    assert reported.loc[cagi, ["width", "train_fraction"]].isna().all().all()
    panels = reported.groupby("panel").size()
    assert panels["supp_layers"] == 2 * 32 * 7  # NT_layer_prob_{HepG2,K562}.csv
    assert panels["fig2b"] == 18  # 9 models x 2 cell types


def _summary(rows: list[dict]) -> pd.DataFrame:
    base = {
        "target": "activity",
        "representation": "tokens",
        "width": 1.0,
        "train_fraction": 1.0,
        "metric": "pearson",
        "n_replicates": 1,
        "std": np.nan,
        "ci_method": "test_rows",
    }
    out = []
    for row in rows:
        row = {**base, **row}
        row.setdefault("median", row["mean"])
        row.setdefault("ci_low", row["mean"] - 0.01)
        row.setdefault("ci_high", row["mean"] + 0.01)
        out.append(row)
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def _reported(rows: list[dict]) -> pd.DataFrame:
    base = {c: np.nan for c in REQUIRED_COLUMNS}
    base |= {"panel": "p", "metric": "pearson", "source": "test", "statistic": "mean"}
    return pd.DataFrame([{**base, "score": np.nan, **row} for row in rows])


def test_paper_comparison_matches_and_leaves_missing():
    summary = _summary(
        [
            {"task": "t", "model": "nt", "probe": "cnn", "layer": 31, "mean": 0.40},
            {"task": "t", "model": "nt", "probe": "cnn", "layer": 32, "mean": 0.50},
            {
                "task": "t",
                "model": "gpn",
                "probe": "cnn",
                "layer": 25,
                "mean": 0.60,
                "train_fraction": 0.5,
            },
            {"task": "t", "model": "gpn", "probe": "cnn", "layer": 25, "mean": 0.65},
            {"task": "s", "model": "gpn", "probe": "cnn", "layer": 25, "target": "a", "mean": 0.1},
            {
                "task": "s",
                "model": "gpn",
                "probe": "cnn",
                "layer": 25,
                "target": "_mean",
                "mean": 0.2,
                "median": 0.25,
            },
            {"task": "c_1", "model": "gpn", "probe": "cnn", "layer": 25, "mean": 0.8},
            {"task": "c_2", "model": "gpn", "probe": "cnn", "layer": 25, "mean": 0.9},
            {"task": "c_1", "model": "nt", "probe": "cnn", "layer": 32, "mean": 0.7},
            {
                "task": "t",
                "model": "gpn",
                "probe": "mlp",
                "representation": "mean",
                "layer": 25,
                "mean": 0.3,
            },
        ]
    )
    reported = _reported(
        [
            {"task": "t", "model": "nt", "probe": "cnn", "layer": 31, "value": 0.45},
            {"task": "t", "model": "nt", "probe": "cnn", "value": 0.45},  # last layer
            {"task": "t", "model": "gpn", "probe": "cnn", "value": 0.6},  # largest fraction
            {"task": "t", "model": "gpn", "probe": "cnn", "train_fraction": 0.5, "value": 0.6},
            {"task": "s", "model": "gpn", "probe": "cnn", "value": 0.2},  # headline target
            {"task": "s", "model": "gpn", "probe": "cnn", "statistic": "median", "value": 0.2},
            {"task": "c_*", "model": "gpn", "probe": "cnn", "value": 0.8},
            {"task": "c_*", "model": "nt", "probe": "cnn", "value": 0.8},  # c_2 lacks it
            {"task": "t", "model": "hyenadna", "probe": "cnn", "value": 0.5},  # absent
            {"task": "t", "model": "gpn", "value": 0.5},  # two probes fit
        ]
    )
    out = paper_comparison(summary, reported)
    assert list(out.columns) == COMPARISON_COLUMNS
    assert len(out) == len(reported)
    expected = [0.40, 0.50, 0.65, 0.60, 0.2, 0.25, 0.85, np.nan, np.nan, np.nan]
    np.testing.assert_allclose(out["ours"], expected)
    np.testing.assert_allclose(out["difference"], out["ours"] - out["paper"])
    np.testing.assert_allclose(out.loc[0, ["ours_ci_low", "ours_ci_high"]], [0.39, 0.41])
    assert np.isnan(out.loc[6, "ours_ci_low"])  # a cross-task mean has no CI
    assert list(out["match"]) == [
        "matched",
        "matched",
        "matched",
        "matched",
        "matched",
        "matched",
        "mean of 2 tasks",
        "missing: 1 of 2 tasks",
        "missing",
        "ambiguous: 2 rows",
    ]
    table = to_markdown(out)
    lines = table.strip().splitlines()
    assert len(lines) == 2 + len(out)
    assert lines[0].startswith("| panel | task |")
    assert "| 0.400 |" in lines[2]
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_paper_comparison_table1_from_variants():
    long = pd.DataFrame(
        [
            {
                "training": "zero-shot",
                "dataset": "cagi5",
                "model": "sei",
                "window": "4096",
                "score": "cosine_distance",
                "element": "HepG2",
                "pearson": 0.5,
                "pearson_lo": 0.4,
                "pearson_hi": 0.6,
                "spearman": 0.45,
            },
            {
                "training": "zero-shot",
                "dataset": "cagi5",
                "model": "sei",
                "window": "4096",
                "score": "l1",
                "element": "HepG2",
                "pearson": 0.52,
                "spearman": 0.45,
            },
            {
                "training": "transfer: lentimpra_k562",
                "dataset": "cagi5",
                "model": "sei/rep_cnn_1",
                "window": "230",
                "score": "tokens L0",
                "element": "K562",
                "pearson": 0.7,
                "spearman": 0.6,
            },
        ]
    )
    reported = _reported(
        [
            {
                "task": "cagi5",
                "model": "sei",
                "target": "HepG2",
                "score": "cosine_distance",
                "value": 0.545,
            },
            {
                "task": "cagi5",
                "model": "sei",
                "probe": "rep_cnn_1",
                "representation": "tokens",
                "layer": 0,
                "target": "K562",
                "value": 0.701,
            },
            {
                "task": "cagi5",
                "model": "sei",
                "target": "K562",
                "score": "cosine_distance",
                "value": 0.641,
            },
        ]
    )
    out = paper_comparison(_summary([]), reported, variants=long)
    np.testing.assert_allclose(out["ours"], [0.5, 0.7, np.nan])
    np.testing.assert_allclose(out.loc[0, ["ours_ci_low", "ours_ci_high"]], [0.4, 0.6])


def test_reported_compares_against_an_empty_summary(reported):
    out = paper_comparison(_summary([]), reported)
    assert len(out) == len(reported)
    assert out["ours"].isna().all()
    assert (out["paper"] == reported["value"]).all()


def test_read_reported_names_the_file_and_column(tmp_path):
    bad = tmp_path / "reported.csv"
    columns = [c for c in REQUIRED_COLUMNS if c != "metric"]
    bad.write_text(",".join(columns) + "\n" + ",".join("x" for _ in columns) + "\n")
    with pytest.raises(ValueError, match=r"reported\.csv: missing column\(s\) metric"):
        read_reported(bad)
    bad.write_text("")
    with pytest.raises(ValueError, match=r"reported\.csv: empty file"):
        read_reported(bad)
    row = {c: "" for c in REQUIRED_COLUMNS} | {"task": "t", "model": "m", "metric": "pearson"}
    bad.write_text(pd.DataFrame([row | {"value": "high"}]).to_csv(index=False))
    with pytest.raises(ValueError, match=r"reported\.csv, line 2: column 'value'"):
        read_reported(bad)
    bad.write_text(pd.DataFrame([row | {"value": "0.5"}]).to_csv(index=False))
    good = read_reported(bad)
    assert good.loc[0, "statistic"] == "mean" and np.isnan(good.loc[0, "layer"])


def test_agreement_counts_the_paper_numbers_within_our_ci():
    comparison = pd.DataFrame(
        {
            "paper": [0.50, 0.60, 0.70, 0.80, 0.90],
            "ours": [0.52, 0.50, 0.70, np.nan, 0.95],
            "ours_ci_low": [0.45, 0.55, np.nan, np.nan, 0.93],
            "ours_ci_high": [0.55, 0.58, np.nan, np.nan, 0.97],
        }
    )
    comparison["difference"] = comparison["ours"] - comparison["paper"]
    # within: 0.50 in [0.45, 0.55]; not 0.60 in [0.55, 0.58], nor 0.90 in [0.93, 0.97];
    # |differences| 0.02, 0.10, 0.00, 0.05: median 0.035
    assert agreement(comparison) == (
        "1 of the 3 paper numbers we have a 95 % CI for fall within it; median |ours - paper| "
        "0.035 over the 4 of 5 numbers we have."
    )
    none = comparison.assign(ours=np.nan)
    assert agreement(none) == "None of the paper's 5 numbers has a run of ours to compare with."
