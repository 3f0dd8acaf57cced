"""Certified border-rank lower bounds beyond flattenings: Koszul-Young flattenings over GF(p).

Group the ``d`` modes of a tensor into three factors, ``T in A (x) B (x) C`` with
``T = sum_i a_i (x) M_i`` (``M_i : B* -> C`` the slices along ``A``). The Koszul-Young flattening
of Landsberg and Ottaviani [1]_ is the linear map

.. math:: T_A^{\\wedge p} : \\Lambda^p A \\otimes B^* \\to \\Lambda^{p+1} A \\otimes C,\\quad
          v \\otimes \\beta \\mapsto \\sum_i (a_i \\wedge v) \\otimes M_i \\beta .

It is linear in ``T``, and for a rank-one tensor it has rank ``binom(dim A - 1, p)``; rank is
lower semicontinuous, so for every tensor

.. math:: \\underline{R}(T) \\ge \\operatorname{rank} T_A^{\\wedge p} / \\binom{\\dim A - 1}{p},

a lower bound on the border rank, hence on the CP rank, over C and over R. ``p = 0`` is the
flattening ``A (x) B* -> C``; ``dim A = 3, p = 1`` is Strassen's equation [2]_ (``3 x N x N``:
``rank = 2N + rank[M_1 M_0^{-1}, M_2 M_0^{-1}]``). Replacing ``T`` by its image under a linear map
``phi : A -> A'`` cannot raise the border rank, so ``A`` may first be projected to a
``2p + 1``-dimensional space, where the ratio is best ([1]_, Sec. 4); here ``phi`` has small random
integer entries, so the projected tensor is again an integer tensor.

**Exactness.** The matrix of ``T_A^{\\wedge p}`` has entries ``0, +-T[i, b, c]``; its rank is
computed exactly over GF(p) (:func:`~tt_rnn.rank.gfp.gf_p_rank`). A non-zero ``k x k`` minor
modulo ``p`` is a non-zero integer, so ``rank_GF(p) <= rank_Q = rank_C``: the bound is a
certificate (and, as a non-vanishing polynomial in the tensor's entries, it holds for almost
every point of a family one integer point of which reaches it).

The known values used in the tests: a generic ``3 x 3 x 3`` tensor has border rank 5
(flattenings give 3, Strassen's equation ``ceil(9 / 2) = 5``); the W tensor border rank 2; the
``2 x 2`` matrix multiplication tensor ``M_2`` has border rank 7 (Landsberg [3]_), and the
Koszul flattenings give ``2n^2 - n = 6`` for it ([1]_), not 7.

References
----------
.. [1] J. M. Landsberg, G. Ottaviani, "New lower bounds for the border rank of matrix
       multiplication", Theory of Computing 11(11), 2015; and "Equations for secant varieties of
       Veronese and other varieties", Ann. Mat. Pura Appl. 192(4), 2013.
.. [2] V. Strassen, "Rank and optimal computation of generic tensors", Linear Algebra Appl. 52/53,
       1983.
.. [3] J. M. Landsberg, "The border rank of the multiplication of 2 x 2 matrices is seven",
       J. Amer. Math. Soc. 19(2), 2006.
.. [4] J. M. Landsberg, *Tensors: Geometry and Applications*, AMS, 2012, Sec. 3.8 and 7.6.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np

from ._checks import _check_prime, _to_numpy
from .constants import BLAS_PRIME, MAX_GFP_ENTRIES
from .gfp import _is_integer_array, _residues, gf_p_rank

#: Largest Koszul-Young matrix (rows x cols) that :func:`koszul_young_lower_bound` builds.
MAX_KOSZUL_ENTRIES = 2 ** 22
#: At most this many groupings ``(A, B, C)`` are enumerated (all of them up to ``d = 10``:
#: ``3^d - 3 * 2^d + 3`` ordered groupings).
MAX_GROUPINGS = 60_000
#: Seconds of Koszul-Young search inside :func:`~tt_rnn.rank.bracket.cp_rank_bracket`.
KOSZUL_TIME_LIMIT = 30.0
#: Entries of the random projection ``A -> A'`` lie in ``[-PROJECTION_RANGE, PROJECTION_RANGE]``.
PROJECTION_RANGE = 3


def koszul_young_matrix(t3, p_ext: int, prime: int = BLAS_PRIME) -> np.ndarray:
    """Matrix of ``T_A^{wedge p}`` modulo ``prime`` for a 3-way integer tensor ``T[a, b, c]``.

    Parameters
    ----------
    t3 : integer array of shape ``(a, b, c)``
        Mode 0 is ``A``.
    p_ext : int
        The exterior power ``p``, ``0 <= p <= a - 1``.
    prime : int

    Returns
    -------
    numpy.ndarray
        int64 residues, shape ``(binom(a, p + 1) * c, binom(a, p) * b)``; rows indexed by
        (``(p+1)``-subset ``S`` of ``range(a)``, ``c``), columns by (``p``-subset, ``b``), both
        subsets in lexicographic order. Block ``(S' + {i}, S')`` is ``sign * T[i].T`` with
        ``a_i wedge a_{S'} = sign * a_{S' + {i}}``, ``sign = (-1)^{#{s in S' : s < i}}``.
    """
    prime = _check_prime(prime)
    t = _residues(np.asarray(t3), prime)
    if t.ndim != 3:
        raise ValueError(f"koszul_young_matrix needs a 3-way tensor, got shape {t.shape}")
    a, b, c = t.shape
    if not 0 <= int(p_ext) <= a - 1:
        raise ValueError(f"p must be in [0, dim A - 1] = [0, {a - 1}], got p = {p_ext}")
    cols = {s: k for k, s in enumerate(itertools.combinations(range(a), p_ext))}
    rows = {s: k for k, s in enumerate(itertools.combinations(range(a), p_ext + 1))}
    out = np.zeros((len(rows) * c, len(cols) * b), dtype=np.int64)
    for s, j in cols.items():
        for i in range(a):
            if i in s:
                continue
            target = tuple(sorted(s + (i,)))
            sign = -1 if sum(1 for v in s if v < i) % 2 else 1
            block = t[i].T if sign > 0 else (-t[i].T) % prime
            r = rows[target]
            out[r * c:(r + 1) * c, j * b:(j + 1) * b] = block
    return out


def _three_groupings(d: int, limit: int = MAX_GROUPINGS):
    """``(A, B, C)`` mode groups: every ordered choice of ``A`` and an ordered split ``B | C``.

    Stops after ``limit`` groupings (``A`` with few modes first).
    """
    yield from itertools.islice(_all_three_groupings(d), int(limit))


def _all_three_groupings(d: int):
    modes = range(d)
    for size_a in range(1, d - 1):
        for group_a in itertools.combinations(modes, size_a):
            rest = [m for m in modes if m not in group_a]
            for size_b in range(1, len(rest)):
                for group_b in itertools.combinations(rest, size_b):
                    group_c = tuple(m for m in rest if m not in group_b)
                    yield tuple(group_a), tuple(group_b), group_c


def _ratio_candidates(a: int, b: int, c: int):
    """``(dim A', p, most the bound can reach)`` for ``A`` projected to ``A'`` (or kept)."""
    out = []
    for p_ext in range(1, a - 1):
        for a_used in sorted({a, 2 * p_ext + 1}):
            if a_used > a or p_ext > a_used - 2:
                continue
            div = math.comb(a_used - 1, p_ext)
            rows, cols = math.comb(a_used, p_ext + 1) * c, math.comb(a_used, p_ext) * b
            out.append((a_used, p_ext, -(-min(rows, cols) // div), rows * cols))
    return out


def koszul_young_reach(shape) -> int:
    """Largest value any Koszul-Young bound of :func:`koszul_young_lower_bound` can take on ``shape``.

    ``max ceil(min(rows, cols) / binom(dim A' - 1, p))`` over the groupings and ``(dim A', p)``
    it tries (the matrix rank is at most ``min(rows, cols)``), regardless of the matrix size,
    over the first :data:`MAX_GROUPINGS` groupings (all of them up to ``d = 10``).
    When this is ``<=`` the best flattening rank, no Koszul-Young flattening of this family can
    improve on the flattenings for any tensor of this shape.
    """
    shape = [int(s) for s in shape]
    if len(shape) < 3:
        raise ValueError(f"need a shape of order >= 3, got {shape}")
    best = 0
    for groups in _three_groupings(len(shape)):
        a, b, c = (math.prod(shape[m] for m in g) for g in groups)
        for _, _, reach, _ in _ratio_candidates(a, b, c):
            best = max(best, reach)
    return best


def koszul_young_lower_bound(tensor, *, floor: int = 0, prime: int | None = None, seed: int = 0,
                             max_candidates: int = 64,
                             max_entries: int = MAX_KOSZUL_ENTRIES,
                             time_limit: float | None = None) -> dict | None:
    """Best certified Koszul-Young bound over groupings of the modes into ``A (x) B (x) C``.

    For every grouping and every ``(dim A', p)`` (``A`` kept, or projected to ``2p + 1``
    dimensions), the largest value the bound could reach, ``ceil(min(rows, cols) /
    binom(dim A' - 1, p))``, is computed first; candidates that cannot beat ``floor`` (or the
    best so far), or whose matrix exceeds ``max_entries``, are skipped, the others are tried in
    decreasing order of that value.

    Parameters
    ----------
    tensor : integer tensor of order ``>= 3`` (integer dtype, or integral floats ``|x| < 2^53``)
    floor : int
        A lower bound already known (e.g. the best flattening rank); only candidates that can
        exceed it are computed.
    prime : int, optional
        Default :data:`~tt_rnn.rank.constants.BLAS_PRIME` (``2^23 - 15``: the blocked float64
        elimination applies to large matrices).
    seed : int
        Seed of the integer projections ``A -> A'``.
    max_candidates : int
        At most this many matrices are row-reduced.
    max_entries : int
        Largest matrix (rows x cols) built.
    time_limit : float, optional
        Seconds; the best bound so far is returned when they run out.

    Returns
    -------
    dict or None
        ``{"bound", "rank", "divisor", "p", "dim_A", "dim_A_used", "projected", "groups"
        (three lists of modes), "matrix_shape", "prime", "candidates_tried", "complete",
        "time_s"}`` for the best candidate computed (its bound may be ``<= floor``), or
        ``None`` when no candidate could exceed ``floor`` within ``max_entries`` (``complete``
        says whether every such candidate was tried).
    """
    start = time.perf_counter()
    x = _to_numpy(tensor)
    if x.ndim < 3:
        raise ValueError(f"Koszul-Young flattenings need a tensor of order >= 3, got shape "
                         f"{x.shape}")
    if x.size > MAX_GFP_ENTRIES:
        raise ValueError(f"tensor of shape {x.shape} has {x.size} entries, above the limit "
                         f"{MAX_GFP_ENTRIES} for GF(p) certificates")
    if not _is_integer_array(x):
        raise ValueError("koszul_young_lower_bound needs an integer tensor (exact arithmetic): an "
                         "integer dtype, or integral floats with |x| < 2^53")
    if int(max_candidates) < 1 or int(max_entries) < 1:
        raise ValueError(f"need max_candidates >= 1 and max_entries >= 1, got {max_candidates}, "
                         f"{max_entries}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds or None, got {time_limit}")
    prime = _check_prime(BLAS_PRIME if prime is None else prime)
    return _koszul_young_lower_bound(x, floor=floor, prime=prime, seed=seed,
                                     max_candidates=int(max_candidates),
                                     max_entries=int(max_entries), time_limit=time_limit,
                                     start=start)


def _koszul_young_lower_bound(x: np.ndarray, *, floor: int = 0, prime: int = BLAS_PRIME,
                              seed: int = 0, max_candidates: int = 64,
                              max_entries: int = MAX_KOSZUL_ENTRIES,
                              time_limit: float | None = None, start: float | None = None):
    """:func:`koszul_young_lower_bound` of a checked integer numpy tensor (order ``>= 3``,
    ``<= MAX_GFP_ENTRIES`` entries) with checked arguments (``prime`` a prime)."""
    start = time.perf_counter() if start is None else start
    xr = _residues(x, prime)
    cands, n_groupings = [], 0
    for groups in _three_groupings(x.ndim):
        n_groupings += 1
        a, b, c = (math.prod(x.shape[m] for m in g) for g in groups)
        for a_used, p_ext, reach, entries in _ratio_candidates(a, b, c):
            if reach > floor and entries <= max_entries:
                cands.append((-reach, entries, groups, a_used, p_ext))
    cands.sort(key=lambda t: (t[0], t[1]))
    best, tried, complete = None, 0, True
    rng = np.random.default_rng([int(seed), 23])
    for neg_reach, _, groups, a_used, p_ext in cands:
        if best is not None and -neg_reach <= best["bound"]:
            continue
        if tried >= int(max_candidates) or (
                time_limit is not None and time.perf_counter() - start > time_limit):
            complete = False
            break
        a, b, c = (math.prod(x.shape[m] for m in g) for g in groups)
        t3 = np.transpose(xr, groups[0] + groups[1] + groups[2]).reshape(a, b, c)
        if a_used < a:
            phi = rng.integers(-PROJECTION_RANGE, PROJECTION_RANGE + 1, size=(a_used, a))
            t3 = np.tensordot(phi, t3, axes=(1, 0)) % prime     # |sum| < a * 3 * prime
        mat = koszul_young_matrix(t3, p_ext, prime)
        method = "blocked" if 64 * (prime - 1) ** 2 + prime < 2 ** 53 else "elimination"
        rank = gf_p_rank(mat, prime, method=method if min(mat.shape) > 128 else "elimination")
        tried += 1
        div = math.comb(a_used - 1, p_ext)
        bound = -(-rank // div)
        if best is None or bound > best["bound"]:
            best = dict(bound=int(bound), rank=int(rank), divisor=int(div), p=int(p_ext),
                        dim_A=int(a), dim_A_used=int(a_used), projected=bool(a_used < a),
                        groups=[list(g) for g in groups], matrix_shape=list(mat.shape),
                        prime=int(prime))
    if best is None:
        return None
    exhaustive = n_groupings < MAX_GROUPINGS or 3 ** x.ndim - 3 * 2 ** x.ndim + 3 <= n_groupings
    best.update(candidates_tried=tried, complete=complete and exhaustive,
                groupings_enumerated=n_groupings, time_s=time.perf_counter() - start)
    return best
