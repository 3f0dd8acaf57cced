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

Ranks are exact where the grid tensor is, up to a power of two, integer-valued (parameters and
templates that are multiples of ``2^-bits``, :func:`dyadic_network`, :func:`dyadic_templates`;
:func:`grid_tensor` checks that float64 computed it exactly): the GF(p) rank of
:func:`tt_rnn.rank.unfolding_rank_mod_p` is a certified lower bound on the real rank (a minor
that is nonzero mod ``p`` is a nonzero integer).
Otherwise the SVD rank of :func:`tt_rnn.rank.unfolding_rank` is used with its default tolerance
``rtol = max(rows, cols) * eps`` relative to the largest singular value (numerical evidence).

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
from .tt import odd_even_row_modes

__all__ = [
    "MAX_GRID_ENTRIES",
    "grid_tensor",
    "dyadic_network",
    "dyadic_templates",
    "unfolding_ranks",
    "cp_width_lower_bound",
    "GridRankRecord",
    "grid_rank_experiment",
    "write_grid_ranks",
    "summarise",
]

#: Largest ``C * M^d`` a grid tensor may have (the work array also holds ``M^d * r * m`` numbers).
MAX_GRID_ENTRIES = 2 ** 21
#: float64 integers are exact below this; integer grid tensors are checked against it.
EXACT_INTEGER_LIMIT = 2.0 ** 53

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
    if isinstance(network, TTNetwork):
        out = _tt_grid(network, templates_t, xi)
    elif isinstance(network, CPNetwork):
        out = _cp_grid(network, templates_t, xi)
    else:
        out = _ht_grid(network, templates_t, xi)
    grid = out.value.T.reshape(classes, *([n_templates] * d))
    if not return_exactness:
        return grid
    exact = out.exponent is not None and out.peak < EXACT_INTEGER_LIMIT
    return grid, (out.exponent if exact else None)


def _tt_grid(net, f, xi):
    n_templates, r = f.value.shape[0], net.rank
    start = _Tracked.of(np.full((1, 1), _START[xi]))  # (1, 1): xi with F gives (M, m)
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

@dataclass
class GridRankRecord:
    """One network's grid-tensor ranks (class 0)."""

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

    def to_dict(self) -> dict:
        return asdict(self)


def _one_record(kind, xi, d, r, n_templates, m, seed, bits) -> GridRankRecord:
    start = time.perf_counter()
    net = dyadic_network(kind, d, m, r, 1, xi=xi, bits=bits, seed=seed)
    templates = dyadic_templates(n_templates, m, bits=bits, seed=10_000 + seed)
    grid, exponent = grid_tensor(net, templates, return_exactness=True)
    exact = exponent is not None
    ranks = unfolding_ranks(grid[0] * 2.0 ** exponent if exact else grid[0], exact=exact)
    oe = ranks["odd_even"]
    return GridRankRecord(
        kind=kind, xi=xi, d=d, rank=r, n_templates=n_templates, m=m, seed=seed, bits=bits,
        n_parameters=net.n_parameters(), odd_even_rank=oe["rank"], half_rank=ranks["half"]["rank"],
        odd_even_svd_rank=oe["svd_rank"], half_svd_rank=ranks["half"]["svd_rank"],
        max_rank=oe["max_rank"],
        cp_width_needed=cp_width_lower_bound(oe["rank"], d, n_templates, oe["row_modes"], xi),
        certified=bool(exact), time_s=time.perf_counter() - start)


def grid_rank_experiment(*, ds=(2, 3, 4, 5, 6, 7, 8, 9, 10), ranks=(2, 4), kinds=("tt", "tt-shared", "cp"),
                         xis=("rectifier",), n_templates: int = 4, m: int = 4, seeds=range(10),
                         bits: int = 4, skip=None) -> list[GridRankRecord]:
    """Grid-tensor ranks of random networks for every ``(kind, xi, d, rank, seed)``.

    Networks at their standard initialisation with parameters rounded to multiples of
    ``2^-bits`` (:func:`dyadic_network`) and templates on the same grid in ``[0, 1]^m``: the grid
    tensor is exact and its ranks are certified by GF(p) elimination whenever it fits in 53
    bits (``certified`` in the record), else SVD ranks. HT networks only at powers of two.
    ``skip(kind, xi, d, rank, seed) -> bool`` leaves out configurations already computed.
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
