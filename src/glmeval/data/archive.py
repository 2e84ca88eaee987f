"""The paper's h5 archives (Zenodo 10.5281/zenodo.11583224) as canonical task splits.

Every reader decodes the stored one-hot back to sequence text and calls `write_task`. Shared
decoding rules (the authors' `onehot_to_seq`; docs/paper.md, Conventions):

- Channels are A, C, G, T in that order; only the first four are read (eCLIP archives carry
  extra channels after them). A position with all four channels 0 is N; so is one with all
  four at 0.25, the N encoding of the authors' `seq_to_onehot`. Any other position that is not
  exactly one 1 and three 0s (two hot channels, NaN, 0.5, ...) is an error naming the row.
- Layout: the channel axis is the shorter of the two non-batch axes (every archive stores
  173–1000 nt and 4+ channels), so channels-first (ChIP, eCLIP) and channels-last
  (lentiMPRA, INSERT-seq, multitask eCLIP, the last [inferred]) are both accepted; the layout
  found per key is recorded in task.json's provenance. Any numeric or boolean dtype is accepted
  (the archives' dtypes are not documented).
- Ids are `{split}-{row}` (`fold{k}-{row}` for lentiMPRA), `row` being the 0-based row within
  the archive key, so an id points back to the archive row it came from.
- Each reader's `source` is `{"h5": path}` (plus `task_names` for the multitask eCLIP file).

Two layouts. For lentiMPRA, splicing (`glmeval.data.splicing`) and CAGI5 (`glmeval.data.cagi5`)
the archive may hold the raw files the paper's preprocessing reads or only the derived files
its analysis reads (`{cell}_data.h5`, `delta_logit.h5`, `CAGI/{L}/`). The configured source
names the raw file; `find_layout` takes it when present, else the derived file at the paper's
place beside it, and task.json's provenance says which (`form`: raw or derived) and the files
read. ChIP, eCLIP and INSERT-seq have one layout.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from glmeval.data.taskfile import write_task
from glmeval.io import sha256_of
from glmeval.vocabulary import SPLITS

_BASES = np.frombuffer(b"ACGTN", dtype=np.uint8)
_BLOCK = 1 << 24  # array elements decoded at a time, bounding memory on the 393k-row K562 file
LENTIMPRA_FOLDS = {"train": range(1, 9), "valid": range(9, 10), "test": range(10, 11)}
TASK_NAME_KEYS = ("task_names", "targets")


def open_h5(path: Path, where: str) -> h5py.File:
    """The HDF5 file at `path`, read-only; a file that is missing, truncated or not HDF5 (an
    HTML error page saved by a download) is an error naming it and the fix."""
    try:
        return h5py.File(path, "r")
    except OSError as err:
        if not Path(path).is_file():
            raise ValueError(f"{where}: no such file; check the task's h5 path.") from None
        with open(path, "rb") as fh:
            head = fh.read(512).lstrip().lower()
        what = (
            "an HTML page (a login, error or rate-limit page saved in place of the data)"
            if head.startswith((b"<!doctype html", b"<html"))
            else "truncated or not an HDF5 file"
        )
        raise ValueError(
            f"{where}: cannot be read as HDF5 ({str(err).splitlines()[0]}); it is {what}. If it "
            "is part of a download (resources/downloads/<name>/), delete that directory and "
            "rerun to fetch it again; if that gives the same, check the download's URL."
        ) from None


def decode_one_hot(x: np.ndarray, where: str, first_row: int = 0) -> list[str]:
    """Sequences of an (n, L, C >= 4) channels-last one-hot block (rules in the module doc);
    `where` and `first_row` name the offending row in errors."""
    x = x[..., :4]
    hot = x == 1
    n_hot = hot.sum(axis=-1)
    blank = (x == 0).all(axis=-1) | (x == 0.25).all(axis=-1)
    bad = ~(blank | ((n_hot == 1) & (hot | (x == 0)).all(axis=-1)))
    if bad.any():
        row, pos = np.argwhere(bad)[0]
        raise ValueError(
            f"{where}, row {first_row + row}, position {pos}: channels A, C, G, T = "
            f"{x[row, pos].tolist()} are not one-hot (one 1 and three 0s; all 0 for N)."
        )
    codes = np.where(n_hot == 1, hot.argmax(axis=-1), 4)
    return _BASES[codes].view(f"S{x.shape[1]}").ravel().astype(str).tolist()


def read_sequences(f: h5py.File, key: str, where: str) -> tuple[list[str], str]:
    """Decode archive key `key` in blocks; return the sequences and the layout found."""
    ds = f[key]
    if ds.ndim != 3 or ds.shape[1] == ds.shape[2] or min(ds.shape[1:]) < 4:
        raise ValueError(
            f"{where}: expected a one-hot array (N, L, C) or (N, C, L) with C >= 4 channels "
            f"shorter than the sequence length L; got shape {ds.shape}."
        )
    channels_first = ds.shape[1] < ds.shape[2]
    step = max(1, _BLOCK // (ds.shape[1] * ds.shape[2]))
    seqs = []
    for start in range(0, ds.shape[0], step):
        block = ds[start : start + step]
        seqs += decode_one_hot(block.transpose(0, 2, 1) if channels_first else block, where, start)
    return seqs, "channels_first" if channels_first else "channels_last"


def _read_targets(f: h5py.File, key: str, where: str, n: int, width: int | None = 1) -> np.ndarray:
    """Key `key` as float64 (n, width) (`width=None`: any number of columns); a 1-D array is
    one column."""
    y = np.asarray(f[key][()], dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    if y.ndim != 2 or y.shape[0] != n or (width is not None and y.shape[1] != width):
        columns = "any number of" if width is None else width
        raise ValueError(
            f"{where}: expected {n} rows (as many as the sequences) and {columns} column(s); "
            f"got shape {f[key].shape}."
        )
    return y


def require_keys(f: h5py.File, keys: list[str], where: str) -> None:
    missing = [k for k in keys if k not in f]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}; the file has {sorted(f.keys())}.")


def _frame(prefix: str, seqs: list[str], targets: dict[str, np.ndarray]) -> pd.DataFrame:
    ids = [f"{prefix}-{row}" for row in range(len(seqs))]
    return pd.DataFrame({"id": ids, "sequence": seqs, **targets})


def _check_values(df: pd.DataFrame, targets: list[str], where: str, binary: bool) -> None:
    """Infinite values, and for binary targets values other than 0/1, are errors naming the row;
    NaN is left to `write_task` (error or drop)."""
    values = df[targets].to_numpy()
    bad = np.isinf(values) | (binary & ~np.isnan(values) & (values != 0) & (values != 1))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        allowed = "0 or 1" if binary else "finite"
        raise ValueError(
            f"{where}, row id {df['id'].iloc[row]!r}: target {targets[col]!r} is "
            f"{values[row, col]}, not {allowed}."
        )


def _provenance(path: Path, layout: dict[str, str], **extra) -> dict:
    return {"h5": str(path), "sha256": sha256_of(path), "layout": layout, **extra}


def find_layout(where: str, layouts: list[tuple[str, list[Path]]]) -> tuple[str, list[Path]]:
    """The first `(form, files)` of `layouts` whose files all exist; else an error naming every
    file looked for and what the nearest existing directory above the first one holds."""
    for form, files in layouts:
        if all(Path(f).exists() for f in files):
            return form, files
    root = Path(layouts[0][1][0]).parent
    while not root.is_dir() and root != root.parent:
        root = root.parent
    held = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    looked = "; ".join(f"{form}: {', '.join(map(str, files))}" for form, files in layouts)
    raise FileNotFoundError(
        f"{where}: the archive holds neither layout. Looked for {looked}. {root} holds "
        f"{held[:30]}{' ...' if len(held) > 30 else ''}. Check the source's path and that the "
        "download unpacked completely."
    )


def _lentimpra_folds(f: h5py.File, where: str) -> tuple[dict[str, pd.DataFrame], dict]:
    require_keys(f, [f"{k}_{xy}" for k in range(1, 11) for xy in "xy"], where)
    splits, layout = {}, {}
    for split, folds in LENTIMPRA_FOLDS.items():
        parts = []
        for k in folds:
            seqs, layout[f"{k}_x"] = read_sequences(f, f"{k}_x", f"{where} [{k}_x]")
            y = _read_targets(f, f"{k}_y", f"{where} [{k}_y]", len(seqs))
            parts.append(_frame(f"fold{k}", seqs, {"activity": y[:, 0]}))
        splits[split] = pd.concat(parts, ignore_index=True)
    return splits, layout


def _lentimpra_splits(f: h5py.File, where: str) -> tuple[dict[str, pd.DataFrame], dict]:
    require_keys(f, [f"{xy}_{split}" for split in SPLITS for xy in ("onehot", "y")], where)
    splits, layout = {}, {}
    for split in SPLITS:
        key = f"onehot_{split}"
        seqs, layout[key] = read_sequences(f, key, f"{where} [{key}]")
        y = _read_targets(f, f"y_{split}", f"{where} [y_{split}]", len(seqs))
        splits[split] = _frame(split, seqs, {"activity": y[:, 0]})
    return splits, layout


def prepare_lentimpra(name: str, source: dict, out_dir, **checks) -> dict:
    """lentiMPRA (docs/paper.md, Tasks: lentiMPRA) from either layout; target `activity`.

    Raw `lentiMPRA_{cell}.h5`: one-hot `{k}_x` (N, 230, 4) and activity `{k}_y` (N,) (an (N, 1)
    column is accepted) for folds k = 1..10; folds 1–8 train, 9 valid, 10 test, in fold order;
    ids `fold{k}-{row}`. Derived `{cell}_data.h5` (`lenti_MPRA_preprocess.py`: those folds
    concatenated in that order): `onehot_{split}` (N, 230, 4) and `y_{split}` (N, 1); its
    `seq_{split}` is not read (the one-hot is decoded by the module's rules, as for the raw
    file); ids `{split}-{row}`, the folds being gone. The file read is `source["h5"]` when it
    exists (either layout, told by its keys), else the derived file beside it."""
    raw = Path(source["h5"])
    cell = re.fullmatch(r"lentiMPRA_(.+)\.h5", raw.name)
    layouts = [("raw", [raw])]
    if cell:
        layouts.append(("derived", [raw.with_name(f"{cell[1]}_data.h5")]))
    _, (path,) = find_layout(f"task {name!r}", layouts)
    where = f"task {name!r}: {path}"
    with open_h5(path, where) as f:
        form = "derived" if "onehot_train" in f and "1_x" not in f else "raw"
        splits, layout = (_lentimpra_folds if form == "raw" else _lentimpra_splits)(f, where)
    for split, part in splits.items():
        _check_values(part, ["activity"], f"{where}, split {split!r}", binary=False)
    folds = {"folds": {s: list(k) for s, k in LENTIMPRA_FOLDS.items()}} if form == "raw" else {}
    provenance = _provenance(path, layout, form=form, **folds)
    return write_task(name, "regression", ["activity"], splits, provenance, out_dir, **checks)


def prepare_binary_h5(name: str, source: dict, out_dir, **checks) -> dict:
    """One ChIP-seq TF `chip/{TF}_200.h5` or one eCLIP RBP `eclip/{RBP}_K562_200.h5`:
    200-nt one-hot (N, C, 200), channels-first, C = 4 (ChIP) or C >= 4 (eCLIP; channels after
    the first four ignored), and binary labels (N, 1) (or (N,)). ChIP keys are lower case
    (`x_train`, `y_train`, ...; docs/paper.md, Known issues: archive keys) and eCLIP keys upper
    case (`X_train`, `Y_train`, ...); the casing with more keys in the file is read. Target
    `label`; ids `{split}-{row}`."""
    path = Path(source["h5"])
    where = f"task {name!r}: {path}"
    splits, layout = {}, {}
    with open_h5(path, where) as f:
        lower = [f"{xy}_{split}" for split in SPLITS for xy in "xy"]
        upper = [k.capitalize() for k in lower]
        keys = max(lower, upper, key=lambda ks: sum(k in f for k in ks))
        require_keys(f, keys, where)
        x_key, y_key = keys[0][0], keys[1][0]
        for split in SPLITS:
            xs, ys = f"{x_key}_{split}", f"{y_key}_{split}"
            seqs, layout[xs] = read_sequences(f, xs, f"{where} [{xs}]")
            y = _read_targets(f, ys, f"{where} [{ys}]", len(seqs))
            splits[split] = _frame(split, seqs, {"label": y[:, 0]})
            _check_values(splits[split], ["label"], f"{where} [{ys}]", binary=True)
    return write_task(
        name, "binary", ["label"], splits, _provenance(path, layout), out_dir, **checks
    )


def _task_names(f: h5py.File, source: dict, n_tasks: int, where: str) -> tuple[list[str], str]:
    """Target names: `source["task_names"]`, else a 1-D string dataset `task_names` or
    `targets` in the file, else `task_0..task_{n-1}`; also say where they came from."""
    if "task_names" in source:
        names, origin = [str(n) for n in source["task_names"]], "source"
    else:
        key = next((k for k in TASK_NAME_KEYS if k in f), None)
        if key is None:
            return [f"task_{i}" for i in range(n_tasks)], "default"
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f[key][()].ravel()]
        origin = f"file key {key!r}"
    if len(names) != n_tasks or len(set(names)) != n_tasks or {"id", "sequence"} & set(names):
        raise ValueError(
            f"{where}: task names from {origin} must be {n_tasks} unique names other than 'id' "
            f"and 'sequence'; got {names}."
        )
    return names, origin


def prepare_eclip_multitask(name: str, source: dict, out_dir, **checks) -> dict:
    """Multitask K562 eCLIP `eclip/K562.h5` (docs/paper.md, Probes: RBP model): `X_{split}`
    one-hot (N, L, 4), channels-last, L ≈ 1000 [inferred; the number of tasks and L are unknown:
    docs/paper.md, Known issues: missing provenance], and
    `Y_{split}` (N, T) binary. Kind multilabel, one target column per task (names: see
    `_task_names`; recorded in provenance). Ids `{split}-{row}`."""
    path = Path(source["h5"])
    where = f"task {name!r}: {path}"
    frames, layout, targets = {}, {}, None
    with open_h5(path, where) as f:
        require_keys(f, [f"{xy}_{split}" for split in SPLITS for xy in "XY"], where)
        for split in SPLITS:
            seqs, layout[f"X_{split}"] = read_sequences(f, f"X_{split}", f"{where} [X_{split}]")
            width = None if targets is None else len(targets)
            y = _read_targets(f, f"Y_{split}", f"{where} [Y_{split}]", len(seqs), width)
            if targets is None:
                targets, origin = _task_names(f, source, y.shape[1], where)
            frames[split] = _frame(split, seqs, dict(zip(targets, y.T)))
            _check_values(frames[split], targets, f"{where} [Y_{split}]", binary=True)
    provenance = _provenance(path, layout, task_names_from=origin)
    return write_task(name, "multilabel", targets, frames, provenance, out_dir, **checks)


def prepare_insert_seq(name: str, source: dict, out_dir, **checks) -> dict:
    """INSERT-seq `RNAenlong/insert_dataset.h5`: `X_{split}` one-hot (N, 173, 4),
    channels-last, and `Y_{split}` (N, k); the archive's own train/valid/test split. Target
    `log1p_y0` = log(Y[:, 0] + 1), the only label the paper uses; Y[:, 0] <= -1 is an error
    naming the row. Ids `{split}-{row}`."""
    path = Path(source["h5"])
    where = f"task {name!r}: {path}"
    splits, layout = {}, {}
    with open_h5(path, where) as f:
        require_keys(f, [f"{xy}_{split}" for split in SPLITS for xy in "XY"], where)
        for split in SPLITS:
            seqs, layout[f"X_{split}"] = read_sequences(f, f"X_{split}", f"{where} [X_{split}]")
            y = _read_targets(f, f"Y_{split}", f"{where} [Y_{split}]", len(seqs), width=None)[:, 0]
            if (y <= -1).any():
                row = int(np.argmax(y <= -1))
                raise ValueError(
                    f"{where} [Y_{split}], row id '{split}-{row}': Y[:, 0] = {y[row]} <= -1, "
                    "so log(y + 1) is undefined."
                )
            splits[split] = _frame(split, seqs, {"log1p_y0": np.log1p(y)})
            _check_values(splits[split], ["log1p_y0"], f"{where} [Y_{split}]", binary=False)
    provenance = _provenance(path, layout, target="log(Y[:, 0] + 1)")
    return write_task(name, "regression", ["log1p_y0"], splits, provenance, out_dir, **checks)


ARCHIVE_TASKS = {
    "lentimpra": prepare_lentimpra,
    "chip": prepare_binary_h5,
    "eclip": prepare_binary_h5,
    "eclip_multitask": prepare_eclip_multitask,
    "insert_seq": prepare_insert_seq,
}
