"""The SLURM profile on a real single-node SLURM (tests/slurm/start.sh; Debian slurm-wlm + munge).

A small demo runs through `--profile profiles/slurm` (plus the test cluster's overlay): every
job must be a SLURM job, GPU rules must carry a GPU request, a job cancelled by the scheduler
must be resubmitted, and the outputs must equal a local run of the same config and seeds.
Skipped where SLURM is not installed or not root (CI installs it; see .ci/run).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
SLURM_PROFILE = ["--profile", str(REPO / "profiles" / "slurm"),
                 "--workflow-profile", str(REPO / "tests" / "slurm" / "profile")]
GPU_RULES = {"extract_embeddings", "gpu_probes_train_probes"}

pytestmark = pytest.mark.skipif(
    shutil.which("slurmctld") is None or os.geteuid() != 0,
    reason="needs SLURM (apt-get install slurmctld slurmd slurm-client munge) and root",
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([str(REPO / "tests" / "slurm" / "start.sh"), str(state)],
                             check=False, capture_output=True, text=True)
    assert started.returncode == 0, started.stdout + started.stderr
    env = {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}
    yield env
    subprocess.run([str(REPO / "tests" / "slurm" / "stop.sh"), str(state)], check=True)


@pytest.fixture(scope="module")
def small_config(tmp_path_factory) -> Path:
    """The demo's grammar task, smaller: one-hot, two linear probes (one batch job of their
    group) and two neural probes (one GPU job of theirs)."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    task = config["tasks"]["motif_grammar"]
    task["source"].update(n_train=400, n_valid=200, n_test=200)
    task.update(models=["onehot"], probes=["logistic", "logistic_l2", "rep_cnn_binary", "rep_mlp"])
    config["tasks"] = {"motif_grammar": task}
    config.pop("attribution")  # attribution's GPU rules are in the profile; not run here
    config["models"] = {"onehot": config["models"]["onehot"]}
    config["probes"]["logistic_l2"] = {**config["probes"]["logistic"], "alpha": 10.0}
    config["probes"] = {p: config["probes"][p] for p in task["probes"]}
    config["probes"]["rep_cnn_binary"].update(max_epochs=3)
    config["probes"]["rep_mlp"].update(max_epochs=3)
    path = tmp_path_factory.mktemp("config") / "small.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _jobs(env) -> list[dict]:
    """Every job the test cluster knows (finished ones stay listed for MinJobAge)."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True,
                         env=env, check=True).stdout
    jobs = []
    for line in out.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        jobs.append(fields)
    return jobs


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, small_config):
    workdir = tmp_path_factory.mktemp("local")
    result = subprocess.run([*SNAKEMAKE, "--cores", "2", "--configfile", str(small_config),
                             "--directory", str(workdir)], check=False, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, small_config, cluster):
    """The SLURM run; the first train_probes job seen running is cancelled with scancel."""
    workdir = tmp_path_factory.mktemp("on_slurm")
    cancelled = None
    with open(workdir / "snakemake.log", "w") as log:
        run = subprocess.Popen([*SNAKEMAKE, *SLURM_PROFILE, "--configfile", str(small_config),
                                "--directory", str(workdir)], stdout=log,
                               stderr=subprocess.STDOUT, env=cluster)
        deadline = time.time() + 900
        while run.poll() is None and time.time() < deadline:
            if cancelled is None:
                for job in _jobs(cluster):
                    if job.get("JobState") == "RUNNING" and job.get("Comment", "").startswith(
                        "rule_gpu_probes_train_probes"
                    ):
                        subprocess.run(["scancel", job["JobId"]], env=cluster, check=True)
                        cancelled = job
                        break
            time.sleep(0.3)
        if run.poll() is None:
            run.kill()
            run.wait()
    return workdir, run.returncode, cancelled, (workdir / "snakemake.log").read_text()


def test_every_job_ran_as_a_slurm_job_with_its_gpu_request(slurm_run, cluster):
    workdir, returncode, _, log = slurm_run
    assert returncode == 0, log[-5000:]
    jobs = [j for j in _jobs(cluster) if j.get("WorkDir") == str(workdir)]
    by_rule = {}
    for job in jobs:
        rule = job["Comment"].removeprefix("rule_").split("_wildcards_")[0]
        by_rule.setdefault(rule, []).append(job)
    # one SLURM job per rule instance (one extraction of the task's 3 splits); the 2 linear
    # probes' jobs in one batch of their group; the 2 neural probes' jobs in one GPU job of
    # theirs, one GPU requested (+ its resubmission)
    assert len(by_rule["prepare_task"]) == 1 and len(by_rule["probe_stats"]) == 1
    assert len(by_rule["extract_embeddings"]) == 1
    assert len(by_rule["gpu_probes_train_probes"]) == 2
    assert len(by_rule["linear_probes_fit_linear_probes"]) == 1
    batch = workdir / "logs" / "fit_linear_probes" / "motif_grammar" / "onehot" / "mean"
    assert sorted(p.name for p in batch.iterdir()) == ["logistic.log", "logistic_l2.log"]
    for rule, group in by_rule.items():
        for job in group:
            gpu = "gres:gpu:1" in job.get("TresPerJob", "")
            assert gpu == (rule in GPU_RULES), (rule, job.get("TresPerJob"))
            assert job["Partition"] == ("gpu" if rule in GPU_RULES else "cpu")
    # table, figure and metric-collection rules are local (login node) by design
    assert not {"task_table", "figure", "probe_metrics"} & set(by_rule)


def test_a_job_cancelled_by_the_scheduler_is_resubmitted(slurm_run, cluster):
    _, returncode, cancelled, log = slurm_run
    assert cancelled is not None, "no train_probes job was seen running"
    assert returncode == 0, log[-5000:]
    same = [j for j in _jobs(cluster) if j.get("Comment") == cancelled["Comment"]]
    states = sorted(j["JobState"] for j in same)
    assert states == ["CANCELLED", "COMPLETED"], states


def test_outputs_equal_a_local_run(slurm_run, local_run):
    workdir = slurm_run[0]
    for table in ("probe_metrics.csv", "probe_summary.csv"):
        on_slurm = pd.read_csv(workdir / "results" / "tables" / table)
        local = pd.read_csv(local_run / "results" / "tables" / table)
        pd.testing.assert_frame_equal(on_slurm, local)


def test_a_setting_the_scheduler_rejects_names_the_rule_and_the_setting(
    tmp_path, small_config, cluster
):
    result = subprocess.run(
        [*SNAKEMAKE, *SLURM_PROFILE, "--configfile", str(small_config), "--directory",
         str(tmp_path), "--set-resources", "prepare_task:slurm_partition=no_such_partition"],
        check=False, capture_output=True, text=True, env=cluster, timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule prepare_task" in out
    assert "invalid partition specified: no_such_partition" in out
