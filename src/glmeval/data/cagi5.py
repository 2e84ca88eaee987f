"""CAGI5 regulation saturation-mutagenesis variants (Kircher et al. 2019) as a variant table.

Inputs are the official CAGI5 files `challenge_<E>.tsv` / `release_<E>.tsv` (`##` description
lines, a `#Chrom Pos Ref Alt Value Confidence` header; hg19, 1-based; Value = log2 effect) and
`elements.csv` (`regulatory_element, ref_sequence, start_pos`). A variant's id is
`{element}:{chrom}:{pos}:{ref}>{alt}:{set}`, e.g. `F9:chrX:138612621:C>A:challenge`.

Windows come from the element sequences (whole, or `length` bases around the variant) or from an
hg19 FASTA, by the shared code of `glmeval.data.variants`: a variant whose window runs off the
element or chromosome, whose Ref does not match, or whose chromosome is not in the FASTA is
excluded and reported (`exclusions.tsv`, task.json `excluded`), never silently dropped.

An archive without the TSVs may hold the paper's derived windows instead (`CAGI_seq.ipynb`):
`CAGI/{L}/CAGI_onehot.h5` and `final_cagi_metadata.csv` beside `CAGI/raw`, read for genome
context at length L (`read_cagi5_derived`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from glmeval.data.archive import find_layout, open_h5, read_sequences, require_keys
from glmeval.data.variants import (
    RowSequences,
    check_length,
    exclusion_counts,
    make_windows,
    report_exclusions,
    write_exclusions,
)
from glmeval.io import sha256_of, write_json, write_parquet

HEADER = ["Chrom", "Pos", "Ref", "Alt", "Value", "Confidence"]
COLUMNS = ["element", "set", "chrom", "pos", "ref", "alt", "effect", "confidence"]
CONTEXTS = ("element", "genome")
_FILE = re.compile(r"^(challenge|release)_(.+)\.tsv$")
DERIVED_FILES = ("CAGI_onehot.h5", "final_cagi_metadata.csv")
#: final_cagi_metadata.csv's columns: the combined BED of CAGI_seq.ipynb, window-expanded.
METADATA = {"0": "chrom", "1": "start", "2": "end", "3": "ref", "4": "alt", "5": "strand",
            "6": "effect", "7": "confidence", "8": "element", "9": "set"}  # fmt: skip


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
    return pd.DataFrame(
        {
            "element": element,
            "set": subset,
            "chrom": "chr" + chrom,
            "pos": num["Pos"].astype(int),
            "ref": df["Ref"],
            "alt": df["Alt"],
            "effect": num["Value"].astype(float),
            "confidence": num["Confidence"].astype(float),
        }
    )


def _tsv_files(directory: Path) -> list[tuple[str, str, Path]]:
    """(element, set, path) of every challenge_*/release_* TSV, sorted by element then set."""
    files = [(m[2], m[1], p) for p in directory.glob("*.tsv") if (m := _FILE.match(p.name))]
    if not files:
        raise FileNotFoundError(f"{directory}: no challenge_<E>.tsv or release_<E>.tsv files.")
    return sorted(files)


def read_cagi5(directory: str | Path) -> pd.DataFrame:
    """All variants of every `challenge_*`/`release_*` TSV in `directory` with columns element,
    set, chrom (`chr`-prefixed), pos (1-based hg19), ref, alt, effect (log2), confidence."""
    parts = [
        _read_tsv(path, element, subset) for element, subset, path in _tsv_files(Path(directory))
    ]
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def read_cagi5_derived(directory: str | Path, length: int) -> tuple[pd.DataFrame, dict]:
    """Variants with their windows from the paper's `CAGI/{length}/` and what was read.

    `final_cagi_metadata.csv` (index = row of the window BED) has columns '0'..'9' = chrom,
    start, end, ref, alt, strand, value, confidence, element, set, where [start, end) is the
    window [pos - L/2, pos + L/2), so pos = start + L/2; `CAGI_onehot.h5` has `ref` and `alt`
    one-hot (N, L, 4), row k being metadata row k, the variant at L/2 - 1 (N stored as 0.25).
    Rows come sorted by element, then set, as `read_cagi5` gives them. The paper dropped its
    reference mismatches upstream: counted from the index's gaps as `rows_dropped_upstream`."""
    directory = Path(directory)
    h5_path, csv_path = (directory / name for name in DERIVED_FILES)
    text = {c: str for c in ("0", "3", "4", "5", "8", "9")}
    meta = pd.read_csv(csv_path, index_col=0, dtype=text, keep_default_na=False)
    missing = [c for c in METADATA if c not in meta.columns]
    if missing:
        raise ValueError(f"{csv_path}: missing column(s) {missing}; it has {list(meta.columns)}.")
    meta = meta.rename(columns=METADATA)
    widths = sorted(set(meta["end"] - meta["start"]))
    if widths != [length]:
        raise ValueError(f"{csv_path}: windows of {widths[:5]} bases, expected {length}.")
    where = str(h5_path)
    with open_h5(h5_path, where) as f:
        require_keys(f, ["ref", "alt"], where)
        (ref, layout), (alt, _) = (read_sequences(f, k, f"{where} [{k}]") for k in ("ref", "alt"))
    if not len(ref) == len(alt) == len(meta):
        raise ValueError(
            f"{where}: {len(ref)} ref and {len(alt)} alt rows for {len(meta)} in {csv_path.name}."
        )
    i = length // 2 - 1
    for row, (r, a, seq_r, seq_a) in enumerate(zip(meta["ref"], meta["alt"], ref, alt)):
        if seq_r[i] != r or seq_a != seq_r[:i] + a + seq_r[i + 1 :]:
            raise ValueError(
                f"{where}, row {row}: expected ref {r} at index {i} and alt = ref with {a} there "
                f"({csv_path.name} row {row}); found {seq_r[i]} and {seq_a[i]}."
            )
    variants = pd.DataFrame(
        {
            "element": meta["element"].to_numpy(),
            "set": meta["set"].to_numpy(),
            "chrom": ("chr" + meta["chrom"].str.removeprefix("chr")).to_numpy(),
            "pos": (meta["start"] + length // 2).to_numpy(),
            "ref": meta["ref"].to_numpy(),
            "alt": meta["alt"].to_numpy(),
            "effect": meta["effect"].astype(float).to_numpy(),
            "confidence": meta["confidence"].astype(float).to_numpy(),
            "variant_index": i,
            "ref_sequence": ref,
            "alt_sequence": alt,
        }
    )
    info = {"layout": layout, "rows_dropped_upstream": int(meta.index.max() + 1 - len(meta))}
    return variants.sort_values(["element", "set"], kind="stable", ignore_index=True), info


def _element_table(elements_csv: str | Path, names) -> dict[str, tuple[str, int]]:
    """element -> (upper-case sequence, start_pos): the `<E>MOD` row when present, else `<E>`;
    an element `<E>-<cell line>` (TERT-GBM, TERT-HEK293T) falls back to `<E>`."""
    table = pd.read_csv(elements_csv, dtype={"ref_sequence": str}, keep_default_na=False).set_index(
        "regulatory_element"
    )
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


#: Columns of an exclusions table for CAGI5 (those present), before `reason` and `detail`.
EXCLUSION_KEYS = ("id", "element", "set", "chrom", "pos", "ref", "alt")


def _keys(variants: pd.DataFrame) -> list[str]:
    return [c for c in EXCLUSION_KEYS if c in variants]


def element_context(
    variants: pd.DataFrame, elements_csv: str | Path, length: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, excluded) by the exclusion rule of `glmeval.data.variants`: kept is `variants`
    plus variant_index, ref_sequence and alt_sequence cut from the element's own sequence in
    elements.csv. Without `length` the window is the whole element (variant at
    `pos - start_pos - 1`); with an even `length` it is the `length` bases
    `[pos - length/2, pos + length/2)` of the element (variant at `length/2 - 1`, as in the
    paper's hg19 windows), a variant closer to an element end being excluded as
    `window_off_end`. An element missing from elements.csv is an error."""
    if length is not None:
        check_length(length, "element context")
    table = _element_table(elements_csv, variants["element"].unique())
    elements = variants["element"].tolist()
    rows = RowSequences(
        sequences=[table[e][0] for e in elements],
        offsets=[table[e][1] for e in elements],
        labels=[f"element {e}" for e in elements],
    )
    return make_windows(variants, rows, length, keys=_keys(variants))


def genome_context(
    variants: pd.DataFrame, fasta_path: str | Path, length: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kept, excluded) by the exclusion rule of `glmeval.data.variants`: kept is `variants`
    plus variant_index (`length // 2 - 1`), ref_sequence and alt_sequence: the paper's hg19
    windows `[pos - length/2, pos + length/2)` (0-based, half-open; bedtools getfasta of
    gopher's expand_range), upper-cased. The FASTA may name chromosomes `chrX` or `X`; its
    `.fai` is built when absent. A window running off a chromosome end (no N-padding; none
    occurs for CAGI5 on hg19), a reference-base mismatch or a chromosome missing from the FASTA
    excludes the variant; a FASTA holding none of the variants' chromosomes is an error."""
    check_length(length, "genome context")
    return make_windows(variants, fasta_path, length, keys=_keys(variants))


def _find_cagi5(name: str, source: dict, context: str) -> tuple[str, list[Path]]:
    """The layout to read: the raw TSV directory `source["cagi5"]` (with the genome for genome
    context) or, for genome context, the derived `{length}/` directory beside it."""
    directory, length = Path(source["cagi5"]), source.get("length")
    if context == "element":
        return find_layout(f"task {name!r}", [("raw", [directory])])
    if length is None:
        raise ValueError(f"task {name!r}: context genome needs 'length'.")
    check_length(length, f"task {name!r}")
    genome = [Path(source["genome"])] if "genome" in source else []
    derived = [directory.parent / str(length) / file for file in DERIVED_FILES]
    return find_layout(f"task {name!r}", [("raw", [directory, *genome]), ("derived", derived)])


def prepare_cagi5(name: str, source: dict, out_dir: str | Path) -> dict:
    """Write `out_dir/variants.parquet`, `out_dir/exclusions.tsv` (the variants that cannot be
    scored, with `reason` and `detail`; see `glmeval.data.variants`) and then
    `out_dir/task.json` (kind `variant_effect`; `n` kept variants, `excluded` counts by reason);
    return the task.json content.

    `source`: `cagi5` (directory with the TSVs and elements.csv), `context` (`element`, the
    default, or `genome`), `length` (even; required for `genome`, optional for `element`: a
    window cut from the element instead of the whole element), for `genome` also `genome`
    (hg19 FASTA), and optionally `elements` (a subset of element names, e.g. [LDLR, SORT1, F9,
    PKLR]). For genome context, when the TSV directory or the genome is absent, the derived
    `CAGI/{length}/` beside the directory is read (`read_cagi5_derived`): the same variants,
    ids and windows; the paper's preprocessing excluded its mismatches before, so none are
    listed. task.json's provenance says which form was read (`form`) and the files' hashes.
    """
    directory = Path(source["cagi5"])
    context = source.get("context", "element")
    if context not in CONTEXTS:
        raise ValueError(
            f"task {name!r}: source.context must be one of {CONTEXTS}, got {context!r}."
        )
    form, files = _find_cagi5(name, source, context)
    if form == "raw":
        variants = read_cagi5(directory)
    else:
        variants, derived = read_cagi5_derived(files[0].parent, source["length"])
    available = sorted(variants["element"].unique())
    elements = list(source.get("elements") or available)
    unknown = sorted(set(elements) - set(available))
    if unknown:
        raise ValueError(
            f"task {name!r}: unknown CAGI5 element(s) {unknown}; {files[0]} has {available}."
        )
    variants = variants[variants["element"].isin(elements)].reset_index(drop=True)
    variants.insert(
        0,
        "id",
        variants["element"]
        + ":"
        + variants["chrom"]
        + ":"
        + variants["pos"].astype(str)
        + ":"
        + variants["ref"]
        + ">"
        + variants["alt"]
        + ":"
        + variants["set"],
    )
    variants.insert(variants.columns.get_loc("effect") + 1, "abs_effect", variants["effect"].abs())
    if variants["id"].duplicated().any():
        raise ValueError(
            f"task {name!r}: duplicate variant id "
            f"{variants['id'][variants['id'].duplicated()].iloc[0]!r}."
        )
    provenance = {
        "source": "CAGI5 regulation saturation mutagenesis (Kircher et al. 2019)",
        "form": form,
    }
    length = source.get("length")
    if form == "derived":
        table, excluded = variants, pd.DataFrame(columns=[*_keys(variants), "reason", "detail"])
        sha = {file.name: sha256_of(file) for file in files}
        provenance |= {"cagi5": str(files[0].parent), "sha256": sha, **derived}
    else:
        sha = {p.name: sha256_of(p) for e, _, p in _tsv_files(directory) if e in elements}
        sha["elements.csv"] = sha256_of(directory / "elements.csv")
        provenance |= {"cagi5": str(directory), "sha256": sha}
        if context == "element":
            table, excluded = element_context(variants, directory / "elements.csv", length)
        elif "genome" not in source:
            raise ValueError(f"task {name!r}: context genome needs 'genome' and 'length'.")
        else:
            table, excluded = genome_context(variants, source["genome"], length)
            provenance |= {
                "genome": str(source["genome"]),
                "genome_sha256": sha256_of(source["genome"]),
            }
    out_dir = Path(out_dir)
    write_exclusions(excluded, out_dir / "exclusions.tsv")
    report_exclusions(f"task {name!r}", excluded, len(table), out_dir / "exclusions.tsv")
    write_parquet(table, out_dir / "variants.parquet")
    lengths = table["ref_sequence"].str.len()
    meta = {
        "name": name,
        "kind": "variant_effect",
        "targets": ["effect", "abs_effect"],
        "sequence_columns": ["ref_sequence", "alt_sequence"],
        "metrics": ["pearson"],
        "n": len(table),
        "excluded": exclusion_counts(excluded),
        "n_by_set": {s: int(c) for s, c in table["set"].value_counts().sort_index().items()},
        "elements": elements,
        "context": context,
        "length": length,
        "sequence_length": {"min": int(lengths.min()), "max": int(lengths.max())},
        "provenance": provenance,
    }
    write_json(meta, out_dir / "task.json")
    return meta
