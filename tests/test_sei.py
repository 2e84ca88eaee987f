import numpy as np
import pytest
import torch
from torch import nn

from glmeval.data.sequence import base_codes, padded_one_hot
from glmeval.models.base import TokenizationError
from glmeval.models.sei import (
    N_TARGETS,
    PREFIX,
    BSplineTransformation,
    Sei,
    SeiEmbedder,
    load_sei,
    save_random_sei,
    sei_weights,
)

SMALL = 8  # targets of the stand-in checkpoints: the full classifier alone is 816M parameters


def _random_dna(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sei")
    save_random_sei(directory, seed=0, n_targets=SMALL)
    return directory


@pytest.fixture(scope="module")
def embedder(weights):
    return SeiEmbedder("sei", weights)


def test_prefixed_checkpoint_round_trips(weights, embedder, tmp_path):
    saved = torch.load(weights / "sei.pth", weights_only=True)
    assert all(key.startswith(PREFIX) for key in saved)
    assert "module.model.lconv1.0.weight" in saved and "module.model.classifier.2.bias" in saved
    state = load_sei(weights).state_dict()
    assert state.keys() == {key.removeprefix(PREFIX) for key in saved}
    trunk = embedder.model.state_dict()  # the embedder keeps the trunk only
    assert trunk.keys() == {k for k in state if not k.startswith("classifier.")}
    assert all(torch.equal(value, state[key]) for key, value in trunk.items())
    assert all(torch.equal(value, saved[PREFIX + key]) for key, value in state.items())
    torch.save(state, tmp_path / "sei.pth")  # an unprefixed state dict loads as well
    assert torch.equal(load_sei(tmp_path).dconv5[1].weight, state["dconv5.1.weight"])


def test_wrong_or_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path / 'sei.pth'}.*4906997"):
        load_sei(tmp_path)
    torch.save(nn.Linear(3, 2).state_dict(), tmp_path / "sei.pth")
    with pytest.raises(ValueError, match=r"not a Sei checkpoint: missing .*unexpected .*'weight'"):
        load_sei(tmp_path)


def test_weights_in_either_archive_layout(tmp_path):
    """Zenodo 4906997 unpacks to model/sei.pth, the paper's model archive holds
    model/sei_model/sei.pth: a directory holding sei.pth, or one directory above it, or the file
    itself finds it; two candidates below a directory are an error naming both."""
    sei, paper = tmp_path / "sei" / "model", tmp_path / "paper" / "model" / "sei_model"
    for directory in (sei, paper):
        directory.mkdir(parents=True)
        (directory / "sei.pth").touch()
    assert sei_weights(sei) == sei_weights(sei.parent) == sei / "sei.pth"
    assert sei_weights(paper) == sei_weights(paper.parent) == paper / "sei.pth"
    assert sei_weights(paper / "sei.pth") == paper / "sei.pth"
    (paper.parent / "copy").mkdir()
    (paper.parent / "copy" / "sei.pth").touch()
    with pytest.raises(FileNotFoundError, match=r"several: .*copy/sei\.pth.*sei_model/sei\.pth"):
        sei_weights(paper.parent)


def test_random_init_seed(embedder):
    # same seed as the stand-in checkpoint: the same weights; another seed: others
    same, other = (load_sei(None, random_init_seed=seed, n_targets=SMALL) for seed in (0, 1))
    for key, value in embedder.model.state_dict().items():
        assert torch.equal(value, same.state_dict()[key])
    assert not torch.equal(same.lconv1[0].weight, other.lconv1[0].weight)


def test_one_hot_pads_symmetrically_and_zeros_n():
    codes = np.array([0, 1, 2, 3, 4])  # A C G T N
    x = padded_one_hot([codes], 10)[0]  # pad 5: 2 left, 3 right
    assert x.shape == (4, 10)
    assert x[:, 2:6].argmax(0).tolist() == [0, 1, 2, 3] and x[:, 2:6].sum(0).tolist() == [1] * 4
    assert x[:, [0, 1, 6, 7, 8, 9]].sum() == 0
    with pytest.raises(ValueError, match="row 0: 5 bases do not fit in 4"):
        padded_one_hot([codes], 4)


def test_spline_basis_follows_the_input_length():
    spline = BSplineTransformation(16)
    for n in (256, 64):
        basis = spline.basis(n)
        assert basis.shape == (n, 16)
        torch.testing.assert_close(basis.sum(1), torch.ones(n))
        assert spline(torch.ones(2, 3, n)).shape == (2, 3, 16)


def test_embedder_states(embedder, weights):
    assert (embedder.n_layers, embedder.hidden_size, embedder.has_cls) == (0, 16, False)
    short = _random_dna(230, 0)
    short = short[:100] + "NNNNN" + short[105:]
    batch = embedder.encode([short, _random_dna(4096, 1)])
    assert [len(e) for e in batch] == [960, 960]
    assert not batch[0].special.any() and not batch[0].n_bases.any()
    assert np.array_equal(batch[0].ids, base_codes(short))

    states, mask = embedder.hidden_states(batch)
    assert states.shape == (1, 2, 960, 16) and states.dtype == torch.float32
    assert mask.all() and mask.shape == (2, 960)
    assert torch.isfinite(states).all()
    assert torch.equal(states, embedder.hidden_states(batch)[0])

    # the same representation from the full model on a hand-padded one-hot, via a hook
    x = torch.zeros(1, 4, 4096)
    left = (4096 - 230) // 2
    for i, base in enumerate(short):
        if base != "N":
            x[0, "ACGT".index(base), left + i] = 1
    captured, full = [], load_sei(weights)
    hook = full.spline_tr.register_forward_hook(lambda m, i, out: captured.append(out))
    with torch.inference_mode():
        out = full(x)
    hook.remove()
    torch.testing.assert_close(states[0, 0], captured[0][0], atol=1e-5, rtol=1e-4)
    assert out.shape == (1, SMALL) and ((out >= 0) & (out <= 1)).all()


def test_too_long_and_no_logits(embedder):
    with pytest.raises(TokenizationError, match=r"'sei': sequence 1 is 5000 bp .* at most 4096"):
        embedder.encode(["ACGT", "A" * 5000])
    with pytest.raises(NotImplementedError, match="no language-model head"):
        embedder.logits(embedder.encode(["ACGT"]))


def test_published_head_on_meta_device():
    # the published head (21,907 targets, 816M parameters) traced without allocating weights
    with torch.device("meta"):
        model = Sei()
        assert model(torch.zeros(2, 4, 4096)).shape == (2, N_TARGETS)
    assert sum(p.numel() for p in model.parameters()) == 889_979_983
