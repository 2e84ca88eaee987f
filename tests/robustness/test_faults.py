"""Fault injection: the workflow SIGKILLed (snakemake's whole process group) while it extracts
embeddings, trains a neural probe, scores variants zero-shot and downloads a file, then rerun as a
user would; a second run on a directory in use; a full disk during a write; determinism.

One tiny config serves every test: a synthetic regression task probed on one-hot embeddings by
one neural probe, and four SNVs scored zero-shot (masked-LM llr and distances) by a random
one-layer NT-like masked LM built offline. Two uninterrupted runs are made once, side by side; the
kill tests work on a copy of one of them with some jobs' outputs removed. (The language model is
not probed: a job that loads it pays ~8 s of imports, and the file has 120 s on 2 cores.)

Kill points are made deterministic by a `sitecustomize` hook that the killed run's processes
import (PYTHONPATH): it holds a job at a chosen file operation, so the kill lands while the job's
staging output is on disk (mid-extraction, mid-write), not before or after the job.
"""

import errno
import hashlib
import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TARGETS = ["results/tables/probe_metrics.csv", "zeroshot"]
EMBEDDING = "results/embeddings/onehot/motif/test"
PROBE_RUN = "results/probes/motif/onehot/mean/L0/rep_mlp/frac1/seed0"
PROBE_RECORD = "results/probes/motif/onehot/mean/L0/rep_mlp/runs.json"  # the job's output
ZEROSHOT = "results/zeroshot/snvs/tiny_nt.parquet"
TABLES = ["results/tables/motif.csv", "results/tables/probe_metrics.csv"]
TIMEOUT = 300

CONFIG = {
    "seeds": [0],
    "representations": ["mean"],
    "device": "cpu",
    "bootstrap": 100,
    "tasks": {
        "motif": {
            "kind": "regression",
            "source": {
                "synthetic": "motif_regression",
                "length": 100,
                "seed": 1,
                "n_train": 300,
                "n_valid": 100,
                "n_test": 100,
            },
            "models": ["onehot"],
            "probes": ["rep_mlp"],
        }
    },
    "models": {
        "onehot": {"family": "onehot"},
        "tiny_nt": {
            "family": "masked_lm",
            "source": {"builder": "tiny_nt", "args": {"hidden_size": 16}},
            "n_layers": 1,
        },
    },
    "probes": {
        "rep_mlp": {
            "type": "rep_mlp",
            "width": 0.25,
            "lr": 0.001,
            "batch_size": 64,
            "max_epochs": 4,
            "patience": 4,
            "lr_patience": 2,
            "bn_momentum": 0.9,
        }
    },
}

#: Imported by every Python process of a run started with `hook_env`: a job whose file operation
#: matches pauses there until it is killed. BEFORE matches os.replace's source (a temporary
#: written, not yet renamed), AFTER its destination (renamed, the job not yet done).
HOOK = """
import os, time
_before = os.environ.get("GLMEVAL_FAULT_BEFORE")
_after = os.environ.get("GLMEVAL_FAULT_AFTER")
if _before or _after:
    _replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if _before and _before in os.fspath(src):
            time.sleep(600)
        result = _replace(src, dst, *args, **kwargs)
        if _after and _after in os.fspath(dst):
            time.sleep(600)
        return result

    os.replace = replace
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Path:
    """The config (with a variants table on a random chromosome) and the hook's directory."""
    from conftest import snv_table

    root = tmp_path_factory.mktemp("faults")
    config = CONFIG | {
        "variants": {
            "snvs": {**snv_table(root), "length": 100, "zeroshot": {"models": ["tiny_nt"]}}
        }
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "hook").mkdir()
    (root / "hook" / "sitecustomize.py").write_text(HOOK)
    return root


def command(setup: Path, workdir: Path, *extra: str, targets=TARGETS, config=None) -> list[str]:
    config = config or setup / "config.yaml"
    return [
        str(BIN / "snakemake"),
        *targets,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--cores",
        "2",
        "--configfile",
        str(config),
        "--directory",
        str(workdir),
        *extra,
    ]


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT
    )


def start(cmd: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """The run in its own session: os.killpg reaches snakemake and every job it started."""
    with open(log, "w") as out:
        return subprocess.Popen(
            cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def hook_env(setup: Path, before: str = "", after: str = "") -> dict:
    path = os.pathsep.join(filter(None, [str(setup / "hook"), os.environ.get("PYTHONPATH")]))
    return os.environ | {
        "PYTHONPATH": path,
        "GLMEVAL_FAULT_BEFORE": before,
        "GLMEVAL_FAULT_AFTER": after,
    }


def wait_for(condition, job: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if job.poll() is not None:
            pytest.fail(f"the run ended (rc {job.returncode}) first:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(job.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


def kill(job: subprocess.Popen) -> None:
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()


def rerun_as_a_user(cmd: list[str]) -> list[str]:
    """Rerun `cmd`; where Snakemake refuses, do what its message says. Returns the fixes used."""
    fixes: list[str] = []
    result = run(cmd)
    while result.returncode != 0:
        out = result.stdout + result.stderr
        assert len(fixes) < 3, out[-3000:]
        if "LockException" in out:
            assert "Directory cannot be locked" in out and "--unlock" in out, out[-3000:]
            unlocked = run([*cmd, "--unlock"])
            assert unlocked.returncode == 0, unlocked.stderr[-3000:]
            fixes.append("--unlock")
        elif "IncompleteFilesException" in out:
            assert "--rerun-incomplete" in out, out[-3000:]
            cmd = [*cmd, "--rerun-incomplete"]
            fixes.append("--rerun-incomplete")
        else:
            pytest.fail(f"the rerun failed:\n{out[-3000:]}")
        result = run(cmd)
    return fixes


LEFTOVER = re.compile(r"\.tmp|\.partial$|\.part$|\.done$|\.attempt$|^\..*\.download$")


def leftovers(workdir: Path) -> list[str]:
    """Temporary, staging and partial files outside Snakemake's own .snakemake/."""
    return sorted(
        str(path.relative_to(workdir))
        for path in workdir.rglob("*")
        if LEFTOVER.search(path.name) and ".snakemake" not in path.relative_to(workdir).parts
    )


def artifacts(workdir: Path) -> dict:
    """What the tests compare: the metrics table's bytes, the predictions' and zero-shot scores'
    content, and every embedding array."""
    found = {"probe_metrics.csv": (workdir / "results/tables/probe_metrics.csv").read_bytes()}
    for path in sorted(workdir.glob("results/**/*.parquet")):
        found[str(path.relative_to(workdir))] = pd.read_parquet(path)
    for path in sorted(workdir.glob("results/embeddings/**/*.npy")):
        array = np.load(path)
        found[str(path.relative_to(workdir))] = (array.dtype.str, array.shape, array.tobytes())
    return found


def assert_same_outputs(got: Path, want: Path, zeroshot: bool = True) -> None:
    got_artifacts, want_artifacts = artifacts(got), artifacts(want)
    if not zeroshot:
        want_artifacts = {k: v for k, v in want_artifacts.items() if "/zeroshot/" not in k}
    assert sorted(got_artifacts) == sorted(want_artifacts)
    assert any(name.endswith("predictions.parquet") for name in want_artifacts)
    assert sum(name.endswith(".npy") for name in want_artifacts) == 3  # one per split
    if zeroshot:
        assert "llr" in want_artifacts[ZEROSHOT]  # the masked LM's own score
    for name, value in want_artifacts.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(got_artifacts[name], value, check_exact=True, obj=name)
        else:
            assert got_artifacts[name] == value, name


def copy_without(reference: Path, workdir: Path, *paths: str) -> Path:
    """A copy of a finished run (its .snakemake/ records included) lacking `paths`, so a run
    there redoes the jobs that make them."""
    shutil.copytree(reference, workdir, symlinks=True)
    for path in paths:
        target = workdir / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return workdir


def file_state(workdir: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file outside .snakemake/."""
    return {
        str(p.relative_to(workdir)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in workdir.rglob("*")
        if p.is_file() and ".snakemake" not in p.relative_to(workdir).parts
    }


@pytest.fixture(scope="module")
def runs(setup, tmp_path_factory) -> dict:
    """Two uninterrupted runs of the config in two directories, side by side. While the twin
    holds its directory (paused with SIGSTOP, so its files stay put), the same command is started
    there again."""
    reference, twin = (tmp_path_factory.mktemp(name) for name in ("reference", "twin"))
    logs = [reference.parent / "reference.log", twin.parent / "twin.log"]
    twin_cmd = command(setup, twin, targets=TARGETS[:1])  # the probes only: saves two jobs
    jobs = [start(command(setup, reference), logs[0]), start(twin_cmd, logs[1])]
    try:
        wait_for(
            lambda: list(twin.glob(".snakemake/locks/*.lock")) and (twin / "logs").is_dir(),
            jobs[1],
            logs[1],
        )
        os.killpg(jobs[1].pid, signal.SIGSTOP)
        try:
            before = file_state(twin)
            second = run(twin_cmd)
            after = file_state(twin)
        finally:
            os.killpg(jobs[1].pid, signal.SIGCONT)
        for job, log in zip(jobs, logs):
            assert job.wait(timeout=TIMEOUT) == 0, log.read_text()[-5000:]
    finally:
        for job in jobs:
            if job.poll() is None:
                kill(job)
    assert (reference / ZEROSHOT).exists() and (reference / PROBE_RUN / "model.pt").exists()
    return {
        "reference": reference,
        "twin": twin,
        "second": second,
        "before": before,
        "after": after,
    }


def test_killed_in_each_phase_then_rerun_matches_an_uninterrupted_run(setup, runs, tmp_path):
    """Two SIGKILLs hitting three phases, each job held where it has staging output on disk, then
    the reruns a user makes; the end state equals an uninterrupted run's, nothing temporary left.

    1. While extracting embeddings (the test split's arrays allocated in `<output>.done.partial/`, its
       progress recorded) and, at the same time, writing zero-shot scores (their temporary
       sibling on disk): Snakemake leaves the sibling staging alone and its lock behind.
    2. The rerun resumes the extraction, redoes the scores (clearing the dead writer's
       temporary), and is killed after the neural probe wrote model.pt, before its metrics.
    3. The probe job writes its record (its only output) last, so Snakemake has nothing marked
       incomplete: the rerun, once unlocked, resumes the job and retrains the run it killed."""
    reference = runs["reference"]
    workdir = copy_without(
        reference, tmp_path / "work", EMBEDDING, PROBE_RUN, PROBE_RECORD, ZEROSHOT, *TABLES
    )
    cmd = command(setup, workdir)
    progress = workdir / f"{EMBEDDING}.done.partial" / "progress.json"
    scores = workdir / ZEROSHOT

    def temporaries():
        return list(scores.parent.glob(f".{scores.name}.tmp-*"))

    hold = hook_env(
        setup, after=f"{EMBEDDING}.done.partial/progress.json", before=f".{scores.name}.tmp-"
    )
    job = start(cmd, tmp_path / "kill1.log", hold)
    wait_for(lambda: progress.exists() and temporaries(), job, tmp_path / "kill1.log")
    kill(job)
    stale = temporaries()
    assert not (workdir / EMBEDDING).exists() and not scores.exists()

    # the kill left Snakemake's lock; a plain rerun refusing on it is asserted in step 3
    assert run([*cmd, "--unlock"]).returncode == 0

    log = tmp_path / "kill2.log"
    job = start(cmd, log, hook_env(setup, after=f"{PROBE_RUN}/model.pt"))
    wait_for(
        lambda: (
            (workdir / PROBE_RUN / "model.pt").exists()
            and re.search(r"Finished jobid: \d+ \(Rule: zeroshot_scores\)", log.read_text())
        ),
        job,
        log,
    )
    kill(job)
    extraction = (workdir / "logs/extract_embeddings/onehot/motif.log").read_text()
    assert "resuming the extraction" in extraction and "after shard 0" in extraction
    assert scores.exists() and not any(path.exists() for path in stale)
    assert not (workdir / PROBE_RUN / "metrics.json").exists()

    assert sorted(rerun_as_a_user(cmd)) == ["--unlock"]
    assert_same_outputs(workdir, reference)
    assert leftovers(workdir) == []


class SlowServer(http.server.ThreadingHTTPServer):
    """Serves `data` at /blob.bin: a first burst, then a trickle, to a request from byte 0; a
    Range request (a resumed download) at full speed. Records each request's Range header."""

    daemon_threads = True

    def __init__(self, data: bytes, burst: int):
        self.data, self.burst, self.ranges = data, burst, []
        super().__init__(("127.0.0.1", 0), SlowHandler)


class SlowHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        server: SlowServer = self.server
        asked = self.headers.get("Range")
        server.ranges.append(asked)
        match = re.fullmatch(r"bytes=(\d+)-", asked or "")
        start = int(match[1]) if match else 0
        body = server.data[start:]
        self.send_response(206 if match else 200)
        if match:
            self.send_header(
                "Content-Range", f"bytes {start}-{len(server.data) - 1}/{len(server.data)}"
            )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if match:
                self.wfile.write(body)
                return
            self.wfile.write(body[: server.burst])
            self.wfile.flush()
            for i in range(server.burst, len(body), 1024):
                time.sleep(0.5)
                self.wfile.write(body[i : i + 1024])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def test_killed_while_downloading_resumes_the_partial_file(setup, tmp_path):
    """SIGKILL mid-download (a slow loopback server): the rerun resumes the .part file with a
    Range request, verifies the pinned checksum and leaves no staging behind."""
    data = np.random.default_rng(0).bytes(256 * 1024)
    server = SlowServer(data, burst=64 * 1024)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = yaml.safe_load((setup / "config.yaml").read_text())
        config["downloads"] = {
            "slow": {
                "url": f"http://127.0.0.1:{server.server_port}/blob.bin",
                "sha256": hashlib.sha256(data).hexdigest(),
                "unpack": False,
            }
        }
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        workdir = tmp_path / "work"
        cmd = command(
            setup, workdir, targets=["resources/downloads/slow"], config=tmp_path / "config.yaml"
        )
        part = workdir / "resources/downloads/.slow.download/.blob.bin.part"
        job = start(cmd, tmp_path / "killed.log")
        wait_for(lambda: part.exists() and part.stat().st_size > 0, job, tmp_path / "killed.log")
        kill(job)
        assert not (workdir / "resources/downloads/slow").exists()
        killed_at = part.stat().st_size
        assert 0 < killed_at < len(data)

        # the kill left the lock a plain rerun refuses on (asserted above): unlock, rerun
        assert run([*cmd, "--unlock"]).returncode == 0
        rerun = run(cmd)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
    finally:
        server.shutdown()
    assert server.ranges == [None, f"bytes={killed_at}-"]  # resumed, not started over
    assert (workdir / "resources/downloads/slow/blob.bin").read_bytes() == data
    assert (workdir / "resources/downloads/slow/download.json").exists()
    assert leftovers(workdir) == []


def test_second_run_on_a_directory_in_use_is_refused(runs):
    second = runs["second"]
    out = second.stdout + second.stderr
    assert second.returncode != 0
    assert "LockException" in out and "Directory cannot be locked" in out, out[-3000:]
    assert "Execute" not in out  # no job started
    assert runs["after"] == runs["before"]  # nothing written, deleted or touched


def test_same_config_in_two_directories_is_byte_identical(runs):
    """Also: the run held while a second was refused finished normally."""
    assert_same_outputs(runs["twin"], runs["reference"], zeroshot=False)
    assert leftovers(runs["twin"]) == []


def _big_frame() -> pd.DataFrame:
    return pd.DataFrame({"x": np.random.default_rng(0).random(400_000)})  # ~3 MB


EXTRACT = """
import sys
from glmeval.embed import extract
from glmeval.models import load_embedder

extract(load_embedder("onehot", {"family": "onehot"}, None), ["ACGT" * 250] * 400, sys.argv[1],
        token_layers=[0])
"""


def test_full_disk_on_a_small_filesystem(tmp_path):
    """A 1 MiB tmpfs: a table that does not fit is a named OSError and leaves the destination as
    it was; embeddings that do not fit are a named error, not a SIGBUS from the memmap."""
    from glmeval.io import write_parquet

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
        check=False,
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        old = pd.DataFrame({"x": [1.0, 2.0]})
        write_parquet(old, disk / "table.parquet")
        with pytest.raises(OSError) as caught:
            write_parquet(_big_frame(), disk / "table.parquet")
        assert caught.value.errno == errno.ENOSPC
        pd.testing.assert_frame_equal(pd.read_parquet(disk / "table.parquet"), old)
        assert sorted(p.name for p in disk.iterdir()) == ["table.parquet"]

        # in a child process: before the fix, the memmap's SIGBUS killed the process
        script = tmp_path / "extract.py"
        script.write_text(EXTRACT)
        job = subprocess.run(
            [sys.executable, str(script), str(disk / "emb")],
            check=False,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert job.returncode == 1, (job.returncode, job.stderr[-3000:])
        assert "OSError: [Errno 28] No space left on device for the embeddings" in job.stderr
        assert sorted(p.name for p in disk.iterdir()) == ["table.parquet"]
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_full_disk_simulated(tmp_path, monkeypatch):
    """ENOSPC raised inside the writers (where no small filesystem can be mounted): the same
    named errors, the destination untouched and no temporary left."""
    from glmeval.embed import extract
    from glmeval.io import write_parquet
    from glmeval.models import load_embedder

    def full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half a table")
        raise OSError(errno.ENOSPC, "No space left on device")

    old = pd.DataFrame({"x": [1.0, 2.0]})
    write_parquet(old, tmp_path / "table.parquet")
    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with pytest.raises(OSError) as caught:
        write_parquet(_big_frame(), tmp_path / "table.parquet")
    monkeypatch.undo()
    assert caught.value.errno == errno.ENOSPC
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "table.parquet"), old)

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space, raising=False)
    embedder = load_embedder("onehot", {"family": "onehot"}, None)
    with pytest.raises(OSError, match="No space left on device for the embeddings of model"):
        extract(embedder, ["ACGT" * 25] * 10, tmp_path / "emb", token_layers=[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.parquet"]
