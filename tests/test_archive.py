"""The paper's h5 archives → task splits, on small files shaped like the real ones (docs/paper.md,
Tasks)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from glmeval.data.archive import (
    ARCHIVE_TASKS,
    decode_one_hot,
    prepare_binary_h5,
    prepare_eclip_multitask,
    prepare_insert_seq,
    prepare_lentimpra,
)
from glmeval.data.sequence import base_codes
from glmeval.data.tasks import load_split, load_task
from glmeval.vocabulary import SPLITS

SIZES = {"train": 7, "valid": 3, "test": 4}


def _seqs(rng, n, length):
    """Random sequences with a few N (and one all-N sequence)."""
    seqs = [
        "".join(rng.choice(list("ACGTN"), p=[0.24] * 4 + [0.04], size=length)) for _ in range(n)
    ]
    return ["N" * length, *seqs[1:]]


def _one_hot(seqs, dtype, channels_first=False, extra=0, rng=None):
    """Archive-style one-hot: A, C, G, T channels, N all zero, `extra` noise channels after."""
    x = np.eye(5, 4)[np.stack([base_codes(s) for s in seqs])]
    if extra:
        x = np.concatenate([x, rng.random((*x.shape[:2], extra))], axis=-1)
    return (x.transpose(0, 2, 1) if channels_first else x).astype(dtype)


def _split_file(path, length, x_key, y_key, y_cols, dtype, channels_first, extra=0, seed=0):
    """A file with `{x_key}_{split}` / `{y_key}_{split}`; returns the sequences and labels."""
    rng = np.random.default_rng(seed)
    seqs, ys = {}, {}
    with h5py.File(path, "w") as f:
        for split, n in SIZES.items():
            seqs[split] = _seqs(rng, n, length)
            ys[split] = rng.integers(0, 2, size=(n, y_cols)).astype(np.float32)
            x = _one_hot(seqs[split], dtype, channels_first, extra, rng)
            f.create_dataset(f"{x_key}_{split}", data=x)
            f.create_dataset(f"{y_key}_{split}", data=ys[split])
    return seqs, ys


def test_lentimpra_folds_to_splits(tmp_path):
    """Keys `{k}_x` (N, 230, 4) and `{k}_y` (N,); folds 1–8 train, 9 valid, 10 test, in order."""
    rng = np.random.default_rng(1)
    seqs = {k: _seqs(rng, 2 + k % 3, 230) for k in range(1, 11)}
    ys = {k: rng.normal(size=len(seqs[k])) for k in seqs}
    path = tmp_path / "lentiMPRA_HepG2.h5"
    with h5py.File(path, "w") as f:
        for k, fold in seqs.items():
            f.create_dataset(f"{k}_x", data=_one_hot(fold, np.float64))
            f.create_dataset(f"{k}_y", data=ys[k])
    meta = prepare_lentimpra("lenti", {"h5": str(path)}, tmp_path / "out")
    assert meta["kind"] == "regression" and meta["targets"] == ["activity"]
    assert meta["sequence_length"] == {"min": 230, "max": 230}
    assert meta["provenance"]["folds"] == {"train": list(range(1, 9)), "valid": [9], "test": [10]}
    assert set(meta["provenance"]["layout"].values()) == {"channels_last"}
    for split, folds in {"train": range(1, 9), "valid": [9], "test": [10]}.items():
        df = load_split(tmp_path / "out", split)
        assert df["id"].tolist() == [f"fold{k}-{i}" for k in folds for i in range(len(seqs[k]))]
        assert df["sequence"].tolist() == [s for k in folds for s in seqs[k]]
        np.testing.assert_array_equal(df["activity"], np.concatenate([ys[k] for k in folds]))


@pytest.mark.parametrize(
    ("x_key", "y_key", "extra", "dtype"),
    [("x", "y", 0, np.float32), ("X", "Y", 5, np.float64)],
    ids=["chip", "eclip"],
)
def test_binary_round_trip_channels_first(tmp_path, x_key, y_key, extra, dtype):
    """ChIP: lower-case keys, (N, 4, 200); eCLIP: upper-case keys, (N, 9, 200), extra channels
    (noise here) ignored."""
    path = tmp_path / "a_200.h5"
    seqs, ys = _split_file(path, 200, x_key, y_key, 1, dtype, channels_first=True, extra=extra)
    meta = ARCHIVE_TASKS["chip" if x_key == "x" else "eclip"]("b", {"h5": str(path)}, tmp_path)
    assert meta["kind"] == "binary" and meta["targets"] == ["label"]
    assert meta["n"] == SIZES and len(meta["provenance"]["sha256"]) == 64
    assert set(meta["provenance"]["layout"].values()) == {"channels_first"}
    for split in SPLITS:
        df = load_split(tmp_path, split)
        assert df["id"].tolist() == [f"{split}-{i}" for i in range(SIZES[split])]
        assert df["sequence"].tolist() == seqs[split]
        np.testing.assert_array_equal(df["label"], ys[split][:, 0])


def test_eclip_multitask_targets(tmp_path):
    """`X_{split}` (N, 1000, 4) channels-last, `Y_{split}` (N, T); names from the file if any."""
    path = tmp_path / "K562.h5"
    seqs, ys = _split_file(path, 1000, "X", "Y", 3, np.uint8, channels_first=False)
    meta = prepare_eclip_multitask("m", {"h5": str(path)}, tmp_path / "a")
    assert meta["kind"] == "multilabel" and meta["targets"] == ["task_0", "task_1", "task_2"]
    assert meta["provenance"]["task_names_from"] == "default"
    test = load_split(tmp_path / "a", "test")
    assert test["sequence"].tolist() == seqs["test"]
    np.testing.assert_array_equal(test[meta["targets"]].to_numpy(), ys["test"])
    with h5py.File(path, "a") as f:
        f.create_dataset("task_names", data=np.array([b"PTBP1", b"QKI", b"TIA1"]))
    meta = prepare_eclip_multitask("m", {"h5": str(path)}, tmp_path / "b")
    assert meta["targets"] == ["PTBP1", "QKI", "TIA1"]
    assert meta["provenance"]["task_names_from"] == "file key 'task_names'"


def test_insert_seq_log1p_of_first_column(tmp_path):
    """`X_{split}` (N, 173, 4) channels-last; target log(Y[:, 0] + 1)."""
    path = tmp_path / "insert_dataset.h5"
    seqs, _ = _split_file(path, 173, "X", "Y", 1, np.float32, channels_first=False)
    y = np.abs(np.random.default_rng(2).normal(size=(SIZES["valid"], 3))) * 10
    with h5py.File(path, "a") as f:
        del f["Y_valid"]
        f.create_dataset("Y_valid", data=y)
    meta = prepare_insert_seq("ins", {"h5": str(path)}, tmp_path / "out")
    assert meta["targets"] == ["log1p_y0"] and meta["sequence_length"]["max"] == 173
    valid = load_split(tmp_path / "out", "valid")
    assert valid["sequence"].tolist() == seqs["valid"]
    np.testing.assert_allclose(valid["log1p_y0"], np.log(y[:, 0] + 1))


def test_decode_rules():
    x = np.zeros((2, 3, 4))
    x[0, 0, 2] = x[0, 2, 3] = 1
    x[1] = 0.25
    assert decode_one_hot(x, "w") == ["GNT", "NNN"]
    x[1, 1] = [0, 0.5, 0.5, 0]
    with pytest.raises(ValueError, match=r"w, row 11, position 1: .*0\.5"):
        decode_one_hot(x, "w", first_row=10)


def test_missing_key_lists_found_keys(tmp_path):
    path = tmp_path / "CTCF_200.h5"
    _split_file(path, 200, "x", "y", 1, np.float32, channels_first=True)
    with h5py.File(path, "a") as f:
        del f["y_test"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['y_test'\]; the file has \['x_test'"):
        prepare_binary_h5("c", {"h5": str(path)}, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_two_hot_channels_names_row(tmp_path, monkeypatch):
    monkeypatch.setattr("glmeval.data.archive._BLOCK", 800)  # one row per block: rows count on
    path = tmp_path / "CTCF_200.h5"
    _split_file(path, 200, "x", "y", 1, np.float32, channels_first=True)
    with h5py.File(path, "a") as f:
        f["x_valid"][2, :, 5] = [1, 1, 0, 0]
    with pytest.raises(ValueError, match=r"\[x_valid\], row 2, position 5: .*\[1\.0, 1\.0, 0"):
        prepare_binary_h5("c", {"h5": str(path)}, tmp_path / "out")


def test_nan_label_error_or_drop(tmp_path):
    path = tmp_path / "QKI_K562_200.h5"
    _split_file(path, 200, "X", "Y", 1, np.float32, channels_first=True, extra=5)
    with h5py.File(path, "a") as f:
        f["Y_train"][1, 0] = np.nan
    with pytest.raises(ValueError, match=r"split 'train', row id 'train-1': missing target"):
        prepare_binary_h5("e", {"h5": str(path)}, tmp_path / "out")
    meta = prepare_binary_h5("e", {"h5": str(path)}, tmp_path / "out", invalid="drop")
    assert meta["dropped"] == {"train": 1} and meta["n"]["train"] == SIZES["train"] - 1
    assert "train-1" not in set(load_split(tmp_path / "out", "train")["id"])
    assert load_task(tmp_path / "out")["dropped"] == {"train": 1}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("Y_test", 2.0, r"row id 'test-0': target 'label' is 2\.0, not 0 or 1"),
        ("X_test", None, r"expected a one-hot array .* got shape \(4, 200\)"),
    ],
)
def test_bad_values_named(tmp_path, key, value, message):
    path = tmp_path / "QKI_K562_200.h5"
    _split_file(path, 200, "X", "Y", 1, np.float32, channels_first=True)
    with h5py.File(path, "a") as f:
        if value is None:
            del f[key]
            f.create_dataset(key, data=np.zeros((SIZES["test"], 200)))
        else:
            f[key][0, 0] = value
    with pytest.raises(ValueError, match=message):
        prepare_binary_h5("e", {"h5": str(path)}, tmp_path / "out")
