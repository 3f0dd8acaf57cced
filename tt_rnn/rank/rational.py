"""Exact check of an upper bound: rational reconstruction of CP factors and exact recomposition.

A floating-point fit with relative error ``1e-10`` proves nothing about the rank of an exact
tensor: ``2^18 + arange(27).reshape(3, 3, 3)`` lies within float rounding of rank-2 tensors
(it is ``c e_1^{(x)3} + W`` in a suitable basis, in the orbit of the W tensor: rank 3, border
rank 2), so a rank-2 "exact fit" exists in float64 while no rank-2 decomposition does. For an
integer tensor this module turns a fit into a *certificate* only when the fit is, after fixing
the scaling of each component, within rounding of a decomposition with **rational** factors that
recomposes to the input **exactly** (python integers, no tolerance). An approximation can pass
the rounding step but never the exact recomposition, so a pass proves ``CP rank <= R`` over Q,
hence over R and C.

Most decompositions of integer tensors have irrational (algebraic) factors; for them no
certificate is found here and the upper end stays numerical.

References
----------
.. [1] J. von zur Gathen, J. Gerhard, *Modern Computer Algebra*, 3rd ed., Cambridge, 2013
       (rational reconstruction, Sec. 5.10; here via continued fractions,
       :meth:`fractions.Fraction.limit_denominator`).
.. [2] J. M. Landsberg, *Tensors: Geometry and Applications*, AMS, 2012 (the W tensor, Sec. 3.1).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import reduce

import numpy as np

from .lm import cp_to_tensor

#: Denominator caps tried by :func:`rational_cp_certificate`, smallest first.
DEFAULT_MAX_DENOMINATORS = (1, 10 ** 2, 10 ** 4, 10 ** 6)
#: A rounded decomposition whose float relative error exceeds this is not checked exactly
#: (it cannot be exact; the exact check alone decides acceptance).
ROUNDED_FLOAT_SCREEN = 1e-6


def exact_integer_array(x: np.ndarray) -> np.ndarray:
    """Object array of python ints equal to ``x`` (an integer dtype, or integral floats).

    Raises
    ------
    ValueError
        If an entry is not an integer.
    """
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        return x.astype(object)
    if not (np.all(np.isfinite(x)) and np.all(x == np.round(x))):
        raise ValueError("exact_integer_array needs integer entries, got non-integer floats")
    return np.vectorize(int, otypes=[object])(x)


def _gauge_fixed(factors) -> list[np.ndarray]:
    """Factors rescaled so that, in every mode but the last, each column's largest entry is 1.

    A rank-1 term ``a_1 (x) ... (x) a_d`` is unchanged when ``a_k`` is divided by a scalar and
    ``a_d`` multiplied by it; after this normalisation the factors of a decomposition with
    rational entries (up to scaling) are rational themselves.
    """
    fs = [np.array(f, dtype=np.float64) for f in factors]
    for t in range(fs[0].shape[1]):
        for k in range(len(fs) - 1):
            col = fs[k][:, t]
            pivot = col[int(np.argmax(np.abs(col)))]
            if pivot == 0.0:
                for f in fs:
                    f[:, t] = 0.0
                break
            fs[k][:, t] = col / pivot
            fs[-1][:, t] *= pivot
    return fs


def _rounded(factors, max_denominator: int) -> list[list[list[Fraction]]]:
    """``[k][t]``: column ``t`` of mode ``k`` as fractions with denominators ``<= max_denominator``."""
    return [[[Fraction(float(v)).limit_denominator(max_denominator) for v in f[:, t]]
             for t in range(f.shape[1])] for f in factors]


def exact_cp_recomposition(columns) -> tuple[np.ndarray, int]:
    """``(N, L)`` with ``N / L`` the exact tensor ``sum_t c^{(1)}_t (x) ... (x) c^{(d)}_t``.

    ``columns[k][t]`` is a list of :class:`fractions.Fraction`; ``N`` is an object array of
    python ints and ``L`` a positive integer (the common denominator).
    """
    d, rank = len(columns), len(columns[0])
    terms, dens = [], []
    for t in range(rank):
        vecs, den = [], 1
        for k in range(d):
            col = columns[k][t]
            q = reduce(math.lcm, (c.denominator for c in col), 1)
            vecs.append(np.array([int(c * q) for c in col], dtype=object))
            den *= q
        terms.append(reduce(np.multiply.outer, vecs))
        dens.append(den)
    common = reduce(math.lcm, dens, 1)
    total = sum((common // den) * term for den, term in zip(dens, terms))
    return np.asarray(total, dtype=object), common


def rational_cp_certificate(exact, factors, *, max_denominators=DEFAULT_MAX_DENOMINATORS):
    """Exact certificate ``CP rank <= R`` from a float fit, or ``None``.

    Parameters
    ----------
    exact : array of integers
        The exact tensor (integer dtype or integral floats).
    factors : list of arrays ``(n_k, R)``
        A floating-point fit of ``exact`` (for the tensor as given).
    max_denominators : sequence of int
        Caps of the continued-fraction rounding tried in turn.

    Returns
    -------
    dict or None
        ``{"rank", "max_denominator", "common_denominator", "factors"}`` (``factors[k][t]``: the
        rational column, as strings) when the rounded factors recompose **exactly** to
        ``exact``; ``None`` otherwise (the fit is then only numerical evidence).
    """
    x = exact_integer_array(exact)
    if len(factors) != x.ndim or any(np.shape(f)[0] != s for f, s in zip(factors, x.shape)):
        raise ValueError(f"factors of shapes {[np.shape(f) for f in factors]} do not match the "
                         f"tensor shape {x.shape}")
    return _rational_cp_certificate(x, factors, max_denominators)


def _rational_cp_certificate(x: np.ndarray, factors, max_denominators=DEFAULT_MAX_DENOMINATORS):
    """:func:`rational_cp_certificate` of an object array of python ints ``x`` and factors of
    matching shapes."""
    xf = x.astype(np.float64)
    norm = float(np.linalg.norm(xf)) or 1.0
    fixed = _gauge_fixed(factors)
    seen = set()
    for cap in max_denominators:
        cols = _rounded(fixed, int(cap))
        key = tuple(tuple(tuple(c) for c in mode) for mode in cols)
        if key in seen:
            continue
        seen.add(key)
        approx = cp_to_tensor([np.array([[float(c) for c in col] for col in mode]).T for mode in cols])
        if not np.linalg.norm(approx - xf) <= ROUNDED_FLOAT_SCREEN * norm:
            continue
        numer, den = exact_cp_recomposition(cols)
        if np.array_equal(numer, x * den):
            return dict(rank=int(np.shape(factors[0])[1]), max_denominator=int(cap),
                        common_denominator=int(den),
                        factors=[[[str(c) for c in col] for col in mode] for mode in cols])
    return None
