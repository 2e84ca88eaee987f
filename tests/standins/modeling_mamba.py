"""A Caduceus-shaped remote-code model: base model `caduceus` with `backbone.embeddings`,
`backbone.layers` (pre-norm blocks returning (output, residual) as Mamba blocks do) and
`backbone.norm_f`; no attention-mask argument."""

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput


class StandinMambaConfig(PretrainedConfig):
    model_type = "caduceus"

    def __init__(self, vocab_size=12, hidden_size=16, n_layer=2, **kwargs):
        self.vocab_size, self.hidden_size, self.n_layer = vocab_size, hidden_size, n_layer
        super().__init__(**kwargs)


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
    config_class = StandinMambaConfig

    def __init__(self, config):
        super().__init__(config)
        self.backbone = MixerModel(config)
        self.post_init()

    def forward(self, input_ids, **kwargs):
        return (self.backbone(input_ids),)


class StandinMambaForMaskedLM(PreTrainedModel):
    """Caduceus-shaped: base model `caduceus` with `backbone.embeddings`, `backbone.layers`
    returning (output, residual) pairs, and `backbone.norm_f`."""

    config_class = StandinMambaConfig
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
