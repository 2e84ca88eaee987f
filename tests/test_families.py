"""Every model family on tiny offline instances: layer count, shapes, span alignment, pooling
exclusions, padding invariance, determinism, logits, random_init, windowing and load errors."""

import json
import shutil
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from glmeval.embed import extract
from glmeval.models import ModelError, TokenizationError, load_embedder, resolve_model
from glmeval.models.base import Encoded
from glmeval.models.families import FAMILIES as REGISTRY

RNG = np.random.default_rng(0)
SEQS = ["".join(RNG.choice(list("ACGT"), n)) for n in (230, 97, 31)]

FAMILIES = {  # builder/stand-in: (family, layers, has_cls)
    "tiny_nt": ("masked_lm", 2, True),
    "tiny_bert": ("masked_lm", 2, True),
    "tiny_grover": ("masked_lm", 2, True),
    "tiny_mistral": ("causal_lm", 2, False),
    "tiny_mixtral": ("causal_lm", 2, False),
    "tiny_gpn": ("gpn", 2, False),
    "dnabert2": ("dnabert2", 2, True),
    "ntv2": ("nt_v2", 2, True),
    "hyenadna": ("hyenadna", 2, False),
    "mamba": ("caduceus", 2, False),
    "caduceus_ps": ("caduceus", 2, False),
    "generator": ("generator", 2, False),
    "ntv3": ("nt_v3", 1, False),
}


@pytest.fixture(scope="module")
def checkpoints(tiny_models, standins):
    return {**tiny_models, **standins}


@pytest.fixture
def cpu_caduceus(monkeypatch):
    """The caduceus family without mamba-ssm and a GPU: its stand-in runs on the CPU."""
    family = replace(REGISTRY["caduceus"], requires=(), gpu_only=False)
    monkeypatch.setitem(REGISTRY, "caduceus", family)


def embedder(checkpoints, name, **settings):
    family, n_layers, _ = FAMILIES[name]
    return load_embedder(
        name, {"family": family, "n_layers": n_layers, **settings}, checkpoints[name]
    )


@pytest.mark.parametrize("name", FAMILIES)
def test_family_contract(checkpoints, cpu_caduceus, name):
    _, n_layers, has_cls = FAMILIES[name]
    model = embedder(checkpoints, name)
    assert model.n_layers == n_layers and model.has_cls == has_cls
    batch = model.encode(SEQS)
    for seq, enc in zip(SEQS, batch):
        spans = enc.spans()[~enc.special]
        covered = np.zeros(len(seq), int)
        for start, end in spans:
            covered[start:end] += 1
        assert (covered == 1).all()  # every base in exactly one token
        assert not has_cls or enc.special[0]  # a CLS family: token 0 is its CLS
    states, mask = model.hidden_states(batch)
    width = max(map(len, batch))
    assert states.shape == (n_layers + 1, 3, width, model.hidden_size)
    assert mask.sum(1).tolist() == [len(e) for e in batch]
    assert torch.isfinite(states).all()
    for row in (1, 2):  # a sequence's states do not depend on its batch mates' padding
        alone, _ = model.hidden_states(batch[row : row + 1])
        torch.testing.assert_close(
            states[:, row, : len(batch[row])], alone[:, 0], atol=1e-5, rtol=1e-4
        )
    again, _ = model.hidden_states(batch)
    assert torch.equal(states, again)  # deterministic
    logits, _ = model.logits(batch)
    assert logits.shape[:2] == (3, width) and model.has_lm_head


@pytest.mark.parametrize("name", ["tiny_gpn", "dnabert2", "hyenadna", "caduceus_ps"])
def test_hooked_last_layer_is_the_models_output(checkpoints, cpu_caduceus, name):
    """Layers read by hooks end with what the model itself returns (after any final norm)."""
    model = embedder(checkpoints, name)
    (enc,) = model.encode(SEQS[:1])
    states, _ = model.hidden_states([enc])
    ids = torch.from_numpy(enc.ids)[None]
    with torch.inference_mode():
        own = model.backbone(input_ids=ids)[0]
    torch.testing.assert_close(states[-1], own)


def test_residual_stream_layers_of_mamba_style_blocks(checkpoints):
    """Caduceus' hooks (declared in YAML here): a layer is block output + residual; the last
    is the final norm of that sum."""
    modules = {
        "embeddings": "backbone.embeddings",
        "blocks": "backbone.layers",
        "final_norm": "backbone.norm_f",
        "residual_sum": True,
    }
    settings = {"family": "masked_lm", "n_layers": 2, "remote_code": True, "layer_modules": modules}
    model = load_embedder("mamba", settings, checkpoints["mamba"])
    (enc,) = model.encode(SEQS[:1])
    states, _ = model.hidden_states([enc])
    backbone = model.backbone.backbone
    with torch.inference_mode():
        hidden, residual = backbone.embeddings(torch.from_numpy(enc.ids)[None]), None
        expected = [hidden]
        for layer in backbone.layers:
            hidden, residual = layer(hidden, residual)
            expected.append(hidden + residual)
        expected[-1] = backbone.norm_f(expected[-1])
    torch.testing.assert_close(states[:, 0], torch.cat(expected))


def test_pooling_excludes_special_tokens(checkpoints, tmp_path):
    model = embedder(checkpoints, "dnabert2")  # [CLS] ... [SEP]
    extract(model, SEQS, tmp_path / "emb", token_layers=[2])
    pooled = np.load(tmp_path / "emb" / "pooled.npy")
    batch = model.encode(SEQS)
    states, _ = model.hidden_states(batch)
    for row, enc in enumerate(batch):
        content = states[:, row, : len(enc)][:, ~torch.from_numpy(enc.special)]
        np.testing.assert_allclose(pooled[row, :, 1], content.mean(1).numpy(), atol=2e-3)
        np.testing.assert_allclose(pooled[row, :, 0], states[:, row, 0].numpy(), atol=2e-3)


def test_random_init_is_seeded_and_differs(checkpoints):
    trained = embedder(checkpoints, "tiny_bert")
    first = embedder(checkpoints, "tiny_bert", random_init=1)
    second = embedder(checkpoints, "tiny_bert", random_init=1)
    other = embedder(checkpoints, "tiny_bert", random_init=2)
    batch = trained.encode(SEQS[:1])
    states = [m.hidden_states(batch)[0][-1] for m in (trained, first, second, other)]
    assert torch.equal(states[1], states[2])
    assert not torch.allclose(states[0], states[1]) and not torch.allclose(states[1], states[3])
    assert type(first.model) is type(trained.model)


@pytest.mark.parametrize("name", ["tiny_nt", "dnabert2", "hyenadna", "generator", "ntv3"])
def test_windows_cover_long_sequences(checkpoints, name):
    strict = embedder(checkpoints, name, max_tokens=20)
    with pytest.raises(TokenizationError, match="long_sequences: window"):
        strict.encode(SEQS[:1])
    window = 48 if name in ("tiny_nt", "generator") else 16  # whole 6-mers
    model = embedder(checkpoints, name, max_tokens=20, long_sequences="window", window_bases=window)
    batch = model.encode(SEQS)
    for seq, enc in zip(SEQS, batch):
        spans = enc.spans()[~enc.special]
        assert spans[0, 0] == 0 and spans[-1, 1] == len(seq)
        assert (spans[1:, 0] == spans[:-1, 1]).all()
        assert len(enc.windows) == -(-len(seq) // window)
    states, mask = model.hidden_states(batch)
    assert states.shape[:3] == (FAMILIES[name][1] + 1, 3, max(map(len, batch)))
    # the first window's content equals embedding that window alone
    inner = embedder(checkpoints, name)
    (first,) = inner.encode([SEQS[0][:window]])
    alone, _ = inner.hidden_states([first])
    kept = batch[0].windows[0][1]
    torch.testing.assert_close(states[:, 0, : len(kept)], alone[:, 0, kept], atol=1e-5, rtol=1e-4)
    logits, _ = model.logits(batch)
    assert logits.shape[:2] == mask.shape
    with pytest.raises(TokenizationError, match="Lower models.*window_bases"):
        embedder(
            checkpoints, name, max_tokens=20, long_sequences="window", window_bases=500
        ).encode(SEQS[:1])


def test_caduceus_ps_is_reverse_complement_equivariant(checkpoints, cpu_caduceus):
    """Caduceus-PS states are 2 x d_model wide, and those of the reverse complement are the
    forward states flipped along length and channels (the two halves swapped), every layer."""
    model = embedder(checkpoints, "caduceus_ps")
    assert model.hidden_size == 2 * model.model.config.d_model
    (enc,) = model.encode(SEQS[1:2])
    complement = model.model.caduceus.backbone.embeddings.word_embeddings.complement_map.numpy()
    reverse = Encoded(complement[enc.ids[::-1]], enc.special[::-1], enc.n_bases[::-1])
    states, _ = model.hidden_states([enc])
    rc_states, _ = model.hidden_states([reverse])
    torch.testing.assert_close(rc_states, states.flip(2, 3))
    logits, _ = model.logits([enc])
    rc_logits, _ = model.logits([reverse])
    torch.testing.assert_close(rc_logits[0], logits[0].flip(0)[:, complement])


def test_generator_remainder_is_one_unknown_token(checkpoints):
    """GENERator's tokenizer: BOS, 6-mers from the left, and the last len % 6 bases as one
    <oov> token; N makes its 6-mer <oov>. The model is causal, so the remainder changes no
    other token's state."""
    model = embedder(checkpoints, "generator")
    whole, cut, with_n = model.encode([SEQS[2][:30], SEQS[2], "ACGTNA" + SEQS[2][:24]])
    oov = model.tokenizer.unk_token_id
    assert whole.n_bases.tolist() == [0] + [6] * 5 and oov not in whole.ids
    assert cut.n_bases.tolist() == [0] + [6] * 5 + [1] and cut.ids[-1] == oov
    assert with_n.ids[1] == oov and with_n.n_bases[1] == 6
    states, _ = model.hidden_states([whole, cut])
    torch.testing.assert_close(states[:, 0, :6], states[:, 1, :6])


def test_ntv3_pads_with_n_to_its_multiple(checkpoints, tmp_path):
    """NT v3 takes lengths of a multiple of 2**num_downsamples (8 here; 128 in the hub's
    models): N is appended, marked special, and left out of pooling. Layer 0 is the stem's
    output, layer 1 the model's last hidden state."""
    model = embedder(checkpoints, "ntv3")
    n_id = model.tokenizer.convert_tokens_to_ids("N")
    batch = model.encode(SEQS)
    for seq, enc in zip(SEQS, batch):
        assert len(enc) == -(-len(seq) // 8) * 8
        assert (enc.ids[len(seq) :] == n_id).all() and enc.special[len(seq) :].all()
        assert not enc.special[: len(seq)].any() and enc.n_bases.sum() == len(seq)
    ids = torch.from_numpy(batch[2].ids)[None]
    with pytest.raises(RuntimeError, match="must match the size"):  # its own forward, unpadded
        model.model(input_ids=ids[:, : len(SEQS[2])])
    states, _ = model.hidden_states(batch[2:])
    with torch.inference_mode():
        own = model.model(input_ids=ids, output_hidden_states=True)
        stem = model.model.core.stem(model.model.core.embed_layer(ids).transpose(1, 2))
    torch.testing.assert_close(
        states[:, 0], torch.cat([stem.transpose(1, 2), own.hidden_states[-1]])
    )
    extract(model, SEQS, tmp_path / "emb", token_layers=[])
    pooled = np.load(tmp_path / "emb" / "pooled.npy")
    content = states[1, 0, : len(SEQS[2])].mean(0).numpy()
    np.testing.assert_allclose(pooled[2, 1, 1], content, atol=2e-3)


def test_grover_tokenizer_names_neither_sep_nor_unk(checkpoints):
    """GROVER's tokenizer files declare [CLS], [MASK] and [PAD] only; its template adds [SEP]
    and its BPE model maps N to [UNK] all the same. glmeval takes both from the tokenizer."""
    model = embedder(checkpoints, "tiny_grover")
    tokenizer = model.tokenizer
    sep = tokenizer.convert_tokens_to_ids("[SEP]")
    assert tokenizer.unk_token is None and sep not in tokenizer.all_special_ids
    (enc,) = model.encode(["ACGTNACGT"])
    unk = tokenizer.convert_tokens_to_ids("[UNK]")
    assert enc.ids[-1] == sep and enc.special[-1] and not enc.special[enc.ids == unk].any()
    assert enc.n_bases[enc.ids == unk].tolist() == [1] and enc.n_bases.sum() == 9


def test_caduceus_needs_mamba_and_a_gpu(tmp_path):
    model = {"family": "caduceus", "n_layers": 2}
    with pytest.raises(ModelError, match=r"mamba_ssm.*pip install 'glmeval\[caduceus\]'"):
        load_embedder("cad", model, tmp_path)


def test_bad_checkpoints_are_named_errors(checkpoints, tmp_path):
    with pytest.raises(ModelError, match="no checkpoint at .*resolve_model"):
        load_embedder("x", {"family": "masked_lm", "n_layers": 2}, tmp_path / "absent")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(checkpoints["tiny_bert"], corrupt)
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="cannot load the checkpoint .*delete that directory"):
        load_embedder("x", {"family": "masked_lm", "n_layers": 2}, corrupt)
    wrong = tmp_path / "wrong"  # BERT weights under a Mistral config
    shutil.copytree(checkpoints["tiny_bert"], wrong)
    shutil.copy(checkpoints["tiny_mistral"] / "config.json", wrong / "config.json")
    with pytest.raises(ModelError, match="do not fit|cannot load"):
        load_embedder("x", {"family": "causal_lm", "n_layers": 2}, wrong)
    mismatch = tmp_path / "vocab"  # NT's 4107-token vocabulary with a 512-row BERT
    shutil.copytree(checkpoints["tiny_bert"], mismatch)
    for f in mismatch.glob("*token*"):
        f.unlink()
    for f in checkpoints["tiny_nt"].glob("*"):
        if "token" in f.name or f.name == "vocab.txt":
            shutil.copy(f, mismatch)
    with pytest.raises(ModelError, match="different checkpoints"):
        load_embedder("x", {"family": "masked_lm", "n_layers": 2}, mismatch)
    with pytest.raises(ModelError, match="family is 'bogus'; choose one of"):
        load_embedder("x", {"family": "bogus"}, None)


def test_revision_mismatch_and_record(tmp_path):
    out = tmp_path / "m"
    resolve_model({"family": "masked_lm", "n_layers": 2, "source": {"builder": "tiny_bert"}}, out)
    assert json.loads((out / "glmeval_source.json").read_text())["builder"] == "tiny_bert"
    (out / "glmeval_source.json").write_text(json.dumps({"hub": "org/m", "revision": "a" * 40}))
    model = {"family": "masked_lm", "n_layers": 2, "source": {"hub": "org/m", "revision": "b" * 40}}
    with pytest.raises(ModelError, match=f"is org/m@{'a' * 40} but the config asks for"):
        load_embedder("m", model, out)
    model["source"]["revision"] = "a" * 40
    assert load_embedder("m", model, out).n_layers == 2


def test_hub_snapshot_is_pinned_and_recorded(tmp_path, monkeypatch):
    import huggingface_hub

    calls = {}

    def model_info(self, repo, revision):
        calls["info"] = (repo, revision)
        siblings = [SimpleNamespace(rfilename=f) for f in ("config.json", "tf_model.h5")]
        return SimpleNamespace(sha="c" * 40, siblings=siblings)

    def snapshot_download(repo, revision, local_dir, allow_patterns):
        calls["download"] = (repo, revision, allow_patterns)
        (local_dir / "config.json").write_text("{}")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    source = {"hub": "org/model", "revision": "v1.0"}
    resolve_model({"family": "masked_lm", "n_layers": 2, "source": source}, tmp_path)
    assert calls == {
        "info": ("org/model", "v1.0"),
        "download": ("org/model", "c" * 40, ["config.json"]),
    }
    record = json.loads((tmp_path / "glmeval_source.json").read_text())
    assert record == {"hub": "org/model", "revision": "v1.0", "commit": "c" * 40}


def test_offline_snapshot_error_says_how_to_prestage(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    source = {"hub": "org/model", "revision": "main"}
    with pytest.raises(ModelError, match="cannot snapshot org/model@main.*snakemake models"):
        resolve_model({"family": "masked_lm", "n_layers": 2, "source": source}, tmp_path)
