"""Transformers-backed language models: masked LMs (ESM / Nucleotide Transformer, BERTs) and
causal LMs (Mistral/Mixtral-style DNA LMs), loaded from a local snapshot directory."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModel, AutoTokenizer

from glmeval.models.base import Encoded, TokenizationError, padding_mask


class HFEmbedder:
    """Hidden states of every layer from the model's backbone, one forward pass per batch."""

    def __init__(
        self,
        name: str,
        path: str,
        has_cls: bool,
        max_tokens: int | None = None,
        device: str = "cpu",
    ):
        transformers.logging.set_verbosity_error()
        self.name = name
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        config = AutoConfig.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval().to(self.device)
        self.n_layers = config.num_hidden_layers
        self.hidden_size = config.hidden_size
        self.has_cls = has_cls and self.tokenizer.cls_token_id is not None
        self.max_tokens = max_tokens or getattr(config, "max_position_embeddings", None)
        self._special = np.array(sorted(self.tokenizer.all_special_ids))
        self._pad_id = self.tokenizer.pad_token_id or 0

    def encode(self, seqs: Sequence[str]) -> list[Encoded]:
        encoded = []
        for index, ids in enumerate(self.tokenizer(list(seqs))["input_ids"]):
            ids = np.asarray(ids, dtype=np.int64)
            special = np.isin(ids, self._special)
            tokens = self.tokenizer.convert_ids_to_tokens(ids[~special].tolist())
            if "".join(tokens).upper() != seqs[index]:
                raise TokenizationError(
                    f"model {self.name!r}: the tokens of sequence {index} do not spell its bases "
                    f"(got {''.join(tokens)[:60]!r}...); the tokenizer does not cover this "
                    "alphabet. Check the sequence characters or the model's tokenizer."
                )
            if self.max_tokens and len(ids) > self.max_tokens:
                raise TokenizationError(
                    f"model {self.name!r}: sequence {index} needs {len(ids)} tokens but the model "
                    f"takes at most {self.max_tokens}. Shorten the task's sequences or raise "
                    f"models.{self.name}.max_tokens if the model allows it."
                )
            n_bases = np.zeros(len(ids), np.int32)
            n_bases[~special] = [len(t) for t in tokens]
            encoded.append(Encoded(ids, special, n_bases))
        return encoded

    def hidden_states(self, batch: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor]:
        mask = padding_mask(batch, self.device)
        ids = torch.full(mask.shape, self._pad_id, dtype=torch.long)
        for row, enc in enumerate(batch):
            ids[row, : len(enc)] = torch.from_numpy(enc.ids)
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if self.device.type == "cuda"
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            out = self.model(
                input_ids=ids.to(self.device),
                attention_mask=mask.long(),
                output_hidden_states=True,
            )
        return torch.stack(out.hidden_states).float(), mask
