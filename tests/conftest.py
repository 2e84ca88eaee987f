import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GLMEVAL_SHARED", REPO.parent / "shared"))

if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # the workers share the cores: no oversubscription
    _threads = (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _threads)))

#: The fixture of the one expensive workflow run that many modules' tests read.
SHARED_RUN = "workflow_run"
#: The other modules that take longest (a cluster, kills and reruns, the paper's DAG): started
#: right after the shared run, so that the workers finish together.
LONGEST = ("test_slurm", "test_faults", "test_workflow")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`-n auto`, the README's command; pyproject.toml sets `--dist
    loadgroup`) every test of the shared workflow run goes to one worker and each other
    module's tests to one worker, so that a session or module fixture runs once; the longest
    groups are handed out first."""
    order = (SHARED_RUN, *LONGEST)

    def group(item) -> str:
        return SHARED_RUN if SHARED_RUN in item.fixturenames else item.module.__name__

    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
    if "PYTEST_XDIST_WORKER" in os.environ:
        items.sort(key=lambda item: order.index(g) if (g := group(item)) in order else len(order))


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


#: A download the shared workflow run finds staged (its URL is never fetched): stand-in GPN and
#: Sei checkpoints, models whose `source` is a path inside a download, as the paper's are.
STAGED_DOWNLOAD = "standin_models"


@pytest.fixture(scope="session")
def workflow_config(tmp_path_factory, standins) -> Path:
    """The demo, smaller (the language models' neural probes shorter or left out, tiny_nt's
    layer sweep on one task, the grammar task without tiny_mistral), plus features from a file
    and, where ../shared is present, the real
    pretrained Mistral-DNA checkpoint on one task and Task 3 on the real CAGI5 variants:
    zero-shot scores of every variant of the 15 elements, the activity probes transferred
    to 230-nt windows of LDLR, F9 and PKLR, and the families the paper adds (GPN and Sei
    from a download, HyenaDNA as the paper ran it) each at its own window. One workflow run
    serves every test of it; `<config dir>/downloads/` holds what it finds staged."""
    import yaml

    root = tmp_path_factory.mktemp("config")
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    # features from elsewhere (family features): the planted motifs' counts, read by id
    config["models"]["motif_counts"] = {
        "family": "features",
        "label": "planted motif counts",
        "source": {"path": str(_motif_counts(config["tasks"]["motif_activity"], root))},
    }
    config["tasks"]["motif_activity"]["models"].append("motif_counts")
    # the smallest run that proves each behaviour: tiny_nt's layer sweep on one task with the
    # linear probes; the MLP probe on one-hot and the features (the language models' pooled
    # features take the linear probes' path); the language models' CNN probes stopped after one
    # epoch where no test asks them to learn; two models on the grammar task
    config["tasks"]["motif_grammar"]["probe_layers"] = {"tiny_nt": "last"}
    config["tasks"]["motif_grammar"]["models"] = ["onehot", "tiny_nt"]
    config["probes"]["rep_mlp"]["models"] = ["onehot", "motif_counts"]
    checkpoint = SHARED / "models" / "mistral-dna-v1-1m-hg38-finetuned-tf1"
    if checkpoint.is_dir():
        config["models"]["mistral_dna"] = {
            "family": "causal_lm",
            "source": {"path": str(checkpoint)},
            "n_layers": 4,
            "batch_size": 128,
        }
        config["tasks"]["motif_activity"]["models"].append("mistral_dna")
        # two HepG2 elements and K562's (SORT1, HepG2's largest, adds nothing to prove)
        cagi5, elements = str(SHARED / "data" / "cagi5"), ["LDLR", "F9", "PKLR"]
        config["variants"] = {
            "cagi5": {  # whole elements: every variant of all 15 elements
                "cagi5": cagi5,
                # the real checkpoint (BPE) and the exact one-hot distances; the likelihood
                # scores of every kind of LM head are proven on cagi5_windows
                "zeroshot": {"models": ["onehot", "mistral_dna"], "batch_size": 64},
            },
            "cagi5_230": {  # the probes' 230-nt context, cut from the elements
                "cagi5": cagi5,
                "length": 230,
                "elements": elements,
                "transfer": [
                    {"task": "motif_activity", "probes": ["rep_cnn"], "elements": elements}
                ],
            },
            "cagi5_windows": {  # each model at its own window, as Table 1 was made
                "cagi5": cagi5,
                "length": 230,
                "elements": ["LDLR", "F9"],
                "zeroshot": {
                    "models": ["gpn_download", "hyenadna", "tiny_nt"],
                    "windows": {"gpn_download": 128, "hyenadna": 64},
                },
            },
            "sei_variants": _sei_variants(root),  # Sei costs ~1 s per sequence on 2 cores
        }
        config["downloads"] = {STAGED_DOWNLOAD: {"url": "https://example.invalid/models.zip"}}
        config["models"] |= {
            "gpn_download": {
                "family": "gpn",
                "source": {"download": STAGED_DOWNLOAD, "path": "checkpoints/gpn"},
                "n_layers": 2,
            },
            "sei": {"family": "sei", "source": {"download": STAGED_DOWNLOAD, "path": "sei"}},
            "hyenadna": {
                "family": "hyenadna",
                "source": {"path": str(standins["hyenadna"])},
                "n_layers": 2,
                "prepend_cls": True,
                "max_tokens": 1000,
            },
        }
        _stage_download(root / "downloads" / STAGED_DOWNLOAD)
    for probe in config["probes"].values():
        if probe["type"] in ("rep_mlp", "rep_cnn"):
            probe["layers"] = "last"  # the layer sweep is the linear probes'
            probe["model_overrides"] = {
                m: {"max_epochs": 1} for m in config["models"] if m != "onehot"
            }
    # the probe whose embedding gradients must land on the motifs (test_attribution) learns
    config["probes"]["rep_cnn"]["model_overrides"]["tiny_mistral"] = {"max_epochs": 4}
    # "reported" numbers for the demo's tasks: set beside the run's own (paper_comparison)
    (root / "reported.csv").write_text(
        "panel,task,model,probe,representation,layer,width,target,train_fraction,metric,value,source\n"
        "demo,motif_grammar,onehot,rep_cnn_binary,tokens,0,0.25,label,1,auroc,0.97,README\n"
        "demo,motif_activity,tiny_mistral,ridge,cls,2,,activity,1,pearson,0.2,no CLS token: never run\n"
    )
    config["paper_values"] = str(root / "reported.csv")
    path = root / "workflow.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _motif_counts(task: dict, root: Path) -> Path:
    """A Parquet of id and how often each motif is planted in the task's sequences (the
    generator's own annotation), rows shuffled: features made outside glmeval."""
    import pandas as pd

    from glmeval.data.synthetic import CONSENSUS, GENERATORS

    source = task["source"]
    n = source["n_train"] + source["n_valid"] + source["n_test"]
    data = GENERATORS[source["synthetic"]](n, length=source["length"], seed=source["seed"])
    planted = data["motifs"].str.split(";").map(lambda sites: [s.split(":")[0] for s in sites])
    counts = pd.DataFrame({m: [names.count(m) for names in planted] for m in CONSENSUS})
    path = root / "motif_counts.parquet"
    counts.assign(id=data["id"]).sample(frac=1, random_state=0).to_parquet(path)
    return path


def _stage_download(out: Path) -> None:
    from glmeval.models.build import build_tiny_gpn
    from glmeval.models.sei import save_random_sei

    build_tiny_gpn(out / "checkpoints" / "gpn", n_layers=2)
    save_random_sei(out / "sei", n_targets=8)


def snv_table(root: Path) -> dict[str, str]:
    """Four SNVs on a random 600-bp chromosome, written to `root`: a variants entry's `table`
    and `genome`."""
    import numpy as np

    chrom = "".join(np.random.default_rng(3).choice(list("ACGT"), 600))
    (root / "genome.fa").write_text(f">chr1\n{chrom}\n")
    rows = [
        f"chr1\t{p}\t{chrom[p - 1]}\t{'A' if chrom[p - 1] != 'A' else 'C'}"
        for p in (150, 250, 300, 420)
    ]
    (root / "snvs.tsv").write_text("chrom\tpos\tref\talt\n" + "\n".join(rows) + "\n")
    return {"table": str(root / "snvs.tsv"), "genome": str(root / "genome.fa")}


def _sei_variants(root: Path) -> dict:
    """The four SNVs in 200-bp windows: Sei's zero-shot scores."""
    return {**snv_table(root), "length": 200, "zeroshot": {"models": ["sei"]}}


@pytest.fixture(scope="session", name=SHARED_RUN)
def workflow_run(tmp_path_factory, workflow_config) -> Path:
    """The working directory of one `snakemake` run of `workflow_config` (its `all` target)."""
    import subprocess
    import sys

    workdir = tmp_path_factory.mktemp("workflow")
    staged = workflow_config.parent / "downloads"
    if staged.is_dir():
        shutil.copytree(staged, workdir / "resources" / "downloads")
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "all",
        "zeroshot",
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
    HyenaDNA, Caduceus (-Ph and -PS), NT v3 and GENERator's tokenizer (tests/standins/): code
    files, a transformers-4-era config.json with its auto_map, weights and tokenizer files."""
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
            lambda out: _remote_tokenizer(out, hyena_tokenizer),
        ),
        "mamba": (
            "modeling_mamba",
            "StandinMambaConfig",
            "StandinMambaForMaskedLM",
            {"AutoModelForMaskedLM": "StandinMambaForMaskedLM"},
            {"vocab_size": 12, "d_model": 16, "n_layer": 2},
            lambda out: _remote_tokenizer(out, hyena_tokenizer),
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
            lambda out: _remote_tokenizer(out, hyena_tokenizer),
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


def _remote_tokenizer(out, tokenizer_config):
    import json

    shutil.copy(STANDINS / "tokenization_hyena.py", out)
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
