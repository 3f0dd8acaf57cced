"""Grid tensors of generalized (rectifier) networks and the ranks of their matricizations.

A generalized network (:mod:`tt_rnn.networks`, ``xi != "product"``) has no multilinear
coefficient tensor. Khrulkov, Hrinchuk and Oseledets (2019), following Cohen and Shashua (2016),
study it through its *grid tensor*: fix ``M`` template feature vectors ``F[0], ..., F[M-1]`` (the
rows of an ``(M, m)`` matrix ``F``, in the paper ``F[j] = f_theta(x^(j))`` for template inputs
``x^(j)``) and tabulate the score on every combination of templates,

.. math:: \\Gamma^y[j_1, \\dots, j_d] = h_y(F[j_1], \\dots, F[j_d]).

For the product network ``Gamma^y = A^y x_1 F x_2 F ... x_d F``; for a generalized one the grid
tensor is computed by the same recurrence with ``xi``, on all ``M^d`` inputs at once
(:func:`grid_tensor`). The rank of a matricization of ``Gamma^y`` bounds the width a shallow
generalized network needs to realise the same grid tensor:

**Lemma (rectifier CP width).** Let ``S | S^c`` split the ``d`` positions. A shallow rectifier
network (``xi = max(x, y, 0)``) of width ``R`` has, for every template set of size ``M``,
``rank unfold_S(Gamma^y) <= R * min(|S| M + 1, |S^c| M)``.

*Proof.* ``Gamma^y = sum_rho lambda_rho T_rho`` with
``T_rho[j] = max(z_1[j_1], ..., z_d[j_d], 0)``, ``z_t = F a_t[:, rho]``. In the unfolding,
``T_rho[I, J] = max(u_I, v_J)`` with ``u_I = max(0, max_{t in S} z_t[j_t])`` and
``v_J = max_{t in S^c} z_t[j_t]``. Rows with equal ``u_I`` are equal and ``u_I`` takes at most
``|S| M + 1`` values; columns with equal ``v_J`` are equal and ``v_J`` takes at most
``|S^c| M`` values. Subadditivity of the rank over the ``R`` terms ends the proof.

So a TT network whose grid tensor has unfolding rank ``rho`` needs a shallow rectifier network
of width at least ``rho / min(|S| M + 1, |S^c| M)`` (:func:`cp_width_lower_bound`) to realise
the same grid tensor; for the odd/even split of even ``d`` the denominator is ``d M / 2``, only
linear in ``d``, so an exponentially growing rank forces an exponentially wide shallow network.
For ``xi = "rectifier-sum"`` every CP term is ``a_I + b_J`` and the bound is ``2 R``.

**Exact ranks.** Every rank in the results is computed on the exact grid tensor of a network
rounded to a dyadic grid (parameters and templates multiples of ``2^-bits``,
:func:`dyadic_network`, :func:`dyadic_templates`). :func:`integer_grid_tensor` returns
``grid * 2^e`` as Python integers: from the float64 evaluation when a magnitude bound shows that
every intermediate is an integer below ``2^53`` at that scale (:class:`_Tracked`), otherwise by
the same recurrence in Python-integer arithmetic (:class:`_Exact`, no bound needed).
:func:`exact_unfolding_rank` then brackets the rational (= real) rank of an unfolding:

* lower end: the largest GF(p) rank over two primes -- a ``k x k`` minor nonzero mod ``p`` is a
  nonzero integer, so ``rank_Q >= k`` (a proof);
* upper end: the smaller side, the number of distinct rows and of distinct columns (equal
  integer rows are compared exactly), and, when the matrix left after removing repeated rows and
  columns has at most :data:`BAREISS_MAX` rows or columns, its exact rank by fraction-free
  (Bareiss) elimination over the integers.

The rank is *exact* (``*_exact`` in the record) when the two ends meet; otherwise the record
holds the certified lower end, which equals the rational rank unless both primes divide every
maximal nonzero minor. The float SVD rank at the default tolerance is kept beside it (labelled
numerical) with the *epsilon-rank profile*: the number of relative singular values
``sigma_k / sigma_1 > eps`` for ``eps = 1e-12, 1e-11, ..., 1e-1`` (:data:`EPSILONS`). The SVD rank
can undercount: ``tt``, product, ``d = 8``, ``r = 4``, seed 2 has SVD rank 252 and exact rank 256
(tests/test_generalized.py).

References
----------
.. [1] V. Khrulkov, O. Hrinchuk, I. Oseledets, "Generalized tensor models for recurrent neural
       networks", ICLR 2019.
.. [2] N. Cohen, A. Shashua, "Convolutional rectifier networks as generalized tensor
       decompositions", ICML 2016.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import rank as rank_tools
from .networks import CPNetwork, HTNetwork, TTNetwork, XI_KINDS, make_network
from .runfiles import write_records
from .tt import odd_even_row_modes, unfold

__all__ = [
    "MAX_GRID_ENTRIES",
    "grid_tensor",
    "dyadic_network",
    "dyadic_templates",
    "unfolding_ranks",
    "cp_width_lower_bound",
    "EPSILONS",
    "BAREISS_MAX",
    "integer_grid_tensor",
    "exact_unfolding_rank",
    "epsilon_ranks",
    "bareiss_rank",
    "additive_relu_rnn",
    "GridRankRecord",
    "grid_rank_experiment",
    "write_grid_ranks",
    "summarise",
]

#: Largest ``C * M^d`` a grid tensor may have (the work array also holds ``M^d * r * m`` numbers).
MAX_GRID_ENTRIES = 2 ** 21
#: float64 integers are exact below this; integer grid tensors are checked against it.
EXACT_INTEGER_LIMIT = 2.0 ** 53
#: The thresholds of the epsilon-rank profiles (relative singular values), 1e-12 ... 1e-1.
EPSILONS = tuple(10.0 ** -k for k in range(12, 0, -1))
#: Exact Bareiss elimination only when the de-duplicated matrix has at most this many rows or columns.
BAREISS_MAX = 48
#: The primes of the GF(p) lower bounds (float64 blocked elimination is exact for both).
RANK_PRIMES = (rank_tools.BLAS_PRIME, rank_tools.BLAS_SECOND_PRIME)

_XI_NUMPY = {
    "product": (lambda x, y: x * y, lambda bx, by: bx * by),
    "rectifier": (lambda x, y: np.maximum(np.maximum(x, y), 0.0), np.maximum),
    "rectifier-sum": (lambda x, y: np.maximum(x, 0.0) + np.maximum(y, 0.0), lambda bx, by: bx + by),
}
# Same start state as tt_rnn.networks: the neutral element of xi on non-negative numbers.
_START = {"product": 1.0, "rectifier": 0.0, "rectifier-sum": 0.0}


def _numpy(parameter) -> np.ndarray:
    return parameter.detach().cpu().double().numpy()


def _dyadic_exponent(array: np.ndarray, max_bits: int = 40):
    """Smallest ``e <= max_bits`` with ``array * 2^e`` all integers (exactly), else None."""
    for e in range(max_bits + 1):
        scaled = array * 2.0 ** e
        if np.all(scaled == np.round(scaled)):
            return e
    return None


class _Tracked:
    """Values with an entrywise magnitude bound and a power-of-two denominator, carried through
    the same operations.

    When every input is a dyadic rational (``k / 2^e``), every intermediate of the float64
    computation is a multiple of ``2^-exponent`` of magnitude at most ``bound`` (a matmul's
    partial sums are bounded by ``|A| @ |B|``). If ``peak = max bound * 2^exponent`` over all
    operations stays below ``2^53``, every intermediate is exactly representable: the result is
    exact, and ``result * 2^exponent`` is an exact integer tensor.
    """

    def __init__(self, value, bound, exponent, peak):
        self.value, self.bound, self.exponent = value, bound, exponent
        self.peak = max(peak, float(bound.max()) * 2.0 ** exponent if exponent is not None else math.inf)

    @classmethod
    def of(cls, array):
        return cls(array, np.abs(array), _dyadic_exponent(array), 0.0)

    def xi(self, other, xi):
        fn, bound_fn = _XI_NUMPY[xi]
        if self.exponent is None or other.exponent is None:
            exponent = None
        elif xi == "product":
            exponent = self.exponent + other.exponent
        else:  # max and sums of the two: the finer denominator
            exponent = max(self.exponent, other.exponent)
        return _Tracked(fn(self.value, other.value), bound_fn(self.bound, other.bound), exponent,
                        max(self.peak, other.peak))

    def matmul(self, matrix):
        e = _dyadic_exponent(matrix)
        exponent = None if e is None or self.exponent is None else self.exponent + e
        return _Tracked(self.value @ matrix, self.bound @ np.abs(matrix), exponent, self.peak)

    def reshape(self, *shape):
        return _Tracked(self.value.reshape(*shape), self.bound.reshape(*shape), self.exponent, self.peak)

    def expand(self, index):
        return _Tracked(self.value[index], self.bound[index], self.exponent, self.peak)


def _to_int_objects(array: np.ndarray) -> np.ndarray:
    """An integer-valued float array as an object array of Python ints (exact)."""
    out = np.empty(array.shape, dtype=object)
    out.ravel()[:] = [int(v) for v in np.asarray(array).ravel()]
    return out


class _Exact:
    """The interface of :class:`_Tracked` on exact values: ``value * 2^-exponent`` with ``value`` an
    object array of Python integers (no size limit). The inputs must be dyadic."""

    def __init__(self, value, exponent):
        self.value, self.exponent = value, exponent

    @classmethod
    def of(cls, array):
        array = np.asarray(array, dtype=np.float64)
        e = _dyadic_exponent(array, max_bits=60)
        if e is None:
            raise ValueError("exact grid tensors need dyadic parameters and templates (multiples of 2^-e)")
        return cls(_to_int_objects(array * 2.0 ** e), e)

    def _aligned(self, other):
        e = max(self.exponent, other.exponent)
        return self.value * (1 << (e - self.exponent)), other.value * (1 << (e - other.exponent)), e

    def xi(self, other, xi):
        if xi == "product":
            return _Exact(self.value * other.value, self.exponent + other.exponent)
        a, b, e = self._aligned(other)
        if xi == "rectifier":
            return _Exact(np.maximum(np.maximum(a, b), 0), e)
        return _Exact(np.maximum(a, 0) + np.maximum(b, 0), e)

    def matmul(self, matrix):
        other = _Exact.of(matrix)
        return _Exact(self.value.dot(other.value), self.exponent + other.exponent)

    def reshape(self, *shape):
        return _Exact(self.value.reshape(*shape), self.exponent)

    def expand(self, index):
        return _Exact(self.value[index], self.exponent)


def grid_tensor(network, templates, *, max_entries: int = MAX_GRID_ENTRIES,
                return_exactness: bool = False):
    """The grid tensor ``Gamma[y, j_1, ..., j_d] = h_y(F[j_1], ..., F[j_d])`` of a network.

    Parameters
    ----------
    network : CPNetwork, TTNetwork or HTNetwork
        Any ``xi``. Evaluated in float64 from its parameters (no rescaling).
    templates : array of shape ``(M, m)``
        The template feature vectors ``F`` (rows).
    max_entries : int
        Refuse grids with more than this many entries ``C * M^d``.
    return_exactness : bool
        Also return ``exponent``: an int ``e`` when the computation was exact in float64 and
        ``grid * 2^e`` is an exact integer tensor (dyadic parameters and templates, no
        intermediate too large; see :class:`_Tracked`), else None.

    Returns
    -------
    numpy.ndarray of shape ``(C, M, ..., M)`` (float64), and ``exponent`` if asked.

    Notes
    -----
    The contraction runs over all prefixes at once: for TT the states of all ``M^t`` template
    prefixes form an ``(M^t, r)`` array and one step is ``xi`` of every state with every template
    followed by one matrix product, ``O(M^d r^2 m)`` in all. CP folds ``xi`` over positions and
    HT pairs neighbouring subtrees the same way.
    """
    if not isinstance(network, (CPNetwork, TTNetwork, HTNetwork)):
        raise TypeError(f"network must be a CPNetwork, TTNetwork or HTNetwork, got {type(network).__name__}")
    f = np.asarray(templates.detach().cpu().numpy() if isinstance(templates, torch.Tensor) else templates,
                   dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != network.m or f.shape[0] < 1:
        raise ValueError(f"templates must have shape (M, m) = (M, {network.m}), got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("templates contain non-finite entries")
    n_templates, d, classes = f.shape[0], network.d, network.num_classes
    entries = classes * n_templates ** d
    if entries > max_entries:
        raise ValueError(f"the grid tensor has {classes} x {n_templates}^{d} = {entries} entries, above "
                         f"max_entries = {max_entries}; use fewer templates or a smaller d")
    xi = network.xi
    templates_t = _Tracked.of(f)
    out = _grid(network, templates_t, xi)
    grid = out.value.T.reshape(classes, *([n_templates] * d))
    if not return_exactness:
        return grid
    exact = out.exponent is not None and out.peak < EXACT_INTEGER_LIMIT
    return grid, (out.exponent if exact else None)


def _grid(network, templates_t, xi):
    if isinstance(network, TTNetwork):
        out = _tt_grid(network, templates_t, xi)
    elif isinstance(network, CPNetwork):
        out = _cp_grid(network, templates_t, xi)
    else:
        out = _ht_grid(network, templates_t, xi)
    return out


def integer_grid_tensor(network, templates, *, max_entries: int = MAX_GRID_ENTRIES):
    """``(G, e)``: the exact grid tensor as ``G * 2^-e`` with ``G`` an object array of Python ints.

    The network's parameters and the templates must be dyadic (:func:`dyadic_network`,
    :func:`dyadic_templates`). The float64 evaluation of :func:`grid_tensor` is used when its
    magnitude bound proves it exact (every intermediate an integer below ``2^53`` at scale
    ``2^e``); otherwise the same recurrence runs in Python-integer arithmetic.
    """
    grid, exponent = grid_tensor(network, templates, max_entries=max_entries, return_exactness=True)
    if exponent is not None:
        return _to_int_objects(grid * 2.0 ** exponent), exponent
    f = np.asarray(templates.detach().cpu().numpy() if isinstance(templates, torch.Tensor) else templates,
                   dtype=np.float64)
    out = _grid(network, _Exact.of(f), network.xi)
    return out.value.T.reshape(network.num_classes, *([f.shape[0]] * network.d)), out.exponent


def _tt_grid(net, f, xi):
    n_templates, r = f.value.shape[0], net.rank
    start = type(f).of(np.full((1, 1), _START[xi]))  # (1, 1): xi with F gives (M, m)
    h = start.xi(f, xi).matmul(_numpy(net.first_core))  # (M, r)
    for t in range(1, net.d):
        # pairs[p, j, a, i] = xi(h[p, a], F[j, i]) for prefix p and next template j
        pairs = h.expand((slice(None), None, slice(None), None)).xi(
            f.expand((None, slice(None), None, slice(None))), xi)
        pairs = pairs.reshape(h.value.shape[0] * n_templates, r * net.m)
        if t == net.d - 1:
            return pairs.matmul(_numpy(net.last_core).reshape(r * net.m, -1))  # (M^d, C)
        h = pairs.matmul(_numpy(net.inner_core(t)).reshape(r * net.m, r))


def _cp_grid(net, f, xi):
    a = _numpy(net.a)
    z = f.matmul(a[0])  # (M, R)
    for t in range(1, net.d):
        zt = f.matmul(a[t])
        z = z.expand((slice(None), None, slice(None))).xi(zt.expand((None, slice(None), slice(None))), xi)
        z = z.reshape(-1, net.rank)
    return z.matmul(_numpy(net.weights))


def _ht_grid(net, f, xi):
    w0 = _numpy(net.input_weights)
    nodes = [f.matmul(w0[t]) for t in range(net.d)]  # each (M^size, r)
    levels = [_numpy(w) for w in net.hidden_weights] + [None]
    for weights in levels:
        paired = [left.expand((slice(None), None, slice(None))).xi(right.expand((None, slice(None), slice(None))), xi)
                  .reshape(-1, net.rank) for left, right in zip(nodes[0::2], nodes[1::2])]
        if weights is None:
            return paired[0].matmul(_numpy(net.top_weights))
        nodes = [node.matmul(weights[j]) for j, node in enumerate(paired)]


def dyadic_network(kind: str, d: int, m: int, rank: int, num_classes: int = 1, *,
                   xi: str = "rectifier", bits: int = 4, seed: int = 0):
    """:func:`tt_rnn.networks.make_network`'s float64 network (seeded initialisation) with every
    parameter rounded to a multiple of ``2^-bits``.

    Its grid tensor on dyadic templates (:func:`dyadic_templates`) is computed exactly (while
    no intermediate exceeds 2^53 at that scale), so its matricization ranks can be certified by
    GF(p) elimination. A shared TT core stays one parameter.
    """
    if not isinstance(bits, int) or bits < 0:
        raise ValueError(f"bits must be an int >= 0, got bits = {bits!r}")
    torch.manual_seed(seed)
    net = make_network(kind, d, m, rank, num_classes, xi=xi, dtype=torch.float64)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.round(p * 2 ** bits) / 2 ** bits)
    return net


def dyadic_templates(n_templates: int, m: int, *, bits: int = 4, seed: int = 0) -> np.ndarray:
    """``(M, m)`` distinct template feature vectors with entries in ``{0, 2^-bits, ..., 1}``.

    Non-negative, like the ReLU features of :mod:`tt_rnn.features`.
    """
    levels = 2 ** bits + 1
    if levels ** m < n_templates:
        raise ValueError(f"only {levels ** m} distinct vectors on this grid, asked for M = {n_templates}")
    rng = np.random.default_rng(seed)
    rows: list[tuple] = []
    while len(rows) < n_templates:
        row = tuple(int(v) for v in rng.integers(0, levels, size=m))
        if row not in rows:
            rows.append(row)
    return np.array(rows, dtype=np.float64) / 2 ** bits


def _split_sizes(d: int, row_modes) -> tuple[int, int]:
    return len(row_modes), d - len(row_modes)


def unfolding_ranks(grid_y: np.ndarray, *, exact: bool | None = None) -> dict:
    """Ranks of the odd/even and the contiguous-half matricizations of one class's grid tensor.

    ``exact=None`` chooses the GF(p) rank (certified lower bound on the real rank) when the
    tensor is integer-valued and the SVD rank otherwise; both are reported when exact. Returns a
    dict ``{"odd_even": {...}, "half": {...}}`` with ``rank`` (the one used), ``svd_rank``,
    ``gf_p_rank`` (or None), ``max_rank`` (the matrix's smaller side) and ``row_modes``.
    """
    d = grid_y.ndim
    if exact is None:
        exact = rank_tools.is_integer_tensor(grid_y)
    if exact and not rank_tools.is_integer_tensor(grid_y):
        raise ValueError("exact=True needs an integer-valued grid tensor (integer network and templates)")
    out = {}
    for name, rows in (("odd_even", odd_even_row_modes(d)), ("half", list(range(d // 2)))):
        svd = rank_tools.unfolding_rank(grid_y, rows)
        gfp = rank_tools.unfolding_rank_mod_p(grid_y, rows) if exact else None
        n_rows = grid_y.shape[0] ** len(rows)
        out[name] = dict(rank=gfp if exact else svd, svd_rank=svd, gf_p_rank=gfp,
                         max_rank=min(n_rows, grid_y.size // n_rows), row_modes=rows)
    return out


def epsilon_ranks(matrix, epsilons=EPSILONS) -> list[int]:
    """The epsilon-rank profile: for each ``eps``, the number of singular values with
    ``sigma_k / sigma_1 > eps`` (numerical; float64 SVD of ``matrix / max|matrix|``)."""
    x = np.asarray(matrix, dtype=np.float64)
    scale = float(np.abs(x).max()) if x.size else 0.0
    if scale == 0.0:
        return [0 for _ in epsilons]
    s = np.linalg.svd(x / scale, compute_uv=False)
    return [int(np.sum(s > eps * s[0])) for eps in epsilons]


def bareiss_rank(matrix) -> int:
    """Exact rank over the rationals of an integer matrix (lists or an object array of Python
    ints) by fraction-free Gaussian elimination (Bareiss): every division is exact, so the
    entries stay integers. Cost ``O(rows * cols * rank)`` big-integer operations."""
    a = [[int(v) for v in row] for row in np.asarray(matrix, dtype=object).tolist()]
    if not a:
        return 0
    n_rows, n_cols = len(a), len(a[0])
    previous, rank = 1, 0
    for col in range(n_cols):
        pivot = next((i for i in range(rank, n_rows) if a[i][col] != 0), None)
        if pivot is None:
            continue
        a[rank], a[pivot] = a[pivot], a[rank]
        top, p = a[rank], a[rank][col]
        for i in range(rank + 1, n_rows):
            row, f = a[i], a[i][col]
            a[i] = [0] * (col + 1) + [(row[j] * p - f * top[j]) // previous for j in range(col + 1, n_cols)]
        previous, rank = p, rank + 1
        if rank == n_rows:
            break
    return rank


def _distinct(rows: np.ndarray) -> np.ndarray:
    """The distinct rows of an object (Python int) matrix, in order of first appearance."""
    seen: dict = {}
    for i, row in enumerate(rows.tolist()):
        seen.setdefault(tuple(row), i)
    return rows[sorted(seen.values())]


def exact_unfolding_rank(matrix) -> dict:
    """Bracket the rational (= real) rank of an integer matrix and say whether it is exact.

    ``matrix``: integers (an object array of Python ints, or an integer / integral-float array).
    Returns ``lower`` (the largest GF(p) rank over :data:`RANK_PRIMES`: a proof that
    ``rank >= lower``), ``upper`` (the smaller side, the numbers of distinct rows and of distinct
    columns, and the exact Bareiss rank of the de-duplicated matrix when it has at most
    :data:`BAREISS_MAX` rows or columns: a proof that ``rank <= upper``), ``exact`` (``lower ==
    upper``), ``gf_p_ranks`` (one per prime) and ``method`` (what settled the upper end).
    """
    a = np.asarray(matrix)
    if a.dtype != object:
        if np.issubdtype(a.dtype, np.floating) and not rank_tools.is_integer_tensor(a):
            raise ValueError("exact_unfolding_rank needs an integer matrix")
        a = _to_int_objects(a)
    gfp = [int(rank_tools.gf_p_rank(a, p)) for p in RANK_PRIMES]
    lower = max(gfp)
    reduced = _distinct(_distinct(a).T).T
    upper, method = min(a.shape), "matrix size"
    if min(reduced.shape) < upper:
        upper, method = min(reduced.shape), "distinct rows and columns"
    if lower < upper and min(reduced.shape) <= BAREISS_MAX:
        upper, method = bareiss_rank(reduced if reduced.shape[0] <= reduced.shape[1] else reduced.T), "Bareiss"
        lower = max(lower, upper)
    return dict(lower=lower, upper=upper, exact=lower == upper, gf_p_ranks=gfp, primes=list(RANK_PRIMES),
                upper_method=method)


def additive_relu_rnn(network: TTNetwork) -> dict:
    """The ``xi = "rectifier-sum"`` TT network as the additive ReLU recurrent network it is.

    Since ``xi(h_a, f_i) = relu(h_a) + relu(f_i)`` the step
    ``h_t[c] = sum_{a,i} G_t[a, i, c] (relu(h_{t-1}[a]) + relu(f_t[i]))`` is exactly
    ``h_t = relu(h_{t-1}) W_t + relu(f_t) U_t`` with ``W_t[a, c] = sum_i G_t[a, i, c]`` and
    ``U_t[i, c] = sum_a G_t[a, i, c]``; the first step is ``h_1 = relu(f_1) G_1`` (start state 0)
    and the score ``h_y = relu(h_{d-1}) W_d + relu(f_d) U_d`` with the last core. A shared core
    gives one ``(W, U)`` for every inner step: an Elman network with ReLU on the state and on the
    input, no bias. The ``r m r`` core entries act only through the ``r^2 + m r`` sums.

    Returns ``{"first": G_1 (m, r), "steps": [(W_t, U_t) for t = 2 .. d]}`` as float64 arrays.
    """
    if not isinstance(network, TTNetwork) or network.xi != "rectifier-sum":
        raise ValueError("additive_relu_rnn needs a TTNetwork with xi = 'rectifier-sum'")
    cores = [_numpy(network.inner_core(t)) for t in range(1, network.d - 1)] + [_numpy(network.last_core)]
    return dict(first=_numpy(network.first_core), steps=[(g.sum(axis=1), g.sum(axis=0)) for g in cores])


def cp_width_lower_bound(unfolding_rank: int, d: int, n_templates: int, row_modes,
                         xi: str = "rectifier") -> int:
    """Smallest width a shallow ``xi`` network can have if its grid tensor's unfolding has this rank.

    ``ceil(rank / min(|S| M + 1, |S^c| M))`` for the rectifier (module Lemma), ``ceil(rank / 2)``
    for ``"rectifier-sum"``, ``rank`` for the product (the CP rank bounds every unfolding rank).
    """
    s, sc = _split_sizes(d, row_modes)
    per_term = {"rectifier": min(s * n_templates + 1, sc * n_templates), "rectifier-sum": 2, "product": 1}
    if xi not in per_term:
        raise ValueError(f"unknown xi = {xi!r}; choose one of {XI_KINDS}")
    return math.ceil(unfolding_rank / per_term[xi])


# ---------------------------------------------------------------------------------------------
# The experiment: ranks vs d, shared against distinct cores, rectifier CP for comparison
# ---------------------------------------------------------------------------------------------

#: Version of the rank computation; records of other versions are recomputed.
RANK_METHOD = "exact-integer-grid, GF(p) lower / distinct-rows-and-Bareiss upper, SVD eps-profile"


@dataclass
class GridRankRecord:
    """One network's grid-tensor ranks (class 0).

    ``odd_even_rank`` / ``half_rank``: the certified GF(p) rank of the exact integer grid (the
    rational rank when ``*_exact``; otherwise a proved lower bound, ``*_upper`` the proved upper
    bound). ``*_svd_rank``: float SVD rank at the default tolerance (numerical).
    ``odd_even_eps_ranks``: the epsilon-rank profile at :data:`EPSILONS`; ``odd_even_sigma_ratio``:
    ``sigma_k / sigma_1`` at ``k = odd_even_rank`` (how small the smallest direction is).
    """

    kind: str
    xi: str
    d: int
    rank: int
    n_templates: int
    m: int
    seed: int
    bits: int
    n_parameters: int
    odd_even_rank: int
    half_rank: int
    odd_even_svd_rank: int
    half_svd_rank: int
    max_rank: int
    cp_width_needed: int
    certified: bool
    time_s: float
    odd_even_upper: int = -1
    half_upper: int = -1
    odd_even_exact: bool = False
    half_exact: bool = False
    odd_even_upper_method: str = ""
    odd_even_gf_p_ranks: list = None
    odd_even_eps_ranks: list = None
    half_eps_ranks: list = None
    odd_even_sigma_ratio: float | None = None
    float_exact: bool = False
    method: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _one_record(kind, xi, d, r, n_templates, m, seed, bits) -> GridRankRecord:
    start = time.perf_counter()
    net = dyadic_network(kind, d, m, r, 1, xi=xi, bits=bits, seed=seed)
    templates = dyadic_templates(n_templates, m, bits=bits, seed=10_000 + seed)
    float_exact = grid_tensor(net, templates, return_exactness=True)[1] is not None
    grid, _ = integer_grid_tensor(net, templates)
    out = {}
    for name, rows in (("odd_even", odd_even_row_modes(d)), ("half", list(range(d // 2)))):
        matrix = unfold(grid[0], rows)
        ranks = exact_unfolding_rank(matrix)
        as_float = matrix.astype(np.float64)
        scale = float(np.abs(as_float).max())
        s = np.linalg.svd(as_float / scale, compute_uv=False) if scale else np.zeros(min(matrix.shape))
        svd_rank = int(np.sum(s > max(matrix.shape) * np.finfo(np.float64).eps * s[0])) if scale else 0
        k = ranks["lower"]
        out[name] = dict(ranks, svd_rank=svd_rank, rows=rows, max_rank=min(matrix.shape),
                         eps=[int(np.sum(s > eps * s[0])) if scale else 0 for eps in EPSILONS],
                         sigma=float(s[k - 1] / s[0]) if k and scale else None)
    oe, half = out["odd_even"], out["half"]
    return GridRankRecord(
        kind=kind, xi=xi, d=d, rank=r, n_templates=n_templates, m=m, seed=seed, bits=bits,
        n_parameters=net.n_parameters(), odd_even_rank=oe["lower"], half_rank=half["lower"],
        odd_even_svd_rank=oe["svd_rank"], half_svd_rank=half["svd_rank"], max_rank=oe["max_rank"],
        cp_width_needed=cp_width_lower_bound(oe["lower"], d, n_templates, oe["rows"], xi),
        certified=True, time_s=time.perf_counter() - start, odd_even_upper=oe["upper"],
        half_upper=half["upper"], odd_even_exact=oe["exact"], half_exact=half["exact"],
        odd_even_upper_method=oe["upper_method"], odd_even_gf_p_ranks=oe["gf_p_ranks"],
        odd_even_eps_ranks=oe["eps"], half_eps_ranks=half["eps"], odd_even_sigma_ratio=oe["sigma"],
        float_exact=float_exact, method=RANK_METHOD)


def grid_rank_experiment(*, ds=(2, 3, 4, 5, 6, 7, 8, 9, 10), ranks=(2, 4), kinds=("tt", "tt-shared", "cp"),
                         xis=("rectifier",), n_templates: int = 4, m: int = 4, seeds=range(10),
                         bits: int = 4, skip=None, on_record=None) -> list[GridRankRecord]:
    """Grid-tensor ranks of random networks for every ``(kind, xi, d, rank, seed)``.

    Networks at their standard initialisation with parameters rounded to multiples of
    ``2^-bits`` (:func:`dyadic_network`) and templates on the same grid in ``[0, 1]^m``: the grid
    tensor is exact (:func:`integer_grid_tensor`) and its ranks are bracketed exactly
    (:func:`exact_unfolding_rank`), with the float SVD rank and epsilon-profile beside them.
    HT networks only at powers of two. ``skip(kind, xi, d, rank, seed) -> bool`` leaves out
    configurations already computed; ``on_record(record)`` is called after each one (for
    incremental writes).
    """
    records = []
    for kind in kinds:
        for xi in xis:
            for r in ranks:
                for d in ds:
                    if kind == "ht" and d & (d - 1):
                        continue
                    for seed in seeds:
                        if skip is not None and skip(kind, xi, d, r, seed):
                            continue
                        records.append(_one_record(kind, xi, d, r, n_templates, m, seed, bits))
                        if on_record is not None:
                            on_record(records[-1])
    return records


def write_grid_ranks(path, records, config: dict) -> Path:
    """Write grid-rank records and the configuration as JSON."""
    return write_records(path, records, config)


def summarise(records: list[dict], value: str, keys=("kind", "xi", "rank", "d")) -> dict:
    """``{key tuple: (mean, min, max, count)}`` of ``value`` over seeds."""
    groups: dict = {}
    for rec in records:
        groups.setdefault(tuple(rec[k] for k in keys), []).append(rec[value])
    return {k: (statistics.fmean(v), min(v), max(v), len(v)) for k, v in sorted(groups.items())}
