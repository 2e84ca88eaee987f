"""CAGI5 regulation saturation-mutagenesis variants (Kircher et al. 2019) as a variant table.

Inputs are the official CAGI5 files `challenge_<E>.tsv` / `release_<E>.tsv` (`##` description
lines, a `#Chrom Pos Ref Alt Value Confidence` header; hg19, 1-based; Value = log2 effect) and
`elements.csv` (`regulatory_element, ref_sequence, start_pos`). A variant's id is
`{element}:{chrom}:{pos}:{ref}>{alt}:{set}`, e.g. `F9:chrX:138612621:C>A:challenge`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from pyfaidx import Fasta

from glmeval.data.sequence import check_sequences
from glmeval.io import sha256_of, write_json, write_parquet

HEADER = ["Chrom", "Pos", "Ref", "Alt", "Value", "Confidence"]
COLUMNS = ["element", "set", "chrom", "pos", "ref", "alt", "effect", "confidence"]
CONTEXTS = ("element", "genome")
_FILE = re.compile(r"^(challenge|release)_(.+)\.tsv$")


def _read_tsv(path: Path, element: str, subset: str) -> pd.DataFrame:
    with open(path) as fh:
        skip = 0
        line = fh.readline()
        while line.startswith("##"):
            skip += 1
            line = fh.readline()
    found = line.rstrip("\n").lstrip("#").split("\t")
    if not line.startswith("#") or found != HEADER:
        raise ValueError(
            f"{path}: expected the CAGI5 header '#{' '.join(HEADER)}' (tab-separated) after the "
            f"'##' lines; found columns {found} on line {skip + 1}."
        )
    df = pd.read_csv(path, sep="\t", skiprows=skip + 1, header=None, names=HEADER, dtype=str)
    num = df[["Pos", "Value", "Confidence"]].apply(pd.to_numeric, errors="coerce")
    bad = df.isna().any(axis=1) | num.isna().any(axis=1) | (num["Pos"] % 1 != 0)
    bad |= ~df["Ref"].isin(list("ACGT")) | ~df["Alt"].isin(list("ACGT")) | (df["Ref"] == df["Alt"])
    if bad.any():
        row = bad.to_numpy().argmax()
        raise ValueError(
            f"{path}, line {skip + 2 + row}: expected an SNV (Ref, Alt in ACGT, different) with "
            f"numeric Pos, Value, Confidence; found {df.iloc[row].tolist()}."
        )
    chrom = df["Chrom"].str.removeprefix("chr")
    return pd.DataFrame({
        "element": element, "set": subset, "chrom": "chr" + chrom, "pos": num["Pos"].astype(int),
        "ref": df["Ref"], "alt": df["Alt"], "effect": num["Value"].astype(float),
        "confidence": num["Confidence"].astype(float),
    })


def _tsv_files(directory: Path) -> list[tuple[str, str, Path]]:
    """(element, set, path) of every challenge_*/release_* TSV, sorted by element then set."""
    files = [(m[2], m[1], p) for p in directory.glob("*.tsv") if (m := _FILE.match(p.name))]
    if not files:
        raise FileNotFoundError(f"{directory}: no challenge_<E>.tsv or release_<E>.tsv files.")
    return sorted(files)


def read_cagi5(directory: str | Path) -> pd.DataFrame:
    """All variants of every `challenge_*`/`release_*` TSV in `directory` with columns element,
    set, chrom (`chr`-prefixed), pos (1-based hg19), ref, alt, effect (log2), confidence."""
    parts = [_read_tsv(path, element, subset) for element, subset, path in
             _tsv_files(Path(directory))]
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def _element_table(elements_csv: str | Path, names) -> dict[str, tuple[str, int]]:
    """element -> (upper-case sequence, start_pos): the `<E>MOD` row when present, else `<E>`;
    an element `<E>-<cell line>` (TERT-GBM, TERT-HEK293T) falls back to `<E>`."""
    table = pd.read_csv(elements_csv).set_index("regulatory_element")
    out = {}
    for name in names:
        keys = [name + "MOD", name, name.split("-")[0] + "MOD", name.split("-")[0]]
        key = next((k for k in keys if k in table.index), None)
        if key is None:
            raise ValueError(
                f"{elements_csv}: no row for element {name!r} (tried {keys}); it has "
                f"{sorted(table.index)}."
            )
        out[name] = (table.at[key, "ref_sequence"].upper(), int(table.at[key, "start_pos"]))
    return out


def _check_ref(variants: pd.DataFrame, found: pd.Series, where: str) -> None:
    bad = (found != variants["ref"]).to_numpy()
    if bad.any():
        row = variants.iloc[bad.argmax()]
        raise ValueError(
            f"{where}: reference mismatch for element {row['element']}, {row['chrom']}:"
            f"{row['pos']}: expected {row['ref']} (CAGI5 Ref), found {found.iloc[bad.argmax()]}."
        )


def _with_sequences(variants: pd.DataFrame, windows: list[str], index: list[int],
                    where: str) -> pd.DataFrame:
    out = variants.reset_index(drop=True).copy()
    out["variant_index"] = index
    out["ref_sequence"] = windows
    _check_ref(out, pd.Series([w[i] for w, i in zip(windows, index)]), where)
    out["alt_sequence"] = [w[:i] + a + w[i + 1:] for w, i, a in zip(windows, index, out["alt"])]
    return out


def element_context(variants: pd.DataFrame, elements_csv: str | Path) -> pd.DataFrame:
    """`variants` plus variant_index, ref_sequence (the element's own sequence) and alt_sequence
    (the SNV applied at `pos - start_pos - 1`); a reference-base mismatch is an error."""
    table = _element_table(elements_csv, variants["element"].unique())
    seqs = [table[e][0] for e in variants["element"]]
    index = [p - table[e][1] - 1 for e, p in zip(variants["element"], variants["pos"])]
    outside = [k for k, (s, i) in enumerate(zip(seqs, index)) if not 0 <= i < len(s)]
    if outside:
        row = variants.iloc[outside[0]]
        raise ValueError(f"{elements_csv}: variant {row['chrom']}:{row['pos']} lies outside "
                         f"element {row['element']} ({len(seqs[outside[0]])} bases).")
    return _with_sequences(variants, seqs, index, str(elements_csv))


def genome_context(variants: pd.DataFrame, fasta_path: str | Path, length: int) -> pd.DataFrame:
    """`variants` plus variant_index (`length // 2 - 1`), ref_sequence and alt_sequence: the
    paper's hg19 windows `[pos - length/2, pos + length/2)` (0-based, half-open; bedtools
    getfasta of gopher's expand_range), upper-cased. The FASTA may name chromosomes `chrX` or
    `X`; its `.fai` is built when absent. A window running off a chromosome end is an error (no
    N-padding; the paper drops such rows, and none occurs for CAGI5 on hg19). A reference-base
    mismatch is an error."""
    if not isinstance(length, int) or length < 2 or length % 2:
        raise ValueError(f"genome context: length must be an even integer >= 2, got {length!r}.")
    half = length // 2
    fasta = Fasta(str(fasta_path), as_raw=True, sequence_always_upper=True)
    records = {}
    for chrom in variants["chrom"].unique():
        name = next((n for n in (chrom, chrom.removeprefix("chr")) if n in fasta), None)
        if name is None:
            raise ValueError(f"{fasta_path}: no sequence {chrom!r} (or without 'chr'); it has "
                             f"{list(fasta.keys())[:10]}...")
        records[chrom] = fasta[name]
    windows = []
    for chrom, pos in zip(variants["chrom"], variants["pos"]):
        record, start, end = records[chrom], pos - half, pos + half
        if start < 0 or end > len(record):
            raise ValueError(
                f"{fasta_path}: the {length}-base window around {chrom}:{pos} "
                f"([{start}, {end}), 0-based) runs off {record.name} ({len(record)} bases)."
            )
        windows.append(record[start:end])
    return _with_sequences(variants, windows, [half - 1] * len(windows), str(fasta_path))


def prepare_cagi5(name: str, source: dict, out_dir: str | Path) -> dict:
    """Write `out_dir/variants.parquet` and then `out_dir/task.json` (kind `variant_effect`);
    return the task.json content.

    `source`: `cagi5` (directory with the TSVs and elements.csv), `context` (`element`, the
    default, or `genome`), for `genome` also `genome` (hg19 FASTA) and `length` (even), and optionally
    `elements` (a subset of element names, e.g. [LDLR, SORT1, F9, PKLR]).
    """
    directory = Path(source["cagi5"])
    context = source.get("context", "element")
    if context not in CONTEXTS:
        raise ValueError(f"task {name!r}: source.context must be one of {CONTEXTS}, "
                         f"got {context!r}.")
    variants = read_cagi5(directory)
    available = sorted(variants["element"].unique())
    elements = list(source.get("elements") or available)
    unknown = sorted(set(elements) - set(available))
    if unknown:
        raise ValueError(f"task {name!r}: unknown CAGI5 element(s) {unknown}; {directory} has "
                         f"{available}.")
    variants = variants[variants["element"].isin(elements)].reset_index(drop=True)
    files = {p.name: sha256_of(p) for e, _, p in _tsv_files(directory) if e in elements}
    files["elements.csv"] = sha256_of(directory / "elements.csv")
    provenance = {"source": "CAGI5 regulation saturation mutagenesis (Kircher et al. 2019)",
                  "cagi5": str(directory), "sha256": files}
    if context == "element":
        table, length = element_context(variants, directory / "elements.csv"), None
    else:
        length = source["length"]
        table = genome_context(variants, source["genome"], length)
        provenance |= {"genome": str(source["genome"]),
                       "genome_sha256": sha256_of(source["genome"])}
    table.insert(0, "id", table["element"] + ":" + table["chrom"] + ":"
                 + table["pos"].astype(str) + ":" + table["ref"] + ">" + table["alt"] + ":"
                 + table["set"])
    table.insert(table.columns.get_loc("effect") + 1, "abs_effect", table["effect"].abs())
    if table["id"].duplicated().any():
        raise ValueError(f"task {name!r}: duplicate variant id "
                         f"{table['id'][table['id'].duplicated()].iloc[0]!r}.")
    for column in ("ref_sequence", "alt_sequence"):
        check_sequences(table[column], table["id"], where=f"task {name!r}, {column}")
    out_dir = Path(out_dir)
    write_parquet(table, out_dir / "variants.parquet")
    lengths = table["ref_sequence"].str.len()
    meta = {
        "name": name,
        "kind": "variant_effect",
        "targets": ["effect", "abs_effect"],
        "sequence_columns": ["ref_sequence", "alt_sequence"],
        "metrics": ["pearson"],
        "n": len(table),
        "n_by_set": {s: int(c) for s, c in table["set"].value_counts().sort_index().items()},
        "elements": elements,
        "context": context,
        "length": length,
        "sequence_length": {"min": int(lengths.min()), "max": int(lengths.max())},
        "provenance": provenance,
    }
    write_json(meta, out_dir / "task.json")
    return meta
