"""The probe types: which representations each reads and which tasks it fits (no torch here:
the workflow plans jobs from these)."""

LINEAR_PROBES = ("ridge", "ols", "logistic")
POOLED_PROBES = (*LINEAR_PROBES, "rep_mlp")
TOKEN_PROBES = ("rep_cnn", "chip_cnn", "splice_cnn", "insert_cnn", "resnet", "mprann")
#: Which representations each probe type consumes.
PROBE_INPUTS = {
    **{t: ("cls", "mean") for t in POOLED_PROBES},
    **{t: ("tokens",) for t in TOKEN_PROBES},
}
#: The task kinds a probe type can fit (neural probes fit every kind).
PROBE_TASK_KINDS = {
    "ridge": {"regression", "multitask_regression"},
    "ols": {"regression", "multitask_regression"},
    "logistic": {"binary", "multilabel"},
    "splice_cnn": {"multitask_regression"},
}
#: What extraction and zero-shot scoring embed: the forward strand, or both (averaged).
STRANDS = ("forward", "both")
#: The strands whose own pooled states (and zero-shot scores) a `both` run also keeps
#: (`mean_forward`, `cosine_reverse`, ...).
STRAND_VIEWS = ("forward", "reverse")


def strand_view(representation: str) -> tuple[str, str | None]:
    """(`cls`, `forward`) for `cls_forward`; (`mean`, None) for `mean` (both strands' mean for a
    `strands: both` model, the forward strand's otherwise)."""
    base, _, strand = representation.partition("_")
    return (base, strand) if strand in STRAND_VIEWS else (representation, None)
