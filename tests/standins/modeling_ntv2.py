"""A Nucleotide-Transformer-v2-shaped remote-code model (the structure of
`InstaDeepAI/nucleotide-transformer-v2-*`'s esm_config.py and modeling_esm.py, written anew),
including what breaks it under transformers 5:

- it imports `find_pruneable_heads_and_indices` and `prune_linear_layer` from
  `transformers.modeling_utils`, which transformers 5 removed;
- its config's `model_type` is `esm` and its `auto_map` has no `AutoModel`, so transformers'
  `AutoModel` would take the native ESM class, whose feed-forward does not fit these weights
  (SwiGLU without biases: `add_bias_fnn: false`);
- it calls `self.init_weights()` instead of `post_init()`, and `get_extended_attention_mask` /
  `get_head_mask`, methods transformers 5 removed;
- rotary embeddings with a non-persistent `inv_freq` buffer and a non-persistent `position_ids`
  buffer, which transformers 5 leaves uninitialised (`random_buffer` adds one that is random at
  construction, which cannot be re-derived);
- hidden states as ESM returns them: the embedding output, then every layer, the last after the
  final layer norm.
"""

import torch
from torch import nn
from transformers import PretrainedConfig
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput
from transformers.modeling_utils import (
    PreTrainedModel,
    find_pruneable_heads_and_indices,  # noqa: F401  (imported, as the upstream file does)
    prune_linear_layer,  # noqa: F401
)


class EsmConfig(PretrainedConfig):
    model_type = "esm"

    def __init__(
        self,
        vocab_size=4107,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=2050,
        position_embedding_type="rotary",
        add_bias_fnn=False,
        layer_norm_eps=1e-12,
        random_buffer=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.num_hidden_layers, self.num_attention_heads = num_hidden_layers, num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.position_embedding_type, self.add_bias_fnn = position_embedding_type, add_bias_fnn
        self.layer_norm_eps, self.random_buffer = layer_norm_eps, random_buffer


class Rotary(nn.Module):
    def __init__(self, dim):
        super().__init__()
        inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x):
        angles = torch.outer(torch.arange(x.shape[-2], device=x.device).float(), self.inv_freq)
        cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
        first, second = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-second, first], -1) * sin


class Layer(nn.Module):
    """Pre-norm rotary self-attention, then a pre-norm SwiGLU feed-forward."""

    def __init__(self, config):
        super().__init__()
        d, bias = config.hidden_size, config.add_bias_fnn
        self.heads = config.num_attention_heads
        self.query, self.key, self.value = (nn.Linear(d, d) for _ in range(3))
        self.output = nn.Linear(d, d)
        self.rotary = Rotary(d // self.heads)
        self.intermediate = nn.Linear(d, 2 * config.intermediate_size, bias=bias)
        self.ffn_output = nn.Linear(config.intermediate_size, d, bias=bias)
        self.attention_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.ffn_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)

    def forward(self, x, bias, head_mask=None):
        batch, length, d = x.shape
        y = self.attention_norm(x)
        q, k, v = (
            p(y).view(batch, length, self.heads, -1).transpose(1, 2)
            for p in (self.query, self.key, self.value)
        )
        q = self.rotary(q * q.shape[-1] ** -0.5)
        probs = (q @ self.rotary(k).transpose(-1, -2) + bias).softmax(-1)
        if head_mask is not None:
            probs = probs * head_mask
        x = x + self.output((probs @ v).transpose(1, 2).reshape(batch, length, d))
        gate, linear = self.intermediate(self.ffn_norm(x)).chunk(2, dim=-1)
        return x + self.ffn_output(nn.functional.silu(gate) * linear)


class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.register_buffer(
            "position_ids",
            torch.arange(config.max_position_embeddings).expand((1, -1)),
            persistent=False,
        )
        if config.random_buffer:
            self.register_buffer("projection", torch.randn(4), persistent=False)

    def forward(self, input_ids, attention_mask):
        return self.word_embeddings(input_ids) * attention_mask[..., None]


class StandinEsmPreTrainedModel(PreTrainedModel):
    config_class = EsmConfig
    base_model_prefix = "esm"

    def _init_weights(self, module):
        if isinstance(module, nn.Linear | nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
        if isinstance(module, nn.LayerNorm):
            module.weight.data.fill_(1.0)
            module.bias.data.zero_()


class StandinEsmModel(StandinEsmPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embeddings = Embeddings(config)
        self.layer = nn.ModuleList(Layer(config) for _ in range(config.num_hidden_layers))
        self.emb_layer_norm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, head_mask=None, output_hidden_states=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        bias = self.get_extended_attention_mask(attention_mask, input_ids.shape)
        head_mask = self.get_head_mask(head_mask, self.config.num_hidden_layers)
        x = self.embeddings(input_ids, attention_mask)
        states = [x]
        for layer, heads in zip(self.layer, head_mask):
            x = layer(x, bias, heads)
            states.append(x)
        states[-1] = x = self.emb_layer_norm_after(x)
        return BaseModelOutput(
            last_hidden_state=x, hidden_states=tuple(states) if output_hidden_states else None
        )


class StandinEsmForMaskedLM(StandinEsmPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.esm = StandinEsmModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)
        self.init_weights()

    def get_input_embeddings(self):
        return self.esm.embeddings.word_embeddings

    def forward(self, input_ids=None, attention_mask=None, output_hidden_states=None, **kwargs):
        out = self.esm(input_ids, attention_mask, output_hidden_states=output_hidden_states)
        return MaskedLMOutput(logits=self.lm_head(out[0]), hidden_states=out.hidden_states)
