"""Sei (Chen et al. 2022, Nature Genetics) as a frozen embedder.

Sei is a supervised sequence-to-function CNN predicting 21,907 chromatin profiles from 4,096 bp.
Its architecture follows `model/sei.py` of FunctionLab/sei-framework; attribute names and
`nn.Sequential` indices match it so that the published `sei.pth` (keys prefixed with
`module.model.`) loads strictly. At 4,096 bp the trunk is

- three residual stages at 4096, 1024 and 256 positions (480, 640, 960 channels; kernel 9,
  max-pool 4 between stages), each a linear pair of convolutions `lconv` plus a ReLU pair `conv`
  added to it;
- five dilated residual convolutions (kernel 5, dilations 2, 4, 8, 16, 25) at 960 channels;
- `spline_tr`: dropout and a cubic B-spline basis of 16 functions over the 256 positions, giving
  (960, 16) per sequence, which is the representation used here (960 = length, 16 = channels);
- `classifier`: Linear(15360, 21907), ReLU, Linear(21907, 21907), sigmoid.

Parameters: 73,528,000 in the trunk plus 816,451,983 in the classifier, 889,979,983 in all
(as counted from the reference code; `Sei().parameters()` gives the same number).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import BSpline
from torch import nn

from glmeval.models.families import FAMILIES
from glmeval.models.supervised import PaddedInputEmbedder

SEQUENCE_LENGTH = FAMILIES["sei"].input_bases
N_TARGETS = 21907
SPLINE_DF = 16
N_CHANNELS = 960
PREFIX = "module.model."
WEIGHTS_SOURCE = (
    "the Sei model archive on Zenodo (record 4906997, `sei_model.tar.gz`, which contains "
    "`model/sei.pth`) or the paper's model archive (record 11583224, `model/sei_model/sei.pth`)"
)


def bspline_basis(n: int, df: int) -> np.ndarray:
    """(n, df) cubic B-spline basis over positions 0..n-1, with an intercept.

    The knots are the end points (each repeated four times) and df - 4 interior knots at
    equally spaced quantiles of the positions; every row sums to one.
    """
    degree = 3
    interior = np.linspace(0, n - 1, df - degree + 1)[1:-1]
    knots = np.concatenate([np.zeros(degree + 1), interior, np.full(degree + 1, n - 1.0)])
    return BSpline.design_matrix(np.arange(n, dtype=float), knots, degree).toarray()


class BSplineTransformation(nn.Module):
    """Project the last axis (length n) onto `df` B-spline basis functions: (..., n) -> (..., df).

    The basis depends on n and is cached per length; `scaled` divides it by n.
    """

    def __init__(self, degrees_of_freedom: int, scaled: bool = False):
        super().__init__()
        self.df = degrees_of_freedom
        self.scaled = scaled
        self._bases: dict[int, torch.Tensor] = {}

    def basis(self, n: int) -> torch.Tensor:
        if n not in self._bases:
            basis = torch.from_numpy(bspline_basis(n, self.df)).float()
            self._bases[n] = basis / n if self.scaled else basis
        return self._bases[n]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.basis(x.shape[-1]).to(device=x.device, dtype=x.dtype)


def _conv(c_in: int, c_out: int, kernel: int = 9, dilation: int = 1) -> nn.Conv1d:
    """Length-preserving 1-D convolution."""
    return nn.Conv1d(c_in, c_out, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)


def _linear_pair(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    """`lconv`: (max-pool 4, dropout 0.2,) two convolutions without activation."""
    downsample = [nn.MaxPool1d(4), nn.Dropout(0.2)] if pool else []
    return nn.Sequential(*downsample, _conv(c_in, c_out), _conv(c_out, c_out))


def _relu_pair(channels: int, dropout: bool) -> nn.Sequential:
    """`conv`: (dropout 0.2,) two convolutions each followed by ReLU."""
    head = [nn.Dropout(0.2)] if dropout else []
    return nn.Sequential(
        *head,
        _conv(channels, channels),
        nn.ReLU(inplace=True),
        _conv(channels, channels),
        nn.ReLU(inplace=True),
    )


def _dilated(dilation: int) -> nn.Sequential:
    """`dconv`: dropout 0.1, a dilated kernel-5 convolution, ReLU."""
    return nn.Sequential(
        nn.Dropout(0.1),
        _conv(N_CHANNELS, N_CHANNELS, 5, dilation),
        nn.ReLU(inplace=True),
    )


class Sei(nn.Module):
    """The Sei network: (B, 4, 4096) one-hot DNA -> (B, n_targets) probabilities."""

    def __init__(self, n_targets: int = N_TARGETS):
        super().__init__()
        self.lconv1 = nn.Sequential(_conv(4, 480), _conv(480, 480))
        self.conv1 = _relu_pair(480, dropout=False)
        self.lconv2 = _linear_pair(480, 640, pool=True)
        self.conv2 = _relu_pair(640, dropout=True)
        self.lconv3 = _linear_pair(640, N_CHANNELS, pool=True)
        self.conv3 = _relu_pair(N_CHANNELS, dropout=True)
        self.dconv1 = _dilated(2)
        self.dconv2 = _dilated(4)
        self.dconv3 = _dilated(8)
        self.dconv4 = _dilated(16)
        self.dconv5 = _dilated(25)
        self.spline_tr = nn.Sequential(nn.Dropout(0.5), BSplineTransformation(SPLINE_DF))
        self.classifier = nn.Sequential(
            nn.Linear(N_CHANNELS * SPLINE_DF, n_targets),
            nn.ReLU(inplace=True),
            nn.Linear(n_targets, n_targets),
            nn.Sigmoid(),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The output of `spline_tr`: (B, 4, L) -> (B, 960, 16)."""
        skip = self.lconv1(x)
        out = self.conv1(skip)
        for linear, relu in ((self.lconv2, self.conv2), (self.lconv3, self.conv3)):
            skip = linear(out + skip)
            out = relu(skip)
        # the first dilated block reads conv3 + lconv3, but its residual adds conv3 alone
        out = out + self.dconv1(out + skip)
        for block in (self.dconv2, self.dconv3, self.dconv4, self.dconv5):
            out = out + block(out)
        return self.spline_tr(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


def sei_weights(path: str | Path) -> Path:
    """The `sei.pth` that `path` names: the file itself, in the directory `path`, or else in
    one directory below it (`model/` of Sei's archive, `sei_model/` of the paper's)."""
    path = Path(path)
    if path.is_file():
        return path
    if (path / "sei.pth").is_file():
        return path / "sei.pth"
    found = sorted(path.glob("*/sei.pth"))
    if len(found) != 1:
        which = f"several: {[str(f) for f in found]}" if found else "nor one directory below"
        raise FileNotFoundError(
            f"Sei weights not found at {path / 'sei.pth'} ({which}); they come from "
            f"{WEIGHTS_SOURCE}."
        )
    return found[0]


def load_sei(
    path: str | Path, random_init_seed: int | None = None, n_targets: int = N_TARGETS
) -> Sei:
    """Sei in eval mode with the weights of `sei_weights(path)` (`module.model.` prefix stripped).

    With `random_init_seed`, no weights are read: a freshly initialised Sei with `n_targets`
    outputs after `torch.manual_seed(random_init_seed)` (the random-init control). Otherwise the
    number of targets is taken from the checkpoint.
    """
    if random_init_seed is not None:
        torch.manual_seed(random_init_seed)
        return Sei(n_targets).eval()
    file = sei_weights(path)
    state = torch.load(file, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:  # a Selene training checkpoint
        state = state["state_dict"]
    if not isinstance(state, dict):  # every unusable checkpoint is a ValueError
        raise ValueError(  # noqa: TRY004
            f"{file} is not a Sei checkpoint: it holds a {type(state).__name__}."
        )
    state = {key.removeprefix(PREFIX): value for key, value in state.items()}
    bias = state.get("classifier.2.bias")
    with torch.device("meta"):
        model = Sei(N_TARGETS if bias is None else bias.shape[0])
    expected = set(model.state_dict())
    missing, unexpected = (
        sorted(expected - state.keys()),
        sorted(state.keys() - expected),
    )
    if missing or unexpected:
        raise ValueError(
            f"{file} is not a Sei checkpoint: missing keys {missing[:5]} ({len(missing)} in all), "
            f"unexpected keys {unexpected[:5]} ({len(unexpected)} in all). Use `sei.pth` from "
            f"{WEIGHTS_SOURCE}."
        )
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f"{file} is not a Sei checkpoint: {error}") from error
    return model.float().eval()


def save_random_sei(out_dir: str | Path, seed: int = 0, n_targets: int = N_TARGETS) -> Path:
    """Write a random-initialised `sei.pth` (keys prefixed `module.model.`) as a stand-in."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    state = {PREFIX + key: value for key, value in Sei(n_targets).state_dict().items()}
    torch.save(state, out_dir / "sei.pth")
    return out_dir / "sei.pth"


class SeiEmbedder(PaddedInputEmbedder):
    """The `spline_tr` output of a frozen Sei, (960, 16) per sequence, as its only layer (0).

    The 960 channels are the positions and the 16 spline coefficients the features; they are
    not aligned to bases, so no position is special and `n_bases` is all zero.
    """

    hidden_size = SPLINE_DF
    n_positions = N_CHANNELS

    def __init__(
        self,
        name: str,
        path: str | Path,
        device: str = "cpu",
        input_length: int = SEQUENCE_LENGTH,
        random_init_seed: int | None = None,
    ):
        self.name = name
        self.device = torch.device(device)
        self.input_length = input_length
        # only the trunk is run: a random control needs no 816M-parameter head, and a loaded
        # one is dropped before the model moves to the device
        model = load_sei(path, random_init_seed, n_targets=1)
        model.classifier = nn.Identity()
        self.model = model.to(self.device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)  # (B, 960, 16): T = 960, D = 16
