import numpy as np
import pytest
import torch

from glmeval.models import TokenizationError, load_embedder
from glmeval.models.onehot import OneHotEmbedder

NT = {"family": "masked_lm", "n_layers": 2}
MISTRAL = {"family": "causal_lm", "n_layers": 2}


def test_nt_tokenizer_is_six_mers_from_the_left(tiny_models):
    nt = load_embedder("nt", NT, tiny_models["tiny_nt"])
    seq = "ACGTAC" * 38 + "GT"  # 230 nt: CLS + 38 six-mers + 2 single bases = 41 tokens
    (enc,) = nt.encode([seq])
    assert len(enc) == 41 and nt.has_cls
    assert enc.special.tolist() == [True] + [False] * 40
    assert enc.n_bases.tolist() == [0] + [6] * 38 + [1, 1]
    spans = enc.spans()
    assert spans[0].tolist() == [-1, -1] and spans[1].tolist() == [0, 6]
    assert spans[-1].tolist() == [229, 230]


def test_nt_splits_on_n(tiny_models):
    nt = load_embedder("nt", NT, tiny_models["tiny_nt"])
    (enc,) = nt.encode(["ACGTACGTNACGTAC"])
    tokens = nt.tokenizer.convert_ids_to_tokens(enc.ids.tolist())
    assert tokens == ["<cls>", "ACGTAC", "G", "T", "N", "ACGTAC"]


def test_bpe_spans_cover_every_base(tiny_models):
    lm = load_embedder("m", MISTRAL, tiny_models["tiny_mistral"])
    seq = "".join(np.random.default_rng(0).choice(list("ACGT"), 300))
    (enc,) = lm.encode([seq])
    assert enc.special[0] and enc.special[-1] and not lm.has_cls  # [CLS] ... [SEP], causal
    spans = enc.spans()[~enc.special]
    assert spans[0, 0] == 0 and spans[-1, 1] == 300
    assert (spans[1:, 0] == spans[:-1, 1]).all()


def test_hidden_states_every_layer_one_pass(tiny_models):
    nt = load_embedder("nt", NT, tiny_models["tiny_nt"])
    batch = nt.encode(["ACGTACGTACGT", "ACGTACGTACGTACG"])  # 3 and 6 tokens
    states, mask = nt.hidden_states(batch)
    assert states.shape == (3, 2, len(batch[1]), 32)
    assert mask.tolist()[0] == [True] * len(batch[0]) + [False] * (len(batch[1]) - len(batch[0]))
    # padding does not change a sequence's states
    alone, _ = nt.hidden_states(batch[:1])
    torch.testing.assert_close(states[:, 0, : len(batch[0])], alone[:, 0], atol=1e-5, rtol=1e-4)


def test_too_long_and_wrong_layers_are_clear(tiny_models):
    nt = load_embedder("nt", {**NT, "max_tokens": 5}, tiny_models["tiny_nt"])
    with pytest.raises(TokenizationError, match=r"needs 6 tokens .* at most 5.*long_sequences: window"):
        nt.encode(["A" * 30])
    with pytest.raises(ValueError, match="n_layers is 4 but the checkpoint .* has 2 layers"):
        load_embedder("nt", {**NT, "n_layers": 4}, tiny_models["tiny_nt"])


def test_onehot_family():
    oh = OneHotEmbedder(n_value=0.25)
    states, mask = oh.hidden_states(oh.encode(["ACGTN", "AC"]))
    assert states.shape == (1, 2, 5, 4)
    np.testing.assert_array_equal(states[0, 0, 4].numpy(), np.full(4, 0.25))
    assert states[0, 1, 2:].abs().sum() == 0 and mask[1].tolist() == [True, True, False, False, False]
    np.testing.assert_array_equal(states[0, 0, :4].numpy(), np.eye(4))  # A, C, G, T order
    default, _ = OneHotEmbedder().hidden_states(OneHotEmbedder().encode(["N"]))
    assert default.abs().sum() == 0  # N is all zeros by default


def test_real_mistral_dna_checkpoint(shared):
    path = shared / "models" / "mistral-dna-v1-1m-hg38-finetuned-tf1"
    lm = load_embedder("mistral_dna", {"family": "causal_lm", "n_layers": 4}, path)
    seq = "ACGT" * 25 + "A"
    (enc,) = lm.encode([seq])
    spans = enc.spans()[~enc.special]
    assert spans[0, 0] == 0 and spans[-1, 1] == len(seq)
    states, _ = lm.hidden_states([enc])
    assert states.shape == (5, 1, len(enc), 64) and torch.isfinite(states).all()
