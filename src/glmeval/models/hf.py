"""Every transformers-loadable family (NT v1/v2, DNABERT-2, BERTs, Mistral/Mixtral, HyenaDNA,
Caduceus, GPN) behind one Embedder, loaded offline from a local snapshot directory."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
import transformers
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoTokenizer,
)

from glmeval.models.base import Encoded, TokenizationError, padding_mask
from glmeval.models.families import Family, LayerModules, ModelError

HEADS = {"masked_lm": AutoModelForMaskedLM, "causal_lm": AutoModelForCausalLM}
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TransformersEmbedder:
    """Hidden states of every layer from one forward pass of the model's backbone; LM logits
    from its head when the checkpoint has one."""

    def __init__(self, name: str, path: str, family: Family, model: dict, device: str = "cpu"):
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        self.name = name
        self.device = torch.device(device)
        self.family = family
        remote = family.remote_code == "required" or model.get("remote_code", False)
        options = {"trust_remote_code": remote, "local_files_only": True}
        modules = model.get("layer_modules")
        self.layer_modules = LayerModules(**modules) if modules else family.layer_modules
        self.precision = model.get("precision", family.precision)

        self.tokenizer = _checked_load(name, path, AutoTokenizer.from_pretrained, **options)
        config = _checked_load(name, path, AutoConfig.from_pretrained, **options)
        self.model, self.has_lm_head = _load_model(name, path, config, family, model, options)
        self.model.eval().to(self.device)
        self.backbone = self.model.base_model

        if self.layer_modules:
            self.n_layers = len(_module(self.backbone, self.layer_modules.blocks, name))
        else:
            self.n_layers = _first_attr(config, "num_hidden_layers", "n_layer", "n_layers")
        self.hidden_size = _first_attr(config, "hidden_size", "d_model")
        self.has_cls = family.has_cls and self.tokenizer.cls_token_id is not None
        self.max_tokens = model.get("max_tokens") or _context_length(config, self.tokenizer)
        vocab = self.tokenizer.get_vocab()
        self._check_vocabulary(vocab, path)
        self._lowercase = "a" in vocab and "A" not in vocab
        self._special = np.array(sorted(self.tokenizer.all_special_ids))
        self._pad_id = self.tokenizer.pad_token_id or 0

    def encode(self, seqs: Sequence[str]) -> list[Encoded]:
        texts = [s.lower() for s in seqs] if self._lowercase else list(seqs)
        encoded = []
        for index, ids in enumerate(self.tokenizer(texts)["input_ids"]):
            ids = np.asarray(ids, dtype=np.int64)
            special = np.isin(ids, self._special)
            tokens = self.tokenizer.convert_ids_to_tokens(ids[~special].tolist())
            if "".join(tokens).upper() != seqs[index].upper():
                raise TokenizationError(
                    f"model {self.name!r}: the tokens of sequence {index} do not spell its bases "
                    f"(got {''.join(tokens)[:60]!r}...); the tokenizer does not cover this "
                    "alphabet. Check the sequence characters or the model's tokenizer."
                )
            if self.max_tokens and len(ids) > self.max_tokens:
                raise TokenizationError(
                    f"model {self.name!r}: sequence {index} needs {len(ids)} tokens but the model "
                    f"takes at most {self.max_tokens}. Set models.{self.name}.long_sequences: "
                    "window (with window_bases) to embed it in stitched windows, or shorten the "
                    "task's sequences."
                )
            n_bases = np.zeros(len(ids), np.int32)
            n_bases[~special] = [len(t) for t in tokens]
            encoded.append(Encoded(ids, special, n_bases))
        return encoded

    def hidden_states(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        return self._grouped(batch, self._states, batch_dim=1)

    def logits(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.has_lm_head:
            raise ModelError(f"model {self.name!r}: the checkpoint has no LM head, so no logits.")
        return self._grouped(batch, self._logits, batch_dim=0)

    def _grouped(self, batch, compute, batch_dim: int):
        """`compute` on the batch; for models that see padding (bidirectional, no attention
        mask: GPN, Caduceus), on each group of equal-length sequences, so padding never leaks
        into a sequence's states."""
        mask = padding_mask(batch, self.device)
        if self.family.attention_mask or self.family.head == "causal_lm":
            return compute(batch), mask
        lengths = [len(e) for e in batch]
        out = None
        for length in sorted(set(lengths)):
            rows = [i for i, n in enumerate(lengths) if n == length]
            part = compute([batch[i] for i in rows])
            if out is None:
                shape = list(part.shape)
                shape[batch_dim], shape[batch_dim + 1] = len(batch), mask.shape[1]
                out = part.new_zeros(shape)
            index = torch.tensor(rows, device=part.device)
            out.narrow(batch_dim + 1, 0, length).index_copy_(batch_dim, index, part)
        return out, mask

    def _states(self, batch: list[Encoded]) -> torch.Tensor:
        ids, mask, kwargs = self._inputs(batch)
        with torch.inference_mode(), self._autocast():
            if self.layer_modules:
                states = self._hooked_states(ids, mask, kwargs)
            else:
                states = self.backbone(input_ids=ids, output_hidden_states=True, **kwargs)
                states = states.hidden_states
            states = torch.stack([s.float() for s in states])
        if states.shape[0] != self.n_layers + 1 or states.shape[-1] != self.hidden_size:
            raise ModelError(
                f"model {self.name!r}: expected {self.n_layers + 1} hidden states of width "
                f"{self.hidden_size}, got {states.shape[0]} of width {states.shape[-1]}; the "
                f"family {self.family.name!r} does not match this checkpoint (set "
                "layer_modules in the model's config)."
            )
        return states

    def _logits(self, batch: list[Encoded]) -> torch.Tensor:
        ids, _, kwargs = self._inputs(batch)
        with torch.inference_mode(), self._autocast():
            out = self.model(input_ids=ids, **kwargs)
        return (out.logits if hasattr(out, "logits") else out[0]).float()

    def _inputs(self, batch: list[Encoded]):
        mask = padding_mask(batch, self.device)
        ids = torch.full(mask.shape, self._pad_id, dtype=torch.long)
        for row, enc in enumerate(batch):
            ids[row, : len(enc)] = torch.from_numpy(enc.ids)
        kwargs = {"attention_mask": mask.long()} if self.family.attention_mask else {}
        if self.device.type == "cuda":  # pinned, so the copy overlaps the work queued before it
            ids = ids.pin_memory()
        return ids.to(self.device, non_blocking=True), mask, kwargs

    def _autocast(self):
        if self.device.type == "cuda" and self.precision in AUTOCAST:
            return torch.autocast("cuda", dtype=AUTOCAST[self.precision])
        return contextlib.nullcontext()

    def _hooked_states(self, ids, mask, kwargs) -> list[torch.Tensor]:
        """Layer outputs captured by forward hooks; unpadded (tokens, D) outputs are re-padded."""
        spec = self.layer_modules
        modules = [_module(self.backbone, spec.embeddings, self.name)]
        modules += list(_module(self.backbone, spec.blocks, self.name))
        captured: dict[int, torch.Tensor] = {}

        def keep(index):
            def hook(_module, _inputs, output):
                if isinstance(output, tuple):
                    summed = spec.residual_sum and len(output) > 1 and output[1] is not None
                    output = output[0] + output[1] if summed else output[0]
                captured[index] = output

            return hook

        if spec.final_norm:
            modules.append(_module(self.backbone, spec.final_norm, self.name))
        handles = [m.register_forward_hook(keep(i)) for i, m in enumerate(modules)]
        try:
            self.backbone(input_ids=ids, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
        states = [captured[i] for i in range(len(modules))]
        if spec.final_norm:
            states[-1] = states.pop()  # layer n is the last block after the final norm
        return [_padded(s, mask) for s in states]

    def _check_vocabulary(self, vocab: dict, path: str) -> None:
        try:
            rows = self.model.get_input_embeddings().num_embeddings
        except (NotImplementedError, AttributeError):
            rows = getattr(self.model.config, "vocab_size", None)
        if rows is not None and max(vocab.values()) >= rows:
            raise ModelError(
                f"model {self.name!r}: the tokenizer at {path} has ids up to "
                f"{max(vocab.values())} but the model's vocabulary has {rows} rows; tokenizer "
                "and weights come from different checkpoints. Re-download the snapshot."
            )


def _load_model(name, path, config, family, model, options):
    """(model with its LM head, has_lm_head); the bare backbone where no head class exists."""
    seed = model.get("random_init")
    for auto in (HEADS[family.head], AutoModel):
        try:
            if seed is not None:  # the random_init control: same architecture, fresh weights
                torch.manual_seed(seed)
                remote = options["trust_remote_code"]
                return auto.from_config(config, trust_remote_code=remote), auto is not AutoModel
            loaded, info = auto.from_pretrained(path, output_loading_info=True, **options)
            break
        except ValueError as err:
            if auto is AutoModel or "Unrecognized configuration class" not in str(err):
                raise _load_error(name, path, err) from err
        except Exception as err:  # corrupt files raise anything from pickle to safetensors
            raise _load_error(name, path, err) from err
    with_head = auto is not AutoModel
    prefix = loaded.base_model_prefix + "."
    missing = info["missing_keys"]
    base_missing = [k for k in missing if not with_head or k.startswith(prefix)]
    if base_missing or info.get("mismatched_keys"):
        raise ModelError(
            f"model {name!r}: the weights at {path} do not fit the {type(loaded).__name__} "
            f"architecture (missing {sorted(base_missing)[:5]}, mismatched "
            f"{list(info.get('mismatched_keys', []))[:5]}). Check models.{name}.family and "
            "source, or delete the snapshot directory so it is downloaded again."
        )
    return loaded, with_head and not missing


def _checked_load(name, path, load, **options):
    try:
        return load(path, **options)
    except Exception as err:  # corrupt files raise anything from pickle to safetensors
        raise _load_error(name, path, err) from err


def _load_error(name: str, path: str, err: Exception) -> ModelError:
    return ModelError(
        f"model {name!r}: cannot load the checkpoint at {path} ({type(err).__name__}: "
        f"{str(err).splitlines()[0][:300]}). If it is a downloaded snapshot, delete that "
        "directory and rerun to fetch it again; if it is a local path, check models."
        f"{name}.source.path and models.{name}.family."
    )


def _module(root: torch.nn.Module, dotted: str, name: str):
    try:
        return root.get_submodule(dotted)
    except AttributeError:
        raise ModelError(
            f"model {name!r}: {type(root).__name__} has no module {dotted!r}; set the model's "
            "layer_modules to the paths of its embedding output and its list of blocks."
        ) from None


def _padded(state: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if state.dim() == 3:
        return state
    full = state.new_zeros(*mask.shape, state.shape[-1])  # unpadded (tokens, D) -> (B, T, D)
    full[mask] = state
    return full


def _first_attr(config, *names: str) -> int:
    for attr in names:
        if getattr(config, attr, None) is not None:
            return int(getattr(config, attr))
    raise ModelError(f"the model config has none of {names}; set layer_modules for this model.")


def _context_length(config, tokenizer) -> int | None:
    limit = getattr(config, "max_position_embeddings", None)
    if limit and limit > 0:
        return int(limit)
    limit = tokenizer.model_max_length
    return int(limit) if limit and limit < 1e9 else None
