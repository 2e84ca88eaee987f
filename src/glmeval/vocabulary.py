"""The names every layer shares: splits, representations, strands, the mean target, attribution
method sets. Plain constants (no torch, no pandas): the configuration, the plan, the workflow's
wildcards and the jobs read them from here."""

#: A task's splits, in order.
SPLITS = ("train", "valid", "test")

#: Pooled representations (one vector per sequence) and the token-level one.
POOLED_REPRESENTATIONS = ("cls", "mean")
TOKENS = "tokens"
#: Every representation a probe can read (the configuration's default `representations`).
REPRESENTATIONS = (*POOLED_REPRESENTATIONS, TOKENS)

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


#: A regular expression of every representation name a probe run can have: `tokens`, a pooled
#: one, or a pooled one of one strand (the workflow's `representation` wildcard).
REPRESENTATION_PATTERN = (
    f"({'|'.join(POOLED_REPRESENTATIONS)})"
    f"({'|'.join('_' + strand for strand in STRAND_VIEWS)})?|{TOKENS}"
)

#: The target of a multi-target task's mean over its targets (tables, leaderboard, figures).
MEAN_TARGET = "_mean"

#: Attribution methods that differentiate the model's output with respect to its one-hot input.
INPUT_GRADIENTS = ("saliency", "input_x_gradient", "deep_lift_shap")

#: Fewest null draws of an attribution chance level (`attribution.null_draws`): each tail of
#: the 95 % interval then holds at least one draw (2.5 % of 40) and an empirical p-value can
#: reach 1 / 41 < 0.05.
MIN_NULL_DRAWS = 40
