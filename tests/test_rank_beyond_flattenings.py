"""Issue 23: certified lower bounds beyond flattenings (Koszul-Young, pencil uniqueness)."""

import json
import math
import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest

from tt_rnn import rank as R
from tt_rnn.tt import random_tt


def matrix_multiplication_tensor(n: int) -> np.ndarray:
    """``M_n = sum_{i,j,k} e_{ij} (x) e_{jk} (x) e_{ki}``: rank 7 and border rank 7 for n = 2."""
    t = np.zeros((n * n,) * 3, dtype=np.int64)
    for i in range(n):
        for j in range(n):
            for k in range(n):
                t[i * n + j, j * n + k, k * n + i] = 1
    return t


def padded_w_tensor() -> np.ndarray:
    x = np.zeros((3, 3, 3), dtype=np.int64)
    x[:2, :2, :2] = R.w_tensor(np.int64)
    return x


# ---------------------------------------------------------------------------------------------
# The Koszul-Young matrix itself
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a,p", [(3, 1), (4, 1), (4, 2), (5, 2)])
def test_koszul_young_matrix_of_a_rank_one_tensor_has_rank_binom(a, p):
    rng = np.random.default_rng(a + p)
    x = np.einsum("i,j,k->ijk", rng.integers(1, 5, a), rng.integers(1, 5, 3), rng.integers(1, 5, 4))
    mat = R.koszul_young_matrix(x, p)
    assert mat.shape == (math.comb(a, p + 1) * 4, math.comb(a, p) * 3)
    assert R.gf_p_rank(mat, R.BLAS_PRIME) == math.comb(a - 1, p)


def test_strassen_case_equals_twice_n_plus_commutator_rank():
    # 3 x N x N with X_0 = I: rank T^{wedge 1} = 2N + rank [X_1, X_2] (Strassen's equation)
    rng = np.random.default_rng(7)
    n = 4
    x = np.stack([np.eye(n, dtype=np.int64), rng.integers(-3, 4, (n, n)),
                  rng.integers(-3, 4, (n, n))])
    comm = x[1] @ x[2] - x[2] @ x[1]
    mat = R.koszul_young_matrix(x, 1)
    assert R.gf_p_rank(mat, R.BLAS_PRIME) == 2 * n + np.linalg.matrix_rank(comm)
    # commuting slices: no gain over the flattening
    y = np.stack([np.eye(n, dtype=np.int64), x[1], x[1] @ x[1]])
    assert R.gf_p_rank(R.koszul_young_matrix(y, 1), R.BLAS_PRIME) == 2 * n


# ---------------------------------------------------------------------------------------------
# Known border ranks
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generic_3x3x3_has_border_rank_bound_5(seed):
    x = np.random.default_rng(seed).integers(-5, 6, (3, 3, 3))
    assert max(R.unfolding_rank_mod_p(x, [m]) for m in range(3)) == 3
    cert = R.koszul_young_lower_bound(x)
    assert cert["bound"] == 5 and cert["rank"] == 9 and cert["p"] == 1 and cert["divisor"] == 2
    b = R.cp_rank_bracket(x, seed=0)
    assert b.lower == 5 and b.lower_method == R.LOWER_KOSZUL and b.lower_field == "complex"
    assert b.lower_complex == 5 and b.upper >= 5


def test_w_tensor_bound_stays_at_its_border_rank_2():
    assert R.koszul_young_lower_bound(padded_w_tensor())["bound"] == 2
    assert R.koszul_young_lower_bound(R.w_tensor(np.int64)) is None   # dim A = 2: none
    b = R.cp_rank_bracket(padded_w_tensor(), seed=0)
    assert b.lower == 2 and b.upper == 3


def test_matrix_multiplication_2x2_koszul_gives_6_below_its_border_rank_7():
    # Landsberg-Ottaviani: Koszul flattenings give 2 n^2 - n = 6 for M_2; 7 needs other equations
    m2 = matrix_multiplication_tensor(2)
    assert R.unfolding_rank_mod_p(m2, [0]) == 4
    cert = R.koszul_young_lower_bound(m2, max_candidates=200)
    assert cert["bound"] == 6 and cert["complete"]


@pytest.mark.parametrize("shape,rank", [((4, 4, 4), 5), ((3, 3, 3, 3), 6), ((4, 4, 3), 4)])
def test_planted_rank_is_never_exceeded(shape, rank):
    x = R.random_cp_tensor(shape, rank, seed=rank, integer=True)
    cert = R.koszul_young_lower_bound(x, max_candidates=200)
    assert cert is None or cert["bound"] <= rank
    b = R.cp_rank_bracket(x, seed=0)
    assert b.lower <= rank and b.lower_certified


def test_planted_rank_below_generic_is_reached_by_koszul_on_4x4x4():
    x = R.random_cp_tensor((4, 4, 4), 5, seed=1, integer=True)
    assert max(R.unfolding_rank_mod_p(x, [m]) for m in range(3)) == 4
    assert R.koszul_young_lower_bound(x)["bound"] == 5
    b = R.cp_rank_bracket(x, seed=0)
    assert (b.lower, b.upper) == (5, 5) and b.determined and b.lower_method == R.LOWER_KOSZUL


def test_koszul_reach_does_not_exceed_flattenings_for_n_2():
    # why the n = 2 table cannot move with these flattenings: their largest possible value
    assert [R.koszul_young_reach((2,) * d) for d in range(4, 11)] == [3, 4, 6, 8, 12, 16, 24]
    assert all(R.koszul_young_reach((2,) * d) <= 2 ** (d // 2) for d in range(3, 11))
    assert R.koszul_young_reach((3, 3, 3)) == 5


def test_koszul_rejects_bad_input():
    with pytest.raises(ValueError, match="order >= 3"):
        R.koszul_young_lower_bound(np.eye(3, dtype=np.int64))
    with pytest.raises(ValueError, match="integer tensor"):
        R.koszul_young_lower_bound(np.full((3, 3, 3), 0.5))
    with pytest.raises(ValueError, match="p must be in"):
        R.koszul_young_matrix(np.ones((3, 2, 2), np.int64), 3)


# ---------------------------------------------------------------------------------------------
# Pencil uniqueness
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("d,bound", [(5, 5), (7, 9)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pencil_uniqueness_lifts_complex_bound_on_meq_2_3(d, bound, seed):
    x = random_tt(2, 3, d, shared=True, seed=seed, integer=True).to_tensor()
    flat = max(R.unfolding_rank_mod_p(x, rows) for rows in R.balanced_bipartitions(d))
    assert flat == bound - 1
    cert = R.pencil_uniqueness_lower_bound(x)
    assert cert["bound"] == bound and cert["field"] == "complex" and cert["N"] == bound - 1
    # the certificate is checkable by hand: the eigenvector mod q is a root's kernel vector
    q, lam = cert["prime"], cert["eigenvalue_mod_prime"]
    chi = [int(c) for c in cert["charpoly"]]
    assert sum(c * pow(lam, k, q) for k, c in enumerate(chi)) % q == 0
    assert chi[-1] % q != 0


@pytest.mark.parametrize("shape,rank", [((2, 2, 2, 2, 2), 4), ((2, 2, 2, 2, 2, 2, 2), 8),
                                        ((2, 3, 3), 3)])
def test_pencil_uniqueness_never_fires_on_rank_n_tensors(shape, rank):
    for seed in range(3):
        x = R.random_cp_tensor(shape, rank, seed=seed, integer=True)
        assert R.pencil_uniqueness_lower_bound(x) is None


def test_pencil_bounds_in_the_bracket_at_d5():
    x = random_tt(2, 3, 5, shared=True, seed=0, integer=True).to_tensor()
    b = R.cp_rank_bracket(x, seed=0, strategy="gallop")
    assert b.lower == 5 and b.lower_field == "complex" and b.lower_complex == 5
    assert b.lower_method == R.LOWER_UNIQUENESS and b.upper == 5
    assert b.lower_evidence["pencil"]["bound"] == 5       # the real-rank pencil agrees


def test_diagonalisable_pencil_certifies_the_upper_end():
    x = np.stack([np.diag([1, 2, 3]), np.diag([4, -5, 7])]).astype(np.int64)
    g = np.array([[1, 2, 0], [0, 1, 3], [1, 0, 1]])
    x = np.einsum("kab,ia,jb->kij", x, g, g.T)            # rank 3, real eigenvalues
    cert = R.pencil_diagonalisable_upper_bound(x)
    assert cert["bound"] == 3 and cert["real_roots"] == 3
    b = R.cp_rank_bracket(x)
    assert (b.lower, b.upper) == (3, 3) and b.determined and b.upper_method == R.UPPER_PENCIL
    assert b.search is None                              # no fit needed
    # non-real eigenvalues: no real upper certificate (real rank 3 > 2)
    assert R.pencil_diagonalisable_upper_bound(R.real_part_of_complex_cube()) is None
    x3 = random_tt(2, 3, 3, shared=True, seed=0, integer=True).to_tensor()
    b3 = R.cp_rank_bracket(x3, seed=0)
    assert (b3.lower, b3.upper) == (2, 2) and b3.determined


# ---------------------------------------------------------------------------------------------
# Shared-core tensors beyond their flattenings, and the committed sweep
# ---------------------------------------------------------------------------------------------

def test_meq_3_3_d5_border_rank_exceeds_every_flattening():
    x = random_tt(3, 3, 5, shared=True, seed=0, integer=True).to_tensor()
    flat = max(R.unfolding_rank_mod_p(x, rows) for rows in R.balanced_bipartitions(5))
    assert flat == 9
    cert = R.koszul_young_lower_bound(x, floor=flat)
    assert cert["bound"] == 14 and cert["rank"] == 27 and cert["dim_A"] == 3
    b = R.cp_rank_bracket(x, fit=False)
    assert b.lower == 14 and b.lower_method == R.LOWER_KOSZUL and b.lower_certified


def test_committed_beyond_flattenings_records_are_reproduced():
    path = Path(__file__).resolve().parent.parent / "results" / "rank" / "beyond_flattenings.json"
    records = json.loads(path.read_text())["records"]
    keys = {(r["n"], r["r"], r["d"]) for r in records}
    assert {(2, 3, 5), (2, 3, 7), (3, 3, 5)} <= keys
    for rec in records:
        assert rec["best"] == max(rec["flattening"], (rec["koszul"] or {}).get("bound", 0),
                                  (rec["pencil_uniqueness"] or {}).get("bound", 0))
        assert rec["koszul"] is None or rec["koszul"]["bound"] <= rec["koszul_reach"]
        if rec["n"] == 2:         # no Koszul-Young flattening can beat flattenings at n = 2
            assert rec["koszul_reach"] <= 2 ** (rec["d"] // 2)
    for rec in records:
        if (rec["n"], rec["r"], rec["d"], rec["seed"]) in {(2, 3, 7, 0), (3, 3, 5, 1)}:
            x = random_tt(rec["n"], rec["r"], rec["d"], shared=True, seed=rec["seed"],
                          integer=True).to_tensor()
            b = R.cp_rank_bracket(x, fit=False, seed=rec["seed"])
            assert b.lower_complex == rec["best"]
