"""The model families: what each needs to load and how its layers are read.

A configured model names one family; everything else (checkpoint, revision, layers, context,
batch size, precision) is YAML. A transformers family reads its layers either from the model's
own `output_hidden_states` or, where a model's code does not return them usably, from forward
hooks on its modules (`LayerModules`, paths relative to the model's `base_model`); a model entry
can override the family's `layer_modules`, which is how an unusual new architecture is added
without code. See docs/models.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerModules:
    """Module paths whose outputs are layers 0..n: the embedding output, a ModuleList of blocks,
    and an optional final norm applied to the last block's output (it then *is* layer n).
    `residual_sum`: blocks return (output, residual) as pre-norm Mamba blocks do, and the
    residual-stream state after a block is their sum."""

    embeddings: str
    blocks: str
    final_norm: str | None = None
    residual_sum: bool = False


@dataclass(frozen=True)
class Family:
    name: str
    loader: str  # onehot | transformers | sei | rbp | features
    description: str
    head: str | None = None  # masked_lm | causal_lm: the LM head loaded for logits
    has_cls: bool = False  # token 0 is a CLS token worth probing
    remote_code: str = "never"  # never | optional | required (then only at a pinned revision)
    layer_modules: LayerModules | None = None  # None: the model's output_hidden_states
    attention_mask: bool = True  # the forward takes an attention mask
    requires: tuple[str, ...] = ()  # importable modules the family needs
    extra: str | None = None  # the pip extra that installs them
    gpu_only: bool = False
    precision: str = "bf16"  # on GPU: bf16 | fp16 | fp32 (numerically fragile families)
    #: what bounds the input length inside the model: `positions` (config.max_position_embeddings
    #: for absolute positions; ESM's start after its padding index), `max_seq_len` (its config
    #: key), or `unlimited` (ALiBi rebuilt on demand, convolutions, state-space models)
    context: str = "positions"
    #: the most bases one token holds, where the family fixes it (None: tokenizer-dependent);
    #: with `max_tokens` it bounds the input length at configuration time
    bases_per_token: int | None = None
    #: the fixed input length of a supervised model that pads every sequence to it (Sei)
    input_bases: int | None = None


FAMILIES = {
    f.name: f
    for f in [
        Family(
            "onehot",
            "onehot",
            "one-hot DNA (A, C, G, T channels); the paper's baseline",
        ),
        Family(
            "masked_lm",
            "transformers",
            "transformers-native masked LM: Nucleotide Transformer v1 (ESM), GROVER, BERTs",
            head="masked_lm",
            has_cls=True,
            remote_code="optional",
        ),
        Family(
            "causal_lm",
            "transformers",
            "transformers-native causal LM: Mistral/Mixtral/Llama-style DNA LMs",
            head="causal_lm",
            remote_code="optional",
        ),
        Family(
            "nt_v2",
            "transformers",
            "Nucleotide Transformer v2 (ESM variant with rotary embeddings and SwiGLU)",
            head="masked_lm",
            has_cls=True,
            remote_code="required",
            bases_per_token=6,
        ),
        Family(
            "dnabert2",
            "transformers",
            "DNABERT-2 (BPE, ALiBi BERT; its encoder returns unpadded per-layer states)",
            head="masked_lm",
            has_cls=True,
            remote_code="required",
            layer_modules=LayerModules("embeddings", "encoder.layer"),
            context="unlimited",
        ),
        Family(
            "hyenadna",
            "transformers",
            "HyenaDNA, transformers port (`LongSafari/hyenadna-*-hf`); character tokens",
            head="causal_lm",
            remote_code="required",
            layer_modules=LayerModules("backbone.embeddings", "backbone.layers", "backbone.ln_f"),
            attention_mask=False,
            precision="fp32",
            context="max_seq_len",
            bases_per_token=1,
        ),
        Family(
            "caduceus",
            "transformers",
            "Caduceus (`kuleshov-group/caduceus-ph_*`); Mamba blocks, CUDA kernels from mamba-ssm",
            head="masked_lm",
            remote_code="required",
            layer_modules=LayerModules(
                "backbone.embeddings", "backbone.layers", "backbone.norm_f", residual_sum=True
            ),
            attention_mask=False,
            requires=("mamba_ssm",),
            extra="caduceus",
            gpu_only=True,
            context="unlimited",
            bases_per_token=1,
        ),
        Family(
            "gpn",
            "transformers",
            "GPN (the `gpn` package): dilated-convolution masked LM, one token per base",
            head="masked_lm",
            layer_modules=LayerModules("embedding", "encoder"),
            attention_mask=False,
            requires=("gpn",),
            extra="gpn",
            context="unlimited",
            bases_per_token=1,
        ),
        Family(
            "sei",
            "sei",
            "Sei: supervised sequence-to-function CNN, `spline_tr` output",
            input_bases=4096,
        ),
        Family("rbp", "rbp", "the paper's multitask eCLIP CNN, trained by the workflow"),
        Family(
            "features",
            "features",
            "your own features from a file, looked up by id (glmeval.models.features)",
            context="unlimited",
        ),
    ]
}

#: A control, not a loader: `{family: random_init, of: <model>, seed: <int>}` is <model>'s
#: architecture and tokenizer with freshly initialised weights.
RANDOM_INIT = "random_init"


class ModelError(ValueError):
    """A model cannot be loaded as configured; the message names the model and the fix."""


def family_of(name: str, model: dict) -> Family:
    try:
        return FAMILIES[model["family"]]
    except KeyError:
        raise ModelError(
            f"models.{name}.family is {model.get('family')!r}; choose one of "
            f"{', '.join([*FAMILIES, RANDOM_INIT])}."
        ) from None
