"""Exact (proof-grade) lower bounds on the CP rank: unfolding ranks over a prime field GF(p).

For an integer tensor the unfolding is built exactly modulo a prime ``p`` and row-reduced over
GF(p). A ``k x k`` minor that is non-zero modulo ``p`` is a non-zero integer, so
``rank_GF(p)(M mod p) <= rank_Q(M) = rank_R(M) = rank_C(M) <= CP rank`` over R and over C
(flattenings: Landsberg [1]_, Sec. 3.4; the GF(p) reduction is the usual modular-rank argument,
e.g. von zur Gathen and Gerhard [2]_, Ch. 5). Because "rank >= k" is the non-vanishing of a
polynomial (a minor) in the core entries, one integer point certifies the bound for Lebesgue-almost
every point of the family it was drawn from (:func:`certified_unfolding_rank`).

Schema of ``results/rank/generic_unfolding_ranks.json``: ``{"schema": ..., "records": [...]}``
whose records are :meth:`UnfoldingCertificate.to_dict` dictionaries -- keys ``n, r, d, shared,
seed, integer_range, row_modes (0-based), unfolding_shape, prime, certified_rank, numerical_rank
(null where skipped), numerical_rtol, max_possible_rank, alkin_bound (q^(d/2), q = min(n, r - 1),
Remark 22 of the PDF; even d only, else null), proven_bound (min(n, r)^(d/2), Theorem 6 of the
PDF; even d only), exceeds_alkin_bound, time_s``. Records written before these names were
settled (the committed file) carry the same numbers as ``theorem_bound``, ``khrulkov_bound`` and
``exceeds_theorem``; the readers (``scripts/certified_table.py``, ``tests/test_proof.py``)
accept both.

References
----------
.. [1] J. M. Landsberg, *Tensors: Geometry and Applications*, AMS, 2012.
.. [2] J. von zur Gathen, J. Gerhard, *Modern Computer Algebra*, 3rd ed., Cambridge, 2013.
.. [3] V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
       ICLR 2018.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch

from ..tt import TensorTrain, random_tt, tt_to_tensor, unfold, validate_tt, witness_q
from ._checks import _check_prime, _row_modes_or_default, _to_numpy
from .constants import (BLAS_PRIME, BLAS_SECOND_PRIME, DEFAULT_PRIME, DEFAULT_SVD_RTOL,
                        FLOAT64_EXACT_INT, MAX_GFP_ENTRIES, SECOND_PRIME)
from .unfolding import _numerical_rank


def is_integer_tensor(tensor) -> bool:
    """True when every entry is an integer held exactly.

    An integer (or bool) dtype qualifies at any magnitude -- the GF(p) and pencil certificates
    reduce int64 entries exactly. A float tensor qualifies when its entries are integral and
    ``|x| < 2^53``. (Integer tensors with entries ``>= 2^53`` are refused by every float64
    computation, see ``_to_float64``.)
    """
    return _is_integer_array(_to_numpy(tensor))


def _is_integer_array(x: np.ndarray) -> bool:
    """:func:`is_integer_tensor` of a checked numpy array (see ``_checks._to_numpy``)."""
    if np.issubdtype(x.dtype, np.integer) or x.dtype == bool:
        return True
    return bool(np.all(np.abs(x) < float(FLOAT64_EXACT_INT)) and np.all(x == np.round(x)))


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
    elif np.issubdtype(a.dtype, np.unsignedinteger):
        return np.mod(a, np.uint64(p)).astype(np.int64)   # uint64 above 2^63 would wrap in int64
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
    return _gf_p_rank(_residues(matrix, p), p, method, int(block))


def _gf_p_rank(a: np.ndarray, p: int, method: str, block: int = 64) -> int:
    """:func:`gf_p_rank` of a fresh int64 residue matrix ``a`` (entries in ``[0, p)``, overwritten),
    a checked prime ``p`` and a resolved ``method`` (``"elimination"`` or ``"blocked"``)."""
    if a.shape[0] > a.shape[1]:
        a = a.T
    if method == "blocked":
        return _gf_p_rank_blocked(np.ascontiguousarray(a, dtype=np.float64), p, block)
    return _gf_p_rank_elimination(np.ascontiguousarray(a), p)


def _auto_method(shape, p: int, block: int = 64) -> str:
    """``method="auto"`` of :func:`gf_p_rank` for a given prime."""
    blas_ok = block * (p - 1) ** 2 + p < 2 ** 53
    return "blocked" if (blas_ok and min(shape) > 128) else "elimination"


def tt_to_tensor_mod_p(cores: Sequence, p: int = DEFAULT_PRIME) -> np.ndarray:
    """Full tensor of integer TT cores, exactly modulo ``p``, as int64 residues in ``[0, p)``.

    The contraction runs left to right like :func:`tt_rnn.tt.tt_to_tensor`, but every product is
    reduced modulo ``p`` before it is added (a matrix product of int64 residues would overflow:
    ``r * (p-1)^2`` exceeds ``2^63`` already for ``r = 2``). With ``p < 2^31`` a product of two
    residues is ``< 2^62`` and a sum of two reduced numbers ``< 2^32``, so nothing overflows.
    """
    p = _check_prime(p)
    cores = [c.detach().cpu().numpy() if isinstance(c, torch.Tensor) else c
             for c in cores]
    mode_sizes, _ = validate_tt(cores)
    return _contract_mod_p(cores, mode_sizes, p)


def _contract_mod_p(cores, mode_sizes, p: int) -> np.ndarray:
    """:func:`tt_to_tensor_mod_p` of checked numpy cores (``validate_tt``) and a checked prime."""
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
    tensor : integer array (any magnitude; or integral floats, ``|x| < 2^53``), or TensorTrain with integer
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
        if not _is_integer_array(x):
            raise ValueError("unfolding_rank_mod_p needs an integer tensor (an integer dtype, or "
                             "integral floats with |x| < 2^53); use unfolding_rank for float tensors")
    size = int(np.prod(shape))
    if size > MAX_GFP_ENTRIES:
        raise ValueError(f"tensor of shape {tuple(shape)} has {size} entries, above the limit "
                         f"{MAX_GFP_ENTRIES} for GF(p) elimination")
    rows = _row_modes_or_default(len(shape), row_modes)
    n_rows = int(np.prod([shape[m] for m in rows]))
    p, _ = _primes_for((n_rows, size // n_rows), p)
    if isinstance(tensor, TensorTrain):
        return _residue_unfolding_rank(tt_to_tensor_mod_p(tensor.cores, p), rows, p)
    return _unfolding_rank_mod_p(x, rows, p)


def _unfolding_rank_mod_p(x: np.ndarray, rows, p: int) -> int:
    """:func:`unfolding_rank_mod_p` of a checked integer numpy tensor (``<= MAX_GFP_ENTRIES``),
    checked row modes and a checked prime."""
    return _residue_unfolding_rank(_residues(x, p), rows, p)


def _residue_unfolding_rank(residues: np.ndarray, rows, p: int) -> int:
    """GF(p) rank of an unfolding of a fresh residue tensor (int64 in ``[0, p)``; overwritten)."""
    a = unfold(residues, rows)
    return _gf_p_rank(a, p, _auto_method(a.shape, p))


def alkin_bound(n: int, r: int, d: int):
    """Alkin's bound ``q^(d/2)`` with ``q = min(n, r - 1)`` for even ``d`` (Remark 22 of the PDF,
    ``rem:alkin``: the idle-state witness has an identity block of this size); ``None`` for odd ``d``.
    """
    if d % 2:
        return None
    return witness_q(n, r) ** (d // 2)


def proven_bound(n: int, r: int, d: int):
    """``min(n, r)^(d/2)`` for even ``d``: the generic lower bound proved for :math:`M^{eq}_{n,r}`.

    Theorem 6 of the PDF (``thm:strong`` of ``paper/tensors_strong_hyp_sketch.tex``; stated for
    distinct cores by Khrulkov, Novikov and Oseledets [3]_): for almost every point of
    :math:`M^{eq}_{n,r}` the odd/even unfolding -- hence the CP rank -- has rank
    ``>= min(n, r)^(d/2)``. ``None`` for odd ``d``.
    """
    for name, v in (("n", n), ("r", r), ("d", d)):
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {name} = {v}")
    if d % 2:
        return None
    return min(int(n), int(r)) ** (int(d) // 2)


def min_cut_bound(n: int, r: int, d: int):
    """Upper bound on the odd/even unfolding rank of every point of :math:`M_{n,r}` (even ``d``).

    A minimum cut of the TT network: put each core on the row side or the column side; the
    unfolding then factors through the cut edges -- a physical leg (size ``n``) of a core placed
    on the other side than its mode, a bond (size ``r``) between cores on different sides -- so
    its rank is at most the product of their sizes. The minimum over all ``2^d`` placements is
    found by dynamic programming along the chain. It equals ``min(n^(d/2), r n^(d/2-1), r^(d-1))``:
    every core on its own side (all ``d - 1`` bonds cut), all cores on the row side, and all on the
    row side but the last core give the three values, and no cut is smaller (Lemma ``lem:mincut``
    and Proposition ``prop:mincut-oe`` of the PDF). ``None`` for odd ``d``.
    """
    for name, v in (("n", n), ("r", r), ("d", d)):
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {name} = {v}")
    n, r, d = int(n), int(r), int(d)
    if d % 2:
        return None
    # cost[s]: smallest product for cores 0..k with core k on side s (0 rows, 1 columns);
    # mode k indexes rows when k is even (the odd/even unfolding, 0-based)
    cost = [1 if s == 0 else n for s in (0, 1)]
    for k in range(1, d):
        leg = k % 2
        cost = [min(cost[s], cost[1 - s] * r) * (1 if s == leg else n) for s in (0, 1)]
    return min(cost)


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
    alkin_bound: int | None
    proven_bound: int | None
    time_s: float

    @property
    def exceeds_alkin_bound(self):
        """True when the certified rank is strictly above Alkin's ``q^(d/2)`` (None for odd d)."""
        return None if self.alkin_bound is None else self.certified_rank > self.alkin_bound

    def to_dict(self) -> dict:
        out = asdict(self)
        out["row_modes"] = list(self.row_modes)
        out["unfolding_shape"] = list(self.unfolding_shape)
        out["exceeds_alkin_bound"] = self.exceeds_alkin_bound
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
        Mode size, TT rank, order (``d >= 2``, ``r >= 2`` for Alkin's ``q``).
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
    mode_sizes = (int(n),) * int(d)
    cert = _residue_unfolding_rank(_contract_mod_p(tt.cores, mode_sizes, p), rows, p)
    prime = p
    num_rank, used_rtol = None, None
    if numerical == "auto":
        numerical = not (cert == min(shape) and min(shape) > 256)
    if numerical:
        full = tt_to_tensor([c.astype(np.float64) for c in tt.cores])
        num_rank, _, used_rtol = _numerical_rank(unfold(full, rows), rtol)
        if cert < num_rank:
            cert2 = _residue_unfolding_rank(_contract_mod_p(tt.cores, mode_sizes, p2), rows, p2)
            if cert2 > cert:
                cert, prime = cert2, p2
    return UnfoldingCertificate(
        n=int(n), r=int(r), d=int(d), shared=bool(shared and d > 2), seed=int(seed),
        integer_range=int(integer_range), row_modes=tuple(rows), unfolding_shape=shape,
        prime=int(prime), certified_rank=int(cert), numerical_rank=num_rank,
        numerical_rtol=used_rtol, max_possible_rank=min(shape),
        alkin_bound=alkin_bound(n, r, d) if r >= 2 else None,
        proven_bound=proven_bound(n, r, d), time_s=time.perf_counter() - start)
