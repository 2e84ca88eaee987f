"""The kmer family (glmeval.models.kmer) and linear probes' alpha grid (glmeval.probes.linear):
spectra against a naive count, the artifact, configuration errors, the grid's choice, the
eigendecomposition ridge against sklearn, and a workflow run of both."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

from glmeval.config import ConfigError, validate_config
from glmeval.models.families import kmer_width
from glmeval.models.kmer import columns_of, feature_names, spectra, write_kmer
from glmeval.probes import linear
from glmeval.probes.inputs import load_features

COMPLEMENT = str.maketrans("ACGT", "TGCA")


def _random_sequences(n, seed=0, lengths=(1, 60)):
    rng = np.random.default_rng(seed)
    bases = np.array(list("ACGTN"))
    return [
        "".join(rng.choice(bases, p=[0.23, 0.23, 0.23, 0.23, 0.08], size=rng.integers(*lengths)))
        for _ in range(n)
    ]


def _naive(seq, k, canonical):
    counts = {}
    for i in range(len(seq) - k + 1):
        kmer = seq[i : i + k]
        if "N" in kmer:
            continue
        if canonical:
            kmer = min(kmer, kmer.translate(COMPLEMENT)[::-1])
        counts[kmer] = counts.get(kmer, 0) + 1
    return counts


@pytest.mark.parametrize("canonical", [False, True])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_counts_match_a_naive_count_with_n_skipped(k, canonical):
    seqs = _random_sequences(80, seed=k) + ["", "N" * 5, "ACG"[:k]]
    names = feature_names({"k": k, "canonical": canonical})
    got = spectra(seqs, k, canonical)
    assert got.shape == (len(seqs), len(names)) == (len(seqs), kmer_width(k, canonical))
    for row, seq in enumerate(seqs):
        counts = _naive(seq, k, canonical)
        assert set(counts) <= set(names)
        np.testing.assert_array_equal(got[row], [counts.get(n, 0) for n in names])


def test_canonical_columns_merge_reverse_complements_and_count_palindromes_once():
    names = feature_names({"k": 2, "canonical": True})
    assert len(names) == 10 == (16 + 4) // 2  # 4 palindromes: AT, CG, GC, TA
    assert names == ["AA", "AC", "AG", "AT", "CA", "CC", "CG", "GA", "GC", "TA"]
    row = spectra(["AATT", "ATAT", "ACGT"], 2, canonical=True)
    at = dict(zip(names, row[0]))
    assert at["AA"] == 2 and at["AT"] == 1  # AA + TT merged; AT its own reverse complement
    assert dict(zip(names, row[1]))["AT"] == 2 and dict(zip(names, row[1]))["TA"] == 1
    assert dict(zip(names, row[2])) == {**dict.fromkeys(names, 0), "AC": 2, "CG": 1}
    for k in range(1, 8):
        assert columns_of(k, True)[1] == kmer_width(k, True)


def test_frequency_divides_by_valid_kmers_and_several_k_concatenate_in_order():
    seqs = _random_sequences(30, seed=5, lengths=(0, 40))
    freq = spectra(seqs, [3, 1], scale="frequency")
    counts = np.hstack([spectra(seqs, 3), spectra(seqs, 1)])
    np.testing.assert_array_equal(spectra(seqs, [3, 1]), counts)
    for part in (slice(0, 64), slice(64, 68)):
        total = counts[:, part].sum(axis=1, keepdims=True)
        np.testing.assert_allclose(freq[:, part], counts[:, part] / np.maximum(total, 1))
        assert np.allclose(freq[:, part].sum(axis=1)[total[:, 0] > 0], 1)
    assert feature_names({"k": [3, 1]})[-4:] == ["A", "C", "G", "T"]


def test_blocks_of_rows_give_the_same_spectra(monkeypatch):
    from glmeval.models import kmer

    seqs = _random_sequences(50, seed=9)
    whole = spectra(seqs, [2, 4], canonical=True)
    monkeypatch.setattr(kmer, "BLOCK_CELLS", 300)  # a few rows per block
    np.testing.assert_array_equal(spectra(seqs, [2, 4], canonical=True), whole)


def test_the_artifact_loads_as_a_pooled_mean_and_records_the_features(tmp_path):
    seqs = _random_sequences(12, seed=3)
    model = {"family": "kmer", "k": [2, 3], "canonical": True, "scale": "frequency"}
    write_kmer("spectrum", model, seqs, tmp_path / "art", {"input_sha256": None})
    mean = load_features(tmp_path / "art", "mean", 0)
    expected = spectra(seqs, [2, 3], canonical=True, scale="frequency")
    np.testing.assert_allclose(mean, expected, atol=1e-3)
    assert mean.shape == (12, kmer_width([2, 3], canonical=True)) == (12, 10 + 32)
    with pytest.raises(ValueError, match="no 'cls' representation"):
        load_features(tmp_path / "art", "cls", 0)
    meta = json.loads((tmp_path / "art" / "meta.json").read_text())
    assert meta["k"] == [2, 3] and meta["canonical"] and meta["scale"] == "frequency"
    assert meta["feature_names"] == feature_names(model) and meta["token_layers"] == []
    assert meta["pooled_shape"] == [12, 1, 2, 42] and meta["n_layers"] == 0


def _config(**model):
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["models"]["spectrum"] = {"family": "kmer", "k": 3, **model}
    config["tasks"]["motif_activity"]["models"].append("spectrum")
    config["probes"]["rep_cnn"]["models"] = ["onehot", "tiny_nt", "tiny_mistral"]
    return config


def test_a_kmer_model_has_only_its_pooled_mean():
    from glmeval.plan import probe_jobs, transfer_jobs

    config = validate_config(_config())
    jobs = [j for j in probe_jobs(config) if j.model == "spectrum"]
    assert {(j.probe, j.representation, j.layer) for j in jobs} == {
        ("ridge", "mean", 0),
        ("rep_mlp", "mean", 0),
    }
    assert not [t for t in transfer_jobs(config, jobs) if t.job.model == "spectrum"]


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda c: c["models"]["spectrum"].update(k=8, max_memory_gb=1),
            (
                r"models.spectrum.k: k = 8 gives 65,536 columns, and the 8,000 sequences of task "
                r"'motif_activity' make a 2.1 GB pooled matrix, above models.spectrum.max_memory_gb "
                r"\(1\); use a smaller k, canonical: true, or raise max_memory_gb to at least 2.1"
            ),
        ),
        (lambda c: c["models"]["spectrum"].update(k=9), r"models.spectrum.k: 9 matches none"),
        (
            lambda c: c["probes"]["rep_cnn"].pop("models"),
            (
                r"tasks.motif_activity.probes: 'rep_cnn' is a token-level probe \(rep_cnn\), and "
                r"model 'spectrum' \(family kmer\) has only its pooled k-mer spectra"
            ),
        ),
        (
            lambda c: c["probes"]["ridge"].update(alpha=1.0, alphas=[0.1, 1.0]),
            r"probes.ridge: alpha \(1\) and alphas are given together",
        ),
        (
            lambda c: c["probes"]["rep_mlp"].update(alphas=[0.1, 1.0]),
            r"probes.rep_mlp.alphas: a grid of alphas applies only to ridge and logistic",
        ),
        (
            lambda c: c["models"]["onehot"].update(canonical=True),
            r"models.onehot.canonical applies only to the kmer family",
        ),
        (
            lambda c: c["models"]["onehot"].update(k=[1, 2]),
            r"models.onehot.k: the onehot family takes one k of 1..6",
        ),
        (
            lambda c: c["models"]["spectrum"].update(source={"path": "x"}),
            r"models.spectrum.source: a kmer model computes its spectra",
        ),
        (
            lambda c: c["attribution"]["tasks"]["motif_activity"]["maps"].append(
                {"model": "spectrum", "probe": "rep_mlp", "methods": ["ism"]}
            ),
            r"'spectrum' is a k-mer spectrum, computed without a network: nothing maps them",
        ),
    ],
)
def test_what_a_kmer_model_cannot_do_stops_at_configuration(change, message):
    config = _config()
    change(config)
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_the_memory_bound_uses_the_task_size_and_canonical_halves_it():
    config = _config(k=8, max_memory_gb=1.5, canonical=True)  # 32,896 columns: 1.05 GB
    validate_config(config)


def test_a_kmer_model_costs_a_cheap_cpu_extraction():
    from glmeval.cost import CostModel
    from glmeval.run_plan import RunPlan

    config = validate_config(_config(k=[2, 3]))
    cost = CostModel(RunPlan(config), device="cpu")
    assert cost.pooled_bytes("spectrum", "motif_activity") == 8000 * 2 * (16 + 64) * 2
    assert cost.forward_seconds("spectrum", 8000, 230, "extract_embeddings") < 60


def test_figures_and_cards_show_a_kmer_model_as_its_own_kind():
    from glmeval.cards import card_table
    from glmeval.figures.style import GROUP_MARKERS, Labels

    config = validate_config(_config())
    labels = Labels.from_config(config)
    assert labels.group("spectrum") == "k-mer" and labels.group("onehot") == "one-hot"
    assert GROUP_MARKERS["k-mer"] not in {m for g, m in GROUP_MARKERS.items() if g != "k-mer"}
    row = card_table(config).set_index("model").loc["spectrum"]
    assert row["training"] == "none" and row["parameters"] == 0


# ------------------------------------------------------------------ the alpha grid


def test_eigen_ridge_matches_sklearn_at_every_alpha():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 40)) * rng.uniform(0.1, 10, size=40) + 3
    y = x[:, :3] @ rng.normal(size=(3, 2)) + rng.normal(size=(300, 2))
    alphas = [1e-3, 0.1, 10.0, 1000.0]
    for (coef, intercept), alpha in zip(linear.ridge_solutions(x, y, alphas, block=64), alphas):
        ref = Ridge(alpha=alpha).fit(x, y)
        np.testing.assert_allclose(coef, ref.coef_.T, atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(intercept, ref.intercept_, atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(x @ coef + intercept, ref.predict(x), atol=1e-6)


def test_the_grid_picks_the_validation_best_alpha():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(260, 60))
    y = (x[:, :2].sum(axis=1) + rng.normal(size=260) * 3)[:, None]
    alphas = [1e-4, 1.0, 100.0, 1e4, 1e7]
    chosen, scores = linear.ridge_grid(x[:60], y[:60], x[60:], y[60:], alphas, "pearson")
    assert chosen == alphas[int(np.argmax(scores))] and len(scores) == len(alphas)
    labels = (x[:, :1] + rng.normal(size=(260, 1)) > 0).astype(np.float32)
    chosen, scores = linear.logistic_grid(
        x[:60], labels[:60], x[60:], labels[60:], alphas, 0, "auroc"
    )
    assert chosen == alphas[int(np.argmax(scores))]
    assert linear.choose_alpha([1.0, 2.0], [0.5, 0.5]) == 2.0  # a tie: the larger alpha
    with pytest.raises(ValueError, match="no alpha of the grid"):
        linear.choose_alpha([1.0], [float("nan")])


def test_a_probe_with_alphas_records_its_choice_and_one_without_is_unchanged(tmp_path):
    from glmeval.probes.run import Labels, train_run

    rng = np.random.default_rng(2)
    x = {
        s: rng.normal(size=(n, 30)).astype(np.float32)
        for s, n in (("train", 80), ("valid", 60), ("test", 60))
    }
    y = {s: (v[:, :1] + rng.normal(size=(len(v), 1))).astype(np.float32) for s, v in x.items()}
    import pandas as pd

    frames = {s: pd.DataFrame({"id": [f"{s}{i}" for i in range(len(v))]}) for s, v in x.items()}
    task = {"name": "t", "kind": "regression", "targets": ["y"], "metrics": ["pearson", "spearman"]}
    labels = Labels(task, frames, y, ("sequence",))
    keys = {"task": "t", "model": "m", "probe": "p", "layer": 0, "representation": "mean"}
    grid = {"type": "ridge", "alphas": [0.01, 10.0, 1e4], "fit_on": "train"}
    train_run(labels, x, grid, 0, tmp_path / "grid", keys)
    record = json.loads((tmp_path / "grid" / "metrics.json").read_text())["regularisation"]
    assert record["alphas"] == [0.01, 10.0, 1e4] and record["metric"] == "pearson"
    assert record["alpha"] == record["alphas"][int(np.argmax(record["valid_scores"]))]
    fixed = {"type": "ridge", "alpha": record["alpha"], "fit_on": "train"}
    train_run(labels, x, fixed, 0, tmp_path / "fixed", keys)
    plain = json.loads((tmp_path / "fixed" / "metrics.json").read_text())
    assert set(plain) == {"rows", "history"}  # no grid: metrics.json as before
    chosen = json.loads((tmp_path / "grid" / "metrics.json").read_text())["rows"]
    assert [r["value"] for r in chosen] == pytest.approx([r["value"] for r in plain["rows"]])


# ------------------------------------------------------------------ through the workflow


def test_a_kmer_model_and_a_ridge_grid_run_through_the_workflow(tmp_path):
    config = {
        "seeds": [0],
        "representations": ["mean", "tokens"],
        "device": "cpu",
        "tasks": {
            "activity": {
                "kind": "regression",
                "source": {
                    "synthetic": "motif_regression",
                    "length": 60,
                    "seed": 1,
                    "n_train": 300,
                    "n_valid": 100,
                    "n_test": 100,
                },
                "models": ["spectrum"],
                "probes": ["ridge_grid"],
            }
        },
        "models": {"spectrum": {"family": "kmer", "k": [1, 2, 3], "canonical": True}},
        "probes": {"ridge_grid": {"type": "ridge", "alphas": [0.1, 10.0, 1000.0]}},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    target = "results/probes/activity/spectrum/mean/ridge_grid.runs.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(REPO / "Snakefile")]
        + ["--cores", "1", "--configfile", str(tmp_path / "c.yaml"), "--directory", str(tmp_path)]
        + [target],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = list(
        (tmp_path / "results" / "probes" / "activity" / "spectrum").rglob("metrics.json")
    )
    assert len(metrics) == 1, metrics
    record = json.loads(metrics[0].read_text())
    assert record["regularisation"]["alpha"] in (0.1, 10.0, 1000.0)
    assert {r["metric"] for r in record["rows"]} == {"pearson", "spearman"}
    meta = json.loads(
        (tmp_path / "results/embeddings/spectrum/activity/test/meta.json").read_text()
    )
    assert meta["k"] == [1, 2, 3] and meta["hidden_size"] == 2 + 10 + 32
