"""Test tensors of known rank: the W tensor, random CP tensors, a tensor whose real and complex ranks differ.

References
----------
.. [1] J. M. Landsberg, *Tensors: Geometry and Applications*, AMS, 2012 (the W tensor: rank 3,
       border rank 2).
.. [2] V. de Silva, L.-H. Lim, "Tensor rank and the ill-posedness of the best low-rank
       approximation problem", SIAM J. Matrix Anal. Appl. 30(3), 2008 (real vs complex rank of
       ``2 x 2 x 2`` tensors).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .lm import cp_to_tensor


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
        out = cp_to_tensor([f.astype(object) for f in factors])
        return np.asarray(out.astype(np.int64))
    return cp_to_tensor([rng.standard_normal((s, rank)) for s in shape])


def real_part_of_complex_cube(dtype=np.int64) -> np.ndarray:
    """``Re((e1 + i e2)^{(x)3})``: complex CP rank 2, real CP rank 3 [2]_.

    It equals ``(z^{(x)3} + conj(z)^{(x)3}) / 2`` with ``z = e1 + i e2`` (two complex terms),
    while its hyperdeterminant is negative, so no real decomposition with two terms exists. Entry
    ``[a, b, c]`` is ``Re(i^k)`` with ``k = a + b + c``: ``1, 0, -1, 0`` for ``k = 0, 1, 2, 3``.
    """
    k = np.add.outer(np.add.outer(np.arange(2), np.arange(2)), np.arange(2))
    return np.array([1, 0, -1, 0], dtype=dtype)[k]

