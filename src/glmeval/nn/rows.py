"""Row reads from a .npy file without memory-mapping it.

`np.load(path, mmap_mode="r")` maps the file into the process: every page an epoch touches is
counted in its resident set (RssFile), so one pass over a (N, T, D) token array grows the
process to the array's size (66 GB for the largest in the paper) even though each batch is
small. `RowFile` reads the requested rows with `os.preadv` straight into the returned array,
one read per run of consecutive rows: the kernel's page cache still holds the file, but the
process holds only the arrays it asked for.

`prefetch` runs an iterator (e.g. of batches) in a background thread, so disk reads overlap
training.
"""

from __future__ import annotations

import contextlib
import operator
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Self, TypeVar

import numpy as np
from numpy.lib import format as npy_format

__all__ = ["RowFile", "open_rows", "prefetch"]

T = TypeVar("T")

#: Most buffers one `preadv` call takes (POSIX IOV_MAX; Linux's is 1024).
try:
    _IOV_MAX = max(1, min(os.sysconf("SC_IOV_MAX"), 1024))
except (AttributeError, ValueError, OSError):
    _IOV_MAX = 16
#: Largest single read (Linux returns at most 0x7ffff000 bytes per call anyway).
_MAX_READ = 1 << 30

# Guards the lazy per-process open; replaced in a forked child, where it may have been held.
_open_lock = threading.Lock()


def _reset_open_lock() -> None:
    global _open_lock
    _open_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_open_lock)


def _read_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of the C-ordered numeric array in the .npy file `path`."""
    with open(path, "rb") as f:
        try:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = npy_format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as e:
            raise ValueError(f"{path}: not a readable .npy file ({e}).") from e
        offset = f.tell()
    if fortran and len(shape) > 1:
        raise ValueError(f"{path}: Fortran-ordered array; RowFile reads C-ordered rows only.")
    if dtype.hasobject:
        raise ValueError(f"{path}: object array ({dtype}); RowFile reads numeric arrays only.")
    if dtype.kind not in "biufc":
        raise ValueError(f"{path}: dtype {dtype} is not numeric; RowFile reads numeric arrays.")
    if len(shape) == 0:
        raise ValueError(f"{path}: 0-d array has no rows.")
    return tuple(int(n) for n in shape), dtype, offset


class RowFile:
    """Rows of a C-ordered numeric .npy array, read on demand with `os.preadv`.

    Indexing reads along the first axis only: `rf[i]`, `rf[a:b]` (any step), `rf[idx]` with a
    1-D (or n-D) integer array or list, in the order given (repeats allowed, negatives count
    from the end), or a boolean mask of length N. Each call returns a fresh ndarray and maps
    nothing; runs of consecutive rows are read with one system call, so sorting a batch's rows
    makes reads sequential. `np.asarray(rf)` raises instead of silently reading the whole file:
    call `read_all()` for that.

    The file descriptor is opened lazily in each process (a pickled or forked copy reopens the
    path), is safe to share between threads (`preadv` has no file position), and is closed by
    `close()`, the context manager, or garbage collection.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.shape, self.dtype, self.offset = _read_header(self.path)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        expected = self.offset + self.shape[0] * self.row_bytes
        actual = os.stat(self.path).st_size
        if actual < expected:
            raise ValueError(
                f"{self.path}: truncated .npy file; its header ({self.shape} {self.dtype}) "
                f"needs {expected} bytes but the file has {actual}."
            )
        self._fd: int | None = None
        self._pid: int | None = None
        self._closed = False

    # --- array-like metadata ---------------------------------------------------------------

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.row_bytes

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<RowFile{state} {str(self.path)!r} shape={self.shape} dtype={self.dtype}>"

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"{self.path}: refusing to convert a RowFile of {self.nbytes} bytes implicitly; "
            "index rows (rf[rows]) or call rf.read_all()."
        )

    # --- file descriptor -------------------------------------------------------------------

    def _fileno(self) -> int:
        if self._closed:
            raise ValueError(f"{self.path}: I/O on a closed RowFile.")
        pid = os.getpid()
        if self._pid == pid:
            return self._fd
        with _open_lock:
            if self._pid != pid:
                inherited, self._fd = self._fd, None
                if inherited is not None:  # a forked child's copy of the parent's descriptor
                    with contextlib.suppress(OSError):
                        os.close(inherited)
                self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                self._pid = pid
        return self._fd

    def close(self) -> None:
        """Close this process's descriptor; further reads raise ValueError."""
        self._closed = True
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None and getattr(self, "_pid", None) == os.getpid():
            self._pid = None
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_fd=None, _pid=None)
        return state

    # --- reads -----------------------------------------------------------------------------

    def read_all(self) -> np.ndarray:
        """The whole array in memory (N × row bytes: mind the size)."""
        return self[0 : len(self)]

    def __getitem__(self, index) -> np.ndarray:
        n = len(self)
        if isinstance(index, tuple):
            raise TypeError(
                f"{self.path}: RowFile indexes rows only (rf[rows]), not {len(index)} axes."
            )
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                return self._take(np.arange(start, stop, step, dtype=np.int64))
            out = np.empty((max(stop - start, 0), *self.shape[1:]), dtype=self.dtype)
            if len(out):
                self._read_runs(out, np.array([start], np.int64), np.array([len(out)], np.int64))
            return out
        if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
            i = operator.index(index)
            if not -n <= i < n:
                raise IndexError(f"{self.path}: row {i} out of range for N = {n} rows.")
            return self._take(np.array([i % n], dtype=np.int64))[0]
        idx = np.asarray(index)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(
                    f"{self.path}: boolean index of shape {idx.shape} does not match N = {n} rows."
                )
            return self._take(np.flatnonzero(idx))
        if idx.size == 0 and idx.dtype.kind not in "iu":
            idx = idx.astype(np.int64)  # e.g. rf[[]]
        if idx.dtype.kind not in "iu":
            raise IndexError(
                f"{self.path}: rows must be integers, a slice or a boolean mask, not {idx.dtype}."
            )
        flat = idx.astype(np.int64, copy=False).reshape(-1)
        if flat.size:
            lo, hi = int(flat.min()), int(flat.max())
            if lo < -n or hi >= n:
                bad = lo if lo < -n else hi
                raise IndexError(f"{self.path}: row {bad} out of range for N = {n} rows.")
            if lo < 0:
                flat = np.where(flat < 0, flat + n, flat)
        return self._take(flat).reshape(*idx.shape, *self.shape[1:])

    def _take(self, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (int64, in range, non-negative) in that order."""
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        if len(rows) == 0 or self.row_bytes == 0:
            return out
        step = np.diff(rows)
        if (step >= 0).all():  # in file order: runs of consecutive rows land contiguously
            starts = np.flatnonzero(np.r_[True, step != 1])
            lengths = np.diff(np.r_[starts, len(rows)])
            self._read_runs(out, rows[starts], lengths)
            return out
        # any order: read in file order, scattering each row to where it was asked for
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        starts = np.flatnonzero(np.r_[True, np.diff(srt) != 1])
        ends = np.r_[starts[1:], len(srt)]
        flat = out.reshape(len(rows), -1).view(np.uint8)
        fd = self._fileno()
        for s, e in zip(starts.tolist(), ends.tolist()):
            pos = self.offset + int(srt[s]) * self.row_bytes
            for c in range(s, e, _IOV_MAX):
                dests = [memoryview(flat[j]) for j in order[c : min(e, c + _IOV_MAX)].tolist()]
                _preadv_all(fd, dests, pos + (c - s) * self.row_bytes, self.path)
        return out

    def _read_runs(self, out: np.ndarray, first: np.ndarray, lengths: np.ndarray) -> None:
        """Fill `out` with the runs `first[k] .. first[k] + lengths[k]`, back to back."""
        buf = memoryview(out.reshape(-1).view(np.uint8))
        fd = self._fileno()
        at = 0
        for row, count in zip(first.tolist(), lengths.tolist()):
            nbytes = count * self.row_bytes
            pos = self.offset + row * self.row_bytes
            for c in range(0, nbytes, _MAX_READ):
                m = min(_MAX_READ, nbytes - c)
                _preadv_all(fd, [buf[at + c : at + c + m]], pos + c, self.path)
            at += nbytes


def _preadv_all(fd: int, bufs: list[memoryview], offset: int, path: Path) -> None:
    """Fill every buffer in `bufs` from `offset` on, retrying short reads."""
    bufs = [b.cast("B") if b.format != "B" or b.ndim != 1 else b for b in bufs]
    while bufs:
        if hasattr(os, "preadv"):
            got = os.preadv(fd, bufs, offset)
        else:  # no preadv (e.g. older macOS): read, then copy
            want = sum(len(b) for b in bufs)
            data = os.pread(fd, want, offset)
            got, at = len(data), 0
            for b in bufs:
                k = min(len(b), got - at)
                if k <= 0:
                    break
                b[:k] = data[at : at + k]
                at += k
        if got == 0:
            raise ValueError(f"{path}: unexpected end of file at byte {offset} (truncated?).")
        offset += got
        while bufs and got >= len(bufs[0]):
            got -= len(bufs[0])
            bufs.pop(0)
        if got:
            bufs[0] = bufs[0][got:]


def open_rows(path: str | os.PathLike) -> RowFile:
    """A `RowFile` over the .npy array at `path` (nothing is read but its header)."""
    return RowFile(path)


_DONE = object()


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetch(iterable: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield the items of `iterable`, computed up to `depth` ahead in a background thread.

    An exception raised by the iterable is re-raised here, at the item where it happened.
    Closing this generator early (break, `close()`, garbage collection) stops the thread,
    which closes the source iterator, waiting at most for the item it is computing.
    """
    if depth < 1:
        raise ValueError(f"prefetch depth must be at least 1, not {depth}.")
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        source = iter(iterable)
        try:
            for item in source:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            put(_Raised(e))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    thread = threading.Thread(target=produce, name="glmeval-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:  # unblock a waiting put; the thread exits at its next check of `stop`
                items.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.05)
