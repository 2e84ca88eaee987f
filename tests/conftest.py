import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GLMEVAL_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared real data and models; tests using it skip cleanly when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set GLMEVAL_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    from glmeval.models.build import BUILDERS

    root = tmp_path_factory.mktemp("models")
    paths = {}
    for name, build in BUILDERS.items():
        build(root / name, n_layers=2)
        paths[name] = root / name
    return paths


@pytest.fixture(scope="session")
def workflow_config(tmp_path_factory) -> Path:
    """The demo, plus a random_init control and, where ../shared is present, the real
    pretrained Mistral-DNA checkpoint on one task and Task 3 on the real CAGI5 variants:
    zero-shot scores of every variant of the 15 elements, and the activity probes transferred
    to 230-nt windows of LDLR, SORT1, F9 and PKLR. One workflow run serves every test of it."""
    import yaml

    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["models"]["random_tiny_nt"] = {
        "family": "random_init",
        "of": "tiny_nt",
        "seed": 7,
        "probe_layers": "last",
    }
    for task in config["tasks"].values():
        task["models"].append("random_tiny_nt")
    checkpoint = SHARED / "models" / "mistral-dna-v1-1m-hg38-finetuned-tf1"
    if checkpoint.is_dir():
        config["models"]["mistral_dna"] = {
            "family": "causal_lm",
            "source": {"path": str(checkpoint)},
            "n_layers": 4,
            "batch_size": 128,
        }
        config["tasks"]["motif_activity"]["models"].append("mistral_dna")
        cagi5, elements = str(SHARED / "data" / "cagi5"), ["LDLR", "SORT1", "F9", "PKLR"]
        config["variants"] = {
            "cagi5": {  # whole elements: every variant of all 15 elements
                "cagi5": cagi5,
                "zeroshot": {
                    "models": ["onehot", "tiny_nt", "tiny_mistral", "mistral_dna"],
                    "batch_size": 64,
                },
            },
            "cagi5_230": {  # the probes' 230-nt context, cut from the elements
                "cagi5": cagi5,
                "length": 230,
                "elements": elements,
                "transfer": [
                    {"task": "motif_activity", "probes": ["rep_cnn"], "elements": elements}
                ],
            },
        }
    path = tmp_path_factory.mktemp("config") / "workflow.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def workflow_run(tmp_path_factory, workflow_config) -> Path:
    """The working directory of one `snakemake` run of `workflow_config` (its `all` target)."""
    import subprocess
    import sys

    workdir = tmp_path_factory.mktemp("workflow")
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--cores",
        "2",
        "--configfile",
        str(workflow_config),
        "--directory",
        str(workdir),
        "--show-failed-logs",
        "--quiet",
    ]
    result = subprocess.run(
        command, check=False, cwd=REPO, capture_output=True, text=True, timeout=3600
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


STANDINS = REPO / "tests" / "standins"


@pytest.fixture(scope="session")
def standins(tmp_path_factory) -> dict[str, Path]:
    """Checkpoints laid out as on the hub, carrying remote code shaped like DNABERT-2, NT v2,
    HyenaDNA and Caduceus (tests/standins/): code files, a transformers-4-era config.json with
    its auto_map, weights and tokenizer files."""
    return build_standins(tmp_path_factory.mktemp("standins"))


def build_standins(root: Path) -> dict[str, Path]:
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
            lambda out: _remote_tokenizer(out, hyena_tokenizer),
        ),
        "mamba": (
            "modeling_mamba",
            "StandinMambaConfig",
            "StandinMambaForMaskedLM",
            {"AutoModelForMaskedLM": "StandinMambaForMaskedLM"},
            {"vocab_size": 12, "hidden_size": 16, "n_layer": 2},
            lambda out: _remote_tokenizer(out, hyena_tokenizer),
        ),
    }
    paths = {}
    for name, (module, config_class, model_class, auto, settings, tokenizer) in specs.items():
        paths[name] = root / name
        save_standin(paths[name], module, config_class, model_class, auto, settings)
        tokenizer(paths[name])
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
    import shutil

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


def _remote_tokenizer(out, tokenizer_config):
    import json
    import shutil

    shutil.copy(STANDINS / "tokenization_hyena.py", out)
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
