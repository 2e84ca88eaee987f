import pandas as pd
import pytest

from glmeval.data.sequence import SequenceError
from glmeval.data.tasks import load_split, load_task, prepare_task


def test_synthetic_task_files(tmp_path):
    task = {
        "kind": "binary",
        "source": {"synthetic": "motif_grammar", "length": 200, "seed": 0,
                   "n_train": 50, "n_valid": 20, "n_test": 30},
    }
    prepare_task("g", task, tmp_path)
    meta = load_task(tmp_path)
    assert meta["targets"] == ["label"] and meta["metrics"] == ["auroc", "aupr"]
    assert meta["n"] == {"train": 50, "valid": 20, "test": 30}
    test = load_split(tmp_path, "test")
    assert list(test.columns[:2]) == ["id", "sequence"] and len(test) == 30
    assert not set(test["id"]) & set(load_split(tmp_path, "train")["id"])


def _table(tmp_path, bad_row=None):
    rows = [(f"r{i}", "ACGT" * 10, i % 3 == 0, float(i), ["train", "valid", "test"][i % 3])
            for i in range(12)]
    df = pd.DataFrame(rows, columns=["id", "seq", "flag", "y", "fold"])
    if bad_row is not None:
        df.loc[bad_row, "seq"] = "ACGTRACGT"
    path = tmp_path / "in.csv"
    df.to_csv(path, index=False)
    return {"kind": "regression", "targets": ["y"],
            "source": {"table": str(path), "sequence_column": "seq", "split_column": "fold"}}


def test_table_task(tmp_path):
    prepare_task("t", _table(tmp_path), tmp_path / "out")
    meta = load_task(tmp_path / "out")
    assert meta["n"] == {"train": 4, "valid": 4, "test": 4}
    assert len(meta["provenance"]["sha256"]) == 64


def test_bad_sequence_names_task_split_row_and_writes_nothing(tmp_path):
    with pytest.raises(SequenceError, match=r"task 't', split 'test', row id 'r5'"):
        prepare_task("t", _table(tmp_path, bad_row=5), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
