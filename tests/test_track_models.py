"""Enformer and Borzoi through their maintained packages, on tiny random-weight instances of the
real architectures; Evo 2's refusal."""

import copy
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from glmeval.config import ConfigError, validate_config
from glmeval.data.sequence import base_codes
from glmeval.embed import extract
from glmeval.models import ModelError, TokenizationError, load_embedder
from glmeval.models.families import FAMILIES
from glmeval.models.tracks import (
    EMBEDDERS,
    INPUT_KEY,
    OFFICIAL_ENFORMER,
    load_track_model,
    model_classes,
    save_tiny_borzoi,
    save_tiny_enformer,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"
BUILDERS = {"enformer": save_tiny_enformer, "borzoi": save_tiny_borzoi}
#: the stand-ins' input length, output bins and channels
SHAPES = {"enformer": (2048, 128, 96), "borzoi": (4096, 64, 1920)}


def _installed(family: str):
    """`family` as a parameter, skipped with the install line where its package is absent."""
    spec = FAMILIES[family]
    module, install = spec.requires[0], spec.install or f"pip install 'glmeval[{spec.extra}]'"
    missing = importlib.util.find_spec(module) is None
    reason = f"{module} is not installed ({install})"
    return pytest.param(family, marks=pytest.mark.skipif(missing, reason=reason))


ENFORMER = [_installed("enformer")]
TRACK_FAMILIES = [*ENFORMER, _installed("borzoi")]


def _dna(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


SEQS = [_dna(300, 0), _dna(120, 1)[:50] + "NNNN" + _dna(120, 1)[54:], _dna(7, 2)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """family -> the directory of its stand-in, built once."""
    built = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = BUILDERS[family](tmp_path_factory.mktemp(family))
        return built[family]

    return get


@pytest.fixture(scope="module")
def embedder(checkpoint):
    """family -> its stand-in loaded as configured, once."""
    loaded = {}

    def get(family: str):
        if family not in loaded:
            path = checkpoint(family)
            settings = {"family": family, "source": {"path": str(path)}}
            loaded[family] = load_embedder(family, settings, path)
        return loaded[family]

    return get


def _scale(states: torch.Tensor) -> float:
    return float(states.abs().max())


@pytest.mark.parametrize("family", TRACK_FAMILIES)
def test_family_contract(embedder, family):
    model = embedder(family)
    length, bins, channels = SHAPES[family]
    assert (model.n_layers, model.has_cls, model.has_lm_head) == (0, False, False)
    assert (model.input_length, model.n_positions, model.hidden_size) == SHAPES[family]
    batch = model.encode(SEQS)
    for seq, enc in zip(SEQS, batch):  # positions are output bins, not bases
        assert np.array_equal(enc.ids, base_codes(seq)) and len(enc) == bins
        assert not enc.special.any() and not enc.n_bases.any()
    states, mask = model.hidden_states(batch)
    assert states.shape == (1, 3, bins, channels) and states.dtype == torch.float32
    assert mask.shape == (3, bins) and mask.all()
    assert torch.isfinite(states).all()
    assert (states[0, 0] - states[0, 2]).abs().max() > 1e-3 * _scale(states)  # not degenerate
    tolerance = {"atol": 1e-5 * _scale(states), "rtol": 1e-4}
    for row in (1, 2):  # a sequence's states do not depend on its batch mates
        alone, _ = model.hidden_states(batch[row : row + 1])
        torch.testing.assert_close(states[:, row], alone[:, 0], **tolerance)
    assert torch.equal(states, model.hidden_states(batch)[0])  # deterministic
    with pytest.raises(TokenizationError, match=rf"{family}': sequence 1 is {length + 1} bp"):
        model.encode(["ACGT", "A" * (length + 1)])
    with pytest.raises(NotImplementedError, match="no language-model head"):
        model.logits(batch)


def _padded(seq: str, length: int) -> str:
    left = (length - len(seq)) // 2
    return "N" * left + seq + "N" * (length - len(seq) - left)


@pytest.mark.parametrize("family", TRACK_FAMILIES)
def test_representation_is_the_packages_own_embedding_output(embedder, checkpoint, family):
    """The package's own embedding output (Enformer `return_only_embeddings`, Borzoi
    `return_embeddings`) of its own model class, loaded without glmeval, on the sequence padded
    with N in the middle of the input, one-hot A C G T."""
    model = embedder(family)
    states, _ = model.hidden_states(model.encode(SEQS))
    length = model.input_length
    path = checkpoint(family)
    model_class, config_class = model_classes(family)
    if family == "enformer":
        from enformer_pytorch import str_to_one_hot

        reference = model_class(config_class.from_pretrained(path))
        state = torch.load(path / "pytorch_model.bin", weights_only=True)
        reference.load_state_dict(state, strict=True)  # the file holds every name of every weight
    else:
        reference = model_class.from_pretrained(path, local_files_only=True)
    reference.eval()
    with torch.inference_mode():
        for row, seq in enumerate(SEQS):
            padded = _padded(seq, length)
            if family == "enformer":
                x = str_to_one_hot(padded)[None]  # (1, L, 4): A C G T, N all zero
                own = reference(x, return_only_embeddings=True)[0]
            else:
                codes = np.array(["ACGTN".index(base) for base in padded])
                x = torch.from_numpy(np.eye(5, 4, dtype=np.float32)[codes].T.copy())[None]
                tracks, embedding = reference(x, return_embeddings=True)
                own = embedding[0].T
                assert tracks.shape[1:] == (7611, model.n_positions)  # the human head
            assert own.shape == states.shape[2:]
            torch.testing.assert_close(states[0, row], own, atol=1e-5 * _scale(own), rtol=1e-4)


@pytest.mark.parametrize("family", TRACK_FAMILIES)
def test_extraction_writes_mean_pooled_bins(embedder, family, tmp_path):
    model = embedder(family)
    _, bins, channels = SHAPES[family]
    extract(model, SEQS, tmp_path / "emb", token_layers=[0])
    pooled = np.load(tmp_path / "emb" / "pooled.npy")
    tokens = np.load(tmp_path / "emb" / "tokens.L0.npy")
    meta = json.loads((tmp_path / "emb" / "meta.json").read_text())
    assert pooled.shape == (3, 1, 2, channels) and pooled.dtype == np.float16
    assert tokens.shape == (3, bins, channels)
    assert (meta["n_layers"], meta["hidden_size"], meta["has_cls"]) == (0, channels, False)
    assert np.isnan(pooled[:, :, 0]).all()  # no CLS
    states, _ = model.hidden_states(model.encode(SEQS))
    scale = _scale(states)
    np.testing.assert_allclose(pooled[:, 0, 1], states[0].mean(1).numpy(), atol=2e-3 * scale)
    np.testing.assert_allclose(tokens, states[0].numpy(), atol=2e-3 * scale)


@pytest.mark.parametrize("family", TRACK_FAMILIES)
def test_random_init_is_seeded(embedder, checkpoint, family):
    path = checkpoint(family)
    settings = {"family": family, "source": {"path": str(path)}}
    first, second, other = (
        load_embedder(family, settings | {"random_init": seed}, path) for seed in (1, 1, 2)
    )
    batch = first.encode(SEQS[:1])
    states = [m.hidden_states(batch)[0] for m in (first, second, other, embedder(family))]
    assert torch.equal(states[0], states[1])
    assert not torch.equal(states[0], states[2]) and not torch.equal(states[0], states[3])


@pytest.mark.parametrize("family", TRACK_FAMILIES)
def test_input_length_from_the_config_else_the_family(checkpoint, family, tmp_path):
    config = json.loads((checkpoint(family) / "config.json").read_text())
    del config[INPUT_KEY]  # as in the published checkpoints
    (tmp_path / "config.json").write_text(json.dumps(config))
    model = EMBEDDERS[family]("m", tmp_path, random_init_seed=0)
    assert (
        model.input_length
        == FAMILIES[family].input_bases
        == {"enformer": 196_608, "borzoi": 524_288}[family]
    )
    bins = model.input_length // {"enformer": 8, "borzoi": 32}[family]
    assert (bins, model.n_positions) == {"enformer": (24_576, 128), "borzoi": (16_384, 64)}[family]
    (tmp_path / "config.json").write_text(json.dumps(config | {INPUT_KEY: 4100}))
    with pytest.raises(ModelError, match=r"input length 4100 is not a multiple of (8|128)"):
        EMBEDDERS[family]("m", tmp_path, random_init_seed=0)


@pytest.mark.parametrize("family", TRACK_FAMILIES)
def test_published_architecture_on_the_meta_device(family):
    """The published configurations (the package's defaults): parameters, and the layer the
    embedder reads at the family's input length, traced without allocating weights."""
    model_class, config_class = model_classes(family)
    with torch.device("meta"):
        model = model_class(config_class()).eval()
        length = FAMILIES[family].input_bases
        if family == "enformer":
            out = model(torch.zeros(1, length, 4), return_only_embeddings=True)
        else:
            out = model(torch.zeros(1, 4, length), return_embeddings=True)[1].transpose(1, 2)
    bin_bases, multiple, kept, channels = EMBEDDERS[family].geometry(model)
    expected = {"enformer": (128, 128, 896, 3072), "borzoi": (32, 128, 6144, 1920)}[family]
    assert (bin_bases, multiple, kept, channels) == expected
    assert out.shape == (1, kept, channels)
    parameters = {"enformer": 251_221_292, "borzoi": 185_892_699}[family]
    assert sum(p.numel() for p in model.parameters()) == parameters


@pytest.mark.parametrize("family", ENFORMER)
def test_enformer_weights_under_either_name_and_faults(checkpoint, family, tmp_path):
    """Enformer holds its modules twice (`stem` ... and `_trunk`): a checkpoint with each weight
    under one name loads the same; missing weights, foreign keys and a missing file are named."""
    from safetensors.torch import load_file, save_model

    path = checkpoint(family)
    full = load_track_model(family, path)
    shutil.copy(path / "config.json", tmp_path / "config.json")
    save_model(full, str(tmp_path / "model.safetensors"))  # keeps one name per tensor
    stored = load_file(tmp_path / "model.safetensors")
    assert len(stored) < len(full.state_dict())
    again = load_track_model(family, tmp_path)
    assert all(
        torch.equal(value, again.state_dict()[key]) for key, value in full.state_dict().items()
    )

    state = dict(full.state_dict())
    for key in [k for k in state if k.endswith("to_q.weight")]:
        del state[key]
    state["extra.weight"] = torch.zeros(1)
    (tmp_path / "model.safetensors").unlink()
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(
        ModelError,
        match=r"missing keys \[.*to_q.weight.*\] \(4 in all\), unexpected keys \['extra.weight'\]",
    ):
        load_track_model(family, tmp_path)
    (tmp_path / "pytorch_model.bin").unlink()
    with pytest.raises(ModelError, match="model.safetensors or pytorch_model.bin is missing"):
        load_track_model(family, tmp_path)
    with pytest.raises(ModelError, match="config.json is missing"):
        load_track_model(family, tmp_path / "absent")


@pytest.mark.parametrize("family", ENFORMER)
def test_enformer_official_snapshot_uses_tensorflow_gammas(checkpoint, family, tmp_path):
    """As enformer-pytorch's `from_pretrained` does for EleutherAI/enformer-official-rough."""
    from enformer_pytorch.modeling_enformer import Attention

    shutil.copytree(checkpoint(family), tmp_path / "m")
    record = {"hub": OFFICIAL_ENFORMER, "revision": "main", "commit": "0" * 40}
    attention = [
        m for m in load_track_model(family, tmp_path / "m").modules() if isinstance(m, Attention)
    ]
    assert attention and not any(m.use_tf_gamma for m in attention)
    (tmp_path / "m" / "glmeval_source.json").write_text(json.dumps(record))
    model = load_track_model(family, tmp_path / "m")
    assert all(m.use_tf_gamma for m in model.modules() if isinstance(m, Attention))


@pytest.mark.parametrize("family", ["enformer", "borzoi"])
def test_missing_package_names_the_install(monkeypatch, family, tmp_path):
    module = FAMILIES[family].requires[0]
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == module else find_spec(name, *a),
    )
    install = {
        "enformer": "pip install 'glmeval[enformer]'.",
        "borzoi": "pip install 'glmeval[borzoi]' && pip install --no-deps borzoi-pytorch==0.5.1.",
    }[family]
    with pytest.raises(ModelError) as info:
        load_embedder("m", {"family": family, "source": {"path": str(tmp_path)}}, tmp_path)
    assert str(info.value) == (
        f"model 'm' (family {family}) needs the Python package '{module}', which is not "
        f"installed: {install}"
    )


@pytest.fixture
def demo():
    return yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


#: As a user adds them: docs/models.md's lines
MODELS_YAML = f"""
enformer: {{family: enformer, source: {{hub: {OFFICIAL_ENFORMER}, revision: main}}, batch_size: 2}}
borzoi: {{family: borzoi, source: {{hub: johahi/borzoi-replicate-0, revision: main}}, batch_size: 1}}
borzoi_local: {{family: borzoi, source: {{path: checkpoints/borzoi}}}}
borzoi_random: {{family: random_init, of: borzoi, seed: 0}}
"""


def _errors(config) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA)
    return str(info.value)


def test_configured_by_yaml(demo):
    demo["models"] |= yaml.safe_load(MODELS_YAML)
    demo["tasks"]["motif_activity"]["models"] += ["enformer", "borzoi", "borzoi_random"]
    demo["variants"] = {
        "v": {
            "table": "v.tsv",
            "genome": "g.fa",
            "length": 200,
            "zeroshot": {"models": ["enformer", "borzoi"], "scores": ["cosine", "l2"]},
        }
    }
    config = validate_config(copy.deepcopy(demo), SCHEMA)
    assert config["models"]["enformer"]["family"] == "enformer"

    bad = copy.deepcopy(demo)
    bad["models"]["enformer"] |= {"n_layers": 2}
    assert "n_layers" in _errors(bad)
    bad = copy.deepcopy(demo)
    bad["models"]["enformer"] |= {"precision": "bf16", "strands": "both"}
    message = _errors(bad)
    assert "models.enformer.precision applies only to language-model families" in message
    assert "models.enformer.strands: both needs states aligned to bases" in message
    bad = copy.deepcopy(demo)  # inputs it cannot take, checked once the models are valid
    bad["variants"]["v"]["zeroshot"] |= {"scores": ["llr"], "windows": {"borzoi": 600_000}}
    message = _errors(bad)
    assert (
        "llr (|LLR|) needs a language model head, and model 'enformer' (enformer) has none"
        in message
    )
    assert "the 600000-base windows are longer than model 'borzoi' takes (524288 bases)" in message


EVO2_NEEDS = [
    "glmeval has no adapter for Evo 2",
    "`pip install evo2`",
    "FP8 through NVIDIA Transformer Engine",
    "compute capability >= 8.9 (Hopper",
    "7B checkpoints run in bf16 without Transformer Engine",
    "~14 GB",
    "as a `features` model",
]


def test_evo2_is_refused_at_configuration_and_at_load(demo, tmp_path):
    demo["models"]["evo2"] = {
        "family": "evo2",
        "source": {"hub": "arcinstitute/evo2_7b", "revision": "main"},
    }
    demo["models"]["evo2_random"] = {"family": "random_init", "of": "evo2"}
    demo["tasks"]["motif_activity"]["models"].append("evo2")
    message = _errors(demo)
    for name in ("evo2", "evo2_random"):
        assert f"models.{name}.family: glmeval has no adapter for Evo 2" in message
    assert all(need in message for need in EVO2_NEEDS)
    with pytest.raises(ModelError) as info:  # whatever is installed, on any device
        load_embedder("evo", {"family": "evo2"}, tmp_path, device="cuda")
    assert str(info.value).startswith("model 'evo' (family evo2): glmeval has no adapter")
    assert all(need in str(info.value) for need in EVO2_NEEDS)
