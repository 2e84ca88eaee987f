"""Every transformers-loadable family (NT v1/v2/v3, DNABERT-2, BERTs, Mistral/Mixtral,
GENERator, HyenaDNA, Caduceus, GPN) behind one Embedder, loaded offline from a local snapshot
directory."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from functools import partial
from pathlib import Path

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
from transformers.dynamic_module_utils import get_class_from_dynamic_module

from glmeval.models import compat
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
        if remote:
            compat.install_legacy_symbols()
        options = {"trust_remote_code": remote, "local_files_only": True}
        modules = model.get("layer_modules")
        self.layer_modules = LayerModules(**modules) if modules else family.layer_modules
        self.precision = model.get("precision", family.precision)

        self.tokenizer = _checked_load(
            name, path, family, partial(_load_tokenizer, name), **options
        )
        config = _checked_load(name, path, family, partial(_load_config, name), **options)
        if remote:
            compat.legacy_config(config)
        for key, value in model.get("config_overrides", {}).items():
            setattr(config, key, value)
        self.model, self.has_lm_head = _load_model(name, path, config, family, model, options)
        self.restored_buffers = compat.restore_buffers(self.model, name, family.name)
        attention = model.get("attention", family.attention)
        compat.select_attention(self.model, attention, name, family.name)
        self.model.eval().to(self.device)
        self.backbone = self.model.base_model
        #: fine-tuning (glmeval.probes.finetune): `hidden_states` gives the last layer only,
        #: with gradients
        self.trainable = False

        #: a U-Net halves the length `downsamples` times: inputs are padded to a multiple of this
        self._multiple = 2 ** getattr(config, family.downsamples) if family.downsamples else 1
        if family.downsamples:
            self.n_layers = 1  # its stem and its output (`_unet_states`)
        elif self.layer_modules:
            self.n_layers = len(_module(self.backbone, self.layer_modules.blocks, name))
        else:
            self.n_layers = _first_attr(config, "num_hidden_layers", "n_layer", "n_layers")
        self.hidden_size = _first_attr(config, "hidden_size", "d_model", "conv_init_embed_dim")
        if getattr(config, "rcps", False):  # Caduceus-PS: forward and reverse-complement halves
            self.hidden_size *= 2
        self.has_cls = family.has_cls and self.tokenizer.cls_token_id is not None
        self.max_tokens = _max_tokens(name, model, config, self.tokenizer, family)
        vocab = self.tokenizer.get_vocab()
        self._check_vocabulary(vocab, path)
        self._case = _case_of(vocab)
        self._unk = _unknown_id(self.tokenizer)
        self._special = np.array(sorted(_special_ids(self.tokenizer) - {self._unk}))
        self._pad_id = self.tokenizer.pad_token_id or 0
        self._n_id = self.tokenizer.convert_tokens_to_ids(self._case("N"))
        self._prepend = _leading_token(name, model, self.tokenizer)

    def encode(self, seqs: Sequence[str]) -> list[Encoded]:
        """Token ids, and which bases each token covers. Sequences are cased as the vocabulary
        is; a base the vocabulary lacks (N in a BPE vocabulary) becomes the unknown token, which
        still covers its bases (from the tokenizer's offsets)."""
        texts = [self._case(s) for s in seqs]
        encoded = []
        for index, ids in enumerate(self.tokenizer(texts)["input_ids"]):
            ids = np.asarray(ids, dtype=np.int64)
            special = np.isin(ids, self._special)
            tokens = self.tokenizer.convert_ids_to_tokens(ids[~special].tolist())
            n_bases = np.zeros(len(ids), np.int32)
            if "".join(tokens).upper() == texts[index].upper():
                n_bases[~special] = [len(t) for t in tokens]
            else:  # unknown tokens, or a tokenizer that alters bases
                n_bases[~special] = self._spans(index, texts[index], tokens, ids, special)
            if self._prepend is not None:
                ids, special = np.r_[self._prepend, ids], np.r_[True, special]
                n_bases = np.r_[0, n_bases].astype(np.int32)
            if len(ids) % self._multiple:  # N up to the U-Net's multiple: carries no base
                extra = self._multiple - len(ids) % self._multiple
                ids = np.r_[ids, np.full(extra, self._n_id)]
                special = np.r_[special, np.ones(extra, bool)]
                n_bases = np.r_[n_bases, np.zeros(extra, np.int32)]
            if self.max_tokens and len(ids) > self.max_tokens:
                raise TokenizationError(
                    f"model {self.name!r}: sequence {index} needs {len(ids)} tokens but the model "
                    f"takes at most {self.max_tokens}. Set models.{self.name}.long_sequences: "
                    "window (with window_bases) to embed it in stitched windows, or shorten the "
                    "task's sequences."
                )
            encoded.append(Encoded(ids, special, n_bases))
        return encoded

    def _spans(self, index, text, tokens, ids, special) -> list[int]:
        """Bases per content token (`tokens`, the non-`special` of `ids`) from the tokenizer's
        character offsets (a slow tokenizer: its own pieces before they become ids, e.g. a
        k-mer tokenizer's unknown remainder), provided they tile the sequence and every known
        token spells its bases."""
        ids = ids[~special]
        if self.tokenizer.is_fast:
            offsets = self.tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
            spans = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)[~special]
        else:
            lengths = np.array([len(p) for p in self.tokenizer.tokenize(text)], dtype=np.int64)
            if len(lengths) != len(ids):
                self._not_spelled(index, "".join(tokens))
            spans = np.stack([np.cumsum(lengths) - lengths, np.cumsum(lengths)], axis=1)
        starts, ends = spans[:, 0], spans[:, 1]
        tiled = len(spans) > 0 and starts[0] == 0
        tiled = tiled and ends[-1] == len(text) and (starts[1:] == ends[:-1]).all()
        tiled = tiled and (ends > starts).all()
        spelled = tiled and all(
            token.upper() == text[start:end].upper()
            for token, start, end, known in zip(tokens, starts, ends, ids != self._unk)
            if known
        )
        if not spelled:
            self._not_spelled(index, "".join(tokens))
        return (ends - starts).tolist()

    def _not_spelled(self, index: int, spelled: str):
        raise TokenizationError(
            f"model {self.name!r}: the tokens of sequence {index} do not spell its bases "
            f"(got {spelled[:60]!r}...); the tokenizer does not cover this alphabet. Check the "
            "sequence characters or the model's tokenizer."
        )

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
        grad = contextlib.nullcontext() if self.trainable else torch.inference_mode()
        with grad, self._autocast():
            if self.family.downsamples:
                states = self._unet_states(ids, kwargs)
            elif self.layer_modules:
                states = self._hooked_states(ids, mask, kwargs)
            else:
                states = self.backbone(input_ids=ids, output_hidden_states=True, **kwargs)
                states = states.hidden_states
            n_states = len(states)
            kept = states[-1:] if self.trainable else states
            states = torch.stack([s.float() for s in kept])
        if n_states != self.n_layers + 1 or states.shape[-1] != self.hidden_size:
            raise ModelError(
                f"model {self.name!r}: expected {self.n_layers + 1} hidden states of width "
                f"{self.hidden_size}, got {n_states} of width {states.shape[-1]}; the "
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

    def _unet_states(self, ids, kwargs) -> list[torch.Tensor]:
        """A U-Net's per-base layers (NT v3): 0 is the stem's output (token embeddings and one
        convolution), 1 the last upsampling block's after its skip connection (the model's last
        hidden state). The states between run at 2..2**k bases per position, at other widths."""
        captured = []
        stem = _module(self.backbone, "core.stem", self.name)
        handle = stem.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            out = self.backbone(input_ids=ids, output_hidden_states=True, **kwargs)
        finally:
            handle.remove()
        return [captured[0].transpose(1, 2), out.hidden_states[-1]]

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
        if rows is not None and len(vocab) < rows / 2 and rows - len(vocab) >= 128:
            raise ModelError(
                f"model {self.name!r}: the tokenizer at {path} has {len(vocab)} tokens but the "
                f"model's vocabulary has {rows} rows, most of which no token reaches; tokenizer "
                "and weights come from different checkpoints. Re-download the snapshot, or put "
                "the checkpoint's own tokenizer files beside its weights."
            )


def _load_model(name, path, config, family, model, options):
    """(model with its LM head, has_lm_head); the bare backbone where no head class exists.
    Remote code is loaded only through the classes its own `auto_map` names."""
    seed = model.get("random_init")
    if options["trust_remote_code"] and getattr(config, "auto_map", None):
        model_class = _remote_class(name, path, config, family)
        try:
            if seed is not None:  # the random_init control: same architecture, fresh weights
                torch.manual_seed(seed)
                fresh = model_class(config)
                return fresh, _has_head(fresh)
            with compat.real_buffers(model_class):
                loaded, info = model_class.from_pretrained(
                    path, config=config, output_loading_info=True, local_files_only=True
                )
        except Exception as err:
            raise _load_error(name, path, family, err) from err
        return _checked_weights(name, path, loaded, info, _has_head(loaded))
    for auto in (HEADS[family.head], AutoModel):
        try:
            if seed is not None:
                torch.manual_seed(seed)
                return auto.from_config(config), auto is not AutoModel
            loaded, info = auto.from_pretrained(
                path, config=config, output_loading_info=True, **options
            )
            break
        except ValueError as err:
            if auto is AutoModel or "Unrecognized configuration class" not in str(err):
                raise _load_error(name, path, family, err) from err
        except Exception as err:  # corrupt files raise anything from pickle to safetensors
            raise _load_error(name, path, family, err) from err
    return _checked_weights(name, path, loaded, info, auto is not AutoModel)


def _remote_class(name, path, config, family):
    """The class the checkpoint's `auto_map` gives for the family's head, or else for AutoModel
    (GENA-LM maps its masked LM there). Never a transformers-native class: where `auto_map`
    lacks AutoModel, `AutoModel` would silently pick the native class of the config's
    model_type (NT v2's `esm`, whose feed-forward does not fit the checkpoint)."""
    auto_map = config.auto_map
    head = HEADS[family.head].__name__
    for key in (head, "AutoModel"):
        if key in auto_map:
            try:
                return _snapshot_class(name, auto_map[key], path)
            except ModelError:
                raise
            except Exception as err:
                raise _load_error(name, path, family, err) from err
    raise ModelError(
        f"model {name!r} (family {family.name}): the auto_map in {path}/config.json names "
        f"{sorted(auto_map)} but neither {head} nor AutoModel, so its own model code cannot be "
        f"loaded. Check models.{name}.family (a {family.head} family) and the checkpoint."
    )


def _has_head(model) -> bool:
    """A head model wraps its base model (`base_model` is a submodule, not itself), or is one
    with an output layer of its own (NT v3)."""
    return model.base_model is not model or model.get_output_embeddings() is not None


def _auto_reference(path: str, file: str, key: str) -> str | None:
    """The class reference `key` of the auto_map in `path/file`, if any (a tokenizer's is a
    [slow, fast] pair: the fast one where there is one)."""
    record = Path(path) / file
    auto_map = json.loads(record.read_text()).get("auto_map", {}) if record.exists() else {}
    reference = auto_map.get(key)
    if isinstance(reference, list):
        reference = reference[1] or reference[0]
    return reference


def _snapshot_class(name: str, reference: str, path: str):
    """The class an auto_map `reference` names, from the snapshot's own files. A reference into
    another repository (`org/code--module.Class`, as NT v3's config names its code) resolves to
    the copy that `resolve_model` put beside the weights (`source.code_revision`)."""
    if "--" in reference:
        repo, reference = reference.split("--")
        if not (Path(path) / f"{reference.split('.')[0]}.py").exists():
            raise ModelError(
                f"model {name!r}: the checkpoint at {path} runs code from another repository, "
                f"{repo} ({reference}), and no copy of it is beside the weights. Give "
                f"models.{name}.source.code_revision (a commit of {repo}) and resolve the model "
                "again (delete the snapshot directory and rerun snakemake models)."
            )
    return get_class_from_dynamic_module(reference, path, local_files_only=True)


def _load_tokenizer(name: str, path: str, trust_remote_code: bool, local_files_only: bool):
    """AutoTokenizer's tokenizer; a repository's own tokenizer class (from the snapshot's files)
    is built with transformers 4's order of initialisation (`compat.tokenizer_state_first`)."""
    reference = trust_remote_code and _auto_reference(
        path, "tokenizer_config.json", "AutoTokenizer"
    )
    if not reference:
        return AutoTokenizer.from_pretrained(
            path, trust_remote_code=trust_remote_code, local_files_only=local_files_only
        )
    tokenizer_class = _snapshot_class(name, reference, path)
    with compat.tokenizer_state_first(tokenizer_class):
        return tokenizer_class.from_pretrained(path, local_files_only=local_files_only)


def _load_config(name: str, path: str, trust_remote_code: bool, local_files_only: bool):
    """AutoConfig's config; a repository's own config class from the snapshot's files."""
    reference = trust_remote_code and _auto_reference(path, "config.json", "AutoConfig")
    if not reference:
        return AutoConfig.from_pretrained(
            path, trust_remote_code=trust_remote_code, local_files_only=local_files_only
        )
    return _snapshot_class(name, reference, path).from_pretrained(
        path, local_files_only=local_files_only
    )


def _checked_weights(name, path, loaded, info, with_head):
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


def _checked_load(name, path, family, load, **options):
    try:
        return load(path, **options)
    except ModelError:
        raise
    except Exception as err:  # corrupt files raise anything from pickle to safetensors
        raise _load_error(name, path, family, err) from err


def _load_error(name: str, path: str, family: Family, err: Exception) -> ModelError:
    """Code that does not run on this transformers says so (and what it needs); anything else
    is a missing or corrupt checkpoint."""
    if compat.from_remote_code(err) or isinstance(err, ImportError):
        return compat.explain(name, family.name, err, "loading")
    return ModelError(
        f"model {name!r}: cannot load the checkpoint at {path} ({type(err).__name__}: "
        f"{str(err).splitlines()[0][:300] if str(err) else ''}). If it is a downloaded "
        "snapshot, delete that directory and rerun to fetch it again; if it is a local path, "
        f"check models.{name}.source.path and models.{name}.family."
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


def _max_tokens(name: str, model: dict, config, tokenizer, family: Family) -> int | None:
    """The longest input in tokens: the smaller of the tokenizer's and the model's own limit;
    a configured max_tokens may only lower it."""
    limits = [_model_context(config, family)]
    tokenizer_limit = tokenizer.model_max_length
    limits.append(int(tokenizer_limit) if tokenizer_limit and tokenizer_limit < 1e9 else None)
    known = [limit for limit in limits if limit]
    limit = min(known) if known else None
    wanted = model.get("max_tokens")
    if wanted and limit and wanted > limit:
        raise ModelError(
            f"models.{name}.max_tokens is {wanted}, but the model takes at most {limit} tokens "
            f"(the model's own limit {limits[0]}, its tokenizer's {limits[1]}). Set max_tokens: "
            f"{limit} or less."
        )
    return wanted or limit


def _model_context(config, family: Family) -> int | None:
    if family.context == "unlimited":
        return None
    if family.context == "max_seq_len":
        return getattr(config, "max_seq_len", None)
    limit = getattr(config, "max_position_embeddings", None)
    if not limit or limit <= 0:
        return None
    kind = getattr(config, "position_embedding_type", "absolute")
    if config.model_type == "esm":  # positions count from padding_idx + 1 (fairseq)
        return int(limit) - (config.pad_token_id or 0) - 1 if kind == "absolute" else None
    return int(limit)


def _case_of(vocab: dict):
    """Upper- or lower-case sequences as the vocabulary spells bases (single bases or k-mers);
    as given where it has both or neither."""
    upper = any(token and set(token) <= set("ACGTN") for token in vocab)
    lower = any(token and set(token) <= set("acgtn") for token in vocab)
    if upper and not lower:
        return str.upper
    if lower and not upper:
        return str.lower
    return str


def _unknown_id(tokenizer) -> int | None:
    """The unknown token's id; where the tokenizer's files do not name it (GROVER's), that of
    its tokenizers model."""
    if tokenizer.unk_token_id is not None:
        return tokenizer.unk_token_id
    model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    unk = getattr(model, "unk_token", None)
    return tokenizer.backend_tokenizer.token_to_id(unk) if unk else None


def _special_ids(tokenizer) -> set[int]:
    """Ids of the tokenizer's special tokens: those it names and every added token marked
    special (GROVER's files name no [SEP], which its template still adds)."""
    added = tokenizer.added_tokens_decoder.items()
    return set(tokenizer.all_special_ids) | {i for i, token in added if token.special}


def _leading_token(name: str, model: dict, tokenizer) -> int | None:
    """The CLS id to put before every sequence (`prepend_cls`), or None."""
    if not model.get("prepend_cls"):
        return None
    cls = tokenizer.cls_token_id
    if cls is None:
        raise ModelError(f"models.{name}.prepend_cls: the model's tokenizer has no CLS token.")
    if tokenizer("A")["input_ids"][:1] == [cls]:
        raise ModelError(
            f"models.{name}.prepend_cls: the tokenizer already starts every sequence with its "
            "CLS token; remove prepend_cls."
        )
    return cls
