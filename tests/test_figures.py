"""Every figure kind from small synthetic results tables (no workflow run), the plan's choices
and skips, and the source data written beside each figure."""

import numpy as np
import pandas as pd
import pytest

from glmeval.figures.draw import draw
from glmeval.figures.plan import figure_inputs, figure_plan
from glmeval.figures.style import Labels
from glmeval.io import write_csv
from glmeval.plan import probe_jobs
from glmeval.tables import CONFIGURATION as CONFIGURATION_KEYS
from glmeval.tables import markdown_table
from glmeval.vocabulary import MEAN_TARGET

CONFIG = {
    "seeds": [0],
    "representations": ["cls", "mean", "tokens"],
    "models": {
        "onehot": {"family": "onehot", "label": "One-hot"},
        "lm": {"family": "masked_lm", "n_layers": 3, "label": "LM", "source": {"builder": "x"}},
        "lm_random": {"family": "random_init", "of": "lm", "seed": 1},
        "sup": {"family": "sei", "label": "Supervised", "source": {"path": "x"}},
    },
    "probes": {
        "ridge": {"type": "ridge", "models": ["lm", "lm_random"]},
        "mlp_05": {"type": "rep_mlp", "width": 0.5, "models": ["lm", "lm_random"]},
        "mlp_1": {"type": "rep_mlp", "width": 1.0, "models": ["lm", "lm_random"]},
        "cnn": {"type": "rep_cnn", "models": ["lm", "lm_random", "sup", "onehot"]},
        "resnet": {"type": "resnet", "models": ["onehot"]},
        "chip_cnn": {"type": "chip_cnn"},
        "splice_cnn": {"type": "splice_cnn"},
    },
    "tasks": {
        "mpra": {
            "kind": "regression",
            "models": ["onehot", "lm", "lm_random", "sup"],
            "probes": ["ridge", "mlp_05", "mlp_1", "cnn", "resnet"],
            "probe_layers": {"lm": "all"},
        },
        **{
            f"tf{i}": {
                "kind": "binary",
                "models": ["onehot", "lm", "sup"],
                "probes": ["chip_cnn"],
                "seeds": [0, 1, 2],
            }
            for i in range(4)
        },
        "splice": {
            "kind": "multitask_regression",
            "models": ["onehot", "lm", "sup"],
            "probes": ["splice_cnn"],
            "seeds": [0, 1, 2, 3],
            "train_fractions": [0.25, 0.5, 1.0],
            "baseline": {"model": "onehot", "probe": "splice_cnn"},
        },
    },
}
METRIC = {"mpra": "pearson", "splice": "spearman"}
SKILL = {"onehot": 0.7, "lm": 0.5, "lm_random": 0.3, "sup": 0.75}


def _tables(tmp_path):
    """metrics, summary and comparisons tables shaped as the workflow writes them."""
    rng = np.random.default_rng(0)
    rows = []
    for job in probe_jobs(CONFIG):
        metric = METRIC.get(job.task, "auroc")
        targets = ["psi_a", "psi_b"] if job.task == "splice" else ["y"]
        width = CONFIG["probes"][job.probe].get("width", 1.0)
        values = []
        for target in targets:
            value = SKILL[job.model] * job.train_fraction**0.2 * (0.6 + 0.1 * job.layer)
            value += 0.03 * width + rng.normal(0, 0.02)
            values.append(value)
            rows.append(
                {**job.__dict__, "target": target, "width": width, "metric": metric, "value": value}
            )
        if len(targets) > 1:
            rows.append(
                {
                    **job.__dict__,
                    "target": MEAN_TARGET,
                    "width": width,
                    "metric": metric,
                    "value": np.mean(values),
                }
            )
    metrics = pd.DataFrame(rows)
    keys = CONFIGURATION_KEYS
    summary = metrics.groupby(keys, as_index=False)["value"].agg(
        n_replicates="size", mean="mean", std="std", median="median"
    )
    summary["std"] = summary["std"].fillna(0.0)
    half = 1.96 * summary["std"] / np.sqrt(summary["n_replicates"]) + 0.01
    summary = summary.assign(
        ci_low=summary["mean"] - half, ci_high=summary["mean"] + half, ci_method="replicates"
    )
    comparisons = summary[summary["model"] != "onehot"][keys + ["mean"]].assign(
        baseline_model="onehot",
        baseline_probe="splice_cnn",
        test="mannwhitney",
        alternative="two-sided",
        p_value=0.004,
    )
    paths = []
    for name, table in (("summary", summary), ("comparisons", comparisons), ("metrics", metrics)):
        write_csv(table, tmp_path / f"probe_{name}.csv")
        paths.append(tmp_path / f"probe_{name}.csv")
    return paths


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    return _tables(tmp_path_factory.mktemp("tables"))


def test_plan_makes_every_kind_its_runs_allow_and_says_why_not():
    made, skipped = figure_plan(CONFIG, probe_jobs(CONFIG))
    names = {f.name for f in made}
    assert {"mpra_probes", "mpra_models", "mpra_layers", "mpra_widths"} <= names
    assert {"splice_replicates", "splice_fractions", "splice_targets", "tf0_replicates"} <= names
    reasons = {s.name: s.reason for s in skipped}
    assert "one seed" in reasons["mpra_replicates"]
    assert "one training-data fraction" in reasons["tf0_fractions"]
    assert "single target" in reasons["tf0_targets"]
    assert "one layer" in reasons["splice_layers"]


def test_explicit_panels_are_named_after_the_paper_and_skipped_with_a_reason():
    config = {
        **CONFIG,
        "figures": {
            "fig3": {
                "kind": "targets",
                "tasks": ["tf0", "tf1", "tf2", "tf3"],
                "x": {"model": "onehot"},
            },
            "fig6": {"kind": "attribution", "task": "mpra"},
            "supp_layers_tf": {"kind": "layers", "task": "tf0"},
        },
    }
    made, skipped = figure_plan(config, probe_jobs(config))
    assert [f.name for f in made] == ["fig3"]
    assert made[0].outputs["pdf"] == "results/figures/fig3.pdf"
    assert "Figs. 3 and 5" in made[0].caption
    assert {s.name: s.reason.split(" (")[0] for s in skipped} == {
        "fig6": "no attribution is configured for task 'mpra'",
        "supp_layers_tf": "every model is probed at one layer",
    }


@pytest.mark.parametrize(
    "name",
    [
        "mpra_probes",
        "mpra_models",
        "mpra_layers",
        "mpra_widths",
        "tf_targets",
        "splice_targets",
        "splice_replicates",
        "splice_fractions",
    ],
)
def test_each_kind_writes_png_pdf_and_its_numbers(tables, tmp_path, name):
    config = {
        **CONFIG,
        "figures": {
            "tf_targets": {
                "kind": "targets",
                "tasks": [f"tf{i}" for i in range(4)],
                "x": {"model": "onehot"},
            }
        },
    }
    made, _ = figure_plan(config, probe_jobs(config))
    made += figure_plan(CONFIG, probe_jobs(CONFIG))[0]
    job = next(f for f in made if f.name == name)
    outputs = {ext: tmp_path / f"{name}.{ext}" for ext in ("png", "pdf", "csv")}
    assert len(figure_inputs(job, config)) == 3
    metric = METRIC.get(job.tasks[0], "auroc")
    draw(job.kind, job.spec, tables, outputs, Labels.from_config(CONFIG), metric)
    assert outputs["png"].read_bytes()[:4] == b"\x89PNG" and outputs["png"].stat().st_size > 5000
    assert outputs["pdf"].read_bytes()[:4] == b"%PDF"
    source = pd.read_csv(outputs["csv"])
    assert len(source) and source.notna().any().all()
    summary = pd.read_csv(tables[0])
    if name == "mpra_models":  # one-hot once per probe; every other model once, its best probe
        assert sorted(source["model"]) == ["lm", "lm_random", "onehot", "onehot", "sup"]
        lm = summary[
            (summary["task"] == "mpra") & (summary["model"] == "lm") & (summary["layer"] == 3)
        ]
        assert source.loc[source["model"] == "lm", "mean"].item() == pytest.approx(lm["mean"].max())
    if name == "mpra_layers":
        assert set(source["model"]) == {"lm"} and source["layer"].nunique() == 4
    if name == "mpra_widths":
        assert set(source["width"]) == {0.5, 1.0}
    if name == "tf_targets":  # four TFs per panel; the reference on x is the one-hot CNN
        assert len(source) == 4 * 2 and set(source["model_x"]) == {"onehot"}
    if name == "splice_targets":  # per tissue, not their mean
        assert set(source["target"]) == {"psi_a", "psi_b"}
    if name == "splice_replicates":  # every replicate run, with the comparison's p-value
        assert (
            len(source) == 3 * 4
            and (source.loc[source["model"] != "onehot", "p_value"] == 0.004).all()
        )
    if name == "splice_fractions":
        assert sorted(source["train_fraction"].unique()) == [0.25, 0.5, 1.0]
        assert (source["sem"] > 0).all()


def _colours_by_model(fig, labels, models):
    """{model: colour} of the lines and markers drawn for each model in `fig`."""
    from matplotlib.colors import to_hex

    found = {}
    for ax in fig.axes:
        for container in ax.containers:  # errorbar lines carry the model's label
            for model in models:
                if container.get_label() == labels.model(model):
                    found.setdefault(model, set()).add(to_hex(container.lines[0].get_color()))
    return found


def test_one_colour_per_model_in_every_figure(tables):
    """One-hot is the same colour in the probes figure, the lollipops and the rest: the
    configuration's model order fixes each model's colour, whichever models a figure shows."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from glmeval.figures import panels

    results = panels.Results.read(*tables)
    labels = Labels.from_config(CONFIG)
    models = list(CONFIG["models"])
    expected = {m: to_hex(labels.color(m)) for m in models}
    assert len(set(expected.values())) == len(models)
    fig, _ = panels.probes(results, {"task": "mpra"}, labels, "pearson")
    assert _colours_by_model(fig, labels, models) == {m: {c} for m, c in expected.items()}
    fig, entries = panels.models(results, {"task": "mpra"}, labels, "pearson")
    stems = fig.axes[0].collections[0]  # the lollipops' stems, one per entry
    drawn = [to_hex(c) for c in stems.get_colors()]
    assert drawn == [expected[m] for m in entries["model"]]
    assert "onehot" in set(entries["model"])
    fig, _ = panels.fractions(results, {"task": "splice"}, labels, "spearman")
    subset = _colours_by_model(fig, labels, ["onehot", "lm", "sup"])
    assert subset == {m: {expected[m]} for m in ("onehot", "lm", "sup")}
    # a figure of some models only keeps their colours
    fig, _ = panels.probes(results, {"task": "mpra", "models": ["sup", "lm"]}, labels, "pearson")
    assert _colours_by_model(fig, labels, models) == {m: {expected[m]} for m in ("sup", "lm")}
    plt.close("all")


def test_table1_and_attribution_figures(tmp_path):
    table = pd.DataFrame(
        {
            "training": ["zero-shot", "zero-shot", "transfer"],
            "dataset": "cagi5",
            "model": ["lm", "sup", "onehot/cnn"],
            "window": ["230", "4096", "230"],
            "score": ["llr", "cosine", "tokens L0"],
            "HepG2": [0.1, 0.3, 0.5],
            "F9": [0.2, np.nan, 0.6],
        }
    )
    write_csv(table, tmp_path / "t1.csv")
    outputs = {ext: tmp_path / f"table1.{ext}" for ext in ("png", "pdf", "csv")}
    draw(
        "table1",
        {"variants": "cagi5"},
        [tmp_path / "t1.csv"],
        outputs,
        Labels.from_config(CONFIG),
        "pearson",
    )
    assert outputs["png"].stat().st_size > 5000
    text = markdown_table(table)
    assert "| zero-shot | cagi5 | sup | 4096 | cosine | 0.300 | – |" in text

    pd.DataFrame(
        {"map_a": ["a"], "map_b": ["b"], "pearson": [0.4], "spearman": [0.3], "n_sequences": [5]}
    ).to_csv(tmp_path / "agreement.csv", index=False)
    pd.DataFrame(
        {
            "map": ["a", "b"],
            "motif": ["ETS", "AP1"],
            "n_seqlets": [3, 2],
            "n_sequences": [3, 2],
            "fraction": [0.6, 0.4],
        }
    ).to_csv(tmp_path / "recovery.csv", index=False)
    pd.DataFrame(
        {
            "motif_a": "ETS",
            "motif_b": "AP1",
            "spacing": [4, 8],
            "interaction": [0.5, 0.1],
            "interaction_sd": [0.1, 0.1],
            "n_backgrounds": 10,
        }
    ).to_csv(tmp_path / "gia.csv", index=False)
    outputs = {ext: tmp_path / f"fig6.{ext}" for ext in ("png", "pdf", "csv")}
    inputs = [tmp_path / f"{n}.csv" for n in ("agreement", "recovery", "gia")]
    draw("attribution", {"task": "mpra"}, inputs, outputs, Labels(), "pearson")
    assert set(pd.read_csv(outputs["csv"])["panel"]) == {"agreement", "recovery", "gia"}


def test_every_paper_panel_draws_from_tables_shaped_like_the_paper_s(tmp_path):
    """Each task panel of config/config.yaml, from synthetic tables with the paper's runs."""
    from conftest import REPO

    from glmeval.config import load_config
    from glmeval.figures.plan import headline_metric

    config = load_config(REPO / "config" / "config.yaml", REPO / "config" / "schema.yaml")
    jobs = probe_jobs(config)
    rng = np.random.default_rng(1)
    rows = []
    for job in jobs:
        metric = headline_metric(config, job.task)
        width = float(config["probes"][job.probe].get("width", 1.0))
        targets = ["t0", "t1", MEAN_TARGET] if job.task == "splicing" else ["y"]
        for target in targets:
            rows.append(
                {
                    **job.__dict__,
                    "target": target,
                    "width": width,
                    "metric": metric,
                    "value": rng.uniform(0.5, 0.9),
                }
            )
    metrics = pd.DataFrame(rows)
    keys = CONFIGURATION_KEYS
    summary = metrics.groupby(keys, as_index=False)["value"].agg(
        n_replicates="size", mean="mean", std="std"
    )
    summary = summary.fillna({"std": 0.0}).assign(
        ci_low=lambda t: t["mean"] - 0.02, ci_high=lambda t: t["mean"] + 0.02
    )
    comparisons = summary[keys].assign(
        baseline_model="onehot", p_value=0.01, test="mannwhitney", alternative="two-sided"
    )
    tables = []
    for name, table in (("summary", summary), ("comparisons", comparisons), ("metrics", metrics)):
        write_csv(table, tmp_path / f"{name}.csv")
        tables.append(tmp_path / f"{name}.csv")
    made, _ = figure_plan(config, jobs)
    labels = Labels.from_config(config)
    drawn = []
    for job in made:
        if job.kind in ("table1", "attribution", "reproduction"):
            continue
        outputs = {ext: tmp_path / f"{job.name}.{ext}" for ext in ("png", "pdf", "csv")}
        draw(job.kind, job.spec, tables, outputs, labels, headline_metric(config, job.tasks[0]))
        assert outputs["png"].stat().st_size > 10_000
        drawn.append(job.name)
    assert len(drawn) == 18
    fig3 = pd.read_csv(tmp_path / "fig3.csv")  # 10 TFs × 5 models against the one-hot CNN
    assert (
        len(fig3) == 50
        and set(fig3["model_x"]) == {"onehot"}
        and set(fig3["probe_x"]) == {"chip_cnn"}
    )
    controls = pd.read_csv(tmp_path / "supp_chip_mlp_controls.csv")
    assert set(controls["model_y"]) == {"dinucleotide", "onehot"} and set(
        controls["representation_x"]
    ) == {"cls"}
    layers = pd.read_csv(tmp_path / "supp_layers_hepg2.csv")
    assert set(layers["model"]) == {
        "nt_2b5_1000g",
        "gpn_human",
        "hyenadna",
        "dnabert2",
        "dnabert2_random",
    }
    lollipop = pd.read_csv(tmp_path / "fig2b_hepg2.csv")  # one-hot as CNN, ResidualBind, MPRAnn
    assert sorted(lollipop.loc[lollipop["model"] == "onehot", "probe"]) == [
        "mprann",
        "onehot_cnn",
        "resnet",
    ]


REPORTED_HEADER = (
    "panel,task,model,probe,representation,layer,width,target,train_fraction,metric,value,source\n"
)


def _reported(tmp_path, *rows: str):
    path = tmp_path / "reported.csv"
    path.write_text(REPORTED_HEADER + "".join(f"{row}\n" for row in rows))
    return path


def test_reproduction_is_planned_where_the_paper_reported_a_run(tmp_path):
    reported = _reported(tmp_path, "fig2a,mpra,lm,ridge,cls,,,,,pearson,0.5,Fig. 2a")
    config = {**CONFIG, "paper_values": str(reported)}
    made, skipped = figure_plan(config, probe_jobs(config))  # no figures: section
    job = next(f for f in made if f.kind == "reproduction")
    assert job.name == "reproduction" and not [s for s in skipped if s.kind == "reproduction"]
    assert figure_inputs(job, config) == ["results/tables/paper_comparison.csv"]
    assert (job.category, job.subcategory) == ("Leaderboard", "the paper's numbers")
    assert "within" in job.caption and "outside our CI are named" in job.caption
    asked = {**config, "figures": {"at_a_glance": {"kind": "reproduction", "category": "Mine"}}}
    made, _ = figure_plan(asked, probe_jobs(asked), paper_values=reported)
    assert [(f.name, f.category) for f in made] == [("at_a_glance", "Mine")]


def test_reproduction_is_skipped_without_a_paper_task(tmp_path):
    """The paper reported none of the configuration's tasks (or nothing is configured): the
    figure asked for is skipped with its reason, and never planned unasked."""
    reported = _reported(
        tmp_path,
        "fig2a,lentimpra_hepg2,lm,ridge,cls,,,,,pearson,0.5,Fig. 2a",
        "fig3,tf*,onehot_other,chip_cnn,,,,,,auroc,0.8,Fig. 3",
    )
    asked = {"repro": {"kind": "reproduction"}}
    for config, why in (
        (
            {**CONFIG, "paper_values": str(reported)},
            "none of its tasks and models is one the paper",
        ),
        (CONFIG, "no paper_values are configured"),
        ({**CONFIG, "paper_values": str(tmp_path / "absent.csv")}, "is not there"),
    ):
        made, skipped = figure_plan(config, probe_jobs(config))
        assert "reproduction" not in {f.kind for f in made} | {s.kind for s in skipped}
        made, skipped = figure_plan({**config, "figures": asked}, probe_jobs(config))
        assert made == [] and [s.name for s in skipped] == ["repro"]
        assert why in skipped[0].reason and "\n" not in skipped[0].reason
    assert (
        "lentimpra_hepg2"
        in figure_plan(
            {**CONFIG, "paper_values": str(reported), "figures": asked}, probe_jobs(CONFIG)
        )[1][0].reason
    )
    # a cross-task average of the paper's (task a glob) matches the configuration's tasks
    glob = _reported(tmp_path, "fig3,tf*,onehot,chip_cnn,,,,,,auroc,0.8,Fig. 3")
    made, _ = figure_plan({**CONFIG, "paper_values": str(glob)}, probe_jobs(CONFIG))
    assert "reproduction" in {f.name for f in made}


def _comparison(tmp_path, rows):
    from glmeval.paper_values import paper_comparison, read_reported

    summary = pd.DataFrame(
        [
            {
                "task": task,
                "target": "y",
                "model": model,
                "layer": 3,
                "representation": "cls",
                "probe": "ridge",
                "width": 1.0,
                "train_fraction": 1.0,
                "metric": "pearson",
                "n_replicates": 3,
                "mean": mean,
                "std": 0.01,
                "median": mean,
                "ci_low": mean - 0.02,
                "ci_high": mean + 0.02,
                "ci_method": "replicates",
            }
            for task, model, mean in rows
        ]
    )
    reported = _reported(
        tmp_path,
        "fig2a,mpra,lm,ridge,cls,,,,,pearson,0.51,Fig. 2a",  # within our CI
        "fig2a,mpra,lm_random,ridge,cls,,,,,pearson,0.45,Fig. 2a",  # outside: ours 0.30
        "fig3,tf*,lm,ridge,cls,,,,,pearson,0.70,Fig. 3",  # a cross-task mean: no CI
        "fig2b,mpra,sup,ridge,cls,,,,,pearson,0.75,Fig. 2b",  # never run
    )
    comparison = paper_comparison(summary, read_reported(reported))
    write_csv(comparison, tmp_path / "paper_comparison.csv")
    return tmp_path / "paper_comparison.csv"


def test_reproduction_draws_ours_against_the_paper_s_and_names_the_misses(tmp_path):
    table = _comparison(
        tmp_path,
        [("mpra", "lm", 0.5), ("mpra", "lm_random", 0.3), ("tf0", "lm", 0.6), ("tf1", "lm", 0.8)],
    )
    outputs = {ext: tmp_path / f"reproduction.{ext}" for ext in ("png", "pdf", "csv")}
    draw("reproduction", {}, [table], outputs, Labels.from_config(CONFIG), "pearson")
    assert outputs["png"].read_bytes()[:4] == b"\x89PNG" and outputs["png"].stat().st_size > 5000
    assert outputs["pdf"].read_bytes()[:4] == b"%PDF"
    source = pd.read_csv(outputs["csv"]).set_index("model")
    assert list(source.index) == ["lm", "lm_random", "lm"] and len(source) == 3  # not "sup"
    miss = source.loc["lm_random"]
    assert bool(miss["outside_ci"]) and bool(miss["named"]) and miss["key"] == 1
    assert miss["name"] == "fig2a · mpra · lm_random · CLS-Ridge"
    assert miss["paper"] == 0.45 and miss["ours"] == pytest.approx(0.3)
    hit, average = source.loc["lm"].iloc[0], source.loc["lm"].iloc[1]
    assert (
        not hit["outside_ci"]
        and not hit["named"]
        and hit["name"] == "fig2a · mpra · LM · CLS-Ridge"
    )
    assert average["match"] == "mean of 2 tasks" and pd.isna(average["within_ci"])
    assert not average["outside_ci"] and average["ours"] == pytest.approx(0.7)
    # every number within our CI: none is named
    table = _comparison(tmp_path, [("mpra", "lm", 0.5)])
    draw("reproduction", {}, [table], outputs, Labels.from_config(CONFIG), "pearson")
    source = pd.read_csv(outputs["csv"])
    assert len(source) == 1 and bool(source["within_ci"].item())
    assert not source["named"].item() and pd.isna(source["key"].item())


def test_reproduction_without_a_matched_number_says_so(tmp_path, capsys):
    """A run too small for the paper's numbers (none matched): the figure says so plainly and
    the reason is logged (the figure job's log is its stderr)."""
    table = _comparison(tmp_path, [("other", "lm", 0.5)])
    outputs = {ext: tmp_path / f"reproduction.{ext}" for ext in ("png", "pdf", "csv")}
    draw("reproduction", {}, [table], outputs, Labels(), "pearson")
    assert outputs["png"].stat().st_size > 5000 and outputs["pdf"].read_bytes()[:4] == b"%PDF"
    source = pd.read_csv(outputs["csv"])
    assert source.empty and {"paper", "ours", "outside_ci", "name"} <= set(source.columns)
    err = capsys.readouterr().err
    assert "reproduction: nothing to plot" in err and "4 reported: 4 missing" in err
