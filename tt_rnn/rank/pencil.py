"""Exact lower bound on the REAL CP rank from a ``2 x m x m`` pencil with non-real eigenvalues.

If a reshaping of ``X`` into three modes is a real pencil ``(A, B)`` of ``m x m`` matrices with
``A`` invertible and ``A^{-1} B`` has a non-real eigenvalue, the rank over R is ``>= m + 1``
(Ja'Ja' [1]_; for ``2 x 2 x 2`` this is Cayley's hyperdeterminant being negative, de Silva and
Lim [2]_). Everything is exact: integer determinants (Bareiss), rational interpolation and a
Sturm sequence.

**Field.** The bound holds for the real rank only. Over C every eigenvalue is "real", and
``Re((e1 + i e2)^{(x)3})`` has real rank 3 (certified here) but complex rank 2. The condition
(a non-real eigenvalue) is open, not Zariski-open: it holds on a set of positive measure, not on
almost every point of a family (:func:`pencil_certificate_fraction` measures that set's share).

References
----------
.. [1] J. Ja'Ja', "Optimal evaluation of pairs of bilinear forms", SIAM J. Comput. 8(3), 1979.
.. [2] V. de Silva, L.-H. Lim, "Tensor rank and the ill-posedness of the best low-rank
       approximation problem", SIAM J. Matrix Anal. Appl. 30(3), 2008.
.. [3] C. Sturm, "Memoire sur la resolution des equations numeriques", 1835 (Sturm sequences;
       see e.g. Basu, Pollack, Roy, *Algorithms in Real Algebraic Geometry*, Springer, 2006).
"""

from __future__ import annotations

import itertools
import math
import time
from fractions import Fraction

import numpy as np

from ..tt import random_tt
from ._checks import _to_numpy
from .gfp import _is_integer_array


def _int_det(matrix: list[list[int]]) -> int:
    """Exact determinant of an integer matrix (Bareiss fraction-free elimination)."""
    a = [list(map(int, row)) for row in matrix]
    m = len(a)
    sign, prev = 1, 1
    for k in range(m - 1):
        if a[k][k] == 0:
            swap = next((i for i in range(k + 1, m) if a[i][k] != 0), None)
            if swap is None:
                return 0
            a[k], a[swap] = a[swap], a[k]
            sign = -sign
        for i in range(k + 1, m):
            for j in range(k + 1, m):
                a[i][j] = (a[i][j] * a[k][k] - a[i][k] * a[k][j]) // prev
        prev = a[k][k]
    return sign * a[m - 1][m - 1]


def _poly_from_values(xs: list[int], ys: list[int]) -> list[Fraction]:
    """Coefficients (lowest degree first) of the interpolating polynomial, exactly."""
    coeffs = [Fraction(0)] * len(xs)
    for i, (xi, yi) in enumerate(zip(xs, ys)):
        basis = [Fraction(1)]
        denom = 1
        for j, xj in enumerate(xs):
            if j == i:
                continue
            basis = [Fraction(0)] + basis  # multiply by x
            for t in range(len(basis) - 1):
                basis[t] -= xj * basis[t + 1]
            denom *= xi - xj
        for t, c in enumerate(basis):
            coeffs[t] += Fraction(yi) * c / denom
    while len(coeffs) > 1 and coeffs[-1] == 0:
        coeffs.pop()
    return coeffs


def _poly_rem(a: list[Fraction], b: list[Fraction]) -> list[Fraction]:
    a = list(a)
    while len(a) >= len(b) and any(a):
        factor = a[-1] / b[-1]
        shift = len(a) - len(b)
        for i, c in enumerate(b):
            a[shift + i] -= factor * c
        a.pop()
        while len(a) > 1 and a[-1] == 0:
            a.pop()
    return a or [Fraction(0)]


def _sign_changes(values) -> int:
    signs = [v > 0 for v in values if v != 0]
    return sum(1 for s, t in zip(signs, signs[1:]) if s != t)


def _count_distinct_real_roots(poly: list[Fraction]) -> tuple[int, bool]:
    """(number of distinct real roots, squarefree?) by a Sturm sequence (exact arithmetic)."""
    deriv = [c * k for k, c in enumerate(poly)][1:] or [Fraction(0)]
    seq = [poly, deriv]
    while len(seq[-1]) > 1 or seq[-1][0] != 0:
        rem = _poly_rem(seq[-2], seq[-1])
        if len(rem) == 1 and rem[0] == 0:
            break
        seq.append([-c for c in rem])
    squarefree = len(seq[-1]) == 1  # gcd(p, p') is a non-zero constant
    at_minus_inf = [c[-1] * (-1) ** (len(c) - 1) for c in seq]
    at_plus_inf = [c[-1] for c in seq]
    return _sign_changes(at_minus_inf) - _sign_changes(at_plus_inf), squarefree


def pencil_lower_bound(tensor, *, max_m: int = 32, max_tries: int = 128):
    """Exact real-rank certificate ``>= m + 1`` from a ``2 x m x m`` pencil reshaping, if any.

    For every mode ``k`` of size 2 and every balanced split of the other modes into row and
    column groups of equal total size ``m``, the tensor is reshaped into a pencil
    ``(A, B) = (X[..i_k=0..], X[..i_k=1..])`` of ``m x m`` matrices. Reshaping into fewer modes
    cannot raise the CP rank. If ``det(A) != 0`` and the characteristic polynomial
    ``det(B - lambda A)`` has a non-real root, the real rank is ``>= m + 1``: a decomposition
    with ``m`` terms ``A = U diag(alpha) V^T``, ``B = U diag(beta) V^T`` (``U, V`` invertible as
    ``A`` is) would make ``A^{-1} B = V^{-T} diag(beta / alpha) V^T`` diagonalisable with real
    eigenvalues ([4]_; for ``2 x 2 x 2`` this is Cayley's hyperdeterminant ``< 0`` [5]_).

    Everything is exact: integer determinants (Bareiss), interpolation over the rationals and a
    Sturm sequence (a squarefree polynomial of degree ``m`` with fewer than ``m`` distinct real
    roots has a non-real root).

    Parameters
    ----------
    tensor : integer tensor (integer dtype, or integral floats with ``|x| < 2^53``)
    max_m : int
        Largest pencil size tried (the exact arithmetic is ``O(m^4)`` big-integer operations).
    max_tries : int
        At most this many reshapings are examined (each costs ``m + 2`` exact determinants).

    Returns
    -------
    dict or None
        ``{"bound": m + 1, "field": "real", "mode": k, "row_modes": ..., "col_modes": ...,
        "m": m, "real_roots": ...}`` for the first certifying reshaping, or ``None``. The bound
        is on the rank over R only (see the module docstring).
    """
    x = _to_numpy(tensor)
    if x.ndim < 2:
        raise ValueError(f"pencil_lower_bound needs a tensor of order >= 2, got shape {x.shape}")
    if int(max_m) < 2 or int(max_tries) < 1:
        raise ValueError(f"need max_m >= 2 and max_tries >= 1, got max_m = {max_m}, "
                         f"max_tries = {max_tries}")
    if not _is_integer_array(x):
        raise ValueError("pencil_lower_bound needs an integer tensor (exact arithmetic): an integer "
                         "dtype, or integral floats with |x| < 2^53")
    return _pencil_lower_bound(x, max_m=int(max_m), max_tries=int(max_tries))


def _pencil_lower_bound(x: np.ndarray, *, max_m: int = 32, max_tries: int = 128):
    """:func:`pencil_lower_bound` of a checked integer numpy tensor of order ``>= 2``."""
    d = x.ndim
    tries = 0
    xi = np.asarray(np.round(x)).astype(object) if not np.issubdtype(x.dtype, np.integer) \
        else x.astype(object)
    for k in range(d):
        if x.shape[k] != 2:
            continue
        others = [j for j in range(d) if j != k]
        total = int(np.prod([x.shape[j] for j in others]))
        m = math.isqrt(total)
        if m * m != total or m > max_m or m < 2:
            continue
        for size in range(1, len(others)):
            for rows in itertools.combinations(others, size):
                if int(np.prod([x.shape[j] for j in rows])) != m or others[0] not in rows:
                    continue
                cols = [j for j in others if j not in rows]
                perm = [k] + list(rows) + cols
                slices = np.transpose(xi, perm).reshape(2, m, m)
                a = slices[0].tolist()
                b = slices[1].tolist()
                if tries >= max_tries:
                    return None
                tries += 1
                if _int_det(a) == 0:
                    continue
                lambdas = list(range(m + 1))
                values = [_int_det([[bij - lam * aij for aij, bij in zip(ra, rb)]
                                    for ra, rb in zip(a, b)]) for lam in lambdas]
                poly = _poly_from_values(lambdas, values)
                n_real, squarefree = _count_distinct_real_roots(poly)
                if squarefree and n_real < m:
                    return {"bound": m + 1, "field": "real", "mode": k, "row_modes": list(rows),
                            "col_modes": cols, "m": m, "real_roots": n_real}
    return None




def pencil_certificate_fraction(n: int, r: int, d: int, samples: int, *, seed: int = 0,
                                integer_range: int = 3, shared: bool = True) -> dict:
    """Share of random integer points of :math:`M^{eq}_{n,r}` that the pencil certificate covers.

    Draws ``samples`` integer TT tensors (:func:`tt_rnn.tt.random_tt` with seeds
    ``[seed, 0], [seed, 1], ...``) and counts those where :func:`pencil_lower_bound` certifies
    real rank ``>= m + 1``. Because the condition is open but not Zariski-open, this share is
    typically strictly between 0 and 1: the pencil bound is not an almost-everywhere statement.

    Returns
    -------
    dict
        ``n, r, d, samples, certified, fraction, bound`` (the largest bound seen), ``time_s``.
    """
    if int(samples) < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    start = time.perf_counter()
    hits, bound = 0, None
    for j in range(int(samples)):
        rng = np.random.default_rng([int(seed), j])
        x = random_tt(n, r, d, shared=shared, seed=rng, integer=True,
                      integer_range=integer_range).to_tensor()
        cert = pencil_lower_bound(x)
        if cert is not None:
            hits += 1
            bound = cert["bound"] if bound is None else max(bound, cert["bound"])
    return dict(n=int(n), r=int(r), d=int(d), shared=bool(shared), samples=int(samples),
                certified=hits, fraction=hits / int(samples), bound=bound,
                time_s=time.perf_counter() - start)
