"""Property-based tests (hypothesis) of the sequence invariants every task and model relies on:
one-hot encodings and their round trips, the reverse complement, ref/alt windows cut around
variants (element rows, a genome FASTA, CAGI5 elements.csv) and the base spans of every
tokenizer kind (6-mer NT, BPE, per-base GPN and HyenaDNA with and without a prepended CLS, the
one-hot k-mer family, windowed stitching, ref/alt token alignment, token -> base maps)."""

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glmeval.attribution.maps import decode, one_hot, to_bases
from glmeval.data.archive import decode_one_hot
from glmeval.data.cagi5 import element_context, genome_context
from glmeval.data.sequence import ALPHABET, base_codes, padded_one_hot, reverse_complement
from glmeval.data.variants import RowSequences, make_windows
from glmeval.models import load_embedder
from glmeval.models.onehot import OneHotEmbedder
from glmeval.models.windows import Windowed
from glmeval.zeroshot import align_tokens, check_variants, reverse_complement_table

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PAIRS = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}
STANDINS = Path(__file__).resolve().parents[1] / "standins"


def dna(alphabet="ACGT", min_size=1, max_size=60):
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


# --------------------------------------------------------------------------- 1. one-hot


@FAST
@given(dna("ACGTN", min_size=0))
def test_base_codes_are_alphabet_indices_and_n_is_4(seq):
    codes = base_codes(seq)
    assert codes.shape == (len(seq),)
    assert [ALPHABET[c] if c < 4 else "N" for c in codes] == list(seq)
    assert (base_codes(seq.lower()) == 4).all()  # as documented: anything but A, C, G, T is 4


@FAST
@given(st.lists(dna("ACGTN", max_size=30), min_size=1, max_size=4), st.integers(0, 6))
def test_padded_one_hot_shape_rows_padding_and_round_trip(seqs, extra):
    length = max(map(len, seqs)) + extra
    x = padded_one_hot([base_codes(s) for s in seqs], length)
    assert x.shape == (len(seqs), 4, length) and x.dtype == np.uint8
    for row, seq in enumerate(seqs):
        left = (length - len(seq)) // 2
        body = x[row, :, left : left + len(seq)]
        assert x[row, :, :left].sum() == 0 and x[row, :, left + len(seq) :].sum() == 0
        acgt = np.array([b != "N" for b in seq], bool)
        assert (body.sum(0) == acgt).all()  # one 1 per A/C/G/T column, N all zero
        assert "".join(ALPHABET[i] for i in body.argmax(0)[acgt]) == seq.replace("N", "")
        pads = "N" * left + seq + "N" * (length - len(seq) - left)
        if length:
            assert decode_one_hot(x[row : row + 1].transpose(0, 2, 1), "w") == [pads]
    if max(map(len, seqs)) > 0:
        with pytest.raises(ValueError, match="do not fit"):
            padded_one_hot([base_codes(s) for s in seqs], max(map(len, seqs)) - 1)


@FAST
@given(st.lists(dna("ACGTN", min_size=1, max_size=40), min_size=1, max_size=3), st.data())
def test_decode_one_hot_reads_channels_last_with_n_as_zero_or_quarter_and_extra_channels(
    seqs, data
):
    length = len(seqs[0])
    seqs = [(s * length)[:length] for s in seqs]  # one length per block
    x = padded_one_hot([base_codes(s) for s in seqs], length).transpose(0, 2, 1).astype(float)
    if data.draw(st.booleans(), label="N as 0.25"):
        x[(x == 0).all(-1)] = 0.25
    extra = data.draw(st.integers(0, 3), label="extra channels")
    x = np.concatenate([x, np.ones((*x.shape[:2], extra))], axis=-1)
    assert decode_one_hot(x, "w") == seqs


@FAST
@given(st.lists(dna("ACGTN", min_size=1, max_size=40), min_size=1, max_size=4), st.data())
def test_attribution_one_hot_round_trip_case_and_rows(seqs, data):
    length = len(seqs[0])
    seqs = [(s * length)[:length] for s in seqs]
    x = one_hot(seqs)
    assert x.shape == (len(seqs), 4, length) and x.dtype == torch.float32
    assert decode(x) == seqs
    lowered = [data.draw(st.sampled_from([s, s.lower()])) for s in seqs]
    assert torch.equal(one_hot(lowered), x)  # case-insensitive
    column_sums = x.sum(1).numpy()
    is_base = np.array([[b != "N" for b in s] for s in seqs])
    assert (column_sums == is_base).all()
    # the same encoding as the data module's padded one-hot (no padding) and the onehot family
    np.testing.assert_array_equal(
        x.numpy(), padded_one_hot([base_codes(s) for s in seqs], length).astype(np.float32)
    )
    states, _ = OneHotEmbedder().hidden_states(OneHotEmbedder().encode(seqs))
    np.testing.assert_array_equal(states[0].numpy(), x.numpy().transpose(0, 2, 1))


def test_attribution_one_hot_rejects_unequal_lengths():
    with pytest.raises(ValueError, match="one length"):
        one_hot(["ACG", "AC"])


@FAST
@given(dna("ACGTN", min_size=1, max_size=30), st.sampled_from([0.0, 0.25, 1.0]))
def test_onehot_family_n_value_and_alignment(seq, n_value):
    model = OneHotEmbedder(n_value=n_value)
    (enc,) = model.encode([seq])
    assert not enc.special.any() and (enc.n_bases == 1).all()
    states, mask = model.hidden_states([enc])
    assert states.shape == (1, 1, len(seq), 4) and mask.all()
    n_rows = states[0, 0, [b == "N" for b in seq]]
    assert (n_rows == n_value).all()


@FAST
@given(dna("ACGTN", min_size=0, max_size=12), st.integers(1, 5))
def test_onehot_kmer_ids_are_the_kmer_starting_at_each_base(seq, k):
    (enc,) = OneHotEmbedder(k=k).encode([seq])
    assert len(enc) == len(seq) and (enc.n_bases == 1).all() and not enc.special.any()
    for i, token in enumerate(enc.ids):
        kmer = seq[i : i + k]
        if len(kmer) < k or "N" in kmer:
            assert token == 4**k
        else:  # A < C < G < T, first base most significant
            assert token == int("".join(str(ALPHABET.index(b)) for b in kmer), 4)


# --------------------------------------------------------------------------- 2. reverse complement


@FAST
@given(dna("ACGTN", min_size=0, max_size=80), dna("ACGTN", min_size=0, max_size=20))
def test_reverse_complement_is_an_involution_of_complement_pairs(seq, other):
    rc = reverse_complement(seq)
    assert reverse_complement(rc) == seq
    assert len(rc) == len(seq)
    assert all(rc[i] == PAIRS[seq[len(seq) - 1 - i]] for i in range(len(seq)))
    assert rc.count("N") == seq.count("N")  # N maps to N
    assert rc.count("G") + rc.count("C") == seq.count("G") + seq.count("C")
    assert reverse_complement(seq + other) == reverse_complement(other) + rc


@FAST
@given(st.lists(dna("ACGTN", min_size=1, max_size=40), min_size=1, max_size=3), st.integers(0, 4))
def test_reverse_complement_flips_the_one_hot_on_both_axes(seqs, pad):
    assert ALPHABET == "ACGT"  # complement = channel reversal only in this order
    length = len(seqs[0])
    seqs = [(s * length)[:length] for s in seqs]
    rcs = [reverse_complement(s) for s in seqs]
    assert torch.equal(one_hot(rcs), one_hot(seqs).flip(1, 2))
    codes = [base_codes(s) for s in seqs]
    for c, r in zip(codes, rcs):
        np.testing.assert_array_equal(base_codes(r), np.where(c == 4, 4, 3 - c)[::-1])
    width = length + 2 * pad  # symmetric padding: the flip of the padded block too
    np.testing.assert_array_equal(
        padded_one_hot([base_codes(r) for r in rcs], width),
        padded_one_hot(codes, width)[:, ::-1, ::-1],
    )


# --------------------------------------------------------------------------- 3. variant windows

ALLELES = ["A", "C", "G", "T", "a", "t", "N", "R", "AC", "*", ".", "<DEL>"]


@st.composite
def element_seq(draw):
    """Soft-masked DNA with N; one time in five an IUPAC R somewhere."""
    seq = draw(st.text(alphabet="ACGTacgtN", min_size=1, max_size=40))
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(seq) - 1))
        seq = seq[:at] + "R" + seq[at + 1 :]
    return seq


@st.composite
def alleles(draw, own: str):
    """(REF, ALT): mostly the sequence's own base and another base, sometimes a wrong REF or
    anything."""
    choice = draw(st.integers(0, 5))
    ref = draw(st.sampled_from(ALLELES)) if choice == 0 else own
    if choice == 1:  # a reference mismatch
        ref = draw(st.sampled_from([b for b in "ACGT" if b != own.upper()]))
    if draw(st.integers(0, 4)):
        return ref, draw(st.sampled_from([b for b in "ACGT" if b != ref.upper()]))
    return ref, draw(st.sampled_from(ALLELES))


def expected(seq, offset, pos, ref, alt, length, known=True):
    """The documented outcome for one variant: (reason, None, None) or (None, window, index),
    the rules of `glmeval.data.variants` written out independently."""
    if not (len(ref) == len(alt) == 1 and ref.isalpha() and alt.isalpha()):
        return "not_snv", None, None
    if ref.upper() == alt.upper():
        return "not_snv", None, None
    if ref.upper() not in list("ACGT") or alt.upper() not in list("ACGT"):
        return "non_acgt", None, None
    if not known:
        return "unknown_chrom", None, None
    variant = pos - 1 - offset  # the variant's 0-based index in `seq`
    if length is None:
        if not 0 <= variant < len(seq):
            return "window_off_end", None, None
        window, index = seq.upper(), variant
    else:
        first = variant - (length // 2 - 1)
        if first < 0 or first + length > len(seq):
            return "window_off_end", None, None
        window, index = seq[first : first + length].upper(), length // 2 - 1
    if seq[variant].upper() != ref.upper():
        return "ref_mismatch", None, None
    if set(window) - set("ACGTN"):
        return "non_acgt", None, None
    return None, window, index


def check_split(variants, kept, excluded, outcomes, length):
    """kept/excluded partition the variants in order, with the documented windows/reasons."""
    assert len(kept) + len(excluded) == len(variants)  # nothing dropped silently
    kept_rows = [o for o in outcomes if o[0] is None]
    assert excluded["reason"].tolist() == [o[0] for o in outcomes if o[0] is not None]
    assert excluded["detail"].map(bool).all()
    assert kept["ref_sequence"].tolist() == [o[1] for o in kept_rows]
    assert kept["variant_index"].tolist() == [o[2] for o in kept_rows]
    for row in kept.itertuples(index=False):
        ref_w, alt_w, i = row.ref_sequence, row.alt_sequence, row.variant_index
        if length is not None:
            assert len(ref_w) == len(alt_w) == length and i == length // 2 - 1
        assert ref_w[i] == row.ref.upper() and alt_w[i] == row.alt.upper()
        assert [j for j in range(len(ref_w)) if ref_w[j] != alt_w[j]] == [i]
    expected_kept = variants[[o[0] is None for o in outcomes]].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept[list(variants.columns)], expected_kept)


@st.composite
def element_variants(draw, max_rows=6):
    """Rows (element sequence, offset, pos, ref, alt); positions reach past both ends."""
    rows = []
    for _ in range(draw(st.integers(1, max_rows))):
        seq = draw(element_seq())
        offset = draw(st.integers(0, 1000))
        index = draw(st.integers(-3, len(seq) + 2))
        own = seq[index] if 0 <= index < len(seq) else "A"
        ref, alt = draw(alleles(own.upper() if draw(st.booleans()) else own))
        rows.append((seq, offset, offset + index + 1, ref, alt))
    return rows


@FAST
@given(element_variants(), st.one_of(st.none(), st.integers(1, 8).map(lambda h: 2 * h)))
def test_element_windows_have_length_bases_with_the_variant_at_its_index(rows, length):
    variants = pd.DataFrame(
        [("chr1", pos, ref, alt) for _, _, pos, ref, alt in rows],
        columns=["chrom", "pos", "ref", "alt"],
    )
    source = RowSequences(
        sequences=[r[0] for r in rows],
        offsets=[r[1] for r in rows],
        labels=[f"element {k}" for k in range(len(rows))],
    )
    kept, excluded = make_windows(variants, source, length)
    outcomes = [expected(seq, off, pos, ref, alt, length) for seq, off, pos, ref, alt in rows]
    check_split(variants, kept, excluded, outcomes, length)


@FAST
@given(
    st.text(alphabet="ACGT", min_size=4, max_size=30),
    st.integers(1, 15).map(lambda h: 2 * h),
    st.sampled_from("ACGT"),
)
def test_window_edges_are_inclusive_and_one_base_further_is_excluded(seq, length, alt):
    """Every position is either kept with the window around it or excluded as window_off_end
    (no padding, no shifting); a window starting at the element's first base or ending at its
    last is kept."""
    offset = 100
    positions = list(range(offset - 1, offset + len(seq) + 3))
    refs = [seq[p - offset - 1] if 0 <= p - offset - 1 < len(seq) else "A" for p in positions]
    alts = [alt if alt != r else PAIRS[alt] for r in refs]
    variants = pd.DataFrame({"chrom": "c", "pos": positions, "ref": refs, "alt": alts})
    source = RowSequences([seq] * len(positions), [offset] * len(positions), ["e"] * len(positions))
    kept, excluded = make_windows(variants, source, length)
    fits = [offset <= p - length // 2 and p + length // 2 <= offset + len(seq) for p in positions]
    assert kept["pos"].tolist() == [p for p, f in zip(positions, fits) if f]
    assert excluded["pos"].tolist() == [p for p, f in zip(positions, fits) if not f]
    assert (excluded["reason"] == "window_off_end").all()
    for row in kept.itertuples():
        start = row.pos - length // 2 - offset
        assert row.ref_sequence == seq[start : start + length]
        assert row.ref_sequence[length // 2 - 1] == seq[row.pos - 1 - offset]


_RNG = np.random.default_rng(5)
_CHR1 = "".join(_RNG.choice(list("ACGT"), 150))
GENOME = {  # soft-masked stretch, Ns, one IUPAC R; named `chr1` and `2`
    "chr1": _CHR1[:20] + "R" + _CHR1[21:60] + "NNN" + _CHR1[63:80] + _CHR1[80:100].lower()
    + _CHR1[100:],
    "2": "".join(_RNG.choice(list("ACGTacgt"), 70)),
}  # fmt: skip


@pytest.fixture(scope="module")
def genome_fasta(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("genome") / "genome.fa"
    with open(path, "w") as fh:
        for name, seq in GENOME.items():
            lines = [seq[i : i + 30] for i in range(0, len(seq), 30)]
            fh.write(f">{name}\n" + "\n".join(lines) + "\n")
    return path


@st.composite
def genome_variants(draw):
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        chrom = draw(st.sampled_from(["chr1", "1", "chr2", "2", "chr1", "2", "chrM"]))
        seq = GENOME.get({"1": "chr1", "chr2": "2"}.get(chrom, chrom), "")
        pos = draw(st.integers(0, len(seq) + 3))
        own = seq[pos - 1] if 1 <= pos <= len(seq) else "A"
        rows.append((chrom, pos, *draw(alleles(own))))
    return rows


@FAST
@given(genome_variants(), st.integers(1, 20).map(lambda h: 2 * h))
def test_genome_windows_follow_the_documented_rule(genome_fasta, rows, length):
    variants = pd.DataFrame(rows, columns=["chrom", "pos", "ref", "alt"])
    outcomes = []
    for chrom, pos, ref, alt in rows:
        name = {"1": "chr1", "chr2": "2"}.get(chrom, chrom)
        known = name in GENOME
        outcomes.append(expected(GENOME.get(name, ""), 0, pos, ref, alt, length, known))
    looked_up = [row[0] for row in rows if not _bad_allele(row)]
    if looked_up and all(c == "chrM" for c in looked_up):
        with pytest.raises(ValueError, match="none of the variants' chromosomes"):
            genome_context(variants, genome_fasta, length)
        return
    kept, excluded = genome_context(variants, genome_fasta, length)
    check_split(variants, kept, excluded, outcomes, length)


def _bad_allele(row) -> bool:
    """Whether the row's alleles alone exclude it (checks 1-2, before the chromosome)."""
    _, _, ref, alt = row
    return expected("A", 0, 1, ref, alt, None)[0] in ("not_snv", "non_acgt")


@FEW
@given(element_variants(max_rows=4), st.one_of(st.none(), st.integers(1, 8).map(lambda h: 2 * h)))
def test_cagi5_element_context_cuts_from_the_mod_row(rows, length):
    """element_context reads each element's `<E>MOD` row when present (else `<E>`) and cuts
    its windows exactly as the shared rule does."""
    records, variants = [], []
    for k, (seq, offset, pos, ref, alt) in enumerate(rows):
        records.append((f"E{k}MOD", seq, offset))
        records.append((f"E{k}", "T" * len(seq), offset + 1))  # a decoy: MOD wins
        variants.append((f"E{k}", "challenge", "chrX", pos, ref, alt))
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "elements.csv"
        pd.DataFrame(records, columns=["regulatory_element", "ref_sequence", "start_pos"]).to_csv(
            csv, index=False
        )
        table = pd.DataFrame(variants, columns=["element", "set", "chrom", "pos", "ref", "alt"])
        kept, excluded = element_context(table, csv, length)
    outcomes = [expected(seq, off, pos, ref, alt, length) for seq, off, pos, ref, alt in rows]
    check_split(table, kept, excluded, outcomes, length)
    assert list(excluded.columns[:6]) == ["element", "set", "chrom", "pos", "ref", "alt"]


@FAST
@given(element_variants(), st.integers(1, 8).map(lambda h: 2 * h))
def test_windows_pass_variant_checks_on_both_strands(rows, length):
    rows = [(s.upper(), o, p, r.upper(), a.upper()) for s, o, p, r, a in rows]
    variants = pd.DataFrame(
        [(f"v{k}", "c", p, r, a) for k, (_, _, p, r, a) in enumerate(rows)],
        columns=["id", "chrom", "pos", "ref", "alt"],
    )
    source = RowSequences([r[0] for r in rows], [r[1] for r in rows], ["e"] * len(rows))
    kept, _ = make_windows(variants, source, length)
    check_variants(kept)
    reverse = reverse_complement_table(kept)
    check_variants(reverse)  # ref at L - 1 - i, alt differing only there
    assert (reverse["variant_index"] == length // 2).all() or reverse.empty
    back = reverse_complement_table(reverse)
    pd.testing.assert_frame_equal(back, kept)


# --------------------------------------------------------------------------- 4. base spans

KINDS = {  # kind: (checkpoint, settings, leading special tokens, trailing special tokens)
    "nt_6mer": ("tiny_nt", {"family": "masked_lm"}, ["<cls>"], []),
    "bpe": ("tiny_bert", {"family": "masked_lm"}, ["[CLS]"], ["[SEP]"]),
    "char_gpn": ("tiny_gpn", {"family": "gpn"}, [], []),
    "char_hyena": ("hyenadna", {"family": "hyenadna"}, [], ["[SEP]"]),
    "char_hyena_prepend_cls": (
        "hyenadna",
        {"family": "hyenadna", "prepend_cls": True},
        ["[CLS]"],
        ["[SEP]"],
    ),
}


def _hyena_standin(out: Path) -> None:
    """The HyenaDNA-shaped remote-code stand-in (slow per-base tokenizer, trailing [SEP])."""
    from standin_builders import save_standin

    settings_ = {"vocab_size": 12, "d_model": 16, "n_layer": 2, "max_seq_len": 1024}
    auto = {"AutoModelForCausalLM": "StandinHyenaForCausalLM"}
    save_standin(out, "modeling_hyena", "StandinHyenaConfig", "StandinHyenaForCausalLM", auto,
                 settings_)  # fmt: skip
    shutil.copy(STANDINS / "tokenization_hyena.py", out)
    tokenizer = {
        "tokenizer_class": "StandinHyenaTokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_hyena.StandinHyenaTokenizer", None]},
        "model_max_length": 1024,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer))


@pytest.fixture(scope="module")
def embedders(tmp_path_factory):
    from glmeval.models.build import BUILDERS

    root = tmp_path_factory.mktemp("property_models")
    for name in ("tiny_nt", "tiny_bert", "tiny_gpn"):
        BUILDERS[name](root / name, n_layers=2)
    _hyena_standin(root / "hyenadna")
    return {
        kind: (load_embedder(kind, {**model, "n_layers": 2}, root / path), lead, trail)
        for kind, (path, model, lead, trail) in KINDS.items()
    }


def check_spans(embedder, enc, seq, lead, trail):
    """Every base is covered by exactly one content token, in order; special tokens are where
    the kind puts them and cover nothing; known tokens spell their bases, unknown ones only N."""
    n = len(enc)
    assert len(enc.ids) == len(enc.special) == len(enc.n_bases) == n
    tokens = embedder.tokenizer.convert_ids_to_tokens(enc.ids.tolist())
    layout = [True] * len(lead) + [False] * (n - len(lead) - len(trail)) + [True] * len(trail)
    assert enc.special.tolist() == layout
    assert [t for t, s in zip(tokens, enc.special) if s] == lead + trail
    assert (enc.n_bases[enc.special] == 0).all() and (enc.n_bases[~enc.special] >= 1).all()
    spans = enc.spans()
    assert (spans[enc.special] == -1).all()
    content = spans[~enc.special]
    if len(seq):
        assert content[0, 0] == 0 and content[-1, 1] == len(seq)
        assert (content[1:, 0] == content[:-1, 1]).all()  # no gap, no overlap, in order
    else:
        assert len(content) == 0
    covered = np.zeros(len(seq), int)
    for start, end in content:
        covered[start:end] += 1
    assert (covered == 1).all()
    unk = embedder.tokenizer.unk_token_id
    pieces = []
    for token, token_id, (start, end) in zip(
        np.array(tokens)[~enc.special], enc.ids[~enc.special], content
    ):
        bases = seq[start:end].upper()
        if token_id == unk:
            assert set(bases) == {"N"}, (token, bases)
        else:
            assert token.upper() == bases
        pieces.append(bases)
    assert "".join(pieces) == seq.upper()  # the spans' bases are the input


@FAST
@pytest.mark.parametrize("kind", list(KINDS))
@given(seq=st.text(alphabet="ACGTNacgtn", min_size=1, max_size=80))
def test_every_base_in_exactly_one_content_token(embedders, kind, seq):
    embedder, lead, trail = embedders[kind]
    enc, upper = embedder.encode([seq, seq.upper()])
    check_spans(embedder, enc, seq, lead, trail)
    assert np.array_equal(enc.ids, upper.ids) and np.array_equal(enc.n_bases, upper.n_bases)
    content = enc.n_bases[~enc.special].tolist()
    if kind == "nt_6mer":  # 6-mers from the left of each N-free run, leftovers and N single
        runs = seq.upper().replace("N", " N ").split(" ")
        assert content == [
            size for run in runs if run for size in ([1] if run == "N" else
                                                     [6] * (len(run) // 6) + [1] * (len(run) % 6))
        ]  # fmt: skip
    elif kind.startswith("char"):
        assert content == [1] * len(seq)


@FEW
@pytest.mark.parametrize("kind", list(KINDS))
@given(seq=st.text(alphabet="ACGTN", min_size=1, max_size=60), window=st.integers(1, 20))
def test_windowed_stitching_covers_every_base_once(embedders, kind, seq, window):
    embedder, lead, trail = embedders[kind]
    (enc,) = Windowed(embedder, window).encode([seq])
    check_spans(embedder, enc, seq, lead, trail)
    pieces = embedder.encode([seq[i : i + window] for i in range(0, len(seq), window)])
    content = np.concatenate([p.ids[~p.special] for p in pieces])
    assert np.array_equal(enc.ids[~enc.special], content)
    assert sum(len(kept) for _, kept in enc.windows) == len(enc)


@FAST
@pytest.mark.parametrize("kind", list(KINDS))
@given(seq=st.text(alphabet="ACGTN", min_size=1, max_size=60))
def test_to_bases_gives_each_base_its_covering_token(embedders, kind, seq):
    embedder, _, _ = embedders[kind]
    (enc,) = embedder.encode([seq])
    values = np.arange(len(enc), dtype=np.float32)[None]
    values[0, enc.special] = -1000.0  # special tokens must not leak onto bases
    out = to_bases(values, [enc], len(seq))
    owner = np.repeat(np.flatnonzero(~enc.special), enc.n_bases[~enc.special])
    np.testing.assert_array_equal(out[0], owner.astype(np.float32))


@FAST
@pytest.mark.parametrize("kind", list(KINDS))
@given(seq=st.text(alphabet="ACGTN", min_size=1, max_size=60), data=st.data())
def test_ref_alt_alignment_is_the_common_refinement(embedders, kind, seq, data):
    embedder, _, _ = embedders[kind]
    i = data.draw(st.integers(0, len(seq) - 1), label="variant index")
    alt_base = data.draw(st.sampled_from([b for b in "ACGT" if b != seq[i]]), label="alt")
    ref, alt = embedder.encode([seq, seq[:i] + alt_base + seq[i + 1 :]])
    ref_pos, alt_pos = align_tokens(ref, alt)
    assert len(ref_pos) == len(alt_pos) > 0
    assert not ref.special[ref_pos].any() and not alt.special[alt_pos].any()
    ref_spans, alt_spans = ref.spans(), alt.spans()
    cuts = sorted(set(ref_spans[~ref.special, 0]) | set(alt_spans[~alt.special, 0]))
    assert len(cuts) == len(ref_pos)
    for k, (r, a) in enumerate(zip(ref_pos, alt_pos)):
        start, end = cuts[k], cuts[k + 1] if k + 1 < len(cuts) else len(seq)
        assert ref_spans[r, 0] <= start < end <= ref_spans[r, 1]  # segment inside both tokens
        assert alt_spans[a, 0] <= start < end <= alt_spans[a, 1]
    assert set(ref_pos) == set(np.flatnonzero(~ref.special))  # every content token paired
    assert set(alt_pos) == set(np.flatnonzero(~alt.special))
    if np.array_equal(ref.n_bases, alt.n_bases):  # same tokenization: token by token
        assert np.array_equal(ref_pos, np.flatnonzero(~ref.special))
        assert np.array_equal(alt_pos, ref_pos)
