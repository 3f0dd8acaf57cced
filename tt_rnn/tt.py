"""Tensor-Train (TT) format: container, random / shared / witness cores, full tensor, unfoldings.

Conventions
-----------
A d-dimensional tensor ``X`` of shape ``(n_1, ..., n_d)`` is in TT format with ranks
``(r_1, ..., r_{d-1})`` when

.. math::

    X[i_1, \\dots, i_d] = G_1[i_1, :] \\, G_2[:, i_2, :] \\cdots G_{d-1}[:, i_{d-1}, :] \\, G_d[:, i_d]

with a first core ``G_1`` of shape ``(n_1, r_1)``, inner cores ``G_k`` of shape
``(r_{k-1}, n_k, r_k)`` and a last core ``G_d`` of shape ``(r_{d-1}, n_d)`` (Oseledets 2011).
Cores may be numpy arrays or torch tensors; every function here keeps the array type it was given.

The set :math:`M^{eq}_{n,r}` of the theorem is the set of tensors whose inner cores are all the
*same* array (``shared_core_tt``); first and last cores are free. That is exactly the coefficient
tensor of a recurrent network with shared weights (see :mod:`tt_rnn.networks`).

References
----------
.. [1] I. V. Oseledets, "Tensor-Train Decomposition", SIAM J. Sci. Comput. 33(5), 2011.
.. [2] V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
       ICLR 2018.

The *weight-tied* family (``weight_tied_tt``) shares even more: the initial state ``u`` and the
read-out ``v`` are vectors and every one of the d steps uses the same core,
``X[i] = u^T G^{(i_1)} ... G^{(i_d)} v``. It is a subset of :math:`M^{eq}_{n,r}` (first core
``u^T G``, last core ``G v``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

import torch

__all__ = [
    "TensorTrain",
    "validate_tt",
    "tt_to_tensor",
    "to_tensorly_cores",
    "random_tt",
    "shared_core_tt",
    "witness_q",
    "witness_tt",
    "weight_tied_tt",
    "random_weight_tied_tt",
    "weight_tied_witness_tt",
    "unfold",
    "odd_even_unfolding",
    "odd_even_row_modes",
    "unfolding_min_cut_bound",
    "odd_even_min_cut_bound",
]


def _is_torch(x) -> bool:
    return isinstance(x, torch.Tensor)


def _shape(x) -> tuple:
    return tuple(int(s) for s in x.shape)


def validate_tt(cores: Sequence) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Check that ``cores`` form a valid TT and return ``(mode_sizes, ranks)``.

    Parameters
    ----------
    cores : sequence of arrays
        ``[G_1 (n_1, r_1), G_2 (r_1, n_2, r_2), ..., G_d (r_{d-1}, n_d)]``.

    Returns
    -------
    mode_sizes : tuple of int, length d
    ranks : tuple of int, length d - 1

    Raises
    ------
    ValueError
        If d < 2, a core has the wrong number of dimensions, a size is < 1, or neighbouring
        ranks do not chain. The message names the offending core and its shape.
    TypeError
        If a core is not a numpy array or torch tensor, or the cores mix the two.
    """
    if isinstance(cores, (np.ndarray,)) or _is_torch(cores):
        raise TypeError("cores must be a list of arrays, got a single array of shape "
                        f"{_shape(cores)}")
    cores = list(cores)
    d = len(cores)
    if d < 2:
        raise ValueError(f"a TT needs at least d = 2 cores, got d = {d}")
    kinds = set()
    for k, core in enumerate(cores):
        if isinstance(core, np.ndarray):
            kinds.add("numpy")
        elif _is_torch(core):
            kinds.add("torch")
        else:
            raise TypeError(f"core {k} must be a numpy array or torch tensor, got {type(core).__name__}")
    if len(kinds) > 1:
        raise TypeError("cores mix numpy arrays and torch tensors; convert them to one type")

    expected_ndim = [2] + [3] * (d - 2) + [2]
    for k, (core, ndim) in enumerate(zip(cores, expected_ndim)):
        if core.ndim != ndim:
            what = "first" if k == 0 else "last" if k == d - 1 else "inner"
            layout = {"first": "(n_1, r_1)", "inner": "(r_{k-1}, n_k, r_k)", "last": "(r_{d-1}, n_d)"}[what]
            raise ValueError(f"core {k} ({what}) must have shape {layout}, got shape {_shape(core)}")
        if any(s < 1 for s in core.shape):
            raise ValueError(f"core {k} has a zero-size dimension: shape {_shape(core)} "
                             "(ranks and mode sizes must be >= 1)")

    mode_sizes = [cores[0].shape[0]] + [c.shape[1] for c in cores[1:-1]] + [cores[-1].shape[1]]
    ranks = [cores[0].shape[1]]
    for k in range(1, d):
        left = cores[k].shape[0]
        if left != ranks[-1]:
            raise ValueError(
                f"TT ranks do not chain: core {k - 1} has shape {_shape(cores[k - 1])} "
                f"(right rank {ranks[-1]}) but core {k} has shape {_shape(cores[k])} (left rank {left})")
        if k < d - 1:
            ranks.append(cores[k].shape[2])
    return tuple(int(n) for n in mode_sizes), tuple(int(r) for r in ranks)


def tt_to_tensor(cores: Sequence):
    """Full tensor of shape ``(n_1, ..., n_d)`` from TT cores (numpy or torch, as given).

    The contraction runs left to right, keeping a matrix of shape ``(n_1 ... n_k, r_k)``, so
    it costs ``O(n^d r^2)`` and memory ``O(n^d r)`` at the last step.
    """
    mode_sizes, _ = validate_tt(cores)
    left = cores[0]  # (n_1, r_1)
    for core in cores[1:-1]:
        r_prev, n_k, r_k = core.shape
        left = (left @ core.reshape(r_prev, n_k * r_k)).reshape(-1, r_k)
    full = left @ cores[-1]  # (n_1 ... n_{d-1}, n_d)
    return full.reshape(mode_sizes)


def to_tensorly_cores(cores: Sequence) -> list:
    """The same cores in tensorly's layout: every core 3-D, ``(1, n_1, r_1)`` ... ``(r_{d-1}, n_d, 1)``."""
    validate_tt(cores)
    first, last = cores[0], cores[-1]
    return [first.reshape(1, *first.shape)] + list(cores[1:-1]) + [last.reshape(*last.shape, 1)]


@dataclass(frozen=True)
class TensorTrain:
    """A tensor in TT format.

    Attributes
    ----------
    cores : tuple of arrays
        ``(G_1, ..., G_d)`` with shapes ``(n_1, r_1)``, ``(r_{k-1}, n_k, r_k)``, ``(r_{d-1}, n_d)``.
    shared : bool
        True when all inner cores are the same array (the family :math:`M^{eq}_{n,r}`).
    """

    cores: tuple
    shared: bool = False

    def __post_init__(self):
        object.__setattr__(self, "cores", tuple(self.cores))
        validate_tt(self.cores)
        if self.shared and len(self.cores) > 3:
            first_inner = self.cores[1]
            for k, core in enumerate(self.cores[2:-1], start=2):
                if core is not first_inner and not _arrays_equal(core, first_inner):
                    raise ValueError(f"shared=True but inner core {k} differs from inner core 1")

    @property
    def order(self) -> int:
        """Number of modes d."""
        return len(self.cores)

    @property
    def shape(self) -> tuple[int, ...]:
        return validate_tt(self.cores)[0]

    @property
    def ranks(self) -> tuple[int, ...]:
        """TT ranks ``(r_1, ..., r_{d-1})``."""
        return validate_tt(self.cores)[1]

    def to_tensor(self):
        """The full tensor (see :func:`tt_to_tensor`)."""
        return tt_to_tensor(self.cores)

    def odd_even_unfolding(self):
        """Rows ``(i_1, i_3, ...)``, columns ``(i_2, i_4, ...)`` (see :func:`odd_even_unfolding`)."""
        return odd_even_unfolding(self.to_tensor())

    def n_parameters(self) -> int:
        """Number of free parameters; a shared inner core is counted once."""
        inner = self.cores[1:-1]
        n_inner = (int(np.prod(inner[0].shape)) if inner else 0) if self.shared else \
            sum(int(np.prod(c.shape)) for c in inner)
        return int(np.prod(self.cores[0].shape)) + n_inner + int(np.prod(self.cores[-1].shape))


def _arrays_equal(a, b) -> bool:
    if _is_torch(a):
        return bool(torch.equal(a, b))
    return bool(np.array_equal(a, b))


# ---------------------------------------------------------------------------------------------
# Random cores
# ---------------------------------------------------------------------------------------------

def _uniform_sizes(value, count: int, name: str) -> list[int]:
    if isinstance(value, (int, np.integer)):
        values = [int(value)] * count
    else:
        values = [int(v) for v in value]
        if len(values) != count:
            raise ValueError(f"{name} must be an int or a sequence of length {count}, got {list(value)}")
    for v in values:
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    return values


def _transfer_spectral_radius(core: np.ndarray, iterations: int = 200) -> float:
    """Spectral radius of ``T(P) = sum_i G_i^T P G_i`` (``G_i = core[:, i, :]``), by power iteration.

    ``T`` maps positive semidefinite matrices to positive semidefinite matrices, so by the
    Krein-Rutman theorem its spectral radius is an eigenvalue with a PSD eigenvector and the power
    iteration started from the identity converges to it.
    """
    r = core.shape[0]
    p = np.eye(r)
    rho = 0.0
    for _ in range(iterations):
        p = np.einsum("aib,ac,cid->bd", core, p, core)
        norm = np.linalg.norm(p)
        if norm == 0.0:
            return 0.0
        rho, p = norm, p / norm
    return float(rho)


def random_tt(n, r, d: int, *, shared: bool = False, seed=None, integer: bool = False,
              integer_range: int = 3, backend: str = "numpy", dtype=None) -> TensorTrain:
    """Random TT cores: distinct inner cores, or ONE inner core shared by all d - 2 inner positions.

    Parameters
    ----------
    n : int or sequence of int
        Mode sizes (an int means the same n for every mode). ``shared=True`` needs all equal.
    r : int or sequence of int
        TT ranks ``r_1 ... r_{d-1}`` (an int means uniform). ``shared=True`` needs all equal.
    d : int
        Order, ``d >= 2``.
    shared : bool
        If True, the inner cores are one array repeated (a point of :math:`M^{eq}_{n,r}`).
    seed : int or numpy.random.Generator, optional
        Seeds the draw; the same seed gives the same cores.
    integer : bool
        Draw integer entries uniformly from ``{-integer_range, ..., integer_range}`` and apply no
        scaling, so that the full tensor is exactly representable (used by the GF(p) rank
        certificates). Cores then have an integer dtype (int64).
    backend : {"numpy", "torch"}
    dtype : optional
        Floating dtype (default float64). Ignored for integer cores.

    Notes
    -----
    Variance arithmetic (Gaussian cores). The first core has i.i.d. ``N(0, 1)`` entries, the inner
    core ``k`` has ``N(0, 1 / r_{k-1})`` and the last core ``N(0, 1 / r_{d-1})``. An entry of the
    full tensor is a sum over the ``r_1 \\cdots r_{d-1}`` bond paths of products of independent
    zero-mean factors, so for *distinct* cores

    .. math:: \\mathbb E X[i]^2 = \\prod_k r_k \\cdot 1 \\cdot \\prod_{k=2}^{d} \\frac{1}{r_{k-1}} = 1

    exactly, for every d. For a *shared* core the same entry of ``G`` can appear several times
    along a path, so fourth and higher moments enter and ``E X[i]^2`` grows without bound in d
    (for ``r = 1`` it is ``(2d-5)!!``-like). We therefore rescale the shared core so that the
    spectral radius of the transfer map ``T(P) = sum_i G_i^T P G_i`` equals ``n``. Since
    ``||X||_F^2 = <G_1 G_1^T, T^{d-2}(G_d G_d^T)>``, the mean square entry ``||X||_F^2 / n^d``
    then tends to a constant (fixed by the Perron eigenvectors of ``T``) as ``d`` grows instead
    of growing or decaying exponentially: entries stay O(1) for any d.
    """
    if d < 2:
        raise ValueError(f"d must be >= 2, got d = {d}")
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    modes = _uniform_sizes(n, d, "n")
    ranks = _uniform_sizes(r, d - 1, "r")
    if shared and (len(set(modes[1:-1])) > 1 or len(set(ranks)) > 1):
        raise ValueError(f"shared=True needs uniform inner mode sizes and ranks, got n={modes}, r={ranks}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def draw(shape, std):
        if integer:
            return rng.integers(-integer_range, integer_range + 1, size=shape, dtype=np.int64)
        return rng.standard_normal(shape) * std

    first = draw((modes[0], ranks[0]), 1.0)
    if shared and d > 2:
        core = draw((ranks[0], modes[1], ranks[0]), 1.0 / math.sqrt(ranks[0]))
        if not integer:
            rho = _transfer_spectral_radius(core)
            if rho > 0:
                core = core * math.sqrt(modes[1] / rho)
        inner = [core] * (d - 2)
    else:
        inner = [draw((ranks[k - 1], modes[k], ranks[k]), 1.0 / math.sqrt(ranks[k - 1]))
                 for k in range(1, d - 1)]
    last = draw((ranks[-1], modes[-1]), 1.0 / math.sqrt(ranks[-1]))
    cores = [first] + inner + [last]
    if not integer and dtype is not None and backend == "numpy":
        cores = [c.astype(dtype) for c in cores]
    if backend == "torch":
        tdtype = torch.int64 if integer else (dtype or torch.float64)
        converted = {}
        cores = [converted.setdefault(id(c), torch.as_tensor(c, dtype=tdtype)) for c in cores]
    return TensorTrain(cores, shared=shared and d > 2)


def shared_core_tt(first, core, last, d: int) -> TensorTrain:
    """A point of :math:`M^{eq}_{n,r}`: ``first (n, r)``, ``core (r, n, r)`` repeated ``d - 2`` times, ``last (r, n)``."""
    if d < 2:
        raise ValueError(f"d must be >= 2, got d = {d}")
    if core.ndim != 3 or core.shape[0] != core.shape[2]:
        raise ValueError(f"a shared inner core must have shape (r, n, r), got {_shape(core)}")
    return TensorTrain([first] + [core] * (d - 2) + [last], shared=d > 2)


# ---------------------------------------------------------------------------------------------
# The witness point of the proof
# ---------------------------------------------------------------------------------------------

def witness_q(n: int, r: int) -> int:
    """``q = min(n, r - 1)``, the base of Alkin's bound ``q^{d/2}`` (Remark 22 of the PDF); needs ``n >= 1``, ``r >= 2``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got n = {n}")
    if r < 2:
        raise ValueError(f"the witness needs r >= 2 (it uses bond index q + 1 <= r), got r = {r}")
    return min(n, r - 1)


def witness_tt(n: int, r: int, d: int, *, backend: str = "numpy", dtype=None) -> TensorTrain:
    """The explicit point of :math:`M^{eq}_{n,r}` used in the proof, with ``q = min(n, r - 1)``.

    In the proof's 1-based indices (``i`` modes, ``alpha, beta`` bonds):

    * first core   ``G_1[i, alpha] = [i = alpha]``
    * shared core  ``G[alpha, i, beta] = [alpha = i][beta = q + 1]`` if ``alpha <= q``;
      ``[i = beta]`` if ``alpha = q + 1``; ``0`` if ``alpha > q + 1``
    * last core    ``G_d[alpha, i] = [alpha = i]``

    Bond index ``q + 1`` is the "between pairs" state: an odd position copies its mode index into
    the bond, the next (even) position must repeat that index and resets the bond to ``q + 1``.
    Restricted to mode indices ``<= q`` the tensor is ``prod_j [i_{2j-1} = i_{2j}]``, whose
    odd/even unfolding is the identity of size ``q^{d/2}``.

    0-based mapping used here: proof index ``a`` is array index ``a - 1``; the between-pairs
    state ``q + 1`` is array bond index ``q``; "indices <= q" are array indices ``0 .. q-1``.
    """
    q = witness_q(n, r)
    if d < 2:
        raise ValueError(f"d must be >= 2, got d = {d}")
    first = np.zeros((n, r))
    for i in range(min(n, r)):
        first[i, i] = 1.0
    core = np.zeros((r, n, r))
    for alpha in range(q):          # proof's alpha <= q: alpha = i, then go to q + 1
        core[alpha, alpha, q] = 1.0
    for i in range(min(n, r)):      # proof's alpha = q + 1: copy the mode index into the bond
        core[q, i, i] = 1.0
    last = np.zeros((r, n))
    for i in range(min(n, r)):
        last[i, i] = 1.0
    cores = [first, core, last]
    if backend == "torch":
        cores = [torch.as_tensor(c, dtype=dtype or torch.float64) for c in cores]
    elif dtype is not None:
        cores = [c.astype(dtype) for c in cores]
    elif backend != "numpy":
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    return shared_core_tt(cores[0], cores[1], cores[2], d)


# ---------------------------------------------------------------------------------------------
# The weight-tied family X(i) = u^T G^(i_1) ... G^(i_d) v
# ---------------------------------------------------------------------------------------------

def weight_tied_tt(u, core, v, d: int) -> TensorTrain:
    """The tensor ``X[i_1, ..., i_d] = u^T G^{(i_1)} G^{(i_2)} ... G^{(i_d)} v`` in TT format.

    Every one of the ``d`` steps uses the same core ``G`` (slices ``G^{(i)} = core[:, i, :]``), the
    initial state is ``u`` and the read-out is ``v``: a recurrent network whose weights are tied
    across all steps, including the first and the last. As a TT, the first core is ``u^T G``
    (shape ``(n, r)``), the ``d - 2`` inner cores are ``G`` and the last core is ``G v`` (shape
    ``(r, n)``); so the family is contained in :math:`M^{eq}_{n,r}`.

    Parameters
    ----------
    u, v : arrays of shape (r,)
        Initial state and read-out vector (numpy or torch, same type as ``core``).
    core : array of shape (r, n, r)
    d : int
        Order, ``d >= 2``.

    Returns
    -------
    TensorTrain
        ``shared=True`` for ``d > 2``. Integer inputs give integer cores (exact contraction).
    """
    if d < 2:
        raise ValueError(f"d must be >= 2, got d = {d}")
    if core.ndim != 3 or core.shape[0] != core.shape[2]:
        raise ValueError(f"the tied core must have shape (r, n, r), got {_shape(core)}")
    r = int(core.shape[0])
    for name, vec in (("u", u), ("v", v)):
        if vec.ndim != 1 or int(vec.shape[0]) != r:
            raise ValueError(f"{name} must be a vector of length r = {r} (the core's bond size), "
                             f"got shape {_shape(vec)}")
    if _is_torch(core) != _is_torch(u) or _is_torch(core) != _is_torch(v):
        raise TypeError("u, core and v must all be numpy arrays or all torch tensors")
    einsum = torch.einsum if _is_torch(core) else np.einsum
    first = einsum("a,aib->ib", u, core)   # row i: u^T G^(i)
    last = einsum("aib,b->ai", core, v)    # column i: G^(i) v
    return shared_core_tt(first, core, last, d)


def random_weight_tied_tt(n: int, r: int, d: int, *, seed=None, integer: bool = False,
                          integer_range: int = 3, backend: str = "numpy") -> TensorTrain:
    """A random point of the weight-tied family (see :func:`weight_tied_tt`), seeded.

    Parameters
    ----------
    n, r, d : int
        Mode size, bond size, order (``d >= 2``).
    seed : int or numpy.random.Generator, optional
    integer : bool
        Integer entries uniform in ``{-integer_range, ..., integer_range}`` (for exact GF(p)
        ranks); otherwise ``u ~ N(0, I)``, ``v ~ N(0, I / r)`` and a Gaussian core rescaled like
        the shared core of :func:`random_tt` (transfer-map spectral radius ``n``).
    backend : {"numpy", "torch"}
    """
    for name, value in (("n", n), ("r", r)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {name} = {value}")
    if d < 2:
        raise ValueError(f"d must be >= 2, got d = {d}")
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if integer:
        if integer_range < 1:
            raise ValueError(f"integer_range must be >= 1, got {integer_range}")
        draw = lambda shape: rng.integers(-integer_range, integer_range + 1, size=shape,  # noqa: E731
                                          dtype=np.int64)
        u, core, v = draw((r,)), draw((r, n, r)), draw((r,))
    else:
        u = rng.standard_normal(r)
        core = rng.standard_normal((r, n, r)) / math.sqrt(r)
        rho = _transfer_spectral_radius(core)
        if rho > 0:
            core = core * math.sqrt(n / rho)
        v = rng.standard_normal(r) / math.sqrt(r)
    if backend == "torch":
        dtype = torch.int64 if integer else torch.float64
        u, core, v = (torch.as_tensor(x, dtype=dtype) for x in (u, core, v))
    return weight_tied_tt(u, core, v, d)


def weight_tied_witness_tt(n: int, r: int, d: int, *, backend: str = "numpy") -> TensorTrain:
    """The witness of the proof inside the weight-tied family, for even and odd ``d``.

    ``u = e_{q+1}``, ``G`` the shared witness core of :func:`witness_tt` and ``v = e_{q+1}`` for
    even ``d``, ``v = e_1`` for odd ``d`` (1-based basis vectors; ``q = min(n, r - 1)``). For even
    ``d`` the cores coincide with those of ``witness_tt(n, r, d)`` (the boundary cores act like
    the idle state ``q + 1``). For odd ``d = 2k + 1`` the odd/even unfolding (rows
    ``i_1, i_3, ..., i_d``) has the lower unitriangular block on rows ``(a, 1)``, columns ``b``,
    ``a, b in [min(n, r)]^k``, so its rank is ``min(n, r)^k``.
    """
    q = witness_q(n, r)
    if d < 2:
        raise ValueError(f"d must be >= 2, got d = {d}")
    core = witness_tt(n, r, 3).cores[1]
    u = np.zeros(r)
    u[q] = 1.0                      # proof's e_{q+1} is array index q
    v = np.zeros(r)
    v[q if d % 2 == 0 else 0] = 1.0  # e_{q+1} (even d) or e_1 (odd d)
    if backend == "torch":
        u, core, v = (torch.as_tensor(x, dtype=torch.float64) for x in (u, core, v))
    elif backend != "numpy":
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    return weight_tied_tt(u, core, v, d)


# ---------------------------------------------------------------------------------------------
# Unfoldings
# ---------------------------------------------------------------------------------------------

def unfold(tensor, row_modes: Sequence[int]):
    """Matricization: rows indexed by ``row_modes`` (in the given order), columns by the rest.

    Row and column multi-indices are flattened in C (row-major) order, so for
    ``row_modes = (0, 2)`` the row index is ``i_0 * n_2 + i_2``.

    Raises
    ------
    ValueError
        If a mode is out of range or repeated.
    """
    ndim = tensor.ndim
    row_modes = [int(m) for m in row_modes]
    bad = [m for m in row_modes if not 0 <= m < ndim]
    if bad:
        raise ValueError(f"row modes {bad} are out of range for a tensor of order {ndim} (shape {_shape(tensor)})")
    if len(set(row_modes)) != len(row_modes):
        raise ValueError(f"row modes must be distinct, got {row_modes}")
    col_modes = [m for m in range(ndim) if m not in row_modes]
    shape = _shape(tensor)
    n_rows = int(np.prod([shape[m] for m in row_modes])) if row_modes else 1
    perm = row_modes + col_modes
    permuted = tensor.permute(*perm) if _is_torch(tensor) else np.transpose(tensor, perm)
    return permuted.reshape(n_rows, -1)


def odd_even_row_modes(d: int) -> list[int]:
    """0-based row modes of the odd/even unfolding: the proof's odd modes ``i_1, i_3, ...``."""
    return list(range(0, d, 2))


def odd_even_unfolding(tensor):
    """Unfolding with rows ``(i_1, i_3, ...)`` and columns ``(i_2, i_4, ...)`` (1-based modes).

    For even d and mode size n this is an ``n^{d/2} x n^{d/2}`` matrix; its rank is a lower
    bound on the CP rank (the unfolding of a rank-one tensor has rank one).
    """
    if tensor.ndim < 2:
        raise ValueError(f"need a tensor of order >= 2, got shape {_shape(tensor)}")
    return unfold(tensor, odd_even_row_modes(tensor.ndim))


def unfolding_min_cut_bound(mode_sizes: Sequence[int], ranks: Sequence[int],
                            row_modes: Sequence[int]) -> int:
    """Min-cut bound on the rank of an unfolding of any TT tensor with these sizes and ranks.

    A *cut* is a set ``C`` of bonds and a set ``M`` of modes such that, after deleting the bonds
    in ``C`` from the chain of cores, every remaining segment has its modes outside ``M`` all on
    one side of the unfolding (all row modes or all column modes). For every such cut,
    ``rank X^{(rows)} <= prod_{t in C} r_t * prod_{j in M} n_j`` (fix the cut bond indices and the
    cut mode indices: each term is a product of a row factor and a column factor). This function
    returns the minimum over all cuts, computed exactly by dynamic programming along the chain
    (integer products; no enumeration of the ``2^(2d-1)`` cuts).

    Parameters
    ----------
    mode_sizes : sequence of int, length d
    ranks : sequence of int, length d - 1
        Upper bounds on the TT ranks ``r_1 ... r_{d-1}``.
    row_modes : sequence of int
        0-based row modes of the unfolding.

    References
    ----------
    The statement and proof are Lemma "min-cut bound" (``lem:mincut``) of
    ``tensors_strong_hyp_sketch.pdf``.
    """
    sizes = [int(x) for x in mode_sizes]
    bonds = [int(x) for x in ranks]
    d = len(sizes)
    if d < 2 or len(bonds) != d - 1:
        raise ValueError(f"need d >= 2 mode sizes and d - 1 ranks, got {len(sizes)} mode sizes "
                         f"and {len(bonds)} ranks")
    if min(sizes + bonds) < 1:
        raise ValueError(f"mode sizes and ranks must be >= 1, got {sizes}, {bonds}")
    rows = {int(m) for m in row_modes}
    if not rows <= set(range(d)):
        raise ValueError(f"row modes {sorted(rows - set(range(d)))} are out of range for d = {d}")

    def relax(table, state, cost):
        if state not in table or cost < table[state]:
            table[state] = cost

    # state: the side (True = rows) of the uncut modes of the open segment, None if it has none
    best = {None: 1}
    for t in range(d):
        side = t in rows
        after_mode = {}
        for state, cost in best.items():
            relax(after_mode, state, cost * sizes[t])      # cut mode t
            if state is None or state == side:
                relax(after_mode, side, cost)              # keep mode t in the segment
        best = after_mode
        if t < d - 1:
            after_bond = {}
            for state, cost in best.items():
                relax(after_bond, None, cost * bonds[t])   # cut bond t: a new segment starts
                relax(after_bond, state, cost)             # keep bond t
            best = after_bond
    return int(min(best.values()))


def odd_even_min_cut_bound(n: int, r: int, d: int) -> int:
    """Closed form of the min-cut bound for the odd/even unfolding with uniform ``n`` and ``r``.

    ``min(n^k, r n^(k-1), r^(d-1))`` for ``d = 2k`` and ``min(n^k, r^(d-1))`` for ``d = 2k + 1``
    (Proposition ``prop:mincut-oe`` of the PDF; equal to
    ``unfolding_min_cut_bound([n] * d, [r] * (d - 1), odd_even_row_modes(d))``).
    """
    for name, value in (("n", n), ("r", r)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {name} = {value}")
    if d < 2:
        raise ValueError(f"d must be >= 2, got d = {d}")
    k = d // 2
    if d % 2 == 0:
        return int(min(n ** k, r * n ** (k - 1), r ** (d - 1)))
    return int(min(n ** k, r ** (d - 1)))
