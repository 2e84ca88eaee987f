"""`strands: both`: the reverse strand's states flipped back onto the forward tokens and averaged,
each strand's pooled states kept beside them, and the settings that cannot take it refused."""

import json

import numpy as np
import pytest
import torch
from conftest import REPO

from glmeval.config import ConfigError, validate_config
from glmeval.data.sequence import reverse_complement
from glmeval.embed import extract
from glmeval.models import load_embedder
from glmeval.models.base import Encoded, padding_mask
from glmeval.models.onehot import OneHotEmbedder
from glmeval.plan import representations
from glmeval.probes.inputs import ProbeInputError, load_features

RNG = np.random.default_rng(3)
SEQS = ["".join(RNG.choice(list("ACGT"), n)) for n in (41, 36, 23)]
PALINDROME = "ACGTTAGCGGAATTCCA" + reverse_complement("ACGTTAGCGGAATTCCA")
SCHEMA = REPO / "config" / "schema.yaml"
COMPLEMENT = [3, 2, 1, 0]  # A C G T -> T G C A


class StrandSymmetric:
    """A reverse-complement-equivariant stand-in: a random convolution over the one-hot plus the
    same convolution of the reverse complement, flipped back, so the states of a sequence's
    reverse complement are its states in reverse order."""

    name, n_layers, hidden_size, has_cls, device = "strand_symmetric", 1, 8, False, "cpu"

    def __init__(self):
        self.onehot = OneHotEmbedder()
        self.encode = self.onehot.encode
        torch.manual_seed(0)
        self.conv = torch.nn.Conv1d(4, 8, 5, padding=2)

    def hidden_states(self, batch):
        (onehot,), mask = self.onehot.hidden_states(batch)
        states = torch.zeros(len(batch), mask.shape[1], 8)
        with torch.no_grad():
            for row, enc in enumerate(batch):
                x = onehot[row, : len(enc)].T[None]
                rc = x.flip(-1)[:, COMPLEMENT]
                states[row, : len(enc)] = (self.conv(x) + self.conv(rc).flip(-1))[0].T
        return torch.stack([onehot.new_zeros(states.shape), states]), mask


def artifact(tmp_path, embedder, seqs, name, **settings):
    out = tmp_path / name
    extract(embedder, seqs, out, token_layers=[embedder.n_layers], batch_size=2, **settings)
    return out


def test_a_strand_symmetric_model_s_averaged_states_are_its_forward_states(tmp_path):
    model = StrandSymmetric()
    both = artifact(tmp_path, model, SEQS, "both", strands="both")
    forward = artifact(tmp_path, model, SEQS, "forward")
    tokens = np.load(both / "tokens.L1.npy")
    np.testing.assert_allclose(tokens, np.load(forward / "tokens.L1.npy"), atol=2e-3)
    pooled = {view: np.load(both / f"pooled.{view}.npy") for view in ("forward", "reverse")}
    np.testing.assert_allclose(pooled["forward"], np.load(forward / "pooled.npy"))
    np.testing.assert_allclose(pooled["reverse"], pooled["forward"], atol=2e-3)
    assert not np.allclose(tokens[0, :5], tokens[0, 5:10])  # not a constant


def test_one_hot_of_both_strands_is_the_base_pair(tmp_path):
    out = artifact(tmp_path, OneHotEmbedder(), SEQS, "onehot", strands="both")
    tokens = np.load(out / "tokens.L0.npy").astype(np.float32)
    for row, seq in enumerate(SEQS):
        codes = ["ACGT".index(b) for b in seq]
        expected = (np.eye(4)[codes] + np.eye(4)[[COMPLEMENT[c] for c in codes]]) / 2
        np.testing.assert_array_equal(tokens[row, : len(seq)], expected)
        assert not tokens[row, len(seq) :].any()  # padding stays zero
    pooled = np.load(out / "pooled.npy").astype(np.float32)
    np.testing.assert_allclose(pooled[:, 0, 1], tokens.sum(1) / [[len(s)] for s in SEQS], atol=1e-3)


@pytest.fixture(scope="module")
def tiny_nt(tmp_path_factory):
    from glmeval.models.build import BUILDERS

    path = tmp_path_factory.mktemp("tiny_nt") / "tiny_nt"
    BUILDERS["tiny_nt"](path, n_layers=2)
    return load_embedder("tiny_nt", {"family": "masked_lm", "n_layers": 2}, path)


def reference_average(model, seq):
    """Both strands' token states for one sequence, by loops over bases: the forward token's
    state and the mean over its bases of the reverse token holding each base (CLS with CLS)."""
    (fwd,), (rev,) = model.encode([seq]), model.encode([reverse_complement(seq)])
    f_states = model.hidden_states([fwd])[0][:, 0]
    r_states = model.hidden_states([rev])[0][:, 0]
    r_spans = rev.spans()
    out = f_states.clone()
    for t, (start, end) in enumerate(fwd.spans()):
        if start < 0:  # special: pair with the reverse's special at the same rank
            u = np.flatnonzero(rev.special)[np.flatnonzero(fwd.special).tolist().index(t)]
            out[:, t] = (f_states[:, t] + r_states[:, u]) / 2
            continue
        holders = []
        for base in range(start, end):
            r_base = len(seq) - 1 - base
            holders.append(
                int(np.flatnonzero((r_spans[:, 0] <= r_base) & (r_base < r_spans[:, 1]))[0])
            )
        out[:, t] = (f_states[:, t] + r_states[:, holders].mean(1)) / 2
    return out


def test_k_mer_tokens_are_flipped_back_base_by_base(tmp_path, tiny_nt):
    seqs = SEQS + [PALINDROME]  # 6-mers, a remainder of single bases, a CLS token
    out = artifact(tmp_path, tiny_nt, seqs, "nt", strands="both")
    tokens = np.load(out / "tokens.L2.npy").astype(np.float32)
    pooled = np.load(out / "pooled.npy").astype(np.float32)
    for row, seq in enumerate(seqs):
        expected = reference_average(tiny_nt, seq)
        width = expected.shape[1]
        np.testing.assert_allclose(tokens[row, :width], expected[2].numpy(), atol=2e-3, rtol=2e-3)
        np.testing.assert_allclose(pooled[row, 2, 0], expected[2, 0].numpy(), atol=2e-3)  # CLS
        np.testing.assert_allclose(
            pooled[row, :, 1], expected[:, 1:].mean(1).numpy(), atol=2e-3, rtol=2e-3
        )


def test_a_palindrome_s_strands_agree_and_other_sequences_do_not(tmp_path, tiny_nt):
    out = artifact(tmp_path, tiny_nt, [PALINDROME, SEQS[0]], "nt", strands="both")
    forward, reverse = (np.load(out / f"pooled.{v}.npy") for v in ("forward", "reverse"))
    np.testing.assert_array_equal(forward[0], reverse[0])
    assert np.abs(forward[1] - reverse[1]).max() > 1e-2


def test_probes_read_each_strand_and_a_forward_artifact_has_none(tmp_path, tiny_nt):
    both = artifact(tmp_path, tiny_nt, SEQS, "both", strands="both")
    forward = artifact(tmp_path, tiny_nt, SEQS, "forward")
    own = np.load(both / "pooled.reverse.npy")[:, 1, 1].astype(np.float32)
    np.testing.assert_array_equal(load_features(both, "mean_reverse", 1), own)
    np.testing.assert_array_equal(
        load_features(both, "cls_forward", 1), load_features(forward, "cls", 1)
    )
    with pytest.raises(ProbeInputError, match="strands: both"):
        load_features(forward, "mean_forward", 1)


def test_a_model_without_base_aligned_outputs_is_refused(tmp_path):
    class Binned(OneHotEmbedder):  # outputs not aligned to bases, as Sei's
        def encode(self, seqs):
            return [
                Encoded(np.zeros(2, np.int64), np.zeros(2, bool), np.zeros(2, np.int32))
                for _ in seqs
            ]

        def hidden_states(self, batch):
            mask = padding_mask(batch, self.device)
            return torch.ones(1, len(batch), 2, 4), mask

    with pytest.raises(ValueError, match="not aligned to bases"):
        artifact(tmp_path, Binned(), SEQS, "binned", strands="both")


def config_with(model: dict) -> dict:
    return {
        "tasks": {
            "t": {
                "kind": "regression",
                "source": {
                    "synthetic": "motif_regression",
                    "length": 60,
                    "n_train": 50,
                    "n_valid": 10,
                    "n_test": 10,
                },
                "models": ["m"],
                "probes": ["ridge", "cnn"],
            }
        },
        "models": {"m": model},
        "probes": {"ridge": {"type": "ridge"}, "cnn": {"type": "rep_cnn"}},
    }


def test_strand_views_join_the_pooled_probes_of_a_both_strands_model():
    config = validate_config(config_with({"family": "onehot", "strands": "both"}), SCHEMA)
    assert representations(config, "m", "ridge") == ["mean", "mean_forward", "mean_reverse"]
    assert representations(config, "m", "cnn") == ["tokens"]
    config = validate_config(config_with({"family": "onehot"}), SCHEMA)
    assert representations(config, "m", "ridge") == ["mean"]


def test_both_strands_of_a_supervised_model_is_a_config_error():
    model = {"family": "sei", "source": {"path": "sei"}, "strands": "both"}
    with pytest.raises(ConfigError, match=r"models\.m\.strands: both .* family sei"):
        validate_config(config_with(model), SCHEMA)


def test_a_both_strands_model_is_embedded_both_ways_wherever_it_runs(tmp_path):
    """The model's setting travels with its embedder (transfer and attribution embed through
    the same engine as the extraction job)."""
    model = load_embedder("onehot", {"family": "onehot", "strands": "both"}, None)
    out = tmp_path / "windows"
    extract(model, SEQS, out, token_layers=[0])
    assert (out / "pooled.reverse.npy").exists()
    np.testing.assert_array_equal(np.load(out / "tokens.L0.npy")[0, 0].max(), 0.5)


def test_an_automatic_batch_holds_half_the_tokens_with_both_strands(tmp_path):
    from glmeval.embed import CPU_BATCH_TOKENS

    for strands, budget in (("forward", CPU_BATCH_TOKENS), ("both", CPU_BATCH_TOKENS // 2)):
        extract(OneHotEmbedder(), SEQS, tmp_path / strands, strands=strands)
        meta = json.loads((tmp_path / strands / "meta.json").read_text())
        assert meta["batch"] == {"size": None, "tokens": budget}


def test_figures_name_each_strand_s_probe():
    from glmeval.figures.style import Labels

    labels = Labels.from_config({"probes": {"ridge": {"type": "ridge"}}})
    assert labels.probe("ridge", "mean_forward") == "Mean-Ridge (forward)"
    assert labels.probe("ridge", "cls_reverse") == "CLS-Ridge (reverse)"
    assert labels.probe("ridge", "mean") == "Mean-Ridge"
