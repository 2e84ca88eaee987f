"""Fixed-length ref/alt windows around SNVs, and the `variants` task format (a user's VCF or
variant table plus a reference FASTA), built by the same code as CAGI5 (`glmeval.data.cagi5`).

Windows. A variant at 1-based `pos` gets the window `[pos - L/2, pos + L/2)` (0-based,
half-open; the paper's gopher `expand_range` + bedtools getfasta) upper-cased, with the variant
at index `L/2 - 1`; `alt_sequence` is `ref_sequence` with that one base replaced. The sequence
comes from a genome FASTA (pyfaidx; a chromosome `chr1` is also looked up as `1` and vice versa,
soft-masked lower case is fine) or from per-row sequences (CAGI5 elements) whose first base lies
at 0-based genome coordinate `offset`; without a length such a row's window is its whole
sequence, with the variant at `pos - offset - 1`.

Exclusion rule. A variant that cannot be scored is never dropped silently and does not fail the
run (a malformed input file does, naming file and line): it goes to the exclusions table (the input's key columns, `reason`, a readable `detail`;
written as `exclusions.tsv`, counted by reason in task.json under `excluded`). The first of these
checks that applies gives its single reason:

1. `not_snv`: REF or ALT is not one letter (an indel, an MNV, a symbolic `<DEL>`, the `*`
   or `.` allele, a multi-allelic `C,G` in a table), or REF equals ALT (case-insensitive).
2. `non_acgt`: REF or ALT is one letter but not A, C, G or T (e.g. N, an IUPAC code).
3. `unknown_chrom`: the FASTA has no sequence for the chromosome (also without/with `chr`).
4. `window_off_end`: the window runs off the chromosome or element (it would start before its
   first base or end after its last; no N-padding. The paper also drops a window starting
   exactly at base 0, which no real variant hits), or, without a length, the variant lies
   outside the element.
5. `ref_mismatch`: the genome/element base at the variant (upper-cased) is not REF (upper-cased).
6. `non_acgt`: the window holds a character other than A, C, G, T, N (an IUPAC code in the
   FASTA). Windows holding N are kept: every model encodes N.

Only a whole input that cannot be placed at all is an error: when no variant's chromosome is in
the FASTA (a wrong genome or naming), or when no variant at all can be scored.

User variants (`prepare_variants`). The output is keyed by the input: `CHROM`, `POS`, `REF`,
`ALT` are the input's values verbatim (one row per ALT allele of a multi-allelic VCF record),
`chrom` is the FASTA sequence the variant was found in, `pos` = POS, `ref`/`alt` upper-cased.
The row id is `{CHROM}:{POS}:{REF}>{ALT}`; a key that occurs again (the same CHROM, POS, REF,
ALT on several input rows) keeps every row, its later copies getting ids suffixed `#2`, `#3`, ...
(counted in task.json as `duplicates`), so each input allele has exactly one output or exclusion row.
"""

from __future__ import annotations

import gzip
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyfaidx import Fasta

from glmeval.io import atomic_path, sha256_of, write_json, write_parquet

REASONS = ("not_snv", "non_acgt", "unknown_chrom", "window_off_end", "ref_mismatch")
KEYS = ("chrom", "pos", "ref", "alt")
INPUT_KEYS = ("CHROM", "POS", "REF", "ALT")
VCF_COLUMNS = ("CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
WINDOW_COLUMNS = ("variant_index", "ref_sequence", "alt_sequence")
TARGET_NAMES = ("effect", "abs_effect")
_BASE = re.compile(r"^[A-Za-z]$")
_NOT_ACGTN = re.compile(r"[^ACGTN]")


@dataclass
class RowSequences:
    """Per-variant sequences: row k's sequence `sequences[k]` (upper case) starts at 0-based
    genome coordinate `offsets[k]`; `labels[k]` names it in details (e.g. `element F9`)."""

    sequences: Sequence[str]
    offsets: Sequence[int]
    labels: Sequence[str]


def effect_column(entry: dict) -> str | None:
    """The column of measured effects a configured variants dataset's scores are correlated
    with: its `effect` setting, CAGI5's `effect` by default; None when it has none."""
    return entry.get("effect", "effect" if "cagi5" in entry else None)


def check_length(length, where: str) -> None:
    if not isinstance(length, int) or isinstance(length, bool) or length < 2 or length % 2:
        raise ValueError(f"{where}: length must be an even integer >= 2, got {length!r}.")


def fasta_name(fasta: Fasta, chrom: str) -> str | None:
    """The FASTA's name for `chrom`: itself, else without or with a `chr` prefix; None if absent."""
    alias = chrom.removeprefix("chr") if chrom.startswith("chr") else "chr" + chrom
    return next((n for n in (chrom, alias) if n in fasta), None)


def _allele_reason(ref: str, alt: str) -> tuple[str, str] | None:
    if not (_BASE.match(ref) and _BASE.match(alt)):
        return "not_snv", (
            f"REF {ref!r} > ALT {alt!r} is not a single-base substitution (only SNVs are scored)"
        )
    if ref.upper() == alt.upper():
        return "not_snv", f"REF equals ALT ({ref!r}): not a substitution"
    for name, allele in (("REF", ref), ("ALT", alt)):
        if allele.upper() not in "ACGT":
            return "non_acgt", f"{name} {allele!r} is not one of A, C, G, T"
    return None


def _cut(
    chrom: str, pos: int, ref: str, record, offset: int, span: str, label: str, length: int | None
) -> tuple[tuple[str, str] | None, str | None, int | None]:
    """(None, window, variant index) for a scorable variant, else ((reason, detail), None, None).
    `record` is a sequence (str or pyfaidx record; None: unknown chromosome) whose first base
    lies at 0-based genome coordinate `offset`."""
    if record is None:
        return (
            ("unknown_chrom", f"no sequence {chrom!r} (nor with/without 'chr') in {label}"),
            None,
            None,
        )
    size = len(record)
    if length is None:
        start, end, i = offset, offset + size, pos - offset - 1
        if not 0 <= i < size:
            return ("window_off_end", f"{chrom}:{pos} lies outside {span}"), None, None
    else:
        start, end, i = pos - length // 2, pos + length // 2, length // 2 - 1
        if start < offset or end > offset + size:
            detail = f"the {length}-base window [{start}, {end}) (0-based) runs off {span}"
            return ("window_off_end", detail), None, None
    window = str(record[start - offset : end - offset]).upper()
    if window[i] != ref.upper():
        detail = f"{chrom}:{pos}: expected {ref} (REF), found {window[i]} in {label}"
        return ("ref_mismatch", detail), None, None
    if bad := _NOT_ACGTN.search(window):
        detail = f"window has {bad.group()!r} at index {bad.start()} (only A, C, G, T, N allowed)"
        return ("non_acgt", detail), None, None
    return None, window, i


def make_windows(
    variants: pd.DataFrame,
    source: Fasta | str | Path | RowSequences,
    length: int | None,
    keys: Sequence[str] = KEYS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `variants` (columns chrom, pos 1-based, ref, alt) into (kept, excluded) by the
    module's exclusion rule. `kept` is the scorable rows (index reset) plus variant_index,
    ref_sequence and alt_sequence; `excluded` is the other rows' `keys` columns plus `reason`
    and `detail`. `source` is a genome FASTA (path or pyfaidx Fasta; `length` required) or
    RowSequences (`length` None: the whole sequence)."""
    is_fasta = not isinstance(source, RowSequences)
    if is_fasta or length is not None:
        check_length(length, "variant windows")
    if is_fasta and not isinstance(source, Fasta):
        with Fasta(str(source), as_raw=True, sequence_always_upper=True) as fasta:
            return make_windows(variants, fasta, length, keys)
    records = {}
    reasons, windows, index = [], [], []
    rows = zip(variants["chrom"].astype(str), variants["pos"], variants["ref"].astype(str),
               variants["alt"].astype(str))  # fmt: skip
    for k, (chrom, pos, ref, alt) in enumerate(rows):
        reason = _allele_reason(ref, alt)
        if reason is None and is_fasta:
            if chrom not in records:
                name = fasta_name(source, chrom)
                records[chrom] = None if name is None else source[name]
            record, label = records[chrom], Path(source.filename).name
            span = "" if record is None else f"{record.name} ({len(record)} bases)"
            reason, window, i = _cut(chrom, int(pos), ref, record, 0, span, label, length)
        elif reason is None:
            record, offset, label = source.sequences[k], int(source.offsets[k]), source.labels[k]
            span = f"{label} ([{offset}, {offset + len(record)}), {len(record)} bases)"
            reason, window, i = _cut(chrom, int(pos), ref, record, offset, span, label, length)
        if reason is None:
            windows.append(window)
            index.append(i)
        reasons.append(reason)
    if is_fasta and records and all(r is None for r in records.values()):
        raise ValueError(
            f"{source.filename}: none of the variants' chromosomes {sorted(records)[:10]} is in "
            f"it (nor with/without 'chr'); it has {list(source.keys())[:10]}..."
        )
    excluded_mask = np.array([r is not None for r in reasons], dtype=bool)
    kept = variants[~excluded_mask].reset_index(drop=True).copy()
    kept["variant_index"] = pd.array(index, dtype="int64")
    kept["ref_sequence"] = pd.array(windows, dtype=object)
    alts = kept["alt"].astype(str).str.upper()
    kept["alt_sequence"] = [w[:i] + a + w[i + 1 :] for w, i, a in zip(windows, index, alts)]
    excluded = variants.loc[excluded_mask, list(keys)].reset_index(drop=True).copy()
    excluded["reason"] = [r[0] for r in reasons if r is not None]
    excluded["detail"] = [r[1] for r in reasons if r is not None]
    return kept, excluded


def exclusion_counts(excluded: pd.DataFrame) -> dict[str, int]:
    """Excluded rows per reason, every reason listed (0 when none), in REASONS order."""
    counts = excluded["reason"].value_counts()
    return {reason: int(counts.get(reason, 0)) for reason in REASONS}


def write_exclusions(excluded: pd.DataFrame, path: str | Path) -> None:
    """Write the exclusions table as TSV (the header even when empty), atomically."""
    with atomic_path(path) as tmp:
        excluded.to_csv(tmp, sep="\t", index=False)


def report_exclusions(where: str, excluded: pd.DataFrame, n: int, path: Path) -> None:
    """Log the exclusion counts to stderr; raise when no variant is left to score."""
    counts = {k: v for k, v in exclusion_counts(excluded).items() if v}
    if counts:
        print(
            f"{where}: excluded {len(excluded)} of {n + len(excluded)} variants {counts}; "
            f"see {path}",
            file=sys.stderr,
        )
    if n == 0:
        raise ValueError(
            f"{where}: no variant can be scored; all {len(excluded)} are excluded "
            f"{counts} (see {path})."
        )


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _open_text(path: Path):
    return gzip.open(path, "rt") if _is_gzip(path) else open(path)


def read_vcf(path: str | Path) -> pd.DataFrame:
    """Variants of a VCF 4.x file (plain, gzip or bgzip): columns CHROM, POS (int), ID, REF,
    ALT, QUAL, FILTER, INFO as strings, verbatim; a record with several ALT alleles gives one
    row per allele. `##` lines are skipped; the `#CHROM POS ID REF ALT QUAL FILTER INFO` header
    must come before the data; FORMAT and sample columns are dropped. A data line with fewer
    than 8 tab-separated fields or a POS that is not a non-negative integer is an error naming
    the file and line."""
    path = Path(path)
    rows, header = [], False
    with _open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if line.startswith("##") or not line.strip():
                continue
            fields = line.split("\t")
            if line.startswith("#"):
                found = tuple(f.upper() for f in [fields[0].lstrip("#"), *fields[1:8]])
                if found != VCF_COLUMNS:
                    raise ValueError(
                        f"{path}, line {number}: expected the VCF header "
                        f"'#{' '.join(VCF_COLUMNS)}' (tab-separated), found {fields[:8]}."
                    )
                header = True
                continue
            if not header:
                raise ValueError(
                    f"{path}, line {number}: a data line before the "
                    f"'#{' '.join(VCF_COLUMNS)}' header line."
                )
            if len(fields) < 8:
                raise ValueError(
                    f"{path}, line {number}: a VCF data line needs the 8 tab-separated fields "
                    f"{' '.join(VCF_COLUMNS)}; found {len(fields)}: {line[:80]!r}."
                )
            if not fields[1].isdigit():
                raise ValueError(
                    f"{path}, line {number}: POS must be a non-negative integer, "
                    f"found {fields[1]!r}."
                )
            chrom, pos, vid, ref, alts, qual, filt, info = fields[:8]
            rows += [(chrom, int(pos), vid, ref, alt, qual, filt, info) for alt in alts.split(",")]
    if not header:
        raise ValueError(f"{path}: no '#{' '.join(VCF_COLUMNS)}' header line; is it a VCF?")
    return pd.DataFrame(rows, columns=list(VCF_COLUMNS)).astype({"POS": "int64"})


def read_variant_table(path: str | Path) -> pd.DataFrame:
    """Variants of a TSV or CSV (gzip allowed; tab-separated when the header line holds a tab):
    columns chrom, pos, ref, alt in any case (a leading `#` allowed, e.g. `#CHROM`), renamed to
    CHROM, POS (int), REF, ALT with their values verbatim; every other column is kept as read
    (e.g. a numeric `effect`). One row per ALT allele (no comma splitting). A missing key value
    or a POS that is not a non-negative integer is an error naming the file and line."""
    path = Path(path)
    with _open_text(path) as fh:
        first = fh.readline()
    options = {
        "sep": "\t" if "\t" in first else ",",
        "compression": "gzip" if _is_gzip(path) else None,
    }
    columns = pd.read_csv(path, nrows=0, **options).columns
    keys = {}
    for column in columns:
        key = column.lstrip("#").strip().upper()
        if key in INPUT_KEYS:
            if key in keys:
                raise ValueError(f"{path}: columns {keys[key]!r} and {column!r} both name {key}.")
            keys[key] = column
    missing = [k for k in INPUT_KEYS if k not in keys]
    if missing:
        raise ValueError(
            f"{path}: no column(s) {missing} (case-insensitive); found {list(columns)}."
        )
    reserved = {"id", *KEYS, *WINDOW_COLUMNS} & (set(columns) - set(keys.values()))
    if reserved:
        raise ValueError(
            f"{path}: column(s) {sorted(reserved)} are reserved for the output; rename them."
        )
    df = pd.read_csv(path, dtype={c: str for c in keys.values()}, **options)
    df = df.rename(columns={v: k for k, v in keys.items()})
    for key in INPUT_KEYS:
        bad = df[key].isna() | ~df[key].astype(str).str.strip().str.len().astype(bool)
        if key == "POS":
            bad |= ~df[key].astype(str).str.isdigit()
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise ValueError(
                f"{path}, line {row + 2}: {key} must be "
                f"{'a non-negative integer' if key == 'POS' else 'non-empty'}, "
                f"found {df[key].iloc[row]!r}."
            )
    df["POS"] = df["POS"].astype("int64")
    return df[[*INPUT_KEYS, *(c for c in df.columns if c not in INPUT_KEYS)]]


def _variant_ids(table: pd.DataFrame) -> tuple[pd.Series, int]:
    """`{CHROM}:{POS}:{REF}>{ALT}`, later copies of a key suffixed #2, #3, ...; and their count."""
    base = (
        table["CHROM"].astype(str)
        + ":"
        + table["POS"].astype(str)
        + ":"
        + table["REF"].astype(str)
        + ">"
        + table["ALT"].astype(str)
    )
    copy = base.groupby(base).cumcount() + 1
    ids = base.where(copy == 1, base + "#" + copy.astype(str))
    return ids, int((copy > 1).sum())


def prepare_variants(name: str, source: dict, out_dir: str | Path) -> dict:
    """Write `out_dir/variants.parquet`, `out_dir/exclusions.tsv` and then `out_dir/task.json`
    (kind `variant_effect`); return the task.json content.

    `source`: `vcf` (a VCF path) or `table` (a TSV/CSV path), `genome` (FASTA path; `.fai` built
    when absent) and `length` (even window length). variants.parquet has columns id, CHROM, POS,
    REF, ALT (the input's), chrom (the FASTA's name), pos, ref, alt (upper case), variant_index,
    ref_sequence, alt_sequence, then the input's other columns (VCF: ID, QUAL, FILTER, INFO).
    Numeric extra columns named `effect` / `abs_effect` become the task's targets, and so does
    the column that `source['effect']` names (which must be there, and numeric).
    """
    where = f"variants {name!r}"
    formats = [k for k in ("vcf", "table") if k in source]
    if len(formats) != 1:
        raise ValueError(f"{where}: source needs exactly one of 'vcf' or 'table', got {formats}.")
    if "genome" not in source or "length" not in source:
        raise ValueError(f"{where}: source needs 'genome' (FASTA) and 'length' (even).")
    fmt, length = formats[0], source["length"]
    check_length(length, where)
    path, genome = Path(source[fmt]), Path(source["genome"])
    variants = read_vcf(path) if fmt == "vcf" else read_variant_table(path)
    extras = [c for c in variants.columns if c not in INPUT_KEYS]
    effect = source.get("effect")
    if effect is not None:
        if effect not in extras:
            raise ValueError(
                f"{where}: effect column {effect!r} is not in {path}; its columns: "
                f"{list(variants.columns)}. Set effect: to one of them."
            )
        values = pd.to_numeric(variants[effect], errors="coerce")
        if values.isna().all():
            raise ValueError(
                f"{where}: effect column {effect!r} holds no numbers (e.g. "
                f"{variants[effect].iloc[0]!r}); the measured effects must be numeric."
            )
        variants[effect] = values
    ids, duplicates = _variant_ids(variants)
    variants.insert(0, "id", ids)
    table = variants[["id", *INPUT_KEYS]].copy()
    table["pos"] = variants["POS"]
    table["ref"] = variants["REF"].astype(str).str.upper()
    table["alt"] = variants["ALT"].astype(str).str.upper()
    table = pd.concat([table, variants[extras]], axis=1)
    with Fasta(str(genome), as_raw=True, sequence_always_upper=True) as fasta:
        chrom = [fasta_name(fasta, str(c)) or str(c) for c in variants["CHROM"]]
        table.insert(len(INPUT_KEYS) + 1, "chrom", chrom)
        kept, excluded = make_windows(table, fasta, length, keys=["id", *INPUT_KEYS])
    kept = kept[["id", *INPUT_KEYS, *KEYS, *WINDOW_COLUMNS, *extras]]
    out_dir = Path(out_dir)
    write_exclusions(excluded, out_dir / "exclusions.tsv")
    report_exclusions(where, excluded, len(kept), out_dir / "exclusions.tsv")
    write_parquet(kept, out_dir / "variants.parquet")
    names = [*TARGET_NAMES, *([effect] if effect and effect not in TARGET_NAMES else [])]
    targets = [c for c in names if c in extras and pd.api.types.is_numeric_dtype(kept[c])]
    meta = {
        "name": name,
        "kind": "variant_effect",
        "targets": targets,
        "effect": effect,
        "sequence_columns": ["ref_sequence", "alt_sequence"],
        "metrics": ["pearson"] if targets else [],
        "n": len(kept),
        "excluded": exclusion_counts(excluded),
        "duplicates": duplicates,
        "format": fmt,
        "context": "genome",
        "length": length,
        "sequence_length": {"min": length, "max": length},
        "provenance": {
            "source": f"user variants ({fmt})",
            fmt: str(path),
            "sha256": {path.name: sha256_of(path)},
            "genome": str(genome),
            "genome_sha256": sha256_of(genome),
        },
    }
    write_json(meta, out_dir / "task.json")
    return meta
