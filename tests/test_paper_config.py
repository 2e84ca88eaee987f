"""config/config.yaml is the paper's evaluation (docs/paper.md): every model × task × probe of
Figs. 2-5 and Table 1, each model's own CAGI5 window, and the recipes of the paper's code. A
later edit that drops a paper row fails here."""

import copy
import re
from collections import Counter
from pathlib import Path

import pytest

from glmeval.config import load_config, validate_config
from glmeval.models.lock import unpinned_models
from glmeval.plan import (
    baselines,
    model_settings,
    probe_jobs,
    probe_settings,
    transfer_jobs,
    variant_window,
)

REPO = Path(__file__).resolve().parents[1]
GLMS = ["nt_2b5_1000g", "gpn_human", "hyenadna", "dnabert2", "dnabert2_random"]
CHIP = ["chip_arid3", "chip_atf2", "chip_bach1", "chip_ctcf", "chip_elk1", "chip_gabpa",
        "chip_max", "chip_rest", "chip_srf", "chip_znf24"]
ECLIP = ["eclip_hnrnpk", "eclip_ptbp1", "eclip_pum2", "eclip_qki", "eclip_rbfox2",
         "eclip_sf3b4", "eclip_srsf1", "eclip_tardbp", "eclip_tia1", "eclip_u2af1"]


@pytest.fixture(scope="module")
def paper():
    config = load_config(REPO / "config" / "config.yaml", REPO / "config" / "schema.yaml")
    return config, probe_jobs(config)


def _runs(jobs, task):
    """(model, probe) -> the set of (representation, layer) it is run at, in `task`."""
    out = {}
    for j in jobs:
        if j.task == task:
            out.setdefault((j.model, j.probe), set()).add((j.representation, j.layer))
    return out


def test_task1_probes_every_model_at_every_width(paper):
    config, jobs = paper
    for task in ("lentimpra_hepg2", "lentimpra_k562"):
        runs = _runs(jobs, task)
        for model in GLMS:  # ridge and MLPs at widths 0.5/1/2 on the pooled embeddings
            pooled = {"mean"} | ({"cls"} if model in ("nt_2b5_1000g", "dnabert2", "dnabert2_random") else set())
            for probe in ("ridge", "rep_mlp_05", "rep_mlp_1", "rep_mlp_2"):
                assert {r for r, _ in runs[model, probe]} == pooled, (task, model, probe)
        for model in ("gpn_human", "hyenadna", "dnabert2", "dnabert2_random", "sei"):
            for probe in ("rep_cnn_05", "rep_cnn_1", "rep_cnn_2"):  # Fig. 2a CNNs; Sei CNN only
                last = model_settings(config, model).get("n_layers", 0)
                assert runs[model, probe] == {("tokens", last)}
        assert not [p for m, p in runs if m == "sei" and not p.startswith("rep_cnn")]
        nt = {layer for _, layer in runs["nt_2b5_1000g", "nt_rep_cnn"]}
        assert nt == set(range(33))  # the layer sweep
        for probe in ("nt_rep_cnn_05", "nt_rep_cnn_2"):  # the width panel, layer 32 only
            assert runs["nt_2b5_1000g", probe] == {("tokens", 32)}
        for probe in ("rep_mlp_05", "rep_mlp_2"):
            assert {layer for _, layer in runs["nt_2b5_1000g", probe]} == {32}
        assert {layer for _, layer in runs["nt_2b5_1000g", "rep_mlp_1"]} == set(range(33))
        assert {(m, p) for m, p in runs if m == "onehot"} == {
            ("onehot", p) for p in ("ridge", "onehot_cnn", "resnet", "mprann")
        }
        assert {layer for _, layer in runs["nt_2b5_1000g", "ols"]} == set(range(33))


def test_tasks_2_and_6_probe_every_model_with_the_papers_recipes(paper):
    config, jobs = paper
    for task in CHIP + ECLIP:
        runs = _runs(jobs, task)
        assert set(config["tasks"][task]["seeds"]) == set(range(5))
        for model in [*GLMS, "sei", "onehot"]:
            assert ("tokens" in {r for r, _ in runs[model, "chip_cnn"]}), (task, model)
        assert {layer for _, layer in runs["nt_2b5_1000g", "chip_cnn"]} == {10, 32}
        for control in ("onehot", "dinucleotide"):
            assert (control, "rep_mlp_chip") in runs and (control, "logistic") in runs
    # the MLP controls' recipe (NT_MLP.py, onehot_baseline.ipynb)
    mlp = config["probes"]["rep_mlp_chip"]
    assert (mlp["lr"], mlp["batch_size"], mlp["min_lr"]) == (1e-3, 256, 1e-6)
    # chip_cnn as published: the BN + 512-d reduction for NT only
    assert probe_settings(config, "chip_cnn", "nt_2b5_1000g")["paper_compat"] is False
    for model in ("onehot", "gpn_human", "hyenadna", "dnabert2", "sei"):
        assert probe_settings(config, "chip_cnn", model)["paper_compat"] is True


def test_tasks_4_and_5_fractions_and_tests_as_the_paper(paper):
    config, jobs = paper
    models = {"onehot", *GLMS, "sei", "rbp"}
    for task, seeds, fractions in (("splicing", 5, 3), ("insert_seq", 50, 10)):
        assert {j.model for j in jobs if j.task == task} == models
        assert len({j.seed for j in jobs if j.task == task}) == seeds
        assert len({j.train_fraction for j in jobs if j.task == task}) == fractions
        assert config["tasks"][task]["fraction_sampling"] == "shared"
    assert config["tasks"]["splicing"]["fraction_splits"] == ["train", "valid"]
    assert config["tasks"]["insert_seq"]["fraction_splits"] == ["train"]  # valid stays whole
    tests = baselines(config, jobs)
    assert (tests["insert_seq"]["model"], tests["insert_seq"]["alternative"]) == ("rbp", "less")
    assert tests["insert_seq"]["test"] == "mannwhitney"
    assert (tests["splicing"]["model"], tests["splicing"]["alternative"]) == ("onehot", "two-sided")


def test_table1_zero_shot_windows_and_transfer_rows(paper):
    config, jobs = paper
    windows = {
        "nt_2b5_1000g": 5994,
        "nt_2b5_species": 5994,
        "nt_500m_human": 5994,
        "nt_500m_1000g": 5994,
        "gpn_human": 512,
        "hyenadna": 998,
        "dnabert2": 998,
        "sei": 4096,
    }
    cagi5 = config["variants"]["cagi5"]
    assert set(windows) <= set(cagi5["zeroshot"]["models"])
    assert {m: variant_window(config, "cagi5", m) for m in windows} == windows
    assert cagi5["length"] == 230 and cagi5["zeroshot"]["precision"] == "fp32"
    transferred = Counter((t.job.model, t.job.probe) for t in transfer_jobs(config, jobs))
    for row in [("nt_2b5_1000g", "nt_rep_cnn"), ("gpn_human", "rep_cnn_1"), ("sei", "rep_cnn_1"),
                ("onehot", "onehot_cnn"), ("onehot", "resnet"), ("onehot", "mprann")]:
        assert transferred[row] == 2, row  # the HepG2 and the K562 probe
    assert config["models"]["hyenadna"]["prepend_cls"] is True


def test_checkpoints_are_fetched_by_the_workflow(paper):
    config, _ = paper
    for name in ("gpn_human", "sei"):
        source = config["models"][name]["source"]
        assert source["download"] in config["downloads"], name
    for name, model in config["models"].items():
        hub = model.get("source", {}).get("hub")
        if hub:  # every hub model at a commit, not only remote code (docs/models.md)
            assert re.fullmatch("[0-9a-f]{40}", model["source"]["revision"]), name
    assert unpinned_models(config) == []
    assert config["models"]["dnabert2"]["attention"] == "pytorch"  # not its Triton kernel


def test_table1_dnabert2_revision_is_one_key_away(paper):
    """Table 1's zero-shot DNABERT-2 row runs dnabert2 (d064dece); the paper's notebook used
    1d020b80, `dnabert2_zeroshot`: the same model otherwise, swapped in by its key."""
    config, _ = paper
    models = config["models"]
    zeroshot, dnabert2 = models["dnabert2_zeroshot"], models["dnabert2"]
    assert zeroshot["source"]["revision"].startswith("1d020b80")
    assert {k: v for k, v in zeroshot.items() if k not in ("source", "description")} == {
        k: v for k, v in dnabert2.items() if k not in ("source", "description")
    }
    cagi5 = copy.deepcopy(config["variants"]["cagi5"]["zeroshot"])
    cagi5["models"] = ["dnabert2_zeroshot" if m == "dnabert2" else m for m in cagi5["models"]]
    cagi5["windows"]["dnabert2_zeroshot"] = cagi5["windows"].pop("dnabert2")
    swapped = copy.deepcopy(config)
    swapped["variants"]["cagi5"]["zeroshot"] = cagi5
    swapped = validate_config(swapped, REPO / "config" / "schema.yaml")
    assert variant_window(swapped, "cagi5", "dnabert2_zeroshot") == 998


def test_check_prints_the_matrix(capsys):
    from glmeval.cli import main

    assert main(["check", str(REPO / "config" / "config.yaml")]) == 0
    out, err = capsys.readouterr()
    assert "warning" not in err  # every hub model pinned
    assert "probe runs per task: chip_arid3 ... eclip_u2af1 (20 tasks)" in out
    block = next(b for b in out.split("\n\n") if "lentimpra_hepg2, lentimpra_k562" in b)
    rows = {line.split()[0]: line.split()[1:] for line in block.splitlines()[1:]}
    assert rows["probe"][:3] == ["ridge", "ols", "rep_mlp_05"]
    assert rows["nt_2b5_1000g"][:2] == ["65", "65"]  # ridge and OLS: cls and mean at 33 layers
    assert rows["sei"] == ["1", "1", "1"]  # the CNN at three widths
    assert "cagi5 gpn_human 512 auto" in " ".join(out.split())


def test_attribution_is_figure_6(paper):
    config, jobs = paper
    from glmeval.plan import attribution_jobs

    maps = {(j.task, j.model, j.probe): set(j.methods) for j in attribution_jobs(config, jobs)}
    for task in ("lentimpra_k562", "chip_ctcf", "eclip_tia1", "insert_seq"):
        assert {"saliency", "input_x_gradient"} <= next(
            methods for (t, m, _), methods in maps.items() if t == task and m == "onehot"
        )
        for model in ("nt_2b5_1000g", "gpn_human"):
            assert maps[task, model, "lm"] == {"reverse_entropy"}
            assert {"embedding_gradient"} in [
                v for (t, m, p), v in maps.items() if (t, m) == (task, model) and p != "lm"
            ]
    assert config["attribution"]["top_k"] == 500
    nt = next(j for j in attribution_jobs(config, jobs) if j.model == "nt_2b5_1000g" and j.job)
    assert (nt.job.representation, nt.job.layer) == ("tokens", 32)
    gia = config["attribution"]["tasks"]["lentimpra_k562"]["gia"]
    assert gia["n_backgrounds"] == 300 and gia["start"] == 19


def test_every_paper_panel_is_drawn_and_every_language_model_swept(paper):
    from glmeval.figures.plan import figure_plan

    config, jobs = paper
    made, skipped = figure_plan(config, jobs, REPO / config["paper_values"])
    assert not skipped
    names = {f.name for f in made}
    assert {"fig2a_hepg2", "fig2b_k562", "fig3", "fig5", "fig4a_splicing", "fig4b_insert_seq",
            "table1_cagi5", "fig6_lentimpra_k562", "supp_layers_hepg2", "supp_widths_k562",
            "supp_chip_mlp_controls", "supp_subsample_insert_seq", "reproduction"} <= names
    runs = _runs(jobs, "lentimpra_hepg2")
    n_layers = {m: model_settings(config, m)["n_layers"] for m in GLMS}
    for model in GLMS:  # every layer by the pooled probes; the token CNNs at the last only
        assert {layer for _, layer in runs[model, "ridge"]} == set(range(n_layers[model] + 1))
        assert {layer for _, layer in runs[model, "rep_mlp_1"]} == set(range(n_layers[model] + 1))
    for model in GLMS[1:]:
        assert runs[model, "rep_cnn_1"] == {("tokens", n_layers[model])}
    assert len(runs["nt_2b5_1000g", "nt_rep_cnn"]) == 33


def test_the_reproduction_figure_is_planned_and_its_dag_builds(paper, tmp_path):
    """The paper's numbers against ours: a figure on the report's Leaderboard (landing) page,
    drawn from paper_comparison.csv, whose dry run builds the DAG down to the probes."""
    import subprocess
    import sys

    from glmeval.figures.plan import figure_inputs, figure_plan

    config, jobs = paper
    made, _ = figure_plan(config, jobs, REPO / config["paper_values"])
    job = next(f for f in made if f.kind == "reproduction")
    assert job.category == "Leaderboard"
    assert figure_inputs(job, config) == ["results/tables/paper_comparison.csv"]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(REPO / "Snakefile"),
         "-n", "--quiet", "rules", "--configfile", str(REPO / "config" / "config.yaml"),
         "--directory", str(tmp_path), f"results/figures/{job.name}.png"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stats = result.stdout.split("Job stats:")[1]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE))
    assert counts["figure"] == "1" and counts["paper_comparison"] == "1"
    assert int(counts["train_probes"]) > 0


def test_the_reproduction_takes_no_task(paper):
    from glmeval.config import ConfigError

    config = copy.deepcopy(paper[0])
    config["figures"]["reproduction"]["task"] = "lentimpra_hepg2"
    with pytest.raises(ConfigError, match="figures.reproduction.task: not a key of this kind"):
        validate_config(config, REPO / "config" / "schema.yaml")
