import os
import shutil
from pathlib import Path

import pytest
from standin_builders import build_standins

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
    layer sweep on one task, the grammar task without tiny_mistral), plus features from a file,
    tiny_mistral fine-tuned with LoRA for one epoch and, where ../shared is present, the real
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
    # fine-tuning (docs/finetuning.md): LoRA adapters of tiny_mistral under the CNN head
    config["probes"]["lora_cnn"] = {**config["probes"]["rep_cnn"], "finetune": "lora"}
    config["probes"]["lora_cnn"]["models"] = ["tiny_mistral"]
    config["tasks"]["motif_activity"]["probes"].append("lora_cnn")
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


@pytest.fixture(scope="session")
def standins(tmp_path_factory) -> dict[str, Path]:
    """Checkpoints laid out as on the hub, carrying remote code shaped like DNABERT-2, NT v2,
    HyenaDNA, Caduceus (-Ph and -PS), NT v3 and GENERator's tokenizer (tests/standins/): code
    files, a transformers-4-era config.json with its auto_map, weights and tokenizer files."""
    return build_standins(tmp_path_factory.mktemp("standins"))
