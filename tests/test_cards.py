"""Model cards: the schema, which models' training data overlap a task, and the marks that keep a
supervised model from being ranked silently beside self-supervised ones."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO
from test_leaderboard import BASELINES, N_BOOT, _write_runs

from glmeval.cards import card_table, model_card, overlap, task_overlaps
from glmeval.config import ConfigError, validate_config
from glmeval.figures.style import Labels
from glmeval.io import write_csv
from glmeval.leaderboard import to_markdown, write_leaderboard
from glmeval.models import ModelError, load_embedder
from glmeval.stats import write_probe_stats

SCHEMA = REPO / "config" / "schema.yaml"


@pytest.fixture(scope="module")
def paper():
    return validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), SCHEMA)


def test_the_paper_s_supervised_models_are_marked_where_they_saw_the_assay(paper):
    overlaps = task_overlaps(paper)
    chip = [t for t in paper["tasks"] if t.startswith("chip_")]
    assert set(overlaps) == set(chip)  # Sei on ChIP-seq; nothing else overlaps
    assert all(overlaps[t] == {"sei": "trained on ChIP-seq"} for t in chip)
    assert overlap(paper, "sei", ["lentiMPRA"]) == ""
    assert overlap(paper, "rbp", ["eclip"]) == "trained on eclip"  # case-insensitive
    assert overlap(paper, "rbp", ["eCLIP"], "eclip_k562_multitask") == "trained on this task's data"
    assert "not declared" in overlap(paper, "sei", None)
    assert overlap(paper, "nt_2b5_1000g", None) == ""  # self-supervised: never marked


def test_a_card_s_training_comes_from_family_config_and_the_training_task(paper):
    table = card_table(paper).set_index("model")
    assert table.loc["sei", "training"] == "supervised (functional tracks)"
    assert "ChIP-seq" in table.loc["sei", "trained_on"]  # the family's card
    assert table.loc["rbp", "trained_on"] == "eCLIP"  # its training task's assays
    assert table.loc["nt_2b5_1000g", "training"] == "self-supervised"
    assert table.loc["nt_2b5_1000g", "hidden_size"] == 2560  # the configured card
    assert table.loc["onehot", "training"] == "none"
    random = model_card(paper, "dnabert2_random")
    assert random["trained_on"] == [] and random["hidden_size"] == 768
    config = copy.deepcopy(paper)
    del config["tasks"]["eclip_k562_multitask"]["assays"]  # a training task without assays
    assert model_card(config, "rbp")["trained_on"] == ["task eclip_k562_multitask"]
    assert overlap(config, "rbp", None, "eclip_k562_multitask") == "trained on this task's data"
    config["models"]["dnabert2"]["card"]["trained_on"] = ["ChIP-seq"]  # a post-trained model
    assert task_overlaps(config)["chip_ctcf"] == {
        "dnabert2": "trained on ChIP-seq",
        "sei": "trained on ChIP-seq",
    }


@pytest.mark.parametrize(
    "where, value, message",
    [
        (("models", "onehot", "card"), {"params": 1}, r"unknown key\(s\) \['params'\]"),
        (("models", "onehot", "card"), {"trained_on": "ChIP-seq"}, "is not of type 'array'"),
        (("tasks", "insert_seq", "assays"), [""], "should be non-empty"),
    ],
)
def test_malformed_cards_and_assays_are_config_errors(paper, where, value, message):
    config = copy.deepcopy(paper)
    config[where[0]][where[1]][where[2]] = value
    with pytest.raises(ConfigError, match=message):
        validate_config(config, SCHEMA)


def test_a_card_that_describes_another_model_is_refused():
    with pytest.raises(ModelError, match=r"card\.hidden_size is 5 .* width 4"):
        load_embedder("onehot", {"family": "onehot", "card": {"hidden_size": 5}}, None)


def test_an_overlapping_model_is_listed_not_ranked(tmp_path):
    tables = tmp_path / "results" / "tables"
    paths = {name: tables / f"{name}.csv" for name in ("metrics", "summary", "comparisons")}
    write_csv(_write_runs(tmp_path), paths["metrics"])
    why = {"mpra": {"good": "trained on MPRA"}}
    write_probe_stats(
        paths["metrics"], BASELINES, paths["summary"], paths["comparisons"], N_BOOT, tmp_path, why
    )
    summary = pd.read_csv(paths["summary"], keep_default_na=False)
    marked = summary[summary["training_overlap"] != ""]
    assert set(zip(marked["task"], marked["model"])) == {("mpra", "good")}
    board_paths = tables / "board.csv", tables / "board.md"
    write_leaderboard(
        paths["summary"], paths["comparisons"], paths["metrics"], *board_paths, N_BOOT, tmp_path
    )
    board = pd.read_csv(tables / "board.csv")
    mpra = board[(board.task == "mpra") & (board.metric == "pearson")].set_index("model")
    assert np.isnan(
        mpra.loc["good", ["rank", "rank_low", "rank_high", "p_best"]].astype(float)
    ).all()
    assert sorted(mpra["rank"].dropna()) == [1.0, 2.0]  # the others, ranked among themselves
    assert mpra.loc["good", "mean"] > mpra["mean"].drop("good").max()  # it would have won
    assert "not zero-shot / not frozen-only: trained on MPRA" in to_markdown(board)


def test_figures_mark_an_overlapping_model_and_say_why():
    labels = Labels.from_config(
        {
            "models": {"sei": {"family": "sei", "label": "Sei"}, "nt": {"family": "masked_lm"}},
            "overlaps": {"chip_ctcf": {"sei": "trained on ChIP-seq"}},
        }
    )
    marked = labels.marked(["chip_ctcf"])
    assert marked.model("sei") == "Sei †" and marked.model("nt") == "nt"
    assert "not zero-shot / not frozen-only" in marked.note and "trained on ChIP-seq" in marked.note
    assert labels.marked(["lentimpra_hepg2"]) is labels  # nothing to mark there


def _tiny_checkpoint(path, head):
    import transformers

    config = transformers.MistralConfig(
        vocab_size=12,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_labels=2,
    )
    torch.manual_seed(0)
    model = getattr(transformers, f"MistralFor{head}")(config)
    model.save_pretrained(path)
    return sum(p.numel() for p in model.state_dict().values())


def test_a_local_checkpoint_fills_its_card_and_a_fine_tuned_one_is_not_self_supervised(tmp_path):
    n_classifier = _tiny_checkpoint(tmp_path / "classifier", "SequenceClassification")
    n_lm = _tiny_checkpoint(tmp_path / "lm", "CausalLM")
    config = {
        "models": {
            "classifier": {"family": "causal_lm", "source": {"path": str(tmp_path / "classifier")}},
            "lm": {"family": "causal_lm", "source": {"path": str(tmp_path / "lm")}},
            "declared": {  # the configured card wins over the checkpoint's files
                "family": "causal_lm",
                "source": {"path": str(tmp_path / "lm")},
                "card": {"parameters": 7, "hidden_size": 16},
            },
            "random": {"family": "random_init", "of": "classifier", "seed": 1},
            "missing": {"family": "causal_lm", "source": {"path": str(tmp_path / "absent")}},
        },
        "tasks": {},
    }
    table = card_table(config).set_index("model")
    assert table.loc["classifier", "parameters"] == n_classifier
    assert table.loc["lm", "parameters"] == n_lm
    assert (table.loc[["classifier", "lm"], "hidden_size"] == 16).all()
    assert table.loc["classifier", "training"] == "fine-tuned (MistralForSequenceClassification)"
    assert table.loc["lm", "training"] == "self-supervised"
    assert table.loc["declared", "parameters"] == 7
    assert table.loc["random", "training"] == "none"
    assert pd.isna(table.loc["missing", "parameters"])  # not there yet: blank, no error
    assert task_overlaps(config) == {}  # fine-tuned on unknown assays: not marked by itself


def test_the_shared_mistral_dna_card():
    from conftest import SHARED

    path = SHARED / "models" / "mistral-dna-v1-1m-hg38-finetuned-tf1"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    config = {"models": {"m": {"family": "causal_lm", "source": {"path": str(path)}}}}
    card = card_table(config).iloc[0]
    assert card["hidden_size"] == 64 and card["parameters"] > 500_000
    assert card["training"] == "fine-tuned (MixtralForSequenceClassification)"
