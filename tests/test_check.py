"""`glmeval check`: the packaged schema, the files and checkpoints a configuration names
(glmeval.checks), every problem at once, and output cut short by its reader."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from glmeval.cli import main
from glmeval.config import SCHEMA

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    """tiny_nt (masked LM), and the same saved without its LM head."""
    from transformers import EsmConfig, EsmModel

    from glmeval.models.build import BUILDERS

    root = tmp_path_factory.mktemp("checkpoints")
    BUILDERS["tiny_nt"](root / "tiny_nt", n_layers=2)
    shutil.copytree(root / "tiny_nt", root / "headless")
    for weights in (root / "headless").glob("*.safetensors"):
        weights.unlink()
    EsmModel(EsmConfig.from_pretrained(root / "headless")).save_pretrained(root / "headless")
    return root


@pytest.fixture
def workdir(tmp_path, monkeypatch, checkpoints) -> Path:
    """A working directory holding a table, variants with their genome and the checkpoints."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "activity.csv").write_text("id,sequence,split,y\n")
    (tmp_path / "variants.tsv").write_text("chrom\tpos\tref\talt\n")
    (tmp_path / "genome.fa").write_text(">chr1\nACGT\n")
    shutil.copytree(checkpoints, tmp_path / "models")
    return tmp_path


def _config(scores="auto", model="models/tiny_nt", n_layers=2, table="data/activity.csv"):
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["models"]["tiny_nt"]["source"] = {"path": model}
    config["models"]["tiny_nt"]["n_layers"] = n_layers
    config["tasks"]["motif_activity"]["source"] = {"table": table}
    config["tasks"]["motif_activity"]["targets"] = ["y"]
    config["attribution"]["tasks"]["motif_activity"]["maps"].pop(2)  # tiny_nt's own map
    config["variants"] = {
        "snvs": {
            "table": "variants.tsv",
            "genome": "genome.fa",
            "length": 200,
            "zeroshot": {"models": ["onehot", "tiny_nt"], "scores": scores},
        }
    }
    return config


def _check(config, path="my.yaml", capsys=None) -> tuple[int, str, str]:
    Path(path).write_text(yaml.safe_dump(config))
    code = main(["check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_config_outside_config_is_checked_with_the_packaged_schema(tmp_path, capsys):
    assert (REPO / "config" / "schema.yaml").resolve() == SCHEMA.resolve()
    mine = tmp_path / "elsewhere" / "my.yaml"
    mine.parent.mkdir()
    shutil.copy(REPO / "config" / "demo.yaml", mine)
    assert main(["check", str(mine)]) == 0
    assert capsys.readouterr().out.startswith(f"{mine}: valid")


def test_a_valid_config_with_local_checkpoints(workdir, capsys):
    code, out, err = _check(_config(), capsys=capsys)
    assert code == 0, err
    assert "my.yaml: valid" in out and "probe runs per task" in out
    assert "models.onehot: scores auto drops llr: family onehot is not a language model" in out
    assert "models.tiny_nt: scores auto" not in out  # it has its head


def test_typos_in_a_data_path_and_a_model_path_are_named_with_the_fix(workdir, capsys):
    config = _config(model="models/tiny-nt", table="data/activty.csv")
    code, _, err = _check(config, capsys=capsys)
    assert code == 1
    assert (
        "tasks.motif_activity.source.table: data/activty.csv does not exist (paths are relative "
        "to the working directory, where snakemake runs); did you mean data/activity.csv?"
    ) in err
    assert "models.tiny_nt.source.path: models/tiny-nt does not exist" in err
    assert "did you mean models/tiny_nt?" in err
    config = _config(table="dta/activity.csv")
    assert "no directory dta (did you mean data?)" in _check(config, capsys=capsys)[2]


def test_wrong_n_layers_is_found_without_loading_the_model(workdir, capsys):
    code, _, err = _check(_config(n_layers=3), capsys=capsys)
    assert code == 1
    assert "models.tiny_nt.n_layers is 3 but the checkpoint at models/tiny_nt has 2 layers" in err
    assert "(num_hidden_layers in its config.json). Set n_layers: 2." in err
    assert (
        "torch"
        not in subprocess.run(  # check stays torch-free
            [sys.executable, "-c", _IMPORTS, "my.yaml"], capture_output=True, text=True, check=True
        ).stdout
    )


_IMPORTS = """
import sys
from glmeval.cli import main
main(["check", sys.argv[1]])
print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
"""


def test_a_checkpoint_without_lm_head(workdir, capsys):
    from glmeval.models import load_embedder

    # the loader agrees: the bare checkpoint has no head, tiny_nt has one
    bare = load_embedder("x", {"family": "masked_lm", "n_layers": 2}, "models/headless")
    assert not bare.has_lm_head
    assert load_embedder("x", {"family": "masked_lm", "n_layers": 2}, "models/tiny_nt").has_lm_head
    code, out, err = _check(_config(scores="auto", model="models/headless"), capsys=capsys)
    assert code == 0, err
    assert (
        "variants.snvs.zeroshot: models.tiny_nt: scores auto drops llr: the checkpoint at "
        "models/headless has no LM head (its config.json architectures: EsmModel)"
    ) in out
    code, _, err = _check(_config(scores=["llr"], model="models/headless"), capsys=capsys)
    assert code == 1
    assert "variants.snvs.zeroshot.scores: llr (|LLR|) needs a language model head" in err
    assert "score model 'tiny_nt' with distances (cosine, dot, l1, l2) or scores: auto" in err


def test_a_masked_lm_checkpoint_under_the_causal_family_is_named(workdir, capsys):
    config = _config()
    config["models"]["tiny_nt"]["family"] = "causal_lm"
    code, _, err = _check(config, capsys=capsys)
    assert code == 1
    assert (
        "models.tiny_nt.family: causal_lm, but the checkpoint at models/tiny_nt is a masked_lm "
        "(its config.json architectures: EsmForMaskedLM), which the causal_lm loader cannot "
        "load. Set family: masked_lm"
    ) in err


def test_every_problem_is_listed_and_the_exit_code_is_1(workdir, capsys):
    config = _config(scores=["cosine", "llr"], model="models/headless", n_layers=4)
    config["tasks"]["motif_grammar"]["source"] = {"table": "data/grammar.csv"}
    config["tasks"]["motif_grammar"]["targets"] = ["y"]
    config["attribution"]["tasks"]["motif_activity"]["maps"].append(
        {"model": "tiny_nt", "methods": ["reverse_entropy"]}
    )
    code, _, err = _check(config, capsys=capsys)
    assert code == 1
    problems = [line for line in err.splitlines() if line.startswith("  - ")]
    assert len(problems) == 5, err
    assert err.startswith("my.yaml: invalid configuration:") and "No job was started." in err
    for expected in (
        "model 'onehot' (onehot) has none",  # the configuration's own fault, with the files'
        "tasks.motif_grammar.source.table: data/grammar.csv does not exist",
        "models.tiny_nt.n_layers is 4",
        "variants.snvs.zeroshot.scores: llr",
        "attribution.tasks.motif_activity.maps[3]: reverse_entropy needs a language model head",
    ):
        assert expected in err


def test_reference_errors_and_file_problems_together(workdir, capsys):
    config = _config(table="data/missing.csv")
    config["tasks"]["motif_grammar"]["models"].append("dnabert2")
    code, _, err = _check(config, capsys=capsys)
    assert code == 1
    assert "tasks.motif_grammar.models: 'dnabert2' is not defined" in err
    assert "data/missing.csv does not exist" in err


def test_a_tokenizer_without_a_base(workdir, capsys):
    vocab = workdir / "models" / "tiny_nt" / "vocab.txt"
    vocab.write_text("".join(t + "\n" for t in vocab.read_text().split() if "T" not in t))
    code, _, err = _check(_config(), capsys=capsys)
    assert code == 1
    assert "models.tiny_nt: the tokenizer at models/tiny_nt has no token for T" in err


def test_paths_inside_a_download(workdir, capsys):
    config = _config()
    spec = {"url": "https://example.invalid/archive.zip"}
    config["downloads"] = {"archive": spec}
    config["tasks"]["motif_activity"]["source"] = {
        "table": {"download": "archive", "path": "tables/activty.csv"}
    }
    code, out, err = _check(config, capsys=capsys)  # not fetched yet: taken on trust
    assert code == 0, err
    assert "downloads not fetched yet (archive)" in out
    fetched = workdir / "resources" / "downloads" / "archive"
    (fetched / "tables").mkdir(parents=True)
    (fetched / "tables" / "activity.csv").write_text("id,sequence,split,y\n")
    (fetched / "download.json").write_text(json.dumps({"spec": spec}))
    code, _, err = _check(config, capsys=capsys)
    assert code == 1
    assert (
        "tasks.motif_activity.source.table: the download 'archive' is fetched, and "
        "tables/activty.csv is not in it (resources/downloads/archive/); did you mean "
        "tables/activity.csv?"
    ) in err


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path):
    """`glmeval check CONFIG | head -1`: the reader is gone before the first line."""
    read, write = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "glmeval.cli", "check", str(REPO / "config" / "demo.yaml")],
        stdout=write,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    os.close(write)
    os.close(read)  # long before the command prints
    err = process.communicate(timeout=120)[1]
    assert process.returncode == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
