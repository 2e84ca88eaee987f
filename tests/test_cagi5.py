from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glmeval.data.cagi5 import element_context, genome_context, prepare_cagi5, read_cagi5
from glmeval.data.variants import REASONS
from glmeval.io import read_json

HEADER = "#Chrom\tPos\tRef\tAlt\tValue\tConfidence"
COMMENTS = [f"##{c}\tdescription" for c in ("Chrom", "Pos", "Ref", "Alt", "Value", "Confidence")]


def _random_bases(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


def _write_tsv(path, rows, header=HEADER):
    lines = [*COMMENTS, header, *("\t".join(map(str, row)) for row in rows)]
    path.write_text("\n".join(lines) + "\n")


def _write_fasta(path, records: dict[str, str]):
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            fh.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))


@pytest.fixture
def toy(tmp_path):
    """One element E1 (chr1, 0-based start 100, 40 bases) with 3 challenge + 2 release SNVs, and
    a 400-base chr1 (FASTA name `1`, soft-masked) holding it."""
    element = _random_bases(40, seed=1)
    directory = tmp_path / "cagi5"
    directory.mkdir()
    pd.DataFrame(
        {"regulatory_element": ["E1"], "ref_sequence": [element], "start_pos": [100]}
    ).to_csv(directory / "elements.csv", index=False)
    other = {b: next(a for a in "ACGT" if a != b) for b in "ACGT"}
    rows = [("1", 101 + i, element[i], other[element[i]], 0.1 * i - 0.2, 0.5) for i in range(5)]
    _write_tsv(directory / "challenge_E1.tsv", rows[:3])
    _write_tsv(directory / "release_E1.tsv", rows[3:])
    genome = _random_bases(100, seed=2).lower() + element + _random_bases(260, seed=3)
    _write_fasta(tmp_path / "genome.fa", {"1": genome})
    return directory, tmp_path / "genome.fa", genome


def test_toy_element_mode_table(toy, tmp_path):
    directory, _, _ = toy
    meta = prepare_cagi5("cagi", {"cagi5": str(directory), "context": "element"}, tmp_path / "o")
    table = pd.read_parquet(tmp_path / "o" / "variants.parquet")
    assert meta == read_json(tmp_path / "o" / "task.json")
    assert meta["kind"] == "variant_effect" and meta["n"] == 5 and meta["length"] is None
    assert meta["excluded"] == dict.fromkeys(REASONS, 0)
    assert meta["n_by_set"] == {"challenge": 3, "release": 2} and meta["elements"] == ["E1"]
    assert set(meta["provenance"]["sha256"]) == {
        "challenge_E1.tsv",
        "release_E1.tsv",
        "elements.csv",
    }
    assert list(table.columns) == [
        "id",
        "element",
        "set",
        "chrom",
        "pos",
        "ref",
        "alt",
        "effect",
        "abs_effect",
        "confidence",
        "variant_index",
        "ref_sequence",
        "alt_sequence",
    ]
    first = table.iloc[0]
    assert first["id"] == f"E1:chr1:101:{first['ref']}>{first['alt']}:challenge"
    assert table["variant_index"].tolist() == [0, 1, 2, 3, 4]
    assert np.allclose(table["abs_effect"], table["effect"].abs())
    excluded = pd.read_csv(tmp_path / "o" / "exclusions.tsv", sep="\t")
    assert excluded.empty and list(excluded.columns) == [
        "id",
        "element",
        "set",
        "chrom",
        "pos",
        "ref",
        "alt",
        "reason",
        "detail",
    ]


def test_toy_element_mode_windows_exclude_near_ends(toy, tmp_path):
    """A 10-base window from the 40-base element: the variant at element index i needs
    i >= 4 and i + 5 < 40, so the first 4 of the 5 toy variants (indices 0..4) are excluded."""
    directory, _, genome = toy
    kept, excluded = element_context(read_cagi5(directory), directory / "elements.csv", 10)
    assert kept["pos"].tolist() == [105] and (kept["variant_index"] == 4).all()
    assert kept.at[0, "ref_sequence"] == genome[100:110].upper()
    assert excluded["reason"].tolist() == ["window_off_end"] * 4
    assert excluded.at[0, "detail"] == (
        "the 10-base window [96, 106) (0-based) runs off element E1 ([100, 140), 40 bases)"
    )
    source = {"cagi5": str(directory), "length": 10}
    meta = prepare_cagi5("cagi10", source, tmp_path / "o")
    assert meta["n"] == 1 and meta["excluded"]["window_off_end"] == 4 and meta["length"] == 10
    assert meta["n_by_set"] == {"release": 1}
    written = pd.read_csv(tmp_path / "o" / "exclusions.tsv", sep="\t")
    assert written["id"].str.startswith("E1:chr1:10").all() and len(written) == 4
    with pytest.raises(ValueError, match="no variant can be scored; all 5 are excluded"):
        prepare_cagi5("cagi50", {"cagi5": str(directory), "length": 50}, tmp_path / "p")
    assert len(pd.read_csv(tmp_path / "p" / "exclusions.tsv", sep="\t")) == 5
    assert not (tmp_path / "p" / "task.json").exists()


def test_toy_genome_mode_windows(toy):
    directory, fasta, genome = toy
    table, excluded = genome_context(read_cagi5(directory), fasta, 100)
    assert excluded.empty and len(table) == 5
    assert (table["variant_index"] == 49).all()
    for row in table.itertuples():
        assert row.ref_sequence == genome[row.pos - 50 : row.pos + 50].upper()
        assert row.ref_sequence[49] == row.ref


def test_window_off_chromosome_is_excluded_and_reported(toy, tmp_path):
    """The 204 bases around chr1:101 would start at 101 - 102 = -1: that variant runs off the
    400-base chromosome and is excluded, those at 102..105 are kept; with 206 bases, 101 and 102
    are excluded."""
    directory, fasta, genome = toy
    variants = read_cagi5(directory)
    kept, excluded = genome_context(variants, fasta, 204)
    assert kept["pos"].tolist() == [102, 103, 104, 105]
    assert kept.at[0, "ref_sequence"] == genome[0:204].upper()
    assert excluded["reason"].tolist() == ["window_off_end"]
    assert excluded.at[0, "detail"] == (
        "the 204-base window [-1, 203) (0-based) runs off 1 (400 bases)"
    )
    assert list(excluded.columns) == [*variants.columns[:6], "reason", "detail"]
    source = {"cagi5": str(directory), "context": "genome", "genome": str(fasta), "length": 206}
    meta = prepare_cagi5("cagi206", source, tmp_path / "o")
    assert meta["n"] == 3 and meta["excluded"] == {**dict.fromkeys(REASONS, 0), "window_off_end": 2}
    written = pd.read_csv(tmp_path / "o" / "exclusions.tsv", sep="\t")
    assert written["id"].tolist() == [
        f"E1:chr1:{101 + i}:{variants.at[i, 'ref']}>{variants.at[i, 'alt']}:challenge"
        for i in range(2)
    ]
    assert written["reason"].tolist() == ["window_off_end"] * 2
    assert len(pd.read_parquet(tmp_path / "o" / "variants.parquet")) == 3
    with pytest.raises(ValueError, match="even integer"):
        genome_context(variants, fasta, 99)


def test_unknown_chromosome_is_excluded_unless_all_are(toy):
    directory, fasta, _ = toy
    variants = read_cagi5(directory)
    variants.loc[1, "chrom"] = "chr2"
    kept, excluded = genome_context(variants, fasta, 100)
    assert len(kept) == 4 and excluded["reason"].tolist() == ["unknown_chrom"]
    assert "no sequence 'chr2'" in excluded.at[0, "detail"]
    variants["chrom"] = "chr7"
    with pytest.raises(ValueError, match=r"none of the variants' chromosomes \['chr7'\]"):
        genome_context(variants, fasta, 100)


def test_reference_mismatch_is_excluded_with_bases(toy, tmp_path):
    directory, _, genome = toy
    variants = read_cagi5(directory)
    ref = variants.at[2, "ref"]
    wrong = next(b for b in "ACGT" if b != ref and b != variants.at[2, "alt"])
    _write_fasta(tmp_path / "bad.fa", {"chr1": genome[:102] + wrong + genome[103:]})
    kept, excluded = genome_context(variants, tmp_path / "bad.fa", 100)
    assert len(kept) == 4 and excluded["reason"].tolist() == ["ref_mismatch"]
    assert excluded.at[0, "detail"] == f"chr1:103: expected {ref} (REF), found {wrong} in bad.fa"
    variants.loc[2, "ref"] = wrong
    kept, excluded = element_context(variants, directory / "elements.csv")
    assert len(kept) == 4 and excluded.at[0, "element"] == "E1"
    assert (
        excluded.at[0, "detail"] == f"chr1:103: expected {wrong} (REF), found {ref} in element E1"
    )


def test_malformed_tsv_names_file_and_columns(toy):
    directory, _, _ = toy
    _write_tsv(
        directory / "release_E1.tsv",
        [("1", 104, "A", "C", 0.1)],
        header="#Chrom\tPos\tRef\tAlt\tValue",
    )
    with pytest.raises(
        ValueError,
        match=r"release_E1\.tsv: expected the CAGI5 header .* found "
        r"columns \['Chrom', 'Pos', 'Ref', 'Alt', 'Value'\] on line 7",
    ):
        read_cagi5(directory)


@pytest.fixture(scope="module")
def real(shared):
    directory = shared / "data" / "cagi5"
    if not directory.is_dir():
        pytest.skip(f"{directory} not found")
    return directory, read_cagi5(directory)


def test_real_variants_element_mode(real):
    directory, variants = real
    assert len(variants) == 18463 and variants["element"].nunique() == 15
    assert variants["set"].value_counts().to_dict() == {"challenge": 13813, "release": 4650}
    assert variants["chrom"].str.startswith("chr").all()
    table, excluded = element_context(variants, directory / "elements.csv")
    assert excluded.empty  # every Ref matches its element
    for row in table.itertuples():
        i = row.variant_index
        assert len(row.ref_sequence) == len(row.alt_sequence)
        assert row.ref_sequence[i] == row.ref and row.alt_sequence[i] == row.alt
        assert row.ref_sequence[:i] == row.alt_sequence[:i]
        assert row.ref_sequence[i + 1 :] == row.alt_sequence[i + 1 :]


def test_real_prepare_ids_unique(real, tmp_path):
    directory, _ = real
    meta = prepare_cagi5("cagi5", {"cagi5": str(directory), "context": "element"}, tmp_path)
    table = pd.read_parquet(tmp_path / "variants.parquet")
    assert meta["n"] == len(table) == 18463 and table["id"].is_unique
    assert "F9:chrX:138612621:C>A:challenge" in set(table["id"])
    assert not table["ref_sequence"].str.contains("[^ACGTN]").any()


def test_real_genome_windows_on_planted_fasta(real, tmp_path):
    """IRF4 (chr6) and TERT (chr5, shared by TERT-GBM and TERT-HEK293T) planted at their hg19
    start_pos in random soft-masked sequence; windows of 230 and 998 centre the variant at
    L // 2 - 1 and pass the reference check."""
    directory, variants = real
    elements = pd.read_csv(directory / "elements.csv").set_index("regulatory_element")
    genome = {}
    for chrom, key, seed in [("chr6", "IRF4MOD", 4), ("chr5", "TERT", 5)]:
        seq, start = elements.at[key, "ref_sequence"], elements.at[key, "start_pos"]
        genome[chrom] = (
            _random_bases(start, seed).lower() + seq + _random_bases(1000, seed + 1).lower()
        )
    _write_fasta(tmp_path / "hg19.fa", genome)
    subset = variants[variants["element"].isin(["IRF4", "TERT-GBM", "TERT-HEK293T"])]
    for length in (230, 998):
        table, excluded = genome_context(subset, tmp_path / "hg19.fa", length)
        assert excluded.empty and len(table) == len(subset)
        assert (table["variant_index"] == length // 2 - 1).all()
        assert (table["ref_sequence"].str.len() == length).all()
        for row in table.iloc[::97].itertuples():
            window = genome[row.chrom][row.pos - length // 2 : row.pos + length // 2].upper()
            assert row.ref_sequence == window and row.alt_sequence[length // 2 - 1] == row.alt
    source = {
        "cagi5": str(directory),
        "context": "genome",
        "genome": str(tmp_path / "hg19.fa"),
        "length": 230,
        "elements": ["IRF4", "TERT-GBM"],
    }
    meta = prepare_cagi5("cagi5_230", source, tmp_path / "out")
    assert meta["length"] == 230 and meta["sequence_length"] == {"min": 230, "max": 230}
    assert meta["n"] == (subset["element"] != "TERT-HEK293T").sum()
    assert sum(meta["excluded"].values()) == 0
    assert len(meta["provenance"]["genome_sha256"]) == 64


def test_real_element_windows_230(real, tmp_path):
    """The paper's 230-nt windows cut from the element sequences: a variant within 115 bases of
    an element end (and all of HBB, 188 bases) is excluded as window_off_end."""
    directory, variants = real
    kept, excluded = element_context(variants, directory / "elements.csv", 230)
    assert len(kept) + len(excluded) == 18463
    assert excluded["reason"].value_counts().to_dict() == {"window_off_end": 10115}
    assert len(kept) == 8348 and "HBB" not in set(kept["element"])
    assert (kept["variant_index"] == 114).all() and (kept["ref_sequence"].str.len() == 230).all()
    ref = np.array([list(s) for s in kept["ref_sequence"]])
    alt = np.array([list(s) for s in kept["alt_sequence"]])
    assert (ref[:, 114] == kept["ref"].to_numpy()).all()
    assert (alt[:, 114] == kept["alt"].to_numpy()).all()
    assert ((ref != alt).sum(axis=1) == 1).all() and (ref[:, 114] != alt[:, 114]).all()
    meta = prepare_cagi5("cagi5_el230", {"cagi5": str(directory), "length": 230}, tmp_path)
    assert meta["n"] == 8348 and meta["excluded"] == {
        **dict.fromkeys(REASONS, 0),
        "window_off_end": 10115,
    }
    assert meta["sequence_length"] == {"min": 230, "max": 230}
    written = pd.read_csv(tmp_path / "exclusions.tsv", sep="\t")
    assert len(written) == 10115 and written["id"].is_unique
    assert not set(written["id"]) & set(pd.read_parquet(tmp_path / "variants.parquet")["id"])
