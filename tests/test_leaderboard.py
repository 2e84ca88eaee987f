import numpy as np
import pandas as pd
import pytest

from glmeval.io import write_csv, write_parquet
from glmeval.leaderboard import (
    COLUMNS,
    cross_task,
    leaderboard,
    stability,
    to_markdown,
    write_leaderboard,
)
from glmeval.metrics import metric_value
from glmeval.plan import ProbeJob
from glmeval.stats import resampled_scores, write_probe_stats
from glmeval.tables import CONFIGURATION as CONFIG
from glmeval.tables import RUN_COLUMNS as METRIC_COLUMNS
from glmeval.vocabulary import MEAN_TARGET

N_TEST = 150
N_BOOT = 200
TASKS = {  # task: (targets, metrics)
    "mpra": (["activity"], ["pearson", "spearman"]),
    "tie": (["activity"], ["pearson"]),
    "spl": (["t1", "t2"], ["spearman"]),
}
# task, model, probe, layer, train_fraction, noise scale, seeds
RUNS = [
    ("mpra", "onehot", "cnn", 0, 1.0, 1.0, [0, 1, 2]),
    ("mpra", "onehot", "cnn", 0, 0.5, 1.2, [0, 1, 2]),
    ("mpra", "good", "cnn", 3, 1.0, 0.2, [0, 1, 2]),
    ("mpra", "good", "ridge", 1, 1.0, 0.6, [0, 1, 2]),
    ("mpra", "weak", "cnn", 2, 1.0, 3.0, [0, 1, 2]),
    ("mpra", "weak", "cnn", 2, 0.5, 0.05, [0, 1, 2]),  # best of all, but not at full data
    ("tie", "a", "cnn", 0, 1.0, 1.0, [0]),
    ("tie", "b", "cnn", 1, 1.0, 1.0, [0]),
    ("spl", "onehot", "cnn", 0, 1.0, 1.5, [0, 1, 2]),
    ("spl", "gpn", "cnn", 3, 1.0, 0.3, [0, 1, 2]),
]
BASELINES = {
    task: {"model": model, "probe": "cnn", "representation": "emb", "layer": 0, "width": 1.0}
    for task, model in (("mpra", "onehot"), ("tie", "a"), ("spl", "onehot"))
}


def _write_runs(root):
    """Prediction parquets in the workflow's layout (rows shuffled per run) and tidy metric rows."""
    rng = np.random.default_rng(0)
    truth = {}
    for task, (targets, _) in TASKS.items():
        y = rng.normal(size=(N_TEST, len(targets)))
        if len(targets) > 1:
            y[rng.random(y.shape) < 0.1] = np.nan  # unobserved tissues
        truth[task] = y
    rows = []
    for task, model, probe, layer, fraction, noise, seeds in RUNS:
        targets, metrics = TASKS[task]
        y = truth[task]
        for seed in seeds:
            pred = np.nan_to_num(y) + rng.normal(scale=noise, size=y.shape)
            frame = pd.DataFrame({"id": [f"{task}{i}" for i in range(N_TEST)]})
            for j, t in enumerate(targets):
                frame[t], frame[f"{t}_pred"] = y[:, j], pred[:, j]
            frame = frame.iloc[rng.permutation(N_TEST)]
            job = ProbeJob(task, model, "emb", layer, probe, fraction, seed)
            write_parquet(frame, root / job.predictions_path)
            for metric in metrics:
                values = {
                    t: metric_value(metric, y[:, j], pred[:, j]) for j, t in enumerate(targets)
                }
                if len(targets) > 1:
                    values[MEAN_TARGET] = float(np.mean(list(values.values())))
                for target, value in values.items():
                    rows.append(
                        {
                            "task": task,
                            "target": target,
                            "model": model,
                            "layer": layer,
                            "representation": "emb",
                            "probe": probe,
                            "width": 1.0,
                            "seed": seed,
                            "train_fraction": fraction,
                            "metric": metric,
                            "value": value,
                            "n_train": 500,
                            "n_test": N_TEST,
                        }
                    )
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("workflow")
    paths = {
        name: root / "results" / "tables" / f"probe_{name}.csv"
        for name in ("metrics", "summary", "comparisons", "leaderboard")
    }
    write_csv(_write_runs(root), paths["metrics"])
    write_probe_stats(
        paths["metrics"], BASELINES, paths["summary"], paths["comparisons"], N_BOOT, root
    )
    md_path = root / "results" / "tables" / "leaderboard.md"
    write_leaderboard(
        paths["summary"],
        paths["comparisons"],
        paths["metrics"],
        paths["leaderboard"],
        md_path,
        N_BOOT,
        root,
    )
    tables = {name: pd.read_csv(path) for name, path in paths.items()}
    return {"root": root, "markdown": md_path.read_text(), **tables}


def _row(board, task, metric, model):
    rows = board[(board.task == task) & (board.metric == metric) & (board.model == model)]
    assert len(rows) == 1
    return rows.iloc[0]


def _loader(root):
    def load(key):
        job = ProbeJob(
            key["task"],
            key["model"],
            key["representation"],
            int(key["layer"]),
            key["probe"],
            float(key["train_fraction"]),
            int(key["seed"]),
        )
        return pd.read_parquet(root / job.predictions_path)

    return load


def test_board_rows_are_each_models_best_configuration_from_the_summary(run):
    board, summary = run["leaderboard"], run["summary"]
    assert list(board.columns) == COLUMNS
    assert len(board) == 3 + 3 + 2 + 2  # mpra x 2 metrics, tie, spl
    assert (board.train_fraction == 1.0).all()  # weak's better 0.5 run is not full data
    assert set(board[board.task == "spl"].target) == {MEAN_TARGET}
    assert set(board[board.task != "spl"].target) == {"activity"}
    keys = board[["task", "metric", "rank"]].to_records(index=False).tolist()
    assert keys == sorted(keys)
    merged = board.merge(summary, on=CONFIG, suffixes=("", "_summary"), validate="one_to_one")
    assert len(merged) == len(board)
    for column in ("n_replicates", "mean", "ci_low", "ci_high", "ci_method"):
        pd.testing.assert_series_equal(
            merged[column], merged[f"{column}_summary"], check_names=False
        )
    candidates = summary[(summary.train_fraction == 1.0)]
    for row in board.itertuples():
        own = candidates[
            (candidates.task == row.task)
            & (candidates.metric == row.metric)
            & (candidates.target == row.target)
            & (candidates.model == row.model)
        ]
        assert row.mean == own["mean"].max()
    assert _row(board, "mpra", "pearson", "good")[["probe", "layer"]].tolist() == ["cnn", 3]


def test_clearly_better_model_ranks_first_and_is_stable(run):
    board = run["leaderboard"]
    for task, metric, model in [("mpra", "pearson", "good"), ("spl", "spearman", "gpn")]:
        row = _row(board, task, metric, model)
        assert (row["rank"], row.rank_low, row.rank_high) == (1, 1, 1)
        assert row.p_best == pytest.approx(1.0, abs=0.01)
    weak = _row(board, "mpra", "pearson", "weak")
    assert (weak["rank"], weak.rank_low, weak.rank_high, weak.p_best) == (3, 3, 3, 0)
    table = stability(board).set_index(["task", "metric"])
    assert table.loc[("mpra", "pearson"), "winner"] == "good"
    assert table.loc[("mpra", "pearson"), "stable"]
    assert "mpra (pearson): good ranks first in 100% of resamples — stable." in run["markdown"]


def test_models_of_equal_quality_overlap_and_are_not_stable(run):
    tie = run["leaderboard"].query("task == 'tie'")
    assert (tie.rank_low == 1).all() and (tie.rank_high == 2).all()
    assert tie.p_best.sum() == pytest.approx(1.0) and (tie.p_best.between(0.05, 0.95)).all()
    winner = tie.iloc[0]
    assert not stability(tie).stable.iloc[0]
    loser = tie.iloc[1]
    assert (
        f"tie (pearson): {winner.model} ranks first in {100 * winner.p_best:.0f}% of resamples "
        f"— not stable (also first: {loser.model} {100 * loser.p_best:.0f}%)."
    ) in run["markdown"]


def test_difference_from_baseline_is_the_comparisons_row(run):
    board, comparisons = run["leaderboard"], run["comparisons"]
    base = _row(board, "mpra", "pearson", "onehot")
    assert base[["diff", "diff_ci_low", "diff_ci_high", "p_value"]].isna().all()
    assert (board.loc[board.task == "mpra", "baseline_model"] == "onehot").all()
    good = _row(board, "mpra", "pearson", "good")
    expected = comparisons.set_index(CONFIG).loc[tuple(good[CONFIG])]
    assert good[["diff", "diff_ci_low", "diff_ci_high", "p_value"]].tolist() == pytest.approx(
        expected[["paired_diff", "paired_ci_low", "paired_ci_high", "p_value"]].tolist()
    )
    assert (good.baseline_probe, good.test, good.alternative) == (
        expected.baseline_probe,
        expected.test,
        expected.alternative,
    )
    assert good["diff"] > 0


def test_a_missing_test_p_says_why(run):
    text = run["markdown"]
    tie = text.split("## tie — pearson")[1].split("## ")[0]  # one seed each: no Mann-Whitney
    assert "| b | cnn (emb, L1) |" in tie
    assert tie.count("| — (one seed: no test) |") == 1 and tie.count("| — (baseline) |") == 1
    mpra = text.split("## mpra — pearson")[1].split("## ")[0]
    assert mpra.count("| — (baseline) |") == 1 and "one seed" not in mpra


def test_mismatched_test_ids_raise(run):
    load = _loader(run["root"])

    def broken(key):
        frame = load(key)
        if key["model"] == "good":
            frame = frame.assign(id=frame["id"].str.replace("mpra1", "x1"))
        return frame

    with pytest.raises(ValueError, match=r"task mpra: test ids differ between models .*good"):
        leaderboard(run["summary"], run["comparisons"], run["metrics"], broken, n_boot=20)


def test_joint_resamples_score_models_separately():
    rng = np.random.default_rng(1)
    y = rng.normal(size=80)
    a, b = y + rng.normal(size=80), y + rng.normal(size=80)
    together = resampled_scores("spearman", y, [a, b], n_boot=50, seed=3)
    apart = [resampled_scores("spearman", y, [p], n_boot=50, seed=3)[0] for p in (a, b)]
    np.testing.assert_array_equal(together, np.stack(apart))


def test_markdown_names_every_task_and_model_and_cross_task_verdict(run):
    board, text = run["leaderboard"], run["markdown"]
    for (task, metric), group in board.groupby(["task", "metric"]):
        assert f"## {task} — {metric}" in text
        assert all(f"| {model} |" in text for model in group.model)
    assert "| 1 [1–1] | good | cnn (emb, L3) |" in text
    assert (
        "spearman across 2 tasks: the winner differs across tasks: good wins mpra; gpn wins spl."
        in text
    )
    merged = board.replace({"model": {"gpn": "good"}})
    across = cross_task(merged).set_index(["metric", "model"])
    assert across.loc[("spearman", "good"), "wins_every_task"]
    assert across.loc[("spearman", "good"), "mean_rank"] == 1.0
    assert "spearman across 2 tasks: good wins every task." in to_markdown(merged)


def test_a_task_whose_splits_share_copies_is_marked(run, tmp_path):
    """The leakage table's pairs (after any resplit) mark the task on the leaderboard (column
    and ‡ in the Markdown) and on the report's landing page; a clean task is unmarked."""
    from glmeval.data.leakage import leakage_table
    from glmeval.report import leakage_landing

    def audit(near: int) -> dict:
        pairs = {
            kind: {"train-valid": 0, "train-test": 0, "valid-test": 0}
            for kind in ("exact", "reverse_complement", "near")
        }
        pairs["near"]["train-valid"] = near
        return {"pairs": pairs}

    leakage_path = tmp_path / "leakage.csv"
    write_csv(leakage_table({"mpra": audit(732), "tie": audit(0), "spl": audit(0)}), leakage_path)
    paths = {
        n: run["root"] / "results" / "tables" / f"probe_{n}.csv"
        for n in ("summary", "comparisons", "metrics")
    }
    write_leaderboard(
        paths["summary"],
        paths["comparisons"],
        paths["metrics"],
        tmp_path / "board.csv",
        tmp_path / "board.md",
        N_BOOT,
        run["root"],
        leakage_path=leakage_path,
    )
    board = pd.read_csv(tmp_path / "board.csv", keep_default_na=False)
    assert list(board.columns) == COLUMNS
    assert set(board.loc[board.task == "mpra", "leakage"]) == {"train-valid: 732 near"}
    assert set(board.loc[board.task != "mpra", "leakage"]) == {""}
    text = (tmp_path / "board.md").read_text()
    assert "## mpra ‡ — pearson" in text and "## tie — pearson" in text
    assert (
        "‡ The splits of these tasks share copies" in text
        and "mpra (train-valid: 732 near)" in text
    )
    assert leakage_landing(leakage_path) == [{"task": "mpra", "shared": "train-valid: 732 near"}]
    assert leakage_landing(tmp_path / "absent.csv") == []


def test_each_row_says_its_kind_of_representation(run, tmp_path):
    """The configured models' kinds (glmeval.cards.representation_kind) reach the CSV's `kind`
    column and the Markdown's, so a k-mer spectrum is told apart from one-hot and a gLM."""
    from glmeval.cards import representation_kind

    models = {
        "onehot": {"family": "onehot"},
        "good": {"family": "kmer", "k": [4, 5, 6]},
        "gpn": {"family": "masked_lm"},
    }
    kinds = {name: representation_kind(model) for name, model in models.items()}
    assert kinds == {"onehot": "one-hot", "good": "k-mer", "gpn": "language model"}
    paths = {
        n: run["root"] / "results" / "tables" / f"probe_{n}.csv"
        for n in ("summary", "comparisons", "metrics")
    }
    args = (paths["summary"], paths["comparisons"], paths["metrics"])
    write_leaderboard(
        *args, tmp_path / "b.csv", tmp_path / "b.md", N_BOOT, run["root"], kinds=kinds
    )
    board = pd.read_csv(tmp_path / "b.csv", keep_default_na=False)
    assert set(board.loc[board.model == "good", "kind"]) == {"k-mer"}
    assert set(board.loc[~board.model.isin(models), "kind"]) == {""}  # not configured: blank
    table = (tmp_path / "b.md").read_text()
    assert "| model | kind | best probe" in table and "| good | k-mer |" in table
