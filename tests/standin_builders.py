"""Stand-in checkpoints of the remote-code families, built offline for the tests.

Each is laid out as its hub repository is: the model code from tests/standins/ beside a
transformers-4-era config.json with its auto_map, random weights (model.safetensors) and the
tokenizer files. tests/conftest.py's `standins` fixture builds them all once per session
(`build_standins`); tests that need one variant build it with `save_standin` (the weights and
config) and `remote_tokenizer` (a tokenizer whose code ships with the checkpoint).
"""

import shutil
from pathlib import Path

STANDINS = Path(__file__).resolve().parent / "standins"


def build_standins(root: Path) -> dict[str, Path]:
    """Every stand-in under `root`, by name: dnabert2, ntv2, hyenadna, mamba (Caduceus-Ph),
    caduceus_ps, ntv3 and generator."""
    from glmeval.models.build import bpe_tokenizer, nt_tokenizer

    hyena_tokenizer = {
        "tokenizer_class": "StandinHyenaTokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_hyena.StandinHyenaTokenizer", None]},
        "model_max_length": 1024,
    }
    specs = {
        "dnabert2": (
            "modeling_dnabert2",
            "StandinBertConfig",
            "StandinBertForMaskedLM",
            {"AutoModel": "StandinBertModel", "AutoModelForMaskedLM": "StandinBertForMaskedLM"},
            {
                "vocab_size": 64,
                "hidden_size": 16,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "intermediate_size": 32,
                "max_position_embeddings": 512,
                "alibi_starting_size": 64,
                "attention_probs_dropout_prob": 0.0,  # as the hub's: its Triton branch
            },
            lambda out: bpe_tokenizer(64, int(1e30)).save_pretrained(out),
        ),
        "ntv2": (
            "modeling_ntv2",
            "EsmConfig",
            "StandinEsmForMaskedLM",
            {"AutoModelForMaskedLM": "StandinEsmForMaskedLM"},
            {"pad_token_id": 1, "mask_token_id": 2},
            lambda out: nt_tokenizer(out, 2048).save_pretrained(out),
        ),
        "hyenadna": (
            "modeling_hyena",
            "StandinHyenaConfig",
            "StandinHyenaForCausalLM",
            {"AutoModelForCausalLM": "StandinHyenaForCausalLM"},
            {"vocab_size": 12, "d_model": 16, "n_layer": 2, "max_seq_len": 1024},
            lambda out: remote_tokenizer(out, hyena_tokenizer),
        ),
        "mamba": (
            "modeling_mamba",
            "StandinMambaConfig",
            "StandinMambaForMaskedLM",
            {"AutoModelForMaskedLM": "StandinMambaForMaskedLM"},
            {"vocab_size": 12, "d_model": 16, "n_layer": 2},
            lambda out: remote_tokenizer(out, hyena_tokenizer),
        ),
        "caduceus_ps": (  # complements of the tokenizer's A C G T (ids 7-10)
            "modeling_mamba",
            "StandinMambaConfig",
            "StandinMambaForMaskedLM",
            {"AutoModelForMaskedLM": "StandinMambaForMaskedLM"},
            {
                "vocab_size": 12,
                "d_model": 8,
                "n_layer": 2,
                "rcps": True,
                "complement_map": {i: i for i in range(12)} | {7: 10, 8: 9, 9: 8, 10: 7},
            },
            lambda out: remote_tokenizer(out, hyena_tokenizer),
        ),
        "ntv3": (
            "modeling_ntv3",
            "Ntv3PreTrainedConfig",
            "NTv3PreTrained",
            {"AutoModel": "NTv3PreTrained", "AutoModelForMaskedLM": "NTv3PreTrained"},
            {"num_downsamples": 3, "num_layers": 2},
            _ntv3_files,
        ),
    }
    paths = {}
    for name, (module, config_class, model_class, auto, settings, tokenizer) in specs.items():
        paths[name] = root / name
        save_standin(paths[name], module, config_class, model_class, auto, settings)
        tokenizer(paths[name])
    # beside its model code, as on the hub: DNABERT-2's Triton kernel (failing as the real one)
    shutil.copy(STANDINS / "flash_attn_triton.py", paths["dnabert2"])
    paths["generator"] = root / "generator"
    _generator(paths["generator"])
    return paths


def construct_standin(code: Path, config_class: str, model_class: str, settings: dict):
    """The stand-in in file `code` built as under transformers 4: on the CPU (its buffers
    computed), with transformers 4's config defaults and helpers."""
    import importlib.util

    from glmeval.models import compat

    compat.install_legacy_symbols()  # the NT v2 stand-in imports what transformers 5 removed
    spec = importlib.util.spec_from_file_location(code.stem, code)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = getattr(module, config_class)(**settings)
    compat.legacy_config(config)
    return getattr(module, model_class)(config)


def save_standin(out, module_name, config_class, model_class, auto, settings, seed=0):
    """Construct the stand-in, and write what a hub repository holds: the code, config.json
    with its auto_map, model.safetensors."""
    import json

    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True)
    shutil.copy(STANDINS / f"{module_name}.py", out)
    torch.manual_seed(seed)
    model = construct_standin(STANDINS / f"{module_name}.py", config_class, model_class, settings)
    with torch.no_grad():  # non-trivial values everywhere, layer norms too
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, out / "model.safetensors", metadata={"format": "pt"})
    auto_map = {"AutoConfig": f"{module_name}.{config_class}"}
    auto_map |= {key: f"{module_name}.{value}" for key, value in auto.items()}
    record = {
        **settings,
        "architectures": [model_class],
        "auto_map": auto_map,
        "transformers_version": "4.28.0",
    }
    (out / "config.json").write_text(json.dumps(record, indent=2))


#: the repository that NT v3 checkpoints' auto_maps name for their code
NTV3_CODE = "InstaDeepAI/ntv3_base_model"


def _ntv3_files(out):
    """NT v3's layout once `resolve_model` has copied its code repository's files beside the
    weights: auto_maps that name classes in that other repository (`repo--module.Class`), its
    modeling file under the code repository's name, its tokenizer and vocab.json."""
    import json

    (out / "modeling_ntv3.py").rename(out / "modeling_ntv3_pretrained.py")
    record = json.loads((out / "config.json").read_text())
    record["auto_map"] = {
        key: f"{NTV3_CODE}--{value.replace('modeling_ntv3.', 'modeling_ntv3_pretrained.')}"
        for key, value in record["auto_map"].items()
    }
    (out / "config.json").write_text(json.dumps(record, indent=2))
    shutil.copy(STANDINS / "tokenization_ntv3.py", out)
    tokens = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>", *"ATCGN"]
    (out / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}))
    tokenizer = {
        "tokenizer_class": "NTv3Tokenizer",
        "auto_map": {"AutoTokenizer": [f"{NTV3_CODE}--tokenization_ntv3.NTv3Tokenizer", None]},
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer, indent=2))


def _generator(out):
    """GENERator's layout: a native Llama causal LM (here 2 layers of width 16) and its
    repository's own 6-mer tokenizer code, `tokenizer.py`."""
    import json

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=32 + 4**6,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    shutil.copy(STANDINS / "tokenization_generator.py", out / "tokenizer.py")
    tokenizer = {
        "tokenizer_class": "DNAKmerTokenizer",
        "auto_map": {"AutoTokenizer": ["tokenizer.DNAKmerTokenizer", None]},
        "k": 6,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<oov>",
        "add_bos_token": True,
        "add_eos_token": False,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer, indent=2))


def remote_tokenizer(out, tokenizer_config):
    import json

    shutil.copy(STANDINS / "tokenization_hyena.py", out)
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
