"""A Nucleotide-Transformer-v3-shaped remote-code model (the structure of
`InstaDeepAI/ntv3_base_model`'s configuration_ntv3_pretrained.py and modeling_ntv3_pretrained.py,
which the `InstaDeepAI/NTv3_*_pre` checkpoints name in their auto_map; written anew, config and
model in one file):

- `Ntv3PreTrainedConfig` (`model_type: ntv3`): alphabet_size, num_downsamples, token_embed_dim,
  conv_init_embed_dim, embed_dim, ffn_embed_dim, num_layers, attention_heads, key_size,
  use_skip_connection; the channel widths of the towers are `filter_list`, from
  conv_init_embed_dim to embed_dim;
- `NTv3PreTrained` is the whole model (`base_model_prefix: ntv3`, no such submodule): its `core`
  holds `embed_layer`, `stem` (a width-15 convolution), `conv_tower_blocks` (convolutions, each
  followed by average pooling that halves the length), `transformer_blocks` (pre-norm rotary
  attention, GLU feed-forward; a persistent `inv_freq` buffer), `deconv_tower_blocks` (repeat
  each position twice, convolve, add the skip connection of the same length) and `lm_head`;
- no attention mask is used; a length not a multiple of 2**num_downsamples is pooled down with
  its remainder dropped, so the first skip connection of a different length fails
  (RuntimeError: the size of tensor a must match the size of tensor b);
- `output_hidden_states` returns, without the stem, each downsampling block's output before its
  pooling, each transformer block's, and each upsampling block's after its skip connection: at
  lengths L, L/2, ..., L/2**k and back, and at the towers' widths.
"""

from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput


class Ntv3PreTrainedConfig(PretrainedConfig):
    model_type = "ntv3"

    def __init__(
        self,
        alphabet_size=11,
        pad_token_id=1,
        mask_token_id=2,
        num_downsamples=2,
        attention_heads=2,
        key_size=8,
        token_embed_dim=8,
        conv_init_embed_dim=16,
        embed_dim=24,
        ffn_embed_dim=32,
        num_layers=2,
        layer_norm_eps=1e-5,
        use_skip_connection=True,
        **kwargs,
    ):
        kwargs["tie_word_embeddings"] = False  # embeddings and output layer differ in width
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.alphabet_size, self.mask_token_id = alphabet_size, mask_token_id
        self.num_downsamples, self.num_layers = num_downsamples, num_layers
        self.attention_heads, self.key_size = attention_heads, key_size
        self.token_embed_dim, self.conv_init_embed_dim = token_embed_dim, conv_init_embed_dim
        self.embed_dim, self.ffn_embed_dim = embed_dim, ffn_embed_dim
        self.layer_norm_eps, self.use_skip_connection = layer_norm_eps, use_skip_connection

    @property
    def filter_list(self):
        widths = np.linspace(self.conv_init_embed_dim, self.embed_dim, self.num_downsamples + 1)
        return [int(w) for w in widths]


def _channels_last(norm, x):
    return norm(x.transpose(1, 2)).transpose(1, 2)


class ConvBlock(nn.Module):
    """Layer norm over channels, a same-length convolution, GELU; (B, C, L) in and out."""

    def __init__(self, dim_in, dim_out, kernel_size):
        super().__init__()
        self.layer_norm = nn.LayerNorm(dim_in)
        self.conv = nn.Conv1d(dim_in, dim_out, kernel_size, padding="same")

    def forward(self, x):
        return F.gelu(self.conv(_channels_last(self.layer_norm, x)), approximate="tanh")


class ConvTowerBlock(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.conv = ConvBlock(dim_in, dim_out, 5)
        self.res_conv = ConvBlock(dim_out, dim_out, 1)
        self.avg_pool = nn.AvgPool1d(2, 2)


class DeconvTowerBlock(nn.Module):
    """Each position repeated twice, then a convolution and a residual one."""

    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.conv = ConvBlock(dim_in, dim_out, 5)
        self.res_conv = ConvBlock(dim_out, dim_out, 1)

    def forward(self, x):
        x = self.conv(torch.repeat_interleave(x, 2, dim=-1))
        return x + self.res_conv(x)


class RotaryEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / 10000 ** (torch.arange(0, dim, 2).float() / dim))

    def forward(self, x):  # (B, L, H, D)
        angles = torch.outer(torch.arange(x.shape[1], device=x.device).float(), self.inv_freq)
        cos, sin = angles.cos()[None, :, None], angles.sin()[None, :, None]
        first, second = x.chunk(2, dim=-1)
        return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)


class SelfAttentionBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        d, self.heads, self.key_size = config.embed_dim, config.attention_heads, config.key_size
        inner = self.heads * self.key_size
        self.self_attention_layer_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.final_layer_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.query, self.key, self.value = (nn.Linear(d, inner) for _ in range(3))
        self.mha_output = nn.Linear(inner, d)
        self.rotary = RotaryEmbedding(self.key_size)
        self.fc1 = nn.Linear(d, 2 * config.ffn_embed_dim, bias=False)
        self.fc2 = nn.Linear(config.ffn_embed_dim, d, bias=False)

    def forward(self, x):
        batch, length, _ = x.shape
        y = self.self_attention_layer_norm(x)
        q, k, v = (
            p(y).view(batch, length, self.heads, self.key_size)
            for p in (self.query, self.key, self.value)
        )
        q, k = self.rotary(q).transpose(1, 2), self.rotary(k).transpose(1, 2)
        probs = (q @ k.transpose(-1, -2) / self.key_size**0.5).softmax(-1)
        x = x + self.mha_output((probs @ v.transpose(1, 2)).transpose(1, 2).flatten(2))
        gate, linear = self.fc1(self.final_layer_norm(x)).chunk(2, dim=-1)
        return x + self.fc2(F.silu(gate) * linear)


class Stem(nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.conv = nn.Conv1d(dim_in, dim_out, 15, padding="same")

    def forward(self, x):
        return F.gelu(self.conv(x), approximate="tanh")


class Core(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        widths = config.filter_list
        self.embed_layer = nn.Embedding(config.alphabet_size, config.token_embed_dim)
        self.stem = Stem(config.token_embed_dim, config.conv_init_embed_dim)
        self.conv_tower_blocks = nn.ModuleList(ConvTowerBlock(a, b) for a, b in pairwise(widths))
        self.transformer_blocks = nn.ModuleList(
            SelfAttentionBlock(config) for _ in range(config.num_layers)
        )
        self.deconv_tower_blocks = nn.ModuleList(
            DeconvTowerBlock(a, b) for a, b in pairwise(widths[::-1])
        )
        self.lm_head = nn.ModuleDict(
            {
                "hidden_layers": nn.ModuleList(),
                "head": nn.Linear(config.conv_init_embed_dim, config.alphabet_size),
            }
        )

    def forward(self, input_ids, output_hidden_states=False):
        hidden = []
        x = self.stem(self.embed_layer(input_ids).transpose(1, 2))
        residuals = []
        for block in self.conv_tower_blocks:
            residuals.append(x)
            y = block.conv(x)
            y = y + block.res_conv(y)
            hidden.append(y.transpose(1, 2))
            x = block.avg_pool(y)
        x = x.transpose(1, 2)
        for block in self.transformer_blocks:
            x = block(x)
            hidden.append(x)
        x = x.transpose(1, 2)
        for block, residual in zip(self.deconv_tower_blocks, reversed(residuals)):
            x = block(x)
            if self.config.use_skip_connection:
                x = x + residual
            hidden.append(x.transpose(1, 2))
        logits = self.lm_head["head"](F.gelu(x.transpose(1, 2), approximate="tanh"))
        return {"logits": logits, "hidden_states": hidden if output_hidden_states else None}


class NTv3PreTrained(PreTrainedModel):
    config_class = Ntv3PreTrainedConfig
    base_model_prefix = "ntv3"

    def __init__(self, config):
        super().__init__(config)
        self.core = Core(config)
        self.post_init()

    def tie_weights(self, **kwargs):
        return

    def get_input_embeddings(self):
        return self.core.embed_layer

    def get_output_embeddings(self):
        return self.core.lm_head["head"]

    def forward(self, input_ids=None, attention_mask=None, output_hidden_states=None, **kwargs):
        out = self.core(input_ids, output_hidden_states=bool(output_hidden_states))
        states = out["hidden_states"]
        return MaskedLMOutput(logits=out["logits"], hidden_states=tuple(states) if states else None)
