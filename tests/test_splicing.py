import json
import math

import numpy as np
import pandas as pd
import pytest

from glmeval.data.sequence import reverse_complement
from glmeval.data.splicing import SPLICING_TISSUES, prepare_splicing
from glmeval.data.tasks import load_split

T = len(SPLICING_TISSUES)
# Markers planted in chr1 (0-based start): window edges and exon edges of the two train exons.
MARKERS = {
    700: "AAAACCCCGGGG",  # plus exon 1001-1150: first base of its window (1-based 701)
    1000: "CCCCAAAATTTT",  # its first exon base
    1138: "GGGGTTTTAAAC",  # ends at its last exon base (0-based 1149)
    1438: "TTTTGGGGCCCA",  # ends at its window's last base (1-based 1450)
    2000: "ACACACGTGTGT",  # minus exon 2001-2150: its genomic first exon base
    2138: "CAGTCAGTCAGT",  # ends at its genomic last exon base (0-based 2149)
}
TRAIN = [
    ("1", 1001, 1150, "+", [100, 0, 50, -1] + [80] * (T - 4)),  # percent PSI
    ("1", 2001, 2150, "-", [None] + [60] * (T - 1)),
]
VALID = [("2", 1001, 1300, "+", [30] * T)]
TEST = [  # fraction PSI
    ("2", 501, 700, "+", [0.5] * 11 + [0.9] + [-1] * (T - 12)),  # variable, 12 observed: kept
    ("2", 901, 1000, "+", [0.5] * T),  # not variable: dropped
    ("2", 1501, 1600, "-", [0.5] * 8 + [0.95] + [None] * (T - 9)),  # 9 observed: dropped
    ("2", 2001, 2100, "+", [0.2] * 9 + [0.8] + [-1] * (T - 10)),  # 10 observed, gap .54: kept
]


def _genome(path, prefix="chr"):
    rng = np.random.default_rng(0)
    chroms = {c: "".join(rng.choice(list("ACGT"), n)) for c, n in [("1", 4000), ("2", 3000)]}
    seq = list(chroms["1"])
    for at, marker in MARKERS.items():
        seq[at : at + len(marker)] = marker
    chroms["1"] = "".join(seq)
    with open(path, "w") as fh:
        for c, s in chroms.items():
            lines = "\n".join(s[i : i + 60] for i in range(0, len(s), 60))
            fh.write(f">{prefix}{c}\n{lines}\n")
    return chroms


def _psi_csv(path, exons, prefix="chr"):
    """Columns as `mt_preprocess.Ascot.read_exon` reads them (index column first)."""
    rows = [
        {"chrom": f"{prefix}{c}", "exon_start": s, "exon_end": e, "intron_start": s - 400,
         "intron_end": e + 400, "strand": strand, "exon_id": f"GT_{i}", "gene_id": f"G{i}",
         **dict(zip(SPLICING_TISSUES, psi))}
        for i, (c, s, e, strand, psi) in enumerate(exons)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(path)


def _source(tmp_path, splits=None, fasta_prefix="chr", csv_prefix="chr"):
    splits = splits or {"train": TRAIN, "valid": VALID, "test": TEST}
    genome = tmp_path / "hg38.fa"
    chroms = _genome(genome, fasta_prefix)
    psi = {}
    for split, exons in splits.items():
        psi[split] = tmp_path / f"gtex_{split}_psi.csv"
        _psi_csv(psi[split], exons, csv_prefix)
    return {"splicing": psi, "genome": str(genome)}, chroms


@pytest.fixture
def task(tmp_path):
    source, chroms = _source(tmp_path)
    meta = prepare_splicing("splicing", source, tmp_path / "out")
    return meta, chroms, {s: load_split(tmp_path / "out", s) for s in ("train", "valid", "test")}


def _logit(p):
    p = min(max(p, 1e-5), 1 - 1e-5)
    return math.log(p) - math.log(1 - p)


def test_plus_strand_windows(task):
    _, chroms, splits = task
    row = splits["train"].set_index("id").loc["chr1:1001-1150:+"]
    g = chroms["1"]
    assert row["left"] == g[700:1100] and row["right"] == g[1050:1450]
    assert row["left"][0:12] == MARKERS[700]  # 300 nt of upstream intron ...
    assert row["left"][300:312] == MARKERS[1000]  # ... then the exon's first 100 nt
    assert row["right"][88:100] == MARKERS[1138]  # the exon's last 100 nt ...
    assert row["right"][-12:] == MARKERS[1438]  # ... then 300 nt of downstream intron


def test_minus_strand_reverse_complement_and_swap(task):
    _, chroms, splits = task
    row = splits["train"].set_index("id").loc["chr1:2001-2150:-"]
    g = chroms["1"]
    assert row["left"] == reverse_complement(g[2050:2450])  # from the genomic right end
    assert row["right"] == reverse_complement(g[1700:2100])
    assert row["left"][300:312] == reverse_complement(MARKERS[2138])  # transcript exon start
    assert row["right"][88:100] == reverse_complement(MARKERS[2000])  # transcript exon end


def test_delta_logit_targets(task):
    meta, _, splits = task
    train = splits["train"].set_index("id")
    m = (100 + 0 + 50 + 80 * (T - 4)) / (T - 1) / 100  # -1 is missing; percent -> fraction
    plus = train.loc["chr1:1001-1150:+"]
    assert plus["mean_logit"] == pytest.approx(_logit(m))
    expected = [_logit(1.0), _logit(0.0), _logit(0.5)] + [_logit(0.8)] * (T - 4)
    got = plus[list(SPLICING_TISSUES)].to_numpy(float)
    assert np.isnan(got[3])
    np.testing.assert_allclose(np.delete(got, 3), np.array(expected) - _logit(m), rtol=1e-12)
    minus = train.loc["chr1:2001-2150:-"][list(SPLICING_TISSUES)].to_numpy(float)
    assert np.isnan(minus[0]) and np.allclose(minus[1:], 0)
    assert meta["provenance"]["psi_scale"] == {
        "train": "percent", "valid": "percent", "test": "fraction"
    }  # fmt: skip


def test_variable_exon_filter_on_test_only(task):
    meta, _, splits = task
    assert list(splits["test"]["id"]) == ["chr2:501-700:+", "chr2:2001-2100:+"]
    assert len(splits["valid"]) == 1  # flat, but only the test split is filtered
    assert meta["provenance"]["test_filter"]["n_before"] == 4
    assert meta["n"] == {"train": 2, "valid": 1, "test": 2}


def test_task_json(task, tmp_path):
    meta, _, splits = task
    assert json.loads((tmp_path / "out" / "task.json").read_text()) == meta
    assert meta["kind"] == "multitask_regression" and meta["sequence_columns"] == ["left", "right"]
    assert meta["targets"] == list(SPLICING_TISSUES) and T == 56
    assert meta["targets_may_be_missing"] and meta["target_offset"] == "mean_logit"
    assert meta["sequence_length"] == {"min": 400, "max": 400}
    ids = pd.concat([splits[s]["id"] for s in splits])
    assert ids.is_unique


@pytest.mark.parametrize("fasta_prefix,csv_prefix", [("", "chr"), ("chr", ""), ("", "")])
def test_chromosome_naming(tmp_path, task, fasta_prefix, csv_prefix):
    (tmp_path / "v").mkdir()
    source, _ = _source(tmp_path / "v", fasta_prefix=fasta_prefix, csv_prefix=csv_prefix)
    prepare_splicing("splicing", source, tmp_path / "v" / "out")
    for split, expected in task[2].items():
        pd.testing.assert_frame_equal(load_split(tmp_path / "v" / "out", split), expected)


def test_missing_column_names_file_and_found_columns(tmp_path):
    source, _ = _source(tmp_path)
    path = source["splicing"]["valid"]
    pd.read_csv(path).drop(columns=["strand", "Liver"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"gtex_valid_psi\.csv: missing column\(s\) "
                       r"\['strand', 'Liver'\]; it has \[.*'exon_start'"):  # fmt: skip
        prepare_splicing("splicing", source, tmp_path / "out")


@pytest.mark.parametrize("start,end", [(150, 200), (3701, 3750), (1300, 1200)])
def test_window_off_the_chromosome_is_an_error(tmp_path, start, end):
    splits = {"train": TRAIN + [("1", start, end, "+", [50] * T)], "valid": VALID, "test": TEST}
    source, _ = _source(tmp_path, splits)
    with pytest.raises(ValueError, match=rf"gtex_train_psi\.csv: exon chr1:{start}-{end}:\+.*"
                       r"chr1 \(1-4000\)"):  # fmt: skip
        prepare_splicing("splicing", source, tmp_path / "out")


def test_unknown_chromosome(tmp_path):
    splits = {"train": TRAIN + [("7", 1001, 1100, "+", [50] * T)], "valid": VALID, "test": TEST}
    source, _ = _source(tmp_path, splits)
    with pytest.raises(ValueError, match=r"chromosome 'chr7' is not in .*hg38\.fa"):
        prepare_splicing("splicing", source, tmp_path / "out")


def test_exon_without_observed_psi(tmp_path):
    splits = {"train": TRAIN + [("2", 1001, 1100, "+", [-1] * T)], "valid": VALID, "test": TEST}
    source, _ = _source(tmp_path, splits)
    with pytest.raises(ValueError, match=r"exon chr2:1001-1100:\+ has no observed PSI"):
        prepare_splicing("splicing", source, tmp_path / "out")
    meta = prepare_splicing("splicing", source, tmp_path / "out", invalid="drop")
    assert meta["dropped"] == {"train": 1} and meta["n"]["train"] == 2
