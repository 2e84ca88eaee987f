"""An adapter-flanked MPRA library with both orientations of each element (lentiMPRA WTC11:
200-nt elements between fixed 15-nt adapters, the reverse orientation reverse-complemented
between the same adapters), split naively so that orientations straddle train and valid: the
warning, the resplit that keeps orientations together, a user's test file left untouched,
balanced moves, every move logged and counted (docs/semantics.md, Leakage)."""

import numpy as np
import pandas as pd
import pytest

from glmeval.data import leakage
from glmeval.data.sequence import reverse_complement
from glmeval.data.tasks import load_split, prepare_task
from glmeval.vocabulary import SPLITS

ADAPTER_5, ADAPTER_3 = "ACTGGCCGCTTGACG", "CACTGCGGCTCCTGC"  # fixed, never reverse-complemented
N_ELEMENTS, N_TEST_ELEMENTS = 80, 20


def _library(elements: range, rng) -> pd.DataFrame:
    rows = []
    for i in elements:
        element = "".join(rng.choice(list("ACGT"), 200))
        for strand, insert in (("fwd", element), ("rev", reverse_complement(element))):
            rows.append((f"e{i}_{strand}", f"e{i}", ADAPTER_5 + insert + ADAPTER_3))
    frame = pd.DataFrame(rows, columns=["id", "element", "sequence"])
    return frame.assign(activity=rng.normal(size=len(frame)))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """all.csv (elements 0-79, both orientations) to split into train/valid, and the user's
    own test.csv (elements 80-99, and one more copy of element 0's reverse orientation)."""
    root = tmp_path_factory.mktemp("mpra")
    rng = np.random.default_rng(0)
    both = _library(range(N_ELEMENTS), rng)
    test = _library(range(N_ELEMENTS, N_ELEMENTS + N_TEST_ELEMENTS), rng)
    copy = both[both["id"] == "e0_rev"].assign(id="test_e0_rev")
    test = pd.concat([test, copy], ignore_index=True)
    both.to_csv(root / "all.csv", index=False)
    test.to_csv(root / "test.csv", index=False)
    return root


def _task(files, **leakage_settings):
    source = {
        "files": {"train": str(files / "all.csv"), "test": str(files / "test.csv")},
        "random_split": {"valid": 0.25, "seed": 1},  # naive: orientations straddle
    }
    task = {"kind": "regression", "targets": ["activity"], "source": source}
    return task | ({"leakage": leakage_settings} if leakage_settings else {})


def _split_of(out):
    return {i: s for s in SPLITS for i in load_split(out, s)["id"]}


def _straddling(split_of):
    return sum(split_of[f"e{i}_fwd"] != split_of[f"e{i}_rev"] for i in range(N_ELEMENTS))


def test_orientations_are_near_copies_not_reverse_complements():
    rng = np.random.default_rng(1)
    fwd, rev = _library(range(1), rng)["sequence"]
    assert len(fwd) == 230 and rev != reverse_complement(fwd)
    leaks = leakage.find_leaks(
        {
            "train": pd.DataFrame({"id": ["f"], "sequence": [fwd]}),
            "valid": pd.DataFrame({"id": ["r"], "sequence": [rev]}),
            "test": pd.DataFrame(
                {"id": ["x"], "sequence": [_library(range(1), rng)["sequence"][0]]}
            ),
        }
    )
    assert leaks["kind"].tolist() == ["near"] and leaks["jaccard"].iloc[0] > 0.7


def test_a_split_that_separates_orientations_is_warned(files, tmp_path, capsys):
    meta = prepare_task("mpra", _task(files), tmp_path)
    err = capsys.readouterr().err
    straddling = _straddling(_split_of(tmp_path))
    assert straddling > 10  # the naive split separates many elements' orientations
    pairs = meta["leakage"]["pairs"]
    assert pairs["near"]["train-valid"] == straddling
    assert pairs["exact"]["train-valid"] == pairs["reverse_complement"]["train-valid"] == 0
    line = next(line for line in err.splitlines() if line.startswith("warning: task 'mpra'"))
    assert f"{straddling} copies / reverse complements across train/valid" in line
    assert "see docs/semantics.md, Leakage; resplit: " in line and "near" in line
    assert meta["leakage"]["warning"] == line


def test_exact_and_reverse_complement_resplit_cannot_see_adapter_flanked_orientations(
    files, tmp_path
):
    meta = prepare_task("mpra", _task(files, resplit=["exact", "reverse_complement"]), tmp_path)
    # the only exact copy is of a row in the fixed test file: nothing moves
    assert sum(meta["leakage"]["resplit"]["moved_into"].values()) == 0
    assert meta["leakage"]["pairs"]["near"]["train-valid"] > 10
    assert "add ['near'] to leakage.resplit" in meta["leakage"]["warning"]


def test_the_documented_resplit_keeps_orientations_together_and_the_test_file(
    files, tmp_path, capsys
):
    naive = prepare_task("mpra", _task(files), tmp_path / "naive")
    capsys.readouterr()
    settings = {"resplit": ["exact", "reverse_complement", "near"]}  # README, docs/semantics.md
    meta = prepare_task("mpra", _task(files, **settings), tmp_path / "resplit")
    err = capsys.readouterr().err
    split_of = _split_of(tmp_path / "resplit")
    # element 0's group has a row in the fixed test file: it stays, the rest are together
    assert _straddling(split_of) == 0
    assert meta["leakage"]["pairs"]["near"]["train-valid"] == 0
    # the user's test file: the same rows in the same order, nothing moved in or out
    test = pd.read_csv(files / "test.csv")
    written = load_split(tmp_path / "resplit", "test")
    assert written["id"].tolist() == test["id"].tolist()
    assert written["sequence"].tolist() == test["sequence"].tolist()
    resplit = meta["leakage"]["resplit"]
    assert resplit["fixed"] == ["test"] and resplit["unresolved"] == {"groups": 1, "rows": 3}
    assert resplit["moved_into"]["test"] == 0
    assert resplit["moves"]["test->train"] == resplit["moves"]["test->valid"] == 0
    # balanced: every group is a tie, so the splits keep their sizes (no collapse)
    for split in ("train", "valid"):
        assert abs(meta["n"][split] - naive["n"][split]) <= 1
    assert resplit["sizes_before"] == naive["n"]
    # every move logged and counted
    moved = [line for line in err.splitlines() if "resplit moved row" in line]
    n_moved = sum(resplit["moves"].values())
    assert len(moved) == n_moved == sum(resplit["moved_into"].values()) > 10
    assert resplit["groups_moved"] == n_moved  # each group moves one of its two rows
    assert any(
        f"resplit ['exact', 'reverse_complement', 'near'] moved {n_moved} rows" in line
        for line in err.splitlines()
    )
    assert len(resplit["examples"]) == 5 and set(resplit["examples"][0]) == {"id", "from", "to"}
    # the copy across the fixed test file remains, and the warning says why
    assert "fixed split (['test']" in meta["leakage"]["warning"]


def test_ties_no_longer_empty_the_smaller_split():
    """Every valid row has its other orientation in train: ties to train (the old rule) left
    valid empty; ties to the split that has shrunk most keep both sizes."""
    rng = np.random.default_rng(2)
    library = _library(range(40), rng)
    fwd, rev = (
        library[library["id"].str.endswith("fwd")],
        library[library["id"].str.endswith("rev")],
    )
    splits = {
        "train": pd.concat([fwd, rev.iloc[30:]]),
        "valid": rev.iloc[:30],
        "test": _library(range(40, 45), rng),
    }
    leaks = leakage.find_leaks(splits, within=True)
    new, report = leakage.resplit(splits, leaks, ["near"])
    assert report["groups"] == report["groups_moved"] == 30
    assert {s: len(new[s]) for s in SPLITS} == {"train": 50, "valid": 30, "test": 10}
    assert leakage.find_leaks(new).empty


def test_a_majority_group_goes_where_most_of_it_is():
    seq = ADAPTER_5 + "ACGT" * 50 + ADAPTER_3
    splits = {
        "train": pd.DataFrame({"id": ["a", "b"], "sequence": [seq, seq]}),
        "valid": pd.DataFrame(
            {"id": ["c", "d"], "sequence": [seq, ADAPTER_5 + "T" * 200 + ADAPTER_3]}
        ),
        "test": pd.DataFrame({"id": ["e"], "sequence": ["G" * 230]}),
    }
    new, report = leakage.resplit(splits, leakage.find_leaks(splits, within=True), ["exact"])
    assert report["rows"] == [("c", "valid", "train")]
    assert new["train"]["id"].tolist() == ["a", "b", "c"]


def test_a_fixed_split_is_never_changed():
    seq = "ACGT" * 50
    splits = {
        "train": pd.DataFrame({"id": ["a"], "sequence": [seq]}),
        "valid": pd.DataFrame({"id": ["b", "x"], "sequence": ["T" * 200, "G" * 200]}),
        "test": pd.DataFrame({"id": ["c", "d"], "sequence": [seq, seq]}),  # majority in test
    }
    leaks = leakage.find_leaks(splits, within=True)
    new, report = leakage.resplit(splits, leaks, ["exact"], fixed=["test"])
    assert report["rows"] == [] and report["unresolved"] == {"groups": 1, "rows": 3}
    assert new["test"]["id"].tolist() == ["c", "d"]


def test_random_split_of_one_file_beside_a_given_test_file(files, tmp_path):
    meta = prepare_task("mpra", _task(files), tmp_path)
    assert meta["n"] == {"train": 120, "valid": 40, "test": 2 * N_TEST_ELEMENTS + 1}
    assert set(_split_of(tmp_path)) == set(pd.read_csv(files / "all.csv")["id"]) | set(
        pd.read_csv(files / "test.csv")["id"]
    )


def test_random_split_of_the_split_column_s_train_rows(tmp_path):
    rng = np.random.default_rng(3)
    table = _library(range(30), rng).assign(split=["train"] * 50 + ["test"] * 10)
    table.to_csv(tmp_path / "all.csv", index=False)
    source = {"table": str(tmp_path / "all.csv"), "random_split": {"valid": 0.2}}
    task = {"kind": "regression", "targets": ["activity"], "source": source}
    meta = prepare_task("t", task, tmp_path / "out")
    assert meta["n"] == {"train": 40, "valid": 10, "test": 10}
    assert load_split(tmp_path / "out", "test")["id"].tolist() == table["id"][50:].tolist()
    no_column = table.drop(columns="split")
    no_column.to_csv(tmp_path / "bare.csv", index=False)
    task["source"] = {"table": str(tmp_path / "bare.csv"), "random_split": {"valid": 0.2}}
    with pytest.raises(ValueError, match="random_split draws only \\['valid'\\]"):
        prepare_task("t", task, tmp_path / "bare")
