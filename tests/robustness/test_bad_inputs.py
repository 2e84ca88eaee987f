"""Bad inputs never give a number and never a bare traceback (issue "Robustness").

Each case is a named error whose message names the file, row or key and the fix, and leaves
no partial output behind; a stale embedding cache is recomputed, never reused. One test per
case of docs/robustness.md: configuration, sequences, labels, downloads, checkpoints and
embedding caches. Everything is offline: tiny tables, a loopback HTTP server, tiny checkpoints
built once per module.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from glmeval.config import ConfigError, load_config, validate_config
from glmeval.data.archive import prepare_binary_h5
from glmeval.data.sequence import SequenceError, check_sequences
from glmeval.data.tasks import prepare_task
from glmeval.download import OFFLINE_ENV, DownloadError, download
from glmeval.embed import extract
from glmeval.io import read_json, sha256_of
from glmeval.models import SOURCE_RECORD, ModelError, TokenizationError, load_embedder
from glmeval.models.onehot import OneHotEmbedder
from glmeval.probes.inputs import ProbeInputError, load_features

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "config" / "schema.yaml"
SPLITS = ["train"] * 4 + ["valid"] * 2 + ["test"] * 2


def assert_no_partial_output(path: Path) -> None:
    """Nothing at `path`, and no temporary sibling (glmeval.io.atomic_path) beside it."""
    assert not path.exists(), f"{path} was left behind"
    if path.parent.exists():
        assert not [p.name for p in path.parent.glob(f".{path.name}.tmp*")]
        assert not [p.name for p in path.parent.glob(f"{path.name}.partial")]


# -- 1. configuration -------------------------------------------------------------------------


@pytest.fixture
def demo() -> dict:
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def _set(*keys_and_value):
    *keys, last, value = keys_and_value

    def mutate(config):
        for key in keys:
            config = config[key]
        config[last] = value

    return mutate


def _append(*keys_and_value):
    *keys, value = keys_and_value

    def mutate(config):
        for key in keys:
            config = config[key]
        config.append(value)

    return mutate


CONFIG_CASES = {
    "unknown_key": (
        _set("tasks", "motif_activity", "model", ["onehot"]),
        r"tasks\.motif_activity: unknown key\(s\) \['model'\]; allowed keys: \[.*'models'",
    ),
    "wrong_type": (
        _set("models", "tiny_nt", "n_layers", "2"),
        r"models\.tiny_nt\.n_layers: '2' is not of type 'integer'",
    ),
    # inside a oneOf (the task source): the synthetic branch's own fault, not the table
    # branch's "unknown keys"
    "wrong_type_in_a_source": (
        _set("tasks", "motif_activity", "source", "n_train", "6000"),
        r"tasks\.motif_activity\.source\.n_train: '6000' is not of type 'integer'",
    ),
    "undefined_probe": (
        _append("tasks", "motif_activity", "probes", "ridgee"),
        (
            r"tasks\.motif_activity\.probes: 'ridgee' is not defined; defined probes: "
            r"\['logistic', 'rep_cnn', 'rep_cnn_binary', 'rep_mlp', 'ridge'\]"
        ),
    ),
    "undefined_model": (
        _set("probes", "ridge", "models", ["onehott"]),
        (
            r"probes\.ridge\.models: 'onehott' is not defined; defined models: "
            r"\['onehot', 'tiny_mistral', 'tiny_nt'\]"
        ),
    ),
    "empty_model_list": (
        _set("models", {}),
        r"  - models is empty; give it at least 1 entry",
    ),
    "empty_probe_model_list": (
        _set("probes", "rep_mlp", "models", []),
        r"probes\.rep_mlp\.models is empty; give it at least 1 entry",
    ),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_invalid_configuration_names_the_key_and_what_is_allowed(demo, case):
    mutate, message = CONFIG_CASES[case]
    mutate(demo)
    with pytest.raises(ConfigError, match=message) as info:
        validate_config(demo, SCHEMA)
    assert str(info.value).endswith("No job was started.")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tasks: {}\nmodels: {}\nprobes: {}\nseed: [0]\n", r"unknown key\(s\) \['seed'\]"),
        ("tasks:\n  a: {kind: regression\nmodels: {}\n", r"(?s)is not valid YAML: .*line \d+"),
    ],
    ids=["schema", "yaml_syntax"],
)
def test_a_configuration_file_error_names_the_file(tmp_path, text, message):
    path = tmp_path / "my_config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path, SCHEMA)
    assert str(info.value).startswith(str(path))


# -- 2. sequences -----------------------------------------------------------------------------


def _rows(binary: bool = False) -> list[dict]:
    """Eight rows, four train, two valid, two test; `binary`: 0/1 labels."""
    return [
        {
            "id": f"r{i}",
            "sequence": "ACGTACGTAC",
            "y": float(i % 2) if binary else float(i),
            "split": split,
        }
        for i, split in enumerate(SPLITS)
    ]


def _prepare(tmp_path, rows, kind="regression", suffix=".csv", **task):
    path = tmp_path / f"table{suffix}"
    frame = pd.DataFrame(rows)
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    task = {"kind": kind, "targets": ["y"], "source": {"table": str(path)}, **task}
    return prepare_task("t", task, tmp_path / "out")


def test_lower_case_bases_are_upper_cased_with_a_note(tmp_path, capsys):
    rows = _rows()
    rows[2]["sequence"] = "acgtnACGTa"  # soft-masked repeats
    meta = _prepare(tmp_path, rows)
    assert "1 sequence(s) have lower-case (soft-masked) bases" in capsys.readouterr().err
    assert meta["provenance"]["uppercased_rows"] == 1
    train = pd.read_parquet(tmp_path / "out" / "train.parquet")
    assert train["sequence"].iloc[2] == "ACGTNACGTA"
    with pytest.raises(SequenceError, match=r"x\.csv, row id 'r2': character 'a' .*upper case"):
        check_sequences(["ACGT", "acgt"], ["r1", "r2"], where="x.csv")  # the library is strict


@pytest.mark.parametrize(
    ("sequence", "character", "position"),
    [("ACGRT", "R", 3), ("ACYGT", "Y", 2), ("ACG T", " ", 3), (" ACGT", " ", 0)],
    ids=["iupac_R", "iupac_Y", "space_inside", "space_leading"],
)
def test_iupac_codes_and_spaces_name_the_row_and_character(tmp_path, sequence, character, position):
    rows = _rows()
    rows[5]["sequence"] = sequence
    message = (
        rf"task 't', split 'valid', row id 'r5': character '{character}' at position "
        rf"{position} is not one of A, C, G, T, N .* Fix or drop that row"
    )
    with pytest.raises(SequenceError, match=message):
        _prepare(tmp_path, rows)
    assert_no_partial_output(tmp_path / "out")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_empty_sequence_is_an_error_or_dropped_never_a_sequence(tmp_path, suffix):
    rows = _rows()
    rows[1]["sequence"] = ""  # a CSV reads it back as NaN, which once became "NAN"
    with pytest.raises(ValueError, match=r"row id 'r1': an empty sequence .*invalid: drop"):
        _prepare(tmp_path, rows, suffix=suffix)
    assert_no_partial_output(tmp_path / "out")
    meta = _prepare(tmp_path, rows, suffix=suffix, invalid="drop")
    assert meta["dropped"] == {"train": 1} and meta["n"]["train"] == 3


def test_sequences_longer_than_a_models_context(tmp_path, demo):
    # configuration time: fixed-length sources against the context the config states
    demo["models"]["gpn_short"] = {
        "family": "gpn",
        "source": {"path": str(tmp_path / "gpn")},
        "n_layers": 2,
        "max_tokens": 100,
    }
    demo["tasks"]["motif_activity"]["models"].append("gpn_short")
    with pytest.raises(
        ConfigError,
        match=r"tasks\.motif_activity: its 230-base sequences are longer than model "
        r"'gpn_short' takes \(100 bases\); drop the model from it, or set "
        r"models\.gpn_short\.long_sequences: window",
    ):
        validate_config(demo, SCHEMA)


def test_a_sequence_beyond_the_context_at_embedding_time(tmp_path, checkpoints):
    # a user's table: lengths are known only when the model tokenizes them
    nt = load_embedder(
        "nt", {"family": "masked_lm", "n_layers": 2, "max_tokens": 8}, checkpoints["tiny_nt"]
    )
    out = tmp_path / "emb"
    with pytest.raises(
        TokenizationError,
        match=r"model 'nt': sequence 1 needs \d+ tokens but the model takes at most 8\. Set "
        r"models\.nt\.long_sequences: window",
    ):
        extract(nt, ["ACGTAC", "ACGT" * 25], out)
    assert_no_partial_output(out)


# -- 3. labels --------------------------------------------------------------------------------


def _label(row: int, value):
    def mutate(rows):
        rows[row]["y"] = value

    return mutate


def _single_class(rows):
    for row in rows:
        if row["split"] == "test":
            row["y"] = 1.0


def _duplicate_id(rows):
    rows[5]["id"] = "r1"


LABEL_CASES = {
    "nan": (
        "regression",
        _label(1, float("nan")),
        (
            r"split 'train', row id 'r1': missing target value\(s\) \['y'\]\. Fix the data or set "
            r"the task's invalid: drop"
        ),
    ),
    "inf": (
        "regression",
        _label(6, float("inf")),
        r"split 'test', row id 'r6': target 'y' is inf, not a finite number\. Fix or remove",
    ),
    "minus_inf": (
        "regression",
        _label(4, float("-inf")),
        r"split 'valid', row id 'r4': target 'y' is -inf, not a finite number",
    ),
    "not_a_number": (
        "regression",
        _label(0, "high"),
        r"split 'train', row id 'r0': target 'y' is 'high', not a finite number",
    ),
    "single_class": (
        "binary",
        _single_class,
        (
            r"split 'test', target 'y': a single class \(\[1\.0\]\); AUROC and AUPR are undefined.* "
            r"Rebalance the splits"
        ),
    ),
    "not_zero_one": (
        "binary",
        _label(3, 2.0),
        r"split 'train', target 'y': labels \[2\.0\] are not 0 or 1.* Recode the column",
    ),
    "duplicate_ids": (
        "regression",
        _duplicate_id,
        (
            r"task 't': duplicate ids, e\.g\. 'r1' \(2 rows, in split\(s\) \['train', 'valid'\]\)\. "
            r".*make the id column unique"
        ),
    ),
}


@pytest.mark.parametrize("case", LABEL_CASES)
def test_bad_labels_name_the_row_or_split_and_write_nothing(tmp_path, case):
    kind, mutate, message = LABEL_CASES[case]
    rows = _rows(binary=kind == "binary")
    mutate(rows)
    with pytest.raises(ValueError, match=message):
        _prepare(tmp_path, rows, kind=kind)
    assert_no_partial_output(tmp_path / "out")


def test_duplicate_fasta_records_name_the_file(tmp_path):
    (tmp_path / "x.fa").write_text(">s1\nACGT\n>s2\nACGA\n>s1\nTTTT\n")
    pd.DataFrame({"id": ["s1", "s2"], "y": [1.0, 2.0], "split": ["train", "test"]}).to_csv(
        tmp_path / "y.csv", index=False
    )
    source = {"fasta": str(tmp_path / "x.fa"), "labels": str(tmp_path / "y.csv")}
    with pytest.raises(ValueError, match=r"x\.fa: two records are named \"s1\".*must be unique"):
        prepare_task(
            "t", {"kind": "regression", "targets": ["y"], "source": source}, tmp_path / "out"
        )
    assert_no_partial_output(tmp_path / "out")


# -- 4. downloads -----------------------------------------------------------------------------

HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Log in</body></html>"
PAYLOAD = bytes(range(256)) * 64


class _Handler(BaseHTTPRequestHandler):
    """Serves `server.files[path] = (body, drop)`; `drop`: promise the whole body, send half."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        body, drop = self.server.files.get(self.path, (b"not found", False))
        self.send_response(200 if self.path in self.server.files else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if drop else body)
        self.close_connection = drop


@pytest.fixture
def server(monkeypatch) -> Iterator:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.files = {}
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _corrupt(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


GZIPPED = gzip.compress(PAYLOAD)
ZIPPED = _zip({"data.bin": PAYLOAD})
DOWNLOAD_CASES = {
    # the connection closes early on every try: retried, then given up, the .part kept
    "truncated_transfer": (
        "data.bin",
        PAYLOAD,
        True,
        {},
        (
            r"data\.bin \(http://.*/data\.bin\): giving up after 1 retries .*Check the network and "
            r"the URL, then rerun"
        ),
    ),
    # the server's file itself is cut short: unpacking finds it out
    "truncated_file": (
        "data.gz",
        GZIPPED[: len(GZIPPED) // 2],
        False,
        {},
        r"cannot unpack .*data\.gz: .*The archive is damaged; delete it and download it again",
    ),
    "corrupted_zip": (
        "data.zip",
        _corrupt(ZIPPED, 100),
        False,
        {},
        r"cannot unpack .*data\.zip: Bad CRC-32.* The archive is damaged; delete it",
    ),
    "corrupted_gzip": (
        "data.gz",
        _corrupt(GZIPPED, len(GZIPPED) // 2),
        False,
        {},
        r"cannot unpack .*data\.gz: .* The archive is damaged; delete it",
    ),
    "wrong_checksum": (
        "data.gz",
        GZIPPED,
        False,
        {"sha256": "0" * 64},
        (
            r"checksum mismatch for data\.gz from http://.*: expected sha256:0{64}, got sha256:"
            r"[0-9a-f]{64}; the file was deleted"
        ),
    ),
    "html_page_as_gz": (
        "data.gz",
        HTML,
        False,
        {},
        (
            r"data\.gz: the server answered http://.*/data\.gz with an HTML page .*not the file; it "
            r"was deleted\. To fix: open the URL in a browser"
        ),
    ),
    "html_page_as_zip": (
        "data.zip",
        HTML,
        False,
        {},
        r"data\.zip: the server answered .* with an HTML page",
    ),
    "html_page_as_h5": (
        "data.h5",
        HTML,
        False,
        {},
        r"data\.h5: the server answered .* with an HTML page",
    ),
    "html_page_with_a_pinned_checksum": (
        "data.gz",
        HTML,
        False,
        {"sha256": "1" * 64},
        r"checksum mismatch for data\.gz .* The download is an HTML page, not the file",
    ),
}


@pytest.mark.parametrize("case", DOWNLOAD_CASES)
def test_bad_downloads_are_named_errors_and_leave_no_output(server, tmp_path, case):
    name, body, drop, pinned, message = DOWNLOAD_CASES[case]
    server.files[f"/{name}"] = (body, drop)
    out = tmp_path / "downloads" / "paper_archive"
    with pytest.raises(DownloadError, match=message):
        download({"url": f"{server.base}/{name}", **pinned}, out, retries=1, backoff=0.001)
    assert_no_partial_output(out)
    staged = out.with_name(f".{out.name}.download")
    left = sorted(p.name for p in staged.iterdir()) if staged.exists() else []
    kept = {  # a damaged archive stays where the message says, to be deleted
        "truncated_transfer": [f".{name}.part"],  # resumed by the next run
        "truncated_file": [name],
        "corrupted_zip": [name],
        "corrupted_gzip": [name],
    }
    assert left == kept.get(case, [])


def _h5(path: Path) -> None:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for split in ("train", "valid", "test"):
            f.create_dataset(
                f"x_{split}",
                data=np.eye(4)[rng.integers(0, 4, (6, 200))].transpose(0, 2, 1).astype(np.float32),
            )
            f.create_dataset(f"y_{split}", data=np.array([0, 1] * 3, dtype=np.float32))


@pytest.mark.parametrize(
    ("damage", "what"),
    [("html", "an HTML page"), ("truncated", "truncated or not an HDF5 file")],
)
def test_a_damaged_archive_file_names_the_file_and_the_fix(tmp_path, damage, what):
    """An h5 saved before these checks existed, or copied by hand: found when it is read."""
    path = tmp_path / "downloads" / "paper_archive" / "data" / "chip" / "CTCF_200.h5"
    path.parent.mkdir(parents=True)
    _h5(path)
    data = path.read_bytes()
    path.write_bytes(HTML if damage == "html" else data[: len(data) // 2])
    with pytest.raises(
        ValueError,
        match=rf"task 'chip': .*CTCF_200\.h5: cannot be read as HDF5 \(.*\); it is {what}\b"
        r".*delete that directory and rerun to fetch it again",
    ):
        prepare_binary_h5("chip", {"h5": str(path)}, tmp_path / "out")
    assert_no_partial_output(tmp_path / "out")


# -- 5. checkpoints ---------------------------------------------------------------------------

REPO_ID, PINNED = "org/tiny-nt", "v1"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Tiny NT (ESM, 4,107-row vocabulary) and tiny BERT (BPE, 512 rows), built once."""
    from glmeval.models.build import BUILDERS

    root = tmp_path_factory.mktemp("checkpoints")
    for name in ("tiny_nt", "tiny_bert"):
        BUILDERS[name](root / name, n_layers=2)
    return {name: root / name for name in ("tiny_nt", "tiny_bert")}


def _tokenizer_files(path: Path) -> list[Path]:
    return [p for p in path.iterdir() if "token" in p.name or p.name == "vocab.txt"]


def _swap_tokenizer(path: Path, other: Path) -> None:
    for file in _tokenizer_files(path):
        file.unlink()
    for file in _tokenizer_files(other):
        shutil.copy(file, path / file.name)


def _hub_snapshot(path: Path, revision: str = PINNED, commit: str = "a" * 40) -> None:
    record = {"hub": REPO_ID, "revision": revision, "commit": commit}
    (path / SOURCE_RECORD).write_text(json.dumps(record))


def _locked(path: Path, lock: Path) -> None:
    from glmeval.models.lock import lock_snapshot

    _hub_snapshot(path)
    lock_snapshot("nt", lock, REPO_ID, PINNED, "a" * 40, path)


def _missing_weights(path, checkpoints, lock):
    (path / "model.safetensors").unlink()


def _smaller_tokenizer(path, checkpoints, lock):
    _swap_tokenizer(path, checkpoints["tiny_bert"])


def _other_revision(path, checkpoints, lock):
    _hub_snapshot(path, revision="v0")


def _other_commit(path, checkpoints, lock):
    _locked(path, lock)
    _hub_snapshot(path, commit="b" * 40)


def _locked_tokenizer_swapped(path, checkpoints, lock):
    _locked(path, lock)
    _swap_tokenizer(path, checkpoints["tiny_bert"])


CHECKPOINT_CASES = {
    "missing_weights": (
        "tiny_nt",
        False,
        _missing_weights,
        (
            r"model 'nt': cannot load the checkpoint at .*nt \(OSError: .*no file named "
            r"model\.safetensors.*delete that directory and rerun"
        ),
    ),
    "tokenizer_of_a_smaller_model": (
        "tiny_nt",
        False,
        _smaller_tokenizer,
        (
            r"model 'nt': the tokenizer at .* has 512 tokens but the model's vocabulary has 4107 "
            r"rows.*different checkpoints\. Re-download the snapshot"
        ),
    ),
    "tokenizer_of_a_larger_model": (
        "tiny_bert",
        False,
        lambda path, c, lock: _swap_tokenizer(path, c["tiny_nt"]),
        (
            r"model 'nt': the tokenizer at .* has ids up to 4106 but the model's vocabulary has 512 "
            r"rows; tokenizer and weights come from different checkpoints"
        ),
    ),
    "other_revision_than_pinned": (
        "tiny_nt",
        True,
        _other_revision,
        (
            rf"model 'nt': the snapshot at .* is {REPO_ID}@v0 but the config asks for "
            rf"{REPO_ID}@{PINNED}\. Delete .* and rerun"
        ),
    ),
    "other_commit_than_locked": (
        "tiny_nt",
        True,
        _other_commit,
        (
            r"does not match its entry in the model lock .*\n  - commit: locked a{40}, got b{40}"
            r"\n.*Restore the files: delete .* and rerun `snakemake models`"
        ),
    ),
    "locked_snapshot_with_another_tokenizer": (
        "tiny_nt",
        True,
        _locked_tokenizer_swapped,
        (
            r"does not match its entry in the model lock .*\n  - (tokenizer_config\.json|vocab\.txt)"
            r": (missing|locked \d+ bytes, got \d+)"
        ),
    ),
}


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_bad_checkpoints_are_refused_before_they_embed(tmp_path, checkpoints, case):
    built, hub, damage, message = CHECKPOINT_CASES[case]
    path, lock = tmp_path / "nt", tmp_path / "models.lock.json"
    shutil.copytree(checkpoints[built], path)
    damage(path, checkpoints, lock)
    model = {"family": "masked_lm", "n_layers": 2}
    if hub:
        model |= {"source": {"hub": REPO_ID, "revision": PINNED}, "models_lock": str(lock)}
    with pytest.raises(ModelError, match=message):
        load_embedder("nt", model, str(path))


def test_an_intact_checkpoint_loads(tmp_path, checkpoints):
    """The control: the same checks pass a checkpoint that is what the config says."""
    path, lock = tmp_path / "nt", tmp_path / "models.lock.json"
    shutil.copytree(checkpoints["tiny_nt"], path)
    _locked(path, lock)
    model = {
        "family": "masked_lm",
        "n_layers": 2,
        "models_lock": str(lock),
        "source": {"hub": REPO_ID, "revision": PINNED},
    }
    assert load_embedder("nt", model, str(path)).n_layers == 2


# -- 6. a stale embedding cache ---------------------------------------------------------------

SEQS = ["ACGTNACGTA", "GATTACA", "CCCGGGTTTAAA"]


class Counting:
    """An embedder that counts its forward passes."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def hidden_states(self, batch):
        self.calls += 1
        return self.inner.hidden_states(batch)


def _meta(input_sha256="1" * 64, n_value=0.0) -> dict:
    """What the workflow records with the arrays (workflow/scripts/extract_embeddings.py)."""
    return {
        "input_sha256": input_sha256,
        "settings": {"family": "onehot", "n_value": n_value},
        "source": None,
        "snapshot": None,
        "random_init": None,
    }


STALE_CASES = {
    "other_input": (OneHotEmbedder(), SEQS, _meta(input_sha256="2" * 64)),
    "other_sequences": (OneHotEmbedder(), SEQS[:2], _meta()),
    "other_model_settings": (OneHotEmbedder(n_value=0.25), SEQS, _meta(n_value=0.25)),
    "other_model": (OneHotEmbedder(k=2), SEQS, _meta()),
}


@pytest.mark.parametrize("case", STALE_CASES)
def test_a_stale_embedding_cache_is_recomputed(tmp_path, case):
    out = tmp_path / "emb"
    extract(OneHotEmbedder(), SEQS, out, token_layers=[0], meta=_meta())
    same = Counting(OneHotEmbedder())
    extract(same, SEQS, out, token_layers=[0], meta=_meta())
    assert same.calls == 0  # up to date: reused

    embedder, seqs, meta = STALE_CASES[case]
    counting = Counting(embedder)
    extract(counting, seqs, out, token_layers=[0], meta=meta)
    assert counting.calls > 0, "a stale cache was reused"
    recorded = read_json(out / "meta.json")
    assert recorded["input_sha256"] == meta["input_sha256"]
    assert recorded["settings"] == meta["settings"] and recorded["n_sequences"] == len(seqs)
    fresh = tmp_path / "fresh"
    extract(embedder, seqs, fresh, token_layers=[0], meta=meta)
    for name in ("pooled.npy", "tokens.L0.npy"):
        assert np.load(out / name).tobytes() == np.load(fresh / name).tobytes(), name
    assert_no_partial_output(tmp_path / "emb.partial")


def test_a_cache_without_a_fingerprint_is_recomputed(tmp_path):
    """A meta.json copied from elsewhere, or from before fingerprints: never trusted."""
    out = tmp_path / "emb"
    extract(OneHotEmbedder(), SEQS, out, meta=_meta())
    record = read_json(out / "meta.json")
    del record["fingerprint"]
    (out / "meta.json").write_text(json.dumps(record))
    counting = Counting(OneHotEmbedder())
    extract(counting, SEQS, out, meta=_meta())
    assert counting.calls > 0 and "fingerprint" in read_json(out / "meta.json")


def test_embeddings_of_another_split_version_are_refused_by_the_probe(tmp_path):
    """The consumer's side: arrays whose recorded input is not the split a probe reads."""
    split = tmp_path / "train.parquet"
    pd.DataFrame({"id": ["a", "b", "c"], "sequence": SEQS}).to_parquet(split)
    out = tmp_path / "emb"
    extract(OneHotEmbedder(), SEQS, out, meta=_meta(input_sha256=sha256_of(split)))
    assert load_features(out, "mean", 0, split_file=split).shape == (3, 4)
    pd.DataFrame({"id": ["a", "b", "c"], "sequence": SEQS[::-1]}).to_parquet(split)
    with pytest.raises(
        ProbeInputError,
        match=f"{re.escape(str(out))} was extracted from another version of "
        f"{re.escape(str(split))}; delete it and rerun",
    ):
        load_features(out, "mean", 0, split_file=split)
