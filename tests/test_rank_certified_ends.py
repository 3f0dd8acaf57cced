"""Issue 23: no uncertified "determined" bracket; exact TT contraction; checks before any copy."""

import os
import time
import tracemalloc

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg

from tt_rnn import rank as R
from tt_rnn.rank.bracket import UPPER_EXACT, UPPER_NUMERICAL
from tt_rnn.rank.rational import exact_cp_recomposition, rational_cp_certificate
from tt_rnn.tt import TensorTrain


# ---------------------------------------------------------------------------------------------
# A: an exact integer tensor within float rounding of a lower-rank tensor
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("x", [2 ** 18 + np.arange(27).reshape(3, 3, 3),
                               2 ** 12 + np.arange(8).reshape(2, 2, 2)],
                         ids=["3x3x3 + 2^18", "2x2x2 + 2^12"])
def test_float_fit_near_an_integer_tensor_is_not_a_certificate(x):
    # both have rank 3 (orbit of the W tensor: c e1^3 + W in a suitable basis), border rank 2
    b = R.cp_rank_bracket(x, seed=0)
    assert b.lower == 2 and b.lower_certified
    assert not b.determined
    assert not b.upper_certified and b.upper_method == UPPER_NUMERICAL
    assert b.certified_upper >= 3
    text = str(b)
    assert "approximation, not a certificate" in text and "border rank <=" in text
    if b.upper == 2:                        # the float search does reach rank 2 on the first one
        assert "not determined" in text


def test_rank_two_fit_of_the_w_orbit_fails_the_exact_check():
    x = 2 ** 18 + np.arange(27).reshape(3, 3, 3)
    fit = R.cp_fit(x, 2, seed=0)
    assert fit.exact                        # a float "exact fit" exists ...
    assert rational_cp_certificate(x, fit.factors) is None     # ... but no rank-2 decomposition


def test_planted_integer_decomposition_is_certified_exactly():
    x = R.random_cp_tensor((3, 3, 3, 3), 4, seed=5, integer=True)
    b = R.cp_rank_bracket(x, seed=1)
    assert (b.lower, b.upper) == (4, 4) and b.determined
    assert b.upper_certified and b.upper_method == UPPER_EXACT and b.certified_upper == 4
    assert b.lower_evidence["upper_exact"]["rank"] == 4


def test_exact_recomposition_is_exact():
    cols = [[[Fraction(1, 3), Fraction(1)]], [[Fraction(3), Fraction(-2, 7)]]]
    numer, den = exact_cp_recomposition(cols)
    assert [[Fraction(v, den) for v in row] for row in numer.tolist()] == \
        [[Fraction(1), Fraction(-2, 21)], [Fraction(3), Fraction(-2, 7)]]


def test_one_unit_off_is_refused():
    x = R.random_cp_tensor((3, 3, 3), 2, seed=2, integer=True)
    fit = R.cp_fit(x, 2, seed=0)
    assert rational_cp_certificate(x, fit.factors) is not None
    y = x.copy()
    y[0, 0, 0] += 1
    assert rational_cp_certificate(y, fit.factors) is None


# ---------------------------------------------------------------------------------------------
# B: TensorTrain input in a narrow integer dtype
# ---------------------------------------------------------------------------------------------

def test_int8_tensor_train_is_contracted_exactly():
    tt = TensorTrain((np.array([[100], [27]], np.int8), np.array([[[100], [3]]], np.int8),
                      np.array([[100, 5]], np.int8)))
    full = R.tt_to_tensor_exact(tt.cores)
    expected = np.einsum("i,j,k->ijk", np.array([100, 27]), np.array([100, 3]),
                         np.array([100, 5]))
    assert full.dtype == np.int64 and np.array_equal(full, expected)
    b = R.cp_rank_bracket(tt)
    assert (b.lower, b.upper) == (1, 1) and b.determined
    assert R.cp_rank_bracket(tt, fit=False).lower == 1


def test_int64_tensor_train_overflow_names_the_core():
    cores = [np.full((2, 1), 2 ** 21, np.int64), np.full((1, 2, 1), 2 ** 21, np.int64),
             np.full((1, 2, 1), 2 ** 21, np.int64), np.full((1, 2), 2 ** 21, np.int64)]
    with pytest.raises(ValueError, match="core 2"):
        R.cp_rank_bracket(TensorTrain(cores), fit=False)
    # the exact residues of the same TT still give the rank-1 lower bound
    assert R.unfolding_rank_mod_p(TensorTrain(cores)) == 1


def test_partial_overflow_that_cancels_is_not_an_error():
    # after core 1 the partial contraction holds 2^70; the last core cancels it exactly
    cores = [np.array([[2 ** 35, 1]], np.int64),
             np.array([[[2 ** 35, 2 ** 35]], [[0, 0]]], np.int64),
             np.array([[1], [-1]], np.int64)]
    assert np.array_equal(R.tt_to_tensor_exact(cores), np.zeros((1, 1, 1), np.int64))
    cores[2] = np.array([[1], [0]], np.int64)                  # no cancellation: 2^70 remains
    with pytest.raises(ValueError, match="core 1"):
        R.tt_to_tensor_exact(cores)


def test_large_but_representable_tt_entries_stay_exact():
    cores = [np.array([[2 ** 20], [1]], np.int64), np.array([[[2 ** 20], [3]]], np.int64),
             np.array([[2 ** 20, 7]], np.int64)]
    full = R.tt_to_tensor_exact(cores)
    assert int(full[0, 0, 0]) == 2 ** 60 and int(full[1, 1, 1]) == 21


# ---------------------------------------------------------------------------------------------
# C: float input is never determined
# ---------------------------------------------------------------------------------------------

def test_float_input_is_numerical_and_never_determined():
    b = R.cp_rank_bracket(scipy.linalg.hilbert(12))
    assert not b.determined and not b.exact_input
    assert not b.lower_certified and not b.upper_certified
    assert "numerical" in str(b) and b.certified_upper == 12


# ---------------------------------------------------------------------------------------------
# D: size and argument checks before any copy of the input
# ---------------------------------------------------------------------------------------------

def test_oversized_inputs_fail_before_any_copy():
    huge = np.broadcast_to(np.int64(1), (2,) * 27)      # no memory behind it; a copy is 1 GiB
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="above the limit"):
            R.cp_rank_bracket(huge, fit=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 ** 20                                 # nothing of the input's size allocated
    tt36 = TensorTrain([np.ones((2, 1), np.int64)] + [np.ones((1, 2, 1), np.int64)] * 34
                       + [np.ones((1, 2), np.int64)])
    with pytest.raises(ValueError, match="above the limit"):
        R.cp_rank_bracket(tt36)
    degenerate = np.broadcast_to(np.float64(1.0), (2,) * 17)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="limit 65536 .* for CP fitting; pass fit=False"):
        R.cp_rank_bracket(degenerate)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(seed=-1), ValueError, "seed must be a non-negative integer, got seed = -1"),
    (dict(seed=1.5), ValueError, "seed"),
    (dict(time_limit=0), ValueError, "time_limit must be > 0"),
    (dict(time_limit=-3.0), ValueError, "time_limit must be > 0"),
    (dict(bogus_option=3), TypeError, "bogus_option"),
    (dict(strategy="fastest"), ValueError, "strategy"),
    (dict(max_partitions=0), ValueError, "max_partitions"),
])
def test_bad_arguments_are_one_line_errors(kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        R.cp_rank_bracket(np.ones((2, 2, 2)), **kwargs)
    assert "\n" not in str(info.value)


def test_unknown_keywords_fail_even_when_no_fit_runs():
    # a 2 x 2 identity has lower = trivial upper = 2: no fit, so the keyword used to be ignored
    with pytest.raises(TypeError, match="n_restarts"):
        R.cp_rank_bracket(np.eye(2, dtype=np.int64), n_restarts=5)
    with pytest.raises(TypeError, match="n_restarts"):
        R.cp_rank_bracket(np.ones((2, 2, 2)), fit=False, n_restarts=5)


def test_fit_keywords_are_passed_on():
    x = R.random_cp_tensor((3, 3, 3), 2, seed=1, integer=True)
    b = R.cp_rank_bracket(x, n_random=1, lm_iter=50, n_als=1)
    assert b.upper == 2


def test_incomplete_search_is_printed():
    g = np.random.default_rng(0).standard_normal((4, 4, 4))
    b = R.cp_rank_bracket(g, time_limit=1e-3)
    assert not b.search_complete
    assert "search incomplete" in str(b)
