"""Exact lower bound ``CP rank >= N + 1`` over C (and R) from the uniqueness of a pencil decomposition.

Group the modes of ``X`` as one mode ``k`` of size 2, a set ``S`` of modes and the rest ``S^c``,
with ``prod_{S} n = prod_{S^c} n = N``: a pencil of two ``N x N`` matrices (slices ``X_0, X_1``).
Take ``A, B`` two independent combinations of the slices (a change of basis of mode ``k``, which
keeps the CP rank). If ``A`` is invertible and ``det(B - lambda A)`` has ``N`` distinct roots,
the ``N``-term decomposition of the pencil is **unique** (Jennrich's theorem, Harshman [1]_;
Kruskal [2]_): every ``N``-term decomposition has ``A = U D_alpha V^T``, ``B = U D_beta V^T`` with
``U, V`` invertible, so ``V^{-T} e_t`` spans ``ker(B - lambda_t A)`` and the column ``u_t`` of
``U`` is proportional to ``A z`` for ``z in ker(B - lambda_t A)`` (and ``v_t`` to ``A^T w`` for
``w`` in the left kernel). A ``d``-way decomposition with ``N`` terms would group into such a
pencil decomposition with every ``u_t`` a rank-one tensor of the modes ``S``; so **one eigenvector
that is not rank-one (as a tensor of the modes of S) proves CP rank >= N + 1**, over C and hence
over R. (The flattening gives ``>= N``.) This lifts the complex lower bound above every
flattening at odd ``d`` for ``n = 2``, where the best flattening has rank ``N = 2^{(d-1)/2}``.

**Exactness.** ``det A != 0`` (Bareiss) and the squarefreeness of the characteristic polynomial
``chi(lambda) = det(B - lambda A)`` (a Sturm/Euclid gcd over Q: distinct roots over C) are exact.
The eigenvector is checked modulo a prime ``q`` that does not divide the leading coefficient
``(-1)^N det A`` and at which ``chi`` has a root ``lambda_0``: some irreducible primitive factor
``f`` of ``chi`` has ``f(lambda_0) = 0 mod q`` (Gauss's lemma), so ``lambda -> lambda_0`` is a
ring map ``Z[lambda] -> GF(q)`` for a complex root ``lambda`` of ``f``. The column ``j`` of
``adj(B - lambda A)`` lies in ``Z[lambda]^N`` and reduces to the column of
``adj(B - lambda_0 A) mod q``, which is ``c_j z_0`` with ``z_0`` spanning the kernel mod ``q``
when that kernel is one-dimensional. A ``2 x 2`` minor of a flattening of ``A z_0`` that is
non-zero mod ``q`` is the image of the same minor of ``A adj(B - lambda A)[:, j]`` (for a ``j``
with ``c_j != 0``), which is therefore non-zero in ``Z[lambda]`` -- hence at the complex
eigenvalue ``lambda``, whose eigenvector (``lambda`` is simple) it is. No floating point is used.

References
----------
.. [1] R. A. Harshman, "Foundations of the PARAFAC procedure", UCLA Working Papers in Phonetics
       16, 1970 (Jennrich's uniqueness theorem).
.. [2] J. B. Kruskal, "Three-way arrays: rank and uniqueness of trilinear decompositions",
       Linear Algebra Appl. 18(2), 1977.
.. [3] J. von zur Gathen, J. Gerhard, *Modern Computer Algebra*, 3rd ed., Cambridge, 2013
       (Gauss's lemma, reduction modulo primes).
"""

from __future__ import annotations

import itertools
import math
import time
from fractions import Fraction

import numpy as np

from ._checks import _is_prime, _to_numpy
from .gfp import _is_integer_array
from .pencil import _count_distinct_real_roots, _int_det, _poly_from_values

#: The primes tried for the eigenvector check: the largest below this bound, downwards.
EIGEN_PRIME_START = 2 ** 16
#: How many primes are tried per pencil before giving up on it.
EIGEN_PRIME_TRIES = 40


def _eigen_primes(count: int, start: int = EIGEN_PRIME_START) -> list[int]:
    out, q = [], start - 1
    while len(out) < count:
        if _is_prime(q):
            out.append(q)
        q -= 1
    return out


def _nullspace_mod(matrix, q: int) -> list[list[int]]:
    """Basis of the right kernel of an integer matrix over GF(q) (python ints, exact)."""
    a = [[int(v) % q for v in row] for row in matrix]
    rows, cols = len(a), len(a[0])
    pivots, r = [], 0
    for c in range(cols):
        piv = next((i for i in range(r, rows) if a[i][c]), None)
        if piv is None:
            continue
        a[r], a[piv] = a[piv], a[r]
        inv = pow(a[r][c], q - 2, q)
        a[r] = [v * inv % q for v in a[r]]
        for i in range(rows):
            if i != r and a[i][c]:
                f = a[i][c]
                a[i] = [(v - f * w) % q for v, w in zip(a[i], a[r])]
        pivots.append(c)
        r += 1
        if r == rows:
            break
    free = [c for c in range(cols) if c not in pivots]
    basis = []
    for fcol in free:
        vec = [0] * cols
        vec[fcol] = 1
        for i, pc in enumerate(pivots):
            vec[pc] = (-a[i][fcol]) % q
        basis.append(vec)
    return basis


def _rank_one_violation(vector, shape, q: int):
    """``(mode, (i, j), (k, l))`` of a ``2 x 2`` minor, non-zero mod ``q``, of a flattening of
    ``vector`` reshaped to ``shape`` (mode vs the rest), or ``None`` if every flattening has
    rank <= 1 mod q."""
    t = np.array([int(v) % q for v in vector], dtype=object).reshape(shape)
    for mode in range(len(shape)):
        mat = np.moveaxis(t, mode, 0).reshape(shape[mode], -1)
        nz = [(i, j) for i in range(mat.shape[0]) for j in range(mat.shape[1]) if mat[i, j]]
        if not nz:
            return None                        # the zero vector: no information
        i, j = nz[0]
        for k in range(mat.shape[0]):
            for l in range(mat.shape[1]):
                if (mat[i, j] * mat[k, l] - mat[i, l] * mat[k, j]) % q:
                    return mode, (i, j), (k, l)
    return None


def _charpoly(a, b) -> list[int]:
    """Integer coefficients (lowest first) of ``det(B - lambda A)``, exactly."""
    m = len(a)
    lambdas = list(range(m + 1))
    values = [_int_det([[bij - lam * aij for aij, bij in zip(ra, rb)] for ra, rb in zip(a, b)])
              for lam in lambdas]
    coeffs = _poly_from_values(lambdas, values)
    if any(c.denominator != 1 for c in coeffs):
        raise AssertionError("characteristic polynomial of an integer pencil is not integral")
    return [int(c) for c in coeffs] + [0] * (m + 1 - len(coeffs))


def _roots_mod(coeffs: list[int], q: int) -> list[int]:
    """All roots in GF(q) of the integer polynomial ``coeffs`` (lowest first), by evaluation."""
    xs = np.arange(q, dtype=np.int64)
    acc = np.zeros(q, dtype=np.int64)
    for c in reversed(coeffs):
        acc = (acc * xs + (c % q)) % q
    return [int(v) for v in np.flatnonzero(acc == 0)]


def _certify_pencil(a, b, chi, row_shape, col_shape, primes):
    """Certificate dict for one invertible pencil with distinct eigenvalues, or ``None``.

    ``chi`` is ``det(B - lambda A)`` (:func:`_charpoly`), squarefree over Q.
    """
    m = len(a)
    lead = chi[m]
    for q in primes:
        if lead % q == 0:
            continue
        for lam0 in _roots_mod(chi, q):
            mat = [[(bij - lam0 * aij) % q for aij, bij in zip(ra, rb)] for ra, rb in zip(a, b)]
            right = _nullspace_mod(mat, q)
            if len(right) != 1:
                continue                      # kernel mod q not one-dimensional: no info here
            left = _nullspace_mod([list(col) for col in zip(*mat)], q)
            z, w = right[0], left[0]
            u = [sum(aij * zj for aij, zj in zip(row, z)) % q for row in a]
            v = [sum(a[i][j] * w[i] for i in range(m)) % q for j in range(m)]
            for side, vec, shape in (("rows", u, row_shape), ("columns", v, col_shape)):
                hit = _rank_one_violation(vec, shape, q)
                if hit is not None:
                    return dict(prime=int(q), eigenvalue_mod_prime=int(lam0), side=side,
                                eigenvector_mod_prime=[int(t) for t in vec],
                                eigenvector_shape=list(shape), minor_mode=int(hit[0]),
                                minor_entries=[list(hit[1]), list(hit[2])],
                                charpoly=[str(c) for c in chi])
    return None


def pencil_uniqueness_lower_bound(tensor, *, max_m: int = 32, max_tries: int = 64,
                                  n_primes: int = EIGEN_PRIME_TRIES) -> dict | None:
    """Exact certificate ``CP rank >= N + 1`` (over C and R) from a unique pencil decomposition.

    Tries every mode ``k`` of size 2 and every split of the other modes into two groups of equal
    size ``N`` (``2 <= N <= max_m``); the pencil slices are combined as ``(A, B) = (X_0, X_1)``,
    ``(X_1, X_0)`` or ``(X_0 + X_1, X_1)``, the first with ``det A != 0``. See the module
    docstring for the argument and why it is exact.

    Parameters
    ----------
    tensor : integer tensor (integer dtype, or integral floats with ``|x| < 2^53``)
    max_m : int
        Largest pencil size ``N``.
    max_tries : int
        At most this many groupings are examined.
    n_primes : int
        Primes tried per pencil for the eigenvector check.

    Returns
    -------
    dict or None
        ``{"bound": N + 1, "field": "complex", "mode", "row_modes", "col_modes", "N",
        "slices" ("X0,X1" | "X1,X0" | "X0+X1,X1"), "prime", "eigenvalue_mod_prime", "side",
        "eigenvector_mod_prime", "minor_mode", "minor_entries", "charpoly", "groupings_tried",
        "time_s"}`` for the first certifying grouping, or ``None``.
    """
    start = time.perf_counter()
    x = _to_numpy(tensor)
    if x.ndim < 3:
        raise ValueError(f"pencil_uniqueness_lower_bound needs a tensor of order >= 3, got shape "
                         f"{x.shape}")
    if int(max_m) < 2 or int(max_tries) < 1 or int(n_primes) < 1:
        raise ValueError(f"need max_m >= 2, max_tries >= 1, n_primes >= 1, got {max_m}, "
                         f"{max_tries}, {n_primes}")
    if not _is_integer_array(x):
        raise ValueError("pencil_uniqueness_lower_bound needs an integer tensor (exact "
                         "arithmetic): an integer dtype, or integral floats with |x| < 2^53")
    return _pencil_uniqueness_lower_bound(x, max_m=int(max_m), max_tries=int(max_tries),
                                          n_primes=int(n_primes), start=start)


def _pencil_uniqueness_lower_bound(x: np.ndarray, *, max_m: int = 32, max_tries: int = 64,
                                   n_primes: int = EIGEN_PRIME_TRIES,
                                   start: float | None = None) -> dict | None:
    """:func:`pencil_uniqueness_lower_bound` of a checked integer numpy tensor of order ``>= 3``."""
    start = time.perf_counter() if start is None else start
    xi = x.astype(object) if np.issubdtype(x.dtype, np.integer) else \
        np.vectorize(int, otypes=[object])(x)
    primes = _eigen_primes(int(n_primes))
    d, tries = x.ndim, 0
    for k in range(d):
        if x.shape[k] != 2:
            continue
        others = [j for j in range(d) if j != k]
        total = math.prod(x.shape[j] for j in others)
        m = math.isqrt(total)
        if m * m != total or not 2 <= m <= max_m:
            continue
        for size in range(1, len(others)):
            for rows in itertools.combinations(others, size):
                if math.prod(x.shape[j] for j in rows) != m or others[0] not in rows:
                    continue
                cols = [j for j in others if j not in rows]
                if tries >= max_tries:
                    return None
                tries += 1
                pair = _invertible_pencil(np.transpose(xi, [k] + list(rows) + cols).reshape(2, m, m))
                if pair is None:
                    continue
                name, a, b = pair
                chi = _charpoly(a, b)
                _, squarefree = _count_distinct_real_roots([Fraction(c) for c in chi])
                if not squarefree:                   # repeated eigenvalue: no uniqueness
                    continue
                cert = _certify_pencil(a, b, chi, [x.shape[j] for j in rows],
                                       [x.shape[j] for j in cols], primes)
                if cert is not None:
                    cert.update(bound=m + 1, field="complex", mode=k, row_modes=list(rows),
                                col_modes=cols, N=m, slices=name, groupings_tried=tries,
                                time_s=time.perf_counter() - start)
                    return cert
    return None


def _invertible_pencil(slices) -> tuple[str, list, list] | None:
    """``(name, A, B)``: the first of the slice pairs (X0, X1), (X1, X0), (X0 + X1, X1) of a
    ``2 x m x m`` integer pencil whose first matrix is invertible (exact determinant), else None."""
    x0, x1 = slices[0].tolist(), slices[1].tolist()
    x01 = (slices[0] + slices[1]).tolist()
    for name, a, b in (("X0,X1", x0, x1), ("X1,X0", x1, x0), ("X0+X1,X1", x01, x1)):
        if _int_det(a) != 0:
            return name, a, b
    return None


def pencil_diagonalisable_upper_bound(tensor) -> dict | None:
    """Exact certificate ``real CP rank <= N`` of a 3-way ``2 x N x N`` tensor, or ``None``.

    If a slice combination ``A`` is invertible and ``det(B - lambda A)`` has ``N`` distinct real
    roots (exact Sturm count), ``A^{-1} B = P diag(lambda) P^{-1}`` with ``P`` real, and
    ``X = sum_t (e_0 + lambda_t e_1) (x) (A p_t) (x) (P^{-T} e_t)``: ``N`` real rank-one terms
    (Ja'Ja' [1]_ of :mod:`tt_rnn.rank.pencil`). With the flattening bound ``N`` this determines
    the real and complex CP rank. Only order 3 qualifies: for ``d > 3`` the factors would also
    have to be rank-one tensors of the grouped modes, which this does not check.

    Returns
    -------
    dict or None
        ``{"bound": N, "field": "real", "mode", "N", "slices", "charpoly", "real_roots"}``.
    """
    x = _to_numpy(tensor)
    if x.ndim != 3 or not _is_integer_array(x):
        return None
    return _pencil_diagonalisable_upper_bound(x)


def _pencil_diagonalisable_upper_bound(x: np.ndarray) -> dict | None:
    """:func:`pencil_diagonalisable_upper_bound` of a checked integer numpy tensor of order 3."""
    xi = x.astype(object) if np.issubdtype(x.dtype, np.integer) else \
        np.vectorize(int, otypes=[object])(x)
    for k in range(3):
        others = [j for j in range(3) if j != k]
        m = x.shape[others[0]]
        if x.shape[k] != 2 or x.shape[others[1]] != m:
            continue
        pair = _invertible_pencil(np.transpose(xi, [k] + others))
        if pair is None:
            continue
        name, a, b = pair
        chi = _charpoly(a, b)
        n_real, squarefree = _count_distinct_real_roots([Fraction(c) for c in chi])
        if squarefree and n_real == m:
            return dict(bound=int(m), field="real", mode=k, N=int(m), slices=name,
                        charpoly=[str(c) for c in chi], real_roots=int(n_real))
    return None
