"""Zero-shot variant scores: distance formulas, token alignment, masked-marginal and causal
likelihood ratios against hand computations, strands, input order and named errors."""

import contextlib
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import EsmConfig, EsmModel

from glmeval.data.sequence import reverse_complement
from glmeval.models import Encoded, ModelError, load_embedder
from glmeval.vep import zero_shot_scores
from glmeval.zeroshot import (
    DISTANCES,
    VariantError,
    align_tokens,
    causal_llr,
    masked_llr,
    pair_distances,
    reverse_complement_table,
    score_variants,
)

RNG = np.random.default_rng(7)
SEQ = "".join(RNG.choice(list("ACGT"), 40))
FAMILIES = {
    "tiny_nt": "masked_lm",
    "tiny_bert": "masked_lm",
    "tiny_gpn": "gpn",
    "tiny_mistral": "causal_lm",
}


@pytest.fixture(scope="module")
def models(tiny_models):
    return {
        name: load_embedder(name, {"family": family, "n_layers": 2}, tiny_models[name])
        for name, family in FAMILIES.items()
    }


def snv(seq, i, alt):
    return seq[:i] + alt + seq[i + 1 :]


def table(rows, ids=None):
    """Variant table from (ref_sequence, index, alt) triples."""
    return pd.DataFrame(
        {
            "id": ids or [f"v{k}" for k in range(len(rows))],
            "ref": [seq[i] for seq, i, _ in rows],
            "alt": [alt for _, _, alt in rows],
            "variant_index": [i for _, i, _ in rows],
            "ref_sequence": [seq for seq, _, _ in rows],
            "alt_sequence": [snv(seq, i, alt) for seq, i, alt in rows],
        }
    )


def other(base):
    return {"A": "C", "C": "G", "G": "T", "T": "A"}[base]


@contextlib.contextmanager
def count_forwards(model):
    """A list that gets the batch size of every forward pass of the model's LM."""
    rows = []
    handle = model.model.register_forward_pre_hook(
        lambda _m, args, kwargs: rows.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        yield rows
    finally:
        handle.remove()


def test_distance_formulas_match_numpy():
    ref, alt = RNG.normal(size=(3, 5, 4)), RNG.normal(size=(3, 5, 4))
    mask = np.ones((3, 5), bool)
    mask[1, 3:] = mask[2, 1:] = False
    got = pair_distances(*(torch.tensor(x, dtype=torch.float32) for x in (ref, alt, mask)))
    for b in range(3):
        r, a = ref[b, mask[b]], alt[b, mask[b]]
        np.testing.assert_allclose(got["dot"][b], (r * a).sum(), rtol=1e-5)
        cosine = (r * a).sum() / (np.linalg.norm(r) * np.linalg.norm(a))
        np.testing.assert_allclose(got["cosine"][b], cosine, rtol=1e-5)
        np.testing.assert_allclose(got["l1"][b], np.abs(r - a).sum(), rtol=1e-5)
        np.testing.assert_allclose(got["l2"][b], ((r - a) ** 2).sum(), rtol=1e-5)  # squared


def test_identical_states_give_zero_distance():
    x = torch.tensor(RNG.normal(size=(2, 6, 3)), dtype=torch.float32)
    got = pair_distances(x, x, torch.ones(2, 6, dtype=torch.bool))
    np.testing.assert_allclose(got["cosine"], 1.0, rtol=1e-6)
    np.testing.assert_array_equal(got["l1"], 0.0)
    np.testing.assert_array_equal(got["l2"], 0.0)
    np.testing.assert_allclose(got["dot"], (x.double() ** 2).sum((1, 2)).numpy(), rtol=1e-6)


def encoded(n_bases):
    n_bases = np.asarray(n_bases, np.int32)
    return Encoded(np.zeros(len(n_bases), np.int64), n_bases == 0, n_bases)


def test_alignment_by_hand():
    # ref: CLS [0,3) [3,4) [4,6) SEP; alt: CLS [0,2) [2,6) SEP; cuts at 0, 2, 3, 4
    ref_pos, alt_pos = align_tokens(encoded([0, 3, 1, 2, 0]), encoded([0, 2, 4, 0]))
    assert ref_pos.tolist() == [1, 1, 2, 3] and alt_pos.tolist() == [1, 2, 2, 2]
    # outputs not aligned to bases (Sei, RBP): position by position
    flat = Encoded(np.arange(4), np.zeros(4, bool), np.zeros(4, np.int32))
    assert [p.tolist() for p in align_tokens(flat, flat)] == [[0, 1, 2, 3]] * 2


def test_six_mer_tokens_pair_one_to_one(models):
    ref, alt = models["tiny_nt"].encode([SEQ, snv(SEQ, 20, other(SEQ[20]))])
    ref_pos, alt_pos = align_tokens(ref, alt)
    assert ref.special[0] and len(ref) == 1 + 6 + 4  # CLS, six 6-mers, four single bases
    assert ref_pos.tolist() == alt_pos.tolist() == list(range(1, len(ref)))


def test_bpe_refinement(models):
    model = models["tiny_bert"]
    ref, alt = model.encode(["CACGGCCAGGGT", "CACGGCCAGGGA"])
    tokens = model.tokenizer.convert_ids_to_tokens
    assert tokens(ref.ids.tolist()) == ["[CLS]", "CACGG", "CCA", "GGG", "T", "[SEP]"]
    assert tokens(alt.ids.tolist()) == ["[CLS]", "CACGG", "CCAGG", "GA", "[SEP]"]
    # ref spans [0,5) [5,8) [8,11) [11,12); alt [0,5) [5,10) [10,12); cuts 0, 5, 8, 10, 11
    ref_pos, alt_pos = align_tokens(ref, alt)
    assert ref_pos.tolist() == [1, 2, 3, 3, 4] and alt_pos.tolist() == [1, 2, 2, 3, 3]
    changed = 0
    for i in range(len(SEQ)):  # against a per-base oracle: consecutive distinct covering pairs
        ref, alt = model.encode([SEQ, snv(SEQ, i, other(SEQ[i]))])
        changed += not np.array_equal(ref.spans(), alt.spans())
        covering = [
            tuple(
                int(np.flatnonzero((e.spans()[:, 0] <= b) & (b < e.spans()[:, 1]))[0])
                for e in (ref, alt)
            )
            for b in range(len(SEQ))
        ]
        expected = [p for k, p in enumerate(covering) if k == 0 or p != covering[k - 1]]
        assert list(zip(*(p.tolist() for p in align_tokens(ref, alt)))) == expected
    assert changed >= 5  # many of these variants re-tokenize


def test_distances_equal_hand_computation(models):
    model = models["tiny_bert"]
    variants = table([(SEQ, i, other(SEQ[i])) for i in (3, 17, 39)])
    for layer in (1, None):
        got = score_variants(model, variants, scores=("cosine", "dot", "l1", "l2"), layer=layer)
        for row, variant in variants.iterrows():
            ref, alt = model.encode([variant.ref_sequence, variant.alt_sequence])
            ref_pos, alt_pos = align_tokens(ref, alt)
            e_ref = model.hidden_states([ref])[0][layer or 2, 0, ref_pos].double().numpy()
            e_alt = model.hidden_states([alt])[0][layer or 2, 0, alt_pos].double().numpy()
            dot = (e_ref * e_alt).sum()
            np.testing.assert_allclose(got["dot"][row], dot, rtol=1e-4)
            cosine = dot / np.linalg.norm(e_ref) / np.linalg.norm(e_alt)
            np.testing.assert_allclose(got["cosine"][row], cosine, rtol=1e-5)
            np.testing.assert_allclose(got["l1"][row], np.abs(e_ref - e_alt).sum(), rtol=1e-3)
            np.testing.assert_allclose(got["l2"][row], ((e_ref - e_alt) ** 2).sum(), rtol=1e-3)


def test_one_hot_distances_are_exact():
    model = load_embedder("onehot", {"family": "onehot", "n_layers": 0}, None)
    got = score_variants(
        model, table([(SEQ, 5, other(SEQ[5]))]), scores=("cosine", "dot", "l1", "l2")
    )
    n = len(SEQ)
    assert got.loc[0, ["dot", "l1", "l2"]].tolist() == [n - 1, 2, 2]
    assert got.loc[0, "cosine"] == pytest.approx((n - 1) / n)
    assert got.loc[0, "note"] == ""


@pytest.mark.parametrize("name", ["tiny_nt", "tiny_gpn"])
def test_masked_marginal_equals_hand_computation(models, name):
    model = models[name]
    indices = (0, 7, 20, 37)  # tiny_nt: in 6-mers, and in the single bases after the last one
    variants = table([(SEQ, i, other(SEQ[i])) for i in indices])
    with count_forwards(model) as forwards:
        got = score_variants(model, variants, scores=("llr",), batch_size=3)
    assert sum(forwards) == len(variants) and len(forwards) == 2  # one batch row per variant
    tokenizer, vocab = model.tokenizer, model.tokenizer.get_vocab()
    case = str.lower if name == "tiny_gpn" else str
    for row, i in enumerate(indices):
        ids = tokenizer(case(SEQ))["input_ids"]
        if name == "tiny_nt":  # CLS, then 6-mers, then single bases
            pos, start = (1 + i // 6, i // 6 * 6) if i < 36 else (1 + 6 + i - 36, i)
            width = 6 if i < 36 else 1
        else:
            pos, start, width = i, i, 1
        ref_token = case(SEQ[start : start + width])
        alt_token = case(snv(SEQ, i, other(SEQ[i]))[start : start + width])
        assert ids[pos] == vocab[ref_token]
        ids[pos] = tokenizer.mask_token_id
        with torch.inference_mode():
            logits = model.model(input_ids=torch.tensor([ids])).logits[0, pos]
        log_p = torch.log_softmax(logits.double(), -1)
        expected = (log_p[vocab[alt_token]] - log_p[vocab[ref_token]]).item()
        np.testing.assert_allclose(got["llr"][row], expected, rtol=1e-4, atol=1e-5)
    assert (got["note"] == "").all()


def test_unchanged_allele_gives_zero_llr(models):
    nt_scores, _ = masked_llr(models["tiny_nt"], [SEQ, SEQ], [4, 38], [SEQ[4], SEQ[38]])
    np.testing.assert_array_equal(nt_scores, 0.0)
    np.testing.assert_array_equal(causal_llr(models["tiny_mistral"], [SEQ], [SEQ]), 0.0)


def test_alt_token_outside_vocabulary_is_nan_with_a_note(models):
    model = models["tiny_bert"]  # ref token 'CACGG'; 'AACGG' is not in the vocabulary
    assert "AACGG" not in model.tokenizer.get_vocab()
    variants = table([("CACGGCCAGGGT", 0, "A"), ("CACGGCCAGGGT", 1, "T")])
    with count_forwards(model) as forwards:
        got = score_variants(model, variants, scores=("llr",))
    assert np.isnan(got["llr"][0]) and "'AACGG'" in got["note"][0]
    assert np.isfinite(got["llr"][1]) and got["note"][1] == ""
    assert sum(forwards) == 1  # the unscorable variant needs no forward pass


def test_causal_llr_equals_hand_computation(models):
    model = models["tiny_mistral"]
    variants = table([(SEQ, i, other(SEQ[i])) for i in (2, 19, 39)])
    got = score_variants(model, variants, scores=("llr",))

    def loglik(seq):
        ids = torch.tensor([model.tokenizer(seq)["input_ids"]])
        with torch.inference_mode():
            log_p = torch.log_softmax(model.model(input_ids=ids).logits[0].double(), -1)
        return sum(log_p[t - 1, ids[0, t]].item() for t in range(1, ids.shape[1]))

    for row, variant in variants.iterrows():
        expected = loglik(variant.alt_sequence) - loglik(variant.ref_sequence)
        np.testing.assert_allclose(got["llr"][row], expected, rtol=1e-4, atol=1e-4)


def test_strand_average_is_the_mean_of_both_strands(models):
    model = models["tiny_nt"]
    variants = table([(SEQ, i, other(SEQ[i])) for i in (1, 25, 38)])
    n = len(SEQ)
    complement = {"A": "T", "C": "G", "G": "C", "T": "A"}
    explicit = pd.DataFrame(
        {
            "id": variants["id"],
            "ref": variants["ref"].map(complement),
            "alt": variants["alt"].map(complement),
            "variant_index": n - 1 - variants["variant_index"],
            "ref_sequence": variants["ref_sequence"].map(reverse_complement),
            "alt_sequence": variants["alt_sequence"].map(reverse_complement),
        }
    )
    pd.testing.assert_frame_equal(reverse_complement_table(variants), explicit)
    both = score_variants(model, variants, strands="both")
    VIEWS = ("forward", "reverse")
    forward, reverse = score_variants(model, variants), score_variants(model, explicit)
    for score in ("cosine", "dot", "l1", "l2", "llr"):
        np.testing.assert_allclose(both[score], (forward[score] + reverse[score]) / 2, rtol=1e-6)
        np.testing.assert_array_equal(both[f"{score}_forward"], forward[score])
        np.testing.assert_array_equal(both[f"{score}_reverse"], reverse[score])
    oriented = zero_shot_scores(both)  # the tables report the three side by side
    assert list(oriented)[:3] == ["cosine_distance", *(f"cosine_distance ({s})" for s in VIEWS)]
    np.testing.assert_array_equal(oriented["abs_llr (reverse)"], reverse["llr"].abs())


def test_rows_come_back_in_input_order(models):
    model = models["tiny_nt"]
    lengths = (40, 13, 31, 7, 25)
    rows = [(SEQ[:n], n // 2, other(SEQ[n // 2])) for n in lengths]
    ids = ["e", "a", "d", "b", "c"]
    got = score_variants(model, table(rows, ids), batch_size=2)
    assert got["id"].tolist() == ids
    assert list(got.columns) == ["id", "cosine", "dot", "l1", "l2", "llr", "note"]
    for k, row in enumerate(rows):
        alone = score_variants(model, table([row], [ids[k]]))
        for score in ("cosine", "l2", "llr"):
            np.testing.assert_allclose(got[score][k], alone[score][0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["tiny_nt", "tiny_mistral"])
def test_a_shared_reference_runs_once_with_the_same_scores(models, name):
    model = models[name]
    rows = [(SEQ[:40], i, other(SEQ[i])) for i in (3, 11, 20, 29, 37)]  # one element, 5 SNVs
    rows.append((SEQ[:31], 8, other(SEQ[8])))
    seen = []
    hook = model.backbone.register_forward_pre_hook(
        lambda _m, args, kwargs: seen.append(len(kwargs["input_ids"])), with_kwargs=True
    )
    try:
        got = score_variants(model, table(rows), scores=DISTANCES, batch_size=2)
    finally:
        hook.remove()
    assert sum(seen) == 2 + len(rows)  # the two references once each, every alt
    for k, row in enumerate(rows):
        alone = score_variants(model, table([row]), scores=DISTANCES)
        for score in DISTANCES:
            np.testing.assert_allclose(got[score][k], alone[score][0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["tiny_nt", "tiny_mistral"])
def test_windowed_llr_is_that_of_the_variant_window(models, tiny_models, name):
    settings = {"family": FAMILIES[name], "n_layers": 2}
    windowed = load_embedder(
        name, {**settings, "long_sequences": "window", "window_bases": 12}, tiny_models[name]
    )
    got = score_variants(windowed, table([(SEQ, 27, other(SEQ[27]))]))
    alone = score_variants(models[name], table([(SEQ[24:36], 3, other(SEQ[27]))]), scores=("llr",))
    np.testing.assert_allclose(got["llr"], alone["llr"], rtol=1e-5)
    assert np.isfinite(got[["cosine", "dot", "l1", "l2"]].to_numpy()).all()


def test_missing_lm_head_is_a_named_error(tiny_models, tmp_path):
    bare = tmp_path / "bare"  # an ESM masked LM saved without its head
    shutil.copytree(tiny_models["tiny_nt"], bare)
    for weights in bare.glob("*.safetensors"):
        weights.unlink()
    EsmModel(EsmConfig.from_pretrained(bare)).save_pretrained(bare)
    model = load_embedder("headless", {"family": "masked_lm", "n_layers": 2}, bare)
    assert not model.has_lm_head
    variants = table([(SEQ, 3, other(SEQ[3]))])
    with pytest.raises(ModelError, match="'headless': the checkpoint has no LM head.*distance"):
        score_variants(model, variants)
    assert np.isfinite(score_variants(model, variants, scores=("cosine",))["cosine"]).all()
    onehot = load_embedder("onehot", {"family": "onehot", "n_layers": 0}, None)
    with pytest.raises(ModelError, match="'onehot' is not a language model.*distance"):
        score_variants(onehot, variants, scores=("llr",))


def test_bad_variants_are_named_errors(models):
    model = models["tiny_nt"]
    good = table([(SEQ, 3, other(SEQ[3])), (SEQ, 9, other(SEQ[9]))], ["ok", "bad"])
    with pytest.raises(VariantError, match="row id 'bad': ref allele .* differs from"):
        score_variants(model, good.assign(ref=[SEQ[3], other(other(SEQ[9]))]))
    with pytest.raises(VariantError, match="row id 'ok': alt_sequence is not ref_sequence"):
        score_variants(model, good.assign(alt_sequence=[SEQ, good["alt_sequence"][1]]))
    with pytest.raises(VariantError, match="row id 'bad': .* is not an SNV"):
        score_variants(model, good.assign(alt=[good["alt"][0], "AC"]))
    with pytest.raises(VariantError, match="lacks the columns \\['variant_index'\\]"):
        score_variants(model, good.drop(columns="variant_index"))
    with pytest.raises(ValueError, match="unknown zero-shot scores \\['pll'\\]"):
        score_variants(model, good, scores=("pll",))


def test_scores_carry_one_set_of_variant_keys():
    from glmeval.zeroshot import keyed_scores

    windows = {"variant_index": [1, 1], "ref_sequence": ["AAA", "ACA"], "alt_sequence": ["AGA"] * 2}
    user = pd.DataFrame(
        {
            "id": ["1:5:a>g", "1:9:C>G"],
            "CHROM": ["1", "1"],
            "POS": [5, 9],
            "REF": ["a", "C"],
            "ALT": ["g", "G"],
            "chrom": ["chr1"] * 2,
            "pos": [5, 9],
            "ref": ["A", "C"],
            "alt": ["G", "G"],
            **windows,
            "QUAL": [50, 60],
        }
    )
    scored = pd.DataFrame({"id": user["id"], "cosine": [0.9, 0.8], "note": ["", ""]})
    out = keyed_scores(user, scored)
    assert list(out.columns) == [
        *["id", "CHROM", "POS", "REF", "ALT", "variant_index", "QUAL"],
        *["cosine", "note"],
    ]
    assert out["REF"].tolist() == ["a", "C"] and out["cosine"].tolist() == [0.9, 0.8]
    cagi5 = user.drop(columns=["CHROM", "POS", "REF", "ALT"]).assign(element="F9")
    assert {"chrom", "pos", "ref", "alt", "element"} <= set(keyed_scores(cagi5, scored).columns)
    with pytest.raises(ValueError, match="not in the variants' order"):
        keyed_scores(user, scored.iloc[::-1])
