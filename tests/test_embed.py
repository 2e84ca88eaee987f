import numpy as np
import pytest
import torch

from glmeval.embed import extract, pool
from glmeval.io import read_json
from glmeval.models import load_embedder
from glmeval.models.onehot import OneHotEmbedder

SEQS = ["ACGTACGTACGTAAC", "ACGT" * 9, "ACGTNACGTACGTTTTGCA", "ACGTAC" * 4, "GATTACA" * 3]


def test_pool_excludes_special_and_padding():
    states = torch.arange(2 * 1 * 4 * 1, dtype=torch.float32).reshape(2, 1, 4, 1)
    content = torch.tensor([[False, True, True, False]])
    pooled = pool(states, content, has_cls=True)
    assert pooled.shape == (1, 2, 2, 1)
    assert pooled[0, 0, 0, 0] == 0 and pooled[0, 0, 1, 0] == 1.5  # cls = token 0; mean of 1, 2
    assert torch.isnan(pool(states, content, has_cls=False)[0, :, 0]).all()


def test_artifact_in_input_order_and_matches_direct_forward(tiny_models, tmp_path):
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    extract(nt, SEQS, tmp_path / "emb", token_layers=[1], batch_size=2)
    meta = read_json(tmp_path / "emb" / "meta.json")
    pooled = np.load(tmp_path / "emb" / "pooled.npy")
    tokens = np.load(tmp_path / "emb" / "tokens.L1.npy")
    encoded = nt.encode(SEQS)
    width = max(map(len, encoded))
    assert pooled.shape == (5, 3, 2, 32) and pooled.dtype == np.float16
    assert tokens.shape == (5, width, 32) and meta["token_layers"] == [1]
    assert meta["bytes"] == sum(p.stat().st_size for p in (tmp_path / "emb").glob("*.npy"))
    for i, enc in enumerate(encoded):  # bucketing keeps rows in input order
        states, _ = nt.hidden_states([enc])
        content = ~torch.from_numpy(enc.special)
        mean = states[:, 0, content].mean(1).numpy()
        np.testing.assert_allclose(pooled[i, :, 1], mean, atol=2e-3, rtol=2e-3)
        np.testing.assert_allclose(pooled[i, :, 0], states[:, 0, 0].numpy(), atol=2e-3, rtol=2e-3)
        np.testing.assert_allclose(tokens[i, : len(enc)], states[1, 0].numpy(), atol=2e-3, rtol=2e-3)
        assert not tokens[i, len(enc):].any()


def test_failed_extraction_leaves_nothing(tmp_path):
    class Exploding(OneHotEmbedder):
        def hidden_states(self, batch):
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        extract(Exploding(), SEQS, tmp_path / "emb", token_layers=[0], batch_size=2)
    assert list(tmp_path.iterdir()) == []


def test_unknown_token_layer(tmp_path):
    with pytest.raises(ValueError, match=r"layers 0..0; token-level layers \[3\]"):
        extract(OneHotEmbedder(), SEQS, tmp_path / "emb", token_layers=[3])
