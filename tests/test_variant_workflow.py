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
    for model, llr in [
        ("onehot", False),
        ("tiny_nt", True),
        ("tiny_mistral", True),
        ("mistral_dna", False),
    ]:  # the real checkpoint has no LM head
        scores = pd.read_parquet(cagi5_run / f"results/zeroshot/cagi5/{model}.parquet")
        assert scores["id"].tolist() == variants["id"].tolist()
        assert {"element", "chrom", "pos", "ref", "alt", "effect"} <= set(scores.columns)
        assert ("llr" in scores) == llr
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
        "score",
        "HepG2",
        "K562",
        *ELEMENTS,
    ]
    assert len(table) == 4 * 4 + 2  # 4 distances × 4 models, |llr| of the 2 with an LM head
    scores = table.set_index(["model", "score"])
    # one-hot distances of an SNV are the same for every variant of an element: no correlation
    assert scores.loc["onehot"].drop(columns=["training", "dataset"]).isna().all().all()
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
    models = ["onehot", "tiny_nt", "tiny_mistral", "random_tiny_nt", "mistral_dna"]
    assert set(table["model"]) == {f"{m}/rep_cnn" for m in models}  # every model of the task
    assert table[["HepG2", "K562", "F9", "LDLR", "PKLR", "SORT1"]].notna().all().all()
    effects = pd.read_parquet(
        cagi5_run
        / "results/transfer/cagi5_230/motif_activity/onehot/tokens/L0/rep_cnn/seed0.parquet"
    )
    assert len(effects) == meta["n"]
    np.testing.assert_allclose(effects["effect_pred"], effects["pred_alt"] - effects["pred_ref"])
