"""Running repositories' own model code, written for transformers 4, under transformers 5.

transformers 5 broke such code in five ways, each handled here by name (docs/models.md,
"Remote code under transformers 5"):

1. **Removed helpers.** `LEGACY_SYMBOLS` puts back, where absent, the functions and methods
   that old modelling files import or call (NT v2 imports `find_pruneable_heads_and_indices`
   and calls `get_extended_attention_mask`, `get_head_mask` and `init_weights()`).
2. **Dropped config defaults.** transformers 4's `PretrainedConfig.__init__` set defaults such
   as `is_decoder` and `pad_token_id` that old code reads as attributes (DNABERT-2 reads both);
   `LEGACY_CONFIG_DEFAULTS` sets them on a remote-code config where they are missing.
3. **Construction on the meta device.** transformers 5 builds every model under
   `torch.device("meta")`, where tensors that old code builds in `__init__` have no data and
   mixing them with CPU tensors fails (DNABERT-2's ALiBi). `real_buffers` builds remote-code
   models with only their *parameters* on the meta device: buffers and tensor attributes are
   computed for real, parameters come from the checkpoint.
4. **Uninitialised non-persistent buffers.** After loading, transformers 5 replaces every
   non-persistent buffer (rotary `inv_freq`, ALiBi slopes, `position_ids`, `token_type_ids`) by
   uninitialised memory and relies on the model's `_init_weights` to refill it, which old code
   does not do. `restore_buffers` re-derives each from a parameter-free construction of the same
   model and refuses to go on where it cannot.
5. **Tokenizer state built by `super().__init__()`.** transformers 5 keeps a tokenizer's special
   tokens in `_special_tokens_map`, which the base `__init__` creates; old tokenizers that set
   `bos_token` before calling it (GENERator's `DNAKmerTokenizer`) fail with an AttributeError.
   `tokenizer_state_first` creates that state before the tokenizer's own `__init__` runs.

Beside these, `select_attention` switches off fused attention kernels that old code picks by
itself and that no longer run (DNABERT-2's Triton flash attention, taken whenever triton imports).

Everything else an old model needs, or a failure none of this covers, is a `ModelError` that
names the symbol, the family and the fix (`explain`).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import sys
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass

import torch
import transformers
from torch import nn
from transformers.pytorch_utils import apply_chunking_to_forward, prune_linear_layer

from glmeval.models.families import ModelError

DYNAMIC_MODULES = "transformers_modules"  # where transformers imports remote code from

#: Module globals through which remote code picks a fused attention kernel, None selecting its
#: PyTorch attention: DNABERT-2's bert_layers.py imports `flash_attn_qkvpacked_func` from its
#: flash_attn_triton.py inside a try (None when triton is missing) and runs it whenever it is set
#: and attention dropout is 0, as in its hub config.
KERNEL_SWITCHES = ("flash_attn_qkvpacked_func",)
#: Where fused attention kernels come from: these packages, or a remote module of such a name.
KERNEL_SOURCES = ("triton", "flash_attn")
#: The kernels `select_attention` switched off, by (module, global), to restore for `native`.
_SWITCHED: dict[tuple[str, str], object] = {}


def _find_pruneable_heads_and_indices(heads, n_heads, head_size, already_pruned_heads):
    """transformers 4: the heads to prune (minus those already pruned) and the flat indices of
    the dimensions that remain."""
    mask = torch.ones(n_heads, head_size)
    heads = set(heads) - already_pruned_heads
    for head in heads:
        head -= sum(1 if pruned < head else 0 for pruned in already_pruned_heads)
        mask[head] = 0
    index = torch.arange(len(mask.view(-1)))[mask.view(-1).eq(1)].long()
    return heads, index


def _get_extended_attention_mask(self, attention_mask, input_shape=None, device=None, dtype=None):
    """transformers 4: a (B, T) or (B, T, T) keep-mask as an additive (B, 1, [1|T], T) bias,
    causal where the config is a decoder."""
    dtype = dtype or next(self.parameters()).dtype
    if attention_mask.dim() == 3:
        extended = attention_mask[:, None, :, :]
    elif attention_mask.dim() == 2:
        extended = attention_mask[:, None, None, :]
        if getattr(self.config, "is_decoder", False):
            length = attention_mask.shape[1]
            positions = torch.arange(length, device=attention_mask.device)
            causal = (positions[None, :] <= positions[:, None]).to(attention_mask.dtype)
            extended = causal[None, None] * extended
    else:
        raise ValueError(f"attention mask of shape {tuple(attention_mask.shape)}")
    extended = extended.to(dtype=dtype)
    return (1.0 - extended) * torch.finfo(dtype).min


def _invert_attention_mask(self, encoder_attention_mask):
    """transformers 4: an encoder keep-mask as an additive bias."""
    mask = encoder_attention_mask
    inverted = mask[:, None, :, :] if mask.dim() == 3 else mask[:, None, None, :]
    dtype = next(self.parameters()).dtype
    return (1.0 - inverted.to(dtype)) * torch.finfo(dtype).min


def _get_head_mask(self, head_mask, num_hidden_layers, is_attention_chunked=False):
    """transformers 4: None per layer, or the head mask broadcast to (layers, B, heads, T, T)."""
    if head_mask is None:
        return [None] * num_hidden_layers
    if head_mask.dim() == 1:
        head_mask = head_mask[None, None, :, None, None].expand(num_hidden_layers, -1, -1, -1, -1)
    elif head_mask.dim() == 2:
        head_mask = head_mask[:, None, :, None, None]
    head_mask = head_mask.to(dtype=next(self.parameters()).dtype)
    return head_mask.unsqueeze(-1) if is_attention_chunked else head_mask


@dataclass(frozen=True)
class Legacy:
    """One name transformers 5 removed that old model code uses: `owner.name = value`."""

    owner: str  # a module path, or "PreTrainedModel" for a method
    name: str
    value: Callable
    used_by: str  # the code that needs it (and the test that proves it)


LEGACY_SYMBOLS = [
    Legacy(
        "transformers.modeling_utils",
        "find_pruneable_heads_and_indices",
        _find_pruneable_heads_and_indices,
        "NT v2 modeling_esm.py (import)",
    ),
    Legacy(
        "transformers.pytorch_utils",
        "find_pruneable_heads_and_indices",
        _find_pruneable_heads_and_indices,
        "BERT-style remote code (import)",
    ),
    Legacy(
        "transformers.modeling_utils",
        "prune_linear_layer",
        prune_linear_layer,
        "NT v2 modeling_esm.py (import; moved to transformers.pytorch_utils)",
    ),
    Legacy(
        "transformers.modeling_utils",
        "apply_chunking_to_forward",
        apply_chunking_to_forward,
        "BERT-style remote code, GENA-LM (import; moved to transformers.pytorch_utils)",
    ),
    Legacy(
        "PreTrainedModel",
        "get_extended_attention_mask",
        _get_extended_attention_mask,
        "NT v2 EsmModel.forward",
    ),
    Legacy("PreTrainedModel", "get_head_mask", _get_head_mask, "NT v2 EsmModel.forward"),
    Legacy(
        "PreTrainedModel",
        "invert_attention_mask",
        _invert_attention_mask,
        "NT v2 EsmModel.forward (decoder configurations)",
    ),
]

#: transformers 4's `PretrainedConfig()` attributes that transformers 5 no longer sets.
LEGACY_CONFIG_DEFAULTS = {
    "is_decoder": False,  # DNABERT-2, NT v2
    "add_cross_attention": False,
    "cross_attention_hidden_size": None,
    "tie_encoder_decoder": False,
    "tie_word_embeddings": True,
    "pruned_heads": {},
    "chunk_size_feed_forward": 0,
    "torchscript": False,
    "pad_token_id": None,  # DNABERT-2
    "bos_token_id": None,
    "eos_token_id": None,
    "sep_token_id": None,
    "decoder_start_token_id": None,
    "tokenizer_class": None,
    "prefix": None,
    "finetuning_task": None,
    "task_specific_params": None,
}


def install_legacy_symbols() -> None:
    """Put back every `LEGACY_SYMBOLS` entry that the installed transformers lacks, and let
    `init_weights()` stand in for `post_init()` (idempotent)."""
    for legacy in LEGACY_SYMBOLS:
        if legacy.owner == "PreTrainedModel":
            owner = transformers.PreTrainedModel
        else:
            owner = importlib.import_module(legacy.owner)
        if not hasattr(owner, legacy.name):
            setattr(owner, legacy.name, legacy.value)
    model = transformers.PreTrainedModel
    if not getattr(model.init_weights, "glmeval_legacy", False):
        original = model.init_weights

        def init_weights(self):
            """transformers 4 let old code call `init_weights()` instead of `post_init()`."""
            if not hasattr(self, "all_tied_weights_keys"):
                return self.post_init()
            return original(self)

        init_weights.glmeval_legacy = True
        model.init_weights = init_weights


def legacy_config(config) -> None:
    """Set transformers 4's config defaults that this config lacks (old code reads them)."""
    for key, value in LEGACY_CONFIG_DEFAULTS.items():
        try:
            getattr(config, key)
        except AttributeError:
            setattr(config, key, copy.copy(value))


@contextlib.contextmanager
def parameters_on_meta():
    """Build modules with parameters on the meta device (no memory, no initialisation) and
    everything else (buffers, tensor attributes) computed for real on the CPU."""
    register = nn.Module.register_parameter

    def on_meta(module, name, param):
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register(module, name, param)

    nn.Module.register_parameter = on_meta
    try:
        with torch.device("cpu"):
            yield
    finally:
        nn.Module.register_parameter = register


@contextlib.contextmanager
def real_buffers(model_class):
    """Within it, `model_class.from_pretrained` builds the model with `parameters_on_meta`
    instead of transformers 5's all-meta construction."""
    original = model_class.__dict__.get("get_init_context")
    inherited = model_class.get_init_context

    def get_init_context(cls, *args, **kwargs):
        contexts = inherited(*args, **kwargs)
        meta = torch.device("meta")
        return [parameters_on_meta() if c == meta else c for c in contexts]

    model_class.get_init_context = classmethod(get_init_context)
    try:
        yield
    finally:
        if original is None:
            del model_class.get_init_context
        else:
            model_class.get_init_context = original


@contextlib.contextmanager
def tokenizer_state_first(tokenizer_class):
    """Within it, instances of `tokenizer_class` start with the (empty) special-token and
    added-token state that the base class's `__init__` creates, so old code may set special
    tokens before calling it, as transformers 4 allowed; the base `__init__` then sets them
    from the tokenizer's files as usual."""
    original = tokenizer_class.__dict__.get("__init__")
    inherited = tokenizer_class.__init__

    def __init__(self, *args, **kwargs):
        self.__dict__.setdefault(
            "_special_tokens_map", dict.fromkeys(self.SPECIAL_TOKENS_ATTRIBUTES)
        )
        self.__dict__.setdefault("_extra_special_tokens", [])
        self.__dict__.setdefault("_added_tokens_decoder", {})
        inherited(self, *args, **kwargs)

    tokenizer_class.__init__ = __init__
    try:
        yield
    finally:
        if original is None:
            del tokenizer_class.__init__
        else:
            tokenizer_class.__init__ = original


def select_attention(model: nn.Module, attention: str, name: str, family: str) -> None:
    """`pytorch`: set every `KERNEL_SWITCHES` global of the remote modules that define the
    model's layers to None, so that their code runs its PyTorch attention; a kernel those modules
    hold otherwise (a triton or flash-attn module or function) cannot be switched off and is a
    ModelError, raised before any batch. `native`: put back what an earlier `pytorch` load
    switched off in this process, so the code chooses as it would by itself."""
    for module_name, space in _remote_namespaces(model).items():
        for switch in KERNEL_SWITCHES:
            if attention == "native" and (module_name, switch) in _SWITCHED:
                space[switch] = _SWITCHED[module_name, switch]
            elif attention == "pytorch" and space.get(switch) is not None:
                _SWITCHED[module_name, switch] = space[switch]
                space[switch] = None
        if attention != "pytorch":
            continue
        for key, value in space.items():
            source = None if key in KERNEL_SWITCHES else _kernel_source(value)
            if source:
                raise ModelError(
                    f"model {name!r} (family {family}): attention is pytorch, but its code "
                    f"{module_name.rsplit('.', 1)[-1]}.py holds {key!r} from {source}, a fused "
                    "attention kernel that glmeval cannot switch off. Fix: uninstall the "
                    "kernel's package (the code then runs its PyTorch attention), or set the "
                    "model's attention: native if that kernel runs here (docs/models.md, Families)."
                )


def _remote_namespaces(model: nn.Module) -> dict[str, dict]:
    """The globals of each remote-code module that defines one of the model's layers."""
    names = {type(m).__module__ for m in model.modules()}
    return {n: vars(sys.modules[n]) for n in sorted(names) if n.startswith(DYNAMIC_MODULES)}


def _kernel_source(value) -> str | None:
    """The module a fused attention kernel comes from, where `value` is one (a module, or a
    function or class from one; `Function.apply` through its class), else None."""
    owner = getattr(value, "__self__", value)
    if isinstance(owner, types.ModuleType):
        origin = owner.__name__
    elif isinstance(owner, (type, types.FunctionType)):
        origin = owner.__module__ or ""
    else:
        return None
    parts = origin.split(".")
    kernel = parts[0] in KERNEL_SOURCES or any(s in parts[-1] for s in KERNEL_SOURCES)
    return origin if kernel else None


def restore_buffers(model: nn.Module, name: str, family: str) -> list[str]:
    """Check every non-persistent buffer and tensor attribute of a loaded model against a
    parameter-free construction of the same model (two, to tell derived values from random
    ones); re-derive those that differ or sit on the meta device. Returns what was re-derived.
    A buffer that cannot be re-derived (random at construction, absent or shaped differently in
    a fresh construction) is a ModelError: computing from uninitialised memory is never done."""
    try:
        with parameters_on_meta():
            fresh = [type(model)(model.config) for _ in range(2)]
    except Exception as err:
        raise explain(name, family, err, "re-deriving its buffers") from err
    restored = []
    for path, tensor, owner, attr in _derived_tensors(model):
        values = [_tensor_at(f, path) for f in fresh]
        if any(v is None or v.shape != tensor.shape or v.device.type == "meta" for v in values):
            if tensor.device.type == "meta" or attr in owner._buffers:
                raise ModelError(
                    f"model {name!r} (family {family}): its buffer {path!r} is left uninitialised "
                    "by transformers 5 and a fresh construction of the model does not build it "
                    "(so it cannot be re-derived). The model's code must initialise it in "
                    "_init_weights, or it must be persistent in the checkpoint."
                )
            continue
        if not torch.equal(values[0], values[1]):
            raise ModelError(
                f"model {name!r} (family {family}): its non-persistent buffer {path!r} is random "
                "at construction, so transformers 5's uninitialised copy cannot be re-derived. "
                "The checkpoint must store it (a persistent buffer)."
            )
        reference = values[0].to(device=tensor.device if tensor.device.type != "meta" else "cpu")
        if tensor.device.type == "meta" or not torch.equal(tensor, reference):
            _set_tensor(owner, attr, reference)
            restored.append(path)
    return restored


def _derived_tensors(model: nn.Module):
    """(path, tensor, owning module, attribute) of non-persistent buffers and plain tensor
    attributes: what a checkpoint does not hold and construction computes."""
    for module_path, module in model.named_modules():
        prefix = f"{module_path}." if module_path else ""
        for attr in sorted(module._non_persistent_buffers_set):
            if module._buffers.get(attr) is not None:
                yield prefix + attr, module._buffers[attr], module, attr
        for attr, value in vars(module).items():
            if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
                yield prefix + attr, value, module, attr


def _tensor_at(model: nn.Module, path: str):
    module_path, _, attr = path.rpartition(".")
    try:
        module = model.get_submodule(module_path)
    except AttributeError:
        return None
    value = module._buffers.get(attr, vars(module).get(attr))
    return value if isinstance(value, torch.Tensor) else None


def _set_tensor(module: nn.Module, attr: str, value: torch.Tensor) -> None:
    if attr in module._buffers:
        module._buffers[attr] = value
    else:
        setattr(module, attr, value)


def explain(name: str, family: str, err: Exception, doing: str) -> ModelError:
    """A ModelError that says why a repository's own code failed under the installed
    transformers, where in that code, and the fix."""
    version = transformers.__version__
    where = _remote_frame(err)
    at = f" at {where}" if where else ""
    message = str(err).splitlines()[0][:300] if str(err) else ""
    if isinstance(err, ImportError) and "requires the following packages" in message:
        missing = message.split(":", 1)[1].split(".")[0].strip().replace(",", "")
        return ModelError(
            f"model {name!r} (family {family}): its code needs the Python package(s) {missing}, "
            f"which are not installed. Fix: pip install {missing}"
        )
    if isinstance(err, ImportError) and "cannot import name" in message:
        symbol = message.split("'")[1] if "'" in message else message
        module = message.split("from '")[1].split("'")[0] if "from '" in message else "?"
        return ModelError(
            f"model {name!r} (family {family}): its code{at} imports {module}.{symbol}, which "
            f"transformers {version} no longer has and glmeval's compatibility layer does not "
            "restore. Fix: add it to LEGACY_SYMBOLS in glmeval/models/compat.py (see "
            "docs/models.md, Remote code under transformers 5)."
        )
    if isinstance(err, AttributeError) and "Config' object has no attribute" in message:
        attr = message.rsplit("'", 2)[-2]
        return ModelError(
            f"model {name!r} (family {family}): its code{at} reads config.{attr}, which "
            f"transformers {version} no longer sets. Fix: give it in the model's YAML, "
            f"config_overrides: {{{attr}: <value>}} (the value transformers 4 used), or add "
            "it to LEGACY_CONFIG_DEFAULTS in glmeval/models/compat.py."
        )
    return ModelError(
        f"model {name!r} (family {family}): its own model code failed{at} while {doing} under "
        f"transformers {version} ({type(err).__name__}: {message}). The checkpoint's files are "
        "not the problem; the code does not run on this transformers. Fix: add what it needs "
        "to glmeval/models/compat.py (docs/models.md, Remote code under transformers 5)."
    )


def from_remote_code(err: Exception) -> bool:
    """Whether an exception was raised inside a repository's own Python code."""
    return _remote_frame(err) is not None


def _remote_frame(err: Exception) -> str | None:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if DYNAMIC_MODULES in f.filename]
    if not frames and isinstance(err, ImportError) and DYNAMIC_MODULES in str(err):
        return DYNAMIC_MODULES
    if not frames:
        return None
    frame = frames[-1]
    return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
