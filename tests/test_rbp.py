"""The supervised multitask RBP model: training, checkpoint files and the embedder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from glmeval.data.sequence import base_codes, padded_one_hot
from glmeval.data.tasks import prepare_task
from glmeval.io import read_json
from glmeval.models import TokenizationError
from glmeval.models.rbp import RBPEmbedder, train_rbp

MOTIFS = ["GATAAGGCTA", "TTCCGGAAGT", "CACGTGACCA"]  # target t = motif t planted
RATE = 0.3  # positive rate of every target


def make_task(root, sizes: dict[str, int], length: int = 200, seed: int = 0):
    """A prepared 3-target binary task (via the real table path of `prepare_task`)."""
    rng = np.random.default_rng(seed)
    slot = length // len(MOTIFS)
    rows = []
    for split, n in sizes.items():
        for i in range(n):
            seq = rng.choice(list("ACGT"), length)
            labels = rng.random(len(MOTIFS)) < RATE
            for t, place in enumerate(rng.permutation(len(MOTIFS))):  # one motif per slot
                if labels[t]:
                    start = place * slot + rng.integers(0, slot - len(MOTIFS[t]))
                    seq[start : start + len(MOTIFS[t])] = list(MOTIFS[t])
            rows.append(
                {"id": f"{split}{i}", "seq": "".join(seq), "split": split}
                | {f"rbp{t}": int(y) for t, y in enumerate(labels)}
            )
    table = root / "table.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    task = {
        "kind": "binary",
        "targets": [f"rbp{t}" for t in range(len(MOTIFS))],
        "source": {"table": str(table), "sequence_column": "seq", "split_column": "split"},
    }
    prepare_task("eclip_toy", task, root / "task")
    return root / "task"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained to find the motifs (short sequences, 60 bp padded to 70, keep it fast)."""
    root = tmp_path_factory.mktemp("rbp")
    task = make_task(root, {"train": 300, "valid": 100, "test": 100}, length=60)
    summary = train_rbp(
        task, root / "model", input_length=70, max_epochs=5, batch_size=16, bn_momentum=0.9
    )
    return root / "model", summary


@pytest.fixture(scope="module")
def small_1k(tmp_path_factory):
    """Two one-epoch trainings with the same seed at the paper's 1000-bp input."""
    root = tmp_path_factory.mktemp("rbp1k")
    task = make_task(root, {"train": 48, "valid": 16, "test": 16}, seed=1)
    args = {"input_length": 1000, "max_epochs": 1, "batch_size": 16, "seed": 3}
    for out in ("a", "b"):
        train_rbp(task, root / out, **args)
    return root


def test_training_learns_the_motifs(trained):
    path, summary = trained
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.pt"]
    config = read_json(path / "config.json")
    assert config == summary
    assert config["targets"] == ["rbp0", "rbp1", "rbp2"] and config["n_tasks"] == 3
    assert config["input_length"] == 70 and config["seed"] == 0
    assert len(config["history"]) == 5
    best = max(h["val_aupr"] for h in config["history"])
    assert config["val_aupr"] == best
    assert config["history"][config["best_epoch"] - 1]["val_aupr"] == best
    # chance AUPR is the positive rate (~0.3); a model that found the motifs is near 1
    assert config["val_aupr"] > 0.8 and config["test_aupr"] > 0.8


def test_embedding_shape_and_determinism(small_1k):
    seqs = ["ACGT" * 50, "GATTACA" * 20, "N" * 5 + "ACGT" * 200]
    a = RBPEmbedder("rbp", small_1k / "a")
    b = RBPEmbedder("rbp", small_1k / "b")
    states, mask = a.hidden_states(a.encode(seqs))
    assert states.shape == (1, 3, 100, 192) and mask.shape == (3, 100) and mask.all()
    assert a.n_layers == 0 and a.hidden_size == 192 and not a.has_cls and not a.has_lm_head
    enc = a.encode(seqs)[0]
    assert len(enc) == 100 and not enc.special.any() and not enc.n_bases.any()
    for key, value in a.net.state_dict().items():
        assert torch.equal(value, b.net.state_dict()[key]), key
    assert torch.equal(states, b.hidden_states(b.encode(seqs))[0])
    assert read_json(small_1k / "a" / "config.json") == read_json(small_1k / "b" / "config.json")
    with pytest.raises(NotImplementedError, match="no language-model head"):
        a.logits(a.encode(seqs))


def test_padding_is_symmetric_floor_left(trained):
    embedder = RBPEmbedder("rbp", trained[0])
    seq = "ACGGT" * 11 + "TGCA"  # 59 bp into 70: 5 zero columns left, 6 right
    x = torch.zeros(1, 4, 70)
    x[0, :, 5:64] = torch.eye(4)[torch.from_numpy(base_codes(seq).astype(np.int64))].T
    with torch.inference_mode():
        expected = embedder.net.embed(x)
        shifted = embedder.net.embed(x.roll(1, dims=2))
    states, _ = embedder.hidden_states(embedder.encode([seq]))
    torch.testing.assert_close(states[0], expected)
    assert not torch.allclose(states[0], shifted)
    assert np.array_equal(padded_one_hot([base_codes(seq)], 70)[0], x[0].numpy())


def test_too_long_sequence_is_an_error(trained):
    embedder = RBPEmbedder("rbp_k562", trained[0])
    with pytest.raises(TokenizationError, match="'rbp_k562': sequence 1 is 71 bp"):
        embedder.encode(["ACGT", "A" * 71])


def test_missing_or_corrupt_checkpoint(trained, tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json does not exist.*train_rbp"):
        RBPEmbedder("rbp", tmp_path / "nowhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((trained[0] / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="model.pt does not exist"):
        RBPEmbedder("rbp", broken)
    (broken / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not an RBP checkpoint.*retrain"):
        RBPEmbedder("rbp", broken)
    (broken / "config.json").write_text("{")
    with pytest.raises(ValueError, match="not a train_rbp config"):
        RBPEmbedder("rbp", broken)


def test_random_init_is_seeded_and_differs_from_trained(trained):
    def embed(**kwargs):
        embedder = RBPEmbedder("rbp", trained[0], **kwargs)
        return embedder.hidden_states(embedder.encode(["ACGTTGCA" * 8]))[0]

    random0 = embed(random_init_seed=0)
    assert torch.equal(random0, embed(random_init_seed=0))
    assert not torch.allclose(random0, embed(random_init_seed=1))
    assert not torch.allclose(random0, embed())
