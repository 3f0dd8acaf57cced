"""No silent wrong answers: scale invariance, big integers, argument checks, real vs complex rank."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest

from tt_rnn import rank as R


@pytest.mark.parametrize("seed", [0, 1])
def test_bracket_is_scale_invariant(seed):
    # at 1e-170 the squared norm underflows, at 1e160 it overflows: both used to give a wrong
    # "determined" bracket [3, 3]; a Gaussian 3 x 3 x 3 tensor has real rank 4 or 5
    g = np.random.default_rng(seed).standard_normal((3, 3, 3))
    brackets = [R.cp_rank_bracket(g * s, seed=0) for s in (1e-170, 1.0, 1e160)]
    assert len({(b.lower, b.upper) for b in brackets}) == 1
    assert brackets[0].lower == 3 and brackets[0].upper >= 4
    for b in brackets:
        assert b.upper_error is None or b.upper_error <= b.tol
    assert {R.unfolding_rank(g * s) for s in (1e-170, 1.0, 1e160)} == {3}


def test_fit_factors_are_for_the_tensor_as_given():
    x = R.random_cp_tensor((3, 3, 3), 2, seed=4) * 1e150
    fit = R.cp_fit(x, 2, seed=0)
    assert fit.exact
    rebuilt = R.cp_to_tensor(fit.factors)
    scale = np.abs(x).max()
    assert np.linalg.norm((rebuilt - x) / scale) <= 1e-9 * np.linalg.norm(x / scale)


def test_big_integers_are_exact_or_refused():
    x = 2 ** 60 + np.arange(8, dtype=np.int64).reshape(2, 2, 2)   # float64 rounds all to 2^60
    assert R.unfolding_rank_mod_p(x) == 2
    assert R.is_integer_tensor(x)
    with pytest.raises(ValueError, match="2\\^53"):
        R.cp_rank_bracket(x)
    with pytest.raises(ValueError, match="2\\^53"):
        R.unfolding_rank(x)
    with pytest.raises(ValueError, match="2\\^53"):
        R.cp_fit(x, 2)
    b = R.cp_rank_bracket(x, fit=False)
    assert b.lower == 2 and b.lower_certified and b.upper == 4 and not b.determined
    assert b.lower_evidence["numerical_rank"] is None


def test_uint64_residues_do_not_wrap():
    x = np.array([[2 ** 64 - 1, 0], [0, 1]], dtype=np.uint64)
    assert R.gf_p_rank(x, 101) == 2
    assert R.gf_p_rank(x, 5) == 1            # 2^64 - 1 = 3 * 5 * 17 * 257 * ... is 0 mod 5


def test_negative_tol_raises_without_fitting():
    for tol in (-1e-10, 0.0, 1.5):
        with pytest.raises(ValueError, match="tol must be in"):
            R.cp_rank_bracket(np.ones((2, 2, 2)), tol=tol, fit=False)
    with pytest.raises(ValueError, match="tol must be in"):
        R.cp_rank_bracket(np.zeros((2, 2, 2)), tol=-1.0)


def test_pencil_rejects_low_order_and_bad_budgets():
    with pytest.raises(ValueError, match="order >= 2"):
        R.pencil_lower_bound(np.array([1, 2], dtype=np.int64))
    with pytest.raises(ValueError, match="max_m"):
        R.pencil_lower_bound(np.ones((2, 2, 2), dtype=np.int64), max_m=1)
    with pytest.raises(ValueError, match="integer tensor"):
        R.pencil_lower_bound(np.full((2, 2, 2), 0.5))


def test_real_and_complex_rank_are_told_apart():
    x = R.real_part_of_complex_cube()
    z = np.array([1, 1j])
    cube = np.einsum("i,j,k->ijk", z, z, z)
    assert np.array_equal(x, np.real(cube).astype(np.int64))
    # complex rank 2: (z^3 + conj(z)^3) / 2
    assert np.allclose((cube + cube.conj()) / 2, x)
    b = R.cp_rank_bracket(x, seed=0)
    assert (b.lower, b.upper) == (3, 3)
    assert b.lower_field == "real" and b.upper_field == "real" and b.lower_complex == 2
    assert b.field == "real" and str(b).startswith("real CP rank in [3, 3]")
    assert "complex CP rank in [2, 3]" in str(b)
    rec = b.to_dict()
    assert rec["lower_field"] == "real" and rec["lower_complex"] == 2 and rec["field"] == "real"
    assert R.pencil_lower_bound(x)["field"] == "real"


def test_unfolding_bounds_hold_over_both_fields():
    x = R.random_cp_tensor((3, 3, 3, 3), 4, seed=5, integer=True)
    b = R.cp_rank_bracket(x, seed=1)
    assert b.lower_field == "complex" and b.field == "real and complex"
    assert str(b).startswith("CP rank in [4, 4]")


def test_pencil_fraction_is_strictly_between_zero_and_one():
    # the pencil condition is open, not Zariski-open: some points of M^eq_{2,3} miss it
    out = R.pencil_certificate_fraction(2, 3, 5, 40, seed=0)
    assert 0 < out["certified"] < out["samples"] == 40 and out["bound"] == 5


def test_min_cut_and_proven_bounds():
    assert R.proven_bound(2, 3, 8) == 16 and R.alkin_bound(2, 3, 8) == 16
    assert R.proven_bound(3, 3, 6) == 27 > R.alkin_bound(3, 3, 6) == 8
    assert R.proven_bound(2, 3, 7) is None and R.min_cut_bound(2, 3, 7) is None
    for n in (2, 3, 5, 10):
        for r in (1, 2, 3, 4):
            for d in (2, 4, 6, 8):
                k = d // 2
                assert R.min_cut_bound(n, r, d) <= min(n ** k, r * n ** (k - 1), r ** (d - 1))
                assert R.proven_bound(n, r, d) <= R.min_cut_bound(n, r, d)
    with pytest.raises(ValueError, match="n must be >= 1"):
        R.min_cut_bound(0, 3, 4)


def test_min_cut_bounds_the_unfolding_rank():
    from tt_rnn.tt import random_tt
    for n, r, d in [(2, 3, 6), (3, 2, 6), (4, 2, 4), (10, 3, 4)]:
        x = random_tt(n, r, d, shared=True, seed=1, integer=True).to_tensor()
        assert R.unfolding_rank_mod_p(x) <= R.min_cut_bound(n, r, d)
