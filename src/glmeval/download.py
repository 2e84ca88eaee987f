"""Robust downloads: the paper's Zenodo archive, genome FASTAs and other remote files.

`download(spec, out_dir)` is what the workflow calls. It resolves `spec` to a `RemoteFile` (a
Zenodo record's file, with the size and checksum its REST API states, or a plain URL with an
optional pinned checksum), fetches it with `fetch` (resumed from a `.part` file after an
interruption, retried with exponential backoff, size- and checksum-verified, renamed into place
only when complete), unpacks archives with `unpack`, and writes `out_dir` atomically together
with `download.json`, a record of where the file came from and how it was verified.

Offline mode (`download(..., offline=True)`, or the environment variable GLMEVAL_OFFLINE=1) never
touches the network: an `out_dir` that is not there yet is an error saying how to pre-stage it.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import socket
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import unquote, urljoin, urlparse

import requests
import urllib3

from glmeval import __version__
from glmeval.io import atomic_path, read_json, sha256_of, write_json

ZENODO_API = "https://zenodo.org/api"
#: The provenance record `download` writes into every output directory.
RECORD = "download.json"
#: Set to 1/true/yes to forbid all downloads (same effect as `download(..., offline=True)`).
OFFLINE_ENV = "GLMEVAL_OFFLINE"
#: What a download spec may hold; `description` is the reader's, the rest says what is fetched.
SPEC_KEYS = {"zenodo", "file", "url", "sha256", "md5", "checksum_file", "unpack", "description"}
#: Plain HTTP is allowed only to this machine (local mirrors, tests); everything else is HTTPS.
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

_CHUNK = 1 << 20
_MAX_DELAY = 300.0
_TRANSIENT = (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError)
_DAMAGED = (
    zipfile.BadZipFile,
    tarfile.TarError,
    gzip.BadGzipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
)
_T = TypeVar("_T")


class DownloadError(RuntimeError):
    """A download, verification or unpacking failure; the message names the file and the fix."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch; `size` in bytes and `checksum` ("md5:<hex>" / "sha256:<hex>") when known."""

    name: str
    url: str
    size: int | None = None
    checksum: str | None = None


class Unreachable(DownloadError):
    """The host does not resolve or refuses connections: no retry can help."""


class _Retryable(Exception):
    """A transient failure; `progressed` when the attempt still added bytes to the .part file."""

    def __init__(self, cause: str, progressed: bool = False, retry_after: float | None = None):
        super().__init__(cause)
        self.progressed, self.retry_after = progressed, retry_after


def zenodo_files(
    record: int | str, api: str = ZENODO_API, session: requests.Session | None = None
) -> dict[str, RemoteFile]:
    """The files of Zenodo record `record` (an id, a 10.5281/zenodo.<id> DOI or a record URL),
    by name, with the sizes, checksums and download links the REST API states."""
    rid = _record_id(record)
    url = f"{api.rstrip('/')}/records/{rid}"
    session = session or _session()

    def get() -> dict:
        with _get(session, url, 60, {"Accept": "application/json"}) as response:
            try:
                return response.json()
            except ValueError as err:
                raise DownloadError(f"Zenodo API {url} did not answer JSON ({err}).") from err

    data = _retrying(f"Zenodo record {rid}", 5, 2.0, get)
    files = data.get("files")
    if isinstance(files, dict):  # older shape: {"files": {"entries": {...} or [...]}}
        files = files.get("entries")
    if isinstance(files, dict):
        files = list(files.values())
    remotes = {}
    for entry in files if isinstance(files, list) else []:
        name = entry.get("key") or entry.get("filename")
        if not name:
            continue
        links = entry.get("links") or {}
        link = links.get("content") or links.get("self") or links.get("download")
        size = entry.get("size", entry.get("filesize"))
        remotes[name] = RemoteFile(
            name=name,
            url=link or f"{api.rstrip('/')}/records/{rid}/files/{name}/content",
            size=int(size) if size is not None else None,
            checksum=_normalise_checksum(entry.get("checksum")),
        )
    if not remotes:
        raise DownloadError(
            f"Zenodo record {rid} ({url}) lists no files: it may be restricted or embargoed, "
            "or the id is wrong."
        )
    return remotes


def fetch(
    remote: RemoteFile,
    dest: Path,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 60,
    session: requests.Session | None = None,
) -> Path:
    """Download `remote` to `dest` and return `dest`.

    Bytes go to `.{dest.name}.part` beside `dest`, so a rerun after an interruption resumes with
    an HTTP Range request (a server that ignores it is read again from byte 0). Connection
    errors, timeouts, HTTP 429 and 5xx are retried `retries` times, waiting `backoff` seconds
    and doubling; an attempt that still added bytes resets the count. The complete file is
    checked against `remote.size` and `remote.checksum` (a mismatch deletes it) and only then
    renamed onto `dest`. An existing `dest` that passes those checks is kept as is.
    """
    dest = Path(dest)
    part = dest.with_name(f".{dest.name}.part")
    if dest.exists():
        try:
            _verify(remote, dest)
            return dest
        except DownloadError as err:
            _log(f"{dest} fails verification, downloading it again: {err}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    session = session or _session()

    def attempt() -> None:
        start = part.stat().st_size if part.exists() else 0
        try:
            total = _fetch_once(session, remote, part, timeout)
        except _TRANSIENT as err:
            size = part.stat().st_size if part.exists() else 0
            raise _Retryable(_describe(err), progressed=size > start) from err
        size = part.stat().st_size
        if total is not None and size < total:
            raise _Retryable(f"connection closed after {size} of {total} bytes", size > start)

    _retrying(f"{remote.name} ({remote.url})", retries, backoff, attempt)
    _verify(remote, part)
    os.replace(part, dest)
    _log(f"{remote.name}: complete and verified, {_mib(dest.stat().st_size)}")
    return dest


def unpack(archive: Path, out_dir: Path) -> None:
    """Unpack a zip, tar (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz) or single-file .gz `archive`
    into the new directory `out_dir` (a .gz becomes the file without .gz). The content goes to a
    temporary sibling renamed onto `out_dir` when done; members that would land outside it
    (absolute paths, `..`, links pointing out) are refused."""
    archive, out_dir = Path(archive), Path(out_dir)
    kind = archive_kind(archive.name)
    if kind is None:
        raise DownloadError(
            f"cannot unpack {archive}: not a .zip, .tar(.gz|.bz2|.xz), .tgz or .gz file. "
            "Set unpack: false to keep it as it is."
        )
    if out_dir.exists():
        raise DownloadError(f"cannot unpack {archive} into {out_dir}: it exists; delete it first.")
    _log(f"unpacking {archive.name} into {out_dir}")
    try:
        with atomic_path(out_dir) as tmp:
            tmp.mkdir()
            if kind == "zip":
                with zipfile.ZipFile(archive) as zf:
                    for name in zf.namelist():
                        _check_member(archive, name)
                    zf.extractall(tmp)
            elif kind == "tar":
                with tarfile.open(archive) as tf:
                    for member in tf.getmembers():
                        _check_member(archive, member.name)
                        if member.issym():
                            link = PurePosixPath(member.name).parent / member.linkname
                            _check_member(archive, member.name, str(link))
                        elif member.islnk():
                            _check_member(archive, member.name, member.linkname)
                    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                    tf.extractall(tmp, **safe)
            else:
                with gzip.open(archive) as src, open(tmp / archive.name[:-3], "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
    except _DAMAGED as err:
        raise DownloadError(
            f"cannot unpack {archive}: {err}. The archive is damaged; delete it and download "
            "it again."
        ) from err


def download(
    spec: dict,
    out_dir: str | Path,
    offline: bool = False,
    api: str = ZENODO_API,
    retries: int = 5,
    backoff: float = 2.0,
) -> None:
    """Materialise `spec` into the directory `out_dir`, written atomically: the downloaded file,
    or its unpacked content, plus `download.json` (spec, url, size, checksum, whether it was
    verified against a stated one, UTC time). An existing `out_dir` made from the same spec is
    left alone. `out_dir`'s name is the download's name in messages (`downloads.<name>`).

    `spec` is `{"zenodo": <record>, "file": <name, glob or list of them>}` or `{"url": <url>}`,
    with optional `"sha256"`/`"md5"` (hex; pinned, it replaces the checksum Zenodo states) or
    `"checksum_file"` (for a URL: the publisher's md5sum.txt-style list), `"file"` (for a URL: the
    local name, default the URL's last segment), `"unpack"` (default: true for archives) and
    `"description"`. The `.part` file of an interrupted download stays in
    `.{out_dir name}.download/` beside `out_dir`, so a rerun resumes it.
    """
    out_dir = Path(out_dir)
    label = check_spec(spec)
    if _already_done(spec, out_dir):
        return
    if offline or os.environ.get(OFFLINE_ENV, "").lower() in {"1", "true", "yes"}:
        why = f"{OFFLINE_ENV} is set" if not offline else "offline mode is on"
        raise DownloadError(
            f"{label} is not in {out_dir} and {why}, so it cannot be downloaded. Pre-stage it: "
            "on a machine with internet access run `snakemake download` in a checkout with the "
            "same config, then copy its resources/downloads/ directory into this one."
        )
    with _session() as session:
        remote = resolve_remote(spec, out_dir.name, api, session)
        if remote.name in ("", ".", "..") or "/" in remote.name or "\\" in remote.name:
            raise DownloadError(
                f"cannot store {remote.url} under the name {remote.name!r}; set "
                f"downloads.{out_dir.name}.file: <a plain file name> in the configuration."
            )
        staging = out_dir.with_name(f".{out_dir.name}.download")
        staged = fetch(remote, staging / remote.name, retries, backoff, session=session)
    unpacked = spec.get("unpack", archive_kind(remote.name) is not None)
    checksum = remote.checksum or f"sha256:{sha256_of(staged)}"
    if remote.checksum is None:
        _log(f"{remote.name}: no checksum to verify against; pin it with sha256: {checksum[7:]}")
    record = {
        "spec": spec,
        "file": remote.name,
        "url": remote.url,
        "size": staged.stat().st_size,
        "checksum": checksum,
        "checksum_verified": remote.checksum is not None,
        "unpacked": unpacked,
        "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with atomic_path(out_dir) as tmp:
        if unpacked:
            unpack(staged, tmp)
        else:
            tmp.mkdir()
        write_json(record, tmp / RECORD)
        if not unpacked:
            os.replace(staged, tmp / remote.name)
    shutil.rmtree(staging)


def check_spec(spec: dict) -> str:
    """Validate a download spec; return how to name it in messages."""
    unknown = set(spec) - SPEC_KEYS
    checksums = [key for key in ("sha256", "md5", "checksum_file") if key in spec]
    file = spec.get("file")
    names = [file] if isinstance(file, str) else file
    if (
        unknown
        or ("zenodo" in spec) == ("url" in spec)
        or ("zenodo" in spec and not names)
        or ("url" in spec and file is not None and not isinstance(file, str))
        or not isinstance(names or [], list)
        or not all(isinstance(n, str) and n for n in names or [])
        or len(checksums) > 1
        or ("zenodo" in spec and "checksum_file" in spec)
    ):
        raise DownloadError(
            f"invalid download spec {spec!r}: give either zenodo: <record id> with file: <name, "
            "glob or list of them>, or url: <url>; optional keys: one of sha256, md5 or "
            "checksum_file (a URL's published md5sum.txt), unpack, file (for a URL: the local "
            "name), description." + (f" Unknown keys: {sorted(unknown)}." if unknown else "")
        )
    if "zenodo" in spec:
        return f"{' or '.join(map(str, names))} (Zenodo record {spec['zenodo']})"
    return spec["url"]


def _content(spec: dict) -> dict:
    """The keys of a spec that say what is fetched (a new description is the same download)."""
    return json.loads(json.dumps({k: v for k, v in spec.items() if k != "description"}))


def _already_done(spec: dict, out_dir: Path) -> bool:
    if not out_dir.exists():
        return False
    if not (out_dir / RECORD).is_file():
        raise DownloadError(
            f"{out_dir} exists but has no {RECORD}, so it was not written by a download; "
            "delete it and rerun."
        )
    got = read_json(out_dir / RECORD).get("spec")
    if _content(got or {}) != _content(spec):
        raise DownloadError(
            f"{out_dir} holds a download of {got!r} but the config asks for {spec!r}; "
            "delete it and rerun to download the configured one."
        )
    return True


def is_downloaded(spec: dict, out_dir: str | Path) -> bool:
    """Whether `out_dir` already holds a complete download of `spec`."""
    try:
        return _already_done(spec, Path(out_dir))
    except DownloadError:
        return False


def resolve_remote(
    spec: dict, name: str, api: str = ZENODO_API, session: requests.Session | None = None
) -> RemoteFile:
    """The file download `name`'s `spec` fetches, with its size (Zenodo) and the checksum to
    verify it against (pinned, published beside it, or stated by Zenodo), without fetching it."""
    check_spec(spec)
    session = session or _session()
    algorithm = next((a for a in ("sha256", "md5") if a in spec), None)
    pinned = _normalise_checksum(f"{algorithm}:{spec[algorithm]}") if algorithm else None
    if "url" in spec:
        file = spec.get("file") or unquote(PurePosixPath(urlparse(spec["url"]).path).name)
        if "checksum_file" in spec:
            pinned = published_checksum(spec["checksum_file"], file, session)
        return RemoteFile(file, spec["url"], None, pinned)
    remote = pick_file(
        spec["zenodo"], zenodo_files(spec["zenodo"], api, session), spec["file"], name
    )
    return RemoteFile(remote.name, remote.url, remote.size, pinned or remote.checksum)


def pick_file(
    record: int | str, files: dict[str, RemoteFile], wanted: str | list[str], name: str
) -> RemoteFile:
    """The one file of a record that `wanted` names: a name or glob, or a list of them tried in
    order. None matching, or a pattern matching several, stops with the record's listing and
    the line to put in the configuration."""
    listing = "\n".join(
        f"  {n}  ({_mib(f.size) if f.size is not None else 'size unknown'})"
        for n, f in sorted(files.items())
    )
    patterns = [wanted] if isinstance(wanted, str) else list(wanted)
    for pattern in patterns:
        matches = sorted(n for n in files if fnmatch.fnmatchcase(n, pattern))
        if len(matches) == 1:
            return files[matches[0]]
        if matches:
            raise DownloadError(
                f"downloads.{name}: {pattern!r} matches {len(matches)} files of Zenodo record "
                f"{record}: {', '.join(matches)}. Name the one you mean in the configuration, "
                f"e.g.\n  downloads:\n    {name}:\n      file: {matches[0]}"
            )
    raise DownloadError(
        f"downloads.{name}: Zenodo record {record} has no file matching "
        f"{' or '.join(map(repr, patterns))}. It has:\n{listing}\nPut the one you mean in the "
        f"configuration:\n  downloads:\n    {name}:\n      file: <one of the names above>"
    )


def published_checksum(url: str, file: str, session: requests.Session | None = None) -> str:
    """The checksum of `file` in the publisher's checksum list at `url` (lines of `<hex>
    <name>`, as UCSC's md5sum.txt and sha256sum output), as "<algorithm>:<hex>"."""
    session = session or _session()

    def get() -> str:
        with _get(session, url, 60, {}) as response:
            return response.content.decode("utf-8", "replace")

    names = []
    for line in _retrying(f"checksum list {url}", 5, 2.0, get).splitlines():
        match = re.fullmatch(r"\s*([0-9a-fA-F]{32}|[0-9a-fA-F]{64})\s+\*?(\S.*?)\s*", line)
        if match is None:
            continue
        listed = PurePosixPath(match.group(2)).name
        if listed == file:
            return _normalise_checksum(match.group(1))
        names.append(listed)
    raise DownloadError(
        f"the checksum list {url} has no line for {file} (it lists "
        f"{', '.join(names[:20]) or 'no checksums'}). Check checksum_file and the URL in the "
        "configuration, or pin the file's sha256 instead."
    )


def url_size(url: str, session: requests.Session | None = None) -> int | None:
    """The size a server states for `url` (a HEAD request, redirects followed), None if it
    states none; a host that cannot be reached raises Unreachable, an HTTP error DownloadError."""
    check_transport(url)
    session = session or _session()
    try:
        response = session.head(url, timeout=30, allow_redirects=True)
    except _TRANSIENT as err:
        raise _unreachable(url, err) or DownloadError(f"HEAD {url}: {_describe(err)}") from err
    if response.status_code >= 400:
        raise DownloadError(
            f"HEAD {url} failed: HTTP {response.status_code} {response.reason}. Check the URL "
            "in the config."
        )
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def _fetch_once(
    session: requests.Session, remote: RemoteFile, part: Path, timeout: float
) -> int | None:
    """One GET into `part`, resuming from its size; returns the file's total size if known."""
    offset = part.stat().st_size if part.exists() else 0
    if offset and remote.size is not None and offset >= remote.size:
        return remote.size
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with _get(session, remote.url, timeout, headers) as response:
        if response.status_code == 416:
            part.unlink()
            raise _Retryable("the server cannot resume this file (HTTP 416); starting over")
        start, total = _content_range(response)
        if response.status_code == 206 and start != offset:
            part.unlink(missing_ok=True)
            raise _Retryable(f"the server answered bytes from {start}, not {offset}; starting over")
        if offset and response.status_code != 206:
            _log(f"{remote.name}: the server did not resume at byte {offset}; starting over")
            offset = 0
        if response.status_code != 206:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        total = remote.size if remote.size is not None else total
        what = "resuming at " + _mib(offset) if offset else "downloading"
        _log(
            f"{remote.name}: {what} from {remote.url} ({_mib(total) if total else 'size unknown'})"
        )
        progress = _Progress(remote.name, total, offset)
        with open(part, "ab" if offset else "wb") as fh:
            # raw bytes as stored; read1 passes on what arrived, so a dropped connection loses none
            while chunk := response.raw.read1(_CHUNK, decode_content=False):
                fh.write(chunk)
                progress.add(len(chunk))
    return total


def check_transport(url: str) -> None:
    """Refuse anything but HTTPS (plain HTTP only to this machine's loopback)."""
    parsed = urlparse(url)
    if parsed.scheme == "https" or (parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS):
        return
    raise DownloadError(
        f"refusing {url}: files are downloaded over HTTPS only (plain HTTP only from this "
        "machine's loopback address). Give the file's https:// address in the config."
    )


def _refuse_insecure_redirect(response: requests.Response, *args, **kwargs) -> None:
    """A response hook: a redirect is followed only to an address `check_transport` allows."""
    if response.is_redirect:
        check_transport(urljoin(response.url, response.headers["location"]))


def _get(
    session: requests.Session, url: str, timeout: float, headers: dict[str, str]
) -> requests.Response:
    """A streaming GET over HTTPS (`check_transport`, redirects included); transient failures
    raise _Retryable, other HTTP errors DownloadError (416 is left to the caller)."""
    check_transport(url)
    try:
        response = session.get(url, headers=headers, stream=True, timeout=timeout)
    except _TRANSIENT as err:
        raise _unreachable(url, err) or _Retryable(_describe(err)) from err
    status = response.status_code
    if status == 429 or status >= 500:
        response.close()
        raise _Retryable(f"HTTP {status} {response.reason}", retry_after=_retry_after(response))
    if status >= 400 and status != 416:
        response.close()
        raise DownloadError(
            f"GET {url} failed: HTTP {status} {response.reason}. Check the URL or record id in "
            "the config."
        )
    return response


def _retrying(label: str, retries: int, backoff: float, attempt: Callable[[], _T]) -> _T:
    """Call `attempt` until it returns, sleeping backoff·2^k after each _Retryable failure."""
    failures = 0
    while True:
        try:
            return attempt()
        except _Retryable as err:
            failures = 0 if err.progressed else failures + 1
            if failures > retries:
                raise DownloadError(
                    f"{label}: giving up after {retries} retries (last error: {err}). Check the "
                    "network and the URL, then rerun: a partial download resumes."
                ) from err
            delay = err.retry_after or min(backoff * 2 ** max(failures - 1, 0), _MAX_DELAY)
            count = f" ({failures}/{retries})" if failures else ""
            _log(f"{label}: {err}; retrying in {delay:.3g} s{count}")
            time.sleep(delay)


def _verify(remote: RemoteFile, path: Path) -> None:
    """Check `path` against `remote.size` and `remote.checksum`; delete it on a mismatch, and
    an HTML page where no checksum vouches for the content (a login, error or rate-limit page
    a server answered with status 200)."""
    size = path.stat().st_size
    html = _is_html(path) and not remote.name.lower().endswith((".html", ".htm"))
    fix = "open the URL in a browser to see what the server says, and fix it in the config"
    hint = f" The download is an HTML page, not the file: {fix}." if html else ""
    if remote.size is not None and size != remote.size:
        path.unlink()
        raise DownloadError(
            f"{remote.name}: got {size} bytes from {remote.url} but expected {remote.size}; "
            "the file was deleted. Rerun to download it again." + hint
        )
    if remote.checksum is None:
        if html:
            path.unlink()
            raise DownloadError(
                f"{remote.name}: the server answered {remote.url} with an HTML page (a login, "
                f"error or rate-limit page), not the file; it was deleted. To fix: {fix}."
            )
        return
    algorithm, expected = remote.checksum.split(":", 1)
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        path.unlink()
        raise DownloadError(
            f"checksum mismatch for {remote.name} from {remote.url}: expected "
            f"{remote.checksum}, got {algorithm}:{digest.hexdigest()}; the file was deleted. "
            "Rerun to download it again; if it persists, the remote file differs from the one "
            "the record or the pinned checksum describes." + hint
        )


def _is_html(path: Path) -> bool:
    """Whether the file at `path` starts as an HTML document does."""
    with open(path, "rb") as fh:
        head = fh.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def _normalise_checksum(checksum: str | None) -> str | None:
    """As "<algorithm>:<hex>"; a bare hex digest is md5 or sha256 by its length."""
    if not checksum:
        return None
    algorithm, _, digest = checksum.rpartition(":")
    algorithm = algorithm.lower() or {32: "md5", 64: "sha256"}.get(len(digest), "")
    if algorithm not in hashlib.algorithms_guaranteed or not re.fullmatch(r"[0-9a-fA-F]+", digest):
        raise DownloadError(f"unsupported checksum {checksum!r}; use md5:<hex> or sha256:<hex>.")
    return f"{algorithm}:{digest.lower()}"


def _record_id(record: int | str) -> str:
    match = re.search(r"(?:^|zenodo\.|/records?/)(\d+)/?$", str(record).strip())
    if match is None:
        raise DownloadError(
            f"not a Zenodo record: {record!r}. Give its number (11583224 for the DOI "
            "10.5281/zenodo.11583224)."
        )
    return match.group(1)


def archive_kind(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    return "gz" if lower.endswith(".gz") else None


def _check_member(archive: Path, name: str, target: str | None = None) -> None:
    """Refuse archive member `name` if it (or its link `target`) would escape the target dir."""
    path = PurePosixPath((target or name).replace("\\", "/"))
    escapes = path.is_absolute() or re.match(r"[A-Za-z]:", str(path)) is not None
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 1
        escapes = escapes or depth < 0
    if escapes:
        raise DownloadError(
            f"refusing to unpack {archive}: member {name!r}"
            + (f" (a link to {target!r})" if target else "")
            + " would land outside the target directory. Do not trust this archive."
        )


def _content_range(response: requests.Response) -> tuple[int | None, int | None]:
    """(first byte, total size) from a Content-Range header, None where absent."""
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
    if match is None:
        return None, None
    return int(match.group(1)), int(match.group(2)) if match.group(2) != "*" else None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return min(float(value), _MAX_DELAY) if value.isdigit() else None


def _session() -> requests.Session:
    session = requests.Session()
    session.headers.update({"User-Agent": f"glmeval/{__version__}", "Accept-Encoding": "identity"})
    session.hooks["response"].append(_refuse_insecure_redirect)
    return session


def _describe(err: Exception) -> str:
    return f"{type(err).__name__}: {str(err)[:500]}"


def _causes(err: BaseException):
    """`err` and every exception it wraps (causes, contexts, urllib3's `reason`, exception args)."""
    seen, todo = set(), [err]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]


def _unreachable(url: str, err: BaseException) -> Unreachable | None:
    """An Unreachable error for `url` where `err` says its host does not resolve or refuses
    connections (no retry helps with either); None for other failures."""
    causes = list(_causes(err))
    if any(
        isinstance(e, (socket.gaierror, urllib3.exceptions.NameResolutionError)) for e in causes
    ):
        what = "its name does not resolve: no network here, or no DNS for it"
    elif any(isinstance(e, ConnectionRefusedError) for e in causes):
        what = "it refuses connections"
    else:
        return None
    host = urlparse(url).hostname
    return Unreachable(
        f"cannot reach {host} ({what}), so {url} cannot be fetched. If this machine has no "
        f"network access (a compute node), run `snakemake download` where {host} is reachable "
        "(a login node), copy its resources/downloads/ into this checkout and set offline: true "
        "in the configuration; otherwise check the host name and the network."
    )


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _log(message: str) -> None:
    print(f"[download] {message}", file=sys.stderr, flush=True)


class _Progress:
    """Logs a line per 10% of `total` bytes (per 256 MiB when the total is unknown)."""

    def __init__(self, name: str, total: int | None, done: int):
        self.name, self.total, self.done = name, total, done
        self.step = total / 10 if total else 256 << 20
        self.mark = (done // self.step + 1) * self.step

    def add(self, n: int) -> None:
        self.done += n
        if self.done >= self.mark:
            self.mark = (self.done // self.step + 1) * self.step
            share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
            _log(f"{self.name}: {_mib(self.done)}{share}")
