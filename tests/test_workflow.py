"""The workflow as users run it: lint, format, the paper's DAG, a bad config, the demo end to end."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def snakemake(*args, cwd=REPO, timeout=1800):
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), *args]
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_lint_passes():
    result = snakemake("--lint", "--configfile", "config/demo.yaml")
    assert result.returncode == 0, result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_rules_are_snakefmt_formatted():
    result = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "."], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_paper_config_builds_the_whole_dag(tmp_path):
    result = snakemake("-n", "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    for rule in ("prepare_task", "resolve_model", "extract_embeddings", "train_probes",
                 "task_table", "probe_metrics", "figure", "leaderboard", "paper_comparison",
                 "provenance", "prepare_variant_windows", "zeroshot_scores", "transfer_effects",
                 "attribution_maps", "attribution_gia"):
        assert rule in out


def test_bad_config_stops_before_any_job(tmp_path):
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["tasks"]["motif_activity"]["probes"].append("cnn_typo")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--cores", "1", "--configfile", str(tmp_path / "bad.yaml"),
                       "--directory", str(tmp_path))
    assert result.returncode != 0
    assert "tasks.motif_activity.probes: 'cnn_typo' is not defined" in result.stderr
    assert "defined probes: ['logistic', 'rep_cnn', 'rep_cnn_binary', 'rep_mlp', 'ridge']" in result.stderr
    assert not (tmp_path / "resources").exists() and not (tmp_path / "results").exists()


def test_rbp_model_is_trained_then_embedded(tmp_path):
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["models"]["rbp"] = {"family": "rbp", "source": {"train": {"task": "motif_grammar"}}}
    config["tasks"]["motif_grammar"]["models"].append("rbp")
    (tmp_path / "rbp.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--configfile", str(tmp_path / "rbp.yaml"), "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "output: results/supervised_models/rbp" in result.stdout
    # its extraction (the task's three splits) reads the trained model
    splits = ", ".join(f"resources/data/motif_grammar/{s}.parquet" for s in ("train", "valid", "test"))
    assert (f"input: {splits}, resources/data/motif_grammar/task.json, "
            "results/supervised_models/rbp") in result.stdout


def test_a_random_init_control_embeds_from_its_base_model_s_snapshot(tmp_path):
    """Its weights differ from the base's (tests/test_families.py); its files are the base's."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["models"]["random_tiny_nt"] = {"family": "random_init", "of": "tiny_nt", "seed": 7}
    config["tasks"]["motif_activity"]["models"].append("random_tiny_nt")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--configfile", str(tmp_path / "c.yaml"), "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = result.stdout.split("\nrule ")
    extract = [j for j in jobs if j.startswith("extract_embeddings") and "model=random_tiny_nt" in j]
    assert len(extract) == 1 and "resources/models/tiny_nt" in extract[0]  # one job, 3 splits
    assert "resources/models/random_tiny_nt" not in result.stdout


def test_demo_table_has_every_configured_row(workflow_run, workflow_config):
    from glmeval.config import load_config
    from glmeval.plan import probe_jobs

    config = load_config(workflow_config, REPO / "config" / "schema.yaml")
    table = pd.read_csv(workflow_run / "results" / "tables" / "probe_metrics.csv")
    got = set(zip(table["task"], table["model"], table["representation"], table["layer"],
                  table["probe"], table["seed"]))
    want = {(j.task, j.model, j.representation, j.layer, j.probe, j.seed) for j in probe_jobs(config)}
    assert got == want
    assert table.groupby(["task", "model", "representation", "layer", "probe", "seed"]).size().eq(2).all()


def test_demo_onehot_cnn_learns_the_planted_answer(workflow_run):
    table = pd.read_csv(workflow_run / "results" / "tables" / "probe_metrics.csv")
    onehot = table[(table["model"] == "onehot") & table["probe"].str.startswith("rep_cnn")]
    cnn = onehot.set_index(["task", "metric"])["value"]
    assert cnn["motif_activity", "pearson"] > 0.5
    assert cnn["motif_grammar", "auroc"] > 0.8
    composition = table[(table["model"] == "onehot") & (table["probe"] == "logistic")]
    assert composition.set_index("metric")["value"]["auroc"] < 0.6  # composition cannot see grammar


def test_demo_outputs(workflow_run, workflow_config):
    for task in ("motif_activity", "motif_grammar"):
        for ext in ("png", "pdf"):
            assert (workflow_run / "results" / "figures" / f"{task}_probes.{ext}").stat().st_size > 1000
        meta = yaml.safe_load((workflow_run / "results" / "embeddings" / "tiny_nt" / task / "test" / "meta.json").read_text())
        # token matrices of the layers token-level probes read: the last (conftest)
        assert meta["dtype"] == "float16" and meta["token_layers"] == [2]
        assert np.load(workflow_run / "results/embeddings/tiny_nt" / task / "test/pooled.npy",
                       mmap_mode="r").shape[1] == 3  # every layer pooled
        assert meta["snapshot"]["builder"] == "tiny_nt" and meta["random_init"] is None
        assert meta["settings"] == {"family": "masked_lm"}  # what changes the arrays
    # replicate summaries and comparisons with the one-hot baseline, one row per configuration
    tables = workflow_run / "results" / "tables"
    summary = pd.read_csv(tables / "probe_summary.csv")
    metrics = pd.read_csv(tables / "probe_metrics.csv")
    assert len(summary) == len(metrics) and (summary["ci_method"] == "test_rows").all()
    assert (summary["ci_low"] <= summary["mean"]).all() and (summary["mean"] <= summary["ci_high"]).all()
    comparisons = pd.read_csv(tables / "probe_comparisons.csv")
    grammar = comparisons[(comparisons["task"] == "motif_grammar") & (comparisons["metric"] == "auroc")]
    assert set(grammar["baseline_probe"]) == {"rep_cnn_binary"} and len(grammar) == len(
        summary[(summary["task"] == "motif_grammar") & (summary["metric"] == "auroc")]) - 1
    composition = grammar[(grammar["model"] == "onehot") & (grammar["probe"] == "logistic")].iloc[0]
    assert composition["paired_diff"] < 0 and composition["paired_p"] < 0.01
    # nothing is left half-written and a rerun has nothing to do
    assert not list(workflow_run.rglob(".*.tmp-*"))
    again = snakemake("-n", "--configfile", str(workflow_config), "--directory", str(workflow_run))
    assert "Nothing to be done" in again.stdout + again.stderr


def test_data_from_a_download_then_offline(tmp_path, shared):
    """`snakemake data` fetches a checksum-pinned archive from a (loopback) server, unpacks it
    and prepares a table task from files inside it; offline, the same config runs from
    resources/downloads/ alone, and an absent download is a clear error."""
    import hashlib
    import http.server
    import threading
    import zipfile

    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "gue.zip", "w") as archive:
        for name in ("train.csv", "dev.csv", "test.csv"):
            archive.write(shared / "data" / "gue_tf" / "1" / name, f"tf1/{name}")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    inside = {s: {"download": "gue", "path": f"tf1/{f}.csv"}
              for s, f in (("train", "train"), ("valid", "dev"), ("test", "test"))}
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["downloads"] = {"gue": {
        "url": f"http://127.0.0.1:{server.server_port}/gue.zip",
        "sha256": hashlib.sha256((served / "gue.zip").read_bytes()).hexdigest()}}
    config["tasks"] = {"gue_tf1": {"kind": "binary", "targets": ["label"],
                                   "source": {"files": inside}}}
    config.pop("attribution")  # it explains the demo's tasks
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    work = tmp_path / "work"
    try:
        result = snakemake("--cores", "1", "data", "--configfile", str(tmp_path / "c.yaml"),
                           "--directory", str(work))
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    meta = yaml.safe_load((work / "resources" / "data" / "gue_tf1" / "task.json").read_text())
    assert meta["n"] == {"train": 30672, "valid": 1000, "test": 1000}
    assert (work / "resources" / "downloads" / "gue" / "download.json").exists()

    config["offline"] = True
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    shutil.rmtree(work / "resources" / "data")
    result = snakemake("--cores", "1", "data", "--configfile", str(tmp_path / "c.yaml"),
                       "--directory", str(work))
    assert result.returncode == 0, result.stderr[-3000:]
    shutil.rmtree(work / "resources")
    result = snakemake("--cores", "1", "data", "--configfile", str(tmp_path / "c.yaml"),
                       "--directory", str(work), "--show-failed-logs")
    assert result.returncode != 0 and "snakemake download" in result.stdout + result.stderr


def test_features_from_a_file_are_probed_like_a_model(workflow_run):
    """conftest's motif_counts (family features): a Parquet of planted-motif counts, by id."""
    table = pd.read_csv(workflow_run / "results" / "tables" / "probe_metrics.csv")
    mine = table[table["model"] == "motif_counts"]
    assert set(zip(mine["probe"], mine["representation"])) == {("ridge", "mean"), ("rep_mlp", "mean")}
    pearson = table[(table["metric"] == "pearson") & (table["probe"] == "ridge")].set_index("model")
    assert pearson.loc["motif_counts", "value"] > 0.5 > pearson.loc["onehot", "value"]
    meta = json.loads((workflow_run / "results/embeddings/motif_counts/motif_activity/test/meta.json").read_text())
    assert meta["hidden_size"] == 6 and meta["n_layers"] == 0 and len(meta["features_sha256"]) == 64
    board = pd.read_csv(workflow_run / "results" / "tables" / "leaderboard.csv")
    assert "motif_counts" in set(board["model"])
    assert not list((workflow_run / "results" / "transfer").glob("*/*/motif_counts"))  # no windows


def test_both_strands_plan_each_strand_s_pooled_probes(tmp_path):
    """strands: both (tests/test_strands.py for the arrays; benchmarks/strands.py for what it
    does to the real Mistral-DNA): each strand's pooled probes beside the averaged ones."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["models"]["tiny_mistral"]["strands"] = "both"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--configfile", str(tmp_path / "c.yaml"), "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    # each probe job's record: a neural probe's on layer 2, a linear probe's over every layer
    record = r"results/probes/(\w+)/tiny_mistral/(\w+)/(?:L2/)?(\w+)(?:/runs|\.runs)\.json"
    planned = set(re.findall(record, result.stdout))
    for task, probe in (("motif_activity", "ridge"), ("motif_grammar", "logistic")):
        assert {rep for t, rep, p in planned if (t, p) == (task, probe)} == {
            "mean", "mean_forward", "mean_reverse"
        }
    assert {rep for _, rep, p in planned if p.startswith("rep_cnn")} == {"tokens"}


def test_model_cards_say_which_models_are_supervised(workflow_run, shared):
    tables = workflow_run / "results" / "tables"
    cards = pd.read_csv(tables / "model_cards.csv").set_index("model")
    assert cards.loc["sei", "training"] == "supervised (functional tracks)"
    assert cards.loc["tiny_nt", "training"] == "self-supervised"
    assert cards.loc["onehot", "training"] == "none"
    overlaps = pd.read_csv(tables / "training_overlap.csv")
    # Sei scores variants whose assays the configuration does not declare: marked
    assert overlaps[["task", "model"]].values.tolist() == [["sei_variants", "sei"]]
    assert "not declared" in overlaps["training_overlap"].iloc[0]
    summary = pd.read_csv(tables / "probe_summary.csv", keep_default_na=False)
    assert (summary["training_overlap"] == "").all()  # the demo's probes: none supervised
