"""Where each artifact lives: one pattern per output, with the workflow's wildcard names in
braces. The rules use them as output patterns; the plan's jobs fill them with `.format()`
(a probe run's fraction as `glmeval.plan.fraction_label` writes it). Relative to the workflow's
working directory."""

from glmeval.vocabulary import REPRESENTATION_PATTERN, SPLITS

#: Downloads, each unpacked in its own directory.
DOWNLOADS = "resources/downloads"
DOWNLOAD = DOWNLOADS + "/{download}"

#: A prepared task: its description and its splits.
TASK_META = "resources/data/{task}/task.json"
TASK_SPLIT = "resources/data/{task}/{split}.parquet"

#: A prepared variants dataset: at its own windows, or at another window length (`length`),
#: each with its description and the variants left out.
VARIANTS = "resources/variants/{variants}/variants.parquet"
VARIANTS_META = "resources/variants/{variants}/task.json"
VARIANTS_EXCLUSIONS = "resources/variants/{variants}/exclusions.tsv"
VARIANTS_WINDOW = "resources/variants/{variants}/L{length}/variants.parquet"
VARIANTS_WINDOW_META = "resources/variants/{variants}/L{length}/task.json"
VARIANTS_WINDOW_EXCLUSIONS = "resources/variants/{variants}/L{length}/exclusions.tsv"

#: A model's checkpoint: a hub snapshot or tiny build, or a supervised model glmeval trains.
MODEL_SNAPSHOT = "resources/models/{model}"
SUPERVISED_MODEL = "results/supervised_models/{model}"

#: One model's embeddings of one split (a directory: pooled.npy, tokens.L*.npy, meta.json).
EMBEDDINGS = "results/embeddings/{model}/{task}/{split}"
#: Under a disk budget (`storage.max_tokens_gb`), one part of its token layers, a temporary
#: directory (tokens.L*.npy, meta.json; `glmeval.storage`).
TOKEN_STATES = "results/embeddings/{model}/{task}/tokens{part}.{split}"

#: One probe run (a directory) and its files.
PROBE_RUN = (
    "results/probes/{task}/{model}/{representation}/L{layer}/{probe}/frac{fraction}/seed{seed}"
)
PROBE_METRICS = PROBE_RUN + "/metrics.json"
PROBE_PREDICTIONS = PROBE_RUN + "/predictions.parquet"
PROBE_MODEL = PROBE_RUN + "/model.pt"
#: One probe job's record of its finished runs: every seed and train fraction of a neural probe
#: on one layer, or of a linear probe on every layer it sweeps.
PROBE_RUNS = "results/probes/{task}/{model}/{representation}/L{layer}/{probe}/runs.json"
PROBE_SWEEP_RUNS = "results/probes/{task}/{model}/{representation}/{probe}.runs.json"

#: One model's zero-shot scores of one variants dataset.
ZEROSHOT_SCORES = "results/zeroshot/{variants}/{model}.parquet"
#: A trained probe's (full-data run) effects on one variants dataset.
TRANSFER_EFFECTS = (
    "results/transfer/{variants}/{task}/{model}/{representation}/L{layer}/{probe}/"
    "seed{seed}.parquet"
)

#: Attribution of one task: the test sequences explained, each model's maps (a directory;
#: `probe` is "lm" for the LM's own), the motifs found in them with their figures, and GIA.
ATTRIBUTION_SELECTION = "results/attribution/{task}/selection.parquet"
ATTRIBUTION_MAPS = "results/attribution/{task}/{model}/{probe}"
ATTRIBUTION_MOTIFS = "results/attribution/{task}/motifs/{table}.csv"
ATTRIBUTION_FIGURE = "results/attribution/{task}/{figure}.{ext}"
ATTRIBUTION_GIA = "results/attribution/{task}/gia.csv"
#: The synthetic tasks' own motifs (the demo's motif database).
SYNTHETIC_MOTIFS = "resources/motifs/synthetic.meme"

#: The tidy probe metrics: one task's, one model's across tasks, and all tasks'.
TASK_TABLE = "results/tables/{task}.csv"
MODEL_TABLE = "results/tables/models/{model}.csv"
PROBE_METRICS_TABLE = "results/tables/probe_metrics.csv"
#: Their replicate summaries and comparisons with each task's baseline (`glmeval.stats`).
PROBE_SUMMARY = "results/tables/probe_summary.csv"
PROBE_COMPARISONS = "results/tables/probe_comparisons.csv"
#: Copies across each task's splits; model cards and where their training data overlap a task.
LEAKAGE_TABLE = "results/tables/leakage.csv"
MODEL_CARDS = "results/tables/model_cards.csv"
TRAINING_OVERLAP = "results/tables/training_overlap.csv"
#: The leaderboard and the paper's numbers beside ours (`ext`: csv or md).
LEADERBOARD = "results/tables/leaderboard.{ext}"
PAPER_COMPARISON = "results/tables/paper_comparison.{ext}"
#: A variants dataset's Table 1 (`ext`: csv or md) and per-element correlations.
VARIANT_TABLE1 = "results/tables/{variants}_table1.{ext}"
VARIANT_CORRELATIONS = "results/tables/{variants}_correlations.csv"
#: What produced the results (versions, commits, checkpoints, devices).
PROVENANCE = "results/tables/provenance.csv"

#: One planned figure (`ext`: png, pdf, or csv for its plotted numbers) and the index of all.
FIGURE = "results/figures/{figure}.{ext}"
FIGURE_INDEX = "results/figures/index.csv"

_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]*"
#: What each wildcard of these patterns matches (the workflow's wildcard_constraints).
WILDCARDS = {
    "task": _NAME,
    "model": _NAME,
    "split": "|".join(SPLITS),
    "representation": REPRESENTATION_PATTERN,
    "layer": r"\d+",
    "probe": _NAME,
    "seed": r"\d+",
    "fraction": r"[0-9.]+",
    "download": _NAME,
    "variants": _NAME,
    "length": r"\d+",
    "part": r"\d+",
}


def fill(pattern: str, **fields) -> str:
    """`pattern` with the given wildcards filled in and the others left as wildcards."""
    for name, value in fields.items():
        pattern = pattern.replace("{" + name + "}", str(value))
    return pattern
