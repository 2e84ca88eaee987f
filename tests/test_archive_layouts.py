"""Both layouts of the paper's data archive give the same task.

Each test writes a raw-form fixture, derives the paper's derived files from it the way the
paper's preprocessing does (re-implemented here, citing amberT15/LLM_eval at commit 6c53510),
prepares both and compares the prepared rows. Ids differ where the derived file dropped what
they are made of: lentiMPRA `fold{k}-{row}` vs `{split}-{row}` (the folds are concatenated),
splicing `chr1:1001-1150:+` vs `{split}-{row}` (delta_logit.h5 keeps no coordinates). CAGI5
ids match.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from glmeval.data.archive import prepare_lentimpra
from glmeval.data.cagi5 import prepare_cagi5
from glmeval.data.sequence import base_codes
from glmeval.data.splicing import SPLICING_TISSUES, prepare_splicing
from glmeval.data.tasks import load_split
from glmeval.io import read_json
from glmeval.vocabulary import SPLITS

RC = str.maketrans("ACGTN", "TGCAN")
T = len(SPLICING_TISSUES)


def _random_bases(rng, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), n))


def _write_fasta(path, chroms: dict[str, str]) -> None:
    path.write_text("".join(f">{name}\n{seq}\n" for name, seq in chroms.items()))


# --- lentiMPRA ---------------------------------------------------------------------------------


def _onehot_to_seq(x: np.ndarray) -> list[str]:
    """`utils.onehot_to_seq` (data_generation/embedding_generation/utils.py:5-10)."""
    adj = np.sum(x, axis=-1) == 0
    index = np.argmax(x, axis=-1) - adj
    return ["".join(row) for row in np.array(list("ACGTN"))[index]]


def _lentimpra_derived(raw, out) -> None:
    """`lenti_MPRA_preprocess.py:10-59`: folds 1-8 / 9 / 10 stacked, x as float32, seq decoded,
    y as an (N, 1) column."""
    folds = {"train": range(1, 9), "valid": [9], "test": [10]}
    with h5py.File(raw) as f, h5py.File(out, "w") as g:
        for split, ks in folds.items():
            x = np.vstack([f[f"{k}_x"][:] for k in ks]).astype(np.float32)  # :22-35
            y = np.expand_dims(np.concatenate([f[f"{k}_y"][:] for k in ks]), axis=1)  # :42-44
            g.create_dataset(f"onehot_{split}", data=x)  # :51-53
            g.create_dataset(f"seq_{split}", data=_onehot_to_seq(x))  # :36, :54-56
            g.create_dataset(f"y_{split}", data=y)  # :57-59


def test_lentimpra_raw_and_derived_match(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path / "raw" / "data" / "lenti_MPRA" / "lentiMPRA_HepG2.h5"
    raw.parent.mkdir(parents=True)
    sizes = {k: 1 + k % 3 for k in range(1, 11)}
    with h5py.File(raw, "w") as f:
        for k, n in sizes.items():
            seqs = [_random_bases(rng, 230) for _ in range(n)]
            seqs[0] = seqs[0][:100] + "N" * 5 + seqs[0][105:]  # N: all four channels 0
            f.create_dataset(f"{k}_x", data=np.eye(5, 4)[[base_codes(s) for s in seqs]])
            f.create_dataset(f"{k}_y", data=rng.normal(size=n))
    derived = tmp_path / "derived" / "data" / "lenti_MPRA" / "HepG2_data.h5"
    derived.parent.mkdir(parents=True)
    _lentimpra_derived(raw, derived)
    missing_raw = derived.with_name(raw.name)  # the configured path, absent in this archive
    out = {
        form: prepare_lentimpra("lenti", {"h5": str(h5)}, tmp_path / form)
        for form, h5 in [("raw", raw), ("derived", missing_raw), ("named", derived)]
    }
    assert out["raw"]["provenance"]["form"] == "raw"
    assert out["raw"]["provenance"]["h5"] == str(raw)
    for form in ("derived", "named"):  # found beside the raw path, or named by the source
        assert out[form]["provenance"]["form"] == "derived"
        assert out[form]["provenance"]["h5"] == str(derived)
        assert set(out[form]["provenance"]["layout"]) == {f"onehot_{s}" for s in SPLITS}
        assert out[form]["n"] == out["raw"]["n"]
    for split in SPLITS:
        a, b = (load_split(tmp_path / form, split) for form in ("raw", "derived"))
        assert a["sequence"].tolist() == b["sequence"].tolist()
        np.testing.assert_array_equal(a["activity"], b["activity"])
        assert b["id"].tolist() == [f"{split}-{row}" for row in range(len(b))]
        assert a["id"].str.startswith("fold").all()
    with h5py.File(derived) as f:  # the paper's seq_ strings decode like the one-hot
        assert [s.decode() for s in f["seq_test"][()]] == a["sequence"].tolist()


# --- splicing ----------------------------------------------------------------------------------

EXONS = {  # chrom, exon_start, exon_end (1-based inclusive), strand, PSI (percent; -1, None missing)
    "train": [
        ("chr1", 1001, 1150, "+", [100, 0, 50, -1] + [80] * (T - 4)),
        ("chr1", 2001, 2150, "-", [None] + [60] * (T - 1)),
    ],
    "valid": [("chr2", 1001, 1300, "+", [30] * T)],
    "test": [
        ("chr2", 501, 700, "+", [50] * 11 + [90] + [-1] * (T - 12)),  # variable: kept
        ("chr2", 901, 1000, "-", [50] * T),  # not variable: dropped
        ("chr2", 2001, 2100, "+", [20] * 9 + [80] + [-1] * (T - 10)),  # kept
    ],
}


def _logit(x):
    """`mt_preprocess.logit` / `clip` (mt_preprocess.py:147-152)."""
    x = np.clip(x, 1e-5, 1 - 1e-5)
    return np.log(x) - np.log(1 - x)


def _encode_dna(seq: str) -> np.ndarray:
    """kipoi `encodeDNA` of one sequence of its own length: A, C, G, T one-hot, N all zeros,
    float64 (sequence.py:83-92, 145-197)."""
    x = np.zeros((len(seq), 4))
    for i, base in enumerate(seq):
        if base != "N":
            x[i, "ACGT".index(base)] = 1
    return x


def _splicing_derived(csvs: dict, chroms: dict, out) -> None:
    """`mtsplice_data.ipynb` cell 2 over `mt_preprocess.Ascot(length=400, flanking=300,
    pad_trim_same_l=False, seq_align='both', mean_inpute=False, use_logit=True)`."""
    with h5py.File(out, "w") as f:
        for split, path in csvs.items():
            exons = pd.read_csv(path, index_col=0)  # read_exon, mt_preprocess.py:212-229
            psi = exons[list(SPLICING_TISSUES)].to_numpy(dtype=float)
            psi[psi == -1] = np.nan
            m = np.nanmean(psi, axis=1)[:, np.newaxis]
            if np.mean(m) > 1:
                psi, m = psi / 100.0, m / 100.0
            xs, ys = [], []
            for i, exon in enumerate(exons.itertuples()):
                # get_seq(exon_start - 300, exon_end + 300, strand == '-'), 1-based inclusive
                # (mt_preprocess.py:275-279), reverse-complemented on the minus strand
                seq = chroms[exon.chrom][exon.exon_start - 301 : exon.exon_end + 300]
                seq = seq.translate(RC)[::-1] if exon.strand == "-" else seq
                # seql / seqr: trimmed to 400 from the start / the end (:309-313,
                # sequence.py:349-356)
                xs.append(np.concatenate([_encode_dna(seq[:400]), _encode_dna(seq[-400:])]))
                mean = np.repeat(_logit(m[i]), 56)  # mt_preprocess.py:327
                target = _logit(psi[i]) - mean  # notebook cell 2: target - mean
                ys.append(np.vstack((target, mean)).T)  # (56, 2)
            f.create_dataset(f"x_{split}", data=np.array(xs))
            f.create_dataset(f"y_{split}", data=np.array(ys))


def test_splicing_raw_and_derived_match(tmp_path):
    rng = np.random.default_rng(1)
    chroms = {"chr1": _random_bases(rng, 3000), "chr2": _random_bases(rng, 3000)}
    data = tmp_path / "raw" / "data"
    (data / "mtsplice").mkdir(parents=True)
    _write_fasta(tmp_path / "hg38.fa", chroms)
    csvs = {}
    for split, exons in EXONS.items():
        rows = [
            {"chrom": c, "exon_start": s, "exon_end": e, "intron_start": s - 400,
             "intron_end": e + 400, "strand": strand, "exon_id": f"GT_{i}", "gene_id": f"G{i}",
             **dict(zip(SPLICING_TISSUES, psi))}
            for i, (c, s, e, strand, psi) in enumerate(exons)
        ]  # fmt: skip
        csvs[split] = data / "mtsplice" / f"gtex_{split}_psi.csv"
        pd.DataFrame(rows).to_csv(csvs[split])  # an index column first, as read_exon expects
    derived = tmp_path / "derived" / "data" / "alternative_splicing" / "delta_logit.h5"
    derived.parent.mkdir(parents=True)
    _splicing_derived(csvs, chroms, derived)

    def source(root):
        files = {s: str(root / "data" / "mtsplice" / f"gtex_{s}_psi.csv") for s in SPLITS}
        return {"splicing": files, "genome": str(tmp_path / "hg38.fa")}

    out = {
        form: prepare_splicing("splicing", source(tmp_path / form), tmp_path / f"out_{form}")
        for form in ("raw", "derived")
    }
    assert out["raw"]["provenance"]["form"] == "raw"
    assert out["derived"]["provenance"]["form"] == "derived"
    assert list(out["derived"]["provenance"]["inputs"]) == [str(derived)]
    assert out["raw"]["n"] == out["derived"]["n"] == {"train": 2, "valid": 1, "test": 2}
    columns = ["left", "right", "mean_logit", *SPLICING_TISSUES]
    for split in SPLITS:
        a, b = (load_split(tmp_path / f"out_{form}", split) for form in ("raw", "derived"))
        pd.testing.assert_frame_equal(a[columns], b[columns])
    assert load_split(tmp_path / "out_derived", "test")["id"].tolist() == ["test-0", "test-2"]
    assert load_split(tmp_path / "out_raw", "test")["id"].tolist() == [
        "chr2:501-700:+",
        "chr2:2001-2100:+",
    ]


# --- CAGI5 -------------------------------------------------------------------------------------

L = 20  # window length


def _cagi_derived(raw_dir, genome: dict, out_dir, order) -> None:
    """`CAGI_seq.ipynb` cells 1-6 at window L: TSVs combined in directory order (`order`, as
    os.listdir gives them), windows [pos - L/2, pos + L/2) dropped when they start at <= 0
    (gopher `expand_range`), cut on the + strand (bedtools getfasta -s, upper-cased), rows whose
    base at L/2 - 1 is not Ref dropped; one-hot float16 with N as 0.25 (gopher `dna_one_hot`)."""
    parts = []
    for name in order:  # cell 1
        prefix, regulator = name.split(".tsv")[0].split("_")
        one = pd.read_csv(raw_dir / name, skiprows=7, sep="\t", header=None)
        one["regulator"], one["set"] = regulator, prefix
        parts.append(one)
    bed = pd.concat(parts)
    bed.insert(4, "strand", "+")
    bed.insert(2, "end", bed.iloc[:, 1] + 1)
    # combined_cagi.bed is written without header or index and read back: columns 0..9
    bed = bed.set_axis(range(bed.shape[1]), axis=1).reset_index(drop=True)
    bed[0] = "chr" + bed[0].astype(str)
    half = round(L / 2)  # cell 2: expand_range
    bed[1], bed[2] = bed[1] - half, bed[1] + half
    bed = bed[bed[1] > 0].reset_index(drop=True)
    ref, alt, bad = [], [], []
    for i, row in bed.iterrows():  # cells 3-4
        seq = genome[row[0]][row[1] : row[2]].upper()
        code = np.zeros((L, 4), dtype="float16")
        for j, base in enumerate(seq):
            if base in "ACGT":
                code[j, "ACGT".index(base)] = 1
            else:
                code[j, :] = 0.25
        if seq[L // 2 - 1] != row[3]:
            bad.append(i)
            continue
        mutated = code.copy()
        mutated[L // 2 - 1] = np.eye(4, dtype="float16")["ACGT".index(row[4])]
        ref.append(code)
        alt.append(mutated)
    out_dir.mkdir(parents=True)
    bed[~bed.index.isin(bad)].to_csv(out_dir / "final_cagi_metadata.csv")  # cell 5
    with h5py.File(out_dir / "CAGI_onehot.h5", "w") as f:  # cell 6
        f.create_dataset("ref", data=np.array(ref))
        f.create_dataset("alt", data=np.array(alt))


def _write_tsv(path, rows) -> None:
    """Six `##` lines and the `#Chrom ...` header: the 7 lines the paper skips."""
    head = [f"##{c}\tdescription" for c in ("Chrom", "Pos", "Ref", "Alt", "Value", "Confidence")]
    lines = [*head, "#Chrom\tPos\tRef\tAlt\tValue\tConfidence"]
    lines += ["\t".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def test_cagi5_raw_and_derived_match(tmp_path):
    rng = np.random.default_rng(2)
    chrom = list(_random_bases(rng, 300))
    chrom[103] = "N"  # inside the windows of the E1 variants
    genome = {"chr1": "".join(chrom)}
    _write_fasta(tmp_path / "hg19.fa", genome)
    raw_dir = tmp_path / "raw" / "data" / "CAGI" / "raw"
    raw_dir.mkdir(parents=True)
    other = {b: next(a for a in "TGCA" if a != b) for b in "ACGT"}

    def variants(positions, wrong=()):  # (chrom, pos, ref, alt, value, confidence)
        rows = []
        for pos in positions:
            ref = genome["chr1"][pos - 1]
            ref = other[ref] if pos in wrong else ref  # a reference mismatch
            rows.append(("1", pos, ref, other[ref], round(rng.normal(), 2), 0.5))
        return rows

    _write_tsv(raw_dir / "challenge_E1.tsv", variants([100, 101, 102], wrong=[101]))
    _write_tsv(raw_dir / "release_E1.tsv", variants([105, 106]))
    _write_tsv(raw_dir / "challenge_E2.tsv", variants([200, 203, 207]))
    pd.DataFrame(
        {"regulatory_element": ["E1", "E2"], "ref_sequence": ["ACGT", "ACGT"], "start_pos": [0, 0]}
    ).to_csv(raw_dir / "elements.csv", index=False)
    order = ["release_E1.tsv", "challenge_E2.tsv", "challenge_E1.tsv"]  # not sorted
    derived = tmp_path / "derived" / "data" / "CAGI" / str(L)
    _cagi_derived(raw_dir, genome, derived, order)

    out = {}
    for form in ("raw", "derived"):
        cagi5 = tmp_path / form / "data" / "CAGI" / "raw"
        genome_fa = str(tmp_path / "hg19.fa")
        source = {"cagi5": str(cagi5), "context": "genome", "length": L, "genome": genome_fa}
        out[form] = prepare_cagi5("cagi", source, tmp_path / f"out_{form}")
    raw, der = out["raw"]["provenance"], out["derived"]["provenance"]
    assert raw["form"] == "raw" and "genome_sha256" in raw
    assert der["form"] == "derived" and "genome" not in der
    assert der["cagi5"] == str(derived) and set(der["sha256"]) == {
        "CAGI_onehot.h5",
        "final_cagi_metadata.csv",
    }
    assert out["raw"]["excluded"]["ref_mismatch"] == 1 and der["rows_dropped_upstream"] == 1
    assert not any(out["derived"]["excluded"].values())
    assert out["raw"]["n"] == out["derived"]["n"] == 7
    a, b = (pd.read_parquet(tmp_path / f"out_{form}" / "variants.parquet") for form in out)
    pd.testing.assert_frame_equal(a, b)  # ids, keys, effects, windows: all the same
    assert a["ref_sequence"].str.contains("N").any()  # gopher's 0.25 is read back as N
    assert read_json(tmp_path / "out_derived" / "task.json")["length"] == L


def test_neither_layout_names_what_was_looked_for(tmp_path):
    (tmp_path / "data" / "lenti_MPRA").mkdir(parents=True)
    (tmp_path / "data" / "lenti_MPRA" / "readme.txt").write_text("")
    h5 = tmp_path / "data" / "lenti_MPRA" / "lentiMPRA_K562.h5"
    with pytest.raises(FileNotFoundError) as err:
        prepare_lentimpra("lenti", {"h5": str(h5)}, tmp_path / "out")
    message = str(err.value)
    assert "neither layout" in message and f"raw: {h5}" in message
    assert f"derived: {h5.with_name('K562_data.h5')}" in message
    assert "holds ['readme.txt']" in message
    source = {"cagi5": str(tmp_path / "data" / "CAGI" / "raw"), "context": "genome", "length": 8}
    with pytest.raises(FileNotFoundError, match=r"CAGI/8/CAGI_onehot\.h5.*holds \['lenti_MPRA/'\]"):
        prepare_cagi5("cagi", source, tmp_path / "out")
