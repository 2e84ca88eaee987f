"""Task 3 end to end on the real CAGI5 data (../shared): zero-shot scores of the demo models and
the real Mistral-DNA weights, the demo's activity probes transferred to 230-nt windows, and
Table 1 (one workflow run shared with tests/test_workflow.py)."""

import numpy as np
import pandas as pd
import pytest
import yaml

ELEMENTS = [
    "F9",
    "GP1BB",
    "HBB",
    "HBG1",
    "HNF4A",
    "IRF4",
    "IRF6",
    "LDLR",
    "MSMB",
    "MYCrs6983267",
    "PKLR",
    "SORT1",
    "TERT-GBM",
    "TERT-HEK293T",
    "ZFAND3",
]


@pytest.fixture(scope="module")
def cagi5_run(shared, workflow_run):
    """The shared workflow run (conftest.workflow_config) holds Task 3 where ../shared exists."""
    return workflow_run


def test_zero_shot_scores_every_variant_keyed_by_the_input(cagi5_run):
    variants = pd.read_parquet(cagi5_run / "resources/variants/cagi5/variants.parquet")
    assert len(variants) == 18463
    for model in ("onehot", "mistral_dna"):  # the real checkpoint has no LM head: no llr
        scores = pd.read_parquet(cagi5_run / f"results/zeroshot/cagi5/{model}.parquet")
        assert scores["id"].tolist() == variants["id"].tolist()
        assert {"element", "chrom", "pos", "ref", "alt", "effect"} <= set(scores.columns)
        assert "llr" not in scores
        assert scores[["cosine", "dot", "l1", "l2"]].notna().all().all()
        assert (scores["l2"] > 0).all() and (scores["cosine"] < 1).all()
    onehot = pd.read_parquet(cagi5_run / "results/zeroshot/cagi5/onehot.parquet")
    lengths = variants["ref_sequence"].str.len()  # one changed base: exact one-hot distances
    np.testing.assert_allclose(onehot["l1"], 2)
    np.testing.assert_allclose(onehot["dot"], lengths - 1)
    np.testing.assert_allclose(onehot["cosine"], (lengths - 1) / lengths)


def test_table1_has_every_element_and_cell_type(cagi5_run):
    table = pd.read_csv(cagi5_run / "results/tables/cagi5_table1.csv")
    assert list(table.columns) == [
        "training",
        "dataset",
        "model",
        "window",
        "score",
        "HepG2",
        "K562",
        *ELEMENTS,
        "training_overlap",
    ]
    assert table["training_overlap"].isna().all()  # no model here was trained on tracks
    table = table.drop(columns="training_overlap")
    assert set(table["window"]) == {"element"}  # each variant scored on its whole element
    assert len(table) == 4 * 2  # 4 distances × 2 models
    scores = table.set_index(["model", "score"])
    # one-hot distances of an SNV are the same for every variant of an element: no correlation
    assert scores.loc["onehot"].drop(columns=["training", "dataset", "window"]).isna().all().all()
    assert (
        scores.drop(index="onehot", level="model")[["HepG2", "K562", *ELEMENTS]].notna().all().all()
    )
    long = pd.read_csv(cagi5_run / "results/tables/cagi5_correlations.csv")
    row = long[(long.model == "mistral_dna") & (long.score == "l2")].set_index("element")
    assert row.loc[["LDLR", "SORT1", "F9"], "pearson"].mean() == pytest.approx(
        row.loc["HepG2", "pearson"]
    )
    assert row.loc["PKLR", "pearson"] == pytest.approx(row.loc["K562", "pearson"])
    real = long[long.model != "onehot"]
    assert (real.pearson_lo <= real.pearson).all() and (real.pearson <= real.pearson_hi).all()
    variants = pd.read_parquet(cagi5_run / "resources/variants/cagi5/variants.parquet")
    assert row.loc["LDLR", "n"] == (variants["element"] == "LDLR").sum()
    assert row.loc["HepG2", "n"] == variants["element"].isin(["LDLR", "SORT1", "F9"]).sum()


def test_transfer_effects_and_exclusions_are_reported(cagi5_run):
    meta = yaml.safe_load((cagi5_run / "resources/variants/cagi5_230/task.json").read_text())
    excluded = pd.read_csv(cagi5_run / "resources/variants/cagi5_230/exclusions.tsv", sep="\t")
    variants = pd.read_parquet(cagi5_run / "resources/variants/cagi5_230/variants.parquet")
    assert len(excluded) == sum(meta["excluded"].values()) and meta["n"] == len(variants)
    assert set(excluded["reason"]) == {"window_off_end"}  # 230 nt reach past these elements' ends
    assert (variants["ref_sequence"].str.len() == 230).all() and (
        variants["variant_index"] == 114
    ).all()
    table = pd.read_csv(cagi5_run / "results/tables/cagi5_230_table1.csv")
    models = ["onehot", "tiny_nt", "tiny_mistral", "mistral_dna"]  # not the features read by id
    assert set(table["model"]) == {f"{m}/rep_cnn" for m in models}  # every model of the task
    assert table[["HepG2", "K562", "F9", "LDLR", "PKLR"]].notna().all().all()
    assert "SORT1" not in table  # not among the transferred elements
    effects = pd.read_parquet(
        cagi5_run
        / "results/transfer/cagi5_230/motif_activity/onehot/tokens/L0/rep_cnn/seed0.parquet"
    )
    assert len(effects) == meta["n"]
    np.testing.assert_allclose(effects["effect_pred"], effects["pred_alt"] - effects["pred_ref"])


def test_each_model_scores_at_its_own_window(cagi5_run):
    """Table 1 as the paper made it: each model's variants cut at its own window (zeroshot.
    windows), from the same elements; the dataset's length for the others."""
    root = cagi5_run / "resources/variants/cagi5_windows"
    for model, sub, length in (("gpn_download", "L128/", 128), ("hyenadna", "L64/", 64),
                               ("tiny_nt", "", 230)):
        variants = pd.read_parquet(root / sub / "variants.parquet")
        assert (variants["ref_sequence"].str.len() == length).all()
        assert (variants["variant_index"] == length // 2 - 1).all()
        scores = pd.read_parquet(cagi5_run / f"results/zeroshot/cagi5_windows/{model}.parquet")
        assert scores["id"].tolist() == variants["id"].tolist(), model
        assert scores[["cosine", "l2", "llr"]].notna().all().all()  # GPN's |LLR| too
    # a shorter window fits more variants inside the elements
    counts = [len(pd.read_parquet(root / s / "variants.parquet")) for s in ("", "L128/", "L64/")]
    assert counts[0] < counts[1] < counts[2]
    table = pd.read_csv(cagi5_run / "results/tables/cagi5_windows_table1.csv")
    windows = table.drop_duplicates("model").set_index("model")["window"].astype(str)
    assert windows.to_dict() == {"gpn_download": "128", "hyenadna": "64", "tiny_nt": "230"}
    long = pd.read_csv(cagi5_run / "results/tables/cagi5_windows_correlations.csv")
    gpn = long[(long.model == "gpn_download") & (long.element == "LDLR")]
    ldlr = pd.read_parquet(root / "L128/variants.parquet").query("element == 'LDLR'")
    assert (gpn["n"] == len(ldlr)).all()  # correlated over the model's own variants


def test_models_from_a_download_score_variants(cagi5_run):
    """Sei and GPN as the paper configures them: a checkpoint directory inside a download."""
    downloads = cagi5_run / "resources/downloads/standin_models"
    assert (downloads / "sei" / "sei.pth").is_file()
    scores = pd.read_parquet(cagi5_run / "results/zeroshot/sei_variants/sei.parquet")
    assert scores["POS"].tolist() == [150, 250, 300, 420]  # keyed by the input table
    assert len(scores) == 4 and "llr" not in scores  # Sei has no LM head: distances only
    assert scores[["cosine", "dot", "l1", "l2"]].notna().all().all()
    assert (scores["l2"] > 0).all() and (scores["cosine"] < 1).all()
