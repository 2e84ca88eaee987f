"""The default profile (profiles/default): Snakemake picks it up by itself, with or without
profiles/local or profiles/slurm, and a failed job's error then shows on the console."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from snakemake.cli import parse_args

BIN = Path(sys.executable).parent
DEFAULT = REPO / "profiles" / "default"


def _args(*argv):
    return parse_args(["--snakefile", str(REPO / "Snakefile"), *argv])[1]


def test_the_default_profile_is_picked_up_beside_the_other_profiles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # found next to the Snakefile, not only in the working directory
    assert _args("-n").show_failed_logs
    slurm = _args("--profile", str(REPO / "profiles" / "slurm"), "-n")
    # the default profile overrides a --profile key by key: it must not take slurm's settings
    assert slurm.show_failed_logs and slurm.executor == "slurm" and slurm.cores == 8
    assert {"slurm_partition", "mem_mb", "runtime"} <= set(slurm.default_resources)
    assert slurm.set_resources  # the GPU jobs' partitions
    local = _args("--profile", str(REPO / "profiles" / "local"), "-n")
    assert local.show_failed_logs and local.rerun_incomplete and local.cores
    assert not _args("--workflow-profile", "none", "-n").show_failed_logs


def test_targets_go_before_configfile(tmp_path, monkeypatch):
    """docs and examples write `snakemake TARGET --configfile X`: --configfile takes every word
    after it as another configuration file."""
    monkeypatch.chdir(tmp_path)
    eaten = _args("-n", "--configfile", "x.yaml", "zeroshot")
    assert not eaten.targets and [p.name for p in eaten.configfile] == ["x.yaml", "zeroshot"]
    for argv in (["zeroshot", "--configfile", "x.yaml"], ["--configfile=x.yaml", "zeroshot"]):
        args = _args("-n", *argv)
        assert list(args.targets) == ["zeroshot"] and [p.name for p in args.configfile] == [
            "x.yaml"
        ]


def test_a_failed_job_shows_its_error_on_the_console(tmp_path):
    shutil.copytree(DEFAULT, tmp_path / "profiles" / "default")
    (tmp_path / "Snakefile").write_text(
        'rule broken:\n    output: "out.txt"\n    log: "logs/broken.log"\n'
        # the message is in the log only, not in the command Snakemake prints with the error
        "    shell: \"printf 'ValueError: %s\\\\n' planted > {log}; exit 1\"\n"
    )
    result = subprocess.run(
        [str(BIN / "snakemake"), "--cores", "1"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )
    assert result.returncode != 0
    assert "ValueError: planted" in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["local", "slurm"])
def test_the_default_profile_sets_only_what_the_others_agree_on(name):
    import yaml

    default = yaml.safe_load((DEFAULT / "config.yaml").read_text())
    other = yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())
    assert {k: v for k, v in default.items() if k in other} == {
        k: other[k] for k in default if k in other
    }
