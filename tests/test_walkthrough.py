"""docs/walkthrough.md, doctest-style: every YAML block validates (the first is `my.yaml`, the
others are fragments of it), every `glmeval` command exits 0, every `snakemake` command plans
its jobs (a dry run from a project directory with the repository's Snakefile), and every row of
the common-mistakes table prints the message it quotes."""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from glmeval.cli import main

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEXT = (REPO / "docs" / "walkthrough.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", TEXT, flags=re.DOTALL | re.MULTILINE)
YAML = [body for lang, body in BLOCKS if lang == "yaml"]
COMMANDS = [
    line.split("  #")[0].strip()
    for lang, body in BLOCKS
    if lang == "bash"
    for line in body.splitlines()
    if line.strip()
]
ADAPTERS = ("ACTGGCCGCTTGACG", "CACTGCGGCTCCTGC")  # 15 nt each side of a 170-nt element


def _random_dna(rng, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), n))


def _reverse_complement(seq: str) -> str:
    return seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The files the walkthrough names: tables, variants and their genome, the checkpoint (and
    the same saved without its LM head, for the mistakes table)."""
    from transformers import EsmConfig, EsmModel

    from glmeval.models.build import BUILDERS

    root = tmp_path_factory.mktemp("walkthrough")
    (root / "data").mkdir()
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "id": [f"seq{i}" for i in range(60)],
            "sequence": [_random_dna(rng, 200) for _ in range(60)],
            "split": ["train"] * 40 + ["valid"] * 10 + ["test"] * 10,
            "activity": rng.normal(size=60).round(3),
        }
    )
    table.to_csv(root / "data" / "my_table.csv", index=False)
    rows = table.drop(columns="split")
    rows[table.split != "test"].to_csv(root / "data" / "all.csv", index=False)
    rows[table.split == "test"].to_csv(root / "data" / "test.csv", index=False)
    genome = _random_dna(rng, 2000)
    lines = [genome[i : i + 60] for i in range(0, len(genome), 60)]
    (root / "data" / "genome.fa").write_text(">chr1\n" + "\n".join(lines) + "\n")
    positions = np.arange(500, 520)  # 1-based
    refs = [genome[p - 1] for p in positions]
    pd.DataFrame(
        {
            "chrom": "chr1",
            "pos": positions,
            "ref": refs,
            "alt": [next(b for b in "ACGT" if b != r) for r in refs],
            "log2fc": rng.normal(size=len(positions)).round(3),
        }
    ).to_csv(root / "data" / "my_variants.tsv", sep="\t", index=False)
    checkpoints = root / "checkpoints"
    BUILDERS["tiny_nt"](checkpoints / "my_lm", n_layers=2)
    headless = checkpoints / "my_lm_headless"
    shutil.copytree(checkpoints / "my_lm", headless)
    for weights in headless.glob("*.safetensors"):
        weights.unlink()
    EsmModel(EsmConfig.from_pretrained(headless)).save_pretrained(headless)
    return root


@pytest.fixture
def workdir(project, monkeypatch) -> Path:
    monkeypatch.chdir(project)
    return project


def _base() -> dict:
    assert YAML[0].startswith("# my.yaml"), "the first YAML block is the whole my.yaml"
    return yaml.safe_load(YAML[0])


def _merged(fragment: dict) -> dict:
    """my.yaml with a fragment's entries: each entry it names gets the fragment's keys
    (replacing those keys), a new entry is added."""
    config = _base()
    for section, entries in fragment.items():
        if not isinstance(entries, dict):
            config[section] = entries
            continue
        for name, keys in entries.items():
            config.setdefault(section, {}).setdefault(name, {}).update(keys)
    return config


def _check(config: dict, capsys) -> tuple[int, str]:
    Path("my.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    code = main(["check", "my.yaml"])
    out, err = capsys.readouterr()
    return code, out + err


def _snakemake(args: list[str], project: Path) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "-n", *args]
    return subprocess.run(
        cmd, check=False, cwd=project, capture_output=True, text=True, timeout=300
    )


def test_the_walkthrough_has_its_blocks():
    assert len(YAML) >= 4
    assert "glmeval check my.yaml" in COMMANDS and "glmeval preflight my.yaml" in COMMANDS
    assert "snakemake --cores all --configfile my.yaml" in COMMANDS
    assert "snakemake --report report.html --configfile=my.yaml" in COMMANDS


def test_every_yaml_block_validates(workdir, capsys):
    code, out = _check(_base(), capsys)
    assert code == 0, out
    assert "my.yaml: valid" in out and "probe runs per task: my_activity" in out
    for fragment in YAML[1:]:
        code, out = _check(_merged(yaml.safe_load(fragment)), capsys)
        assert code == 0, f"{fragment}\n{out}"


def test_every_glmeval_command_exits_0(workdir, capsys):
    _check(_base(), capsys)
    for command in COMMANDS:
        if command.startswith("glmeval "):
            assert main(shlex.split(command)[1:]) == 0, (command, capsys.readouterr())
            capsys.readouterr()


def test_every_snakemake_command_plans_its_jobs(workdir, capsys):
    """A dry run of each; `--report` needs a finished run, so its command is dry-run without
    it (the rest of its arguments, the configuration included, must parse)."""
    _check(_base(), capsys)
    commands = [c for c in COMMANDS if c.startswith("snakemake ")]
    assert len(commands) >= 4
    for command in commands:
        args = shlex.split(command)[1:]
        if "--report" in args:
            at = args.index("--report")
            del args[at : at + 2]
        assert "--configfile" not in args[:-2], f"{command}: a word after --configfile"
        result = _snakemake(args, workdir)
        assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
        assert "This was a dry-run" in result.stdout, command
        if args == ["--cores", "all", "--configfile", "my.yaml"]:
            for rule in ("prepare_task", "prepare_variants", "train_probes", "leaderboard"):
                assert f"rule {rule}:" in result.stdout


def _mistake_rows() -> list[tuple[str, str, str]]:
    section = TEXT.split("## 6. What each common mistake says")[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith(("| mistake", "| ---")):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            quoted = re.search(r"`(.*?)`(?!`)", cells[2].replace("\\|", "|")).group(1)
            rows.append((cells[0], cells[1], quoted))
    return rows


def _prepare(table: pd.DataFrame, capsys, **task) -> str:
    """Prepare my.yaml's task from `table` in-process (the prepare_task job's code): stderr,
    or the error's message."""
    from glmeval.config import load_config
    from glmeval.data.tasks import prepare_task

    table.to_csv("data/mistake.csv", index=False)
    Path("my.yaml").write_text(yaml.safe_dump(_base(), sort_keys=False))
    spec = load_config("my.yaml")["tasks"]["my_activity"]
    spec["source"]["table"] = "data/mistake.csv"
    spec.update(task)
    capsys.readouterr()
    try:
        prepare_task("my_activity", spec, "resources/mistake")
    except ValueError as error:
        return str(error)
    return capsys.readouterr().err


def _both_orientations() -> pd.DataFrame:
    """20 adapter-flanked elements in both orientations; two elements' reverse orientation in
    test, their forward one in train."""
    rng = np.random.default_rng(1)
    rows = []
    for e in range(20):
        element = _random_dna(rng, 170)
        split = "train" if e < 14 else "valid" if e < 17 else "test"
        for strand, seq in (("fwd", element), ("rev", _reverse_complement(element))):
            where = "test" if strand == "rev" and e < 2 else split
            rows.append((f"el{e}_{strand}", ADAPTERS[0] + seq + ADAPTERS[1], where, e / 10))
    return pd.DataFrame(rows, columns=["id", "sequence", "split", "activity"])


def _hub(revision: str | None) -> dict:
    config = _base()
    source = {"hub": "InstaDeepAI/nucleotide-transformer-500m-human-ref"}
    if revision:
        source["revision"] = revision
    config["models"]["nt_500m"] = {"family": "masked_lm", "source": source, "n_layers": 24}
    config["tasks"]["my_activity"]["models"].append("nt_500m")
    return config


def _edited(edit) -> dict:
    config = _base()
    edit(config)
    return config


def _iupac(table: pd.DataFrame) -> pd.DataFrame:
    seq = table.loc[3, "sequence"]
    return table.assign(
        sequence=table.sequence.where(table.id != "seq3", seq[:17] + "R" + seq[18:])
    )


def test_every_common_mistake_prints_what_the_table_says(workdir, capsys):
    task = _base()["tasks"]["my_activity"]
    variants = _base()["variants"]["my_mpra"]

    def no_head(config):
        config["models"]["my_lm"]["source"]["path"] = "checkpoints/my_lm_headless"
        config["variants"]["my_mpra"]["zeroshot"]["scores"] = ["cosine", "llr"]

    check = {  # a phrase of the mistake -> my.yaml with it
        "typo in a path": lambda c: c["tasks"]["my_activity"]["source"].update(
            table=task["source"]["table"].replace("table", "tabel")
        ),
        "wrong layer count": lambda c: c["models"]["my_lm"].update(n_layers=6),
        "without its LM head": no_head,
        "not defined": lambda c: c["tasks"]["my_activity"].update(probes=["ridge", "mlp"]),
    }
    table = pd.read_csv(task["source"]["table"])
    seen = set()
    for mistake, where, quoted in _mistake_rows():
        if (key := next((k for k in check if k in mistake), None)) is not None:
            code, out = _check(_edited(check[key]), capsys)
        elif "without `revision`" in mistake:
            code, out = _check(_hub(None), capsys)
        elif "revision: main" in mistake:
            code, out = _check(_hub("main"), capsys)
        elif "IUPAC" in mistake:
            code, out = None, _prepare(_iupac(table), capsys)
        elif "resplit: [exact, reverse_complement]" in mistake:
            kinds = {"resplit": ["exact", "reverse_complement"]}
            code, out = None, _prepare(_both_orientations(), capsys, leakage=kinds)
        elif "both sides of a split" in mistake:
            code, out = None, _prepare(_both_orientations(), capsys)
        elif "--configfile my.yaml zeroshot" in mistake:
            _check(_base(), capsys)
            result = _snakemake(["--cores", "all", "--configfile", "my.yaml", "zeroshot"], workdir)
            code, out = result.returncode, result.stdout + result.stderr
            assert code != 0
        else:
            raise AssertionError(f"no test for the mistake {mistake!r}")
        seen.add(mistake)
        assert quoted in out, f"{mistake}: {quoted!r} not in\n{out}"
        if "exit 1" in where:
            assert code == 1, mistake
        elif "exit 0" in where:
            assert code == 0, mistake
    assert len(seen) >= 10
    # the resplit the walkthrough recommends leaves no warning, and the variants' effect column
    # is the one the table has
    fragment = yaml.safe_load(next(block for block in YAML if "resplit" in block))
    fixed = _prepare(_both_orientations(), capsys, **fragment["tasks"]["my_activity"])
    assert "resplit ['exact', 'reverse_complement', 'near'] moved 2 rows" in fixed
    assert "warning" not in fixed
    assert variants["effect"] in pd.read_csv(variants["table"], sep="\t").columns
