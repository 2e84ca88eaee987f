from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from glmeval.data.variants import (
    REASONS,
    RowSequences,
    make_windows,
    prepare_variants,
    read_variant_table,
    read_vcf,
)
from glmeval.io import read_json, sha256_of

L = 20  # window length: the variant sits at index 9
META = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=200>", "##source=toy"]
HEADER = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1"


def _random_bases(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


def _other(base: str, skip: str = "") -> str:
    return next(b for b in "ACGT" if b not in base.upper() + skip.upper())


@pytest.fixture
def genome(tmp_path):
    """FASTA names `1` (200 bases, positions 91-110 soft-masked) and `2` (200 bases with an N
    at 0-based 45 and an IUPAC R at 0-based 145); the VCF says chr1 / chr2."""
    one = _random_bases(200, seed=1)
    one = one[:90] + one[90:110].lower() + one[110:]
    two = _random_bases(200, seed=2)
    two = two[:45] + "N" + two[46:145] + "R" + two[146:]
    path = tmp_path / "genome.fa"
    with open(path, "w") as fh:
        for name, seq in (("1", one), ("2", two)):
            fh.write(f">{name}\n")
            fh.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    return path, {"chr1": one, "chr2": two}


def _records(seqs: dict[str, str]) -> list[tuple]:
    """(CHROM, POS, ID, REF, ALT, expected reasons per ALT allele: None = kept)."""
    one, two = seqs["chr1"], seqs["chr2"]
    base = {p: one[p - 1] for p in range(1, 201)}
    return [
        ("chr1", 50, "rs1", base[50], _other(base[50]), [None]),
        (
            "chr1",
            60,
            ".",
            base[60],
            f"{_other(base[60])},{_other(base[60], _other(base[60]))}",
            [None, None],
        ),
        ("chr1", 70, "del", base[70] + base[71], base[70], ["not_snv"]),
        ("chr1", 80, "bad", _other(base[80]), base[80], ["ref_mismatch"]),
        ("chr1", 5, "left", base[5], _other(base[5]), ["window_off_end"]),
        ("chr1", 195, "right", base[195], _other(base[195]), ["window_off_end"]),
        ("chr9", 50, "chr9", "A", "C", ["unknown_chrom"]),
        ("chr1", 90, "sv", base[90], "<DEL>", ["not_snv"]),
        ("chr1", 100, "soft", base[100], f"{_other(base[100])},*", [None, "not_snv"]),
        ("chr1", 110, "nalt", base[110], "N", ["non_acgt"]),
        ("chr1", 120, "same", base[120], base[120], ["not_snv"]),
        ("chr2", 50, "nwin", two[49], _other(two[49]), [None]),
        ("chr2", 150, "iupac", two[149], _other(two[149]), ["non_acgt"]),
        ("chr1", 50, "rs1dup", base[50], _other(base[50]), [None]),
    ]


def _write_vcf(path, records, gz=False):
    lines = [*META, HEADER]
    lines += [f"{c}\t{p}\t{i}\t{r}\t{a}\t50\tPASS\tDP=10\tGT\t0/1" for c, p, i, r, a, _ in records]
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)


def _expected(records) -> list[tuple]:
    """(CHROM, POS, REF, ALT, reason) per ALT allele, in input order."""
    return [
        (c, p, r, a, why)
        for c, p, _, r, alts, whys in records
        for a, why in zip(alts.split(","), whys)
    ]


def test_read_vcf_splits_alleles_and_drops_samples(genome, tmp_path):
    _, seqs = genome
    records = _records(seqs)
    _write_vcf(tmp_path / "toy.vcf", records)
    table = read_vcf(tmp_path / "toy.vcf")
    assert list(table.columns) == ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    assert [tuple(r) for r in table[["CHROM", "POS", "REF", "ALT"]].itertuples(index=False)] == [
        e[:4] for e in _expected(records)
    ]
    assert table["POS"].dtype == "int64" and table.at[0, "ID"] == "rs1"
    _write_vcf(tmp_path / "toy.vcf.gz", records, gz=True)
    pd.testing.assert_frame_equal(read_vcf(tmp_path / "toy.vcf.gz"), table)


@pytest.mark.parametrize("gz", [False, True])
def test_prepare_vcf_keeps_scorable_and_reports_the_rest(genome, tmp_path, gz):
    fasta, seqs = genome
    records = _records(seqs)
    vcf = tmp_path / ("toy.vcf.gz" if gz else "toy.vcf")
    _write_vcf(vcf, records, gz=gz)
    out = tmp_path / "out"
    meta = prepare_variants("toy", {"vcf": str(vcf), "genome": str(fasta), "length": L}, out)
    expected = _expected(records)
    kept_keys = [e[:4] for e in expected if e[4] is None]
    table = pd.read_parquet(out / "variants.parquet")
    assert list(table.columns) == [
        "id",
        "CHROM",
        "POS",
        "REF",
        "ALT",
        "chrom",
        "pos",
        "ref",
        "alt",
        "variant_index",
        "ref_sequence",
        "alt_sequence",
        "ID",
        "QUAL",
        "FILTER",
        "INFO",
    ]
    assert [tuple(r) for r in table[["CHROM", "POS", "REF", "ALT"]].itertuples(index=False)] == (
        kept_keys
    )
    ids = [f"{c}:{p}:{r}>{a}" for c, p, r, a in kept_keys]
    ids[-1] += "#2"  # the duplicated chr1:50 record
    assert table["id"].tolist() == ids
    assert set(table["chrom"]) == {"1", "2"} and (table["variant_index"] == L // 2 - 1).all()
    for row in table.itertuples():
        genome_seq = seqs["chr" + row.chrom]
        assert row.ref_sequence == genome_seq[row.pos - L // 2 : row.pos + L // 2].upper()
        assert row.ref_sequence[row.variant_index] == row.REF.upper() == row.ref
        diff = [i for i, (a, b) in enumerate(zip(row.ref_sequence, row.alt_sequence)) if a != b]
        assert diff == [row.variant_index] and row.alt_sequence[row.variant_index] == row.alt
    assert "N" in table.set_index("ID").at["nwin", "ref_sequence"]  # N in the window: kept
    excluded = pd.read_csv(out / "exclusions.tsv", sep="\t", keep_default_na=False)
    assert list(excluded.columns) == ["id", "CHROM", "POS", "REF", "ALT", "reason", "detail"]
    assert [(*r[1:5], r[5]) for r in excluded.itertuples(index=False)] == [
        e for e in expected if e[4] is not None
    ]
    detail = excluded.set_index("reason")["detail"]
    assert detail["unknown_chrom"] == "no sequence 'chr9' (nor with/without 'chr') in genome.fa"
    assert detail["ref_mismatch"].startswith("1:80: expected ")
    assert "'R' at index 5" in detail["non_acgt"].iloc[1]
    counts = {reason: sum(e[4] == reason for e in expected) for reason in REASONS}
    assert counts == {
        "not_snv": 4,
        "non_acgt": 2,
        "unknown_chrom": 1,
        "window_off_end": 2,
        "ref_mismatch": 1,
    }
    assert meta == read_json(out / "task.json")
    assert meta["kind"] == "variant_effect" and meta["n"] == len(table) == 6
    assert meta["excluded"] == counts and meta["duplicates"] == 1 and meta["length"] == L
    assert meta["targets"] == [] and meta["sequence_columns"] == ["ref_sequence", "alt_sequence"]
    assert meta["provenance"]["sha256"] == {vcf.name: sha256_of(vcf)}
    assert meta["provenance"]["genome_sha256"] == sha256_of(fasta)


def test_malformed_vcf_names_file_and_line(tmp_path):
    good = "chr1\t50\t.\tA\tC\t.\t.\t."
    cases = [
        ([HEADER, good, "chr1\t51\t.\tA\tC"], r"bad\.vcf, line 6: a VCF data line needs the 8"),
        ([HEADER, good, good.replace("50", "5o")], r"bad\.vcf, line 6: POS must be a non-neg"),
        ([good, HEADER], r"bad\.vcf, line 4: a data line before the '#CHROM POS"),
        (["#CHROM\tPOS\tREF\tALT", good], r"bad\.vcf, line 4: expected the VCF header"),
    ]
    for lines, pattern in cases:
        (tmp_path / "bad.vcf").write_text("\n".join([*META, *lines]) + "\n")
        with pytest.raises(ValueError, match=pattern):
            read_vcf(tmp_path / "bad.vcf")
    (tmp_path / "bad.vcf").write_text("\n".join(META) + "\n")
    with pytest.raises(ValueError, match="no '#CHROM POS ID REF ALT QUAL FILTER INFO' header"):
        read_vcf(tmp_path / "bad.vcf")


@pytest.mark.parametrize("sep", ["\t", ","])
def test_prepare_table_keeps_extra_columns_as_targets(genome, tmp_path, sep):
    fasta, seqs = genome
    one = seqs["chr1"]
    rows = [
        ("1", 50, one[49].lower(), _other(one[49]).lower(), -0.5, "a"),
        ("chr1", 60, one[59], _other(one[59]), 1.25, "b"),
        ("1", 3, one[2], _other(one[2]), 0.1, "c"),
    ]
    df = pd.DataFrame(rows, columns=["#Chrom", "POS", "ref", "Alt", "effect", "note"])
    path = tmp_path / ("vars.tsv" if sep == "\t" else "vars.csv")
    df.to_csv(path, sep=sep, index=False)
    read = read_variant_table(path)
    assert list(read.columns) == ["CHROM", "POS", "REF", "ALT", "effect", "note"]
    assert read["CHROM"].tolist() == ["1", "chr1", "1"] and read["POS"].dtype == "int64"
    packed = tmp_path / "packed.gz"  # gzip is recognised by content, not the file name
    packed.write_bytes(gzip.compress(path.read_bytes()))
    pd.testing.assert_frame_equal(read_variant_table(packed), read)
    meta = prepare_variants(
        "tab", {"table": str(path), "genome": str(fasta), "length": L}, tmp_path / "out"
    )
    table = pd.read_parquet(tmp_path / "out" / "variants.parquet")
    assert table.columns[-2:].tolist() == ["effect", "note"]
    assert table["id"].tolist() == [
        f"1:50:{rows[0][2]}>{rows[0][3]}",
        f"chr1:60:{rows[1][2]}>{rows[1][3]}",
    ]
    assert table["REF"].tolist() == [rows[0][2], rows[1][2]]  # verbatim (lower case kept)
    assert table["ref"].tolist() == [one[49], one[59]] and table["chrom"].tolist() == ["1", "1"]
    assert table["effect"].tolist() == [-0.5, 1.25] and table["note"].tolist() == ["a", "b"]
    assert meta["targets"] == ["effect"] and meta["n"] == 2 and meta["format"] == "table"
    assert meta["excluded"]["window_off_end"] == 1
    excluded = pd.read_csv(tmp_path / "out" / "exclusions.tsv", sep="\t")
    assert excluded[["CHROM", "POS", "reason"]].values.tolist() == [[1, 3, "window_off_end"]]


def test_table_errors_name_file_line_and_columns(tmp_path, genome):
    fasta, _ = genome
    path = tmp_path / "vars.tsv"
    path.write_text("chrom\tpos\tref\nchr1\t5\tA\n")
    with pytest.raises(ValueError, match=r"vars\.tsv: no column\(s\) \['ALT'\]"):
        read_variant_table(path)
    path.write_text("chrom\tpos\tref\talt\nchr1\t5\tA\tC\nchr1\tx7\tA\tC\n")
    with pytest.raises(ValueError, match=r"vars\.tsv, line 3: POS must be a non-negative integer"):
        read_variant_table(path)
    path.write_text("chrom\tpos\tref\talt\tid\nchr1\t5\tA\tC\tv1\n")
    with pytest.raises(ValueError, match=r"column\(s\) \['id'\] are reserved"):
        read_variant_table(path)
    path.write_text("chrom\tpos\tref\talt\nchr1\t50\tAT\tA\n")
    source = {"table": str(path), "genome": str(fasta), "length": L}
    with pytest.raises(ValueError, match=r"no variant can be scored; all 1 are excluded"):
        prepare_variants("t", source, tmp_path / "out")
    with pytest.raises(ValueError, match="even integer"):
        prepare_variants("t", {**source, "length": 21}, tmp_path / "out")
    with pytest.raises(ValueError, match="exactly one of 'vcf' or 'table'"):
        prepare_variants("t", {"genome": str(fasta), "length": L}, tmp_path / "out")
    path.write_text("chrom\tpos\tref\talt\nchrX\t50\tA\tC\n")
    with pytest.raises(ValueError, match=r"none of the variants' chromosomes \['chrX'\]"):
        prepare_variants("t", source, tmp_path / "out")


def test_row_sequences_whole_and_windowed():
    """Per-row sequences with an offset (CAGI5 elements): whole-sequence and windowed modes."""
    seq = "ACGTACGTAC"  # genome [100, 110)
    variants = pd.DataFrame(
        {
            "chrom": "chr1",
            "pos": [101, 105, 110, 111],
            "ref": ["A", "A", "C", "A"],
            "alt": ["G", "T", "T", "G"],
        }
    )
    rows = RowSequences([seq] * 4, [100] * 4, ["element E"] * 4)
    kept, excluded = make_windows(variants, rows, None)
    assert kept["variant_index"].tolist() == [0, 4, 9] and (kept["ref_sequence"] == seq).all()
    assert kept["alt_sequence"].tolist() == ["GCGTACGTAC", "ACGTTCGTAC", "ACGTACGTAT"]
    assert excluded["reason"].tolist() == ["window_off_end"]
    assert excluded.at[0, "detail"] == "chr1:111 lies outside element E ([100, 110), 10 bases)"
    kept, excluded = make_windows(variants, rows, 4)
    assert kept["pos"].tolist() == [105] and kept.at[0, "ref_sequence"] == "TACG"
    assert kept.at[0, "variant_index"] == 1 and kept.at[0, "alt_sequence"] == "TTCG"
    assert excluded["reason"].tolist() == ["window_off_end"] * 3


def test_a_configured_effect_column_is_correlated_like_cagi5_s(genome, tmp_path):
    """A user's variants with a column of measured effects (`effect:`) get the correlation
    table and Table 1 as CAGI5 does: zero-shot scores against |effect|, transfer effects
    against the signed effect; all variants as one element `all` without an element column."""
    from glmeval.data.variants import effect_column
    from glmeval.figures.plan import _why_not
    from glmeval.vep import evaluate_variants, table1

    fasta, seqs = genome
    one = seqs["chr1"]
    positions = range(20, 180, 4)
    rng = np.random.default_rng(0)
    log2fc = rng.normal(size=len(positions))
    df = pd.DataFrame(
        {
            "chrom": "chr1",
            "pos": list(positions),
            "ref": [one[p - 1].upper() for p in positions],
            "alt": [_other(one[p - 1]) for p in positions],
            "log2fc": log2fc,
        }
    )
    path = tmp_path / "mine.tsv"
    df.to_csv(path, sep="\t", index=False)
    source = {"table": str(path), "genome": str(fasta), "length": L, "effect": "log2fc"}
    meta = prepare_variants("mine", source, tmp_path / "out")
    assert meta["targets"] == ["log2fc"] and meta["effect"] == "log2fc"
    with pytest.raises(ValueError, match="effect column 'score' is not in"):
        prepare_variants("mine", {**source, "effect": "score"}, tmp_path / "bad")
    variants = pd.read_parquet(tmp_path / "out" / "variants.parquet")
    truth = variants["log2fc"].to_numpy()
    scores = variants.drop(columns=["ref_sequence", "alt_sequence"]).assign(
        l2=np.abs(truth) + rng.normal(scale=0.1, size=len(truth))
    )
    transfer = pd.DataFrame({"id": variants["id"], "effect_pred": truth})
    labels = {
        "task": "mpra",
        "model": "onehot",
        "probe": "cnn",
        "representation": "tokens",
        "layer": 0,
    }
    long = evaluate_variants(
        variants,
        {"tiny_nt": scores},
        [(labels, transfer)],
        {},
        "mine",
        n_boot=50,
        length=L,
        effect=effect_column(source),
    )
    assert set(long["element"]) == {"all"} and (long["n"] == len(variants)).all()
    by_score = long.set_index("score")
    assert by_score.loc["l2", "pearson"] > 0.9  # against |log2fc|
    assert by_score.loc["tokens L0", "pearson"] == pytest.approx(1.0)  # signed
    assert table1(long, {})["all"].notna().all()
    entry = {**source, "zeroshot": {"models": ["tiny_nt"]}}
    assert _why_not("table1", {"variants": "mine"}, {"variants": {"mine": entry}}, []) is None
    no_effect = {k: v for k, v in entry.items() if k != "effect"}
    assert effect_column(no_effect) is None and effect_column({"cagi5": "x"}) == "effect"
    assert "no CAGI5 effects" in _why_not(
        "table1", {"variants": "mine"}, {"variants": {"mine": no_effect}}, []
    )
