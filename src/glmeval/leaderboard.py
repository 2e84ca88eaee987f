"""Per-task leaderboards of models with bootstrap rank intervals, and whether the winner is stable.

For every task × metric, at the task's full data (its largest train_fraction) and headline target
("_mean" where the task has several targets, else its single target), each model enters with its
best configuration: the highest summary mean over probe × representation × layer × width. The
configuration is chosen once, on the observed test data, and is not re-selected per resample,
so the rank interval is that of the chosen configurations (the selection itself is not
bootstrapped, which makes the leader look somewhat steadier than it is).

Ranks resample the task's test rows jointly: one set of `n_boot` resamples (seeded as every
bootstrap in `glmeval.stats`) scores every model's chosen configuration, each averaged over its
seeds as the summary averages them. Rank 1 is the best (every metric here is higher-is-better),
ties share the average rank and a model without a score in a resample ranks last there.
`rank` is the observed rank of the summary means, `rank_low`/`rank_high` the percentile interval
of the resampled ranks at `level` (attained ranks, no interpolation) and `p_best` the share of
resamples in which the model is first outright. A winner is stable when it is first in at least
`level` of the resamples; `rank_high == 1` implies this (it needs (1 + level) / 2).

A task whose splits share copies (exact, reverse-complement or near; `results/tables/leakage.csv`,
docs/semantics.md, Leakage) is marked: its rows' `leakage` column says what the splits share,
and the Markdown marks the task with ‡ — its scores may be optimistic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from glmeval.cards import MARK, NOT_FROZEN
from glmeval.io import atomic_path, write_csv
from glmeval.stats import (
    LoadPredictions,
    PredictionCache,
    nanmean0,
    resampled_scores,
    run_key,
    truth_pred,
)
from glmeval.tables import (
    CONFIGURATION,
    TIE_BREAK,
    best_rows,
    full_data,
    headline_target,
    pipe_table,
    predictions_loader,
)

COLUMNS = [
    "task",
    "metric",
    "target",
    "train_fraction",
    "model",
    "kind",
    "probe",
    "representation",
    "layer",
    "width",
    "n_replicates",
    "mean",
    "ci_low",
    "ci_high",
    "ci_method",
    "baseline_model",
    "baseline_probe",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "test",
    "alternative",
    "p_value",
    "rank",
    "rank_low",
    "rank_high",
    "p_best",
    "training_overlap",
    "leakage",
]
LEAKAGE_MARK = "‡"
_PAIRED = {"paired_diff": "diff", "paired_ci_low": "diff_ci_low", "paired_ci_high": "diff_ci_high"}
_TASK_BASELINE = ["baseline_model", "baseline_probe", "test", "alternative"]


def _finite_seeds(metrics: pd.DataFrame) -> dict[tuple, list]:
    """Per configuration, the seeds with a finite value (the replicates the summary averages)."""
    per_seed = metrics.groupby(CONFIGURATION + ["seed"], sort=True, dropna=False)["value"].mean()
    seeds: dict[tuple, list] = {}
    for *config, seed in per_seed[np.isfinite(per_seed)].index:
        seeds.setdefault(tuple(config), []).append(seed)
    return seeds


def _aligned(task: str, target: str, frames: dict[tuple[str, int], pd.DataFrame]):
    """Truth and per-model prediction arrays on one canonical row order (sorted test ids)."""
    (ref_model, ref_seed), ref = next(iter(frames.items()))
    ids = pd.Index(ref["id"]).sort_values()
    if not ids.is_unique:
        raise ValueError(f"task {task}: duplicate test ids in {ref_model} (seed {ref_seed})")
    y, preds = None, {}
    for (model, seed), frame in frames.items():
        fid = pd.Index(frame["id"])
        between = f"{ref_model} (seed {ref_seed}) and {model} (seed {seed})"
        if not fid.is_unique or len(fid) != len(ids) or not fid.isin(ids).all():
            raise ValueError(f"task {task}: test ids differ between models {between}")
        truth, pred = truth_pred(frame.set_index("id").loc[ids].reset_index(), target)
        if y is None:
            y = truth
        elif truth.shape != y.shape or not np.allclose(
            truth, y, rtol=1e-5, atol=1e-6, equal_nan=True
        ):
            raise ValueError(f"task {task}: test truth ({target}) differs between models {between}")
        preds.setdefault(model, []).append(pred)
    return y, preds


def _entry(model: str, tuned_kind: str | None) -> str:
    """A leaderboard entry: a model's frozen probes, or the model fine-tuned one way."""
    return model if tuned_kind is None else f"{model} ({tuned_kind})"


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Ranks along axis 0: 1 for the highest score, ties averaged, NaN last."""
    return sps.rankdata(-np.where(np.isnan(scores), -np.inf, scores), axis=0, method="average")


def _rank_columns(
    best: pd.DataFrame,
    seeds: dict[tuple, list],
    load: PredictionCache,
    n_boot: int,
    seed: int,
    level: float,
) -> dict[str, np.ndarray]:
    task, target, metric = best["task"].iloc[0], best["target"].iloc[0], best["metric"].iloc[0]
    frames = {}
    for entry, config in zip(best["entry"], best[CONFIGURATION].to_dict("records")):
        run_seeds = seeds.get(tuple(config[k] for k in CONFIGURATION))
        if not run_seeds:
            raise ValueError(f"task {task}: no finite metric rows for {config}")
        for s in run_seeds:
            frames[(entry, s)] = load(run_key(config, s))
    y, preds = _aligned(task, target, frames)
    # one model at a time (bounded memory): equal seeds and test sizes resample the same rows
    scores = np.stack(
        [nanmean0(resampled_scores(metric, y, preds[e], n_boot, seed)) for e in best["entry"]]
    )
    ranks = _ranks(scores)
    alpha = (1 - level) / 2
    low, high = np.quantile(ranks, [alpha, 1 - alpha], axis=1, method="inverted_cdf")
    return {
        "rank": _ranks(best["mean"].to_numpy(np.float64)),
        "rank_low": low,
        "rank_high": high,
        "p_best": (ranks == 1).mean(axis=1),
    }


def leaderboard(
    summary: pd.DataFrame,
    comparisons: pd.DataFrame,
    metrics: pd.DataFrame,
    load_predictions: LoadPredictions,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    leakage: dict[str, str] | None = None,
    kinds: dict[str, str] | None = None,
    tuned: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Per task × metric, each model's best configuration at full data and headline target
    (chosen on the observed test data, not per resample) with its summary mean and CI, its
    comparisons row against the task's baseline (`diff*` and `p_value` NaN for the baseline
    configuration itself, which has none) and its rank with a joint test-row bootstrap interval
    and `p_best` (see the module docstring). A model whose summary rows carry a
    `training_overlap` (trained on the task's assays: not zero-shot / frozen-only) is listed
    after the ranked models, without a rank. `load_predictions(run key + seed)` gives a run's
    predictions (`id`, targets, `<target>_pred`); every model's test ids must agree.
    `leakage`: {task: what its splits share} (glmeval.data.leakage.leakage_marks), each row's
    `leakage` (empty for a task without copies across its splits). `kinds`: {model: its kind
    of representation} (glmeval.cards.representation_kind), each row's `kind`. `tuned`: {probe:
    its kind} of the fine-tuning probes (glmeval.cards.finetune_kind): a model fine-tuned by one
    enters apart from its frozen probes, once per kind, with that kind."""
    tuned = tuned or {}
    comparison_rows = {
        tuple(row[k] for k in CONFIGURATION): row for row in comparisons.to_dict("records")
    }
    task_baseline = {
        (row["task"], row["target"], row["train_fraction"], row["metric"]): row
        for row in comparisons.to_dict("records")
    }
    seeds = _finite_seeds(metrics)
    parts = []
    for task, table in summary.groupby("task", sort=True):
        full = full_data(table)
        target = headline_target(task, full["target"])
        load = PredictionCache(load_predictions)  # a task's runs serve all its metrics
        full = full.assign(entry=[_entry(m, tuned.get(p)) for m, p in zip(full.model, full.probe)])
        for metric, rows in full[full["target"] == target].groupby("metric", sort=True):
            best = best_rows(rows, "entry", tie_break=TIE_BREAK)
            if best.empty:
                continue
            # a model trained on the task's assays is listed, not ranked (glmeval.cards)
            notes = best.get("training_overlap", pd.Series(np.nan, index=best.index))
            notes = notes.astype(object).where(notes.notna(), "")  # a CSV's empty cells: NaN
            best, flagged = best.assign(training_overlap=notes), notes != ""
            best = pd.concat([best[~flagged], best[flagged]], ignore_index=True)
            ranked = int((~flagged).sum())
            ranks = {k: np.nan for k in ("rank", "rank_low", "rank_high", "p_best")}
            if ranked:
                own = _rank_columns(best[:ranked], seeds, load, n_boot, seed, level)
                ranks = {k: np.r_[v, np.full(len(best) - ranked, np.nan)] for k, v in own.items()}
            base = task_baseline.get((task, target, best["train_fraction"].iloc[0], metric), {})
            extra = []
            for config in best[CONFIGURATION].to_dict("records"):
                row = comparison_rows.get(tuple(config[k] for k in CONFIGURATION), {})
                extra.append(
                    {
                        **{c: base.get(c, np.nan) for c in _TASK_BASELINE},
                        **{new: row.get(old, np.nan) for old, new in _PAIRED.items()},
                        "p_value": row.get("p_value", np.nan),
                    }
                )
            parts.append(pd.concat([best.assign(**ranks), pd.DataFrame(extra)], axis=1))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    board = pd.concat(parts, ignore_index=True)
    board["leakage"] = [(leakage or {}).get(task, "") for task in board["task"]]
    board["kind"] = [
        tuned.get(probe, (kinds or {}).get(model, ""))
        for model, probe in zip(board["model"], board["probe"])
    ]
    board = board[COLUMNS]
    return board.sort_values(["task", "metric", "rank", "model"], kind="stable").reset_index(
        drop=True
    )


def stability(board: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per task × metric: the observed winner, its `p_best` and rank interval, and `stable`
    (first in at least `level` of the resamples)."""
    winners = board.dropna(subset=["rank"]).sort_values(["task", "metric", "rank"], kind="stable")
    winners = winners.drop_duplicates(["task", "metric"])
    out = winners[["task", "metric", "model", "p_best", "rank_low", "rank_high"]]
    out = out.rename(columns={"model": "winner"}).reset_index(drop=True)
    return out.assign(stable=out["p_best"] >= level)


def cross_task(board: pd.DataFrame) -> pd.DataFrame:
    """Per metric × model: tasks entered, mean observed rank over them, tasks won, and whether
    the model wins every task reporting the metric (ranked models only)."""
    board = board.dropna(subset=["rank"])
    won = board["rank"] == board.groupby(["task", "metric"])["rank"].transform("min")
    out = (
        board.assign(won=won)
        .groupby(["metric", "model"], sort=True)
        .agg(n_tasks=("task", "nunique"), mean_rank=("rank", "mean"), tasks_won=("won", "sum"))
        .reset_index()
    )
    metric_tasks = board.groupby("metric")["task"].nunique()
    out["wins_every_task"] = out["tasks_won"] == out["metric"].map(metric_tasks)
    return out.sort_values(["metric", "mean_rank", "model"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- Markdown


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))


def _num(x) -> str:
    return "—" if _missing(x) else f"{x:.3f}"


def _signed(x) -> str:
    return "—" if _missing(x) else f"{x:+.3f}"


def _p(x) -> str:
    return "—" if _missing(x) else ("<0.001" if x < 0.001 else f"{x:.3f}")


def _p_cell(row, group: pd.DataFrame) -> str:
    """The test p of a leaderboard row, or why there is none: the baseline itself, no baseline,
    or a Mann-Whitney test with one seed on a side (it needs two replicates per side)."""
    if not _missing(row.p_value):
        return _p(row.p_value)
    if _missing(row.baseline_model):
        return "— (no baseline)"
    if row.model == row.baseline_model and row.probe == row.baseline_probe:
        return "— (baseline)"
    base = group[(group.model == row.baseline_model) & (group.probe == row.baseline_probe)]
    seeds = [row.n_replicates, *base.n_replicates]
    if row.test == "mannwhitney" and min(seeds) < 2:
        return "— (one seed: no test)"
    return "—"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def _stability_lines(board: pd.DataFrame, level: float) -> list[str]:
    lines = []
    for w in stability(board, level).itertuples():
        line = f"- {w.task} ({w.metric}): {w.winner} ranks first in {_pct(w.p_best)} of resamples"
        if w.stable:
            lines.append(f"{line} — stable.")
            continue
        group = board[(board.task == w.task) & (board.metric == w.metric)]
        others = group[(group.model != w.winner) & (group.p_best > 0)]
        also = ", ".join(f"{r.model} {_pct(r.p_best)}" for r in others.itertuples())
        lines.append(f"{line} — not stable" + (f" (also first: {also})." if also else "."))
    across = cross_task(board)
    for metric, models in across.groupby("metric", sort=True):
        n_tasks = board.loc[board.metric == metric, "task"].nunique()
        if n_tasks < 2:
            continue
        everywhere = models[models.wins_every_task]
        if len(everywhere):
            verdict = f"{everywhere.model.iloc[0]} wins every task"
        else:
            winners = stability(board[board.metric == metric], level)
            by_model = winners.groupby("winner", sort=True)["task"].agg(", ".join)
            verdict = "the winner differs across tasks: " + "; ".join(
                f"{model} wins {tasks}" for model, tasks in by_model.items()
            )
        ranks = ", ".join(
            f"{r.model} {r.mean_rank:.2f}"
            + ("" if r.n_tasks == n_tasks else f" ({r.n_tasks} of {n_tasks} tasks)")
            for r in models.itertuples()
        )
        lines.append(f"- {metric} across {n_tasks} tasks: {verdict}. Mean rank: {ranks}.")
    return lines


def _leaked(row) -> str:
    """What a task's splits share (its leaderboard rows' `leakage`), or ''."""
    value = getattr(row, "leakage", "")
    return "" if _missing(value) else str(value)


def _leakage_lines(board: pd.DataFrame) -> list[str]:
    """The note on tasks whose splits share copies, if any."""
    if "leakage" not in board:
        return []
    marked = board.drop_duplicates("task")
    marked = [(r.task, _leaked(r)) for r in marked.itertuples() if _leaked(r)]
    if not marked:
        return []
    listed = "; ".join(f"{task} ({shared})" for task, shared in marked)
    return [
        "",
        (
            f"{LEAKAGE_MARK} The splits of these tasks share copies of sequences (pairs of exact, "
            f"reverse-complement or near copies, results/tables/leakage.csv): {listed}. A model "
            "scored on test rows with copies in its training data may look better than it is; "
            "docs/semantics.md, Leakage says how to resplit."
        ),
    ]


def _config_text(row) -> str:
    inside = row.representation if _missing(row.layer) else f"{row.representation}, L{row.layer:g}"
    return f"{row.probe} ({inside})"


def to_markdown(board: pd.DataFrame, level: float = 0.95) -> str:
    """The stability summary, then one table per task × metric (with each model's kind where
    the board has them)."""
    pct = _pct(level)
    lines = [
        "# Leaderboard",
        "",
        (
            "Each model enters with its best configuration (highest mean) at full training data, "
            f"chosen on the observed test data. Rank intervals ({pct}) and first-place shares "
            "come from resampling the test rows jointly for all models; a winner is stable when "
            f"it ranks first in at least {pct} of resamples."
        ),
        *_leakage_lines(board),
        "",
        "## Stability",
        "",
        *_stability_lines(board, level),
    ]
    with_kind = any(isinstance(k, str) and k for k in board.get("kind", ()))  # kinds given
    for (task, metric), group in board.groupby(["task", "metric"], sort=True):
        head = group.iloc[0]
        about = f"Target `{head.target}`, train fraction {head.train_fraction:g}"
        if not _missing(head.baseline_model):
            about += (
                f"; baseline {head.baseline_model}/{head.baseline_probe}, "
                f"test {head.test} ({head.alternative})"
            )
        methods = ", ".join(sorted(group.ci_method.dropna().unique()))
        shared = _leaked(head)
        if shared:
            about = f"{LEAKAGE_MARK} splits share copies ({shared}); " + about
        rows = [
            [
                f"{r.rank:g} [{r.rank_low:g}–{r.rank_high:g}]"
                if r.training_overlap == ""
                else f"— ({MARK} {NOT_FROZEN}: {r.training_overlap})",
                r.model,
                *([r.kind] if with_kind else []),
                _config_text(r),
                f"{_num(r.mean)} [{_num(r.ci_low)}, {_num(r.ci_high)}]",
                "—"
                if _missing(r.diff)
                else f"{_signed(r.diff)} [{_signed(r.diff_ci_low)}, {_signed(r.diff_ci_high)}]",
                _p_cell(r, group),
            ]
            for r in group.itertuples()
        ]
        header = [
            f"rank [{pct}]",
            "model",
            *(["kind"] if with_kind else []),
            "best probe (representation, layer)",
            f"mean [{pct} CI]",
            f"Δ vs baseline [{pct} CI]",
            "test p",
        ]
        title = f"{task} {LEAKAGE_MARK}" if shared else task
        lines += ["", f"## {title} — {metric}", "", f"{about}; mean CIs: {methods}.", ""]
        lines.append(pipe_table(header, [[_cell(c) for c in row] for row in rows]).rstrip("\n"))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- files


def write_leaderboard(
    summary_path: str | Path,
    comparisons_path: str | Path,
    metrics_path: str | Path,
    csv_path: str | Path,
    md_path: str | Path,
    n_boot: int = 1000,
    root: str | Path = ".",
    leakage_path: str | Path | None = None,
    kinds: dict[str, str] | None = None,
    tuned: dict[str, str] | None = None,
) -> None:
    """The leaderboard CSV and its Markdown rendering from the stats tables, reading each run's
    predictions from its directory under `root`; tasks whose splits share copies (the leakage
    table at `leakage_path`, if given) are marked; `kinds` and `tuned` as `leaderboard`'s."""
    from glmeval.data.leakage import leakage_marks

    marks = leakage_marks(pd.read_csv(leakage_path)) if leakage_path else {}
    board = leaderboard(
        pd.read_csv(summary_path),
        pd.read_csv(comparisons_path),
        pd.read_csv(metrics_path),
        predictions_loader(root),
        n_boot,
        leakage=marks,
        kinds=kinds,
        tuned=tuned,
    )
    write_csv(board, csv_path)
    with atomic_path(md_path) as tmp:
        tmp.write_text(to_markdown(board))
