"""The disk budget of token states (glmeval.storage): sizes counted from the configuration,
token layers written in parts that fit the budget in waves, and the errors of a budget too
small; a token part holds the very token states the pooled extraction would."""

import copy
from pathlib import Path

import numpy as np
import pytest

from glmeval.config import ConfigError, load_config, validate_config
from glmeval.embed import extract
from glmeval.io import read_json
from glmeval.models import load_embedder
from glmeval.probes.inputs import load_features
from glmeval.run_plan import RunPlan
from glmeval.storage import GB, BudgetError, TaskSize, layer_bytes, task_size, token_shape
from glmeval.vocabulary import TOKENS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo():
    return load_config(REPO / "config" / "demo.yaml")


@pytest.fixture(scope="module")
def paper():
    return load_config(REPO / "config" / "config.yaml")


def _budget(config, gb):
    config = copy.deepcopy(config)
    config["storage"] = {"max_tokens_gb": gb}
    return config


def test_sizes_are_counted_from_the_configuration(demo, paper):
    # the demo's synthetic task knows its size; NT's 6-mers: 38 k-mers, 2 single bases, CLS
    # and one spare special token
    assert task_size(demo, "motif_activity") == TaskSize(8000, 230, 1)
    assert token_shape(demo, "tiny_nt", 230) == (42, 32)
    assert token_shape(demo, "onehot", 230) == (230, 4)
    assert token_shape(demo, "tiny_mistral", 230) == (232, 32)  # BPE: a token per base, at most
    assert layer_bytes(demo, "tiny_nt", "motif_activity") == 8000 * 42 * 32 * 2
    # the count: lentiMPRA K562, ~393k x 41 tokens x 2,560 x 2 bytes is ~82 GB a layer
    assert layer_bytes(paper, "nt_2b5_1000g", "lentimpra_k562") / GB == pytest.approx(84.6, 0.01)
    assert token_shape(paper, "sei", 230) == (960, 16)
    assert token_shape(paper, "rbp", 173) == (100, 192)  # 1,000-nt inputs pooled by 10
    assert task_size(paper, "splicing") == TaskSize(50956, 400, 2)  # left and right halves


def test_without_a_budget_every_token_layer_is_kept(paper):
    plan = RunPlan(paper, REPO)
    assert plan.token_storage.parts == () and plan.token_parts == []
    assert plan.token_storage.kept["nt_2b5_1000g", "lentimpra_k562"] == tuple(range(33))
    assert plan.token_storage.kept_bytes / GB > 6000  # 6.4 TB by the planner's count


def test_a_budget_splits_the_token_layers_into_waves_that_fit(paper):
    plan = RunPlan(_budget(paper, 500), REPO)
    storage = plan.token_storage
    assert storage.peak_bytes <= 500 * GB
    waves: dict[int, int] = {}
    for part in storage.parts:
        waves[part.wave] = waves.get(part.wave, 0) + part.bytes
    assert max(waves.values()) + storage.kept_bytes <= 500 * GB
    # every probed token layer is written exactly once: kept, or in one part
    probed = {(j.model, j.task, j.layer) for j in plan.probe_jobs if j.representation == TOKENS}
    written = [(m, t, layer) for (m, t), layers in storage.kept.items() for layer in layers]
    written += [(p.model, p.task, layer) for p in storage.parts for layer in p.layers]
    assert sorted(written) == sorted(probed)
    # the layers an embedding-gradient map reads stay with the pooled states
    assert storage.kept["nt_2b5_1000g", "lentimpra_k562"] == (32,)
    # the rest of NT's 33-layer sweep on K562 (84.6 GB a layer) beside the 209 GB kept: parts of
    # at most 3 layers
    k562 = [p for p in storage.parts if (p.model, p.task) == ("nt_2b5_1000g", "lentimpra_k562")]
    assert sum(len(p.layers) for p in k562) == 32 and all(len(p.layers) <= 3 for p in k562)


def test_a_wave_waits_for_the_probes_of_the_wave_before(paper):
    plan = RunPlan(_budget(paper, 500), REPO)
    later = next(p for p in plan.token_storage.parts if p.wave == 1)
    wildcards = type("W", (), {"model": later.model, "task": later.task, "part": later.index})
    records = plan.previous_wave(wildcards)
    first = {p for p in plan.token_storage.parts if p.wave == 0}
    expected = {
        g.path
        for g in plan.probe_groups
        if g.representation == TOKENS
        and plan.token_storage.part_of(g.model, g.task, g.layer) in first
    }
    assert records and set(records) == expected
    assert (
        plan.previous_wave(type("W", (), {"model": "onehot", "task": "lentimpra_hepg2", "part": 0}))
        == []
    )  # the first wave waits for none
    # a probe job reads its part, not the pooled extraction's directory
    group = next(
        g
        for g in plan.probe_groups
        if g.representation == TOKENS
        and plan.token_storage.part_of(g.model, g.task, g.layer) == later
    )
    probe = type(
        "W",
        (),
        {
            "task": group.task,
            "model": group.model,
            "probe": group.probe,
            "representation": TOKENS,
            "layer": str(group.layer),
        },
    )
    assert plan.probe_embeddings(probe) == [later.path(s) for s in ("train", "valid", "test")]


def test_a_budget_below_one_layer_is_a_configuration_error(paper, demo):
    with pytest.raises(ConfigError) as error:  # when the configuration is validated
        validate_config(_budget(paper, 250))
    message = str(error.value)
    # the first layer that does not fit beside the kept ones names its task, model and bytes
    assert "storage.max_tokens_gb is 250" in message
    assert "nt_2b5_1000g" in message and "lentimpra" in message and "GB" in message
    assert "Raise storage.max_tokens_gb to at least" in message
    with pytest.raises(BudgetError, match=r"kept with the pooled states .* take 0\.119 GB"):
        RunPlan(_budget(demo, 0.05), REPO)


def test_a_budget_needs_every_token_layer_s_size(paper):
    config = _budget(paper, 500)
    del config["tasks"]["insert_seq"]["size"]
    with pytest.raises(
        BudgetError, match=r"task 'insert_seq' has none: give tasks.insert_seq.size"
    ):
        RunPlan(config, REPO)


def test_a_token_part_holds_the_pooled_extraction_s_token_states(tiny_models, tmp_path):
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    sequences = ["ACGTACGTACGTAAC", "ACGT" * 9, "GATTACA" * 3]
    extract(nt, sequences, tmp_path / "all", token_layers=[1, 2])
    extract(nt, sequences, tmp_path / "part", token_layers=[2], pooled=False)
    assert sorted(p.name for p in (tmp_path / "part").iterdir()) == ["meta.json", "tokens.L2.npy"]
    meta = read_json(tmp_path / "part" / "meta.json")
    assert meta["pooled_shape"] is None and meta["token_layers"] == [2]
    assert meta["bytes"] == (tmp_path / "part" / "tokens.L2.npy").stat().st_size
    whole = load_features(tmp_path / "all", TOKENS, 2)
    part = load_features(tmp_path / "part", TOKENS, 2)
    rows = np.arange(3)
    np.testing.assert_array_equal(whole[rows], part[rows])


def _tiny_sweep(budget_gb=None) -> dict:
    """The demo's activity task, small: tiny NT's three layers under a CNN probe."""
    import yaml

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    task = config["tasks"]["motif_activity"]
    task["source"] |= {"n_train": 200, "n_valid": 40, "n_test": 40}
    task |= {"models": ["tiny_nt"], "probes": ["rep_cnn"]}
    config["tasks"] = {"motif_activity": task}
    config["probes"]["rep_cnn"] |= {"layers": "all", "max_epochs": 2}
    config["models"] = {m: config["models"][m] for m in task["models"]}
    config.pop("attribution")
    if budget_gb:
        config["storage"] = {"max_tokens_gb": budget_gb}
    return config


def test_a_budgeted_run_deletes_its_parts_and_gives_the_same_numbers(tmp_path):
    import subprocess
    import sys

    import pandas as pd
    import yaml

    # NT's layers 0-1 in the first wave (1.5 MB), layer 2 in the next
    budget = 0.0016
    plan = RunPlan(validate_config(_tiny_sweep(budget)), REPO)
    parts = [(p.model, p.layers, p.wave) for p in plan.token_storage.parts]
    assert parts == [("tiny_nt", (0, 1), 0), ("tiny_nt", (2,), 1)]
    runs = {}
    for name, gb in (("budget", budget), ("kept", None)):  # side by side, a core each
        workdir = tmp_path / name
        workdir.mkdir()
        (workdir / "config.yaml").write_text(yaml.safe_dump(_tiny_sweep(gb)))
        runs[name] = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "snakemake"),
                "--snakefile",
                str(REPO / "Snakefile"),
                "--cores",
                "1",
                "--configfile",
                "config.yaml",
                "--quiet",
                "--show-failed-logs",
                "results/tables/probe_metrics.csv",
            ],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    tables = {}
    for name, run in runs.items():
        output, _ = run.communicate(timeout=900)
        assert run.returncode == 0, output[-3000:]
        tables[name] = pd.read_csv(tmp_path / name / "results" / "tables" / "probe_metrics.csv")
    embeddings = tmp_path / "budget" / "results" / "embeddings"
    assert not list(embeddings.glob("*/*/tokens*"))  # every part deleted after its probes
    assert not list(embeddings.rglob("*.npy"))  # no pooled pass: no probe reads pooled states
    kept = tmp_path / "kept" / "results" / "embeddings"
    assert len(list(kept.rglob("tokens.L*.npy"))) == 9  # three layers of three splits, kept
    logs = sorted(p.name for p in (tmp_path / "budget" / "logs").rglob("*/tiny_nt/*/*.log"))
    assert logs == ["tokens0.log", "tokens1.log"]
    pd.testing.assert_frame_equal(tables["budget"], tables["kept"])  # the same numbers out
