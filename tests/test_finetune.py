"""Fine-tuning probes (docs/finetuning.md): LoRA trains only its adapters, a saved run's
predictions reproduce, full fine-tuning and from-scratch differ only in the initial weights, a
killed run resumes after its last complete epoch, out of memory halves the micro-batch, and
what cannot be fine-tuned is refused at configuration time."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO

from glmeval.config import config_errors
from glmeval.cost import CostModel, Profile
from glmeval.data.tasks import prepare_task
from glmeval.io import read_json
from glmeval.models.families import ModelError, family_of
from glmeval.nn.train import TrainConfig, fit, predict, trained_state
from glmeval.plan import probe_jobs
from glmeval.probes.finetune import (
    FineTuned,
    build,
    encode,
    load_finetuned,
    load_model,
    run_finetune_group,
)
from glmeval.probes.run import Run
from glmeval.run_plan import RunPlan

MODELS = {"tiny_nt": "masked_lm", "tiny_mistral": "causal_lm", "tiny_gpn": "gpn"}
PROBE = {
    "type": "rep_cnn",
    "width": 0.25,
    "reduce_dim": 8,
    "lr": 1e-3,
    "batch_size": 64,
    "max_epochs": 2,
    "patience": 4,
    "lr_factor": 0.2,
    "lr_patience": 2,
    "min_lr": 1e-8,
    "shuffle": True,
    "bn_momentum": 0.9,
}


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune_task")
    source = {"synthetic": "motif_regression", "length": 200, "seed": 0}
    source |= {"n_train": 256, "n_valid": 64, "n_test": 64}
    prepare_task("toy", {"kind": "regression", "source": source}, root)
    return root


def settings(model: str) -> dict:
    return {"family": MODELS[model], "n_layers": 2}


def _sequences(task, split):
    return pd.read_parquet(task / f"{split}.parquet")["sequence"].tolist()


def _model(tiny_models, model, kind, seed=0, **extra):
    probe = {**PROBE, "finetune": kind, **extra}
    embedder = load_model(model, settings(model), str(tiny_models[model]), probe, seed, "cpu")
    return embedder, probe


@pytest.mark.parametrize("model", sorted(MODELS))
def test_lora_changes_only_the_adapters(tiny_models, task, model):
    embedder, probe = _model(tiny_models, model, "lora")
    finetuned = build(embedder, probe, "tokens", 40, 1, seed=0)
    before = {k: v.clone() for k, v in finetuned.backbone.state_dict().items()}
    trainable = {n for n, p in finetuned.backbone.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    x = {s: encode(embedder, _sequences(task, s)) for s in ("train", "valid")}
    y = {s: pd.read_parquet(task / f"{s}.parquet")[["activity"]].to_numpy(np.float32) for s in x}
    config = TrainConfig(lr=1e-2, batch_size=64, max_epochs=1)
    fit(finetuned, "mse", (x["train"], y["train"]), (x["valid"], y["valid"]), config, 0)
    after = finetuned.backbone.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("lora_" in k for k in changed)
    assert {k for k in before if "lora_B" in k} <= changed  # B starts at zero: it learned
    # the base weights are those of the checkpoint on disk
    fresh, _ = _model(tiny_models, model, "full")
    base = {k: v for k, v in before.items() if "lora_" not in k}
    for key, value in fresh.backbone.state_dict().items():
        match = [k for k in base if k.replace(".base_layer", "") == key]
        assert match and torch.equal(base[match[0]], value), key


def test_predictions_reproduce_from_the_saved_adapter(tiny_models, task, tmp_path):
    probe = {**PROBE, "finetune": "lora", "lora": {"rank": 4, "alpha": 8, "dropout": 0.1}}
    run = Run(2, 1.0, 0, str(tmp_path / "run"))
    context = {"task": "toy", "model": "tiny_mistral", "probe": "lora_cnn"}
    path = str(tiny_models["tiny_mistral"])
    model = settings("tiny_mistral")
    run_finetune_group(task, "tiny_mistral", model, path, probe, "tokens", [run],
                       tmp_path / "runs.json", context)
    metrics = read_json(tmp_path / "run" / "metrics.json")
    record = metrics["finetune"]
    assert record["kind"] == "lora" and record["lora"]["rank"] == 4
    assert record["lora"]["target_modules"] == list(family_of("m", model).lora_targets)
    assert 0 < record["trainable_parameters"] < record["total_parameters"]
    assert record["seconds_per_epoch"] > 0 and record["peak_memory"]["bytes"] > 0
    assert len(metrics["history"]) == 2 and {r["metric"] for r in metrics["rows"]} >= {"pearson"}
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=False)
    assert saved["backbone"] and all("lora_" in k for k in saved["backbone"])
    assert not (tmp_path / "run" / "checkpoint.pt").exists()

    reloaded = load_finetuned(tmp_path / "run" / "model.pt", "tiny_mistral", model, path, 0)
    test = encode(reloaded.embedder, _sequences(task, "test"))
    again = predict(reloaded, test, 32, "cpu")[:, 0]
    written = pd.read_parquet(tmp_path / "run" / "predictions.parquet")
    np.testing.assert_allclose(again, written["activity_pred"], rtol=1e-5, atol=1e-6)
    assert read_json(tmp_path / "runs.json")["embeddings"]["model"] == "tiny_mistral"


def test_full_and_scratch_differ_only_in_the_initial_weights(tiny_models):
    full, probe = _model(tiny_models, "tiny_nt", "full", seed=1)
    scratch, _ = _model(tiny_models, "tiny_nt", "scratch", seed=1)
    a, b = (build(e, probe, "tokens", 40, 1, seed=1) for e in (full, scratch))
    assert a.head.state_dict().keys() == b.head.state_dict().keys()
    for key, value in a.head.state_dict().items():
        assert torch.equal(value, b.head.state_dict()[key])
    grads = [{n: p.requires_grad for n, p in m.backbone.named_parameters()} for m in (a, b)]
    assert grads[0] == grads[1] and all(grads[0].values())
    weights = [m.backbone.state_dict() for m in (a, b)]
    assert {k: v.shape for k, v in weights[0].items()} == {k: v.shape for k, v in weights[1].items()}
    differ = [k for k in weights[0] if not torch.equal(weights[0][k], weights[1][k])]
    assert "embeddings.word_embeddings.weight" in differ
    # scratch is the random_init control's initialisation at the run's seed
    control = load_model("tiny_nt", {**settings("tiny_nt"), "random_init": 1},
                         str(tiny_models["tiny_nt"]), {**probe, "finetune": "full"}, 1, "cpu")
    for key, value in control.backbone.state_dict().items():
        assert torch.equal(value, weights[1][key])


def test_a_killed_run_resumes_after_its_last_complete_epoch(tiny_models, task, tmp_path):
    embedder, probe = _model(tiny_models, "tiny_mistral", "lora")
    x = {s: encode(embedder, _sequences(task, s)) for s in ("train", "valid")}
    y = {s: pd.read_parquet(task / f"{s}.parquet")[["activity"]].to_numpy(np.float32) for s in x}

    def train(max_epochs, checkpoint=None):
        model = build(_model(tiny_models, "tiny_mistral", "lora")[0], probe, "tokens", 40, 1, 0)
        config = TrainConfig(lr=1e-2, batch_size=64, max_epochs=max_epochs, patience=5)
        history = fit(model, "mse", (x["train"], y["train"]), (x["valid"], y["valid"]),
                      config, 0, checkpoint=checkpoint, micro_batch=32)
        return history, trained_state(model)

    whole, whole_state = train(3)
    checkpoint = tmp_path / "checkpoint.pt"
    train(1, checkpoint)  # killed after its first epoch: the checkpoint holds epoch 1
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 1
    resumed, resumed_state = train(3, checkpoint)
    assert resumed == whole
    for key, value in whole_state.items():
        torch.testing.assert_close(resumed_state[key], value)


def test_out_of_memory_halves_the_micro_batch(tiny_models, task, tmp_path, monkeypatch):
    forward = FineTuned.forward

    def small_memory(self, batch):
        if len(batch) > 16:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(self, batch)

    monkeypatch.setattr(FineTuned, "forward", small_memory)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    probe = {**PROBE, "finetune": "full", "type": "rep_mlp", "max_epochs": 1}
    run = Run(2, 1.0, 0, str(tmp_path / "run"))
    run_finetune_group(task, "tiny_nt", settings("tiny_nt"), str(tiny_models["tiny_nt"]), probe,
                       "mean", [run], tmp_path / "runs.json", {"task": "toy"})
    record = read_json(tmp_path / "run" / "metrics.json")["finetune"]
    assert record["batch_size"] == 64 and record["micro_batch"] == 16


def test_an_unknown_lora_target_names_the_models_modules(tiny_models):
    with pytest.raises(ModelError, match=r"\['qkv'\].*'key'.*'query'.*'value'"):
        _model(tiny_models, "tiny_nt", "lora", lora={"target_modules": ["query", "qkv"]})


def _demo(**probes) -> dict:
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["probes"] |= probes
    config["tasks"]["motif_activity"]["probes"] += list(probes)
    return config


LORA = {"type": "rep_cnn", "finetune": "lora", "max_epochs": 2}


@pytest.mark.parametrize(
    "probe,message",
    [
        (LORA, "model 'onehot' (family onehot) has no language model to fine-tune"),
        ({**LORA, "type": "ridge"}, "probes.bad.type: a fine-tuned model's head is a network"),
        # a head that does not fit the task kind, as for a frozen probe
        ({**LORA, "type": "splice_cnn", "models": ["tiny_nt"]},
         "'bad' is a splice_cnn probe, which needs a multitask_regression task"),
        ({"type": "rep_mlp", "lora": {"rank": 4}}, "probes.bad.lora applies only to finetune: lora"),
        ({**LORA, "finetune": "full", "lora": {"rank": 4}, "models": ["tiny_nt"]},
         "probes.bad.lora applies only"),
        ({"type": "rep_mlp", "gradient_checkpointing": True},
         "probes.bad.gradient_checkpointing applies only to fine-tuning probes"),
        ({**LORA, "finetune": "qlora"}, "probes.bad.finetune"),
        ({**LORA, "models": ["tiny_nt"], "layers": [1]},
         "probes.bad.layers: a fine-tuning probe trains under the model's last layer"),
    ],
)
def test_what_cannot_be_fine_tuned_is_a_configuration_error(probe, message):
    errors, _ = config_errors(_demo(bad=probe))
    assert any(message in e for e in errors), errors


def test_fine_tuning_refuses_features_kmer_random_init_and_families_without_targets():
    config = _demo(bad={**LORA, "type": "rep_mlp", "models": ["counts", "spectrum", "control", "ntv3"]})
    config["models"] |= {
        "counts": {"family": "features", "source": {"path": "counts.npy"}},
        "spectrum": {"family": "kmer", "k": 3},
        "control": {"family": "random_init", "of": "tiny_nt"},
        "ntv3": {"family": "nt_v3", "source": {"path": "ntv3"}, "n_layers": 1},
    }
    config["tasks"]["motif_activity"]["models"] += ["counts", "spectrum", "control", "ntv3"]
    config["probes"]["rep_cnn"]["models"] = ["onehot"]  # a frozen token probe: not of a kmer
    errors, _ = config_errors(config)
    text = "\n".join(errors)
    assert "model 'counts' (family features) has no language model" in text
    assert "model 'spectrum' (family kmer) has no language model" in text
    assert "'control' is a random_init control; fine-tuning from random weights is finetune: " \
           "scratch on its model 'tiny_nt'" in text
    assert "probes.bad.lora.target_modules: family nt_v3 (model 'ntv3') has no default" in text
    config["probes"]["bad"]["model_overrides"] = {"ntv3": {"lora": {"target_modules": ["fc1"]}}}
    errors, _ = config_errors(config)
    assert not any("target_modules" in e for e in errors)
    config["models"]["tiny_nt"]["precision"] = "fp16"
    config["probes"]["bad"]["models"].append("tiny_nt")
    errors, _ = config_errors(config)
    assert any("'tiny_nt' runs in fp16, whose gradients need loss scaling" in e for e in errors)


def test_a_fine_tuned_run_is_neither_transferred_nor_explained():
    config = _demo(tuned={**LORA, "models": ["tiny_nt"]})
    config["attribution"]["tasks"]["motif_activity"]["maps"].append(
        {"model": "tiny_nt", "probe": "tuned", "methods": ["ism"]}
    )
    errors, _ = config_errors(config)
    assert any("probe 'tuned' fine-tunes its model, and attribution" in e for e in errors)


def test_the_plan_fine_tunes_the_last_layer_and_extracts_nothing_for_it():
    base = _demo()
    config = _demo(lora_cnn={**LORA, "models": ["tiny_mistral"], "seeds": [0, 1, 2]},
                   scratch_mlp={"type": "rep_mlp", "finetune": "scratch",
                                "models": ["tiny_mistral"]})
    errors, _ = config_errors(config)
    assert not errors, errors
    config_errors(base)
    jobs = [j for j in probe_jobs(config) if j.probe in ("lora_cnn", "scratch_mlp")]
    assert {(j.probe, j.representation, j.layer) for j in jobs} == {
        ("lora_cnn", "tokens", 2), ("scratch_mlp", "mean", 2)
    }
    assert sorted(j.seed for j in jobs if j.probe == "lora_cnn") == [0, 1, 2]
    tuned, frozen = RunPlan(config), RunPlan(base)
    assert tuned.embeddings == frozen.embeddings  # no extraction of its own
    assert tuned.token_storage.kept == frozen.token_storage.kept
    assert tuned.tuned_kinds == {"lora_cnn": "LoRA-CNN", "scratch_mlp": "Scratch-MLP"}
    # the paper configuration's switch: finetuning false plans none of them
    off = copy.deepcopy(config) | {"finetuning": False}
    assert [j for j in probe_jobs(off) if j.probe in ("lora_cnn", "scratch_mlp")] == []
    rules = CostModel(tuned, Profile()).estimate()
    assert rules["finetune"].jobs == 2 and rules["finetune"].gpu_training_hours > 0


def test_the_workflow_fine_tunes_and_ranks_it_beside_the_frozen_probes(workflow_run):
    run = workflow_run / "results/probes/motif_activity/tiny_mistral/tokens/L2/lora_cnn"
    metrics = read_json(run / "frac1/seed0/metrics.json")
    assert metrics["finetune"]["kind"] == "lora" and len(metrics["history"]) == 1
    assert (run / "frac1/seed0/model.pt").exists() and (run / "runs.json").exists()
    board = pd.read_csv(workflow_run / "results/tables/leaderboard.csv")
    own = board[(board.task == "motif_activity") & (board.model == "tiny_mistral")]
    assert set(own.kind) == {"language model", "LoRA-CNN"}  # two entries of one model
    assert set(own[own.kind == "LoRA-CNN"].probe) == {"lora_cnn"}
    assert own.groupby("metric").size().eq(2).all()
    # the figures: its own entry (and probe label), never the frozen model's best
    lollipop = pd.read_csv(workflow_run / "results/figures/motif_activity_models.csv")
    mistral = lollipop[lollipop.model == "tiny_mistral"].set_index("probe")
    assert mistral.loc["lora_cnn", "group"] == "fine-tuned"
    assert mistral.loc["lora_cnn", "label"].endswith("LoRA-CNN")
    assert (mistral.drop(index="lora_cnn")["group"] == "language model").all()


def test_lora_adapts_gpn_convolutions_named_by_their_parent(tiny_models):
    embedder, _ = _model(tiny_models, "tiny_gpn", "lora")
    trained = [n for n, p in embedder.backbone.named_parameters() if p.requires_grad]
    assert {n.split(".lora_")[0].split(".", 2)[-1] for n in trained} == {"conv.1", "ffn.0"}
    with pytest.raises(ModelError, match=r"\['conv.1', 'ffn.0'\]"):
        _model(tiny_models, "tiny_gpn", "lora", lora={"target_modules": ["conv"]})


def test_lora_defaults_keep_the_projections_a_model_has(shared):
    """Mistral-DNA is a Mixtral: transformers 5 fuses its experts' weights (no linear layers),
    so the causal_lm defaults adapt its attention projections only."""
    checkpoint = shared / "models" / "mistral-dna-v1-1m-hg38-finetuned-tf1"
    probe = {**PROBE, "finetune": "lora"}
    model = {"family": "causal_lm", "n_layers": 4}
    embedder = load_model("mistral_dna", model, str(checkpoint), probe, 0, "cpu")
    assert embedder.lora_targets == ["q_proj", "k_proj", "v_proj", "o_proj"]
    with pytest.raises(ModelError, match=r"\['gate_proj'\] are not among"):
        load_model("mistral_dna", model, str(checkpoint),
                   {**probe, "lora": {"target_modules": ["q_proj", "gate_proj"]}}, 0, "cpu")


def test_preflight_names_fine_tuning_jobs_too_large_for_the_gpu():
    from glmeval.config import validate_config
    from glmeval.preflight import Preflight, finetuning_memory

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["finetuning"] = True
    validate_config(config)
    small, large = Preflight(), Preflight()
    finetuning_memory(config, small, gpu_memory_gb=40)
    finetuning_memory(config, large, gpu_memory_gb=80)
    assert large.problems == []
    assert any(
        p.startswith("probes.scratch_chip_cnn: fine-tuning models.nt_2b5_1000g") and "42" in p
        for p in small.problems
    ), small.problems
    assert not any("lora" in p.split(":")[0] for p in small.problems)  # LoRA fits


@pytest.mark.parametrize("representation", ["mean", "tokens"])
def test_the_model_reads_sequences_as_extraction_does(tiny_models, task, tmp_path, representation):
    """Both strands and windows: the fine-tuned model's input to its head is the extraction's
    last layer (float16 there), and gradients reach the adapters through both strands."""
    from glmeval.embed import extract
    from glmeval.models import load_embedder
    from glmeval.probes.inputs import load_features

    model = {**settings("tiny_nt"), "strands": "both", "long_sequences": "window",
             "window_bases": 96}
    path = str(tiny_models["tiny_nt"])
    sequences = _sequences(task, "test")[:8]
    extract(load_embedder("tiny_nt", model, path), sequences, tmp_path / "emb", token_layers=[2])
    stored = load_features(tmp_path / "emb", representation, 2)
    probe = {**PROBE, "finetune": "lora"}
    embedder = load_model("tiny_nt", model, path, probe, 0, "cpu")
    x = encode(embedder, sequences)
    assert x.reverse is not None and len(x.forward[0].windows) == 3  # 200 bases in 96s
    tuned = FineTuned(embedder, torch.nn.Identity(), representation, stored.shape[1]).eval()
    with torch.no_grad():
        states = tuned(x.read(np.arange(8))).numpy()
    expected = np.asarray(stored[np.arange(8)], np.float32)
    np.testing.assert_allclose(states, expected, rtol=2e-3, atol=2e-3)
    tuned.train()
    tuned(x.read(np.arange(8))).square().mean().backward()
    grads = [p.grad for n, p in tuned.backbone.named_parameters() if "lora_A" in n]
    assert grads and all(g is not None and g.abs().sum() == 0 for g in grads)  # B starts at 0
    grads = [p.grad for n, p in tuned.backbone.named_parameters() if "lora_B" in n]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_a_killed_job_resumes_its_run_after_the_last_complete_epoch(
    tiny_models, task, tmp_path, monkeypatch
):
    from glmeval.nn import train as train_module

    probe = {**PROBE, "type": "rep_mlp", "finetune": "full", "max_epochs": 3, "patience": 5}
    path, model = str(tiny_models["tiny_nt"]), settings("tiny_nt")

    def job(name):
        run = Run(2, 1.0, 0, str(tmp_path / name / "run"))
        run_finetune_group(task, "tiny_nt", model, path, probe, "mean", [run],
                           tmp_path / name / "runs.json", {"task": "toy"})
        return tmp_path / name / "run"

    whole = job("whole")
    validations, real = [], train_module.predict

    def killed_in_epoch_two(*args, **kwargs):
        validations.append(1)
        if len(validations) == 2:  # epoch 2's validation pass: the job is killed there
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "predict", killed_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        job("killed")
    run = tmp_path / "killed" / "run"
    assert torch.load(run / "checkpoint.pt", weights_only=False)["epoch"] == 1
    assert not (run / "metrics.json").exists()
    monkeypatch.undo()
    assert job("killed") == run  # the rerun resumes after epoch 1
    assert read_json(run / "metrics.json")["history"] == read_json(whole / "metrics.json")["history"]
    pd.testing.assert_frame_equal(pd.read_parquet(run / "predictions.parquet"),
                                  pd.read_parquet(whole / "predictions.parquet"))
    assert not (run / "checkpoint.pt").exists()
