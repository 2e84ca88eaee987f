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

#: A prepared variants dataset: at its own windows, or at another window length (`length`).
VARIANTS = "resources/variants/{variants}/variants.parquet"
VARIANTS_WINDOW = "resources/variants/{variants}/L{length}/variants.parquet"

#: A model's checkpoint: a hub snapshot or tiny build, or a supervised model glmeval trains.
MODEL_SNAPSHOT = "resources/models/{model}"
SUPERVISED_MODEL = "results/supervised_models/{model}"

#: One model's embeddings of one split (a directory: pooled.npy, tokens.L*.npy, meta.json).
EMBEDDINGS = "results/embeddings/{model}/{task}/{split}"

#: One probe run (a directory) and its files.
PROBE_RUN = (
    "results/probes/{task}/{model}/{representation}/L{layer}/{probe}/frac{fraction}/seed{seed}"
)
PROBE_METRICS = PROBE_RUN + "/metrics.json"
PROBE_PREDICTIONS = PROBE_RUN + "/predictions.parquet"
PROBE_MODEL = PROBE_RUN + "/model.pt"

#: One model's zero-shot scores of one variants dataset.
ZEROSHOT_SCORES = "results/zeroshot/{variants}/{model}.parquet"
#: A trained probe's (full-data run) effects on one variants dataset.
TRANSFER_EFFECTS = (
    "results/transfer/{variants}/{task}/{model}/{representation}/L{layer}/{probe}/"
    "seed{seed}.parquet"
)

#: One model's attribution maps in one task (a directory; `probe` is "lm" for the LM's own).
ATTRIBUTION_MAPS = "results/attribution/{task}/{model}/{probe}"

#: A task's tidy probe metrics.
TASK_TABLE = "results/tables/{task}.csv"

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
}


def fill(pattern: str, **fields) -> str:
    """`pattern` with the given wildcards filled in and the others left as wildcards."""
    for name, value in fields.items():
        pattern = pattern.replace("{" + name + "}", str(value))
    return pattern
