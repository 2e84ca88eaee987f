import numpy as np
import pytest

from glmeval.data.sequence import SequenceError, base_codes, check_sequences, reverse_complement


def test_base_codes():
    np.testing.assert_array_equal(base_codes("ACGTNX"), [0, 1, 2, 3, 4, 4])


def test_check_sequences_names_where_row_and_character():
    with pytest.raises(SequenceError, match=r"task 't', split 'valid', row id 'r2'.*'X' at position 3"):
        check_sequences(["ACGT", "ACGX"], ["r1", "r2"], where="task 't', split 'valid'")
    with pytest.raises(SequenceError, match="'a'"):
        check_sequences(["acgt"], ["r1"], where="x")
    check_sequences(["ACGTN"], ["ok"], where="x")


def test_reverse_complement():
    assert reverse_complement("AACGTN") == "NACGTT"
