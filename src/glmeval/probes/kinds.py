"""The probe types: which representations each reads and which tasks it fits (no torch here:
the workflow plans jobs from these)."""

from glmeval.vocabulary import POOLED_REPRESENTATIONS, TOKENS

LINEAR_PROBES = ("ridge", "ols", "logistic")
POOLED_PROBES = (*LINEAR_PROBES, "rep_mlp")
TOKEN_PROBES = ("rep_cnn", "chip_cnn", "splice_cnn", "insert_cnn", "resnet", "mprann")
#: Which representations each probe type consumes.
PROBE_INPUTS = {
    **{t: POOLED_REPRESENTATIONS for t in POOLED_PROBES},
    **{t: (TOKENS,) for t in TOKEN_PROBES},
}
#: The task kinds a probe type can fit (neural probes fit every kind).
PROBE_TASK_KINDS = {
    "ridge": {"regression", "multitask_regression"},
    "ols": {"regression", "multitask_regression"},
    "logistic": {"binary", "multilabel"},
    "splice_cnn": {"multitask_regression"},
}
#: How a fine-tuning probe trains the language model under its head (docs/finetuning.md):
#: LoRA adapters (peft), every weight, or every weight from a random initialisation.
FINETUNE_KINDS = ("lora", "full", "scratch")
#: The heads a fine-tuned model can carry: the pooled MLP and the one-sequence token CNNs.
FINETUNE_HEADS = ("rep_mlp", *(t for t in TOKEN_PROBES if t != "splice_cnn"))
