"""Remote-code families under transformers 5 (glmeval.models.compat), on stand-ins that break
under transformers 5 exactly as the upstream code does: the same numbers as the code's own
forward when built the transformers-4 way, the buffer guard, context limits from the model,
the alphabet (N, lowercase), HyenaDNA's leading token, and errors that name the cause."""

import json
import shutil
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from standin_builders import construct_standin, save_standin

from glmeval.models import ModelError, TokenizationError, compat, load_embedder

RNG = np.random.default_rng(1)
SEQS = ["".join(RNG.choice(list("ACGT"), n)) for n in (120, 47, 9)]
REMOTE = {"dnabert2": "dnabert2", "ntv2": "nt_v2", "hyenadna": "hyenadna", "ntv3": "nt_v3"}
MODULES = {
    "dnabert2": "modeling_dnabert2",
    "ntv2": "modeling_ntv2",
    "hyenadna": "modeling_hyena",
    "ntv3": "modeling_ntv3_pretrained",
}
LAYERS = {"ntv3": 1}  # a U-Net's stem and output; 2 elsewhere


def load(standins, name, path=None, **settings):
    model = {"family": REMOTE[name], "n_layers": LAYERS.get(name, 2), **settings}
    return load_embedder(name, model, path or standins[name])


def own_model(path, name):
    """The checkpoint built the transformers-4 way (standin_builders.construct_standin), weights
    from its file."""
    record = json.loads((path / "config.json").read_text())
    auto_map = record["auto_map"]
    config_class = auto_map["AutoConfig"].split(".")[1]
    model_class = next(v for k, v in auto_map.items() if k.startswith("AutoModelFor"))
    code = path / f"{MODULES[name]}.py"
    model = construct_standin(code, config_class, model_class.split(".")[1], record).eval()
    model.load_state_dict(load_file(path / "model.safetensors"), strict=True)
    return model


@pytest.mark.parametrize("name", list(REMOTE))
def test_same_numbers_as_the_codes_own_forward(standins, name):
    embedder = load(standins, name)
    reference = own_model(standins[name], name)
    assert type(embedder.model).__name__ == type(reference).__name__  # never a native class
    batch = embedder.encode(SEQS)
    states, _ = embedder.hidden_states(batch)
    logits, _ = embedder.logits(batch)
    for row, enc in enumerate(batch):
        ids = torch.from_numpy(enc.ids)[None]
        tokens = embedder.tokenizer(SEQS[row])["input_ids"]
        assert enc.ids[: len(tokens)].tolist() == tokens  # then NT v3's N up to its multiple
        assert (enc.ids[len(tokens) :] == embedder.tokenizer.convert_tokens_to_ids("N")).all()
        with torch.inference_mode():
            own = reference(input_ids=ids, output_hidden_states=True)
            if name == "dnabert2":  # its encoder returns unpadded layers; read them as upstream
                layers = reference.bert.encoder(
                    reference.bert.embeddings(ids), torch.ones_like(ids)
                )
                hidden = [reference.bert.embeddings(ids)[0], *layers]
            else:
                hidden = [h[0] for h in own.hidden_states]
            if name == "hyenadna":  # the last block's output, then after ln_f: keep the latter
                hidden = hidden[:-2] + hidden[-1:]
            if name == "ntv3":  # the stem's per-base output and the U-Net's
                core = reference.core
                hidden = [core.stem(core.embed_layer(ids).transpose(1, 2))[0].T, hidden[-1]]
        n = len(enc)
        torch.testing.assert_close(states[:, row, :n], torch.stack(hidden), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(logits[row, :n], own.logits[0], rtol=1e-5, atol=1e-6)


def test_transformers5_breaks_the_standins_as_it_breaks_upstream(standins):
    """Without glmeval's compatibility layer (a fresh process), transformers 5 fails on the
    stand-ins in the ways it fails on DNABERT-2 and NT v2 (docs/models.md)."""
    script = f"""
import json, torch
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoTokenizer
from glmeval.models import compat
paths, out = {json.dumps({k: str(v) for k, v in standins.items()})}, {{}}
def attempt(key, load):
    try:
        out[key] = type(load()).__module__.split(".")[0]
    except Exception as err:
        out[key] = f"{{type(err).__name__}}: {{err}}"
attempt("dnabert2", lambda: AutoModelForMaskedLM.from_pretrained(paths["dnabert2"], trust_remote_code=True))
attempt("ntv2", lambda: AutoModelForMaskedLM.from_pretrained(paths["ntv2"], trust_remote_code=True))
compat.install_legacy_symbols()
config = AutoConfig.from_pretrained(paths["dnabert2"], trust_remote_code=True)
compat.legacy_config(config)
attempt("meta", lambda: AutoModelForMaskedLM.from_pretrained(paths["dnabert2"], config=config, trust_remote_code=True))
attempt("automodel", lambda: AutoModel.from_pretrained(paths["ntv2"], trust_remote_code=True))
attempt("generator", lambda: AutoTokenizer.from_pretrained(paths["generator"], trust_remote_code=True))
attempt("ntv3", lambda: AutoModelForMaskedLM.from_pretrained(paths["ntv3"], trust_remote_code=True, local_files_only=True))
model = AutoModelForMaskedLM.from_pretrained(paths["ntv2"], trust_remote_code=True)
inv = model.esm.layer[0].rotary.inv_freq
d = 2 * len(inv)
out["inv_freq"] = torch.equal(inv, 1.0 / 10000 ** (torch.arange(0, d, 2).float() / d))
print(json.dumps(out))
"""
    run = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert "no attribute 'is_decoder'" in out["dnabert2"]
    assert "cannot import name 'find_pruneable_heads_and_indices'" in out["ntv2"]
    assert "meta" in out["meta"]
    assert out["automodel"] != "transformers_modules"  # a native class, or an error
    assert "has no attribute _special_tokens_map" in out["generator"]  # set before __init__
    assert out["ntv3"].startswith("OSError")  # its code is in another repository, not fetched
    assert out["inv_freq"] is False  # left uninitialised: silent garbage


@pytest.mark.parametrize("name", ["dnabert2", "ntv2"])
def test_random_init_of_remote_code_is_seeded(standins, name):
    trained = load(standins, name)
    first, again = (load(standins, name, random_init=1) for _ in range(2))
    batch = trained.encode(SEQS[:1])
    states = [m.hidden_states(batch)[0] for m in (trained, first, again)]
    assert torch.equal(states[1], states[2]) and not torch.allclose(states[0], states[1])
    assert type(first.model) is type(trained.model) and first.restored_buffers == []


def test_a_head_class_under_automodel_keeps_its_head(standins, tmp_path):
    """GENA-LM's hub auto_map maps only AutoModel, to its masked-LM class."""
    path = _copy(standins["dnabert2"], tmp_path / "automodel")
    auto_map = {
        "AutoConfig": "modeling_dnabert2.StandinBertConfig",
        "AutoModel": "modeling_dnabert2.StandinBertForMaskedLM",
    }
    _edit_config(path, auto_map=auto_map)
    embedder = load(standins, "dnabert2", path)
    assert embedder.has_lm_head
    logits, _ = embedder.logits(embedder.encode(SEQS[:1]))
    assert logits.shape[-1] == 64


def test_guard_rederives_uninitialised_buffers(standins):
    embedder = load(standins, "ntv2")
    rotary = embedder.model.esm.layer[1].rotary
    expected = rotary.inv_freq.clone()
    rotary.inv_freq.fill_(float("nan"))  # what transformers 5 leaves: uninitialised memory
    assert "esm.layer.1.rotary.inv_freq" in compat.restore_buffers(embedder.model, "m", "nt_v2")
    assert torch.equal(rotary.inv_freq, expected)


def test_guard_refuses_buffers_it_cannot_rederive(standins, tmp_path):
    path = _copy(standins["ntv2"], tmp_path / "random")
    _edit_config(path, random_buffer=True)
    with pytest.raises(ModelError, match="embeddings.projection.*random at construction"):
        load(standins, "ntv2", path)


def test_meta_tensor_attributes_are_rederived(standins):
    model = load(standins, "dnabert2").model
    alibi = model.bert.encoder.alibi.clone()
    model.bert.encoder.alibi = torch.empty_like(alibi, device="meta")
    assert compat.restore_buffers(model, "m", "dnabert2") == ["bert.encoder.alibi"]
    assert torch.equal(model.bert.encoder.alibi, alibi)


def test_code_that_does_not_run_is_a_named_error(standins, tmp_path):
    removed = _copy(standins["ntv2"], tmp_path / "removed")
    code = removed / "modeling_ntv2.py"
    code.write_text(
        "from transformers.modeling_utils import get_parameter_dtype\n" + code.read_text()
    )
    with pytest.raises(
        ModelError,
        match=r"imports transformers\.modeling_utils\.get_parameter_dtype.*LEGACY_SYMBOLS",
    ):
        load(standins, "ntv2", removed)

    package = _copy(standins["ntv2"], tmp_path / "package")
    code = package / "modeling_ntv2.py"
    code.write_text("import glmeval_absent_package\n" + code.read_text())
    with pytest.raises(
        ModelError, match="glmeval_absent_package.*pip install glmeval_absent_package"
    ):
        load(standins, "ntv2", package)

    attribute = _copy(standins["dnabert2"], tmp_path / "attribute")
    _edit_config(attribute, alibi_starting_size=None)
    with pytest.raises(ModelError, match=r"reads config\.alibi_starting_size.*config_overrides"):
        load(standins, "dnabert2", attribute)
    fixed = load(standins, "dnabert2", attribute, config_overrides={"alibi_starting_size": 64})
    assert fixed.n_layers == 2

    no_class = _copy(standins["ntv2"], tmp_path / "no_class")
    _edit_config(no_class, auto_map={"AutoConfig": "modeling_ntv2.EsmConfig"})
    with pytest.raises(ModelError, match="neither AutoModelForMaskedLM nor AutoModel"):
        load(standins, "ntv2", no_class)

    corrupt = _copy(standins["dnabert2"], tmp_path / "corrupt")  # still a checkpoint problem
    (corrupt / "model.safetensors").write_bytes(b"truncated")
    with pytest.raises(ModelError, match="cannot load the checkpoint.*delete that directory"):
        load(standins, "dnabert2", corrupt)


def _kernel(embedder):
    """The kernel global of the module that holds DNABERT-2's attention."""
    module = sys.modules[type(embedder.model.bert.encoder.layer[0]).__module__]
    return module.flash_attn_qkvpacked_func


def test_dnabert2_runs_its_pytorch_attention_where_its_triton_kernel_imports(standins):
    """DNABERT-2's code takes its Triton kernel whenever that imports (attention dropout 0), and
    the kernel no longer compiles: the family switches it off (`attention: pytorch`, its
    default), the numbers are those of the code's PyTorch path; `native` fails as upstream does."""
    native = load(standins, "dnabert2", attention="native")
    assert _kernel(native) is not None  # the stand-in kernel imported: upstream's Triton branch
    with pytest.raises(Exception, match="trans_b") as err:
        native.hidden_states(native.encode(SEQS[:1]))
    assert type(err.value).__name__ == "CompilationError"

    embedder = load(standins, "dnabert2")  # the family's default
    assert _kernel(embedder) is None
    batch = embedder.encode(SEQS)
    states, _ = embedder.hidden_states(batch)  # never calls the kernel: it would raise
    explicit = load(standins, "dnabert2", attention="pytorch")
    torch.testing.assert_close(explicit.hidden_states(batch)[0], states, rtol=0, atol=0)
    reference = own_model(standins["dnabert2"], "dnabert2")  # no package: its import fails
    ids = torch.from_numpy(batch[0].ids)[None]
    with torch.inference_mode():
        layers = reference.bert.encoder(reference.bert.embeddings(ids), torch.ones_like(ids))
    torch.testing.assert_close(states[1:, 0, : len(batch[0])], torch.stack(layers))

    assert _kernel(load(standins, "dnabert2", attention="native")) is not None  # put back


def test_a_kernel_that_cannot_be_switched_off_is_refused(standins, tmp_path):
    path = _copy(standins["dnabert2"], tmp_path / "held")
    code = path / "modeling_dnabert2.py"
    code.write_text(code.read_text() + "from .flash_attn_triton import _FlashAttnQKVPackedFunc\n")
    with pytest.raises(
        ModelError, match="holds '_FlashAttnQKVPackedFunc' from .*flash_attn_triton"
    ):
        load(standins, "dnabert2", path)
    assert load(standins, "dnabert2", path, attention="native").n_layers == 2


def test_context_limit_is_the_models_own(standins, tiny_models, tmp_path):
    nt = load_embedder("nt", {"family": "masked_lm", "n_layers": 2}, tiny_models["tiny_nt"])
    assert nt.max_tokens == 1000  # 1002 ESM positions, counted from the padding index + 1
    (fits,) = nt.encode(["ACGTAC" * 999])  # CLS + 999 tokens: the longest input
    states, _ = nt.hidden_states([fits])
    assert states.shape[2] == 1000
    with pytest.raises(
        TokenizationError, match="needs 1001 tokens but the model takes at most 1000"
    ):
        nt.encode(["ACGTAC" * 1000])

    short = tmp_path / "hyena"  # filters of 100 positions; the tokenizer allows 1024
    auto = {"AutoModelForCausalLM": "StandinHyenaForCausalLM"}
    settings = {"vocab_size": 12, "d_model": 16, "n_layer": 2, "max_seq_len": 100}
    save_standin(
        short, "modeling_hyena", "StandinHyenaConfig", auto["AutoModelForCausalLM"], auto, settings
    )
    shutil.copy(standins["hyenadna"] / "tokenizer_config.json", short)
    shutil.copy(standins["hyenadna"] / "tokenization_hyena.py", short)
    hyena = load(standins, "hyenadna", short)
    assert hyena.max_tokens == 100
    with pytest.raises(TokenizationError, match="at most 100"):
        hyena.encode(["A" * 100])  # + [SEP]
    with pytest.raises(ModelError, match="max_tokens is 500.*at most 100"):
        load(standins, "hyenadna", short, max_tokens=500)


FAMILIES = {  # every transformers family on a tiny instance: (family, checkpoint)
    "tiny_nt": "masked_lm",
    "tiny_bert": "masked_lm",
    "tiny_grover": "masked_lm",
    "tiny_mistral": "causal_lm",
    "tiny_gpn": "gpn",
    "dnabert2": "dnabert2",
    "ntv2": "nt_v2",
    "hyenadna": "hyenadna",
    "generator": "generator",
    "ntv3": "nt_v3",
}


@pytest.mark.parametrize("name", FAMILIES)
def test_n_and_lowercase_embed_on_every_family(standins, tiny_models, name):
    path = {**tiny_models, **standins}[name]
    model = load_embedder(name, {"family": FAMILIES[name], "n_layers": LAYERS.get(name, 2)}, path)
    seq = SEQS[0][:50] + "NNN" + SEQS[0][53:]
    upper, lower, plain = model.encode([seq, seq.lower(), SEQS[0]])
    assert np.array_equal(upper.ids, lower.ids)
    assert upper.n_bases.sum() == len(seq) and len(upper.special) == len(upper.ids)
    spans = upper.spans()[~upper.special]
    assert spans[0, 0] == 0 and spans[-1, 1] == len(seq) and (spans[1:, 0] == spans[:-1, 1]).all()
    states, _ = model.hidden_states([upper, plain])
    assert torch.isfinite(states).all()


def test_prepend_cls_runs_hyenadna_as_the_paper_did(standins):
    plain = load(standins, "hyenadna")
    paper = load(standins, "hyenadna", prepend_cls=True)
    (a,), (b,) = plain.encode(SEQS[:1]), paper.encode(SEQS[:1])
    cls = paper.tokenizer.cls_token_id
    assert a.ids[0] != cls and b.ids[0] == cls and b.special[0] and b.n_bases[0] == 0
    assert np.array_equal(b.ids[1:], a.ids) and b.n_bases.sum() == len(SEQS[0])
    states_a, _ = plain.hidden_states([a])
    states_b, _ = paper.hidden_states([b])
    torch.testing.assert_close(states_a[0, 0], states_b[0, 0, 1:])  # embeddings: unchanged
    assert not torch.allclose(states_a[1:, 0], states_b[1:, 0, 1:])  # causal: every state moves
    with pytest.raises(ModelError, match="already starts every sequence"):
        load(standins, "dnabert2", prepend_cls=True)


def test_code_from_another_repository(standins, tmp_path, monkeypatch):
    """NT v3's auto_map names classes in another repository (`repo--module.Class`): resolving
    the model copies that repository's code, at source.code_revision, beside the weights; a
    snapshot without it, or with code of another revision, is a named error."""
    import huggingface_hub

    from glmeval.models import resolve_model

    weights = [f for f in standins["ntv3"].iterdir() if f.suffix != ".py"]
    calls = []

    siblings = [SimpleNamespace(rfilename=f.name) for f in standins["ntv3"].iterdir()]
    info = SimpleNamespace(sha="c" * 40, siblings=siblings)

    def snapshot_download(repo, revision, local_dir, **patterns):
        calls.append((repo, revision, patterns))
        local_dir.mkdir(exist_ok=True)
        for file in weights if repo == "org/ntv3" else standins["ntv3"].glob("*.py"):
            shutil.copy(file, local_dir)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda *a, **k: info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    model = {"family": "nt_v3", "n_layers": 1, "source": {"hub": "org/ntv3", "revision": "a" * 40}}
    with pytest.raises(
        ModelError, match="another repository, InstaDeepAI/ntv3_base_model.*code_revision"
    ):
        resolve_model(model, tmp_path / "no_code", "ntv3")
    model["source"]["code_revision"] = "b" * 40
    resolve_model(model, tmp_path / "ntv3", "ntv3")
    assert calls[-1] == ("InstaDeepAI/ntv3_base_model", "b" * 40, {"allow_patterns": "*.py"})
    assert load_embedder("ntv3", model, tmp_path / "ntv3").n_layers == 1
    with pytest.raises(ModelError, match="holds code at revision b{40} but .* c{40}"):
        load_embedder(
            "ntv3",
            {**model, "source": {**model["source"], "code_revision": "c" * 40}},
            tmp_path / "ntv3",
        )
    for code in (tmp_path / "ntv3").glob("*.py"):
        code.unlink()
    with pytest.raises(ModelError, match="another repository, InstaDeepAI/ntv3_base_model"):
        load_embedder("ntv3", model, tmp_path / "ntv3")


def _copy(source, target):
    shutil.copytree(source, target)
    return target


def _edit_config(path, **changes):
    record = json.loads((path / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            record.pop(key)
        else:
            record[key] = value
    (path / "config.json").write_text(json.dumps(record))
