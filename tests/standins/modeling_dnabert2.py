"""A DNABERT-2-shaped remote-code model (the structure of `zhihan1996/DNABERT-2-117M`'s
bert_layers.py, written anew), including what breaks it under transformers 5:

- it imports `einops`, a package transformers checks for before importing the file;
- its config class sets only its own keys, while the model reads `config.is_decoder` and
  `config.pad_token_id`, defaults that transformers 4's `PretrainedConfig` set and 5 does not;
- its ALiBi biases are a plain tensor attribute built in `__init__` from `torch.arange` and a
  `torch.Tensor(list)`: under transformers 5's meta-device construction that mixes a meta and
  a CPU tensor and raises;
- a non-persistent `token_type_ids` buffer (transformers 5 leaves it uninitialised);
- its encoder works on unpadded (tokens, D) states and returns a list of them per layer; the
  forward returns a tuple and ignores `output_hidden_states`;
- its attention takes the Triton kernel of a sibling `flash_attn_triton.py`, imported inside a
  try (None where it fails: upstream, where triton is missing), whenever that import worked and
  attention dropout is 0, as in the hub config; only otherwise its PyTorch attention. The
  stand-in kernel (flash_attn_triton.py) fails as the real one does under today's triton.
"""

import math

import torch
from einops import rearrange
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput

try:
    from .flash_attn_triton import flash_attn_qkvpacked_func
except ImportError:
    flash_attn_qkvpacked_func = None


class StandinBertConfig(PretrainedConfig):
    def __init__(self, alibi_starting_size=None, **kwargs):
        super().__init__(**kwargs)
        if alibi_starting_size is not None:  # no default: a config.json without it fails
            self.alibi_starting_size = alibi_starting_size


class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(2, d)
        self.LayerNorm = nn.LayerNorm(d)
        self.register_buffer(
            "token_type_ids",
            torch.zeros(config.max_position_embeddings, dtype=torch.long),
            persistent=False,
        )

    def forward(self, input_ids, token_type_ids=None):
        if token_type_ids is None:
            token_type_ids = self.token_type_ids[: input_ids.shape[1]].expand_as(input_ids)
        embedded = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(embedded)


class UnpaddedLayer(nn.Module):
    """Post-norm attention + gated-GELU feed-forward on unpadded (tokens, D) states."""

    def __init__(self, config):
        super().__init__()
        d, inner = config.hidden_size, config.intermediate_size
        self.heads = config.num_attention_heads
        self.p_dropout = config.attention_probs_dropout_prob
        self.Wqkv, self.dense = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.gated_layers, self.wo = nn.Linear(d, 2 * inner, bias=False), nn.Linear(inner, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, x, keep, bias):
        batch, length = keep.shape
        qkv = x.new_zeros(batch, length, x.shape[-1] * 3)
        qkv[keep] = self.Wqkv(x)
        if self.p_dropout or flash_attn_qkvpacked_func is None:  # PyTorch attention
            q, k, v = rearrange(qkv, "b s (t h d) -> t b h s d", t=3, h=self.heads)
            scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias
            attended = rearrange(scores.softmax(-1) @ v, "b h s d -> b s (h d)")[keep]
        else:  # the Triton kernel, in half precision
            packed = rearrange(qkv, "b s (t h d) -> b s t h d", t=3, h=self.heads)
            attended = flash_attn_qkvpacked_func(packed.half(), bias.half())
            attended = rearrange(attended.to(x.dtype), "b s h d -> b s (h d)")[keep]
        x = self.norm1(x + self.dense(attended))
        gated, linear = self.gated_layers(x).chunk(2, dim=-1)
        return self.norm2(x + self.wo(nn.functional.gelu(gated) * linear))


class Encoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(UnpaddedLayer(config) for _ in range(config.num_hidden_layers))
        self.num_attention_heads = config.num_attention_heads
        self.rebuild_alibi_tensor(config.alibi_starting_size)

    def rebuild_alibi_tensor(self, size, device=None):
        positions = torch.arange(size, device=device)
        distance = (positions[None, :] - positions[:, None]).abs()
        n = self.num_attention_heads
        slopes = torch.Tensor([2 ** (-8 * (h + 1) / n) for h in range(n)]).to(device)
        self.alibi = (slopes[:, None, None] * -distance)[None]

    def forward(self, hidden, attention_mask):
        keep = attention_mask.bool()
        length = keep.shape[1]
        if self.alibi.shape[-1] < length:
            self.rebuild_alibi_tensor(length, hidden.device)
        padding = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        bias = self.alibi[:, :, :length, :length].to(hidden.device) + padding
        x, layers = hidden[keep], []
        for layer in self.layer:
            x = layer(x, keep, bias)
            layers.append(x)
        return layers


class StandinBertModel(PreTrainedModel):
    config_class = StandinBertConfig

    def __init__(self, config):
        super().__init__(config)
        if config.is_decoder:
            raise ValueError("an encoder only")
        self.embeddings, self.encoder = Embeddings(config), Encoder(config)
        self.post_init()

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        layers = self.encoder(self.embeddings(input_ids, token_type_ids), attention_mask)
        last = layers[-1].new_zeros(*input_ids.shape, layers[-1].shape[-1])
        last[attention_mask.bool()] = layers[-1]
        return last, None


class StandinBertForMaskedLM(PreTrainedModel):
    config_class = StandinBertConfig
    base_model_prefix = "bert"

    def __init__(self, config):
        super().__init__(config)
        self.bert = StandinBertModel(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def get_input_embeddings(self):
        return self.bert.embeddings.word_embeddings

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        return MaskedLMOutput(logits=self.decoder(self.bert(input_ids, None, attention_mask)[0]))
