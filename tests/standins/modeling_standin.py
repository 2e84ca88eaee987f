"""Remote-code stand-ins shaped like DNABERT-2 and HyenaDNA, for adapter tests (no weights or
code of those models can be downloaded offline). They reproduce what the adapters depend on:

- `StandinBertForMaskedLM` (DNABERT-2): base model `bert` with `embeddings` and
  `encoder.layer`, blocks that work on *unpadded* (tokens, D) states, and a forward that
  returns a tuple and ignores `output_hidden_states`;
- `StandinHyenaForCausalLM` (HyenaDNA): base model `hyena` with `backbone.embeddings`,
  `backbone.layers` (causal convolutions), `backbone.ln_f`, and no attention-mask argument.
"""

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput, MaskedLMOutput


class StandinConfig(PretrainedConfig):
    model_type = "glmeval_standin"

    def __init__(self, vocab_size=16, hidden_size=16, n_layer=2, **kwargs):
        self.vocab_size, self.hidden_size, self.n_layer = vocab_size, hidden_size, n_layer
        super().__init__(**kwargs)


class UnpaddedBlock(nn.Module):
    """Token-wise MLP plus each sequence's mean, on unpadded (tokens, D) input."""

    def __init__(self, d):
        super().__init__()
        self.mlp, self.norm = nn.Linear(d, d), nn.LayerNorm(d)

    def forward(self, x, lengths):
        means = torch.cat([part.mean(0, keepdim=True).expand_as(part) for part in x.split(lengths)])
        return self.norm(x + torch.tanh(self.mlp(x)) + means)


class Encoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(UnpaddedBlock(config.hidden_size) for _ in range(config.n_layer))

    def forward(self, x, attention_mask):
        keep = attention_mask.bool()
        lengths = keep.sum(1).tolist()
        x = x[keep]
        for block in self.layer:
            x = block(x, lengths)
        out = x.new_zeros(*keep.shape, x.shape[-1])
        out[keep] = x
        return out


class Bert(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.encoder = Encoder(config)

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.encoder(self.embeddings(input_ids), attention_mask), None


class StandinBertForMaskedLM(PreTrainedModel):
    config_class = StandinConfig
    base_model_prefix = "bert"

    def __init__(self, config):
        super().__init__(config)
        self.bert = Bert(config)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def get_input_embeddings(self):
        return self.bert.embeddings

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        return MaskedLMOutput(logits=self.head(self.bert(input_ids, None, attention_mask)[0]))


class CausalConv(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.conv, self.act = nn.Conv1d(d, d, 3), nn.GELU()

    def forward(self, x):
        y = self.conv(nn.functional.pad(x.transpose(1, 2), (2, 0))).transpose(1, 2)
        return x + self.act(y)


class Backbone(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(CausalConv(config.hidden_size) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.hidden_size)

    def forward(self, input_ids):
        x = self.embeddings(input_ids)
        for layer in self.layers:
            x = layer(x)
        return self.ln_f(x)


class Hyena(PreTrainedModel):
    config_class = StandinConfig

    def __init__(self, config):
        super().__init__(config)
        self.backbone = Backbone(config)
        self.post_init()

    def forward(self, input_ids):
        return (self.backbone(input_ids),)


class StandinHyenaForCausalLM(PreTrainedModel):
    config_class = StandinConfig
    base_model_prefix = "hyena"

    def __init__(self, config):
        super().__init__(config)
        self.hyena = Hyena(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.hyena.backbone.embeddings

    def forward(self, input_ids):
        return CausalLMOutput(logits=self.lm_head(self.hyena(input_ids)[0]))


class PreNormBlock(nn.Module):
    """A pre-norm residual block returning (mixer output, residual), as Mamba blocks do."""

    def __init__(self, d):
        super().__init__()
        self.norm, self.mixer = nn.LayerNorm(d), nn.Linear(d, d)

    def forward(self, hidden_states, residual=None):
        residual = hidden_states if residual is None else hidden_states + residual
        return torch.tanh(self.mixer(self.norm(residual))), residual


class MixerModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(PreNormBlock(config.hidden_size) for _ in range(config.n_layer))
        self.norm_f = nn.LayerNorm(config.hidden_size)

    def forward(self, input_ids):
        hidden_states, residual = self.embeddings(input_ids), None
        for layer in self.layers:
            hidden_states, residual = layer(hidden_states, residual)
        return self.norm_f(hidden_states + residual)


class Caduceus(PreTrainedModel):
    config_class = StandinConfig

    def __init__(self, config):
        super().__init__(config)
        self.backbone = MixerModel(config)
        self.post_init()

    def forward(self, input_ids, **kwargs):
        return (self.backbone(input_ids),)


class StandinMambaForMaskedLM(PreTrainedModel):
    """Caduceus-shaped: base model `caduceus` with `backbone.embeddings`, `backbone.layers`
    returning (output, residual) pairs, and `backbone.norm_f`."""

    config_class = StandinConfig
    base_model_prefix = "caduceus"

    def __init__(self, config):
        super().__init__(config)
        self.caduceus = Caduceus(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.caduceus.backbone.embeddings

    def forward(self, input_ids, **kwargs):
        return MaskedLMOutput(logits=self.lm_head(self.caduceus(input_ids)[0]))
