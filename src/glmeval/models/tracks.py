"""Enformer and Borzoi, supervised models of functional-genomics tracks, as frozen embedders.

Both are run by their maintained PyTorch ports, whose own model classes glmeval builds from a
checkpoint's `config.json` (the hub's, or a `save_pretrained` directory):

- Enformer (Avsec et al. 2021; `enformer-pytorch`, `EleutherAI/enformer-official-rough`):
  196,608 bp in; a convolutional stem and tower down to 1,536 bins of 128 bp; 11 transformer
  blocks; the centre 896 bins cropped (`target_length`); a pointwise convolution to 2 x 1,536 =
  3,072 channels with GELU (`final_pointwise`); then per-species track heads. The output of
  `final_pointwise` is the package's `return_only_embeddings`.
- Borzoi (Linder et al. 2025; `borzoi-pytorch`, `johahi/borzoi-replicate-0`): 524,288 bp in;
  a convolutional tower and two U-Net levels down to 4,096 positions of 128 bp; 8 transformer
  blocks; back up to 32-bp bins; the centre 6,144 bins cropped (`bins_to_return`); a pointwise
  convolution to 1,920 channels with GELU (`final_joined_convs`); then the track heads. The
  output of `final_joined_convs` is the package's `return_embeddings`.

That pre-head output is the representation: one layer (0), one position per output bin. The
sequence sits zero-padded in the middle of the model's input, so most bins see only padding.

The weights are loaded by glmeval rather than the packages' `from_pretrained`: enformer-pytorch's
model never calls `post_init`, which transformers 5 needs, and it holds its modules twice (as
`stem`, `conv_tower`, ... and inside `_trunk`), which transformers 5 refuses to save; a
checkpoint may store each of those weights under either name.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from glmeval.models.families import FAMILIES, ModelError
from glmeval.models.snapshot import snapshot_record
from glmeval.models.supervised import PaddedInputEmbedder

#: The checkpoint for which enformer-pytorch's `from_pretrained` turns on `use_tf_gamma` (the
#: TensorFlow model's gamma positional features, precomputed for 1,536 positions).
OFFICIAL_ENFORMER = "EleutherAI/enformer-official-rough"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
#: The config.json key of a checkpoint's input length in bases, where it is not the family's
#: published one (neither package records it; the tiny stand-ins do).
INPUT_KEY = "sequence_length"


def model_classes(family: str) -> tuple[type, type]:
    """The package's model class and config class of `family` (enformer | borzoi)."""
    if family == "enformer":
        from enformer_pytorch import Enformer, EnformerConfig

        return Enformer, EnformerConfig
    from borzoi_pytorch import Borzoi
    from borzoi_pytorch.config_borzoi import BorzoiConfig

    return Borzoi, BorzoiConfig


def load_track_model(
    family: str, path: str | Path, random_init_seed: int | None = None
) -> nn.Module:
    """The package's model built from `path`/config.json, in eval mode, with the checkpoint's
    weights; with `random_init_seed`, freshly initialised after `torch.manual_seed` instead."""
    path = Path(path)
    model_class, config_class = model_classes(family)
    if not (path / "config.json").is_file():
        raise ModelError(f"no {family} checkpoint at {path}: config.json is missing.")
    config = config_class.from_pretrained(path, local_files_only=True)
    if family == "enformer" and (snapshot_record(path) or {}).get("hub") == OFFICIAL_ENFORMER:
        config.use_tf_gamma = True  # as enformer_pytorch.from_pretrained does for it
    if random_init_seed is not None:
        torch.manual_seed(random_init_seed)
        return model_class(config).eval()
    model = model_class(config)
    _load_weights(model, path, family)  # into its fp32 parameters, whatever the file's dtype
    return model.eval()


def _load_weights(model: nn.Module, path: Path, family: str) -> None:
    """Load `path`'s weights into `model`: each tensor under any of its names, every one of them
    present (BatchNorm's `num_batches_tracked`, unused in eval mode, may be absent)."""
    file = next((path / name for name in WEIGHT_FILES if (path / name).is_file()), None)
    if file is None:
        raise ModelError(f"no {family} weights in {path}: {' or '.join(WEIGHT_FILES)} is missing.")
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(file)
    else:
        state = torch.load(file, map_location="cpu", weights_only=True)
    expected = model.state_dict(keep_vars=True)
    names: dict[int, list[str]] = {}  # every name of one tensor
    for key, tensor in expected.items():
        names.setdefault(id(tensor), []).append(key)
    found, missing = {}, []
    for key, tensor in expected.items():
        stored = next((name for name in names[id(tensor)] if name in state), None)
        if stored is not None:
            found[key] = state[stored]
        elif not key.endswith("num_batches_tracked"):
            missing.append(key)
    unexpected = sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise ModelError(
            f"{file} does not fit the {family} model its config.json describes: missing keys "
            f"{missing[:5]} ({len(missing)} in all), unexpected keys {unexpected[:5]} "
            f"({len(unexpected)} in all)."
        )
    try:
        model.load_state_dict(found, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ModelError(f"{file} does not fit its config.json: {error}") from error


class TrackEmbedder(PaddedInputEmbedder):
    """The pre-head output of a frozen track model, (bins, channels) per sequence, as its only
    layer (0). The input length is config.json's `sequence_length`, else the family's."""

    family: str

    def __init__(
        self,
        name: str,
        path: str | Path,
        device: str = "cpu",
        random_init_seed: int | None = None,
    ):
        self.name = name
        self.device = torch.device(device)
        model = load_track_model(self.family, path, random_init_seed)
        self.input_length = getattr(model.config, INPUT_KEY, FAMILIES[self.family].input_bases)
        bin_bases, multiple, kept, self.hidden_size = self.geometry(model)
        if self.input_length % multiple:
            raise ModelError(
                f"model {name!r}: its input length {self.input_length} is not a multiple of "
                f"{multiple}; fix `{INPUT_KEY}` in its config.json."
            )
        bins = self.input_length // bin_bases
        if kept != -1 and (kept > bins or (bins - kept) % 2):
            raise ModelError(
                f"model {name!r}: {bins} bins cannot be cropped to the centre {kept}; fix "
                f"`{INPUT_KEY}` in its config.json."
            )
        self.n_positions = bins if kept == -1 else kept
        self.model = model.to(self.device)

    @staticmethod
    def geometry(model: nn.Module) -> tuple[int, int, int, int]:
        """Bases per output bin, the multiple of bases the input length must be, the centre
        bins kept (-1: all) and the channels of the representation."""
        raise NotImplementedError


class EnformerEmbedder(TrackEmbedder):
    """Enformer's `final_pointwise` output (`return_only_embeddings`): 896 bins of 128 bp x
    3,072 channels at the published size."""

    family = "enformer"

    @staticmethod
    def geometry(model: nn.Module) -> tuple[int, int, int, int]:
        bin_bases = 2**model.config.num_downsamples
        return bin_bases, bin_bases, model.crop_final.target_length, 2 * model.config.dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.transpose(1, 2), return_only_embeddings=True)  # it takes (B, L, 4)


class BorzoiEmbedder(TrackEmbedder):
    """Borzoi's `final_joined_convs` output (`return_embeddings`): 6,144 bins of 32 bp x 1,920
    channels at the published size. The track heads are not run."""

    family = "borzoi"

    @staticmethod
    def geometry(model: nn.Module) -> tuple[int, int, int, int]:
        # seven halvings before the transformer, the last two undone after it
        channels = model.final_joined_convs[0].conv_layer.out_channels
        return 32, 128, model.crop.target_length, channels

    def features(self, x: torch.Tensor) -> torch.Tensor:
        # Borzoi.forward up to its heads
        return self.model.final_joined_convs(self.model.get_embs_after_crop(x)).transpose(1, 2)


EMBEDDERS = {"enformer": EnformerEmbedder, "borzoi": BorzoiEmbedder}


def save_tiny_enformer(out_dir: str | Path, seed: int = 0, sequence_length: int = 2048) -> Path:
    """A random-initialised Enformer of the real architecture at toy size (dim 48, 2 blocks, 3
    halvings: bins of 8 bp; the centre 128 of 256 bins), saved as the hub's checkpoint is:
    config.json and a `pytorch_model.bin` state dict."""
    from enformer_pytorch import Enformer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = Enformer.from_hparams(
        dim=48,
        depth=2,
        heads=2,
        attn_dim_key=8,
        output_heads={"human": 8, "mouse": 4},
        target_length=128,
        num_downsamples=3,
        dim_divisible_by=8,
        **{INPUT_KEY: sequence_length},
    )
    model.config.save_pretrained(out_dir)
    torch.save(model.state_dict(), out_dir / "pytorch_model.bin")
    return out_dir


def save_tiny_borzoi(out_dir: str | Path, seed: int = 0, sequence_length: int = 4096) -> Path:
    """A random-initialised Borzoi of the real architecture at toy size (dim 32, 1 block; its
    convolutional tower and heads are fixed by the package: 33.6M parameters; the centre 64 of
    128 bins of 32 bp), saved with `save_pretrained`."""
    from borzoi_pytorch import Borzoi

    torch.manual_seed(seed)
    model = Borzoi.from_hparams(
        dim=32,
        depth=1,
        heads=2,
        attn_dim_key=8,
        attn_dim_value=16,
        bins_to_return=64,
        **{INPUT_KEY: sequence_length},
    )
    model.save_pretrained(out_dir)
    return Path(out_dir)
