"""CP-rank bounds: certified lower bounds from unfoldings, exact-fit upper bounds, border-rank flags.

The CP rank of a tensor ``X`` of order ``d`` is the least ``R`` such that
``X = sum_{t=1}^R a^{(1)}_t (x) ... (x) a^{(d)}_t``. It is NP-hard to compute in general
[1]_, so this module brackets it:

* **Lower bound** (:func:`unfolding_rank`, :func:`best_unfolding_rank`). Every unfolding
  (matricization) of a rank-one tensor has rank one, so ``rank(unfold(X, S)) <= CP rank`` for
  every bipartition ``S | S^c`` of the modes. Numerically the rank of a float matrix is the number
  of singular values ``> rtol * sigma_max`` (documented default :data:`DEFAULT_SVD_RTOL`).
* **Exact certificate** (:func:`gf_p_rank`, :func:`unfolding_rank_mod_p`,
  :func:`certified_unfolding_rank`). For an integer tensor the unfolding is built exactly
  modulo a prime ``p`` and row-reduced over GF(p). A ``k x k`` minor that is non-zero modulo ``p``
  is a non-zero integer, so ``rank_GF(p)(M mod p) <= rank_Q(M) = rank_R(M)``: a proof-grade lower
  bound for that tensor. Because a rank ``>= k`` is the non-vanishing of a polynomial (some
  ``k x k`` minor) in the core entries, the same bound then holds for Lebesgue-almost every point
  of the family the integer cores were drawn from (for :math:`M^{eq}_{n,r}`: shared inner core).
* **Extra certificate for n = 2 pencils** (:func:`pencil_lower_bound`). When a 3-way reshaping of
  ``X`` is a real ``2 x m x m`` pencil ``(A, B)`` with ``A`` invertible and ``A^{-1} B`` has a
  non-real eigenvalue, the real rank is ``>= m + 1`` [4]_, [5]_ (for ``2 x 2 x 2`` this is
  Cayley's hyperdeterminant being negative). Checked exactly (integers, Sturm sequences).
* **Upper bound** (:func:`cp_fit`, :func:`cp_rank_upper_bound`). An exact-fit search over
  increasing rank: ALS (tensorly's :func:`~tensorly.decomposition.parafac` with line search, SVD
  and random initialisations) whose best fits -- together with warm starts from neighbouring ranks
  and fresh random starts -- are refined by a damped Gauss-Newton (Levenberg-Marquardt) solver
  with the analytic Gram matrix ``J^T J`` of the CP model [2]_, [3]_, as in the numerical tensor
  toolboxes (PMF3, N-way, Tensorlab's ``cpd_nls``). A rank counts as *fitted* when the relative
  error ``||X - X_R||_F / ||X||_F <= tol`` (default :data:`DEFAULT_FIT_TOL` ``= 1e-10``, float64)
  **and** the components stay bounded (``kappa <= norm_limit``, see below). Such an upper bound is
  numerical evidence, not a proof.
* **Border rank** (:func:`border_rank_suspected`). Some tensors are limits of rank-``R``
  tensors without having rank ``R`` (the W tensor has rank 3, border rank 2 [1]_). A fit at such a
  rank shows an error that keeps decreasing while the component norms diverge, the error falling
  roughly like a power of the norm ratio ``kappa = max_t prod_k ||a^{(k)}_t|| / ||X||``. Such a
  rank is flagged and never reported as exact.
* **Entry point** :func:`cp_rank_bracket` returns a :class:`RankBracket` ``[lower, upper]``
  with its evidence. ``upper >= lower`` always holds; when they meet the rank is determined (the
  lower end certified or numerical, the upper end numerical, as recorded).

Schema of ``results/rank/generic_unfolding_ranks.json`` (written by the notebook
``estimate_cp_rank_for_random_tensor.ipynb``): a JSON object ``{"schema": ..., "records": [...]}``
whose records are :meth:`UnfoldingCertificate.to_dict` dictionaries -- keys ``n, r, d, shared,
seed, integer_range, row_modes (0-based), unfolding_shape, prime, certified_rank, numerical_rank
(null where skipped), numerical_rtol, max_possible_rank, theorem_bound (q^(d/2), even d only, else null),
khrulkov_bound (min(n, r)^(d/2), even d only), exceeds_theorem, time_s``.

References
----------
.. [1] J. M. Landsberg, *Tensors: Geometry and Applications*, AMS, 2012 (flattenings, border
       rank, the W tensor).
.. [2] G. Tomasi, R. Bro, "A comparison of algorithms for fitting the PARAFAC model",
       Comput. Stat. Data Anal. 50(7), 2006.
.. [3] L. Sorber, M. Van Barel, L. De Lathauwer, "Optimization-based algorithms for tensor
       decompositions: canonical polyadic decomposition, decomposition in rank-(Lr,Lr,1) terms
       and a new generalization", SIAM J. Optim. 23(2), 2013.
.. [4] J. Ja'Ja', "Optimal evaluation of pairs of bilinear forms", SIAM J. Comput. 8(3), 1979.
.. [5] V. de Silva, L.-H. Lim, "Tensor rank and the ill-posedness of the best low-rank
       approximation problem", SIAM J. Matrix Anal. Appl. 30(3), 2008.
.. [6] V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
       ICLR 2018.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Sequence

import numpy as np
import scipy.linalg

from .tt import (TensorTrain, odd_even_row_modes, random_tt, tt_to_tensor, unfold, validate_tt,
                 witness_q)

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

__all__ = [
    "DEFAULT_PRIME", "BLAS_PRIME", "DEFAULT_SVD_RTOL", "DEFAULT_FIT_TOL", "DEFAULT_NORM_LIMIT",
    "MAX_SVD_ENTRIES", "MAX_GFP_ENTRIES", "MAX_FIT_ENTRIES",
    "unfolding_rank", "balanced_bipartitions", "best_unfolding_rank",
    "gf_p_rank", "tt_to_tensor_mod_p", "unfolding_rank_mod_p", "is_integer_tensor",
    "UnfoldingCertificate", "certified_unfolding_rank", "theorem_bound", "khrulkov_bound",
    "pencil_lower_bound", "blas_single_thread",
    "CPFit", "cp_fit", "CPSearch", "generic_rank_estimate", "cp_rank_upper_bound", "border_rank_suspected",
    "RankBracket", "cp_rank_bracket", "w_tensor", "random_cp_tensor",
]

#: Default prime for GF(p) certificates: the Mersenne prime 2^31 - 1. Residues are < 2^31, so the
#: product of two residues is < 2^62 and the difference of two reduced numbers is > -2^31: every
#: intermediate of "multiply, reduce, subtract, reduce" fits in int64 (< 2^63) with no overflow.
DEFAULT_PRIME = 2_147_483_647
#: Prime of the blocked float64 elimination: 2^23 - 15, so that ``64 * (p - 1)^2 + p < 2^53``.
BLAS_PRIME = 8_388_593
#: Second primes, tried when the first gives a rank below the numerical rank (an unlucky prime).
SECOND_PRIME = 2_147_483_629
BLAS_SECOND_PRIME = 8_388_587
#: Numerical rank: singular values ``> rtol * sigma_max`` count. ``None`` means
#: ``max(rows, cols) * eps(float64)``, the convention of ``numpy.linalg.matrix_rank``.
DEFAULT_SVD_RTOL = None
#: An exact fit: relative Frobenius error ``<= 1e-10`` in float64.
DEFAULT_FIT_TOL = 1e-10
#: A fit whose component-norm ratio ``kappa`` exceeds this is degenerate (diverging components).
DEFAULT_NORM_LIMIT = 1e4
#: Size limits (entries of the full tensor) for the three kinds of computation.
MAX_SVD_ENTRIES = 2 ** 24
MAX_GFP_ENTRIES = 2 ** 23
MAX_FIT_ENTRIES = 2 ** 16


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------

def _to_numpy(tensor, name: str = "tensor") -> np.ndarray:
    """numpy view of a numpy array / torch tensor / TensorTrain; raises on bad input."""
    if isinstance(tensor, TensorTrain):
        tensor = tensor.to_tensor()
    if torch is not None and isinstance(tensor, torch.Tensor):
        tensor = tensor.detach().cpu().numpy()
    if not isinstance(tensor, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, torch tensor or TensorTrain, "
                        f"got {type(tensor).__name__}")
    if tensor.dtype == object or not (np.issubdtype(tensor.dtype, np.number)
                                      or tensor.dtype == bool):
        raise TypeError(f"{name} must have a numeric dtype, got {tensor.dtype}")
    if tensor.size == 0:
        raise ValueError(f"{name} is empty (shape {tensor.shape})")
    if np.issubdtype(tensor.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {tensor.dtype}")
    if np.issubdtype(tensor.dtype, np.floating):
        bad = ~np.isfinite(tensor)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} has {int(bad.sum())} non-finite entries "
                             f"(first at index {idx}: {tensor[idx]})")
    return tensor


def _check_size(tensor: np.ndarray, limit: int, method: str) -> None:
    if tensor.size > limit:
        raise ValueError(f"tensor of shape {tensor.shape} has {tensor.size} entries, above the "
                         f"limit {limit} for {method}; pass a smaller tensor or raise the limit")


def _check_prime(p: int) -> int:
    p = int(p)
    if not 2 <= p < 2 ** 31:
        raise ValueError(f"the prime p must satisfy 2 <= p < 2**31 (no int64 overflow), got p = {p}")
    if not _is_prime(p):
        raise ValueError(f"p = {p} is not prime")
    return p


def _is_prime(p: int) -> bool:
    if p < 2:
        return False
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):  # deterministic Miller-Rabin < 3.3e24
        if p % a == 0:
            return p == a
    d, s = p - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in (2, 3, 5, 7, 11, 13, 17):
        x = pow(a, d, p)
        if x in (1, p - 1):
            continue
        for _ in range(s - 1):
            x = x * x % p
            if x == p - 1:
                break
        else:
            return False
    return True


def _row_modes_or_default(ndim: int, row_modes) -> list[int]:
    if ndim < 2:
        raise ValueError(f"need a tensor of order >= 2, got order {ndim}")
    if row_modes is None:
        return odd_even_row_modes(ndim)
    row_modes = [int(m) for m in row_modes]
    if not row_modes or len(row_modes) >= ndim:
        raise ValueError(f"row_modes must be a non-empty proper subset of range({ndim}), "
                         f"got {row_modes}")
    return row_modes


# ---------------------------------------------------------------------------------------------
# Numerical lower bounds: unfolding ranks
# ---------------------------------------------------------------------------------------------

def _numerical_rank(matrix: np.ndarray, rtol=DEFAULT_SVD_RTOL) -> tuple[int, np.ndarray, float]:
    s = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)
    if rtol is None:
        rtol = max(matrix.shape) * np.finfo(np.float64).eps
    if not 0 <= rtol < 1:
        raise ValueError(f"rtol must be in [0, 1), got rtol = {rtol}")
    if s.size == 0 or s[0] == 0:
        return 0, s, float(rtol)
    return int(np.sum(s > rtol * s[0])), s, float(rtol)


def unfolding_rank(tensor, row_modes=None, rtol=DEFAULT_SVD_RTOL, *,
                   return_singular_values: bool = False):
    """Numerical rank of an unfolding, a lower bound on the CP rank.

    Parameters
    ----------
    tensor : numpy.ndarray, torch.Tensor or TensorTrain
        Real tensor of order ``d >= 2``.
    row_modes : sequence of int, optional
        0-based modes indexing the rows; default the odd/even unfolding (rows ``i_1, i_3, ...``
        in the 1-based notation of the proof, i.e. 0-based modes ``0, 2, 4, ...``).
    rtol : float, optional
        Singular values ``sigma_k > rtol * sigma_1`` count towards the rank. ``None`` (default)
        means ``max(rows, cols) * eps`` with ``eps = 2.2e-16`` (``numpy.linalg.matrix_rank``).
    return_singular_values : bool
        Also return the singular values (to judge the gap at the cut-off).

    Returns
    -------
    rank : int
    singular_values : numpy.ndarray, only if ``return_singular_values``

    Notes
    -----
    The unfolding of a rank-one tensor is a rank-one matrix, so the rank of any unfolding is a
    lower bound on the CP rank ([1]_, Sec. 3.4). The floating-point rank is only as reliable as
    the gap in the spectrum at the cut-off; :func:`unfolding_rank_mod_p` is the exact version.
    """
    x = _to_numpy(tensor)
    _check_size(x, MAX_SVD_ENTRIES, "an SVD of an unfolding")
    rows = _row_modes_or_default(x.ndim, row_modes)
    rank, s, _ = _numerical_rank(unfold(x, rows), rtol)
    return (rank, s) if return_singular_values else rank


def balanced_bipartitions(d: int) -> list[tuple[int, ...]]:
    """Row-mode sets of all balanced bipartitions of ``d`` modes, one per unordered pair.

    A bipartition ``S | S^c`` is balanced when ``|S| = floor(d / 2)``. For even ``d`` the pair
    ``{S, S^c}`` is listed once (``S`` contains mode 0); there are ``C(d, d/2) / 2`` for even
    ``d`` and ``C(d, floor(d/2))`` for odd ``d``.
    """
    if d < 2:
        raise ValueError(f"d must be >= 2, got d = {d}")
    k = d // 2
    subsets = itertools.combinations(range(d), k)
    if d % 2 == 0:
        return [s for s in subsets if 0 in s]
    return list(subsets)


def best_unfolding_rank(tensor, rtol=DEFAULT_SVD_RTOL, *, max_partitions: int = 512,
                        include_unbalanced: bool = False):
    """Largest numerical unfolding rank over the balanced bipartitions (when affordable).

    Parameters
    ----------
    tensor : array or TensorTrain
    rtol : float, optional
        See :func:`unfolding_rank`.
    max_partitions : int
        At most this many bipartitions are tried: the odd/even one first, then the balanced ones
        in lexicographic order (all of them when there are fewer than ``max_partitions``).
    include_unbalanced : bool
        Also try every unbalanced bipartition (``2^(d-1) - 1`` in all), within the same budget.

    Returns
    -------
    rank : int
    row_modes : tuple of int
        The bipartition that attains it.
    n_tried : int
        Number of bipartitions examined (== total when exhaustive).
    exhaustive : bool
        Whether every candidate bipartition was examined.
    """
    x = _to_numpy(tensor)
    _check_size(x, MAX_SVD_ENTRIES, "an SVD of an unfolding")
    if max_partitions < 1:
        raise ValueError(f"max_partitions must be >= 1, got {max_partitions}")
    d = x.ndim
    candidates = [tuple(odd_even_row_modes(d))] + [s for s in balanced_bipartitions(d)
                                                  if s != tuple(odd_even_row_modes(d))]
    if include_unbalanced:
        for k in range(1, d // 2):
            candidates += [s for s in itertools.combinations(range(d), k)]
    best, best_modes = -1, None
    tried = 0
    for modes in candidates[:max_partitions]:
        rows = int(np.prod([x.shape[m] for m in modes]))
        if best >= min(rows, x.size // rows):
            tried += 1
            continue  # cannot beat the current best
        rank = unfolding_rank(x, modes, rtol)
        tried += 1
        if rank > best:
            best, best_modes = rank, modes
    return best, tuple(best_modes), tried, tried == len(candidates)


# ---------------------------------------------------------------------------------------------
# Exact certificates over GF(p)
# ---------------------------------------------------------------------------------------------

def is_integer_tensor(tensor) -> bool:
    """True when every entry is an integer of absolute value ``< 2^53`` (exact in float64)."""
    x = _to_numpy(tensor)
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        return bool(np.all(np.abs(x.astype(np.float64)) < 2.0 ** 53))
    return bool(np.all(np.abs(x) < 2.0 ** 53) and np.all(x == np.round(x)))


def _residues(values, p: int) -> np.ndarray:
    """Entries reduced to ``[0, p)`` as int64 (python ints / object arrays reduced exactly)."""
    a = np.asarray(values)
    if a.dtype == object:
        return np.vectorize(lambda v: int(v) % p, otypes=[np.int64])(a)
    if np.issubdtype(a.dtype, np.floating):
        if not (np.all(np.isfinite(a)) and np.all(a == np.round(a)) and np.all(np.abs(a) < 2.0 ** 53)):
            raise ValueError("a GF(p) reduction needs integer entries (|x| < 2^53); got "
                             "non-integer floats")
        a = a.astype(np.int64)
    elif a.dtype == bool:
        a = a.astype(np.int64)
    elif not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"cannot reduce dtype {a.dtype} modulo p")
    return np.mod(a.astype(np.int64), p)


def _mod_float(x: np.ndarray, p: int) -> np.ndarray:
    """Exact ``x mod p`` for integer-valued float64 arrays with ``|x| < 2^53``.

    ``q = floor(x / p)`` is computed in floating point and may be off by one; ``q * p`` and
    ``x - q * p`` are integers below ``2^53``, hence exact, and one correction step each way puts
    the remainder in ``[0, p)``. (``numpy.fmod`` is exact too but several times slower.)
    """
    q = np.floor(x * (1.0 / p))
    q *= p
    r = x - q
    r[r < 0] += p
    r[r >= p] -= p
    return r


def _gf_p_rank_elimination(a: np.ndarray, p: int) -> int:
    """Row reduction with int64 residues (any prime ``p < 2^31``)."""
    m, n = a.shape
    row = 0
    for col in range(n):
        if row == m:
            break
        nz = np.flatnonzero(a[row:, col])
        if nz.size == 0:
            continue
        piv = row + int(nz[0])
        if piv != row:
            a[[row, piv]] = a[[piv, row]]
        inv = pow(int(a[row, col]), p - 2, p)
        pivot_row = (a[row, col:] * inv) % p          # < 2^62 before the reduction
        a[row, col:] = pivot_row
        below = row + 1 + np.flatnonzero(a[row + 1:, col])
        if below.size:
            prod = (a[below, col][:, None] * pivot_row[None, :]) % p
            a[below, col:] = (a[below, col:] - prod) % p
        row += 1
    return row


def _gf_p_rank_blocked(a: np.ndarray, p: int, block: int) -> int:
    """Blocked LU with partial pivoting over GF(p) in float64 (BLAS for the trailing updates).

    Exact as long as every intermediate is an integer below ``2^53``: residues are ``< p``, a
    product of two is ``< p^2`` and a dot product of length ``<= block`` is ``< block * p^2``,
    hence the requirement ``block * (p - 1)^2 + p < 2^53`` (``p < 2^23.5`` for ``block = 64``).
    Columns without a pivot are skipped, so rank-deficient matrices are handled.
    """
    m, n = a.shape
    r, c = 0, 0
    while r < m and c < n:
        c_end = min(c + block, n)
        panel = a[r:, c:c_end]                    # a view: row swaps on `a` show through
        mults = np.zeros((m - r, c_end - c))
        kp = 0
        for j in range(c_end - c):
            if r + kp >= m:
                break
            nz = np.flatnonzero(panel[kp:, j])
            if nz.size == 0:
                continue
            piv = kp + int(nz[0])
            if piv != kp:
                a[[r + kp, r + piv]] = a[[r + piv, r + kp]]
                mults[[kp, piv]] = mults[[piv, kp]]
            inv = pow(int(panel[kp, j]), p - 2, p)
            below = kp + 1 + np.flatnonzero(panel[kp + 1:, j])
            if below.size:
                mult = _mod_float(panel[below, j] * inv, p)
                mults[below, kp] = mult
                panel[below, j:] = _mod_float(
                    panel[below, j:] - _mod_float(mult[:, None] * panel[kp, j:][None, :], p), p)
            kp += 1
        if kp and c_end < n:
            u12 = a[r:r + kp, c_end:]             # forward substitution with the unit L11
            for k in range(1, kp):
                u12[k] = _mod_float(u12[k] - mults[k, :k] @ u12[:k], p)
            if r + kp < m:
                a[r + kp:, c_end:] = _mod_float(a[r + kp:, c_end:] - mults[kp:, :kp] @ u12, p)
        r += kp
        c = c_end
    return r


def gf_p_rank(matrix, p: int | None = None, *, method: str = "auto", block: int = 64) -> int:
    """Rank over the finite field GF(p) of an integer matrix, by exact Gaussian elimination.

    Parameters
    ----------
    matrix : 2-D array of integers (int dtype, integral floats, or python ints in an object array)
    p : int, optional
        A prime. Default: :data:`DEFAULT_PRIME` ``= 2^31 - 1`` for ``method="elimination"``,
        :data:`BLAS_PRIME` ``= 2^23 - 15`` for ``method="blocked"``.
    method : {"auto", "elimination", "blocked"}
        ``"elimination"``: vectorised row reduction with int64 residues, any prime ``< 2^31``.
        ``"blocked"``: blocked LU in float64 with BLAS trailing updates, ~10x faster on
        ``1024 x 1024`` matrices; needs ``block * (p - 1)^2 + p < 2^53``. ``"auto"``: blocked
        when ``p`` allows it (or is None) and ``min(shape) > 128``, else elimination.
    block : int
        Panel width of the blocked method.

    Returns
    -------
    int
        ``rank_GF(p)(matrix mod p)``, which is ``<=`` the rank over the rationals: every
        non-zero ``k x k`` minor modulo ``p`` is a non-zero integer. A proof-grade lower bound.

    Notes
    -----
    Row reduction: for each column a pivot row is found, the pivot is inverted as
    ``pivot^(p-2) mod p`` (Fermat), and multiples of the pivot row are subtracted from the rows
    below. In the int64 method residues lie in ``[0, p)`` with ``p < 2^31``, so a product of two
    residues is ``< 2^62`` and is reduced before the subtraction: no overflow. In the float64
    method all intermediates are integers ``< 2^53`` (see above), hence exact.
    Cost ``O(rows * cols * rank)``.
    """
    if method not in ("auto", "elimination", "blocked"):
        raise ValueError(f"method must be 'auto', 'elimination' or 'blocked', got {method!r}")
    if int(block) < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    shape = np.shape(matrix)
    if len(shape) != 2:
        raise ValueError(f"matrix must be 2-D, got shape {shape}")
    blas_ok = p is None or int(block) * (int(p) - 1) ** 2 + int(p) < 2 ** 53
    if method == "auto":
        method = "blocked" if (blas_ok and min(shape) > 128) else "elimination"
    if method == "blocked" and not blas_ok:
        raise ValueError(f"method='blocked' needs block * (p-1)^2 + p < 2^53 for exact float64 "
                         f"arithmetic; p = {p} is too large for block = {block}")
    if p is None:
        p = BLAS_PRIME if method == "blocked" else DEFAULT_PRIME
    p = _check_prime(p)
    a = _residues(matrix, p)
    if a.shape[0] > a.shape[1]:
        a = a.T
    if method == "blocked":
        return _gf_p_rank_blocked(np.ascontiguousarray(a, dtype=np.float64), p, int(block))
    return _gf_p_rank_elimination(np.ascontiguousarray(a), p)


def tt_to_tensor_mod_p(cores: Sequence, p: int = DEFAULT_PRIME) -> np.ndarray:
    """Full tensor of integer TT cores, exactly modulo ``p``, as int64 residues in ``[0, p)``.

    The contraction runs left to right like :func:`tt_rnn.tt.tt_to_tensor`, but every product is
    reduced modulo ``p`` before it is added (a matrix product of int64 residues would overflow:
    ``r * (p-1)^2`` exceeds ``2^63`` already for ``r = 2``). With ``p < 2^31`` a product of two
    residues is ``< 2^62`` and a sum of two reduced numbers ``< 2^32``, so nothing overflows.
    """
    p = _check_prime(p)
    cores = [c.detach().cpu().numpy() if (torch is not None and isinstance(c, torch.Tensor)) else c
             for c in cores]
    mode_sizes, _ = validate_tt(cores)
    cores = [_residues(c, p) for c in cores]
    left = cores[0]  # (N, r)
    for core in cores[1:]:
        last = core.ndim == 2
        core3 = core[:, :, None] if last else core
        r_prev, n_k, r_k = core3.shape
        flat = core3.reshape(r_prev, n_k * r_k)
        acc = np.zeros((left.shape[0], n_k * r_k), dtype=np.int64)
        for a in range(r_prev):
            acc = (acc + (left[:, a:a + 1] * flat[a:a + 1, :]) % p) % p
        left = acc.reshape(-1, r_k)
    return left.reshape(mode_sizes)


def _primes_for(shape, p):
    """(first prime, fallback prime) for a GF(p) rank of a matrix of this shape."""
    if p is not None:
        p = _check_prime(p)
        return p, (SECOND_PRIME if p != SECOND_PRIME else DEFAULT_PRIME)
    if min(shape) > 128:
        return BLAS_PRIME, BLAS_SECOND_PRIME
    return DEFAULT_PRIME, SECOND_PRIME


def unfolding_rank_mod_p(tensor, row_modes=None, p: int | None = None) -> int:
    """Exact GF(p) rank of an unfolding of an integer tensor (a certified CP-rank lower bound).

    Parameters
    ----------
    tensor : integer array (or integral floats, ``|x| < 2^53``), or TensorTrain with integer
        cores (contracted exactly modulo ``p``, see :func:`tt_to_tensor_mod_p`).
    row_modes : sequence of int, optional
        Default: odd/even unfolding.
    p : int, optional
        Prime ``< 2^31``. Default: :data:`BLAS_PRIME` for unfoldings larger than ``128 x 128``
        (fast blocked elimination), else :data:`DEFAULT_PRIME`.
    """
    if isinstance(tensor, TensorTrain):
        shape = tensor.shape
    else:
        x = _to_numpy(tensor)
        shape = x.shape
        if not is_integer_tensor(x):
            raise ValueError("unfolding_rank_mod_p needs an integer tensor (entries integral and "
                             "|x| < 2^53); use unfolding_rank for float tensors")
    size = int(np.prod(shape))
    if size > MAX_GFP_ENTRIES:
        raise ValueError(f"tensor of shape {tuple(shape)} has {size} entries, above the limit "
                         f"{MAX_GFP_ENTRIES} for GF(p) elimination")
    rows = _row_modes_or_default(len(shape), row_modes)
    n_rows = int(np.prod([shape[m] for m in rows]))
    p, _ = _primes_for((n_rows, size // n_rows), p)
    x = tt_to_tensor_mod_p(tensor.cores, p) if isinstance(tensor, TensorTrain) else _residues(x, p)
    return gf_p_rank(unfold(x, rows), p)


def theorem_bound(n: int, r: int, d: int):
    """``q^(d/2)`` with ``q = min(n, r - 1)`` for even ``d`` (the theorem); ``None`` for odd ``d``."""
    if d % 2:
        return None
    return witness_q(n, r) ** (d // 2)


def khrulkov_bound(n: int, r: int, d: int):
    """``min(n, r)^(d/2)`` for even ``d`` (the bound stated in [6]_); ``None`` for odd ``d``."""
    if d % 2:
        return None
    return min(n, r) ** (d // 2)


@dataclass
class UnfoldingCertificate:
    """Certified (GF(p)) and numerical rank of one unfolding of a random integer TT tensor.

    ``certified_rank`` is a proof-grade lower bound on the rank of the unfolding -- hence on the
    CP rank -- of this tensor, and on the generic unfolding rank over the family (shared or
    distinct inner cores) at this ``(n, r, d)``. ``numerical_rank`` is the float64 SVD rank of
    the same unfolding with relative tolerance ``numerical_rtol`` (``None`` when skipped, see
    ``numerical="auto"`` in :func:`certified_unfolding_rank`).
    """

    n: int
    r: int
    d: int
    shared: bool
    seed: int
    integer_range: int
    row_modes: tuple
    unfolding_shape: tuple
    prime: int
    certified_rank: int
    numerical_rank: int | None
    numerical_rtol: float | None
    max_possible_rank: int
    theorem_bound: int | None
    khrulkov_bound: int | None
    time_s: float

    @property
    def exceeds_theorem(self):
        """True when the certified rank is strictly above ``q^(d/2)`` (None for odd d)."""
        return None if self.theorem_bound is None else self.certified_rank > self.theorem_bound

    def to_dict(self) -> dict:
        out = asdict(self)
        out["row_modes"] = list(self.row_modes)
        out["unfolding_shape"] = list(self.unfolding_shape)
        out["exceeds_theorem"] = self.exceeds_theorem
        return out


def certified_unfolding_rank(n: int, r: int, d: int, shared: bool = True, seed: int = 0, *,
                             row_modes=None, p: int | None = None, integer_range: int = 3,
                             numerical="auto",
                             rtol=DEFAULT_SVD_RTOL) -> UnfoldingCertificate:
    """Certified rank of an unfolding of a random point of :math:`M^{eq}_{n,r}` (or distinct cores).

    Draws integer cores with :func:`tt_rnn.tt.random_tt` (``integer=True``, entries uniform in
    ``{-integer_range, ..., integer_range}``), contracts them exactly modulo ``p``
    (:func:`tt_to_tensor_mod_p`) and row-reduces the unfolding over GF(p) (:func:`gf_p_rank`).

    Parameters
    ----------
    n, r, d : int
        Mode size, TT rank, order (``d >= 2``, ``r >= 2`` for the theorem's ``q``).
    shared : bool
        One inner core shared by all inner positions (:math:`M^{eq}_{n,r}`), else distinct cores.
    seed : int
        Seed of the integer draw.
    row_modes : sequence of int, optional
        Default: the odd/even unfolding.
    p : int, optional
        Prime ``< 2^31``; default as in :func:`unfolding_rank_mod_p` (``2^23 - 15`` with the
        blocked elimination above ``128 x 128``, else ``2^31 - 1``). If the GF(p) rank falls
        below the float rank, a second prime is tried and the larger certified rank is kept
        (either is valid); the record names the prime used.
    integer_range : int
    numerical : bool or "auto"
        Also compute the float64 SVD rank (same cores as floats). ``"auto"`` skips the SVD
        (``numerical_rank = None``) when the certified rank already equals the largest possible
        rank ``min(rows, cols)`` and the unfolding is larger than ``256 x 256``: the float rank
        cannot tell anything more there, and the SVD would dominate the run time.
    rtol : float, optional
        See :func:`unfolding_rank`.

    Returns
    -------
    UnfoldingCertificate

    Notes
    -----
    *Why this certifies the generic rank.* The unfolding's entries are polynomials in the core
    entries; "rank ``>= k``" is the non-vanishing of some ``k x k`` minor, a polynomial ``P``. A
    GF(p) rank ``k`` at integer cores exhibits a minor that is non-zero modulo ``p``, so ``P`` is
    not the zero polynomial, and its zero set has Lebesgue measure zero: almost every point of
    the family has unfolding rank -- and CP rank -- ``>= k``.
    """
    for name, v in (("n", n), ("r", r)):
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {name} = {v}")
    if int(d) < 2:
        raise ValueError(f"d must be >= 2, got d = {d}")
    if integer_range < 1:
        raise ValueError(f"integer_range must be >= 1, got {integer_range}")
    if n ** d > MAX_GFP_ENTRIES:
        raise ValueError(f"n^d = {n}^{d} = {n ** d} entries exceeds the limit {MAX_GFP_ENTRIES} "
                         "for GF(p) certificates")
    start = time.perf_counter()
    tt = random_tt(n, r, d, shared=shared, seed=seed, integer=True, integer_range=integer_range)
    rows = _row_modes_or_default(d, row_modes)
    n_rows = n ** len(rows)
    shape = (n_rows, n ** d // n_rows)
    p, p2 = _primes_for(shape, p)
    cert = gf_p_rank(unfold(tt_to_tensor_mod_p(tt.cores, p), rows), p)
    prime = p
    num_rank, used_rtol = None, None
    if numerical == "auto":
        numerical = not (cert == min(shape) and min(shape) > 256)
    if numerical:
        full = tt_to_tensor([c.astype(np.float64) for c in tt.cores])
        num_rank, _, used_rtol = _numerical_rank(unfold(full, rows), rtol)
        if cert < num_rank:
            cert2 = gf_p_rank(unfold(tt_to_tensor_mod_p(tt.cores, p2), rows), p2)
            if cert2 > cert:
                cert, prime = cert2, p2
    return UnfoldingCertificate(
        n=int(n), r=int(r), d=int(d), shared=bool(shared and d > 2), seed=int(seed),
        integer_range=int(integer_range), row_modes=tuple(rows), unfolding_shape=shape,
        prime=int(prime), certified_rank=int(cert), numerical_rank=num_rank,
        numerical_rtol=used_rtol, max_possible_rank=min(shape),
        theorem_bound=theorem_bound(n, r, d) if r >= 2 else None,
        khrulkov_bound=khrulkov_bound(n, r, d), time_s=time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# Pencil certificate (real rank > m for 2 x m x m pencils with non-real eigenvalues)
# ---------------------------------------------------------------------------------------------

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
    tensor : integer tensor (integral entries, ``|x| < 2^53``)
    max_m : int
        Largest pencil size tried (the exact arithmetic is ``O(m^4)`` big-integer operations).
    max_tries : int
        At most this many reshapings are examined (each costs ``m + 2`` exact determinants).

    Returns
    -------
    dict or None
        ``{"bound": m + 1, "mode": k, "row_modes": ..., "col_modes": ..., "m": m}`` for the
        first certifying reshaping, or ``None``.
    """
    x = _to_numpy(tensor)
    if not is_integer_tensor(x):
        raise ValueError("pencil_lower_bound needs an integer tensor (exact arithmetic)")
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
                    return {"bound": m + 1, "mode": k, "row_modes": list(rows),
                            "col_modes": cols, "m": m, "real_roots": n_real}
    return None


# ---------------------------------------------------------------------------------------------
# Upper bounds: ALS + Levenberg-Marquardt exact fits
# ---------------------------------------------------------------------------------------------

def blas_single_thread():
    """Context manager limiting BLAS to one thread (``threadpoolctl`` if installed, else no-op).

    The Levenberg-Marquardt steps factor small dense matrices; on a loaded machine a
    multi-threaded BLAS spends most of its time waking threads (6x slower in our measurements).
    Without ``threadpoolctl`` set ``OPENBLAS_NUM_THREADS=1`` before numpy is imported.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _cp_full(factors: Sequence[np.ndarray]) -> np.ndarray:
    shape = tuple(f.shape[0] for f in factors)
    return _khatri_rao_rows(factors).sum(axis=1).reshape(shape)


def _khatri_rao_rows(factors: Sequence[np.ndarray]) -> np.ndarray:
    """Row-wise Khatri-Rao product in C order: row ``(i_1, ..., i_m)`` is ``prod_j A_j[i_j, :]``."""
    out = factors[0]
    for f in factors[1:]:
        out = (out[:, None, :] * f[None, :, :]).reshape(-1, f.shape[1])
    return out


def _mttkrp(tensor: np.ndarray, factors: Sequence[np.ndarray], mode: int) -> np.ndarray:
    """``unfold(tensor, mode) @ khatri_rao(factors without mode)`` (C order).

    Same quantity as ``tensorly.tenalg.unfolding_dot_khatri_rao``, written with numpy
    broadcasting because the tensorly backend dispatch dominated the run time on small tensors.
    """
    others = [f for j, f in enumerate(factors) if j != mode]
    unfolded = np.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)
    return unfolded @ _khatri_rao_rows(others)


def _norm_ratio(factors: Sequence[np.ndarray], xnorm: float) -> float:
    comp = np.prod([np.linalg.norm(f, axis=0) for f in factors], axis=0)
    return float(comp.max() / xnorm) if comp.size else 0.0


def _balance(factors: list[np.ndarray]) -> list[np.ndarray]:
    """Rescale each component so that its factor columns have equal norms (same tensor)."""
    norms = np.array([np.linalg.norm(f, axis=0) for f in factors])  # (d, R)
    norms = np.where(norms == 0, 1.0, norms)
    geo = np.exp(np.mean(np.log(norms), axis=0))
    return [f * (geo / nrm) for f, nrm in zip(factors, norms)]


def _gram_jtj(factors: Sequence[np.ndarray]) -> np.ndarray:
    """``J^T J`` of the CP map ``(A_1, ..., A_d) -> sum_t a_t^(1) (x) ... (x) a_t^(d)``.

    Parameters are ``vec(A_k)`` in row-major order (index ``i * R + t``), stacked over ``k``.
    Blocks: ``(k, k) = I_{n_k} (x) Gamma_k`` with ``Gamma_k`` the Hadamard product of the
    ``A_j^T A_j``, ``j != k``; ``(k, l)[i t, i' t'] = A_k[i, t'] A_l[i', t] Gamma_kl[t, t']``
    with ``Gamma_kl`` the Hadamard product over ``j != k, l`` ([2]_, [3]_).
    """
    d = len(factors)
    R = factors[0].shape[1]
    grams = [f.T @ f for f in factors]
    sizes = [f.shape[0] * R for f in factors]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    out = np.empty((offsets[-1], offsets[-1]))
    for k in range(d):
        gk = np.ones((R, R))
        for j in range(d):
            if j != k:
                gk = gk * grams[j]
        out[offsets[k]:offsets[k + 1], offsets[k]:offsets[k + 1]] = np.kron(np.eye(factors[k].shape[0]), gk)
        for l in range(k + 1, d):
            gkl = np.ones((R, R))
            for j in range(d):
                if j != k and j != l:
                    gkl = gkl * grams[j]
            block = np.einsum("ib,ja,ab->iajb", factors[k], factors[l], gkl).reshape(sizes[k], sizes[l])
            out[offsets[k]:offsets[k + 1], offsets[l]:offsets[l + 1]] = block
            out[offsets[l]:offsets[l + 1], offsets[k]:offsets[k + 1]] = block.T
    return out


class _GaussNewtonSystem:
    """``J^T J`` of the CP map at fixed factors, dense (Cholesky) or matrix-free (PCG).

    Matrix-free product ([3]_, Tensorlab's ``cpd_nls``): for ``V = (V_1, ..., V_d)``,
    ``(J^T J V)_k = V_k Gamma_k + sum_{l != k} A_k (Gamma_kl * (A_l^T V_l))^T`` with ``*`` the
    Hadamard product; preconditioner: the block diagonal ``V_k (Gamma_k + mu I)^{-1}``.
    """

    def __init__(self, factors: list[np.ndarray], dense: bool):
        self.factors = factors
        self.d = len(factors)
        self.R = factors[0].shape[1]
        self.sizes = [f.size for f in factors]
        self.shapes = [f.shape for f in factors]
        self.dense = dense
        if dense:
            self.jtj = _gram_jtj(factors)
            self.diag_max = float(np.max(np.diag(self.jtj)))
        else:
            grams = np.stack([f.T @ f for f in factors])          # (d, R, R)
            self.gamma = np.empty((self.d, self.d, self.R, self.R))
            for k in range(self.d):
                for l in range(k, self.d):
                    keep = [j for j in range(self.d) if j != k and j != l]
                    g = np.prod(grams[keep], axis=0) if keep else np.ones((self.R, self.R))
                    self.gamma[k, l] = self.gamma[l, k] = g
            self.gamma_diag = self.gamma[np.arange(self.d), np.arange(self.d)].copy()
            self.gamma_off = self.gamma.copy()
            self.gamma_off[np.arange(self.d), np.arange(self.d)] = 0.0
            self.diag_max = float(np.max(np.diagonal(self.gamma_diag, axis1=1, axis2=2)))

    def _split(self, v):
        return [p.reshape(sh) for p, sh in zip(np.split(v, np.cumsum(self.sizes)[:-1]), self.shapes)]

    def matvec(self, v: np.ndarray) -> np.ndarray:
        if self.dense:
            return self.jtj @ v
        vs = self._split(v)
        w = np.stack([a.T @ vv for a, vv in zip(self.factors, vs)])           # (d, R, R)
        s = np.einsum("klab,lab->kab", self.gamma_off, w)
        return np.concatenate([(vv @ g + a @ sk.T).ravel()
                               for vv, g, a, sk in zip(vs, self.gamma_diag, self.factors, s)])

    def solve(self, rhs: np.ndarray, mu: float, rtol: float) -> np.ndarray:
        if self.dense:
            chol = scipy.linalg.cho_factor(self.jtj + mu * np.eye(self.jtj.shape[0]),
                                           check_finite=False)
            return scipy.linalg.cho_solve(chol, rhs, check_finite=False)
        import scipy.sparse.linalg as spla
        inv = np.linalg.inv(self.gamma_diag + mu * np.eye(self.R))

        def precond(v):
            return np.concatenate([(p @ i).ravel() for p, i in zip(self._split(v), inv)])

        n = rhs.size
        op = spla.LinearOperator((n, n), matvec=lambda v: self.matvec(v) + mu * v, dtype=float)
        pre = spla.LinearOperator((n, n), matvec=precond, dtype=float)
        sol, _ = spla.cg(op, rhs, M=pre, rtol=rtol, maxiter=n)
        return sol


def _lm(x: np.ndarray, factors: list[np.ndarray], *, tol: float, max_iter: int,
        deadline: float | None, stall_window: int = 60, stall_factor: float = 0.98,
        dense_max: int = 2000):
    """Levenberg-Marquardt on ``0.5 ||X - [[A]]||^2`` for a unit-norm X. Returns (factors, history).

    Residuals are formed explicitly (no ``||X||^2 - 2<X, M> + ||M||^2`` cancellation), so relative
    errors down to ~1e-15 are measured faithfully. Damping: Nielsen's update of ``mu``. The
    damped normal equations are solved by Cholesky for ``<= dense_max`` parameters (faster here
    up to ~2000 parameters), else by
    preconditioned conjugate gradients (inexact Gauss-Newton, forcing term tied to the error).
    History rows: ``(iteration, relative error, kappa)``.
    """
    factors = _balance([f.copy() for f in factors])
    shapes = [f.shape for f in factors]
    sizes = [f.size for f in factors]
    dense = sum(sizes) <= dense_max
    resid = _cp_full(factors) - x
    f_val = 0.5 * float(np.sum(resid * resid))
    history = [(0, math.sqrt(2 * f_val), _norm_ratio(factors, 1.0))]
    mu, nu = None, 2.0
    for it in range(1, max_iter + 1):
        if history[-1][1] <= tol or (deadline is not None and time.perf_counter() > deadline):
            break
        grad = np.concatenate([_mttkrp(resid, factors, k).ravel() for k in range(len(factors))])
        system = _GaussNewtonSystem(factors, dense)
        if mu is None:
            mu = 1e-3 * system.diag_max
        accepted = False
        cg_rtol = min(1e-2, max(1e-12, history[-1][1]))
        for _ in range(30):
            try:
                step = -system.solve(grad, mu, cg_rtol)
            except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
                mu *= nu
                nu *= 2
                continue
            parts = np.split(step, np.cumsum(sizes)[:-1])
            trial = [f + s.reshape(shape) for f, s, shape in zip(factors, parts, shapes)]
            new_resid = _cp_full(trial) - x
            new_f = 0.5 * float(np.sum(new_resid * new_resid))
            predicted = -float(grad @ step) - 0.5 * float(step @ system.matvec(step))
            rho = (f_val - new_f) / predicted if predicted > 0 else -1.0
            if rho > 0:
                factors, resid, f_val = _balance(trial), new_resid, new_f
                mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu = 2.0
                accepted = True
                break
            mu *= nu
            nu *= 2
        history.append((it, math.sqrt(2 * f_val), _norm_ratio(factors, 1.0)))
        if not accepted:
            break
        # stall: in the swamp the error hardly moves; stop unless it is still clearly decreasing
        if it >= stall_window and history[-1][1] > 1e3 * tol:
            if history[-1][1] > stall_factor * history[-1 - stall_window][1]:
                break
    return factors, np.array(history)


def border_rank_suspected(errors, norm_ratios, *, min_growth: float = 1.5,
                          max_slope: float = -0.3, min_ratio: float = 10.0,
                          tol: float = DEFAULT_FIT_TOL) -> bool:
    """Does a fit history look like a border-rank approximation (error -> 0, norms -> infinity)?

    Parameters
    ----------
    errors : sequence of float
        Relative errors along the iterations of one fit.
    norm_ratios : sequence of float
        ``kappa`` along the same iterations: the largest component norm
        ``prod_k ||a^{(k)}_t||`` over ``||X||``. For an exact, well-posed decomposition it stays
        ``O(1)``; near a border-rank point components diverge and cancel.
    min_growth : float
        ``kappa`` must have grown by at least this factor over the second half of the run.
    max_slope : float
        Over the second half, ``log(error)`` against ``log(kappa)`` must have a least-squares
        slope ``<= max_slope``. Along the rank-2 approximations of the W tensor the error falls
        like a power of ``1 / kappa`` (slope -1 for the textbook curve, about -2 along a
        Levenberg-Marquardt run); a positive plateau (a degenerate best approximation without
        error decay, e.g. a real ``2 x 2 x 2`` tensor of rank 3 fitted at rank 2) has slope ~0.
    min_ratio : float
        ``kappa`` must end above this (bounded components are never flagged).
    tol : float
        A run that reached ``tol`` with bounded ``kappa`` is an exact fit, never flagged.

    Returns
    -------
    bool

    Notes
    -----
    A rank flagged here is *not* reported as an upper bound on the CP rank (it may be the border
    rank, [1]_ Sec. 2.4, [5]_). The criterion is a heuristic read of the iteration history.
    """
    err = np.asarray(errors, dtype=float)
    kap = np.asarray(norm_ratios, dtype=float)
    if err.shape != kap.shape or err.ndim != 1:
        raise ValueError(f"errors and norm_ratios must be 1-D of equal length, got shapes "
                         f"{err.shape} and {kap.shape}")
    if err.size < 4:
        return False
    if kap[-1] < min_ratio:
        return False
    half = err.size // 2
    e2, k2 = err[half:], kap[half:]
    if k2[-1] < min_growth * k2[0] or e2[-1] >= e2[0]:
        return False
    lk, le = np.log(k2), np.log(np.maximum(e2, 1e-300))
    if np.ptp(lk) == 0:
        return False
    slope = np.polyfit(lk, le, 1)[0]
    return bool(slope <= max_slope)


@dataclass
class CPFit:
    """Best fit at one rank.

    Attributes
    ----------
    rank : int
    rel_error : float
        ``||X - X_R|| / ||X||`` of the best attempt.
    kappa : float
        Its component-norm ratio (see :func:`border_rank_suspected`).
    exact : bool
        ``rel_error <= tol`` and ``kappa <= norm_limit``: numerical evidence that CP rank ``<= rank``.
    border_suspected : bool
        Some attempt at this rank showed border-rank behaviour.
    factors : list of numpy.ndarray or None
        Witness factors ``A_k`` of shape ``(n_k, rank)`` of the best attempt, for the tensor as
        given (not normalised).
    attempts : list of dict
        One record per start: ``kind`` (``warm-pad``, ``warm-prune``, ``als-svd``,
        ``als-random``, ``random``),
        ``seed``, ``als_error``, ``error``, ``kappa``, ``iterations``, ``border``, ``time_s``.
    time_s : float
    """

    rank: int
    rel_error: float
    kappa: float
    exact: bool
    border_suspected: bool
    factors: list | None
    attempts: list = field(default_factory=list)
    time_s: float = 0.0
    tol: float = DEFAULT_FIT_TOL


def _check_fit_input(tensor, tol, norm_limit):
    x = _to_numpy(tensor).astype(np.float64)
    if x.ndim < 2:
        raise ValueError(f"need a tensor of order >= 2, got shape {x.shape}")
    _check_size(x, MAX_FIT_ENTRIES, "CP fitting (ALS / Levenberg-Marquardt)")
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got tol = {tol}")
    if not norm_limit > 1:
        raise ValueError(f"norm_limit must be > 1, got norm_limit = {norm_limit}")
    return x


def cp_fit(tensor, rank: int, *, tol: float = DEFAULT_FIT_TOL, n_als: int = 3,
           n_random: int = 2, n_refine: int = 2, warm_start=None, seed: int = 0,
           als_iter: int = 200, lm_iter: int = 400, norm_limit: float = DEFAULT_NORM_LIMIT,
           time_limit: float | None = None) -> CPFit:
    """Exact-fit attempt at one rank: ALS starts, then Levenberg-Marquardt refinement.

    Parameters
    ----------
    tensor : array or TensorTrain (``<= MAX_FIT_ENTRIES`` entries)
    rank : int, ``>= 1``
    tol : float
        Relative-error threshold for an exact fit (default ``1e-10``).
    n_als : int
        ALS runs (tensorly ``parafac``, line search): one SVD initialisation and ``n_als - 1``
        random ones.
    n_random : int
        Fresh random starts refined directly by Levenberg-Marquardt.
    n_refine : int
        The best ``n_refine`` ALS results are refined by Levenberg-Marquardt.
    warm_start : list of arrays, or list of such lists, optional
        Factors of earlier fits, refined first: a fit at a lower rank is padded with small
        random columns; a fit at a higher rank is pruned to its ``rank`` strongest components
        (largest ``prod_k ||a^{(k)}_t||``).
    seed : int
        Base seed; attempt ``j`` at this rank uses ``numpy.random.default_rng([seed, rank, j])``.
    als_iter, lm_iter : int
        Iteration caps.
    norm_limit : float
        ``kappa`` above this makes a fit degenerate (not exact).
    time_limit : float, optional
        Seconds for this rank; remaining attempts are skipped after it.

    Returns
    -------
    CPFit
        Attempts stop at the first exact fit.
    """
    with blas_single_thread():
        return _cp_fit(tensor, rank, tol=tol, n_als=n_als, n_random=n_random, n_refine=n_refine,
                       warm_start=warm_start, seed=seed, als_iter=als_iter, lm_iter=lm_iter,
                       norm_limit=norm_limit, time_limit=time_limit)


def _cp_fit(tensor, rank, *, tol, n_als, n_random, n_refine, warm_start, seed, als_iter, lm_iter,
            norm_limit, time_limit) -> CPFit:
    from tensorly.decomposition import parafac

    x = _check_fit_input(tensor, tol, norm_limit)
    if int(rank) < 1:
        raise ValueError(f"rank must be >= 1, got rank = {rank}")
    rank = int(rank)
    start = time.perf_counter()
    deadline = None if time_limit is None else start + time_limit
    xnorm = float(np.linalg.norm(x))
    if xnorm == 0:
        return CPFit(rank, 0.0, 0.0, True, False, [np.zeros((s, rank)) for s in x.shape],
                     [], 0.0, tol)
    xu = x / xnorm
    attempts, best = [], None
    job = 0

    def run_lm(init, kind, seed_used, als_error=None):
        nonlocal best
        t0 = time.perf_counter()
        facs, hist = _lm(xu, init, tol=tol, max_iter=lm_iter, deadline=deadline)
        err, kap = float(hist[-1, 1]), float(hist[-1, 2])
        border = border_rank_suspected(hist[:, 1], hist[:, 2], tol=tol)
        rec = dict(kind=kind, seed=seed_used, als_error=als_error, error=err, kappa=kap,
                   iterations=int(hist[-1, 0]), border=border, time_s=time.perf_counter() - t0)
        attempts.append(rec)
        ok = err <= tol and kap <= norm_limit
        key = (not ok, err)
        if best is None or key < best[0]:
            best = (key, facs, rec)
        return ok

    def out_of_time():
        return deadline is not None and time.perf_counter() > deadline

    # 1. warm starts: a lower-rank fit padded with small random components, or a higher-rank
    #    (exact) fit pruned to its `rank` strongest components
    if warm_start is not None:
        if isinstance(warm_start[0], np.ndarray):
            warm_start = [warm_start]
        for ws in warm_start:
            if out_of_time():
                break
            seed_used = [seed, rank, job]
            job += 1
            rng = np.random.default_rng(seed_used)
            if len(ws) != x.ndim or any(w.shape[0] != s for w, s in zip(ws, x.shape)):
                raise ValueError(f"warm_start factors of shapes {[w.shape for w in ws]} do not "
                                 f"match the tensor shape {x.shape}")
            scaled = [np.asarray(w, dtype=np.float64) / xnorm ** (1.0 / x.ndim) for w in ws]
            have = scaled[0].shape[1]
            if have <= rank:
                kind = "warm-pad"
                init = [np.hstack([w, 0.1 * rng.standard_normal((w.shape[0], rank - have))])
                        for w in scaled]
            else:
                kind = "warm-prune"
                strength = np.prod([np.linalg.norm(w, axis=0) for w in scaled], axis=0)
                keep = np.sort(np.argsort(strength)[::-1][:rank])
                init = [w[:, keep] for w in scaled]
            if run_lm(init, kind, seed_used):
                return _finish(best, attempts, rank, xnorm, tol, norm_limit, start)
    # 2. ALS (tensorly parafac with line search): SVD init, then random inits
    als = []
    for j in range(n_als):
        if out_of_time():
            break
        seed_used = [seed, rank, job]
        job += 1
        rng = np.random.default_rng(seed_used)
        init = "svd" if j == 0 else "random"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # svd init pads ranks > mode size
                cp = parafac(xu, rank, n_iter_max=als_iter, init=init, tol=1e-14, linesearch=True,
                             random_state=int(rng.integers(2 ** 31)), normalize_factors=False)
        except (np.linalg.LinAlgError, ValueError):
            continue
        w, fac = cp
        fac = [np.asarray(f, dtype=np.float64) for f in fac]
        fac[0] = fac[0] * np.asarray(w)[None, :]
        err = float(np.linalg.norm(_cp_full(fac) - xu))
        als.append((err, fac, "als-" + init, seed_used))
    als.sort(key=lambda t: t[0])
    for err, fac, kind, seed_used in als[:n_refine]:
        if out_of_time():
            break
        if run_lm(fac, kind, seed_used, als_error=err):
            return _finish(best, attempts, rank, xnorm, tol, norm_limit, start)
    # 3. fresh random starts straight into Levenberg-Marquardt
    for j in range(n_random):
        if out_of_time():
            break
        seed_used = [seed, rank, job]
        job += 1
        rng = np.random.default_rng(seed_used)
        init = [rng.standard_normal((s, rank)) * (1.0 / rank) ** (1.0 / x.ndim) for s in x.shape]
        if run_lm(init, "random", seed_used):
            break
    return _finish(best, attempts, rank, xnorm, tol, norm_limit, start)


def _finish(best, attempts, rank, xnorm, tol, norm_limit, start) -> CPFit:
    if best is None:
        return CPFit(rank, float("inf"), float("inf"), False, False, None, attempts,
                     time.perf_counter() - start, tol)
    _, facs, rec = best
    d = len(facs)
    scale = xnorm ** (1.0 / d)
    factors = [f * scale for f in facs]
    exact = rec["error"] <= tol and rec["kappa"] <= norm_limit
    border = any(a["border"] for a in attempts) or (rec["error"] <= tol and rec["kappa"] > norm_limit)
    return CPFit(rank, rec["error"], rec["kappa"], exact, bool(border and not exact), factors,
                 attempts, time.perf_counter() - start, tol)


def generic_rank_estimate(shape: Sequence[int]) -> int:
    """``ceil(prod(n_k) / (sum(n_k - 1) + 1))``: the expected generic CP rank over C.

    It is the parameter count bound (Alexander-Hirschowitz type, exact for most shapes outside a
    short list of defective ones); used only as a starting guess of the ``"bisect"`` search.
    """
    shape = [int(s) for s in shape]
    size = int(np.prod(shape))
    return max(1, -(-size // (sum(s - 1 for s in shape) + 1)))


@dataclass
class CPSearch:
    """Result of :func:`cp_rank_upper_bound`.

    Attributes
    ----------
    rank : int or None
        The first rank with an exact fit (``None`` if none up to ``rank_max`` / the time limit).
    fit : CPFit or None
        Its fit (witness factors, error, attempts with seeds).
    error_curve : dict
        ``{rank: best relative error}`` over every rank tried.
    border : dict
        ``{rank: border-rank suspected}``.
    fits : dict
        ``{rank: CPFit}`` (factors of failed ranks dropped to save memory).
    seed, tol, time_s, strategy
    complete : bool
        False when the time limit stopped the search (or cut an attempt short).
    """

    rank: int | None
    fit: CPFit | None
    error_curve: dict
    border: dict
    fits: dict
    seed: int
    tol: float
    time_s: float
    strategy: str
    complete: bool = True


def cp_rank_upper_bound(tensor, rank_min: int = 1, rank_max: int | None = None, *,
                        tol: float = DEFAULT_FIT_TOL, seed: int = 0, strategy: str = "linear",
                        rank_guess: int | None = None,
                        time_limit: float | None = None, rank_time_limit: float | None = None,
                        norm_limit: float = DEFAULT_NORM_LIMIT, verbose: bool = False,
                        **fit_kwargs) -> CPSearch:
    """Exact-fit search over ranks: the first rank ``R >= rank_min`` with relative error ``<= tol``.

    Parameters
    ----------
    tensor : array or TensorTrain
    rank_min : int, ``>= 1``
        Start of the search, normally the certified lower bound.
    rank_max : int, optional
        End of the search (default: the trivial bound ``prod(shape) / max(shape)``).
    tol : float
        Exact-fit threshold on the relative error (default ``1e-10``, float64).
    seed : int
        Base seed (see :func:`cp_fit`).
    strategy : {"linear", "gallop", "bisect", "descend"}
        ``"linear"`` tries ``rank_min, rank_min + 1, ...`` and stops at the first exact fit.
        ``"gallop"`` tries ``rank_min``, then steps ``1, 2, 4, ...`` up to the first exact fit and
        bisects back down between the last failure and it (for wide brackets). ``"bisect"``
        first tries ``rank_guess`` (where fits are easy), then bisects between ``rank_min`` and
        the smallest fitted rank (for very wide brackets under a time limit: every exact fit
        found is a valid upper bound). Failures are numerical, so in all cases the result is the
        smallest *fitted* rank among those tried, not a proof that lower ranks fail.
        ``"descend"`` starts like ``"bisect"``, then walks down from the exact fit in steps
        (a quarter of the gap, halved after each failure) using only the pruned exact fit as
        start -- cheap, since a pruned exact fit converges in a few Gauss-Newton steps when the
        lower rank is feasible -- and a full multi-start attempt once the step is 1.
    rank_guess : int, optional
        First rank of ``"bisect"`` / ``"descend"``; default :func:`generic_rank_estimate`.
    time_limit : float, optional
        Seconds for the whole search; the best exact fit so far is returned when it runs out.
    rank_time_limit : float, optional
        Seconds per rank (passed to :func:`cp_fit`).
    norm_limit : float
    verbose : bool
        Print one line per rank tried.
    **fit_kwargs
        Passed to :func:`cp_fit` (``n_als``, ``n_random``, ``lm_iter``, ...).

    Returns
    -------
    CPSearch
    """
    x = _check_fit_input(tensor, tol, norm_limit)
    trivial = x.size // max(x.shape)
    if rank_max is None:
        rank_max = trivial
    rank_min, rank_max = int(rank_min), int(rank_max)
    if rank_min < 1:
        raise ValueError(f"rank_min must be >= 1, got rank_min = {rank_min}")
    if rank_max < rank_min:
        raise ValueError(f"rank_max = {rank_max} is below rank_min = {rank_min}")
    if strategy not in ("linear", "gallop", "bisect", "descend"):
        raise ValueError(f"strategy must be 'linear', 'gallop', 'bisect' or 'descend', "
                         f"got {strategy!r}")
    start = time.perf_counter()
    fits, curve, border = {}, {}, {}
    complete = True

    def attempt(rank, cheap=False):
        remaining = None if time_limit is None else time_limit - (time.perf_counter() - start)
        limit = rank_time_limit if remaining is None else (
            remaining if rank_time_limit is None else min(remaining, rank_time_limit))
        # warm starts: prune the nearest exact fit above, pad the nearest fit below
        above = [k for k, f in fits.items() if k > rank and f.exact and f.factors is not None]
        below = [k for k, f in fits.items() if k < rank and f.factors is not None]
        ws = ([fits[min(above)].factors] if above else []) + ([fits[max(below)].factors] if below else [])
        kwargs = dict(fit_kwargs)
        if cheap:  # only the pruned exact fit from above, no ALS / random starts
            ws = ws[:1]
            kwargs.update(n_als=0, n_random=0)
        fit = cp_fit(x, rank, tol=tol, seed=seed, warm_start=ws or None, norm_limit=norm_limit,
                     time_limit=limit, **kwargs)
        if rank in fits and not fit.exact and fits[rank].rel_error < fit.rel_error:
            fit = fits[rank]
        curve[rank], border[rank] = fit.rel_error, fit.border_suspected
        fits[rank] = fit
        if verbose:
            print(f"  rank {rank:>4}: best relative error {fit.rel_error:.2e}, kappa {fit.kappa:.1e}, "
                  f"{'exact' if fit.exact else 'no exact fit'}"
                  f"{', border rank suspected' if fit.border_suspected else ''} "
                  f"[{len(fit.attempts)} starts, {fit.time_s:.1f} s]", flush=True)
        return fit.exact

    def timed_out():
        return time_limit is not None and time.perf_counter() - start > time_limit

    best = None
    if strategy == "linear":
        for rank in range(rank_min, rank_max + 1):
            if timed_out():
                complete = False
                break
            if attempt(rank):
                best = rank
                break
    else:
        lo = rank_min - 1                      # largest failed rank
        if strategy == "gallop":
            rank, step = rank_min, 1
        else:                                  # bisect / descend: first try the guess
            if rank_guess is None:
                rank_guess = generic_rank_estimate(x.shape)
            rank, step = int(min(max(rank_guess, rank_min), rank_max)), max(1, (rank_max - rank_min) // 8)
        while rank <= rank_max:
            if timed_out():
                complete = False
                break
            if attempt(rank):
                best = rank
                break
            lo, rank, step = rank, rank + step, step * 2
        if best is None and complete and rank > rank_max and lo < rank_max:
            if attempt(rank_max):
                best = rank_max
        if best is not None and strategy == "descend":
            hi, step = best, max(1, (best - lo) // 4)
            while hi - lo > 1:
                if timed_out():
                    complete = False
                    break
                target = max(lo + 1, hi - step)
                if attempt(target, cheap=True):
                    hi = target
                elif step > 1:
                    step //= 2
                elif attempt(target):
                    hi = target
                else:
                    lo = target
            best = hi
        elif best is not None:
            hi = best
            while hi - lo > 1:
                if timed_out():
                    complete = False
                    break
                mid = (lo + hi) // 2
                if attempt(mid):
                    hi = mid
                else:
                    lo = mid
            best = hi
    if timed_out():  # an attempt cut short by the deadline is not a genuine failure
        complete = False
    for rank, fit in fits.items():
        if rank != best:
            fit.factors = None
    return CPSearch(best, fits.get(best), dict(sorted(curve.items())), dict(sorted(border.items())),
                    fits, seed, tol, time.perf_counter() - start, strategy, complete)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

@dataclass
class RankBracket:
    """CP rank bracket ``lower <= rank <= upper`` with its evidence.

    Attributes
    ----------
    lower : int
        Largest lower bound found (certified if ``lower_certified``).
    upper : int
        Smallest upper bound found: an exact fit (numerical) or the trivial slice bound
        ``prod(shape) / max(shape)`` (certified) when no fit succeeded. Never below ``lower``.
    lower_certified : bool
        True when ``lower`` is proof-grade (GF(p) rank of an unfolding of the integer tensor, or
        the exact pencil certificate).
    lower_method : str
    lower_evidence : dict
        Unfolding used, prime, numerical unfolding rank and its ``rtol``, pencil data, ...
    upper_method : str
        ``"exact fit (ALS + Levenberg-Marquardt)"`` or ``"trivial (slices)"``.
    upper_certified : bool
        Only the trivial bound is proof-grade; an exact fit is numerical evidence.
    upper_error : float or None
        Relative error of the witness fit.
    tol : float
        Exact-fit tolerance.
    seed : int
    factors : list of numpy.ndarray or None
        Witness factors of the upper bound.
    error_curve, border : dict
        Best relative error and border-rank flag per rank tried.
    search_complete : bool
    time_s : float
    """

    lower: int
    upper: int
    lower_certified: bool
    lower_method: str
    lower_evidence: dict
    upper_method: str
    upper_certified: bool
    upper_error: float | None
    tol: float
    seed: int
    factors: list | None
    error_curve: dict
    border: dict
    search_complete: bool
    time_s: float
    search: CPSearch | None = None

    @property
    def determined(self) -> bool:
        """True when ``lower == upper``: the CP rank is pinned down."""
        return self.lower == self.upper

    def to_dict(self) -> dict:
        """JSON-friendly summary (no factors)."""
        return dict(lower=self.lower, upper=self.upper, determined=self.determined,
                    lower_certified=self.lower_certified, lower_method=self.lower_method,
                    lower_evidence=self.lower_evidence, upper_method=self.upper_method,
                    upper_certified=self.upper_certified, upper_error=self.upper_error,
                    tol=self.tol, seed=self.seed,
                    error_curve={str(k): v for k, v in self.error_curve.items()},
                    border_suspected={str(k): v for k, v in self.border.items()},
                    search_complete=self.search_complete, time_s=self.time_s)

    def __str__(self) -> str:
        lo = f"{self.lower}{' (certified)' if self.lower_certified else ' (numerical)'}"
        up = f"{self.upper} ({self.upper_method}" + (
            f", rel. error {self.upper_error:.1e})" if self.upper_error is not None else ")")
        flags = [r for r, b in self.border.items() if b]
        extra = f"; border rank suspected at {flags}" if flags else ""
        return f"CP rank in [{self.lower}, {self.upper}]: lower {lo}, upper {up}{extra}"


def cp_rank_bracket(tensor, *, rank_max: int | None = None, tol: float = DEFAULT_FIT_TOL,
                    rtol=DEFAULT_SVD_RTOL, seed: int = 0, strategy: str = "linear",
                    time_limit: float | None = None, max_partitions: int = 512,
                    certify: bool = True, pencil: bool = True, fit: bool = True,
                    **fit_kwargs) -> RankBracket:
    """Bracket ``[lower, upper]`` on the CP rank of a tensor, with its evidence.

    Steps:

    1. numerical rank of the best balanced unfolding (:func:`best_unfolding_rank`, tolerance
       ``rtol``);
    2. if the tensor is integer-valued and ``certify``: the exact GF(p) rank of that unfolding
       and of the odd/even one (:func:`unfolding_rank_mod_p`), and for ``n = 2`` pencils the
       exact pencil certificate (:func:`pencil_lower_bound`);
    3. if ``fit``: the exact-fit search :func:`cp_rank_upper_bound` over ranks ``>= lower``
       (climbing from ``lower`` for ``"linear"`` / ``"gallop"``, walking down from a guess for
       ``"bisect"`` / ``"descend"``); the ranks tried never go below ``lower``.

    Parameters
    ----------
    tensor : numpy array, torch tensor or TensorTrain
    rank_max : int, optional
        Highest rank the search tries (default: the trivial bound).
    tol : float
        Exact-fit relative error (default ``1e-10``).
    rtol : float, optional
        Numerical-rank tolerance for the SVD (see :func:`unfolding_rank`).
    seed : int
    strategy : {"linear", "gallop", "bisect", "descend"}
        See :func:`cp_rank_upper_bound`.
    time_limit : float, optional
        Seconds for the fitting search.
    max_partitions : int
        Budget of bipartitions for the best-unfolding bound.
    certify, pencil, fit : bool
        Switch the exact certificates / the fitting off.
    **fit_kwargs
        Passed to :func:`cp_fit`.

    Returns
    -------
    RankBracket
        ``lower <= upper`` always; the upper bound is never below a (certified) lower bound.
    """
    start = time.perf_counter()
    x = _to_numpy(tensor)
    if x.ndim < 2:
        raise ValueError(f"need a tensor of order >= 2, got shape {x.shape}")
    if rank_max is not None and int(rank_max) < 1:
        raise ValueError(f"rank_max must be >= 1, got rank_max = {rank_max}")
    trivial = x.size // max(x.shape)
    if not np.any(x):
        return RankBracket(0, 0, True, "zero tensor", {}, "zero tensor", True, 0.0, tol, seed,
                           None, {}, {}, True, time.perf_counter() - start)
    num_rank, num_modes, tried, exhaustive = best_unfolding_rank(x, rtol, max_partitions=max_partitions)
    evidence = dict(numerical_rank=num_rank, numerical_row_modes=list(num_modes),
                    numerical_rtol=rtol if rtol is not None else "max(shape) * eps",
                    partitions_tried=tried, partitions_exhaustive=exhaustive)
    lower, lower_certified, method = num_rank, False, "numerical unfolding rank (SVD)"
    if certify and is_integer_tensor(x) and x.size <= MAX_GFP_ENTRIES:
        xi = np.round(x).astype(np.int64)
        candidates = {tuple(num_modes), tuple(odd_even_row_modes(x.ndim))}
        best_cert, best_modes = -1, None
        for modes in candidates:
            rows = int(np.prod([x.shape[m] for m in modes]))
            p1, p2 = _primes_for((rows, x.size // rows), None)
            c = unfolding_rank_mod_p(xi, modes, p1)
            if c < num_rank:
                c = max(c, unfolding_rank_mod_p(xi, modes, p2))
            if c > best_cert:
                best_cert, best_modes, primes = c, modes, [p1, p2]
        evidence.update(certified_unfolding_rank=best_cert, certified_row_modes=list(best_modes),
                        primes=primes)
        lower, lower_certified, method = best_cert, True, "GF(p) unfolding rank (exact)"
        if pencil and 2 in x.shape:
            cert = pencil_lower_bound(xi)
            if cert is not None:
                evidence["pencil"] = cert
                if cert["bound"] > lower:
                    lower, method = cert["bound"], "real pencil with non-real eigenvalues (exact)"
        if num_rank > lower:
            evidence["note"] = (f"the numerical unfolding rank {num_rank} exceeds the certified "
                                f"bound {lower}; only the certified value is used")
    upper, upper_method, upper_cert, upper_err, factors = trivial, "trivial (slices)", True, None, None
    search = None
    if fit and lower < trivial:
        search = cp_rank_upper_bound(x, max(lower, 1), min(rank_max or trivial, trivial), tol=tol,
                                     seed=seed, strategy=strategy, time_limit=time_limit,
                                     **fit_kwargs)
        if search.rank is not None and search.rank < upper:
            upper, upper_method, upper_cert = search.rank, "exact fit (ALS + Levenberg-Marquardt)", False
            upper_err, factors = search.fit.rel_error, search.fit.factors
    if lower > upper:  # cannot happen: the search starts at `lower`; kept as a hard invariant
        raise AssertionError(f"bracket invariant violated: lower {lower} > upper {upper}")
    return RankBracket(lower, upper, lower_certified, method, evidence, upper_method, upper_cert,
                       upper_err, tol, seed, factors,
                       search.error_curve if search else {}, search.border if search else {},
                       search.complete if search else True, time.perf_counter() - start, search)


# ---------------------------------------------------------------------------------------------
# Test tensors
# ---------------------------------------------------------------------------------------------

def w_tensor(dtype=np.float64) -> np.ndarray:
    """``W = e1 (x) e1 (x) e2 + e1 (x) e2 (x) e1 + e2 (x) e1 (x) e1``: rank 3, border rank 2 [1]_."""
    w = np.zeros((2, 2, 2), dtype=dtype)
    w[0, 0, 1] = w[0, 1, 0] = w[1, 0, 0] = 1
    return w


def random_cp_tensor(shape: Sequence[int], rank: int, seed=None, integer: bool = False,
                     integer_range: int = 3) -> np.ndarray:
    """A tensor ``sum_{t<rank} a_t^(1) (x) ... (x) a_t^(d)`` with Gaussian (or integer) factors."""
    if int(rank) < 1:
        raise ValueError(f"rank must be >= 1, got rank = {rank}")
    rng = np.random.default_rng(seed)
    if integer:
        factors = [rng.integers(-integer_range, integer_range + 1, size=(s, rank)) for s in shape]
        out = _cp_full([f.astype(object) for f in factors])
        return np.asarray(out.astype(np.int64))
    return _cp_full([rng.standard_normal((s, rank)) for s in shape])
