"""Which files of a hub repository resolving a model downloads (glmeval.models.hub_files): the
config, tokenizer and code, and one weight format, never JAX, TensorFlow or Flax weights, a
README or a second copy of the weights; and a hub that cannot be reached is a named error."""

import importlib
import importlib.util
from types import SimpleNamespace

import pytest

from glmeval.models import ModelError, hub_files, resolve_model

NT_TOKENIZER = ["special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]
HUB = [".gitattributes", "README.md"]
#: InstaDeepAI/nucleotide-transformer-2.5b-1000g at ad01b424 (Oct 2023): sharded PyTorch and
#: TensorFlow weights
NT_2B5 = [
    *HUB,
    "config.json",
    "pytorch_model-00001-of-00002.bin",
    "pytorch_model-00002-of-00002.bin",
    "pytorch_model.bin.index.json",
    "tf_model-00001-of-00002.h5",
    "tf_model-00002-of-00002.h5",
    "tf_model.h5.index.json",
    *NT_TOKENIZER,
]
#: the same repository's main since: its JAX checkpoint (9.49 GB) and a safetensors conversion
NT_2B5_MAIN = [
    *NT_2B5,
    "jax_model/hyperparams.json",
    "jax_model/pytree_ckpt.joblib",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model.safetensors.index.json",
]
#: InstaDeepAI/nucleotide-transformer-500m-1000g's main: one file per format
NT_500M = [
    *HUB,
    "config.json",
    "jax_model/hyperparams.json",
    "jax_model/pytree_ckpt.joblib",
    "pytorch_model.bin",
    "tf_model.h5",
    *NT_TOKENIZER,
]
#: NT v2 (remote code)
NT_V2 = [
    *HUB,
    "config.json",
    "esm_config.py",
    "modeling_esm.py",
    "model.safetensors",
    "pytorch_model.bin",
    *NT_TOKENIZER,
]
DNABERT2_CODE = [
    "bert_layers.py",
    "bert_padding.py",
    "configuration_bert.py",
    "flash_attn_triton.py",
]
#: zhihan1996/DNABERT-2-117M: its code, a BPE tokenizer, PyTorch weights
DNABERT2 = [
    *HUB,
    "LICENSE",
    *DNABERT2_CODE,
    "config.json",
    "generation_config.json",
    "pytorch_model.bin",
    "tokenizer.json",
    "tokenizer_config.json",
]
#: LongSafari/hyenadna-*-hf: its code and slow tokenizer, safetensors weights
HYENADNA = [
    *HUB,
    "config.json",
    "configuration_hyena.py",
    "model.safetensors",
    "modeling_hyena.py",
    "special_tokens_map.json",
    "tokenization_hyena.py",
    "tokenizer_config.json",
]


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        (NT_2B5, ["config.json", *NT_2B5[3:6], *NT_TOKENIZER]),
        (NT_2B5_MAIN, ["config.json", *NT_2B5_MAIN[-3:], *NT_TOKENIZER]),
        (NT_500M, ["config.json", "pytorch_model.bin", *NT_TOKENIZER]),
        (
            NT_V2,
            ["config.json", "esm_config.py", "model.safetensors", "modeling_esm.py", *NT_TOKENIZER],
        ),
        (
            DNABERT2,
            [
                *DNABERT2_CODE,
                "config.json",
                "generation_config.json",
                "pytorch_model.bin",
                "tokenizer.json",
                "tokenizer_config.json",
            ],
        ),
        (
            [*DNABERT2, "model.safetensors"],
            [
                *DNABERT2_CODE,
                "config.json",
                "generation_config.json",
                "model.safetensors",
                "tokenizer.json",
                "tokenizer_config.json",
            ],
        ),
        (HYENADNA, sorted(set(HYENADNA) - set(HUB))),
    ],
    ids=["nt_2b5", "nt_2b5_main", "nt_500m", "nt_v2", "dnabert2", "dnabert2_both", "hyenadna"],
)
def test_only_the_weights_that_load(listing, expected):
    assert hub_files(reversed(listing)) == sorted(expected)


def test_essentials_without_weights():
    assert hub_files(["README.md", "tokenizer.model", "merges.txt", "flax_model.msgpack"]) == [
        "merges.txt",
        "tokenizer.model",
    ]


@pytest.fixture
def hub(monkeypatch):
    """A hub serving `hub["listing"]` at commit c…c; `hub["download"]` the files requested."""
    import huggingface_hub

    state = {"listing": NT_2B5_MAIN}

    def model_info(self, repo, revision):
        if "error" in state:
            raise state["error"]
        siblings = [SimpleNamespace(rfilename=name) for name in state["listing"]]
        return SimpleNamespace(sha="c" * 40, siblings=siblings)

    def snapshot_download(repo, revision, local_dir, allow_patterns):
        state["download"] = (repo, revision, allow_patterns)

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return state


SOURCE = {"hub": "InstaDeepAI/nucleotide-transformer-2.5b-1000g", "revision": "main"}


def test_a_snapshot_downloads_exactly_its_hub_files(hub, tmp_path):
    resolve_model({"family": "masked_lm", "n_layers": 32, "source": SOURCE}, tmp_path)
    repo, commit, files = hub["download"]
    assert (repo, commit, files) == (SOURCE["hub"], "c" * 40, hub_files(NT_2B5_MAIN))
    assert not [f for f in files if f.startswith("jax_model/") or f.endswith((".h5", ".bin"))]


def _connection_errors():
    """A refused connection as each installed HTTP client of huggingface_hub raises it."""
    import requests

    errors = [requests.ConnectionError("Max retries exceeded with url: /api/models")]
    for client in ("httpx", "httpx2"):
        if importlib.util.find_spec(client):
            module = importlib.import_module(client)
            errors.append(module.ConnectError("[Errno -3] Temporary failure in name resolution"))
    return errors


@pytest.mark.parametrize("error", _connection_errors(), ids=lambda e: type(e).__module__)
def test_an_unreachable_hub_is_a_named_error(hub, tmp_path, error):
    hub["error"] = error
    with pytest.raises(ModelError) as err:
        resolve_model({"family": "masked_lm", "n_layers": 32, "source": SOURCE}, tmp_path)
    message = str(err.value)
    assert f"cannot snapshot {SOURCE['hub']}@main" in message
    assert "ConnectError" in message or "ConnectionError" in message
    assert "`snakemake models`" in message
