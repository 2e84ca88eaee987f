"""Extraction pitfalls other tools hit, each checked here (docs/semantics.md, "Pitfalls other
tools hit"): the reverse strand's variant index for even windows, an N shifting NT's 6-mer
tokens, the context length counting special tokens (NT's CLS, HyenaDNA's l_max), and padding
that must not change a sequence's states in any family."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from standin_builders import remote_tokenizer, save_standin

from glmeval.data.sequence import reverse_complement
from glmeval.data.variants import RowSequences, make_windows
from glmeval.embed import align_reverse, content_mask, extract, pool
from glmeval.models import Encoded, TokenizationError, load_embedder
from glmeval.models.families import FAMILIES as REGISTRY
from glmeval.zeroshot import (
    align_tokens,
    causal_llr,
    check_variants,
    masked_llr,
    reverse_complement_table,
    score_variants,
)

RNG = np.random.default_rng(11)
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A"}


def random_dna(n: int) -> str:
    return "".join(RNG.choice(list("ACGT"), n))


SEQ = random_dna(41)
SHORT, LONG = random_dna(37), random_dna(101)


@pytest.fixture(scope="module")
def checkpoints(tiny_models, standins):
    return {**tiny_models, **standins}


@pytest.fixture(scope="module")
def tiny_nt(tiny_models):
    return load_embedder("tiny_nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])


@pytest.fixture
def cpu_caduceus(monkeypatch):
    """The caduceus family without mamba-ssm and a GPU: its stand-in runs on the CPU."""
    monkeypatch.setitem(
        REGISTRY, "caduceus", replace(REGISTRY["caduceus"], requires=(), gpu_only=False)
    )


def other(base: str) -> str:
    return {"A": "C", "C": "G", "G": "T", "T": "A"}[base]


def variant_table(rows) -> pd.DataFrame:
    """Variant table from (ref_sequence, index, alt) triples."""
    return pd.DataFrame(
        {
            "id": [f"v{k}" for k in range(len(rows))],
            "ref": [seq[i] for seq, i, _ in rows],
            "alt": [alt for _, _, alt in rows],
            "variant_index": [i for _, i, _ in rows],
            "ref_sequence": [seq for seq, _, _ in rows],
            "alt_sequence": [seq[:i] + alt + seq[i + 1 :] for seq, i, alt in rows],
        }
    )


def hand_masked_llr(model, seq: str, i: int, alt: str) -> float:
    """The masked marginal by hand: the token holding base i found by walking the tokenizer's
    own token strings (CLS first), masked, log p(alt token) − log p(ref token)."""
    tokenizer, vocab = model.tokenizer, model.tokenizer.get_vocab()
    ids = tokenizer(seq)["input_ids"]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    start = 0
    for pos, token in enumerate(tokens):
        if ids[pos] in tokenizer.all_special_ids:
            continue
        if start <= i < start + len(token):
            break
        start += len(token)
    ref_token = tokens[pos]
    alt_token = ref_token[: i - start] + alt + ref_token[i - start + 1 :]
    ids[pos] = tokenizer.mask_token_id
    with torch.inference_mode():
        logits = model.model(input_ids=torch.tensor([ids])).logits[0, pos]
    log_p = torch.log_softmax(logits.double(), -1)
    return (log_p[vocab[alt_token]] - log_p[vocab[ref_token]]).item()


# 1. The reverse strand's variant index (marin-dna #175) -----------------------------------


@pytest.mark.parametrize("width", [40, 41])
def test_reverse_strand_index_is_w_minus_1_minus_i_for_even_and_odd_windows(width):
    seq = SEQ[:width]
    rows = [(seq, i, other(seq[i])) for i in sorted({width // 2 - 1, width // 2, 0, width - 1})]
    forward = variant_table(rows)
    reverse = reverse_complement_table(forward)
    check_variants(reverse)  # the reverse ref allele is at the reverse index, alt_sequence too
    assert (reverse["variant_index"] == width - 1 - forward["variant_index"]).all()
    for (_, i, alt), rc_row in zip(rows, reverse.itertuples()):
        assert rc_row.ref_sequence[rc_row.variant_index] == COMPLEMENT[seq[i]]
        assert rc_row.alt_sequence == reverse_complement(seq[:i] + alt + seq[i + 1 :])
    centre = width // 2
    # an even window's centre is not its own mirror image: reusing the forward index is off by 1
    assert (width - 1 - centre == centre) is (width % 2 == 1)


def test_glmeval_windows_put_an_even_window_s_variant_left_of_centre():
    element = random_dna(200)
    variants = pd.DataFrame(
        {"chrom": ["chr1"], "pos": [1101], "ref": [element[100]], "alt": [other(element[100])]}
    )
    rows = RowSequences([element], [1000], ["element E"])
    kept, excluded = make_windows(variants, rows, length=40)
    assert excluded.empty and kept["variant_index"].tolist() == [19]  # L/2 − 1
    assert kept["ref_sequence"][0] == element[81:121]
    reverse = reverse_complement_table(kept.assign(id="v0"))
    assert reverse["variant_index"].tolist() == [20]  # L − 1 − (L/2 − 1) = L/2
    check_variants(reverse)


@pytest.mark.parametrize("width", [40, 41])
def test_both_strands_llr_scores_the_reverse_strand_s_own_variant_token(tiny_nt, width):
    seq = SEQ[:width]
    indices = [width // 2 - 1, width // 2]
    got = score_variants(
        tiny_nt,
        variant_table([(seq, i, other(seq[i])) for i in indices]),
        scores=("llr",),
        strands="both",
    )
    rc = reverse_complement(seq)
    for row, i in enumerate(indices):
        j = width - 1 - i
        expected = hand_masked_llr(tiny_nt, rc, j, COMPLEMENT[other(seq[i])])
        np.testing.assert_allclose(got["llr_reverse"][row], expected, rtol=1e-5, atol=1e-6)
        forward = hand_masked_llr(tiny_nt, seq, i, other(seq[i]))
        np.testing.assert_allclose(got["llr_forward"][row], forward, rtol=1e-5, atol=1e-6)
    assert (got["note"] == "").all()


@pytest.mark.parametrize("width", [40, 41])
def test_strand_alignment_pairs_base_b_with_reverse_base_l_minus_1_minus_b(tiny_nt, width):
    seq = SEQ[:width]
    (fwd,), (rev,) = tiny_nt.encode([seq]), tiny_nt.encode([reverse_complement(seq)])
    states = torch.arange(len(rev), dtype=torch.float64)[None, None, :, None]  # state = token
    aligned, paired = align_reverse(states, [fwd], [rev])
    r_spans = rev.spans()
    for t, (start, end) in enumerate(fwd.spans()):
        if start < 0:
            continue
        holders = [
            np.flatnonzero((r_spans[:, 0] <= width - 1 - b) & (width - 1 - b < r_spans[:, 1]))[0]
            for b in range(start, end)
        ]
        assert aligned[0, 0, t, 0].item() == pytest.approx(np.mean(holders))
    assert paired.all()


# 2. An N inside a 6-mer shifts NT's tokens (BEND #49) --------------------------------------

N_SEQ = SEQ[:3] + "N" + SEQ[4:40]  # CLS, 3 single bases, N, then 6-mers from base 4


@pytest.mark.parametrize("name,family", [("tiny_nt", "masked_lm"), ("ntv2", "nt_v2")])
def test_an_n_before_the_variant_shifts_nt_tokens_and_the_variant_is_found_by_span(
    checkpoints, name, family
):
    model = load_embedder(name, {"family": family, "n_layers": 2}, checkpoints[name])
    i = 20
    (enc,) = model.encode([N_SEQ])
    tokens = model.tokenizer.convert_ids_to_tokens(enc.ids.tolist())
    assert tokens[:6] == ["<cls>", *N_SEQ[:4], N_SEQ[4:10]]
    holder = int(np.flatnonzero((enc.spans()[:, 0] <= i) & (i < enc.spans()[:, 1]))[0])
    assert holder == 7 and tokens[holder] == N_SEQ[16:22]
    assert tokens[1 + i // 6] == "N"  # position // 6 would pick the N token
    alt = other(N_SEQ[i])
    got = score_variants(
        model, variant_table([(N_SEQ, i, alt)]), scores=("llr", "cosine"), strands="both"
    )
    expected = hand_masked_llr(model, N_SEQ, i, alt)
    np.testing.assert_allclose(got["llr_forward"][0], expected, rtol=1e-5, atol=1e-6)
    rc, j = reverse_complement(N_SEQ), len(N_SEQ) - 1 - i
    expected = hand_masked_llr(model, rc, j, COMPLEMENT[alt])
    np.testing.assert_allclose(got["llr_reverse"][0], expected, rtol=1e-5, atol=1e-6)
    assert got["note"][0] == "" and 0 < got["cosine"][0] < 1
    # ref and alt tokenize alike: tokens pair one to one, and only the variant's token differs
    ref, alt_enc = model.encode([N_SEQ, N_SEQ[:i] + alt + N_SEQ[i + 1 :]])
    ref_pos, alt_pos = align_tokens(ref, alt_enc)
    np.testing.assert_array_equal(ref_pos, alt_pos)
    assert np.flatnonzero(ref.ids != alt_enc.ids).tolist() == [holder]


def test_generator_s_6_mer_with_n_is_one_unknown_token_and_keeps_the_frame(checkpoints):
    model = load_embedder(
        "generator", {"family": "generator", "n_layers": 2}, checkpoints["generator"]
    )
    (enc,) = model.encode([N_SEQ])
    spans = enc.spans()
    assert enc.ids[1] == model.tokenizer.unk_token_id and spans[1].tolist() == [0, 6]
    assert spans[1 + 20 // 6].tolist() == [18, 24]  # its 6-mers stay in frame after an N


def test_a_variant_in_an_unknown_token_is_nan_with_a_note(tiny_nt):
    """A masked LM whose token at the variant does not spell its bases (an unknown token
    covering them) has no alt token: NaN, and the note says why."""

    class UnknownAt20:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def encode(self, seqs):
            out = []
            for enc in self.inner.encode(seqs):
                ids = enc.ids.copy()
                spans = enc.spans()
                ids[(spans[:, 0] <= 20) & (20 < spans[:, 1])] = self.tokenizer.unk_token_id
                out.append(replace(enc, ids=ids))
            return out

    scores, notes = masked_llr(UnknownAt20(tiny_nt), [SEQ, SEQ], [20, 3], ["A", "A"])
    assert np.isnan(scores[0]) and "'<unk>'" in notes[0] and "unknown token" in notes[0]
    assert np.isfinite(scores[1]) and notes[1] == ""


# 3. The context counts the special tokens (NT #7, hyena-dna #65) --------------------------


def test_nt_takes_999_six_mers_and_its_cls_token(tiny_nt, tiny_models):
    assert tiny_nt.max_tokens == 1000  # 1,002 positions, counted from the padding index + 1
    seq = random_dna(5995)
    (enc,) = tiny_nt.encode([seq[:5994]])
    assert len(enc) == 1000 and enc.special[0] and enc.n_bases.sum() == 5994
    states, _ = tiny_nt.hidden_states([enc])
    assert states.shape[2] == 1000 and torch.isfinite(states).all()
    for longer in (seq, seq[:2997] + "N" + seq[2998:5994]):  # one base more; or an N
        with pytest.raises(TokenizationError, match="most 1000. Set .*long_sequences: window"):
            tiny_nt.encode([longer])
    windowed = load_embedder(
        "tiny_nt",
        {"family": "masked_lm", "n_layers": 2, "long_sequences": "window", "window_bases": 5994},
        tiny_models["tiny_nt"],
    )
    (enc,) = windowed.encode([seq])
    assert len(enc) == 1001 and enc.n_bases.sum() == 5995  # CLS, 999 6-mers, 1 base


def test_nt_v2_takes_2047_six_mers_and_its_cls_token(checkpoints):
    model = load_embedder("ntv2", {"family": "nt_v2", "n_layers": 2}, checkpoints["ntv2"])
    assert model.max_tokens == 2048  # rotary positions: its tokenizer's limit
    seq = random_dna(6 * 2047 + 1)
    assert len(model.encode([seq[:-1]])[0]) == 2048
    with pytest.raises(TokenizationError, match="2049 tokens.*long_sequences: window"):
        model.encode([seq])


@pytest.fixture(scope="module")
def hyenadna_1k(tmp_path_factory):
    """A HyenaDNA stand-in laid out as the 1k checkpoints: `max_seq_len` (the standalone
    code's `l_max`) 1,026 = 1,024 bases + 2, and the tokenizer's limit the same."""
    out = tmp_path_factory.mktemp("hyenadna_1k") / "hyenadna"
    settings = {"vocab_size": 12, "d_model": 8, "n_layer": 2, "max_seq_len": 1026}
    auto = {"AutoModelForCausalLM": "StandinHyenaForCausalLM"}
    save_standin(
        out, "modeling_hyena", "StandinHyenaConfig", "StandinHyenaForCausalLM", auto, settings
    )
    tokenizer = {
        "tokenizer_class": "StandinHyenaTokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_hyena.StandinHyenaTokenizer", None]},
        "model_max_length": 1026,
    }
    remote_tokenizer(out, tokenizer)
    return out


def test_hyenadna_takes_l_max_tokens_its_pretrained_length_plus_cls_and_sep(hyenadna_1k):
    def model(**settings):
        return load_embedder(
            "hyenadna", {"family": "hyenadna", "n_layers": 2, **settings}, hyenadna_1k
        )

    seq = random_dna(1026)
    as_paper = model(prepend_cls=True)  # [CLS] sequence [SEP], as the paper's tokenizer
    assert as_paper.max_tokens == 1026
    (enc,) = as_paper.encode([seq[:1024]])
    assert len(enc) == 1026 and enc.special[[0, -1]].all()
    states, _ = as_paper.hidden_states([enc])
    assert states.shape[2] == 1026 and torch.isfinite(states).all()
    with pytest.raises(TokenizationError, match="1027 tokens.*long_sequences: window"):
        as_paper.encode([seq[:1025]])
    port = model()  # the transformers port's tokenizer: sequence [SEP]
    assert len(port.encode([seq[:1025]])[0]) == 1026
    with pytest.raises(TokenizationError, match="1027 tokens"):
        port.encode([seq])
    paper_limit = model(prepend_cls=True, max_tokens=1000)  # the paper's model_max_length
    assert len(paper_limit.encode([seq[:998]])[0]) == 1000
    with pytest.raises(TokenizationError, match="1001 tokens"):
        paper_limit.encode([seq[:999]])


# 4. Padding never changes a sequence's states ----------------------------------------------

PADDED = {  # case: (checkpoint, family, layers, settings)
    "tiny_nt": ("tiny_nt", "masked_lm", 2, {}),
    "tiny_nt_windows": (
        "tiny_nt",
        "masked_lm",
        2,
        {"long_sequences": "window", "window_bases": 24},
    ),
    "tiny_mistral": ("tiny_mistral", "causal_lm", 2, {}),
    "tiny_gpn": ("tiny_gpn", "gpn", 2, {}),
    "ntv2": ("ntv2", "nt_v2", 2, {}),
    "dnabert2": ("dnabert2", "dnabert2", 2, {}),
    "hyenadna": ("hyenadna", "hyenadna", 2, {}),
    "hyenadna_cls": ("hyenadna", "hyenadna", 2, {"prepend_cls": True}),
    "caduceus_ph": ("mamba", "caduceus", 2, {}),
    "caduceus_ps": ("caduceus_ps", "caduceus", 2, {}),
    "generator": ("generator", "generator", 2, {}),
    "ntv3": ("ntv3", "nt_v3", 1, {}),
}


def padded_model(checkpoints, case):
    checkpoint, family, n_layers, settings = PADDED[case]
    return load_embedder(
        checkpoint, {"family": family, "n_layers": n_layers, **settings}, checkpoints[checkpoint]
    )


@pytest.mark.parametrize("case", PADDED)
def test_a_sequence_padded_in_a_batch_has_its_states_alone(
    checkpoints, cpu_caduceus, tmp_path, case
):
    model = padded_model(checkpoints, case)
    batch = model.encode([LONG, SHORT])
    short = batch[1]
    assert len(batch[0]) > len(short)  # the short one is padded
    states, mask = model.hidden_states(batch)
    alone, alone_mask = model.hidden_states([short])
    scale = alone.abs().max().item()
    torch.testing.assert_close(
        states[:, 1, : len(short)], alone[:, 0], rtol=1e-5, atol=1e-5 * scale
    )
    assert not mask[1, len(short) :].any()
    pooled = pool(states, content_mask(batch, mask), model.has_cls)[1]  # (layers, [cls, mean], D)
    pooled_alone = pool(alone, content_mask([short], alone_mask), model.has_cls)[0]
    torch.testing.assert_close(pooled, pooled_alone, rtol=1e-5, atol=1e-5 * scale, equal_nan=True)
    # the engine, batched with a longer sequence, against the sequence run alone
    extract(model, [LONG, SHORT], tmp_path / "batched", batch_size=2)
    extract(model, [SHORT], tmp_path / "alone")
    got, want = (np.load(tmp_path / d / "pooled.npy")[-1:] for d in ("batched", "alone"))
    np.testing.assert_allclose(got[:, :, 1], want[:, :, 1], rtol=2**-10, atol=2**-10 * scale)


@pytest.mark.parametrize("case", ["tiny_mistral", "hyenadna_cls", "generator"])
def test_causal_likelihoods_do_not_see_padding(checkpoints, case):
    model = padded_model(checkpoints, case)
    refs, alts = [LONG, SHORT, SHORT[:20]], [LONG[:-1] + "A", SHORT[:-1] + "C", SHORT[:19] + "G"]
    batched = causal_llr(model, refs, alts, batch_size=3)
    alone = [causal_llr(model, [r], [a])[0] for r, a in zip(refs, alts)]
    np.testing.assert_allclose(batched, alone, rtol=1e-5, atol=1e-6)


def test_hyenadna_is_padded_on_the_right_where_its_causal_convolutions_cannot_see_it(
    checkpoints,
):
    """HyenaDNA takes no attention mask and its own tokenizer pads on the left: pad tokens
    before a sequence change every state. glmeval pads on the right."""
    model = padded_model(checkpoints, "hyenadna")
    (enc,) = model.encode([SHORT])
    states, _ = model.hidden_states([enc])
    pad = np.full(5, model.tokenizer.pad_token_id)
    left = Encoded(
        np.r_[pad, enc.ids],
        np.r_[np.ones(5, bool), enc.special],
        np.r_[np.zeros(5, int), enc.n_bases],
    )
    left_states, _ = model.hidden_states([left])
    change = (left_states[-1, 0, 5:] - states[-1, 0]).norm() / states[-1, 0].norm()
    assert change > 1e-2  # what left padding would do
    ids, _, _ = model._inputs([model.encode([LONG])[0], enc])
    assert (ids[1, len(enc) :] == model.tokenizer.pad_token_id).all()  # right padding
    assert (ids[1, : len(enc)] == torch.from_numpy(enc.ids)).all()
