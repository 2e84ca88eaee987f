"""A Caduceus-shaped remote-code model (the structure of `kuleshov-group/caduceus`'s
caduceus/modeling_caduceus.py and caduceus/modeling_rcps.py, written anew; a bidirectional
cumulative-mean mixer stands in for the BiMamba mixer and its mamba-ssm CUDA kernels):

- base model `caduceus` with `backbone.embeddings` (`word_embeddings`), `backbone.layers`
  (pre-norm blocks returning (output, residual) as Mamba blocks do) and `backbone.norm_f`; no
  attention-mask argument; the config's width is `d_model`, and the model pads `vocab_size` to
  a multiple of `pad_vocab_size_multiple` when it is built (changing its config);
- `rcps: true` (Caduceus-PS), RC-equivariant parameter sharing: the embedding returns the
  forward embedding and the flipped embedding of the reverse complement (by `complement_map`,
  token id to token id) side by side, 2 x d_model channels; every block runs its mixer and norm
  on the first half and, flipped, on the second; the final norm adds the residual itself
  (`RCPSAddNormWrapper`); the LM head sums both halves' logits (`RCPSLMHead`). So the states of
  a reverse-complemented input are the states flipped along length and channels.
"""

from collections import OrderedDict

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput


class StandinMambaConfig(PretrainedConfig):
    model_type = "caduceus"

    def __init__(
        self,
        vocab_size=12,
        d_model=16,
        n_layer=2,
        pad_vocab_size_multiple=8,
        rcps=False,
        complement_map=None,
        **kwargs,
    ):
        self.vocab_size, self.d_model, self.n_layer = vocab_size, d_model, n_layer
        self.pad_vocab_size_multiple, self.rcps = pad_vocab_size_multiple, rcps
        self.complement_map = complement_map
        super().__init__(**kwargs)


def rc(x):
    """Reverse complement of states: flipped along length and channels."""
    return torch.flip(x, dims=[-2, -1])


class BiMixer(nn.Module):
    """Stands in for BiMambaWrapper: a forward and a reverse running mean, added, with shared
    projections; every position sees the whole sequence (padding too)."""

    def __init__(self, d):
        super().__init__()
        self.in_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        h = self.in_proj(x)
        steps = torch.arange(1, h.shape[1] + 1, device=h.device, dtype=h.dtype)[:, None]
        forward = h.cumsum(1) / steps
        reverse = (h.flip(1).cumsum(1) / steps).flip(1)
        return self.out_proj(torch.tanh(forward + reverse))


class PreNormBlock(nn.Module):
    """A pre-norm residual block returning (mixer output, residual), as Mamba blocks do."""

    def __init__(self, d):
        super().__init__()
        self.norm, self.mixer = nn.LayerNorm(d), BiMixer(d)

    def forward(self, hidden_states, residual=None):
        residual = hidden_states if residual is None else hidden_states + residual
        return self.mixer(self.norm(residual)), residual


class RCPSEmbedding(nn.Module):
    def __init__(self, vocab_size, d_model, complement_map):
        super().__init__()
        self.register_buffer(
            "complement_map", torch.tensor(list(OrderedDict(complement_map).values()))
        )
        self.embedding = nn.Embedding(vocab_size, d_model)

    def forward(self, input_ids):
        reverse = self.complement_map[input_ids.flip(-1)]
        return torch.cat([self.embedding(input_ids), rc(self.embedding(reverse))], dim=-1)


class RCPSWrapper(nn.Module):
    """The submodule on the first half of the channels and, reverse-complemented, the second."""

    def __init__(self, submodule):
        super().__init__()
        self.submodule = submodule

    def forward(self, x):
        half = x.shape[-1] // 2
        return torch.cat([self.submodule(x[..., :half]), rc(self.submodule(rc(x[..., half:])))], -1)


class RCPSAddNormWrapper(RCPSWrapper):
    """Adds the residual, then normalises each half; with `prenorm`, returns the sum too."""

    def forward(self, x, residual=None, prenorm=False):
        residual = x if residual is None else x + residual
        normed = super().forward(residual)
        return (normed, residual) if prenorm else normed


class RCPSMambaBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm, self.mixer = RCPSAddNormWrapper(nn.LayerNorm(d)), RCPSWrapper(BiMixer(d))

    def forward(self, hidden_states, residual=None):
        hidden_states, residual = self.norm(hidden_states, residual, prenorm=True)
        return self.mixer(hidden_states), residual


class RCPSLMHead(nn.Module):
    def __init__(self, true_dim, vocab_size, complement_map):
        super().__init__()
        self.register_buffer(
            "complement_map", torch.tensor(list(OrderedDict(complement_map).values()))
        )
        self.true_dim = true_dim
        self.lm_head = nn.Linear(true_dim, vocab_size, bias=False)

    def forward(self, x):
        weight = self.lm_head.weight
        forward = x[..., : self.true_dim] @ weight.T
        return (
            forward + torch.flip(x[..., self.true_dim :], dims=[-1]) @ weight[self.complement_map].T
        )


class CaduceusEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.rcps:
            self.word_embeddings = RCPSEmbedding(
                config.vocab_size, config.d_model, config.complement_map
            )
        else:
            self.word_embeddings = nn.Embedding(config.vocab_size, config.d_model)

    def forward(self, input_ids):
        return self.word_embeddings(input_ids)


class MixerModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.rcps = config.rcps
        self.embeddings = CaduceusEmbeddings(config)
        block = RCPSMambaBlock if config.rcps else PreNormBlock
        self.layers = nn.ModuleList(block(config.d_model) for _ in range(config.n_layer))
        norm = nn.LayerNorm(config.d_model)
        self.norm_f = RCPSAddNormWrapper(norm) if config.rcps else norm

    def forward(self, input_ids):
        hidden_states, residual = self.embeddings(input_ids), None
        for layer in self.layers:
            hidden_states, residual = layer(hidden_states, residual)
        if self.rcps:
            return self.norm_f(hidden_states, residual=residual)
        return self.norm_f(hidden_states + residual)


class Caduceus(PreTrainedModel):
    config_class = StandinMambaConfig

    def __init__(self, config):
        super().__init__(config)
        multiple = config.pad_vocab_size_multiple
        config.vocab_size += -config.vocab_size % multiple  # as upstream: the config changes
        if config.complement_map is not None:
            for i in range(len(config.complement_map), config.vocab_size):
                config.complement_map[i] = i
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
        if config.rcps:
            self.lm_head = RCPSLMHead(config.d_model, config.vocab_size, config.complement_map)
        else:
            self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        embeddings = self.caduceus.backbone.embeddings.word_embeddings
        return embeddings.embedding if self.config.rcps else embeddings

    def forward(self, input_ids, **kwargs):
        return MaskedLMOutput(logits=self.lm_head(self.caduceus(input_ids)[0]))
