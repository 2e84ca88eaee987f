"""The run's cost before it starts (glmeval.cost, `glmeval check --cost`): the jobs it counts
are the workflow's, submissions grouped as the SLURM profile groups them, hours from the
stated constants."""

import copy
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from glmeval import cost
from glmeval.cli import main
from glmeval.config import load_config
from glmeval.run_plan import RunPlan

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"


@pytest.fixture(scope="module")
def paper():
    return load_config(REPO / "config" / "config.yaml")


def _dry_run_jobs(config_path: Path, workdir: Path) -> dict[str, int]:
    """{rule: jobs} of the workflow's dry run of its default target."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            "--snakefile",
            str(REPO / "Snakefile"),
            "-n",
            "--quiet",
            "rules",
            "--configfile",
            str(config_path),
            "--directory",
            str(workdir),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout.split("Job stats:")[1].split("total")[0]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE))
    return {rule: int(n) for rule, n in counts.items() if rule != "default"}


@pytest.mark.parametrize("name,budget", [("demo.yaml", None), ("config.yaml", 500)])
def test_the_jobs_counted_are_the_workflow_s(name, budget, tmp_path):
    config = yaml.safe_load((REPO / "config" / name).read_text())
    if budget:
        config["storage"] = {"max_tokens_gb": budget}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    expected = _dry_run_jobs(tmp_path / "config.yaml", tmp_path)
    model = cost.CostModel(RunPlan(load_config(tmp_path / "config.yaml"), REPO))
    counted = {rule: r.jobs for rule, r in model.estimate().items()}
    assert counted == expected


def test_local_rules_are_the_workflow_s():
    local, rule = set(), None
    for path in [*(REPO / "workflow" / "rules").glob("*.smk")]:
        for line in path.read_text().splitlines():
            named = re.match(r"(?:rule (\w+)|use rule \w+ as (\w+))", line)
            rule = (named.group(1) or named.group(2)) if named else rule
            if "localrule: True" in line:
                local.add(rule)
    targets = {"attribution", "data", "download", "preflight", "figures", "models"}
    assert cost.LOCAL_RULES == local - targets


def test_submissions_are_grouped_as_the_profile_says(paper):
    rules = cost.CostModel(RunPlan(paper, REPO), cost.Profile.read(PROFILE)).estimate()
    assert rules["train_probes"].submissions == math.ceil(rules["train_probes"].jobs / 4) == 181
    assert rules["fit_linear_probes"].submissions == math.ceil(134 / 20) == 7
    assert rules["kmer_spectra"].submissions == 22 and not rules["kmer_spectra"].gpu_forward_hours
    assert rules["figure"].submissions == 0  # local: run by Snakemake itself
    assert sum(r.submissions for r in rules.values()) == 485
    assert sum(r.jobs for r in rules.values()) == 1226
    assert cost.Profile.read(PROFILE).gpu_rules == cost.GPU_RULES  # the profile's GPU jobs
    bare = cost.CostModel(RunPlan(paper, REPO), cost.Profile.read(None)).estimate()
    assert bare["train_probes"].submissions == 724  # no profile: a submission each


def test_hours_follow_the_stated_constants(paper):
    model = cost.CostModel(RunPlan(paper, REPO), cost.Profile.read(PROFILE))
    model.estimate()
    # NT 2.5B over K562: 393,300 sequences of 42 tokens (6-mers, the spare specials)
    tokens = 393_300 * 42
    seconds = model.forward_seconds("nt_2b5_1000g", 393_300, 230, "extract_embeddings")
    load = cost.LOAD_SECONDS + 2.5e9 * 4 / 1e6 / cost.READ_MB_PER_S  # 10 GB of fp32 weights
    assert seconds == pytest.approx(
        cost.JOB_SECONDS + load + 2 * 2.5e9 * tokens / cost.GPU_FLOPS + cost.TOKEN_SECONDS * tokens
    )
    # Sei's FLOPs run over its 4,096-base input, its host-side work over its 960 positions
    sei = model.forward_seconds("sei", 1000, 230, "extract_embeddings") - cost.JOB_SECONDS
    weights = cost.parameters(paper, "sei")
    assert weights == 73_500_000  # its family's card
    load = cost.LOAD_SECONDS + weights * 4 / 1e6 / cost.READ_MB_PER_S
    flops = 2 * weights * 1000 * 4096 / cost.GPU_FLOPS
    assert sei == pytest.approx(load + flops + cost.TOKEN_SECONDS * 1000 * 960)
    # the extraction rule's forward hours are the sum of its jobs'; probe training on GPUs
    extraction = model.rules["extract_embeddings"]
    assert extraction.gpu_forward_hours == pytest.approx(sum(extraction.job_seconds) / 3600)
    assert model.rules["train_probes"].gpu_training_hours > 0
    assert model.rules["fit_linear_probes"].cpu_hours > 0  # linear probes: CPU jobs
    # memory: the 2.5B model's fp32 weights three times over, besides the base
    assert extraction.max_mem_mb == pytest.approx(cost.BASE_MEM_MB + 3 * 2.5e9 * 4 / 1e6)
    peak, final = model.disk()
    assert peak == final > 6000e9  # no budget: every token layer kept


def test_a_budget_bounds_the_peak_and_costs_forward_passes(paper):
    budgeted = copy.deepcopy(paper)
    budgeted["storage"] = {"max_tokens_gb": 500}
    plain = cost.CostModel(RunPlan(paper, REPO))
    plain.estimate()
    model = cost.CostModel(RunPlan(budgeted, REPO))
    rules = model.estimate()
    peak, final = model.disk()
    kept = model.plan.token_storage.kept_bytes
    assert final < peak and peak - final + kept <= 500e9
    extra = rules["extract_token_states"]
    assert extra.jobs == len(model.plan.token_storage.parts) and extra.gpu_forward_hours > 0
    # a model probed only on token layers in parts needs no pooled extraction of that task
    pooled = rules["extract_embeddings"]
    kmer = rules["kmer_spectra"].jobs  # a kmer model's spectra: their own CPU rule
    assert pooled.jobs + kmer == len(model.plan.extractions)
    assert pooled.jobs < plain.rules["extract_embeddings"].jobs
    assert pooled.gpu_forward_hours < plain.rules["extract_embeddings"].gpu_forward_hours


def test_check_prints_the_cost(capsys):
    assert (
        main(
            [
                "check",
                str(REPO / "config" / "demo.yaml"),
                "--cost",
                "--device",
                "cpu",
                "--profile",
                str(PROFILE),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "cost (cpu;" in out and re.search(r"^\| total \| \d+ \| \d+ \|", out, re.MULTILINE)
    assert re.search(r"disk: [\d.,]+ GB at the peak", out)


def test_check_reports_a_budget_that_cannot_hold_a_layer(tmp_path, capsys):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["storage"] = {"max_tokens_gb": 250}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["check", str(tmp_path / "config.yaml")]) == 1
    err = capsys.readouterr().err
    assert "storage.max_tokens_gb is 250: one token layer of model" in err
    assert "Raise storage.max_tokens_gb to at least" in err
