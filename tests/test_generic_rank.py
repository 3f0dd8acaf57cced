"""Exact checks of Section "The generic rank of the odd/even unfolding" of tensors_strong_hyp_sketch.pdf.

Every test names the statement it checks by its LaTeX label. All ranks are exact: integer
matrices, rank over GF(p) (a lower bound on the rank over Q that is reached here) or Fractions.
Indices are 0-based here, 1-based in the PDF.
"""

from __future__ import annotations

import functools
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from tt_rnn.rank import gf_p_rank, unfolding_rank_mod_p
from tt_rnn.tt import (TensorTrain, odd_even_min_cut_bound, odd_even_row_modes, odd_even_unfolding,
                       random_tt, unfold, unfolding_min_cut_bound, weight_tied_tt, weight_tied_witness_tt,
                       witness_tt)

P = 2_147_483_647  # 2^31 - 1, the prime of prop:certified


def pair_matrix(core):
    """def:pair: Pi(G)[(alpha, a), (b, gamma)] = (G^(b) G^(a))[alpha, gamma], core of shape (r, n, r)."""
    r, n, _ = core.shape
    prod = np.einsum("xby,yaz->xabz", core, core)  # [alpha, a, b, gamma]
    return prod.reshape(r * n, n * r)


def chain_matrices(core, k):
    """def:pair: the chain matrices K_k and J_k, entry by entry from their definition."""
    r, n, _ = core.shape
    slices = [core[:, i, :] for i in range(n)]
    dtype = core.dtype
    big_k = np.zeros((r * n ** (k - 1), n ** (k - 1) * r), dtype=dtype)
    big_j = np.zeros((r * r * n ** (k - 1), n ** k), dtype=dtype)
    for a in itertools.product(range(n), repeat=k - 1):      # a_2 .. a_k
        for b in itertools.product(range(n), repeat=k - 1):  # b_1 .. b_{k-1}
            prod = np.eye(r, dtype=dtype)
            for bb, aa in zip(b, a):
                prod = prod @ slices[bb] @ slices[aa]
            row0 = int(np.ravel_multi_index(a, (n,) * (k - 1))) if k > 1 else 0
            col0 = int(np.ravel_multi_index(b, (n,) * (k - 1))) if k > 1 else 0
            for al, be in itertools.product(range(r), repeat=2):
                big_k[al * n ** (k - 1) + row0, col0 * r + be] = prod[al, be]
            for bk in range(n):
                full = prod @ slices[bk]
                col = col0 * n + bk
                for al, be in itertools.product(range(r), repeat=2):
                    big_j[(al * n ** (k - 1) + row0) * r + be, col] = full[al, be]
    return big_k, big_j


def boundary_identity(n, r):
    """G_1(i, alpha) = delta, G_d(alpha, i) = delta (thm:pair), for n >= r."""
    first = np.zeros((n, r), dtype=np.int64)
    first[np.arange(r), np.arange(r)] = 1
    return first, first.T.copy()


def cauchy_matrix(r):
    """def:band: the integer multiple lcm(1..2r-1) / (delta + gamma - 1) of the Hilbert (Cauchy) matrix."""
    lcm = functools.reduce(math.lcm, range(1, 2 * r), 1)
    return np.array([[lcm // (d + g + 1) for g in range(r)] for d in range(r)], dtype=object)


def band_witness(n, r):
    """def:band: G(alpha, (beta, j), gamma) = delta_{alpha beta} Lambda[sigma(beta, j), gamma]; u = 1, v = e_1."""
    t = n // r
    assert t * r == n and 1 <= t <= r
    lam = cauchy_matrix(r)
    core = np.zeros((r, n, r), dtype=object)
    for beta, j in itertools.product(range(r), range(t)):
        core[beta, beta * t + j, :] = lam[(beta + j) % r, :]  # sigma(beta, j) = beta + j (mod r)
    u = np.ones(r, dtype=object)
    v = np.zeros(r, dtype=object)
    v[0] = 1
    return u, core, v


def exact_rank(matrix):
    """Rank over Q by fraction-free elimination (Bareiss-free: plain Fractions; small matrices)."""
    rows = [[Fraction(int(x)) for x in row] for row in np.asarray(matrix)]
    rank, ncols = 0, len(rows[0]) if rows else 0
    for col in range(ncols):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][col] != 0:
                f = rows[i][col] / rows[rank][col]
                rows[i] = [x - f * y for x, y in zip(rows[i], rows[rank])]
        rank += 1
    return rank


def exact_det(matrix):
    """Determinant over Q by Gaussian elimination with Fractions."""
    rows = [[Fraction(int(x)) for x in row] for row in np.asarray(matrix)]
    size, det = len(rows), Fraction(1)
    for col in range(size):
        pivot = next((i for i in range(col, size) if rows[i][col] != 0), None)
        if pivot is None:
            return Fraction(0)
        if pivot != col:
            rows[col], rows[pivot] = rows[pivot], rows[col]
            det = -det
        det *= rows[col][col]
        for i in range(col + 1, size):
            f = rows[i][col] / rows[col][col]
            rows[i] = [x - f * y for x, y in zip(rows[i], rows[col])]
    return det


def mod_p(matrix):
    return np.array([[int(x) % P for x in row] for row in np.asarray(matrix)], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# def:pair, lem:chain: the odd/even unfolding factors through K_k / J_k; K_k = (Pi x I)(I x K_{k-1})
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,r,k", [(3, 2, 1), (3, 2, 2), (3, 2, 3), (2, 3, 2), (5, 2, 2), (4, 3, 2),
                                   (2, 2, 3)])
def test_chain_factorisation(n, r, k):
    """lem:chain (i) for d = 2k and 2k + 1, and (ii), with exact integer arithmetic."""
    rng = np.random.default_rng(100 * n + 10 * r + k)
    core = rng.integers(-2, 3, size=(r, n, r)).astype(np.int64)
    big_k, big_j = chain_matrices(core, k)
    if k == 1:
        np.testing.assert_array_equal(big_k, np.eye(r, dtype=np.int64))  # K_1 = I_r
        np.testing.assert_array_equal(big_j, core.transpose(0, 2, 1).reshape(r * r, n))  # J_1 = H^T
    if k == 2:
        np.testing.assert_array_equal(big_k, pair_matrix(core))  # K_2 = Pi(G)
    if k >= 2:
        small_k, small_j = chain_matrices(core, k - 1)
        pi = pair_matrix(core)
        np.testing.assert_array_equal(
            big_k, np.kron(pi, np.eye(n ** (k - 2), dtype=np.int64)) @ np.kron(np.eye(n, dtype=np.int64), small_k))
        np.testing.assert_array_equal(
            big_j, np.kron(pi, np.eye(r * n ** (k - 2), dtype=np.int64)) @ np.kron(np.eye(n, dtype=np.int64), small_j))
    first = rng.integers(-2, 3, size=(n, r)).astype(np.int64)
    last = rng.integers(-2, 3, size=(r, n)).astype(np.int64)
    eye = np.eye(n ** (k - 1), dtype=np.int64)
    even = TensorTrain([first] + [core] * (2 * k - 2) + [last]).to_tensor()
    np.testing.assert_array_equal(odd_even_unfolding(even), np.kron(first, eye) @ big_k @ np.kron(eye, last))
    odd = TensorTrain([first] + [core] * (2 * k - 1) + [last]).to_tensor()
    np.testing.assert_array_equal(odd_even_unfolding(odd), np.kron(np.kron(first, eye), last.T) @ big_j)


def test_dependent_slices_make_the_pair_matrix_singular():
    """thm:pair (first step): a linear relation among the slices gives a kernel vector c_b x_gamma."""
    rng = np.random.default_rng(5)
    r, n = 3, 5
    core = rng.integers(-3, 4, size=(r, n, r)).astype(np.int64)
    core[:, 4, :] = 2 * core[:, 0, :] - core[:, 1, :]  # c = (2, -1, 0, 0, -1)
    c = np.array([2, -1, 0, 0, -1])
    x = np.array([1, -2, 3])
    np.testing.assert_array_equal(pair_matrix(core) @ np.kron(c, x), 0)
    assert gf_p_rank(pair_matrix(core) % P, P) < r * n


# ---------------------------------------------------------------------------------------------
# def:band, prop:band, cor:divisible: the band witness for n = t r
# ---------------------------------------------------------------------------------------------

def test_cauchy_matrix_square_submatrices_are_nonsingular():
    """def:band: every square submatrix of Lambda is non-singular (exact, all submatrices, r <= 5)."""
    for r in range(1, 6):
        lam = cauchy_matrix(r)
        for size in range(1, r + 1):
            for rows in itertools.combinations(range(r), size):
                for cols in itertools.combinations(range(r), size):
                    assert exact_rank(lam[np.ix_(rows, cols)]) == size, (r, rows, cols)


BAND_CASES = [(t * r, r) for r in range(1, 8) for t in range(1, r + 1)]


@pytest.mark.parametrize("n,r", BAND_CASES)
def test_band_witness_pair_matrix_is_nonsingular(n, r):
    """prop:band: Pi(G^band) is non-singular; u^T G and G v have rank r (exact over GF(p) and Q)."""
    u, core, v = band_witness(n, r)
    pi = pair_matrix(core)
    assert pi.shape == (r * n, r * n)
    assert gf_p_rank(mod_p(pi), P) == r * n  # a non-zero minor mod p is a non-zero integer
    first = np.einsum("a,aib->ib", u, core)   # u^T G, n x r
    last = np.einsum("aib,b->ai", core, v)    # G v,   r x n
    assert exact_rank(first) == r and exact_rank(last) == r
    if n * r <= 12:
        assert exact_rank(pi) == r * n
    # the proof's block structure: G^(b) G^(a) = Lambda[sigma(b), eps] e_beta Lambda[sigma(a), :]
    lam, t = cauchy_matrix(r), n // r
    sigma = lambda beta, j: (beta + j) % r  # noqa: E731
    for (beta, j), (eps, l) in itertools.product(itertools.product(range(r), range(t)), repeat=2):
        prod = core[:, beta * t + j, :].dot(core[:, eps * t + l, :])
        expected = np.zeros((r, r), dtype=object)
        expected[beta, :] = lam[sigma(beta, j), eps] * lam[sigma(eps, l), :]
        assert (prod == expected).all()


@pytest.mark.parametrize("n,r,d", [(n, r, d) for (n, r) in [(4, 2), (6, 3), (2, 2), (3, 3), (8, 4)]
                                   for d in (2, 3, 4, 5, 6) if n ** d <= 40_000])
def test_band_witness_reaches_the_min_cut(n, r, d):
    """prop:band and cor:divisible: the weight-tied and M^eq band points have odd/even rank c_min."""
    u, core, v = band_witness(n, r)
    bound = odd_even_min_cut_bound(n, r, d)
    assert bound == (r * n ** (d // 2 - 1) if d % 2 == 0 else n ** (d // 2))
    small = lambda x: np.array(x, dtype=np.int64)  # noqa: E731  (entries are small exact integers)
    assert max(abs(int(x)) for x in core.ravel()) < 2 ** 20
    tied = weight_tied_tt(small(u), small(core), small(v), d)
    assert unfolding_rank_mod_p(tied) == bound
    first, last = boundary_identity(n, r)
    meq = TensorTrain([first] + [small(core)] * (d - 2) + [last])
    assert unfolding_rank_mod_p(meq) == bound
    if r < n < r * r:
        assert bound > min(n, r) ** (d // 2) or d <= 3  # strictly above thm:strong / thm:odd


# ---------------------------------------------------------------------------------------------
# prop:certified (computer-assisted): for every r <= 8 and r < n < r^2, an integer G_0 with
# Pi(G_0) non-singular; thm:pair then gives the min-cut rank for every d
# ---------------------------------------------------------------------------------------------

CERTIFIED_R = range(2, 9)


def certified_core(n, r, seed=0):
    """The pseudo-random integer core of prop:certified: entries in {-3, ..., 3}, fixed seed."""
    rng = np.random.default_rng([n, r, seed])
    return rng.integers(-3, 4, size=(r, n, r)).astype(np.int64)


@pytest.mark.parametrize("r", CERTIFIED_R)
def test_pair_matrix_certificates(r):
    """prop:certified: rank over GF(2^31 - 1) of Pi(G_0) is r n for every r < n < r^2."""
    missing = []
    for n in range(r + 1, r * r):
        if gf_p_rank(pair_matrix(certified_core(n, r)) % P, P) != r * n:
            missing.append(n)
    assert not missing, (r, missing)


@pytest.mark.parametrize("n,r,d", [(3, 2, 4), (3, 2, 5), (3, 2, 6), (5, 3, 4), (7, 3, 4), (5, 4, 4),
                                   (7, 4, 4), (3, 2, 7), (4, 3, 5)])
def test_pair_certificate_gives_min_cut_for_every_family(n, r, d):
    """thm:pair: with Pi(G_0) non-singular, the M^eq point (I, G_0, I) has rank c_min; so do random
    weight-tied draws around G_0 (the proof's product of three polynomials) and independent cores."""
    core = certified_core(n, r)
    assert gf_p_rank(pair_matrix(core) % P, P) == r * n
    bound = odd_even_min_cut_bound(n, r, d)
    first, last = boundary_identity(n, r)
    assert unfolding_rank_mod_p(TensorTrain([first] + [core] * (d - 2) + [last])) == bound
    rng = np.random.default_rng([n, r, d])
    u, v = rng.integers(-3, 4, size=r), rng.integers(-3, 4, size=r)
    assert unfolding_rank_mod_p(weight_tied_tt(u, core, v, d)) == bound
    assert unfolding_rank_mod_p(random_tt(n, r, d, seed=d, integer=True)) <= bound  # prop:mincut-oe


def test_pair_matrix_is_necessary_at_order_four():
    """thm:pair (converse): rank of the d = 4 unfolding <= rank Pi(G), and det K_k = det Pi^(n^(k-2)) det K_(k-1)^n."""
    rng = np.random.default_rng(9)
    for n, r in [(3, 2), (5, 3), (4, 2)]:
        core = rng.integers(-2, 3, size=(r, n, r)).astype(np.int64)
        core[:, :, 0] = 0  # a degenerate core: Pi(G) loses rank
        first = rng.integers(-2, 3, size=(n, r)).astype(np.int64)
        last = rng.integers(-2, 3, size=(r, n)).astype(np.int64)
        x = TensorTrain([first, core, core, last])
        assert unfolding_rank_mod_p(x) <= gf_p_rank(pair_matrix(core) % P, P) < r * n
    core = certified_core(3, 2)
    k3, _ = chain_matrices(core, 3)
    k2, _ = chain_matrices(core, 2)
    assert exact_det(k3) == exact_det(pair_matrix(core)) ** 3 * exact_det(k2) ** 3 != 0  # n^(k-2) = n = 3


# ---------------------------------------------------------------------------------------------
# cor:generic-unfolding (odd d included), rem:small-d, rem:flattening
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,r,d", [(n, r, d) for (n, r) in [(1, 3), (2, 2), (2, 3), (3, 3), (3, 4)]
                                   for d in (2, 3, 4, 5, 6, 7) if n ** d <= 5 ** 6])
def test_generic_rank_for_n_at_most_r(n, r, d):
    """cor:generic-unfolding: for n <= r the witnesses (even and odd d) have rank n^floor(d/2) = c_min."""
    tt = weight_tied_witness_tt(n, r, d) if d % 2 else witness_tt(n, r, d)
    integer = TensorTrain([c.astype(np.int64) for c in tt.cores])
    assert unfolding_rank_mod_p(integer) == n ** (d // 2) == odd_even_min_cut_bound(n, r, d)


@pytest.mark.parametrize("n,r", [(3, 2), (4, 2), (5, 3), (8, 3), (9, 3)])
def test_order_three(n, r):
    """rem:small-d: for d = 3 and r <= n <= r^2, independent slices and rank-r boundary cores give rank n."""
    core = np.zeros((r, n, r), dtype=np.int64)
    for i, (beta, gamma) in enumerate(itertools.product(range(r), repeat=2)):
        if i < n:
            core[beta, i, gamma] = 1  # matrix units: linearly independent slices
    first, last = boundary_identity(n, r)
    assert unfolding_rank_mod_p(TensorTrain([first, core, last])) == n == odd_even_min_cut_bound(n, r, 3)


def _all_row_sets(d):
    for size in range(1, d):
        yield from itertools.combinations(range(d), size)


@pytest.mark.parametrize("n,r,d", [(4, 2, 4), (5, 2, 5), (9, 3, 4), (2, 2, 5), (2, 3, 6), (3, 3, 4)])
def test_flattenings_are_exhausted(n, r, d):
    """rem:flattening: for n >= r^2 every unfolding has rank <= r^(d-1) (min cut over all S), for
    n <= r every one has rank <= n^floor(d/2); the odd/even unfolding attains the value generically."""
    target = r ** (d - 1) if n >= r * r else n ** (d // 2)
    assert odd_even_min_cut_bound(n, r, d) == target
    tt = random_tt(n, r, d, seed=1, integer=True)
    for rows in _all_row_sets(d):
        assert unfolding_min_cut_bound([n] * d, [r] * (d - 1), rows) <= target
        if n ** d <= 5 ** 5:
            assert unfolding_rank_mod_p(tt, row_modes=list(rows)) <= target
    assert unfolding_rank_mod_p(tt, row_modes=odd_even_row_modes(d)) == target


def test_matrix_unit_slices_count_walks():
    """conj:mincut (discussion): with slices E_(beta, gamma), (beta, gamma) in S, rank Pi = number of
    walks alpha -> delta -> gamma in S, which equals r n only for S = [r]^2."""
    rng = np.random.default_rng(2)
    r = 3
    cells = list(itertools.product(range(r), repeat=2))
    for trial in range(40):
        n = int(rng.integers(1, r * r + 1))
        support = [cells[i] for i in rng.choice(r * r, size=n, replace=False)]
        core = np.zeros((r, n, r), dtype=np.int64)
        for i, (beta, gamma) in enumerate(support):
            core[beta, i, gamma] = 1
        # walks alpha -> delta -> gamma: pairs of slices (beta_b, delta), (delta, gamma_a) in S
        walks = sum(1 for (_, mid), (start, _) in itertools.product(support, repeat=2) if mid == start)
        rank = gf_p_rank(pair_matrix(core) % P, P)
        assert rank == walks
        assert (rank == r * n) == (n == r * r)


# ---------------------------------------------------------------------------------------------
# lem:duality, prop:shift, cor:codim: n <= r by cyclic shifts, n >= r^2 - r by duality
# ---------------------------------------------------------------------------------------------

def shift_witness(m, r, y):
    """prop:shift: slices S^(a)(i, j) = y_i [j = i + a mod r], a = 0 .. m-1 (shape (r, m, r))."""
    core = np.zeros((r, m, r), dtype=np.int64)
    for a, i in itertools.product(range(m), range(r)):
        core[i, a, (i + a) % r] = y[i]
    return core


def dual_core(core):
    """lem:duality (ii): slices forming a basis of {X^T : X orthogonal to every slice of core}."""
    import sympy
    r, n, _ = core.shape
    rows = sympy.Matrix([[int(x) for x in core[:, a, :].ravel()] for a in range(n)])
    basis = rows.nullspace()
    out = np.zeros((r, len(basis), r), dtype=object)
    for a, vec in enumerate(basis):
        scale = functools.reduce(math.lcm, [sympy.fraction(x)[1] for x in vec], 1)
        mat = np.array([int(x * scale) for x in vec], dtype=object).reshape(r, r)
        out[:, a, :] = mat.T
    return out


@pytest.mark.parametrize("r", range(2, 7))
def test_shift_witness_block_structure_and_determinant(r):
    """prop:shift: Pi(S_y) is block diagonal up to permutation, blocks y_(u-a) y_(u-a+b); det factors."""
    rng = np.random.default_rng(r)
    for m in range(1, r + 1):
        y = rng.integers(1, 50, size=r)
        core = shift_witness(m, r, y)
        pi = pair_matrix(core)  # rows (alpha, a) -> alpha * m + a, columns (b, gamma) -> b * r + gamma
        blocks = []
        for u in range(r):
            rows = [((u - a) % r) * m + a for a in range(m)]           # equation (a, i = u - a)
            cols = [b * r + (u + b) % r for b in range(m)]             # unknown c_b(u + b)
            block = pi[np.ix_(rows, cols)]
            expected = np.array([[y[(u - a) % r] * y[(u - a + b) % r] for b in range(m)] for a in range(m)])
            np.testing.assert_array_equal(block, expected)
            blocks.append((rows, cols))
        all_rows = sorted(x for rows, _ in blocks for x in rows)
        all_cols = sorted(x for _, cols in blocks for x in cols)
        assert all_rows == list(range(r * m)) and all_cols == list(range(r * m))
        mask = np.zeros_like(pi, dtype=bool)
        for rows, cols in blocks:
            mask[np.ix_(rows, cols)] = True
        assert not pi[~mask].any()  # nothing outside the blocks
        # T_u = I at y = e_u, so det T_u is a non-zero polynomial; here a generic-looking y works
        toeplitz = [np.array([[y[(u + b - a) % r] for b in range(m)] for a in range(m)]) for u in range(r)]
        assert all(exact_det(t) != 0 for t in toeplitz)
        assert gf_p_rank(pi % P, P) == r * m
        for u in range(r):
            unit = np.eye(r, dtype=np.int64)[u]
            t_unit = np.array([[unit[(u + b - a) % r] for b in range(m)] for a in range(m)])
            np.testing.assert_array_equal(t_unit, np.eye(m, dtype=np.int64))


def test_a_degenerate_shift_weight_is_singular():
    """prop:shift needs generic y: constant y (commuting cyclic shifts) gives a singular Pi for m >= 2."""
    r = 4
    for m in range(2, r + 1):
        core = shift_witness(m, r, np.ones(r, dtype=np.int64))
        assert gf_p_rank(pair_matrix(core) % P, P) < r * m


@pytest.mark.parametrize("r", range(2, 6))
def test_duality_and_the_range_near_r_squared(r):
    """lem:duality and cor:codim: the dual (G^perp)^T of a good span is good; n = r^2 - m for m <= r."""
    rng = np.random.default_rng(10 + r)
    for m in range(1, r + 1):
        core = shift_witness(m, r, rng.integers(1, 50, size=r))
        assert gf_p_rank(pair_matrix(core) % P, P) == r * m
        dual = dual_core(core)
        n = dual.shape[1]
        assert n == r * r - m
        assert exact_rank(dual.transpose(1, 0, 2).reshape(n, r * r)) == n  # independent slices
        # the displayed description of cor:codim: sum_i y_i X(i + a, i) = 0 for a < m
        y = [int(core[i, 0, i]) for i in range(r)]
        for b in range(n):
            for a in range(m):
                assert sum(y[i] * dual[(i + a) % r, b, i] for i in range(r)) == 0
        assert gf_p_rank(mod_p(pair_matrix(dual)), P) == r * n
    # a bad span has a bad dual: matrix units on a non-closed support (test_matrix_unit_slices_count_walks)
    core = np.zeros((r, 2, r), dtype=np.int64)
    core[0, 0, 1] = core[1, 1, 0] = 1
    dual = dual_core(core)
    assert gf_p_rank(pair_matrix(core) % P, P) < 2 * r
    assert gf_p_rank(mod_p(pair_matrix(dual)), P) < r * dual.shape[1]


@pytest.mark.parametrize("n,r,d", [(3, 2, 4), (3, 2, 5), (6, 3, 4), (7, 3, 4), (8, 3, 5), (13, 4, 4)])
def test_codim_witness_reaches_the_min_cut(n, r, d):
    """cor:codim with thm:pair: the dual shift witness, with identity boundary cores, has rank c_min."""
    m = r * r - n
    y = np.arange(2, r + 2)
    core = shift_witness(m, r, y)
    dual = np.array(dual_core(core), dtype=np.int64)
    first, last = boundary_identity(n, r)
    assert unfolding_rank_mod_p(TensorTrain([first] + [dual] * (d - 2) + [last])) == \
        odd_even_min_cut_bound(n, r, d)


@pytest.mark.parametrize("r", range(2, 6))
def test_cyclic_diagonal_slices_with_generic_weights(r):
    """conj:mincut (discussion): slices on cyclic diagonals (slice a on diagonal a mod r, several per
    diagonal when n > r) with pseudo-random weights give a non-singular Pi for every n <= r^2 -- the
    evidence quoted in the note, not a proof. Pi then splits into r blocks of size n (prop:shift's
    decomposition): block u has entries delta_b(u - k_a) delta_a(u - k_a + k_b)."""
    rng = np.random.default_rng(20 + r)
    for n in range(1, r * r + 1):
        diag = [a % r for a in range(n)]
        weights = rng.integers(1, 10 ** 4, size=(n, r))
        core = np.zeros((r, n, r), dtype=np.int64)
        for a, i in itertools.product(range(n), range(r)):
            core[i, a, (i + diag[a]) % r] = weights[a, i]
        pi = pair_matrix(core)
        for u in range(r):  # the block structure used in the discussion
            rows = [((u - diag[a]) % r) * n + a for a in range(n)]
            cols = [b * r + (u + diag[b]) % r for b in range(n)]
            expected = np.array([[weights[b, (u - diag[a]) % r] * weights[a, (u - diag[a] + diag[b]) % r]
                                  for b in range(n)] for a in range(n)])
            np.testing.assert_array_equal(pi[np.ix_(rows, cols)], expected)
        assert gf_p_rank(pi % P, P) == r * n, (n, r)


# ---------------------------------------------------------------------------------------------
# prop:diagonal (r < n < 2r) and cor:codim (r^2 - 2r < n < r^2 by duality)
# ---------------------------------------------------------------------------------------------

def diagonal_witness(n, r, weights):
    """prop:diagonal (ii): c_p on diagonal -p for every p, e_p on diagonal -p for p < f = n - r.
    Returns the core (shape (r, n, r)) and the diagonals k_a."""
    f = n - r
    diagonals = [(-p) % r for p in range(r)] + [(-p) % r for p in range(f)]
    core = np.zeros((r, n, r), dtype=np.int64)
    for a, i in itertools.product(range(n), range(r)):
        core[i, a, (i + diagonals[a]) % r] = weights[a][i]
    return core, diagonals


def permutations_with_the_same_monomial(positions, pi, r):
    """All permutations with the monomial of pi in det M_0 (prop:diagonal's proof): for each slice x
    the multiset {rho(pi^-1(x)), rho(x) - rho(pi(x))} (mod r) must agree. Backtracking search."""
    n = len(positions)
    inv = [0] * n
    for x in range(n):
        inv[pi[x]] = x
    target = [sorted(((positions[inv[x]]) % r, (positions[x] - positions[pi[x]]) % r)) for x in range(n)]
    found, image, used = [], [None] * n, [False] * n

    def extend(x):
        if x == n:
            pre = [0] * n
            for y in range(n):
                pre[image[y]] = y
            if all(sorted((positions[pre[y]] % r, (positions[y] - positions[image[y]]) % r)) == target[y]
                   for y in range(n)):
                found.append(tuple(image))
            return
        for y in range(n):
            if not used[y] and (positions[x] - positions[y]) % r in target[x]:
                image[x], used[y] = y, True
                extend(x + 1)
                used[y] = False

    extend(0)
    return found


@pytest.mark.parametrize("r", range(2, 6))
def test_diagonal_witness_monomial_is_unique(r):
    """prop:diagonal (ii): pi_0 (c_p -> c_(p+1), e_p fixed) is the only permutation with its monomial."""
    for n in range(r + 1, 2 * r):
        f = n - r
        positions = list(range(r)) + list(range(f))  # rho_a = -k_a
        pi0 = [(p + 1) % r for p in range(r)] + [r + p for p in range(f)]
        assert permutations_with_the_same_monomial(positions, pi0, r) == [tuple(pi0)], (n, r)


@pytest.mark.parametrize("r", range(2, 8))
def test_diagonal_witness_is_nonsingular(r):
    """prop:diagonal: block structure (i) and, for pseudo-random weights, Pi non-singular (ii)."""
    rng = np.random.default_rng(40 + r)
    for n in range(r + 1, 2 * r):
        weights = rng.integers(1, 10 ** 4, size=(n, r))
        core, diagonals = diagonal_witness(n, r, weights)
        pi = pair_matrix(core)
        for u in range(r):
            rows = [((u - diagonals[a]) % r) * n + a for a in range(n)]
            cols = [b * r + (u + diagonals[b]) % r for b in range(n)]
            expected = np.array([[weights[b][(u - diagonals[a]) % r] * weights[a][(u - diagonals[a] + diagonals[b]) % r]
                                  for b in range(n)] for a in range(n)])
            np.testing.assert_array_equal(pi[np.ix_(rows, cols)], expected)
        assert gf_p_rank(pi % P, P) == r * n, (n, r)


@pytest.mark.parametrize("r", range(3, 6))
def test_duals_of_diagonal_witnesses(r):
    """cor:codim: for r^2 - 2r < n < r^2 - r the dual (span^perp)^T of a diagonal witness is good."""
    rng = np.random.default_rng(60 + r)
    for m in range(r + 1, 2 * r):
        core, _ = diagonal_witness(m, r, rng.integers(1, 100, size=(m, r)))
        assert gf_p_rank(pair_matrix(core) % P, P) == r * m
        dual = dual_core(core)
        n = dual.shape[1]
        assert n == r * r - m and r * r - 2 * r < n < r * r - r
        assert gf_p_rank(mod_p(pair_matrix(dual)), P) == r * n
