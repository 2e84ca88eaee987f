"""CAGI5 regulation saturation-mutagenesis variants (Kircher et al. 2019) as a variant table.

Inputs are the official CAGI5 files `challenge_<E>.tsv` / `release_<E>.tsv` (`##` description
lines, a `#Chrom Pos Ref Alt Value Confidence` header; hg19, 1-based; Value = log2 effect) and
`elements.csv` (`regulatory_element, ref_sequence, start_pos`). A variant's id is
`{element}:{chrom}:{pos}:{ref}>{alt}:{set}`, e.g. `F9:chrX:138612621:C>A:challenge`.

Windows come from the element sequences (whole, or `length` bases around the variant) or from an
hg19 FASTA, by the shared code of `glmeval.data.variants`: a variant whose window runs off the
element or chromosome, whose Ref does not match, or whose chromosome is not in the FASTA is
excluded and reported (`exclusions.tsv`, task.json `excluded`), never silently dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

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


def prepare_cagi5(name: str, source: dict, out_dir: str | Path) -> dict:
    """Write `out_dir/variants.parquet`, `out_dir/exclusions.tsv` (the variants that cannot be
    scored, with `reason` and `detail`; see `glmeval.data.variants`) and then
    `out_dir/task.json` (kind `variant_effect`; `n` kept variants, `excluded` counts by reason);
    return the task.json content.

    `source`: `cagi5` (directory with the TSVs and elements.csv), `context` (`element`, the
    default, or `genome`), `length` (even; required for `genome`, optional for `element`: a
    window cut from the element instead of the whole element), for `genome` also `genome`
    (hg19 FASTA), and optionally `elements` (a subset of element names, e.g. [LDLR, SORT1, F9,
    PKLR]).
    """
    directory = Path(source["cagi5"])
    context = source.get("context", "element")
    if context not in CONTEXTS:
        raise ValueError(
            f"task {name!r}: source.context must be one of {CONTEXTS}, got {context!r}."
        )
    variants = read_cagi5(directory)
    available = sorted(variants["element"].unique())
    elements = list(source.get("elements") or available)
    unknown = sorted(set(elements) - set(available))
    if unknown:
        raise ValueError(
            f"task {name!r}: unknown CAGI5 element(s) {unknown}; {directory} has {available}."
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
    files = {p.name: sha256_of(p) for e, _, p in _tsv_files(directory) if e in elements}
    files["elements.csv"] = sha256_of(directory / "elements.csv")
    provenance = {
        "source": "CAGI5 regulation saturation mutagenesis (Kircher et al. 2019)",
        "cagi5": str(directory),
        "sha256": files,
    }
    length = source.get("length")
    if context == "element":
        table, excluded = element_context(variants, directory / "elements.csv", length)
    else:
        if length is None or "genome" not in source:
            raise ValueError(f"task {name!r}: context genome needs 'genome' and 'length'.")
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
