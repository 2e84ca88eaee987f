"""The planning layer (glmeval.vocabulary, .paths, .plan, .config): torch-free, and the paths its
jobs name are the ones the workflow's rules write."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from glmeval import paths
from glmeval.config import validate_config
from glmeval.plan import (
    probe_groups,
    probe_jobs,
    transfer_jobs,
    zeroshot_scores,
)
from glmeval.run_plan import RunPlan
from glmeval.vocabulary import REPRESENTATION_PATTERN, STRAND_VIEWS

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_planning_imports_neither_torch_nor_transformers():
    code = (
        "import sys, glmeval.vocabulary, glmeval.paths, glmeval.plan, glmeval.config, "
        "glmeval.run_plan; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_representation_wildcard_is_built_from_the_strands():
    assert REPRESENTATION_PATTERN == "(cls|mean)(_forward|_reverse)?|tokens"
    assert STRAND_VIEWS == ("forward", "reverse")


def _config(tmp_path: Path) -> dict:
    """The demo, plus a variants table scored zero-shot (one model at its own window) and
    explained by a task's trained CNN probe."""
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    for name in ("v.tsv", "g.fa"):
        (tmp_path / name).write_text("")
    config["variants"] = {
        "v": {
            "table": "v.tsv",
            "genome": "g.fa",
            "length": 200,
            "zeroshot": {"models": ["tiny_nt", "onehot"], "windows": {"onehot": 64}},
            "transfer": [{"task": "motif_activity", "probes": ["rep_cnn"], "elements": ["E"]}],
        }
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    return validate_config(config)


def test_rule_outputs_are_the_plan_s_paths(tmp_path):
    """Every probe run, embedding, zero-shot score and transfer the plan names is what a rule of
    the dry run writes, and the rules write no other (a pattern changed on one side only fails)."""
    config = _config(tmp_path)
    cmd = [
        str(BIN / "snakemake"),
        "all",
        "zeroshot",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--configfile",
        str(tmp_path / "c.yaml"),
        "--directory",
        str(tmp_path),
        "--cores",
        "1",
        "-n",
        "--detailed-summary",
    ]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    header = next(i for i, fields in enumerate(lines) if fields[0] == "output_file")
    column = {name: i for i, name in enumerate(lines[header])}
    written: dict[str, set[str]] = {}
    for fields in lines[header + 1 :]:
        if len(fields) == len(column):
            written.setdefault(fields[column["rule"]], set()).add(fields[column["output_file"]])

    jobs = probe_jobs(config)
    groups = probe_groups(config, jobs)
    records = written["train_probes"] | written["fit_linear_probes"]
    assert records == {g.path for g in groups}
    # each run in exactly one job: a neural probe's on one layer, a linear probe's on every layer
    runs = [j for g in groups for j in g.runs]
    assert len(runs) == len(jobs) and set(runs) == set(jobs)
    for g in groups:
        key = (g.task, g.model, g.representation, g.probe)
        same = [j for j in jobs if (j.task, j.model, j.representation, j.probe) == key]
        if g.layer is None:
            assert set(g.runs) == set(same)
        else:
            assert set(g.runs) == {j for j in same if j.layer == g.layer}
    assert written["extract_embeddings"] == set(RunPlan(config, REPO).embeddings)
    assert written["zeroshot_scores"] == set(zeroshot_scores(config)["v"])
    transfers = transfer_jobs(config, jobs)
    assert transfers and written["transfer_effects"] == {t.path for t in transfers}
    assert written["prepare_variant_windows"] >= {
        paths.VARIANTS_WINDOW.format(variants="v", length=64)
    }
    # every file any rule writes is one of the library's patterns
    patterns = [_regex(v) for k, v in vars(paths).items() if k.isupper() and isinstance(v, str)]
    unplanned = {
        path
        for files in written.values()
        for path in files
        if not any(pattern.fullmatch(path) for pattern in patterns)
    }
    assert not unplanned


def _regex(pattern: str) -> re.Pattern:
    """A path pattern as a regular expression: each wildcard as its constraint."""
    parts = re.split(r"\{(\w+)\}", pattern)
    return re.compile(
        "".join(
            f"(?:{paths.WILDCARDS.get(part, '[^/]+')})" if i % 2 else re.escape(part)
            for i, part in enumerate(parts)
        )
    )


def test_rules_name_no_path_of_their_own():
    """The rules take every output and input path from glmeval.paths (or the plan), so the
    library and the workflow cannot disagree on where an artifact lives."""
    literal = re.compile(r"[\"'](results|resources)/")
    for rules in sorted((REPO / "workflow").rglob("*.smk")) + [REPO / "workflow" / "Snakefile"]:
        for number, line in enumerate(rules.read_text().splitlines(), 1):
            assert not literal.search(line), f"{rules.name}:{number}: {line.strip()}"
