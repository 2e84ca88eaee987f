"""Bring your own features (glmeval.models.features): files read by id into standard embedding
artifacts that the probes load like any model's; bad files are named errors."""

import numpy as np
import pandas as pd
import pytest

from glmeval.models.families import ModelError
from glmeval.models.features import read_features, write_features
from glmeval.probes.inputs import load_features

IDS = [f"seq{i}" for i in range(6)]


def _table(tmp_path, values=None, name="features.parquet"):
    values = np.arange(18, dtype=np.float32).reshape(6, 3) if values is None else values
    table = pd.DataFrame(values, columns=["f0", "f1", "f2"]).assign(id=IDS[::-1])
    path = tmp_path / name
    table.to_parquet(path) if name.endswith(".parquet") else table.to_csv(path, index=False)
    return path, values


def test_a_table_is_read_by_id_into_a_probe_ready_artifact(tmp_path):
    path, values = _table(tmp_path)
    split_ids = ["seq4", "seq0", "seq2"]  # the split's own order, not the file's
    write_features("mine", {}, path, "test", split_ids, tmp_path / "art", {"input_sha256": None})
    mean = load_features(tmp_path / "art", "mean", 0)
    np.testing.assert_array_equal(mean, values[::-1][[4, 0, 2]])  # the file lists ids reversed
    with pytest.raises(ValueError, match="no 'cls' representation"):
        load_features(tmp_path / "art", "cls", 0)
    assert not list(tmp_path.glob(".art.tmp-*"))


def test_per_token_matrices_give_tokens_and_their_mean(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 5, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "ids.txt").write_text("\n".join(IDS) + "\n")
    model = {"ids": str(tmp_path / "ids.txt"), "per_token": True}
    write_features("mine", model, tmp_path / "x.npy", "train", ["seq1", "seq3"], tmp_path / "a", {})
    tokens = load_features(tmp_path / "a", "tokens", 0)
    np.testing.assert_allclose(tokens[np.arange(2)], x[[1, 3]], atol=1e-2)
    np.testing.assert_allclose(
        load_features(tmp_path / "a", "mean", 0), x[[1, 3]].mean(1), atol=1e-2
    )


def test_a_directory_holds_one_file_per_split(tmp_path):
    folder = tmp_path / "dir"
    folder.mkdir()
    for split, n in (("train", 3), ("valid", 3), ("test", 3)):
        frame = pd.DataFrame(np.ones((2, n)), columns=[f"f{i}" for i in range(n)])
        frame.assign(id=[f"{split}0", f"{split}1"]).to_csv(folder / f"{split}.csv", index=False)
    write_features("mine", {}, folder, "valid", ["valid1"], tmp_path / "a", {})
    assert load_features(tmp_path / "a", "mean", 0).shape == (1, 3)
    pd.DataFrame({"id": ["test0"], "f0": [1.0]}).to_csv(folder / "test.csv", index=False)
    with pytest.raises(ModelError, match=r"differ in width \{'train': 3, 'valid': 3, 'test': 1\}"):
        write_features("mine", {}, folder, "train", ["train0"], tmp_path / "b", {})
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_id", r"1 of the 2 ids of split 'test' have no features in .*, the first 'nope'"),
        ("text_column", r"column 'f1' is not numeric"),
        ("duplicate_id", r"id 'seq0' has more than one row"),
        ("no_id_column", r"no id column 'id'"),
        ("not_finite", r"the features of id 'seq2' .* are not finite"),
        ("per_token_mismatch", r"holds per-sequence features \(6, 3\), but per_token is true"),
        ("npy_without_ids", r"a \.npy of features has no ids"),
    ],
)
def test_bad_features_are_named_errors_and_write_nothing(tmp_path, case, message):
    path, values = _table(tmp_path, name="f.csv")
    frame = pd.read_csv(path)
    model, split_ids = {}, ["seq0", "seq2"]
    if case == "missing_id":
        split_ids = ["seq0", "nope"]
    elif case == "text_column":
        frame.assign(f1="x").to_csv(path, index=False)
    elif case == "duplicate_id":
        frame.assign(id=["seq0"] * 6).to_csv(path, index=False)
    elif case == "no_id_column":
        frame.drop(columns="id").to_csv(path, index=False)
    elif case == "not_finite":
        frame.loc[frame.id == "seq2", "f0"] = np.inf
        frame.to_csv(path, index=False)
    elif case == "per_token_mismatch":
        model = {"per_token": True}
    elif case == "npy_without_ids":
        np.save(tmp_path / "f.npy", values)
        path = tmp_path / "f.npy"
    with pytest.raises(ModelError, match=message):
        write_features("mine", model, path, "test", split_ids, tmp_path / "out", {})
    assert not (tmp_path / "out").exists()


def test_read_features_of_an_npy_checks_its_ids(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2), np.float32))
    (tmp_path / "ids.txt").write_text("a\nb\n")
    with pytest.raises(ModelError, match="2 ids for the 3 rows"):
        read_features(tmp_path / "x.npy", str(tmp_path / "ids.txt"))


def _config(tmp_path, **model):
    import yaml
    from conftest import REPO

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["models"]["mine"] = {"family": "features", "source": {"path": "f.parquet"}, **model}
    config["tasks"]["motif_activity"]["models"].append("mine")
    return config


def test_a_features_model_is_probed_on_what_its_file_holds(tmp_path):
    from conftest import REPO

    from glmeval.config import validate_config
    from glmeval.plan import probe_jobs

    for per_token, representations in ((False, {"mean"}), (True, {"mean", "tokens"})):
        config = validate_config(
            _config(tmp_path, per_token=per_token), REPO / "config/schema.yaml"
        )
        jobs = [j for j in probe_jobs(config) if j.model == "mine"]
        assert {j.representation for j in jobs} == representations  # never cls
        assert {j.layer for j in jobs} == {0}


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda c: c["variants"].update(
                v={
                    "table": "t.tsv",
                    "genome": "g.fa",
                    "length": 100,
                    "zeroshot": {"models": ["mine"]},
                }
            ),
            r"variants.v.zeroshot.models: 'mine' reads its features from a file",
        ),
        (
            lambda c: c["models"]["tiny_nt"].update(per_token=True),
            r"models.tiny_nt.per_token applies only to the features family",
        ),
        (
            lambda c: c["models"]["mine"].update(source={"builder": "tiny_nt"}),
            r"models.mine.source: a features model reads a file",
        ),
        (
            lambda c: c["attribution"]["tasks"]["motif_activity"]["maps"].append(
                {"model": "mine", "probe": "rep_mlp", "methods": ["ism"]}
            ),
            r"'mine' reads its features from a file: nothing maps them back to bases",
        ),
    ],
)
def test_what_a_features_model_cannot_do_stops_at_configuration(tmp_path, change, message):
    from conftest import REPO

    from glmeval.config import ConfigError, validate_config

    config = _config(tmp_path)
    config.setdefault("variants", {})
    change(config)
    with pytest.raises(ConfigError, match=message):
        validate_config(config, REPO / "config/schema.yaml")
