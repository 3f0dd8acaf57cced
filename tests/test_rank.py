"""Tests of tt_rnn.rank: GF(p) certificates, unfolding bounds, exact fits, border rank, brackets."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small dense solves; effective if numpy is new

import numpy as np
import pytest
import torch

from tt_rnn import rank as R
from tt_rnn.rank.lm import _GaussNewtonSystem
from tt_rnn.tt import odd_even_unfolding, random_tt, tt_to_tensor, witness_q, witness_tt


# ---------------------------------------------------------------------------------------------
# GF(p) arithmetic
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["elimination", "blocked"])
@pytest.mark.parametrize("m,k,n", [(12, 3, 20), (150, 40, 170), (200, 200, 200), (140, 150, 300)])
def test_gf_p_rank_matches_rational_rank(method, m, k, n):
    rng = np.random.default_rng(m + k + n)
    mat = rng.integers(-3, 4, (m, k)) @ rng.integers(-3, 4, (k, n))
    mat[:, 1] = 0           # a zero column and a zero row: pivots must skip them
    mat[2] = 0
    p = R.BLAS_PRIME if method == "blocked" else R.DEFAULT_PRIME
    assert R.gf_p_rank(mat, p, method=method) == np.linalg.matrix_rank(mat)


def test_gf_p_rank_is_at_most_rational_rank():
    p = 101
    mat = np.array([[p, 0], [0, 1]])          # det = p: rank 2 over Q, rank 1 over GF(p)
    assert R.gf_p_rank(mat, p) == 1 <= np.linalg.matrix_rank(mat)
    assert R.gf_p_rank(mat, 103) == 2


def test_gf_p_rank_python_ints_and_no_overflow():
    p = R.DEFAULT_PRIME
    big = np.array([[p - 1, p - 2, 3], [p - 2, p - 1, 5], [2 * (p - 1), 2 * (p - 2), 6]], dtype=object)
    # third row = 2 * first row (mod p and over Z)
    assert R.gf_p_rank(big, p) == 2
    assert R.gf_p_rank(big.astype(np.int64), p, method="elimination") == 2


def test_tt_contraction_mod_p_is_exact():
    tt = random_tt(3, 4, 7, shared=True, seed=3, integer=True, integer_range=10 ** 6)
    exact = tt_to_tensor([c.astype(object) for c in tt.cores])   # python ints, no overflow
    for p in (R.DEFAULT_PRIME, R.BLAS_PRIME, 101):
        expected = np.vectorize(lambda v: int(v) % p, otypes=[np.int64])(exact)
        assert np.array_equal(R.tt_to_tensor_mod_p(tt.cores, p), expected)


# ---------------------------------------------------------------------------------------------
# Lower bounds
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rank", [1, 2, 3, 5])
def test_certificates_on_tensors_of_known_rank(rank):
    x = R.random_cp_tensor((3, 3, 3, 3), rank, seed=rank, integer=True)
    assert R.unfolding_rank_mod_p(x) == rank            # odd/even 9 x 9 unfolding
    assert R.unfolding_rank(x.astype(float)) == rank
    best, modes, tried, exhaustive = R.best_unfolding_rank(x.astype(float))
    assert best == rank and exhaustive and tried == 3


def test_unfolding_rank_accepts_torch_and_tt():
    tt = random_tt(2, 3, 6, shared=True, seed=0)
    x = tt.to_tensor()
    expected = np.linalg.matrix_rank(odd_even_unfolding(x))
    assert R.unfolding_rank(torch.as_tensor(x)) == expected == R.unfolding_rank(tt)


def test_rtol_is_explicit():
    x = np.zeros((2, 2, 2, 2))
    x[0, 0, 0, 0], x[1, 1, 1, 1] = 1.0, 1e-9
    assert R.unfolding_rank(x) == 2
    assert R.unfolding_rank(x, rtol=1e-6) == 1


def test_witness_unfolding_contains_identity_block():
    for n, r, d in [(2, 3, 6), (3, 3, 4), (3, 5, 6), (4, 3, 4)]:
        q = witness_q(n, r)
        full = witness_tt(n, r, d).to_tensor()
        block = full[np.ix_(*[range(q)] * d)]
        assert np.array_equal(odd_even_unfolding(block), np.eye(q ** (d // 2)))
        assert R.unfolding_rank_mod_p(full) >= q ** (d // 2) == R.alkin_bound(n, r, d)


def test_certified_unfolding_rank_record():
    cert = R.certified_unfolding_rank(2, 3, 6, shared=True, seed=0)
    assert cert.certified_rank <= cert.numerical_rank <= cert.max_possible_rank == 8
    assert cert.certified_rank >= cert.alkin_bound == 8       # q = min(2, 3 - 1) = 2
    rec = cert.to_dict()
    for key in ("n", "r", "d", "shared", "seed", "prime", "certified_rank", "numerical_rank",
                "alkin_bound", "proven_bound", "row_modes", "exceeds_alkin_bound"):
        assert key in rec
    assert R.certified_unfolding_rank(3, 2, 5, shared=False, seed=1).alkin_bound is None


def test_certificate_is_a_lower_bound_for_the_tt_unfolding():
    # a shared-core TT with r = 1 has rank one: the certificate must not exceed it
    cert = R.certified_unfolding_rank(3, 1, 6, shared=True, seed=0)
    assert cert.certified_rank == cert.numerical_rank == 1


def test_pencil_certificate():
    x = np.zeros((2, 2, 2), dtype=np.int64)
    x[0] = np.eye(2)
    x[1] = [[0, -1], [1, 0]]            # A^{-1} B is a rotation: eigenvalues +-i
    assert R.pencil_lower_bound(x)["bound"] == 3
    y = x.copy()
    y[1] = [[2, 0], [0, 5]]             # real distinct eigenvalues: rank 2
    assert R.pencil_lower_bound(y) is None
    assert R.cp_rank_bracket(x, fit=False).lower == 3


# ---------------------------------------------------------------------------------------------
# Upper bounds, border rank, brackets
# ---------------------------------------------------------------------------------------------

def test_exact_fit_recovers_known_rank():
    x = R.random_cp_tensor((3, 4, 3), 3, seed=2)
    fit = R.cp_fit(x, 3, seed=0)
    assert fit.exact and fit.rel_error <= R.DEFAULT_FIT_TOL
    rebuilt = R.cp_to_tensor(fit.factors)
    assert np.linalg.norm(rebuilt - x) <= 1e-9 * np.linalg.norm(x)
    assert not R.cp_fit(x, 2, seed=0, n_als=2, n_random=1).exact


def test_bracket_closes_on_random_low_rank_tensor():
    x = R.random_cp_tensor((3, 3, 3, 3), 4, seed=5, integer=True)
    b = R.cp_rank_bracket(x, seed=1)
    assert b.lower == b.upper == 4 and b.determined
    assert b.lower_certified and b.upper_certified      # integer factors: verified exactly
    assert b.upper_error <= b.tol == R.DEFAULT_FIT_TOL
    assert set(b.to_dict()) >= {"lower", "upper", "lower_certified", "upper_error", "tol", "seed"}


def test_w_tensor_border_rank_flag():
    w = R.w_tensor()
    b = R.cp_rank_bracket(w, seed=0)
    assert b.lower == 2 and b.lower_certified
    assert b.upper == 3 and not b.determined            # rank 2 is never reported as exact
    assert b.border[2] is True
    assert b.error_curve[2] > b.tol


def test_border_rank_heuristic_on_synthetic_histories():
    kappa = np.logspace(0, 4, 50)
    assert R.border_rank_suspected(1.0 / kappa, kappa)                 # error ~ 1 / kappa
    assert not R.border_rank_suspected(0.1 + 0 * kappa, kappa)         # positive plateau
    assert not R.border_rank_suspected(np.logspace(-1, -12, 50), np.ones(50))   # bounded norms
    with pytest.raises(ValueError, match="equal length"):
        R.border_rank_suspected([1.0, 0.5], [1.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bracket_invariant(seed):
    rng = np.random.default_rng(seed)
    tensors = [rng.standard_normal((2, 2, 3)),
               random_tt(2, 3, 5, shared=True, seed=seed).to_tensor(),
               random_tt(2, 3, 4, shared=False, seed=seed, integer=True).to_tensor()]
    for x in tensors:
        b = R.cp_rank_bracket(x, seed=seed, time_limit=10)
        assert 1 <= b.lower <= b.upper <= x.size // max(x.shape)
        if b.upper_error is not None:
            assert b.upper_error <= b.tol


def test_upper_bound_never_below_certified_lower():
    x = random_tt(2, 3, 6, shared=True, seed=4, integer=True).to_tensor()
    b = R.cp_rank_bracket(x, seed=0, strategy="gallop")
    assert b.lower_certified and b.lower == 8
    assert min(b.error_curve) >= b.lower and b.upper >= b.lower


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def test_bad_input():
    x = np.ones((2, 2, 2))
    x[1, 0, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        R.cp_rank_bracket(x)
    with pytest.raises(ValueError, match="non-finite"):
        R.unfolding_rank(np.full((2, 2), np.inf))
    with pytest.raises(ValueError, match="rank must be >= 1, got rank = 0"):
        R.cp_fit(np.ones((2, 2, 2)), 0)
    with pytest.raises(ValueError, match="rank_min must be >= 1"):
        R.cp_rank_upper_bound(np.ones((2, 2, 2)), rank_min=0)
    with pytest.raises(ValueError, match="rank_max = 1 is below rank_min = 2"):
        R.cp_rank_upper_bound(np.ones((2, 2, 2)), rank_min=2, rank_max=1)
    with pytest.raises(ValueError, match="rank_max must be >= 1"):
        R.cp_rank_bracket(np.ones((2, 2, 2)), rank_max=0)
    with pytest.raises(ValueError, match="limit"):
        R.cp_fit(np.ones((2,) * 17), 2)
    with pytest.raises(ValueError, match="limit"):
        R.certified_unfolding_rank(2, 3, 24)
    with pytest.raises(ValueError, match="not prime"):
        R.gf_p_rank(np.eye(3, dtype=int), 91)
    with pytest.raises(ValueError, match="2\\*\\*31"):
        R.gf_p_rank(np.eye(3, dtype=int), 2 ** 31 + 11)
    with pytest.raises(ValueError, match="too large"):
        R.gf_p_rank(np.eye(3, dtype=int), R.DEFAULT_PRIME, method="blocked")
    with pytest.raises(ValueError, match="integer tensor"):
        R.unfolding_rank_mod_p(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="out of range"):
        R.unfolding_rank(np.ones((2, 2, 2)), row_modes=[5])
    with pytest.raises(ValueError, match="order >= 2"):
        R.unfolding_rank(np.ones(3))
    with pytest.raises(ValueError, match="tol must be in"):
        R.cp_fit(np.ones((2, 2, 2)), 1, tol=0.0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        R.certified_unfolding_rank(0, 3, 4)
    with pytest.raises(TypeError):
        R.unfolding_rank([[1.0, 2.0], [3.0, 4.0]])


def test_matrix_free_gauss_newton_matches_dense():
    rng = np.random.default_rng(0)
    factors = [rng.standard_normal((n, 4)) for n in (2, 3, 2, 4)]
    v = rng.standard_normal(sum(f.size for f in factors))
    dense, free = _GaussNewtonSystem(factors, True), _GaussNewtonSystem(factors, False)
    assert np.allclose(dense.matvec(v), free.matvec(v), rtol=1e-12, atol=1e-12)
    assert np.allclose(dense.solve(v, 1.0, 1e-14), free.solve(v, 1.0, 1e-14), atol=1e-8)


@pytest.mark.parametrize("strategy", ["linear", "gallop", "bisect", "descend"])
def test_search_strategies_find_known_rank(strategy):
    x = R.random_cp_tensor((3, 3, 3), 3, seed=7)
    search = R.cp_rank_upper_bound(x, 1, strategy=strategy, seed=0, n_als=2, n_random=1)
    assert search.rank == 3 and search.fit.exact and search.complete
    assert all(err > search.tol for rank, err in search.error_curve.items() if rank < 3)


@pytest.mark.slow
def test_notebook_quick_mode_runs_and_writes_nothing(tmp_path):
    """The notebook runs top to bottom from a clean kernel with QUICK = True and leaves results/ alone."""
    papermill = pytest.importorskip("papermill")
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    results = root / "results" / "rank"
    before = {p: p.stat().st_mtime_ns for p in results.glob("*.json")} if results.exists() else {}
    papermill.execute_notebook(str(root / "estimate_cp_rank_for_random_tensor.ipynb"),
                               str(tmp_path / "out.ipynb"), parameters={"QUICK": True},
                               cwd=str(root), kernel_name="python3", progress_bar=False,
                               execution_timeout=120)
    after = {p: p.stat().st_mtime_ns for p in results.glob("*.json")} if results.exists() else {}
    assert after == before
