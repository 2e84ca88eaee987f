"""Attribution maps of trained probes and of language models (the paper's Fig. 6; docs/paper.md,
Attribution).

Every map is an array in the selection's row order: (N, L, 4) where a method scores each base
at each position, (N, L) where it gives one value per position.

- `saliency`: the gradient of the one-hot model's output with respect to its (N, 4, L) input
  (captum `Saliency`), corrected as in Majdandzic et al. 2023 (the mean over the alphabet axis
  subtracted); `input_x_gradient`: the corrected gradient at the observed bases (N, L).
- `deep_lift_shap`: tangermeme's DeepLIFT/SHAP with dinucleotide-shuffled references (N, L, 4).
- `embedding_gradient`: the paper's map of a probe on gLM embeddings: the probe's
  gradient with respect to the cached token matrix, L2 over the hidden dimension, each token's
  value given to every base it covers (N, L).
- `ism`: in-silico mutagenesis of the whole pipeline (sequence → tokenizer → model → features →
  probe) with tangermeme, identity edits skipped: output(mutant) − output(sequence) (N, L, 4; 0 at
  the observed base). It needs no gradient, so it works for every tokenizer and family.
- `reverse_entropy`: the language model's own map: each token masked in turn (masked LMs)
  or predicted from its prefix (causal LMs), the entropy H of the predicted distribution, and
  max(H) − H with the maximum over the whole array, projected to bases (N, L).

A probe with several outputs (multitask) is explained through the mean of its outputs, as its
transfer effects are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from glmeval.data.sequence import one_hot_array
from glmeval.models import Embedder
from glmeval.models.base import Encoded, lm_head, unwrapped


def one_hot(sequences: Sequence[str]) -> torch.Tensor:
    """(N, 4, L) float one-hot of equal-length sequences; N (or any other letter) is all zeros."""
    return torch.from_numpy(one_hot_array(sequences))


def decode(x: torch.Tensor) -> list[str]:
    """Sequences of a (N, 4, L) one-hot; an all-zero column is N."""
    letters = np.frombuffer(b"ACGTN", np.uint8)
    codes = np.where(x.sum(1).cpu().numpy() > 0, x.argmax(1).cpu().numpy(), 4)
    return [letters[row].tobytes().decode() for row in codes]


def explained_directly(model: dict) -> bool:
    """Whether a probe of this model (its settings) reads plain one-hot (A, C, G, T; N all
    zeros), so that `OneHotModel` explains it without the embedding pipeline."""
    return model["family"] == "onehot" and model.get("k", 1) == 1 and not model.get("n_value")


class OneHotModel(nn.Module):
    """A probe trained on one-hot token matrices as a model of (N, 4, L) one-hot input, its
    outputs averaged to (N, 1): what captum and tangermeme call."""

    def __init__(self, probe: nn.Module):
        super().__init__()
        self.probe = probe
        self.eval()  # callers restore the mode they find: keep BatchNorm and dropout frozen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probe(x.transpose(1, 2)).mean(dim=1, keepdim=True)


class PipelineModel(nn.Module):
    """The whole pipeline as a model of (N, 4, L) one-hot input: the decoded sequences through
    the embedder and the feature path the probe was trained on, then the probe (outputs
    averaged to (N, 1)). Not differentiable: for ISM and global importance analysis."""

    def __init__(self, embedder: Embedder, probe, representation: str, layer: int, batch_size=256):
        super().__init__()
        self.embedder, self.probe = embedder, probe
        self.representation, self.layer, self.batch_size = representation, layer, batch_size
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from glmeval.transfer import probe_predictions

        out = probe_predictions(
            self.embedder,
            self.probe,
            self.representation,
            self.layer,
            decode(x),
            str(self.embedder.device),
            self.batch_size,
        )
        return torch.from_numpy(out.astype(np.float32)).mean(dim=1, keepdim=True)


def corrected_gradients(model: nn.Module, x: torch.Tensor, device: str = "cpu") -> np.ndarray:
    """(N, L, 4) gradients of `model` at one-hot `x` (N, 4, L), the mean over the alphabet
    subtracted at each position (Majdandzic et al. 2023)."""
    from captum.attr import Saliency

    model, x = model.to(device), x.detach().to(device).clone().requires_grad_()
    grads = Saliency(model).attribute(x, target=0, abs=False).detach().cpu()
    return (grads - grads.mean(dim=1, keepdim=True)).numpy().transpose(0, 2, 1)


def deep_lift_shap(
    model: nn.Module, x: torch.Tensor, n_shuffles: int, seed: int, device: str = "cpu"
) -> np.ndarray:
    """(N, L, 4) DeepLIFT/SHAP attributions (tangermeme) against `n_shuffles` dinucleotide
    shuffles of each sequence."""
    from tangermeme.deep_lift_shap import deep_lift_shap as dls

    from glmeval.nn.layers import Exp

    attr = dls(
        model,
        x,
        target=0,
        n_shuffles=n_shuffles,
        random_state=seed,
        device=device,
        additional_nonlinear_ops={Exp: rescale_rule},  # as tangermeme treats other activations
    )
    return attr.detach().cpu().numpy().transpose(0, 2, 1)


def rescale_rule(module: nn.Module, grad_input: tuple, grad_output: tuple) -> tuple:
    """DeepLIFT's rescale rule for an elementwise activation, as a tangermeme backward hook
    (`additional_nonlinear_ops`): the hooks leave the observed rows and their references,
    stacked along the batch axis, in `module.input` and `module.output`. The gradient through
    the activation becomes the secant Δoutput / Δinput, the same for an observed row and its
    reference; where |Δinput| < 1e-6 the secant is unstable and the ordinary gradient stays."""
    x, reference = module.input.chunk(2)
    y, y_reference = module.output.chunk(2)
    d_in, d_out = x - reference, y - y_reference
    flat = (d_in.abs() < 1e-6).repeat(2, *([1] * (d_in.dim() - 1)))
    secant = (d_out / d_in).repeat(2, *([1] * (d_in.dim() - 1)))
    return (torch.where(flat, grad_input[0], grad_output[0] * secant),)


def ism(model: nn.Module, x: torch.Tensor, batch_size: int, device: str = "cpu") -> np.ndarray:
    """(N, L, 4) output(mutant) − output(sequence) of every single-base substitution; 0 at the
    observed bases (tangermeme skips those edits)."""
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    y0, y_hat = saturation_mutagenesis(
        model, x, batch_size=batch_size, raw_outputs=True, device=device
    )
    delta = (y_hat[..., 0] - y0[:, None, None, 0]).float().numpy()
    delta[x.numpy() > 0] = 0.0
    return delta.transpose(0, 2, 1)


def to_bases(tokens: np.ndarray, encoded: Sequence[Encoded], length: int) -> np.ndarray:
    """(N, L) per-base values of (N, T) per-token values: each token's value on every base it
    covers (a 6-mer's six); special tokens dropped. Positions not base-aligned raise."""
    out = np.zeros((len(encoded), length), np.float32)
    for n, enc in enumerate(encoded):
        if not enc.n_bases.any():
            raise ValueError(
                "the model's output positions are not base-aligned (Sei, RBP): a token map cannot "
                "be projected to bases; use ism."
            )
        spans = enc.spans()
        for t in np.flatnonzero(~enc.special):
            start, end = spans[t]
            out[n, start:end] = tokens[n, t]
    return out


def embedding_gradient(probe: nn.Module, tokens: np.ndarray, device: str = "cpu") -> np.ndarray:
    """(N, T) L2 norm over the hidden dimension of the probe's gradient with respect to its
    (N, T, D) token-matrix input (docs/paper.md, Attribution)."""
    from captum.attr import Saliency

    class Mean(nn.Module):
        def __init__(self):
            super().__init__()
            self.probe = probe
            self.eval()

        def forward(self, e):
            return self.probe(e).mean(dim=1, keepdim=True)

    e = torch.tensor(np.asarray(tokens, np.float32), device=device, requires_grad=True)
    grads = Saliency(Mean().to(device)).attribute(e, target=0, abs=False)
    return grads.norm(dim=-1).detach().cpu().numpy()


def token_entropies(embedder: Embedder, encoded: Sequence[Encoded], batch_size: int = 64):
    """Per sequence, the (T,) entropy (nats) of the language model's predicted distribution at
    each token: masked in turn (masked LMs; one row per token, batched) or from its prefix
    (causal LMs; the first token has none: NaN). Special tokens: NaN."""
    import dataclasses

    lm = unwrapped(embedder)
    causal = lm_head(embedder) == "causal_lm"
    out = []

    def entropy(logits: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(logits.double(), dim=-1)
        return -(log_p.exp() * log_p).sum(-1)

    for enc in encoded:
        h = np.full(len(enc), np.nan)
        content = np.flatnonzero(~enc.special)
        if causal:
            logits, _ = lm.logits([enc])
            predicted = content[content > 0]
            h[predicted] = entropy(logits[0, predicted - 1]).cpu().numpy()
        else:
            mask_id = lm.tokenizer.mask_token_id
            for chunk in np.array_split(content, max(1, -(-len(content) // batch_size))):
                rows = []
                for t in chunk:
                    ids = enc.ids.copy()
                    ids[t] = mask_id
                    rows.append(dataclasses.replace(enc, ids=ids))
                logits, _ = lm.logits(rows)
                h[chunk] = entropy(logits[np.arange(len(chunk)), chunk]).cpu().numpy()
        out.append(h)
    return out


def reverse_entropy(embedder: Embedder, sequences: Sequence[str], batch_size: int = 64):
    """(N, L) the paper's reverse-entropy map: max(H) − H per token, the maximum over every
    token of every sequence, projected to bases (docs/paper.md, Attribution). Bases no
    prediction covers: 0."""
    encoded = unwrapped(embedder).encode(list(sequences))
    entropies = token_entropies(embedder, encoded, batch_size)
    top = np.nanmax(np.concatenate(entropies))
    tokens = np.zeros((len(encoded), max(map(len, encoded))), np.float32)
    for n, h in enumerate(entropies):
        tokens[n, : len(h)] = np.nan_to_num(top - h, nan=0.0)
    return to_bases(tokens, encoded, len(sequences[0]))
