"""Numerical lower bounds on the CP rank: ranks of unfoldings (flattenings), by SVD.

Every unfolding (matricization) ``X_(S)`` of a rank-one tensor is a rank-one matrix, so
``rank X_(S) <= CP rank`` for every bipartition ``S | S^c`` of the modes, over R and over C
(Hastad [1]_, flattenings in Landsberg [2]_, Sec. 3.4). Here the rank of the float64 matrix is the
number of singular values above ``rtol * sigma_max``: numerical evidence, not a proof (the exact
version is :func:`tt_rnn.rank.gfp.unfolding_rank_mod_p`). Tensors are divided by ``max|x|``
first, so the result does not depend on the scale of the input.

References
----------
.. [1] J. Hastad, "Tensor rank is NP-complete", J. Algorithms 11(4), 1990.
.. [2] J. M. Landsberg, *Tensors: Geometry and Applications*, AMS, 2012.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..tt import odd_even_row_modes, unfold
from ._checks import _check_size, _max_abs_scaled, _row_modes_or_default, _to_float64, _to_numpy
from .constants import DEFAULT_SVD_RTOL, MAX_SVD_ENTRIES


def _numerical_rank(matrix: np.ndarray, rtol=DEFAULT_SVD_RTOL) -> tuple[int, np.ndarray, float]:
    """(rank, singular values, rtol used) of a float matrix (callers scale it by ``1 / max|x|``)."""
    s = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)
    if rtol is None:
        rtol = max(matrix.shape) * np.finfo(np.float64).eps
    if not 0 <= rtol < 1:
        raise ValueError(f"rtol must be in [0, 1), got rtol = {rtol}")
    if s.size == 0 or s[0] == 0:
        return 0, s, float(rtol)
    return int(np.sum(s > rtol * s[0])), s, float(rtol)


def unfolding_rank(tensor, row_modes=None, rtol=DEFAULT_SVD_RTOL) -> int:
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

    Returns
    -------
    int

    Notes
    -----
    The unfolding of a rank-one tensor is a rank-one matrix, so the rank of any unfolding is a
    lower bound on the CP rank ([1]_, Sec. 3.4). The floating-point rank is only as reliable as
    the gap in the spectrum at the cut-off; :func:`unfolding_rank_mod_p` is the exact version.
    """
    x = _to_numpy(tensor)
    _check_size(x, MAX_SVD_ENTRIES, "an SVD of an unfolding")
    rows = _row_modes_or_default(x.ndim, row_modes)
    xs, _ = _max_abs_scaled(_to_float64(x, "unfolding_rank"))
    return _unfolding_rank(xs, rows, rtol)


def _unfolding_rank(xs: np.ndarray, rows, rtol) -> int:
    """:func:`unfolding_rank` of a checked float64 tensor ``xs`` already divided by ``max|x|``."""
    return _numerical_rank(unfold(xs, rows), rtol)[0]


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


def best_unfolding_rank(tensor, rtol=DEFAULT_SVD_RTOL, *, max_partitions: int = 512):
    """Largest numerical unfolding rank over the balanced bipartitions (when affordable).

    Parameters
    ----------
    tensor : array or TensorTrain
    rtol : float, optional
        See :func:`unfolding_rank`.
    max_partitions : int
        At most this many bipartitions are tried: the odd/even one first, then the balanced ones
        in lexicographic order (all of them when there are fewer than ``max_partitions``).

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
    xs, _ = _max_abs_scaled(_to_float64(x, "best_unfolding_rank"))
    if max_partitions < 1:
        raise ValueError(f"max_partitions must be >= 1, got {max_partitions}")
    return _best_unfolding_rank(xs, rtol, max_partitions)


def _best_unfolding_rank(x: np.ndarray, rtol, max_partitions: int):
    """:func:`best_unfolding_rank` of a checked float64 tensor already divided by ``max|x|``."""
    d = x.ndim
    candidates = [tuple(odd_even_row_modes(d))] + [s for s in balanced_bipartitions(d)
                                                  if s != tuple(odd_even_row_modes(d))]
    best, best_modes = -1, None
    tried = 0
    for modes in candidates[:max_partitions]:
        rows = int(np.prod([x.shape[m] for m in modes]))
        if best >= min(rows, x.size // rows):
            tried += 1
            continue  # cannot beat the current best
        rank = _unfolding_rank(x, list(modes), rtol)
        tried += 1
        if rank > best:
            best, best_modes = rank, modes
    return best, tuple(best_modes), tried, tried == len(candidates)
