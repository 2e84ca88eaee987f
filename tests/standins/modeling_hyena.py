"""A HyenaDNA-shaped remote-code model (the structure of `LongSafari/hyenadna-*-hf`'s
configuration_hyena.py and modeling_hyena.py, written anew): base model `hyena` with
`backbone.embeddings`, `backbone.layers` (causal long convolutions), `backbone.ln_f`; no
attention-mask argument; `max_seq_len` in the config bounds the input (the convolution filters
are that long); the vocabulary is padded to a multiple of 8.
"""

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithNoAttention, CausalLMOutput


class StandinHyenaConfig(PretrainedConfig):
    model_type = "hyenadna"

    def __init__(self, vocab_size=12, d_model=16, n_layer=2, max_seq_len=1024, **kwargs):
        self.vocab_size, self.d_model, self.n_layer = vocab_size, d_model, n_layer
        self.max_seq_len = max_seq_len
        super().__init__(**kwargs)


class CausalConv(nn.Module):
    """A causal convolution whose filter spans the whole context, as Hyena's do."""

    def __init__(self, config):
        super().__init__()
        self.filter = nn.Parameter(torch.randn(config.d_model, config.max_seq_len) * 0.1)
        self.mix, self.act = nn.Linear(config.d_model, config.d_model), nn.GELU()

    def forward(self, x):
        length = x.shape[1]
        if length > self.filter.shape[1]:
            raise RuntimeError(f"input length {length} beyond the filter length")
        signal = x.transpose(1, 2)
        kernel = self.filter[:, :length].flip(-1)[:, None]
        y = nn.functional.conv1d(
            nn.functional.pad(signal, (length - 1, 0)), kernel, groups=x.shape[-1]
        )
        return x + self.act(self.mix(y.transpose(1, 2)))


class Backbone(nn.Module):
    def __init__(self, config):
        super().__init__()
        vocab = -(-config.vocab_size // 8) * 8
        self.embeddings = nn.Embedding(vocab, config.d_model)
        self.layers = nn.ModuleList(CausalConv(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)

    def forward(self, input_ids, output_hidden_states=False):
        x = self.embeddings(input_ids)
        states = [x]
        for layer in self.layers:
            x = layer(x)
            states.append(x)
        x = self.ln_f(x)
        states.append(x)  # as upstream: the last block's output, then after ln_f
        return x, states if output_hidden_states else None


class StandinHyenaPreTrainedModel(PreTrainedModel):
    config_class = StandinHyenaConfig
    base_model_prefix = "hyena"


class StandinHyenaModel(StandinHyenaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.backbone = Backbone(config)
        self.post_init()

    def forward(self, input_ids, output_hidden_states=None):
        x, states = self.backbone(input_ids, output_hidden_states)
        return BaseModelOutputWithNoAttention(last_hidden_state=x, hidden_states=states)


class StandinHyenaForCausalLM(StandinHyenaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.hyena = StandinHyenaModel(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.hyena.backbone.embeddings

    def forward(self, input_ids=None, output_hidden_states=None, **kwargs):
        out = self.hyena(input_ids, output_hidden_states)
        return CausalLMOutput(logits=self.lm_head(out[0]), hidden_states=out.hidden_states)
