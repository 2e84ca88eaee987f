import numpy as np
import pandas as pd

from glmeval.data import synthetic


def test_seeded_and_shaped():
    a = synthetic.motif_regression(200, length=230, seed=3)
    b = synthetic.motif_regression(200, length=230, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(synthetic.motif_regression(200, length=230, seed=4))
    assert (a["sequence"].str.len() == 230).all()
    assert abs(a["activity"].mean()) < 1e-9 and abs(a["activity"].std() - 1) < 1e-9


def test_regression_follows_planted_motifs():
    df = synthetic.motif_regression(3000, seed=0)
    with_ap1 = df["motifs"].str.contains("AP1")
    with_cebp = df["motifs"].str.contains("CEBP")
    # AP1 activates, CEBP represses (EFFECTS), by a wide margin over the noise
    assert df.loc[with_ap1, "activity"].mean() - df.loc[~with_ap1, "activity"].mean() > 0.5
    assert df.loc[with_cebp, "activity"].mean() - df.loc[~with_cebp, "activity"].mean() < -0.4


def _grammar(annotation: str) -> bool:
    sites = [s.split(":") for s in annotation.split(";") if s]
    for name_a, strand_a, pos_a in sites:
        for name_b, strand_b, pos_b in sites:
            if strand_a != strand_b or {name_a, name_b} != {"ETS", "AP1"}:
                continue
            first, second = (("ETS", "AP1") if strand_a == "+" else ("AP1", "ETS"))
            if name_a == first and name_b == second:
                gap = int(pos_b) - int(pos_a) - len(synthetic.CONSENSUS[first])
                if 4 <= gap <= 12:
                    return True
    return False


def test_grammar_labels_match_planted_arrangement():
    df = synthetic.motif_grammar(1000, length=200, seed=1)
    assert set(df["label"]) == {0, 1} and abs(df["label"].mean() - 0.5) < 0.01
    truth = df["motifs"].map(_grammar).astype(int)
    np.testing.assert_array_equal(truth.to_numpy(), df["label"].to_numpy())
    # negatives carry the same motifs, so composition alone cannot tell the classes apart
    negatives = df[df["label"] == 0]["motifs"]
    assert negatives.str.contains("ETS").mean() > 0.4 and negatives.str.contains("AP1").mean() > 0.4
