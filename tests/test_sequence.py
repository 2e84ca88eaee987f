import numpy as np
import pytest

from glmeval.data.sequence import SequenceError, check_sequences, one_hot, reverse_complement


def test_one_hot_order_and_n():
    x = one_hot(["ACGTN"], n_value=0.0)
    assert x.shape == (1, 5, 4)
    np.testing.assert_array_equal(x[0, :4], np.eye(4))
    np.testing.assert_array_equal(x[0, 4], np.zeros(4))
    np.testing.assert_array_equal(one_hot(["N"], n_value=0.25)[0, 0], np.full(4, 0.25))


def test_one_hot_pads_to_length():
    x = one_hot(["AC", "ACGT"], length=5)
    assert x.shape == (2, 5, 4)
    assert x[0, 2:].sum() == 0 and x[1, 4].sum() == 0


def test_check_sequences_names_where_row_and_character():
    with pytest.raises(SequenceError, match=r"task 't', split 'valid', row id 'r2'.*'X' at position 3"):
        check_sequences(["ACGT", "ACGX"], ["r1", "r2"], where="task 't', split 'valid'")
    with pytest.raises(SequenceError, match="'a'"):
        check_sequences(["acgt"], ["r1"], where="x")
    check_sequences(["ACGTN"], ["ok"], where="x")


def test_reverse_complement():
    assert reverse_complement("AACGTN") == "NACGTT"
