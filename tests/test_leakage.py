"""The leakage audit of a task's splits (glmeval.data.leakage) and its task.json report."""

import numpy as np
import pandas as pd
import pytest

from glmeval.data import leakage
from glmeval.data.sequence import reverse_complement
from glmeval.data.tasks import load_split, load_task, prepare_task


def _random(rng, n, length=120):
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def _mutated(rng, seq, n_changes):
    seq = list(seq)
    for i in rng.choice(len(seq), n_changes, replace=False):
        seq[i] = "ACGT"[("ACGT".index(seq[i]) + 1) % 4]
    return "".join(seq)


@pytest.fixture
def planted():
    """Random train/valid/test sequences with planted copies across splits: 3 exact, 4 reverse
    complements (as lentiMPRA ships both orientations), 2 near copies (2 substitutions), one
    far copy (30 substitutions, not a near-duplicate) and a palindrome."""
    rng = np.random.default_rng(0)
    train, valid, test = _random(rng, 200), _random(rng, 50), _random(rng, 50)
    test[:3] = train[:3]
    valid[:2] = [reverse_complement(s) for s in train[10:12]]
    test[10:12] = [reverse_complement(s) for s in valid[20:22]]
    test[20:22] = [_mutated(rng, s, 2) for s in train[30:32]]
    test[30] = _mutated(rng, train[40], 30)
    half = train[50][:60]
    train[50] = half + reverse_complement(half)  # its own reverse complement: no leak
    return {
        name: pd.DataFrame({"id": [f"{name}{i}" for i in range(len(seqs))], "sequence": seqs})
        for name, seqs in (("train", train), ("valid", valid), ("test", test))
    }


def test_every_planted_copy_is_found_and_nothing_else(planted):
    leaks = leakage.find_leaks(planted)
    found = set(zip(leaks["kind"], leaks["id_a"], leaks["id_b"]))
    assert found == {
        ("exact", "train0", "test0"),
        ("exact", "train1", "test1"),
        ("exact", "train2", "test2"),
        ("reverse_complement", "train10", "valid0"),
        ("reverse_complement", "train11", "valid1"),
        ("reverse_complement", "valid20", "test10"),
        ("reverse_complement", "valid21", "test11"),
        ("near", "train30", "test20"),
        ("near", "train31", "test21"),
    }
    near = leaks[leaks["kind"] == "near"]["jaccard"]
    assert ((near >= 0.5) & (near < 1)).all()
    summary = leakage.summarize(leaks)
    assert summary["pairs"]["exact"] == {"train-valid": 0, "train-test": 3, "valid-test": 0}
    assert summary["pairs"]["reverse_complement"]["valid-test"] == 2
    assert summary["rows_with_a_copy_elsewhere"] == {"train": 7, "valid": 4, "test": 7}


def test_canonical_kmers_are_strand_blind():
    rng = np.random.default_rng(1)
    seq = _random(rng, 1, 80)[0]
    np.testing.assert_array_equal(
        leakage.canonical_kmers(seq, 16), leakage.canonical_kmers(reverse_complement(seq), 16)
    )
    assert len(leakage.canonical_kmers("ACGTN" * 4, 5)) == 0  # every 5-mer holds the N
    assert len(leakage.canonical_kmers("ACG", 16)) == 0


def test_resplit_keeps_each_group_of_copies_on_one_side(planted):
    leaks = leakage.find_leaks(planted)
    splits, moved = leakage.resplit(planted, leaks)
    # every group is a tie (one row on each side): each goes to the tied split that has shrunk
    # most so far, so the splits keep their sizes
    assert moved["moved_into"] == {"train": 3, "valid": 2, "test": 2}
    assert moved["moves"]["test->train"] == 2 and moved["groups"] == moved["groups_moved"] == 7
    assert all(abs(len(splits[s]) - len(planted[s])) <= 1 for s in planted)
    assert len(moved["rows"]) == 7 and moved["unresolved"] == {"groups": 0, "rows": 0}
    assert sum(map(len, splits.values())) == sum(map(len, planted.values()))
    after = leakage.find_leaks(splits)
    assert set(after["kind"]) == {"near"}  # near copies stay unless asked


def test_task_json_reports_the_audit_and_resplit_moves_the_copies(planted, tmp_path):
    table = pd.concat([df.assign(split=s, y=0.5) for s, df in planted.items()])
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)
    task = {"kind": "regression", "targets": ["y"], "source": {"table": str(path)}}
    task["leakage"] = {"examples": 2}
    meta = prepare_task("t", task, tmp_path / "audited")
    assert meta["leakage"]["pairs"]["near"]["train-test"] == 2
    assert meta["leakage"]["settings"]["k"] == 16
    assert len(meta["leakage"]["examples"]["exact"]) == 2  # of the 3 exact copies
    assert load_task(tmp_path / "audited") == meta
    task["leakage"] = {"resplit": ["exact", "reverse_complement", "near"], "k": 12}
    meta = prepare_task("t", task, tmp_path / "resplit")
    assert meta["leakage"]["resplit"]["before"]["exact"]["train-test"] == 3
    assert meta["leakage"]["resplit"]["moved_into"] == {"train": 4, "valid": 2, "test": 3}
    assert all(n == 0 for kind in meta["leakage"]["pairs"].values() for n in kind.values())
    assert meta["n"] == {"train": 201, "valid": 50, "test": 49}  # ties keep the sizes
    assert "warning" not in meta["leakage"]
    split_of = {
        i: s for s in ("train", "valid", "test") for i in load_split(tmp_path / "resplit", s)["id"]
    }
    assert split_of["train30"] == split_of["test20"]  # a near copy and its original
