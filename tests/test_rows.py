"""RowFile: row reads from .npy files without memory-mapping; prefetch: background iteration."""

import json
import os
import pickle
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from glmeval.nn.rows import RowFile, open_rows, prefetch


@pytest.fixture(params=[(np.float16, (37, 5, 6)), (np.float32, (37, 5, 6)), (np.float16, (29, 7))])
def stored(request, tmp_path):
    dtype, shape = request.param
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return path, np.load(path)


INDICES = [
    0,
    5,
    -1,
    np.int64(3),
    slice(None),
    slice(4, 11),
    slice(-6, None),
    slice(30, 100),
    slice(7, 7),
    slice(1, 20, 3),
    slice(None, None, -2),
    [2, 3, 4, 10, 11, 20],  # sorted, with runs
    np.array([20, 3, 4, 5, 0, 28, 27]),  # unsorted, with a run
    np.array([6, 6, 6, 2, 6, 3, 3]),  # repeated
    np.array([-1, 0, -2], dtype=np.int32),
    np.array([], dtype=np.int64),
    [],
    np.arange(28)[::-1],
    np.array([[1, 2], [9, 3]]),
]


@pytest.mark.parametrize("index", INDICES, ids=repr)
def test_values_match_np_load(stored, index):
    path, full = stored
    with open_rows(path) as rf:
        assert rf.shape == full.shape and rf.dtype == full.dtype and rf.ndim == full.ndim
        assert len(rf) == len(full)
        got = rf[index]
        want = full[index]
        assert isinstance(got, np.ndarray) and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_boolean_mask_and_read_all(stored):
    path, full = stored
    rf = RowFile(path)
    mask = np.arange(len(full)) % 3 == 1
    np.testing.assert_array_equal(rf[mask], full[mask])
    np.testing.assert_array_equal(rf.read_all(), full)
    rf.close()


def test_long_runs_in_any_order(tmp_path):
    """Runs longer than one preadv's buffer limit (IOV_MAX), sorted and scattered."""
    x = np.arange(2600 * 3, dtype=np.float32).reshape(2600, 3)
    path = tmp_path / "long.npy"
    np.save(path, x)
    rf = RowFile(path)
    swapped = np.arange(2500)
    swapped[[0, 1]] = [1, 0]  # unsorted, but one run of 2500 rows in file order
    rng = np.random.default_rng(1)
    for rows in (
        swapped,
        np.arange(2600)[::-1],
        rng.permutation(2600),
        rng.integers(0, 2600, 5000),
    ):
        np.testing.assert_array_equal(rf[rows], x[rows])
        np.testing.assert_array_equal(rf[np.sort(rows)], x[np.sort(rows)])


def test_other_dtypes_and_versions(tmp_path):
    for i, x in enumerate(
        [
            np.arange(60, dtype=">i4").reshape(12, 5),
            np.arange(24, dtype=np.uint8).reshape(6, 2, 2),
            (np.arange(10) % 2).astype(bool),
            np.arange(8, dtype=np.complex64),
        ]
    ):
        path = tmp_path / f"x{i}.npy"
        np.save(path, x)
        rf = RowFile(path)
        np.testing.assert_array_equal(rf[[3, 1, 2]], x[[3, 1, 2]])
        np.testing.assert_array_equal(rf[1:4], x[1:4])
    # format 2.0 header
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    path = tmp_path / "v2.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array(f, x, version=(2, 0))
    np.testing.assert_array_equal(RowFile(path)[[4, 0]], x[[4, 0]])


def test_no_mmap_and_no_implicit_full_load(stored):
    path, _ = stored
    rf = RowFile(path)
    got = rf[[1, 2]]
    assert got.base is None or not isinstance(got.base, np.memmap)
    with pytest.raises(TypeError, match="read_all"):
        np.asarray(rf)
    rf.close()


def test_truncated_file_names_file_and_sizes(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, np.zeros((10, 4, 3), dtype=np.float16))
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 5)
    with pytest.raises(ValueError, match=rf"cut\.npy.*{size}.*{size - 5}"):
        RowFile(path)


def test_bad_files_name_the_file(tmp_path):
    path = tmp_path / "fortran.npy"
    np.save(path, np.asfortranarray(np.zeros((4, 3))))
    with pytest.raises(ValueError, match=r"fortran\.npy.*Fortran"):
        RowFile(path)
    path = tmp_path / "objects.npy"
    np.save(path, np.array([1, "a", None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"objects\.npy.*object"):
        RowFile(path)
    path = tmp_path / "text.npy"
    path.write_bytes(b"not an npy file at all")
    with pytest.raises(ValueError, match=r"text\.npy"):
        RowFile(path)


def test_out_of_range_names_file_and_n(stored):
    path, full = stored
    n = len(full)
    rf = RowFile(path)
    for bad in (n, -n - 1, [0, n], np.array([3, -n - 1])):
        with pytest.raises(IndexError, match=rf"x\.npy.*N = {n}"):
            rf[bad]
    with pytest.raises(IndexError, match=r"x\.npy"):
        rf[np.array([0.5, 1.0])]
    with pytest.raises(IndexError, match=r"x\.npy"):
        rf[np.ones(n + 1, dtype=bool)]
    with pytest.raises(TypeError, match=r"x\.npy"):
        rf[0, 1]


def test_close_pickle_and_fork(stored):
    path, full = stored
    rf = RowFile(path)
    rf[0]
    fd = rf._fd
    clone = pickle.loads(pickle.dumps(rf))
    np.testing.assert_array_equal(clone[[3, 1]], full[[3, 1]])
    assert clone._fd != fd
    clone.close()
    if hasattr(os, "fork"):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: reopens its own descriptor and reads
            try:
                ok = np.array_equal(rf[[5, 2, 3]], full[[5, 2, 3]]) and rf._fd is not None
                os.write(write, b"1" if ok else b"0")
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 1) == b"1"
        os.close(read)
        os.close(write)
        np.testing.assert_array_equal(rf[[7]], full[[7]])  # the parent's descriptor still works
    with rf:
        pass
    assert rf.closed
    with pytest.raises(ValueError, match="closed"):
        rf[0]
    with pytest.raises(OSError):
        os.fstat(fd)  # closed for real


def test_threads_share_one_rowfile(stored):
    path, full = stored
    rf = RowFile(path)
    rng = np.random.default_rng(2)
    jobs = [rng.integers(0, len(full), 16) for _ in range(64)]
    errors = []

    def work(chunk):
        for rows in chunk:
            if not np.array_equal(rf[rows], full[rows]):
                errors.append(rows)

    threads = [threading.Thread(target=work, args=(jobs[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --- peak memory ----------------------------------------------------------------------------

N, T, D = 20000, 41, 384  # float16: 630 MB
RSS_BOUND_MB = 150

READER = r"""
import json, sys, time
import numpy as np
from glmeval.nn.rows import RowFile

def status(key):  # kB; VmHWM is this process's own peak (ru_maxrss keeps the parent's across exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

path, mode = sys.argv[1], sys.argv[2]
x = RowFile(path) if mode == "rowfile" else np.load(path, mmap_mode="r")
order = np.random.default_rng(0).permutation(len(x))
before = status("VmRSS")
t0 = time.perf_counter()
total = 0.0
for start in range(0, len(x), 64):
    rows = np.sort(order[start : start + 64])
    total += float(np.asarray(x[rows], dtype=np.float32)[:, 0, 0].sum())
seconds = time.perf_counter() - t0
print(json.dumps({"growth_mb": (status("VmHWM") - before) / 1024, "seconds": seconds,
                  "rss_file_mb": status("RssFile") / 1024}))
"""


def _write_npy(path, shape, dtype):
    """Header, then the same random chunk over and over: writing maps nothing either."""
    rows = 500
    chunk = np.random.default_rng(0).standard_normal((rows, *shape[1:])).astype(dtype)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": shape,
    }
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.writelines(
            chunk[: min(rows, shape[0] - start)].tobytes() for start in range(0, shape[0], rows)
        )


def _read_all_batches(path, mode):
    out = subprocess.run(
        [sys.executable, "-c", READER, str(path), mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_epoch_peak_rss_stays_bounded(tmp_path):
    path = tmp_path / "tokens.npy"
    _write_npy(path, (N, T, D), np.float16)
    file_mb = path.stat().st_size / 2**20
    assert file_mb > 4 * RSS_BOUND_MB
    try:
        np.testing.assert_array_equal(
            RowFile(path)[[N - 1, 0]], np.load(path, mmap_mode="r")[[N - 1, 0]]
        )
        rowfile = _read_all_batches(path, "rowfile")
        mapped = _read_all_batches(path, "mmap")
    finally:
        path.unlink()
    print(
        f"\nfile {file_mb:.0f} MB; peak RSS growth over one epoch: RowFile "
        f"{rowfile['growth_mb']:.0f} MB ({file_mb / rowfile['seconds']:.0f} MB/s), "
        f"mmap {mapped['growth_mb']:.0f} MB ({file_mb / mapped['seconds']:.0f} MB/s)"
    )
    assert rowfile["growth_mb"] < RSS_BOUND_MB
    # the measurement is sensitive: mapped file pages do count (RssFile is part of VmHWM)
    assert mapped["growth_mb"] > 2 * RSS_BOUND_MB


# --- prefetch -------------------------------------------------------------------------------


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "glmeval-prefetch" and t.is_alive()]


def test_prefetch_preserves_order():
    assert list(prefetch(range(100), depth=3)) == list(range(100))
    assert list(prefetch([])) == []
    assert not _prefetch_threads()
    with pytest.raises(ValueError):
        next(prefetch(range(3), depth=0))


def test_prefetch_runs_ahead_in_background():
    produced = []

    def slow():
        for i in range(6):
            time.sleep(0.02)
            produced.append(i)
            yield i

    it = prefetch(slow(), depth=2)
    assert next(it) == 0
    time.sleep(0.3)
    assert len(produced) >= 3  # item 0 taken, 1 and 2 queued, 3 possibly computed
    assert list(it) == [1, 2, 3, 4, 5]


def test_prefetch_propagates_exceptions():
    def broken():
        yield 1
        yield 2
        raise RuntimeError("disk on fire")

    it = prefetch(broken())
    assert next(it) == 1
    assert next(it) == 2
    with pytest.raises(RuntimeError, match="disk on fire"):
        next(it)
    assert not _prefetch_threads()
    assert not _prefetch_threads()


def test_prefetch_early_close_stops_thread():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = prefetch(endless(), depth=2)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert _prefetch_threads()
    it.close()
    assert closed.is_set()
    assert not _prefetch_threads()

    it = prefetch(endless(), depth=1)
    for item in it:
        if item == 3:
            break
    del it
    assert not _prefetch_threads()
