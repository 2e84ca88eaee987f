"""The Keras architectures ported to PyTorch (docs/paper.md, Probes): shapes, exact parameter
counts written out by hand from the paper's code, Keras initialisers, the ChIP reduction bug, the
two-branch splicing model and the length checks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from glmeval.models.rbp import RBPNet
from glmeval.nn.layers import ResidualBlock, init_glorot, init_he_uniform
from glmeval.probes.cnn import ChipCNN, InsertCNN, MPRAnn, RepCNN, ResidualBind, SpliceCNN
from glmeval.probes.mlp import RepMLP


# Trainable parameters of each Keras layer.
def conv(c_in, c_out, k):  # Conv1D with bias
    return c_in * c_out * k + c_out


def conv_nb(c_in, c_out, k):  # Conv1D(use_bias=False)
    return c_in * c_out * k


def dense(n_in, n_out):
    return n_in * n_out + n_out


def bn(c):  # gamma and beta; the moving mean and variance are buffers
    return 2 * c


def residual(c, k, n_dilations):  # Conv → BN, then one Conv → BN per dilation
    return (1 + n_dilations) * (conv_nb(c, c, k) + bn(c))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def out(model: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(*inputs)


def rep_cnn_params(flat, dim, reduce_dim):
    return (
        bn(dim) + conv(dim, reduce_dim, 1)
        + conv(reduce_dim, 196, 7) + bn(196)
        + conv(196, 256, 7) + bn(256)
        + dense(256 * flat, 512) + bn(512)
        + dense(512, 256) + bn(256)
        + dense(256, 1)
    )  # fmt: skip


def rep_mlp_params(dim):
    return dense(dim, 512) + bn(512) + dense(512, 256) + bn(256) + dense(256, 1)


def chip_params(flat, dim, reduce):
    reduction = bn(dim) + conv(dim, 512, 1) if reduce else 0
    return (
        reduction
        + conv(512 if reduce else dim, 64, 7) + bn(64)
        + conv(64, 96, 5) + bn(96)
        + conv(96, 128, 5) + bn(128)
        + dense(128 * flat, 256) + bn(256)
        + dense(256, 1)
    )  # fmt: skip


def test_rep_cnn_and_rep_mlp_width_1():
    # one-hot "CNN" baseline (230, 4), reduce_dim 196: 230 → 46 → 11
    model = RepCNN(230, 4, reduce_dim=196)
    assert out(model, torch.zeros(2, 230, 4)).shape == (2, 1)
    assert n_params(model) == rep_cnn_params(11, 4, 196) == 2_197_913
    # NT layer probe (41, 2560), reduce_dim 196: 41 → 8 → 2
    assert n_params(RepCNN(41, 2560, reduce_dim=196)) == rep_cnn_params(2, 2560, 196) == 1_524_353
    model = RepMLP(2560)
    assert out(model, torch.zeros(2, 2560)).shape == (2, 1)
    assert n_params(model) == rep_mlp_params(2560) == 1_444_353


def test_residual_bind():
    model = ResidualBind(230)
    x = torch.zeros(2, 230, 4)
    assert out(model, x).shape == (2, 1)
    assert model.features(x.transpose(1, 2)).flatten(1).shape == (2, 1024)  # 230→46→9→4
    expected = (
        conv(4, 196, 19) + bn(196)
        + residual(196, 3, 5)  # dilations 1, 2, 4, 8, 16
        + conv(196, 256, 7) + bn(256)
        + conv(256, 256, 1) + bn(256)  # Dense(256) per position
        + dense(1024, 256) + bn(256)
        + dense(256, 1)
    )  # fmt: skip
    assert n_params(model) == expected == 1_390_797
    dilations = [m.dilation[0] for m in model.features[4].body if isinstance(m, nn.Conv1d)]
    assert dilations == [1, 1, 2, 4, 8, 16]
    assert sum(isinstance(m, nn.SiLU) for m in model.modules()) == 10


def test_mpra_nn():
    model = MPRAnn(230)
    x = torch.zeros(2, 230, 4)
    assert out(model, x).shape == (2, 1)
    assert model.features(x.transpose(1, 2)).flatten(1).shape == (2, 10500)  # 105 × 100
    expected = (
        conv(4, 250, 7) + bn(250)
        + conv(250, 250, 8) + bn(250)
        + conv(250, 250, 3) + bn(250)
        + conv(250, 100, 2) + bn(100)
        + dense(10500, 300) + dense(300, 200) + dense(200, 1)
    )  # fmt: skip
    assert n_params(model) == expected == 3_957_751
    # softmax over channels: after conv4's softmax every position sums to 1 over its 100 channels
    probs = model.features[:13].eval()(torch.randn(2, 4, 230))
    assert torch.allclose(probs.sum(1), torch.ones(2, 105))


def test_chip_cnn_shapes_and_counts():
    # one-hot / non-NT inputs with the representation_perf.py bug: (200, 4), 200 → 50 → 12 → 6
    model = ChipCNN(200, 4, reduce=False)
    assert out(model, torch.zeros(2, 200, 4)).shape == (2, 1)
    assert n_params(model) == chip_params(6, 4, reduce=False) == 292_449
    # NT_CNN.py, (36, 2560) in the paper; dim 64 here to stay fast: 36 → 9 → 2 → 1
    model = ChipCNN(36, 64)
    assert out(model, torch.zeros(2, 36, 64)).shape == (2, 1)
    assert n_params(model) == chip_params(1, 64, reduce=True)
    assert chip_params(1, 2560, reduce=True) == 1_672_545  # the NT layer-32 probe
    assert out(ChipCNN(36, 8, n_out=3), torch.zeros(2, 36, 8)).shape == (2, 3)


def test_chip_cnn_reduce_false_has_no_reduction():
    model = ChipCNN(200, 16, reduce=False)
    assert isinstance(model.reduction, nn.Identity)
    assert not any(k.startswith("reduction.") for k in model.state_dict())
    assert model.features[0].in_channels == 16  # the first conv reads the raw input
    reduced = ChipCNN(200, 16, reduce_dim=32)
    assert n_params(reduced) - n_params(model) == bn(16) + conv(16, 32, 1) + conv_nb(32 - 16, 64, 7)


def test_chip_cnn_init_follows_the_keras_code():
    torch.manual_seed(0)
    model = ChipCNN(200, 64, reduce=True)
    for layer in (model.reduction[1], model.features[0], model.features[5]):  # HeUniform convs
        bound = math.sqrt(6 / layer.weight[0].numel())
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.95 * bound
        assert not layer.bias.any()
    dense_layer = model.head[1]  # Dense without initializer: Keras' GlorotUniform
    bound = math.sqrt(6 / sum(dense_layer.weight.shape))
    assert bound < dense_layer.weight.abs().max() * 1.05 and dense_layer.weight.abs().max() <= bound


def test_splice_cnn():
    model = SpliceCNN(400, 4)
    left, right = torch.randn(2, 400, 4), torch.randn(2, 400, 4)
    assert out(model, left, right).shape == (2, 56)
    branch = conv(4, 128, 7) + bn(128)
    expected = (
        2 * branch  # separate left and right weights
        + conv(128, 164, 5) + bn(164)
        + conv(164, 256, 5) + bn(256)
        + dense(256 * 25, 256) + bn(256)  # 100 + 100 → 200 → 50 → 25
        + dense(256, 256) + bn(256)
        + dense(256, 56)
    )  # fmt: skip
    assert n_params(model) == expected == 2_043_940
    # the NT layer-32 shape with the guessed BN + k=1 reduction: 17 + 17 → 34 → 8 → 4
    reduced = SpliceCNN(71, 32, reduce_dim=16)
    assert out(reduced, torch.zeros(2, 71, 32), torch.zeros(2, 71, 32)).shape == (2, 56)
    reduced_branch = bn(32) + conv(32, 16, 1) + conv(16, 128, 7) + bn(128)
    assert n_params(reduced) == n_params(SpliceCNN(71, 4)) - 2 * branch + 2 * reduced_branch


@pytest.mark.parametrize("reduce_dim", [None, 8])
def test_splice_cnn_branches_are_independent(reduce_dim):
    torch.manual_seed(0)
    model = SpliceCNN(64, 4, n_out=5, reduce_dim=reduce_dim)
    left_ids = {id(p) for p in model.left.parameters()}
    assert left_ids and left_ids.isdisjoint(id(p) for p in model.right.parameters())
    left, right = torch.randn(3, 64, 4), torch.randn(3, 64, 4)
    base = out(model, left, right)
    assert not torch.allclose(base, out(model, left, right + 1.0))
    assert not torch.allclose(base, out(model, left + 1.0, right))
    assert not torch.allclose(base, out(model, right, left))  # the two sides are not symmetric
    model.train()
    model(left, right).sum().backward()
    for side in (model.left, model.right):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in side.parameters())
    with pytest.raises(ValueError, match="SpliceCNN.*same shape"):
        model(left, right[:, :60])


def test_insert_cnn():
    model = InsertCNN(173, 4)
    assert out(model, torch.zeros(2, 173, 4)).shape == (2, 1)
    expected = (
        conv(4, 48, 1)
        + conv_nb(48, 96, 19) + bn(96)
        + residual(96, 3, 2)  # dilations 2, 4
        + conv_nb(96, 128, 7) + bn(128)
        + dense(128, 128)
        + dense(128, 1)
    )  # fmt: skip
    assert n_params(model) == expected == 274_417
    assert [tuple(w.shape) for w in model.l2_kernels()] == [(96, 48, 19), (128, 96, 7)]
    normed = InsertCNN(46, 768, layer_norm=True)
    assert isinstance(normed.norm, nn.LayerNorm) and normed.norm.eps == 1e-3
    assert n_params(normed) == n_params(InsertCNN(46, 768)) + 2 * 768
    assert out(normed, torch.randn(2, 46, 768)).shape == (2, 1)


@pytest.mark.parametrize(
    ("name", "build", "minimum"),
    [
        ("RepCNN", lambda n: RepCNN(n, 4), 20),
        ("ResidualBind", lambda n: ResidualBind(n), 50),
        ("MPRAnn", lambda n: MPRAnn(n), 21),
        ("ChipCNN", lambda n: ChipCNN(n, 4, reduce=False), 32),
        ("SpliceCNN", lambda n: SpliceCNN(n, 4), 16),
        ("InsertCNN", lambda n: InsertCNN(n, 4), 10),
    ],
)
def test_too_short_inputs_raise(name, build, minimum):
    with pytest.raises(ValueError, match=rf"{name}.*at least {minimum} tokens"):
        build(minimum - 1)
    model = build(minimum)  # the minimum itself works end to end
    x = torch.randn(2, minimum, 4)
    assert out(model, *([x, x] if name == "SpliceCNN" else [x])).shape[0] == 2


def test_residual_block_and_init_helpers():
    block = ResidualBlock(8, kernel_size=3, dilations=(2, 4), activation=nn.ReLU)
    assert n_params(block) == residual(8, 3, 2)
    assert (out(block, torch.randn(2, 8, 13)) >= 0).all()  # final ReLU; length kept ('same')
    layers = nn.Sequential(nn.Conv1d(10, 20, 5), nn.Linear(30, 40))
    init_he_uniform(layers)
    for layer, fan_in in zip(layers, (50, 30)):
        assert layer.weight.abs().max() <= math.sqrt(6 / fan_in) and not layer.bias.any()
    init_glorot(layers)
    for layer, fans in zip(layers, (50 + 100, 30 + 40)):
        assert layer.weight.abs().max() <= math.sqrt(6 / fans) and not layer.bias.any()


def test_rbp_net_keeps_its_state_dict_keys():
    model = RBPNet(3)
    body = [k for k in model.state_dict() if k.startswith("features.4.")]
    assert body[:2] == ["features.4.body.0.weight", "features.4.body.1.weight"]
    assert "features.4.body.9.running_var" in body and not any("activation" in k for k in body)
    dilations = [m.dilation[0] for m in model.features[4].body if isinstance(m, nn.Conv1d)]
    assert dilations == [1, 2, 4]
