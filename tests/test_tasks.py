import numpy as np
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
    assert [len(h) for h in meta["provenance"]["inputs"].values()] == [64]


def test_bad_sequence_names_task_split_row_and_writes_nothing(tmp_path):
    with pytest.raises(SequenceError, match=r"task 't', split 'test', row id 'r5'"):
        prepare_task("t", _table(tmp_path, bad_row=5), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("tf", ["0", "1", "2"])
def test_gue_per_split_files_as_a_table_task(shared, tmp_path, tf):
    """The real GUE TF data: per-split files (train/dev/test), no id column."""
    gue = shared / "data" / "gue_tf" / tf
    task = {"kind": "binary", "targets": ["label"],
            "source": {"files": {"train": str(gue / "train.csv"), "valid": str(gue / "dev.csv"),
                                 "test": str(gue / "test.csv")}}}
    prepare_task("gue_tf0", task, tmp_path / "out")
    meta = load_task(tmp_path / "out")
    counts = {s: len(pd.read_csv(gue / f)) for s, f in
              (("train", "train.csv"), ("valid", "dev.csv"), ("test", "test.csv"))}
    assert meta["n"] == counts and meta["sequence_length"] == {"min": 101, "max": 101}
    test = pd.read_parquet(tmp_path / "out" / "test.parquet")
    assert test["id"].iloc[0] == "test-0" and set(test["label"]) == {0, 1}


def test_fasta_with_labels_and_random_split(tmp_path):
    rng = np.random.default_rng(1)
    seqs = {f"s{i}": "".join(rng.choice(list("ACGT"), 50)) for i in range(100)}
    (tmp_path / "x.fa").write_text("".join(f">{k}\n{v[:25]}\n{v[25:].lower()}\n" for k, v in seqs.items()))
    pd.DataFrame({"name": list(seqs), "y": rng.normal(size=100)}).to_csv(tmp_path / "y.tsv", sep="\t", index=False)
    source = {"fasta": str(tmp_path / "x.fa"), "labels": str(tmp_path / "y.tsv"), "id_column": "name",
              "random_split": {"valid": 0.1, "test": 0.2, "seed": 3}}
    prepare_task("fa", {"kind": "regression", "targets": ["y"], "source": source}, tmp_path / "a")
    prepare_task("fa", {"kind": "regression", "targets": ["y"], "source": source}, tmp_path / "b")
    assert load_task(tmp_path / "a")["n"] == {"train": 70, "valid": 10, "test": 20}
    a, b = (pd.read_parquet(tmp_path / d / "test.parquet") for d in ("a", "b"))
    assert a.equals(b)  # the seeded split is reproducible
    assert all(seqs[i] == s for i, s in zip(a["id"], a["sequence"]))  # multi-line, upper-cased


def test_split_names_missing_columns_and_invalid_rows(tmp_path):
    df = pd.DataFrame({"id": [f"r{i}" for i in range(9)], "sequence": ["ACGT"] * 9,
                       "y": [1.0] * 9, "split": ["train", "dev", "test"] * 3})
    df.loc[0, "y"] = np.nan
    df.loc[3, "sequence"] = "ACXT"
    df.to_csv(tmp_path / "t.csv", index=False)
    base = {"kind": "regression", "targets": ["y"], "source": {"table": str(tmp_path / "t.csv")}}
    with pytest.raises(ValueError, match=r"split values \['dev'\] .* split_names"):
        prepare_task("t", base, tmp_path / "o")
    base["source"]["split_names"] = {"valid": "dev"}
    with pytest.raises(ValueError, match="row id 'r0': missing target value"):
        prepare_task("t", base, tmp_path / "o")
    assert not (tmp_path / "o" / "task.json").exists()
    prepare_task("t", {**base, "invalid": "drop"}, tmp_path / "o")
    meta = load_task(tmp_path / "o")
    assert meta["dropped"] == {"train": 2} and meta["n"] == {"train": 1, "valid": 3, "test": 3}
    with pytest.raises(ValueError, match=r"missing column\(s\) \['z'\]; it has \['id', 'sequence'"):
        prepare_task("t", {**base, "targets": ["z"]}, tmp_path / "p")
