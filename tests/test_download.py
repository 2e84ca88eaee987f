"""glmeval.download against a real HTTP server on loopback: the Zenodo API, resumed and retried
downloads, verification, unpacking, offline mode and idempotence."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from glmeval.download import (
    OFFLINE_ENV,
    RECORD,
    DownloadError,
    RemoteFile,
    download,
    fetch,
    unpack,
    zenodo_files,
)

RECORD_ID = 42
DATA = bytes(range(256)) * 800  # 200 KiB
DROP_AT = 50_000


@dataclass
class Served:
    """A file the server serves, and how it misbehaves."""

    data: bytes
    # what to do on the first requests, in turn: "drop" (send DROP_AT bytes of a 200, then close
    # the connection) or "503"; then serve normally
    script: list[str] = field(default_factory=list)
    ignore_range: bool = False  # answer 200 with the whole file to Range requests
    served: bytes | None = None  # bytes actually sent (default: data), e.g. corrupted


@dataclass
class State:
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    base: str = ""

    def file_requests(self, name: str) -> list[str | None]:
        """The Range headers of the requests for file `name`."""
        return [rng for path, rng in self.requests if path == f"/files/{name}"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        state: State = self.server.state
        state.requests.append((self.path, self.headers.get("Range")))
        if self.path == f"/api/records/{RECORD_ID}":
            self._send(200, json.dumps(self._record(new=True)).encode(), "application/json")
        elif self.path == f"/oldapi/records/{RECORD_ID}":
            self._send(200, json.dumps(self._record(new=False)).encode(), "application/json")
        elif self.path.startswith("/files/") and self.path[7:] in state.files:
            self._file(state.files[self.path[7:]])
        else:
            self._send(404, b"not found")

    def _record(self, new: bool) -> dict:
        state: State = self.server.state
        entries = [
            {
                "key": name,
                "size": len(f.data),
                "checksum": f"md5:{hashlib.md5(f.data).hexdigest()}",
                "links": {("self" if new else "content"): f"{state.base}/files/{name}"},
            }
            for name, f in state.files.items()
        ]
        return {"files": entries} if new else {"files": {"entries": {e["key"]: e for e in entries}}}

    def _file(self, f: Served) -> None:
        action = f.script.pop(0) if f.script else None
        if action == "503":
            return self._send(503, b"busy")
        body = f.served if f.served is not None else f.data
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match and not f.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                return self._send(416, b"", headers={"Content-Range": f"bytes */{len(body)}"})
            content_range = f"bytes {start}-{len(body) - 1}/{len(body)}"
            return self._send(206, body[start:], headers={"Content-Range": content_range})
        if action == "drop":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:DROP_AT])
            self.close_connection = True
            return None
        return self._send(200, body)

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str = "application/octet-stream",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(monkeypatch) -> Iterator[State]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = State(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield httpd.state
    httpd.shutdown()
    httpd.server_close()


def remote_of(state: State, name: str) -> RemoteFile:
    data = state.files[name].data
    return RemoteFile(
        name, f"{state.base}/files/{name}", len(data), f"md5:{hashlib.md5(data).hexdigest()}"
    )


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def tar_gz_bytes(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buffer.getvalue()


@pytest.mark.parametrize("api", ["api", "oldapi"])
def test_zenodo_files_reads_sizes_checksums_and_links(server, api):
    server.files = {"a.zip": Served(b"abc"), "b.txt": Served(DATA)}
    files = zenodo_files(f"10.5281/zenodo.{RECORD_ID}", api=f"{server.base}/{api}")
    assert files == {"a.zip": remote_of(server, "a.zip"), "b.txt": remote_of(server, "b.txt")}


def test_fetch_resumes_after_a_dropped_connection(server, tmp_path):
    server.files = {"f.bin": Served(DATA, script=["drop"])}
    dest = fetch(remote_of(server, "f.bin"), tmp_path / "f.bin", backoff=0.001)
    assert dest.read_bytes() == DATA
    assert server.file_requests("f.bin") == [None, f"bytes={DROP_AT}-"]
    assert list(tmp_path.iterdir()) == [dest]


def test_fetch_starts_over_when_the_server_ignores_range(server, tmp_path):
    server.files = {"f.bin": Served(DATA, script=["drop"], ignore_range=True)}
    dest = fetch(remote_of(server, "f.bin"), tmp_path / "f.bin", backoff=0.001)
    assert dest.read_bytes() == DATA
    assert server.file_requests("f.bin") == [None, f"bytes={DROP_AT}-"]


def test_fetch_starts_over_when_a_part_cannot_be_resumed(server, tmp_path):
    server.files = {"f.bin": Served(DATA)}
    (tmp_path / ".f.bin.part").write_bytes(DATA + b"junk")  # no size known: asks for the rest
    remote = RemoteFile("f.bin", f"{server.base}/files/f.bin", None, None)
    assert fetch(remote, tmp_path / "f.bin", backoff=0.001).read_bytes() == DATA
    assert server.file_requests("f.bin") == [f"bytes={len(DATA) + 4}-", None]


def test_fetch_keeps_a_verified_destination_and_replaces_a_bad_one(server, tmp_path):
    server.files = {"f.bin": Served(DATA)}
    dest = tmp_path / "f.bin"
    dest.write_bytes(DATA)
    fetch(remote_of(server, "f.bin"), dest)
    assert server.requests == []
    dest.write_bytes(b"stale")
    assert fetch(remote_of(server, "f.bin"), dest).read_bytes() == DATA
    assert server.file_requests("f.bin") == [None]


def test_fetch_retries_5xx_with_backoff_then_gives_up(server, tmp_path):
    server.files = {"f.bin": Served(DATA, ["503"] * 3), "down.bin": Served(DATA, ["503"] * 9)}
    fetch(remote_of(server, "f.bin"), tmp_path / "f.bin", retries=3, backoff=0.001)
    assert (tmp_path / "f.bin").read_bytes() == DATA
    assert len(server.file_requests("f.bin")) == 4
    with pytest.raises(DownloadError, match=r"down\.bin.*giving up after 2 retries.*503"):
        fetch(remote_of(server, "down.bin"), tmp_path / "down.bin", retries=2, backoff=0.001)
    assert len(server.file_requests("down.bin")) == 3


def test_fetch_does_not_retry_a_missing_url(server, tmp_path):
    remote = RemoteFile("nope.bin", f"{server.base}/files/nope.bin", None, None)
    with pytest.raises(DownloadError, match=r"files/nope\.bin failed: HTTP 404"):
        fetch(remote, tmp_path / "nope.bin", backoff=0.001)
    assert len(server.requests) == 1


def test_checksum_mismatch_deletes_the_file_and_names_both_checksums(server, tmp_path):
    corrupt = bytes(reversed(DATA))
    server.files = {"f.bin": Served(DATA, served=corrupt)}
    remote = remote_of(server, "f.bin")
    with pytest.raises(DownloadError) as err:
        fetch(remote, tmp_path / "f.bin", backoff=0.001)
    message = str(err.value)
    assert "f.bin" in message and remote.checksum in message
    assert f"md5:{hashlib.md5(corrupt).hexdigest()}" in message
    assert list(tmp_path.iterdir()) == []


def test_unpack_zip_tar_gz_and_gz(tmp_path):
    members = {"a.txt": b"alpha", "sub/b.txt": b"beta"}
    (tmp_path / "x.zip").write_bytes(zip_bytes(members))
    (tmp_path / "x.tar.gz").write_bytes(tar_gz_bytes(members))
    (tmp_path / "genome.fa.gz").write_bytes(gzip.compress(b">chr1\nACGT\n"))
    for name in ("x.zip", "x.tar.gz"):
        unpack(tmp_path / name, tmp_path / f"out-{name}")
        assert (tmp_path / f"out-{name}" / "a.txt").read_bytes() == b"alpha"
        assert (tmp_path / f"out-{name}" / "sub" / "b.txt").read_bytes() == b"beta"
    unpack(tmp_path / "genome.fa.gz", tmp_path / "genome")
    assert [p.name for p in (tmp_path / "genome").iterdir()] == ["genome.fa"]
    assert (tmp_path / "genome" / "genome.fa").read_bytes() == b">chr1\nACGT\n"


@pytest.mark.parametrize(
    "name, content",
    [
        ("zip-dotdot.zip", zip_bytes({"ok.txt": b"", "../evil.txt": b"x"})),
        ("tar-absolute.tar.gz", tar_gz_bytes({"/tmp/evil.txt": b"x"})),
        ("tar-dotdot.tgz", tar_gz_bytes({"a/../../evil.txt": b"x"})),
        ("tar-symlink.tar.gz", tar_gz_bytes({}, symlinks={"link": "../../etc"})),
    ],
    ids=lambda value: value if isinstance(value, str) else "",  # archive bytes carry a time
)
def test_unpack_refuses_members_escaping_the_target(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DownloadError, match="outside the target directory"):
        unpack(tmp_path / name, tmp_path / "out" / "x")
    assert not (tmp_path / "out" / "x").exists() and not (tmp_path / "evil.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_download_zenodo_archive_then_does_nothing_on_rerun(server, tmp_path):
    server.files = {"data.zip": Served(zip_bytes({"t/x.csv": b"1,2\n"}))}
    spec = {"zenodo": RECORD_ID, "file": "data.zip"}
    out = tmp_path / "downloads" / "paper"
    download(spec, out, api=f"{server.base}/api")
    assert (out / "t" / "x.csv").read_bytes() == b"1,2\n"
    record = json.loads((out / RECORD).read_text())
    assert record["spec"] == spec and record["checksum"] == remote_of(server, "data.zip").checksum
    assert record["checksum_verified"] and record["unpacked"]
    assert record["size"] == len(server.files["data.zip"].data)
    assert sorted(p.name for p in out.parent.iterdir()) == ["paper"]
    seen = len(server.requests)
    download(spec, out, api=f"{server.base}/api")
    assert len(server.requests) == seen


def test_download_of_a_killed_job_resumes_on_rerun(server, tmp_path):
    server.files = {"f.bin": Served(DATA, script=["drop", "503"])}
    spec = {"zenodo": RECORD_ID, "file": "f.bin"}
    out = tmp_path / "f"
    api = f"{server.base}/api"
    with pytest.raises(DownloadError, match="giving up after 0 retries"):
        download(spec, out, api=api, retries=0, backoff=0.001)
    assert not out.exists()
    download(spec, out, api=api, retries=0)
    assert (out / "f.bin").read_bytes() == DATA
    resume = f"bytes={DROP_AT}-"
    assert server.file_requests("f.bin") == [None, resume, resume]


def test_download_plain_url_with_pinned_sha256(server, tmp_path):
    server.files = {"hg.fa.gz": Served(gzip.compress(b">chr1\nACGT\n"))}
    url = f"{server.base}/files/hg.fa.gz"
    sha256 = hashlib.sha256(server.files["hg.fa.gz"].data).hexdigest()
    download({"url": url, "sha256": sha256}, tmp_path / "hg")
    assert (tmp_path / "hg" / "hg.fa").read_bytes() == b">chr1\nACGT\n"
    record = json.loads((tmp_path / "hg" / RECORD).read_text())
    assert record["checksum"] == f"sha256:{sha256}" and record["checksum_verified"]
    with pytest.raises(DownloadError, match=f"expected sha256:{'0' * 64}, got sha256:{sha256}"):
        download({"url": url, "sha256": "0" * 64, "unpack": False}, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_download_plain_url_without_checksum_keeps_the_file(server, tmp_path):
    server.files = {"notes.txt": Served(b"hello")}
    download({"url": f"{server.base}/files/notes.txt"}, tmp_path / "notes")
    assert (tmp_path / "notes" / "notes.txt").read_bytes() == b"hello"
    record = json.loads((tmp_path / "notes" / RECORD).read_text())
    assert record["checksum"] == f"sha256:{hashlib.sha256(b'hello').hexdigest()}"
    assert not record["checksum_verified"] and not record["unpacked"]


def test_missing_file_in_the_record_lists_what_is_there_and_the_line_to_write(server, tmp_path):
    server.files = {"a.zip": Served(b"a"), "b.tar.gz": Served(b"b")}
    with pytest.raises(DownloadError) as err:
        download({"zenodo": RECORD_ID, "file": "c.zip"}, tmp_path / "c", api=f"{server.base}/api")
    assert re.search(r"downloads\.c: .* no file matching 'c\.zip'", str(err.value))
    assert "  a.zip  (0.0 MiB)\n  b.tar.gz  (0.0 MiB)" in str(err.value)
    assert "downloads:\n    c:\n      file: <one of the names above>" in str(err.value)
    assert not (tmp_path / "c").exists()


def test_a_glob_or_a_list_of_names_picks_the_one_file_that_matches(server, tmp_path):
    server.files = {
        "LLM_eval_data.zip": Served(zip_bytes({"data/x.txt": b"x"})),
        "model.zip": Served(b"m"),
        "README.md": Served(b"r"),
    }
    api = f"{server.base}/api"
    spec = {"zenodo": RECORD_ID, "file": ["data.zip", "*data*.zip"], "description": "the data"}
    download(spec, tmp_path / "paper", api=api)
    assert (tmp_path / "paper" / "data" / "x.txt").read_bytes() == b"x"
    assert json.loads((tmp_path / "paper" / RECORD).read_text())["file"] == "LLM_eval_data.zip"
    # a new description is the same download: nothing is fetched again
    requests_before = len(server.requests)
    download({**spec, "description": "reworded"}, tmp_path / "paper", api=api)
    assert len(server.requests) == requests_before
    with pytest.raises(
        DownloadError,
        match=r"'\*\.zip' matches 2 files .*LLM_eval_data\.zip, "
        r"model\.zip.*\n  downloads:\n    two:\n      file: LLM_eval_data\.zip",
    ):
        download({"zenodo": RECORD_ID, "file": "*.zip"}, tmp_path / "two", api=api)


def test_a_publishers_checksum_list_verifies_a_url_download(server, tmp_path):
    data = gzip.compress(b">chr1\nACGT\n")
    digest = hashlib.md5(data).hexdigest()
    server.files = {
        "hg19.fa.gz": Served(data),
        "md5sum.txt": Served(f"{'1' * 32}  hg19.2bit\n{digest}  hg19.fa.gz\n".encode()),
        "bad.txt": Served(f"{'0' * 32}  hg19.fa.gz\n".encode()),
    }
    url = f"{server.base}/files/hg19.fa.gz"
    download({"url": url, "checksum_file": f"{server.base}/files/md5sum.txt"}, tmp_path / "hg")
    record = json.loads((tmp_path / "hg" / RECORD).read_text())
    assert record["checksum"] == f"md5:{digest}" and record["checksum_verified"]
    with pytest.raises(DownloadError, match=f"expected md5:{'0' * 32}, got md5:{digest}"):
        download({"url": url, "checksum_file": f"{server.base}/files/bad.txt"}, tmp_path / "b")
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.download/*.gz"))
    with pytest.raises(
        DownloadError,
        match=r"md5sum\.txt has no line for other\.fa\.gz "
        r"\(it lists hg19\.2bit, hg19\.fa\.gz\)",
    ):
        download(
            {"url": url, "file": "other.fa.gz", "checksum_file": f"{server.base}/files/md5sum.txt"},
            tmp_path / "o",
        )


def test_an_unresolvable_host_fails_at_once_with_its_whole_name_and_the_fix(
    tmp_path, monkeypatch, capsys
):
    import socket

    host = "hgdownload.soe.ucsc.example-that-does-not-resolve.org"
    real = socket.getaddrinfo

    def getaddrinfo(name, *args, **kwargs):
        if name == host:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(DownloadError) as err:
        download({"url": f"https://{host}/goldenPath/hg19.fa.gz"}, tmp_path / "hg19")
    message = str(err.value)
    assert f"cannot reach {host} (its name does not resolve" in message
    assert "snakemake download" in message and "offline: true" in message
    assert "retrying" not in capsys.readouterr().err  # no retries: none could help


def test_a_host_that_refuses_fails_at_once(server, tmp_path, capsys):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot reach 127.0.0.1 .it refuses connections"):
        zenodo_files(RECORD_ID, api=f"http://127.0.0.1:{port}/api")
    assert "retrying" not in capsys.readouterr().err


@pytest.mark.parametrize("by_env", [False, True])
def test_offline_mode_never_touches_the_network(server, tmp_path, monkeypatch, by_env):
    if by_env:
        monkeypatch.setenv(OFFLINE_ENV, "1")
    spec = {"zenodo": RECORD_ID, "file": "data.zip"}
    with pytest.raises(DownloadError, match=r"not in .*paper.*snakemake download.*resources/"):
        download(spec, tmp_path / "paper", offline=not by_env, api=f"{server.base}/api")
    assert server.requests == []


def test_existing_output_for_another_spec_is_refused(tmp_path):
    out = tmp_path / "paper"
    out.mkdir()
    (out / RECORD).write_text(json.dumps({"spec": {"zenodo": 1, "file": "old.zip"}}))
    with pytest.raises(DownloadError, match="delete it and rerun"):
        download({"zenodo": 2, "file": "new.zip"}, out, offline=True)


def test_invalid_spec_or_file_name_is_refused(tmp_path):
    with pytest.raises(DownloadError, match="invalid download spec"):
        download({"zenodo": 1, "url": "http://x"}, tmp_path / "x")
    with pytest.raises(DownloadError, match=r"set downloads\.x\.file: <a plain file name>"):
        download({"url": "http://127.0.0.1:9/x", "file": "../x"}, tmp_path / "x")
