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
    loader: str  # onehot | transformers | sei | tracks | rbp | features | kmer | refused
    description: str
    head: str | None = None  # masked_lm | causal_lm: the LM head loaded for logits
    has_cls: bool = False  # token 0 is a CLS token worth probing
    remote_code: str = "never"  # never | optional | required (then only at a pinned revision)
    layer_modules: LayerModules | None = None  # None: the model's output_hidden_states
    attention_mask: bool = True  # the forward takes an attention mask
    requires: tuple[str, ...] = ()  # importable modules the family needs
    extra: str | None = None  # the pip extra that installs them
    install: str | None = None  # the install command, where the extra alone does not do it
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
    #: a U-Net (NT v3): the config attribute k of its k halvings of the length. Inputs are padded
    #: with N to a multiple of 2**k (positions that carry no base); its layers are its stem and
    #: its output, the two per-base states of the same width
    downsamples: str | None = None
    #: its states are per token, each token covering known bases (so `strands: both` can
    #: flip the reverse strand's states back onto the forward tokens)
    base_aligned: bool = True
    #: why glmeval refuses the family (loader `refused`), at configuration and at load time
    refusal: str | None = None
    #: remote code that may pick a fused attention kernel: `pytorch` switches it off (its own
    #: PyTorch attention runs), `native` lets the code choose (compat.select_attention)
    attention: str = "native"
    #: the module names LoRA adapts by default (attention and feed-forward projections, as the
    #: family's upstream code names them); none: a LoRA probe must name them (docs/finetuning.md)
    lora_targets: tuple[str, ...] = ()


#: What Evo 2 needs (its package's README, evo2 0.6.0), and what to do instead.
EVO2_REFUSAL = (
    "glmeval has no adapter for Evo 2. Evo 2 runs only through the Arc Institute's own package "
    "(`pip install evo2`, with its Vortex inference code and flash-attn: Linux, CUDA 12.1+, "
    "Python 3.11-3.12) on a GPU: the 1B, 20B and 40B checkpoints need FP8 through NVIDIA "
    "Transformer Engine on a GPU of compute capability >= 8.9 (Hopper; Ada also has FP8), and "
    "the 40B one several H100s; the 7B checkpoints run in bf16 without Transformer Engine on any "
    "GPU it supports, with ~14 GB of weights. To evaluate Evo 2, embed the sequences with the "
    "evo2 package and give glmeval the embeddings as a `features` model (docs/models.md)."
)

#: The attention and feed-forward projections of Llama/Mistral-style models.
LLAMA_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

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
            lora_targets=("query", "key", "value", "dense"),
        ),
        Family(
            "causal_lm",
            "transformers",
            "transformers-native causal LM: Mistral/Mixtral/Llama-style DNA LMs",
            head="causal_lm",
            remote_code="optional",
            lora_targets=LLAMA_LORA_TARGETS,
        ),
        Family(
            "nt_v2",
            "transformers",
            "Nucleotide Transformer v2 (ESM variant with rotary embeddings and SwiGLU)",
            head="masked_lm",
            has_cls=True,
            remote_code="required",
            bases_per_token=6,
            lora_targets=("query", "key", "value", "dense"),
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
            # its Triton flash attention, taken whenever triton imports, no longer compiles
            attention="pytorch",
            lora_targets=("Wqkv", "dense", "gated_layers", "wo"),
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
            lora_targets=("in_proj", "out_proj", "fc1", "fc2"),
        ),
        Family(
            "caduceus",
            "transformers",
            "Caduceus-Ph and -PS (`kuleshov-group/caduceus-*`; -PS: RC-equivariant, 2 x d_model "
            "channels); Mamba blocks, CUDA kernels from mamba-ssm",
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
            lora_targets=("in_proj", "out_proj"),
        ),
        Family(
            "generator",
            "transformers",
            "GENERator (`GenerTeam/GENERator-*`): Llama causal LM, its repository's 6-mer tokenizer",
            head="causal_lm",
            remote_code="required",
            bases_per_token=6,
            lora_targets=LLAMA_LORA_TARGETS,
        ),
        Family(
            "nt_v3",
            "transformers",
            "Nucleotide Transformer v3 (`InstaDeepAI/NTv3_*_pre`): convolution/transformer U-Net, "
            "one token per base",
            head="masked_lm",
            remote_code="required",
            attention_mask=False,
            context="unlimited",
            bases_per_token=1,
            downsamples="num_downsamples",
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
            lora_targets=("conv.1", "ffn.0"),
        ),
        Family(
            "sei",
            "sei",
            "Sei: supervised sequence-to-function CNN, `spline_tr` output",
            input_bases=4096,
            base_aligned=False,
        ),
        Family(
            "enformer",
            "tracks",
            "Enformer (`enformer-pytorch`): supervised track model, its trunk embeddings",
            requires=("enformer_pytorch",),
            extra="enformer",
            input_bases=196_608,
            base_aligned=False,
        ),
        Family(
            "borzoi",
            "tracks",
            "Borzoi (`borzoi-pytorch`): supervised track model, its embeddings before the heads",
            requires=("borzoi_pytorch",),
            extra="borzoi",
            # its metadata pins transformers<5, under which glmeval does not run; its code runs
            # unmodified under transformers 5
            install="pip install 'glmeval[borzoi]' && pip install --no-deps borzoi-pytorch==0.5.1",
            input_bases=524_288,
            base_aligned=False,
        ),
        Family(
            "evo2",
            "refused",
            "Evo 2 (Arc Institute): no adapter; refused, naming what it needs",
            refusal=EVO2_REFUSAL,
        ),
        Family(
            "rbp",
            "rbp",
            "the paper's multitask eCLIP CNN, trained by the workflow",
            base_aligned=False,
        ),
        Family(
            "features",
            "features",
            "your own features from a file, looked up by id (glmeval.models.features)",
            context="unlimited",
            base_aligned=False,
        ),
        Family(
            "kmer",
            "kmer",
            "k-mer spectra (counts or frequencies of every k-mer), computed without a network "
            "(glmeval.models.kmer)",
            context="unlimited",
            base_aligned=False,
        ),
    ]
}

#: Loaders that run no model: their features are written straight into the artifact (pooled
#: `mean` at layer 0), with nothing that maps them back to bases.
NO_NETWORK = ("features", "kmer")

#: A control, not a loader: `{family: random_init, of: <model>, seed: <int>}` is <model>'s
#: architecture and tokenizer with freshly initialised weights.
RANDOM_INIT = "random_init"


def kmer_width(k: int | list[int], canonical: bool = False) -> int:
    """The columns of a `kmer` model's spectra: 4**k per k, or with `canonical` one per pair of
    reverse complements ((4**k + palindromes) / 2; odd k has no palindromes)."""
    if not isinstance(k, int):
        return sum(kmer_width(one, canonical) for one in k)
    if not canonical:
        return 4**k
    return (4**k + (4 ** (k // 2) if k % 2 == 0 else 0)) // 2


#: The `kmer` family's default `max_memory_gb`.
KMER_MAX_MEMORY_GB = 16


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
