"""Task 4: ASCOT/GTEx cassette-exon splicing in the MTSplice setup (docs/paper.md, Tasks: splicing).

Rebuilds what `mt_preprocess.Ascot(length=400, flanking=300, pad_trim_same_l=False,
seq_align='both', mean_inpute=False, use_logit=True)` and `mtsplice_data.ipynb` wrote to
`delta_logit.h5`: per exon a `left` and a `right` 400-nt sequence and 56 per-tissue Δlogit PSI
targets, plus `mean_logit` (the offset the masked-KL loss adds back: PSI = σ(Δ + mean_logit)).
An archive holding only that `delta_logit.h5` is read instead (`prepare_splicing`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pyfaidx import Fasta

from glmeval.data.archive import find_layout, open_h5, read_sequences, require_keys
from glmeval.data.sequence import reverse_complement
from glmeval.data.taskfile import write_task
from glmeval.io import sha256_of
from glmeval.vocabulary import SPLITS

# `mt_preprocess.tissues`: the PSI column names of gtex_*_psi.csv, in target order (the
# figures label them with `mt_preprocess.a_tissues`, same order).
SPLICING_TISSUES = (
    "Retina - Eye", "RPE/Choroid/Sclera - Eye", "Subcutaneous - Adipose",
    "Visceral (Omentum) - Adipose", "Adrenal Gland", "Aorta - Artery",
    "Coronary - Artery", "Tibial - Artery", "Bladder", "Amygdala - Brain",
    "Anterior cingulate - Brain", "Caudate nucleus - Brain",
    "Cerebellar Hemisphere - Brain", "Cerebellum - Brain", "Cortex - Brain",
    "Frontal Cortex - Brain", "Hippocampus - Brain", "Hypothalamus - Brain",
    "Nucleus accumbens - Brain", "Putamen - Brain",
    "Spinal cord (C1) - Brain", "Substantia nigra - Brain",
    "Mammary Tissue - Breast", "EBV-xform lymphocytes - Cells",
    "Leukemia (CML) - Cells", "Xform. fibroblasts - Cells",
    "Ectocervix - Cervix", "Endocervix - Cervix", "Sigmoid - Colon",
    "Transverse - Colon", "Gastroesoph. Junc. - Esophagus",
    "Mucosa - Esophagus", "Muscularis - Esophagus", "Fallopian Tube",
    "Atrial Appendage - Heart", "Left Ventricle - Heart", "Cortex - Kidney",
    "Liver", "Lung", "Minor Salivary Gland", "Skeletal - Muscle",
    "Tibial - Nerve", "Ovary", "Pancreas", "Pituitary", "Prostate",
    "Not Sun Exposed - Skin", "Sun Exposed (Lower leg) - Skin",
    "Ileum - Small Intestine", "Spleen", "Stomach", "Testis", "Thyroid",
    "Uterus", "Vagina", "Whole Blood",
)  # fmt: skip
EXON_COLUMNS = ["chrom", "exon_start", "exon_end", "strand", "exon_id", "gene_id"]
FLANK = 300  # intronic nt taken on each side of the exon
HALF = 400  # length of `left` and `right`
CLIP = 1e-5  # PSI is clipped to [CLIP, 1 - CLIP] before the logit
MIN_OBSERVED, MIN_DELTA_PSI = 10, 0.2  # variable-exon test filter


def logit(x: np.ndarray) -> np.ndarray:
    """`mt_preprocess.logit`: log(c) - log(1 - c), c = clip(x, 1e-5, 1 - 1e-5); NaN stays NaN."""
    x = np.clip(x, CLIP, 1 - CLIP)
    return np.log(x) - np.log(1 - x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def psi_targets(psi: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Δlogit (N, T), NaN where unobserved, mean logit (N,) and the PSI scale of one file.

    PSI -1 means missing. m = mean of an exon's observed PSI; the file is in percent (and
    divided by 100) when the mean of m over its exons is > 1 (a NaN-skipping mean: the paper's
    np.mean would skip the rescale if one exon had no observed tissue).
    Δ_t = logit(PSI_t) - logit(m).
    """
    psi = np.where(psi == -1, np.nan, psi.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):  # no observed tissue: m = NaN
        m = np.nansum(psi, axis=1) / (~np.isnan(psi)).sum(axis=1)
    scale = "percent" if np.nanmean(m) > 1 else "fraction"
    if scale == "percent":
        psi, m = psi / 100, m / 100
    mean_logit = logit(m)
    return logit(psi) - mean_logit[:, None], mean_logit, scale


def variable_exons(delta: np.ndarray, mean_logit: np.ndarray) -> np.ndarray:
    """Test-set mask of the paper (docs/paper.md, Tasks: splicing): >= 10 observed tissues and
    max_t |σ(Δ_t + mean_logit) - σ(mean_logit)| >= 0.2."""
    observed = ~np.isnan(delta)
    gap = np.abs(_sigmoid(delta + mean_logit[:, None]) - _sigmoid(mean_logit)[:, None])
    return (observed.sum(axis=1) >= MIN_OBSERVED) & (
        np.where(observed, gap, 0).max(axis=1) >= MIN_DELTA_PSI
    )


def _contig(chrom: str, names: set[str], genome: Path, path: Path) -> str:
    for name in (chrom, f"chr{chrom}", chrom.removeprefix("chr")):
        if name in names:
            return name
    raise ValueError(
        f"{path}: chromosome {chrom!r} is not in {genome}, with or without a 'chr' prefix; "
        f"it has e.g. {sorted(names)[:5]}."
    )


def _windows(table: pd.DataFrame, fasta: Fasta, genome: Path, path: Path) -> pd.DataFrame:
    names = set(fasta.keys())
    rows = []
    columns = [table[c] for c in ("chrom", "exon_start", "exon_end", "strand")]
    for chrom, start, end, strand in zip(*columns):
        exon = f"chr{chrom.removeprefix('chr')}:{start}-{end}:{strand}"
        name = _contig(chrom, names, genome, path)
        lo, hi = start - FLANK - 1, end + FLANK  # 0-based, end-exclusive
        size = len(fasta[name])
        if start > end or lo < 0 or hi > size:
            raise ValueError(
                f"{path}: exon {exon}: its window {lo + 1}-{hi} (exon ± {FLANK} nt, 1-based) "
                f"is empty or leaves {name} (1-{size}) of {genome}. Check the coordinates and "
                "that the genome is hg38."
            )
        window = fasta[name][lo:hi]
        if strand == "-":
            window = reverse_complement(window)
        rows.append((exon, window[:HALF], window[-HALF:]))
    return pd.DataFrame(rows, columns=["id", "left", "right"])


def _read_split(path: Path, fasta: Fasta, genome: Path, invalid: str) -> tuple[pd.DataFrame, str]:
    table = pd.read_csv(path)
    missing = [c for c in [*EXON_COLUMNS, *SPLICING_TISSUES] if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; it has {list(table.columns)}.")
    if not all(pd.api.types.is_integer_dtype(table[c]) for c in ("exon_start", "exon_end")):
        raise ValueError(f"{path}: exon_start and exon_end must be integers with no gaps.")
    table["chrom"] = table["chrom"].astype(str)
    strands = ~table["strand"].isin(["+", "-"])
    if strands.any():
        raise ValueError(
            f"{path}: strand must be '+' or '-', found {table['strand'][strands].iloc[0]!r} "
            f"(exon_id {table['exon_id'][strands].iloc[0]!r})."
        )
    delta, mean_logit, scale = psi_targets(table[list(SPLICING_TISSUES)].to_numpy())
    part = _windows(table, fasta, genome, path)
    unobserved = np.isnan(mean_logit)
    if unobserved.any() and invalid == "error":
        raise ValueError(
            f"{path}: exon {part['id'][unobserved].iloc[0]} has no observed PSI (every tissue "
            "empty or -1). Fix the data or set the task's invalid: drop to drop such exons."
        )
    part[["exon_id", "gene_id"]] = table[["exon_id", "gene_id"]].astype(str)
    part["mean_logit"] = mean_logit
    part[list(SPLICING_TISSUES)] = delta
    return part, scale


def _raw_splits(paths: dict, genome: Path, invalid: str) -> tuple[dict, dict]:
    splits, scales = {}, {}
    with Fasta(str(genome), as_raw=True, sequence_always_upper=True) as fasta:
        for split, path in paths.items():
            splits[split], scales[split] = _read_split(path, fasta, genome, invalid)
    provenance = {
        "form": "raw",
        "inputs": {str(p): sha256_of(p) for p in [*paths.values(), genome]},
        "windows": {"flank": FLANK, "length": HALF, "coordinates": "1-based inclusive"},
        "psi_scale": scales,
        "logit_clip": CLIP,
    }
    return splits, provenance


def _derived_splits(path: Path, where: str) -> tuple[dict, dict]:
    """`delta_logit.h5`: `x_{split}` one-hot (N, 800, 4) = left ‖ right, `y_{split}` (N, 56, 2)
    = [Δlogit, mean logit repeated over the tissues]; ids `{split}-{row}` (row of the file)."""
    splits, layout = {}, {}
    with open_h5(path, where) as f:
        require_keys(f, [f"{xy}_{split}" for split in SPLITS for xy in "xy"], where)
        for split in SPLITS:
            seqs, layout[f"x_{split}"] = read_sequences(f, f"x_{split}", f"{where} [x_{split}]")
            y = np.asarray(f[f"y_{split}"][()], dtype=np.float64)
            x_shape = f[f"x_{split}"].shape
            if max(x_shape[1:]) != 2 * HALF or y.shape != (len(seqs), len(SPLICING_TISSUES), 2):
                raise ValueError(
                    f"{where}: expected x_{split} of {2 * HALF} nt (left ‖ right) and y_{split} "
                    f"of shape ({len(seqs)}, {len(SPLICING_TISSUES)}, 2); got {x_shape} and "
                    f"{y.shape}."
                )
            mean = y[:, 0, 1]
            if not np.array_equal(
                y[..., 1], np.repeat(mean[:, None], y.shape[1], 1), equal_nan=True
            ):
                raise ValueError(f"{where} [y_{split}]: [..., 1] (mean logit) varies by tissue.")
            part = pd.DataFrame({"id": [f"{split}-{row}" for row in range(len(seqs))]})
            part["left"] = [s[:HALF] for s in seqs]
            part["right"] = [s[HALF:] for s in seqs]
            part["mean_logit"] = mean
            part[list(SPLICING_TISSUES)] = y[..., 0]
            splits[split] = part
    return splits, {"form": "derived", "inputs": {str(path): sha256_of(path)}, "layout": layout}


def prepare_splicing(
    name: str, source: dict, out_dir: str | Path, invalid: str = "error", **checks
) -> dict:
    """Write the splicing task to `out_dir` (`{split}.parquet` + `task.json`); return task.json.

    `source`: {"splicing": {split: gtex_{split}_psi.csv}, "genome": hg38 FASTA (".fai" built if
    absent; chromosomes named "chr1" or "1", either way in the CSVs)}. When these are absent,
    the paper's derived `delta_logit.h5` is read from `alternative_splicing/` beside the CSVs'
    directory or from that directory (`_derived_splits`): the same splits, rows in CSV order,
    with ids `{split}-{row}` and no exon_id / gene_id (the file keeps no coordinates).

    Windows: exon_start/exon_end are 1-based inclusive (the paper's code
    passes them to pyfaidx `get_seq`). W = genome[exon_start - 300, exon_end + 300], reverse-complemented on the minus
    strand; `left` = W[:400], `right` = W[-400:] (W has >= 601 nt, so no padding). In transcript
    orientation `left` = 300 nt upstream intron + the exon's first 100 nt and `right` = the
    exon's last 100 nt + 300 nt downstream intron; on the minus strand `left` thus comes from
    the exon's genomic end. Exons < 200 nt make the halves overlap. A window leaving its
    chromosome is an error.

    Targets: per tissue Δ = logit(PSI_t) - logit(m), m = mean observed PSI,
    logit clipped at 1e-5 (see `psi_targets`); NaN where the tissue is unobserved, kept as
    NaN (the paper's loss is masked, its Spearman omits NaN): task.json says
    `targets_may_be_missing` and `target_offset: mean_logit`. Exons with no observed tissue
    are invalid (error, or dropped with `invalid: drop`), as are non-ACGTN windows.

    Test: only variable exons (`variable_exons`) are kept. Ids: "chr1:100-250:+".
    """
    genome = Path(source["genome"])
    paths = {split: Path(source["splicing"][split]) for split in SPLITS}
    here = paths["train"].parent
    derived = [here.parent / "alternative_splicing" / "delta_logit.h5", here / "delta_logit.h5"]
    layouts = [("raw", [*paths.values(), genome]), *(("derived", [p]) for p in derived)]
    form, files = find_layout(f"task {name!r}", layouts)
    if form == "raw":
        splits, provenance = _raw_splits(paths, genome, invalid)
    else:
        splits, provenance = _derived_splits(files[0], f"task {name!r}: {files[0]}")
    test = splits["test"]
    keep = variable_exons(test[list(SPLICING_TISSUES)].to_numpy(), test["mean_logit"].to_numpy())
    splits["test"] = test[keep].reset_index(drop=True)
    provenance["test_filter"] = {
        "min_observed": MIN_OBSERVED,
        "min_max_abs_delta_psi": MIN_DELTA_PSI,
        "n_before": len(test),
        "n_after": int(keep.sum()),
    }
    return write_task(
        name,
        "multitask_regression",
        list(SPLICING_TISSUES),
        splits,
        provenance,
        out_dir,
        sequence_columns=("left", "right"),
        invalid=invalid,
        missing_targets=True,
        **checks,
        extra={"target_offset": "mean_logit"},
    )
