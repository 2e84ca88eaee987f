"""Configurations with variants only or tasks only (checked and planned by `snakemake -n`), and
where each split of a table source comes from (its own file or random_split)."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from glmeval.config import ConfigError, validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"
BIN = Path(sys.executable).parent


@pytest.fixture
def demo():
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


def _variants_only(demo, root: Path) -> dict:
    (root / "genome.fa").write_text(">chr1\n" + "ACGT" * 50 + "\n")
    (root / "variants.tsv").write_text("chrom\tpos\tref\talt\teffect\nchr1\t50\tT\tA\t0.5\n")
    return {
        "device": "cpu",
        "models": {"tiny_nt": demo["models"]["tiny_nt"]},
        "variants": {
            "mine": {
                "table": str(root / "variants.tsv"),
                "genome": str(root / "genome.fa"),
                "length": 20,
                "effect": "effect",
                "zeroshot": {"models": ["tiny_nt"], "scores": ["cosine"]},
            }
        },
    }


def test_variants_only_and_tasks_only_are_valid(demo, tmp_path):
    config = validate_config(_variants_only(demo, tmp_path), SCHEMA)
    assert config["tasks"] == {} and config["probes"] == {}
    tasks_only = copy.deepcopy(demo)
    tasks_only.pop("variants", None)
    assert validate_config(tasks_only, SCHEMA)["variants"] == {}


def test_glmeval_check_lists_a_variants_only_configuration(demo, tmp_path, capsys):
    from glmeval.cli import main

    (tmp_path / "v.yaml").write_text(yaml.safe_dump(_variants_only(demo, tmp_path)))
    assert main(["check", str(tmp_path / "v.yaml")]) == 0
    out = capsys.readouterr().out
    assert "probe jobs: 0" in out and "mine tiny_nt" in out


def test_neither_tasks_nor_variants_is_one_clear_error(demo):
    with pytest.raises(ConfigError, match="neither tasks nor variants"):
        validate_config({"models": {"onehot": demo["models"]["onehot"]}}, SCHEMA)


def _dry_run(config: dict, root: Path, *targets: str):
    (root / "c.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        str(BIN / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "-n",
        *targets,
        "--configfile",
        str(root / "c.yaml"),
        "--directory",
        str(root),
    ]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def test_a_variants_only_configuration_plans_its_scores_and_tables(demo, tmp_path):
    result = _dry_run(_variants_only(demo, tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for rule in ("prepare_variants", "zeroshot_scores", "variant_tables"):
        assert f"rule {rule}:" in out
    assert "results/tables/mine_correlations.csv" in out
    for absent in ("rule prepare_task:", "rule train_probes:", "leaderboard", "probe_metrics"):
        assert absent not in out


def test_a_tasks_only_configuration_plans_without_variants(demo, tmp_path):
    assert "variants" not in demo  # the demo is a tasks-only configuration
    result = _dry_run(demo, tmp_path, "data")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule prepare_task:" in result.stdout and "prepare_variants" not in result.stdout


def _table_task(source: dict) -> dict:
    return {"kind": "regression", "targets": ["y"], "source": source, "models": [], "probes": []}


def test_each_split_comes_from_its_file_or_random_split(demo):
    demo = {k: v for k, v in demo.items() if k not in ("attribution", "figures")}
    ok = {"files": {"train": "all.csv", "test": "test.csv"}, "random_split": {"valid": 0.1}}
    validate_config({**demo, "tasks": {"t": _table_task(ok)}}, SCHEMA)
    both = {
        "files": {"train": "a.csv", "valid": "v.csv", "test": "t.csv"},
        "random_split": {"valid": 0.1},
    }
    missing = {"files": {"train": "a.csv", "test": "t.csv"}}
    for source, message in (
        (both, "random_split: 'valid' is given as its own file too"),
        (missing, r"files: no file for \['valid'\]; give one, or draw them"),
    ):
        with pytest.raises(ConfigError, match=message):
            validate_config({**copy.deepcopy(demo), "tasks": {"t": _table_task(source)}}, SCHEMA)
    with pytest.raises(ConfigError):  # a random_split that draws nothing
        bad = {"table": "a.csv", "random_split": {"seed": 1}}
        validate_config({**copy.deepcopy(demo), "tasks": {"t": _table_task(bad)}}, SCHEMA)
