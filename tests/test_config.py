import copy
from pathlib import Path

import pytest
import yaml

from glmeval.config import ConfigError, load_config, validate_config
from glmeval.plan import probe_jobs, token_layers

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"


@pytest.fixture
def demo():
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def test_shipped_configs_are_valid():
    for name in ("demo.yaml", "config.yaml"):
        config = load_config(REPO / "config" / name, SCHEMA)
        assert config["seeds"] and all("batch_size" in p for p in config["probes"].values())


def test_grid_of_demo(demo):
    config = validate_config(demo, SCHEMA)
    jobs = probe_jobs(config, "motif_activity")
    onehot = {(j.representation, j.probe) for j in jobs if j.model == "onehot"}
    assert onehot == {("mean", "ridge"), ("mean", "rep_mlp"), ("tokens", "rep_cnn")}
    nt = [j for j in jobs if j.model == "tiny_nt"]
    assert {j.layer for j in nt} == {0, 1, 2}  # probe_layers: all
    assert not [j for j in nt if j.representation == "cls" and j.layer == 0]
    assert not [j for j in jobs if j.model == "tiny_mistral" and j.representation == "cls"]
    # the layer sweep is the linear probes'; the neural probes read the last layer
    assert {j.layer for j in nt if j.probe in ("rep_mlp", "rep_cnn")} == {2}
    assert token_layers(config, "tiny_nt", "motif_activity") == [2]
    assert token_layers(config, "tiny_mistral", "motif_activity") == [2]


def _error(config) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA)
    return str(info.value)


def test_unknown_key_names_key_and_allowed(demo):
    demo["probes"]["rep_cnn"]["widht"] = 2
    message = _error(demo)
    assert "probes.rep_cnn: unknown key(s) ['widht']" in message and "'width'" in message


def test_wrong_type_and_enum(demo):
    bad = copy.deepcopy(demo)
    bad["seeds"] = "0"
    assert "seeds: '0' is not of type 'array'" in _error(bad)
    demo["tasks"]["motif_grammar"]["kind"] = "classification"
    assert "allowed values: ['regression', 'binary', 'multilabel', 'multitask_regression']" in _error(demo)


def test_undefined_references_name_allowed_values(demo):
    demo["tasks"]["motif_activity"]["models"].append("dnabert2")
    demo["tasks"]["motif_grammar"]["probes"].append("chip_cnn")
    message = _error(demo)
    assert "tasks.motif_activity.models: 'dnabert2' is not defined; defined models: " in message
    assert "'onehot', 'tiny_mistral', 'tiny_nt'" in message
    assert "tasks.motif_grammar.probes: 'chip_cnn' is not defined" in message


def test_probe_kind_mismatch_and_layers(demo):
    demo["tasks"]["motif_grammar"]["probes"].append("ridge")
    demo["models"]["tiny_nt"]["probe_layers"] = [1, 5]
    message = _error(demo)
    assert "'ridge' is a ridge probe, which needs a multitask_regression/regression task; this task is binary" in message
    assert "models.tiny_nt.probe_layers: 5 is beyond the last layer; allowed: 0..2" in message


def test_model_families_rules(demo):
    models = demo["models"]
    models["dnabert2"] = {"family": "dnabert2", "n_layers": 12,
                          "source": {"hub": "zhihan1996/DNABERT-2-117M", "revision": "main"}}
    models["random_x"] = {"family": "random_init", "of": "missing"}
    models["tiny_nt"]["long_sequences"] = "window"
    models["onehot"]["max_tokens"] = 10
    message = _error(demo)
    assert "models.dnabert2.source.revision is 'main'" in message
    assert "full 40-character commit hash" in message
    assert "models.random_x.of: 'missing' must name a defined, pretrained model" in message
    assert "models.tiny_nt: long_sequences: window needs window_bases" in message
    assert "models.onehot.max_tokens applies only to language-model families" in message


def test_random_init_inherits_its_base(demo):
    demo["models"]["random_nt"] = {"family": "random_init", "of": "tiny_nt", "seed": 3,
                                   "probe_layers": "last"}
    demo["tasks"]["motif_activity"]["models"].append("random_nt")
    config = validate_config(demo, SCHEMA)
    from glmeval.plan import model_settings

    settings = model_settings(config, "random_nt")
    assert settings["family"] == "masked_lm" and settings["random_init"] == 3
    assert settings["source"] == demo["models"]["tiny_nt"]["source"]
    jobs = [j for j in probe_jobs(config, "motif_activity") if j.model == "random_nt"]
    assert {j.layer for j in jobs} == {2} and {j.representation for j in jobs} >= {"cls"}


def test_cli_check(tmp_path, capsys, demo):
    from glmeval.cli import main

    assert main(["check", str(REPO / "config" / "demo.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    demo["models"]["onehot"]["layers"] = 1
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(demo))
    assert main(["check", str(tmp_path / "bad.yaml"), "--schema", str(SCHEMA)]) == 1
    assert "models.onehot: unknown key(s) ['layers']" in capsys.readouterr().err


def test_input_files_of_sources_skip_settings_and_downloads():
    from glmeval.config import downloads_used, local_files, resolve_files

    source = {"table": "t.csv", "split_names": {"valid": "dev"}, "sequence_column": "seq"}
    assert local_files(source) == ["t.csv"]
    split = {"files": {"train": "a.csv", "valid": {"download": "d", "path": "v.csv"},
                       "test": "c.csv"}}
    assert local_files(split) == ["a.csv", "c.csv"] and downloads_used(split) == {"d"}
    assert resolve_files(split)["files"]["valid"] == "resources/downloads/d/v.csv"


def test_archive_task_kind_must_match_its_data(demo):
    demo["tasks"]["lenti"] = {"kind": "binary", "source": {"archive": "lentimpra", "h5": "x.h5"}}
    assert "tasks.lenti.kind: the lentimpra data is a regression task, not binary" in _error(demo)


def test_task_seeds_fractions_layers_and_baseline(demo):
    from glmeval.plan import baselines

    task = demo["tasks"]["motif_activity"]
    task.update(seeds=[3, 4], train_fractions=[0.5, 1.0], probe_layers={"tiny_nt": [1]},
                baseline={"model": "onehot", "probe": "rep_cnn"})
    config = validate_config(demo, SCHEMA)
    jobs = probe_jobs(config, "motif_activity")
    assert {j.seed for j in jobs} == {3, 4} and {j.train_fraction for j in jobs} == {0.5, 1.0}
    assert {j.layer for j in jobs if j.model == "tiny_nt"} == {1}
    assert {j.seed for j in probe_jobs(config, "motif_grammar")} == {0}  # the global seeds
    half = next(j for j in jobs if j.train_fraction == 0.5)
    assert "/frac0.5/seed" in half.metrics_path and half.predictions_path.endswith(".parquet")
    assert baselines(config, probe_jobs(config))["motif_activity"] == {
        "model": "onehot", "probe": "rep_cnn", "representation": "tokens", "layer": 0, "width": 0.25,
        "test": "mannwhitney", "alternative": "two-sided",
    }
    # without a baseline: the first one-hot model's first token-level probe
    assert baselines(config, probe_jobs(config))["motif_grammar"]["probe"] == "rep_cnn_binary"


def test_ladder_config_errors(demo):
    bad = copy.deepcopy(demo)
    bad["tasks"]["motif_activity"]["baseline"] = {"model": "onehot", "probe": "logistic"}
    bad["tasks"]["motif_activity"]["probe_layers"] = {"tiny_nt": [7], "nope": "all"}
    bad["probes"]["splice"] = {"type": "splice_cnn"}
    bad["tasks"]["motif_activity"]["probes"].append("splice")
    bad["models"]["tiny_nt"]["k"] = 2
    bad["tasks"]["motif_activity"]["train_fractions"] = [0]
    message = _error(bad)
    assert "tasks.motif_activity.train_fractions.0: 0 is less than or equal to the minimum of 0" in message
    del bad["tasks"]["motif_activity"]["train_fractions"]
    message = _error(bad)
    assert "tasks.motif_activity.baseline: {'model': 'onehot', 'probe': 'logistic'} must name" in message
    assert "tasks.motif_activity.probe_layers.tiny_nt: 7 is beyond the last layer; allowed: 0..2" in message
    assert "tasks.motif_activity.probe_layers: 'nope' is not one of the task's models" in message
    assert "'splice' (splice_cnn) needs a two-sequence (splicing) task" in message
    assert "models.tiny_nt.k applies only to the onehot and kmer families" in message


def test_paper_config_replicates_and_fractions():
    from glmeval.plan import baselines

    config = load_config(REPO / "config" / "config.yaml", SCHEMA)
    jobs = probe_jobs(config)
    insert = [j for j in jobs if j.task == "insert_seq" and j.model == "onehot"]
    assert len({j.seed for j in insert}) == 50 and len({j.train_fraction for j in insert}) == 10
    splicing = {(j.model, j.probe, j.train_fraction) for j in jobs if j.task == "splicing"}
    assert ("rbp", "splice_cnn", 0.25) in splicing
    chip_nt = {j.layer for j in jobs if j.task == "chip_ctcf" and j.model == "nt_2b5_1000g"}
    assert chip_nt == {10, 32}
    assert len({j.layer for j in jobs if j.task == "lentimpra_k562" and j.probe == "nt_rep_cnn"}) == 33
    assert baselines(config, probe_jobs(config))["lentimpra_hepg2"]["probe"] == "onehot_cnn"


def test_inputs_a_model_cannot_take_stop_at_config_time(demo):
    demo["models"]["hyena"] = {
        "family": "hyenadna", "source": {"path": "h"}, "n_layers": 2, "max_tokens": 100
    }
    demo["models"]["sei"] = {"family": "sei", "source": {"path": "s"}}
    demo["tasks"]["motif_activity"]["models"].append("hyena")  # 230-base sequences
    demo["variants"] = {"v": {"table": "v.tsv", "genome": "g.fa", "length": 200, "zeroshot": {
        "models": ["hyena", "sei", "tiny_nt"], "scores": ["cosine", "llr"],
        "windows": {"sei": 8192, "tiny_nt": 64},
    }}}
    message = _error(copy.deepcopy(demo))
    assert (
        "tasks.motif_activity: its 230-base sequences are longer than model 'hyena' takes "
        "(100 bases); drop the model from it, or set models.hyena.long_sequences: window with"
    ) in message
    assert (
        "variants.v.zeroshot: the 200-base windows are longer than model 'hyena' takes (100 "
        "bases); give it a shorter window (zeroshot.windows.hyena)"
    ) in message
    assert "the 8192-base windows are longer than model 'sei' takes (4096 bases)" in message
    assert (
        "variants.v.zeroshot.scores: llr (|LLR|) needs a language model head, and model 'sei' "
        "(sei) has none"
    ) in message
    assert "'tiny_nt'" not in message  # its context is known only from its checkpoint
    # windowing on, a window it takes, distances only: valid
    demo["models"]["hyena"] |= {"long_sequences": "window", "window_bases": 90}
    demo["variants"]["v"]["zeroshot"] |= {"scores": ["cosine"], "windows": {"sei": 4096}}
    validate_config(demo, SCHEMA)
    demo["variants"]["v"]["zeroshot"]["windows"]["onehot"] = 64
    assert "zeroshot.windows: 'onehot' is not one of zeroshot.models" in _error(demo)


def test_probe_model_overrides_are_checked_and_applied(demo):
    from glmeval.plan import probe_settings

    demo["probes"]["rep_cnn"]["model_overrides"] = {"tiny_nt": {"width": 1.0, "lr": 0.01}}
    config = validate_config(copy.deepcopy(demo), SCHEMA)
    assert probe_settings(config, "rep_cnn", "tiny_nt") | {"width": 0.25, "lr": 0.001} == (
        probe_settings(config, "rep_cnn", "onehot")
    )
    assert probe_settings(config, "rep_cnn", "tiny_nt")["width"] == 1.0
    demo["probes"]["rep_cnn"]["model_overrides"] = {"tiny_nt": {"widht": 1}, "nope": {}}
    message = _error(copy.deepcopy(demo))
    assert "probes.rep_cnn.model_overrides.tiny_nt: unknown key(s) ['widht']" in message
    demo["probes"]["rep_cnn"]["model_overrides"] = {"nope": {}}
    assert "probes.rep_cnn.model_overrides: 'nope' is not defined" in _error(demo)


def test_a_probe_restricted_to_the_last_layer(demo):
    demo["probes"]["rep_cnn"]["layers"] = "last"
    demo["probes"]["ridge"]["layers"] = [1]
    jobs = probe_jobs(validate_config(demo, SCHEMA), "motif_activity")
    assert {j.layer for j in jobs if j.model == "tiny_nt" and j.probe == "rep_cnn"} == {2}
    assert {j.layer for j in jobs if j.model == "tiny_nt" and j.probe == "ridge"} == {1}
    assert not [j for j in jobs if j.model == "onehot" and j.probe == "ridge"]
