"""Entry point: a bracket ``lower <= CP rank <= upper`` with its evidence and its field.

:func:`cp_rank_bracket` combines the lower bounds (numerical unfolding ranks,
:mod:`~tt_rnn.rank.unfolding`; exact GF(p) unfolding ranks, :mod:`~tt_rnn.rank.gfp`; the exact
real pencil certificate, :mod:`~tt_rnn.rank.pencil`) with the exact-fit search of
:mod:`~tt_rnn.rank.cpfit`. Each bound records the field it holds over: unfolding ranks bound the
rank over C (hence over R); the pencil certificate bounds the rank over R only; an upper bound is
a real decomposition, so it bounds the real rank and hence the complex rank. A bracket whose lower
end is real-only is a bracket on the *real* CP rank, and is printed as such.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass

import numpy as np

from ..tt import odd_even_row_modes
from ._checks import (_check_tol, _exceeds_float64, _max_abs_scaled, _shape_of, _to_float64,
                      _to_numpy)
from .constants import (DEFAULT_FIT_TOL, DEFAULT_SVD_RTOL, MAX_FIT_ENTRIES, MAX_GFP_ENTRIES,
                        MAX_SVD_ENTRIES)
from .cpfit import CPSearch, _cp_rank_upper_bound, cp_fit, cp_rank_upper_bound
from .gfp import _is_integer_array, _primes_for, _unfolding_rank_mod_p
from .koszul import KOSZUL_TIME_LIMIT, _koszul_young_lower_bound
from .pencil import _pencil_lower_bound
from .rational import _rational_cp_certificate, exact_integer_array
from .uniqueness import _pencil_diagonalisable_upper_bound, _pencil_uniqueness_lower_bound
from .unfolding import _best_unfolding_rank, balanced_bipartitions

#: ``lower_field`` / ``upper_field`` values: the field over which a bound on the CP rank holds.
FIELD_COMPLEX = "complex"   # a lower bound valid over C, hence over R
FIELD_REAL = "real"         # a lower bound valid over R only, or a real decomposition (upper)

#: ``lower_method`` values of certified lower ends (which certificate gave the lower end).
LOWER_UNFOLDING = "GF(p) unfolding rank (exact)"
LOWER_KOSZUL = "Koszul-Young flattening (exact GF(p), border rank; over R and C)"
LOWER_UNIQUENESS = ("pencil uniqueness: non-rank-one eigenvector (exact; over R and C)")
LOWER_REAL_PENCIL = "real pencil with non-real eigenvalues (exact, real rank only)"
#: ``upper_method`` values.
UPPER_TRIVIAL = "trivial (slices)"
UPPER_EXACT = ("exact rational decomposition (ALS + Levenberg-Marquardt fit, rational "
               "reconstruction, exact recomposition)")
UPPER_PENCIL = ("diagonalisable real pencil (exact: invertible slice, N distinct real "
                "eigenvalues)")
UPPER_NUMERICAL = ("numerical upper bound (approximation, not a certificate): ALS + "
                   "Levenberg-Marquardt fit")
#: Keywords of cp_rank_bracket passed on to the fitting search (anything else is refused).
_SET_BY_BRACKET = {"tensor", "rank", "rank_min", "rank_max", "tol", "seed", "strategy",
                   "time_limit", "warm_start"}
FIT_KEYWORDS = frozenset(
    (set(inspect.signature(cp_rank_upper_bound).parameters) |
     set(inspect.signature(cp_fit).parameters)) - _SET_BY_BRACKET - {"fit_kwargs"})
#: Those of them that are parameters of the search itself (the rest go on to each fit).
_SEARCH_KEYWORDS = frozenset(inspect.signature(cp_rank_upper_bound).parameters) & FIT_KEYWORDS


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
        :data:`UPPER_TRIVIAL`, :data:`UPPER_EXACT` (a fit verified exactly, see
        :mod:`~tt_rnn.rank.rational`) or :data:`UPPER_NUMERICAL` (a float fit: evidence only).
    upper_certified : bool
        True for the trivial bound and for a fit verified by exact recomposition.
    upper_error : float or None
        Relative error of the fit behind the upper bound.
    tol : float
        Exact-fit tolerance.
    seed : int
    factors : list of numpy.ndarray or None
        Factors of the decomposition behind the upper bound (real).
    error_curve, border : dict
        Best relative error and border-rank flag per rank tried.
    search_complete : bool
    time_s : float
    lower_field : {"complex", "real"}
        ``"complex"``: ``lower`` bounds the rank over C (and so over R); ``"real"``: over R only
        (the pencil certificate).
    upper_field : {"real"}
        ``upper`` comes from a real decomposition: it bounds the real rank, hence the complex one.
    lower_complex : int
        The best lower bound valid over C (equal to ``lower`` when ``lower_field == "complex"``).
    search : CPSearch or None
    exact_input : bool
        The tensor is exact (integer entries, or integer TT cores). Float input is never
        ``determined``: both ends are then numerical.
    certified_upper : int or None
        Smallest *certified* upper bound (the exact decomposition, else the trivial bound).
    upper_note : str
        Why the upper end is not certified (empty when it is).

    Notes
    -----
    ``determined`` means ``lower == upper`` **and** both ends are certified: a proof that the CP
    rank (over :attr:`field`) equals ``lower``.
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
    lower_field: str = FIELD_COMPLEX
    upper_field: str = FIELD_REAL
    lower_complex: int | None = None
    search: CPSearch | None = None
    exact_input: bool = True
    certified_upper: int | None = None
    upper_note: str = ""

    def __post_init__(self):
        if self.lower_field not in (FIELD_COMPLEX, FIELD_REAL) or self.upper_field != FIELD_REAL:
            raise ValueError(f"lower_field must be 'complex' or 'real' and upper_field 'real', got "
                             f"{self.lower_field!r}, {self.upper_field!r}")
        if self.lower_complex is None:
            self.lower_complex = self.lower if self.lower_field == FIELD_COMPLEX else 0
        if self.certified_upper is None and self.upper_certified:
            self.certified_upper = self.upper

    @property
    def determined(self) -> bool:
        """True when ``lower == upper`` and BOTH ends are certified (a proof of the rank)."""
        return self.lower == self.upper and self.lower_certified and self.upper_certified

    @property
    def field(self) -> str:
        """What ``[lower, upper]`` brackets: ``"real"`` (the real CP rank) or ``"real and complex"``."""
        return "real" if self.lower_field == FIELD_REAL else "real and complex"

    @property
    def rank_name(self) -> str:
        """``"real CP rank"`` when the lower end holds over R only, else ``"CP rank"``."""
        return "real CP rank" if self.lower_field == FIELD_REAL else "CP rank"

    def to_dict(self) -> dict:
        """JSON-friendly summary (no factors)."""
        return dict(lower=self.lower, upper=self.upper, determined=self.determined,
                    field=self.field, lower_field=self.lower_field, upper_field=self.upper_field,
                    lower_complex=self.lower_complex,
                    lower_certified=self.lower_certified, lower_method=self.lower_method,
                    lower_evidence=self.lower_evidence, upper_method=self.upper_method,
                    upper_certified=self.upper_certified, upper_error=self.upper_error,
                    tol=self.tol, seed=self.seed,
                    error_curve={str(k): v for k, v in self.error_curve.items()},
                    border_suspected={str(k): v for k, v in self.border.items()},
                    search_complete=self.search_complete, time_s=self.time_s,
                    exact_input=self.exact_input, certified_upper=self.certified_upper,
                    upper_note=self.upper_note)

    def __str__(self) -> str:
        lo = f"{self.lower}{' (certified' if self.lower_certified else ' (numerical'}"
        lo += f", {self.lower_method}" if self.lower_certified else ""
        lo += ", over R only)" if self.lower_field == FIELD_REAL else ")"
        up = f"{self.upper} ({'certified' if self.upper_certified else 'numerical'}: " \
             f"{self.upper_method}" + (
            f", rel. error {self.upper_error:.1e})" if self.upper_error is not None else ")")
        flags = [r for r, b in self.border.items() if b]
        extra = f"; border rank suspected at {flags}" if flags else ""
        if self.upper_note:
            extra += f"; {self.upper_note}"
        if not self.upper_certified and self.certified_upper is not None:
            extra += f"; certified upper bound {self.certified_upper}"
        if self.lower_field == FIELD_REAL:
            extra += f"; complex CP rank in [{self.lower_complex}, {self.upper}]"
        if not self.search_complete:
            extra += "; search incomplete (time limit reached before every rank was tried)"
        head = f"{self.rank_name} in [{self.lower}, {self.upper}]"
        if not self.exact_input:
            head += " (numerical: float input, never determined)"
        elif self.lower == self.upper and not self.determined:
            head += " (not determined: an end is not certified)"
        return f"{head}: lower {lo}, upper {up}{extra}"


def _certify(xi: np.ndarray, modes_list, num_rank) -> tuple[int, tuple, list]:
    """Best exact GF(p) unfolding rank over ``modes_list`` (a second prime where the first is low)."""
    best, best_modes, primes = -1, None, None
    for modes in modes_list:
        rows = int(np.prod([xi.shape[m] for m in modes]))
        p1, p2 = _primes_for((rows, xi.size // rows), None)
        c = _unfolding_rank_mod_p(xi, list(modes), p1)
        if c < (num_rank if num_rank is not None else min(rows, xi.size // rows)):
            c = max(c, _unfolding_rank_mod_p(xi, list(modes), p2))
        if c > best:
            best, best_modes, primes = c, tuple(modes), [p1, p2]
    return best, best_modes, primes


def cp_rank_bracket(tensor, *, rank_max: int | None = None, tol: float = DEFAULT_FIT_TOL,
                    rtol=DEFAULT_SVD_RTOL, seed: int = 0, strategy: str = "linear",
                    time_limit: float | None = None, max_partitions: int = 512,
                    certify: bool = True, pencil: bool = True, koszul: bool = True,
                    fit: bool = True, **fit_kwargs) -> RankBracket:
    """Bracket ``[lower, upper]`` on the CP rank of a real tensor, with its evidence and field.

    Steps:

    1. numerical rank of the best balanced unfolding (:func:`best_unfolding_rank`, tolerance
       ``rtol``, on the tensor divided by ``max|x|``);
    2. if the tensor is integer-valued and ``certify``, certified lower bounds, each labelled
       in ``lower_method`` when it gives the lower end:

       - the exact GF(p) rank of that unfolding and of the odd/even one
         (:func:`unfolding_rank_mod_p`) -- over R and C;
       - with ``koszul``: the best Koszul-Young flattening over groupings of the modes into
         three factors (:func:`~tt_rnn.rank.koszul.koszul_young_lower_bound`) -- a border-rank
         bound, over R and C;
       - with ``pencil``: the pencil-uniqueness bound ``N + 1``
         (:func:`~tt_rnn.rank.uniqueness.pencil_uniqueness_lower_bound`) -- over R and C -- and
         the real pencil certificate (:func:`pencil_lower_bound`) -- over R only
         (``lower_field = "real"`` when it is the larger; ``lower_complex`` keeps the best
         bound over C);
    3. if ``fit``: the exact-fit search :func:`cp_rank_upper_bound` over ranks ``>= lower``
       (climbing from ``lower`` for ``"linear"`` / ``"gallop"``, walking down from a guess for
       ``"bisect"`` / ``"descend"``); the ranks tried never go below ``lower``. For an exact
       (integer) tensor the fit becomes a certified upper end only when it passes the exact
       check of :func:`~tt_rnn.rank.rational.rational_cp_certificate`; otherwise it is a
       numerical upper bound (approximation, not a certificate). For float input both ends are
       numerical.

    ``determined`` is ``lower == upper`` with both ends certified.

    The result does not depend on the scale of the tensor (every norm is taken after division
    by ``max|x|``). Integer tensors with entries ``>= 2^53`` in absolute value are handled
    exactly by the GF(p) bounds; the float steps (SVD, fits) refuse them with a ``ValueError``
    (pass ``fit=False`` for an exact lower bound and the trivial upper bound).

    Parameters
    ----------
    tensor : numpy array, torch tensor or TensorTrain
        A TensorTrain is contracted exactly (:func:`~tt_rnn.rank._checks.tt_to_tensor_exact`).
    rank_max : int, optional
        Highest rank the search tries (default: the trivial bound).
    tol : float
        Exact-fit relative error in ``(0, 1)`` (default ``1e-10``); checked even when
        ``fit=False``.
    rtol : float, optional
        Numerical-rank tolerance for the SVD (see :func:`unfolding_rank`).
    seed : int
        Non-negative.
    strategy : {"linear", "gallop", "bisect", "descend"}
        See :func:`cp_rank_upper_bound`.
    time_limit : float, optional
        Seconds (``> 0``) for the fitting search; ``None``: no limit.
    max_partitions : int
        Budget of bipartitions for the best-unfolding bound.
    certify, pencil, koszul, fit : bool
        Switch the exact certificates / the pencil bounds / the Koszul-Young bounds / the
        fitting off.
    **fit_kwargs
        Passed to :func:`cp_rank_upper_bound` and :func:`cp_fit` (:data:`FIT_KEYWORDS`); any
        other keyword is a ``TypeError``.

    Raises
    ------
    ValueError, TypeError
        Bad arguments and tensors above the size limits (``MAX_SVD_ENTRIES``; with ``fit``,
        ``MAX_FIT_ENTRIES``), before the input is converted or copied.

    Returns
    -------
    RankBracket
        ``lower <= upper`` always; the upper bound is never below a (certified) lower bound.
    """
    start = time.perf_counter()
    _check_bracket_arguments(tensor, seed=seed, time_limit=time_limit, strategy=strategy,
                             max_partitions=max_partitions, rank_max=rank_max, fit=fit,
                             fit_kwargs=fit_kwargs)
    tol = _check_tol(tol)
    x = _to_numpy(tensor)
    big = _exceeds_float64(x)
    if big and (fit or not certify):
        _to_float64(x, "cp_rank_bracket with fit=True or certify=False")   # raises
    trivial = x.size // max(x.shape)
    if not np.any(x):
        return RankBracket(0, 0, True, "zero tensor", {}, "zero tensor", True, 0.0, tol, seed,
                           None, {}, {}, True, time.perf_counter() - start)
    integer = _is_integer_array(x)
    if big:  # exact arithmetic only: no float SVD of a tensor float64 cannot hold
        num_rank, num_modes = None, tuple(odd_even_row_modes(x.ndim))
        evidence = dict(numerical_rank=None, note_numerical="skipped: entries >= 2^53 (float64 "
                        "would round them); exact GF(p) bounds only")
    else:
        xs, _ = _max_abs_scaled(x)
        num_rank, num_modes, tried, exhaustive = _best_unfolding_rank(xs, rtol, max_partitions)
        evidence = dict(numerical_rank=num_rank, numerical_row_modes=list(num_modes),
                        numerical_rtol=rtol if rtol is not None else "max(shape) * eps",
                        partitions_tried=tried, partitions_exhaustive=exhaustive)
    lower, lower_certified, method = (num_rank or 0), False, "numerical unfolding rank (SVD)"
    lower_field = FIELD_COMPLEX
    if certify and integer and x.size <= MAX_GFP_ENTRIES:
        xi = x if np.issubdtype(x.dtype, np.integer) else np.round(x).astype(np.int64)
        modes_list = [tuple(num_modes), tuple(odd_even_row_modes(x.ndim))]
        if big:
            modes_list += balanced_bipartitions(x.ndim)[:max_partitions]
        best_cert, best_modes, primes = _certify(xi, list(dict.fromkeys(modes_list)), num_rank)
        evidence.update(certified_unfolding_rank=best_cert, certified_row_modes=list(best_modes),
                        primes=primes)
        lower, lower_certified, method = best_cert, True, LOWER_UNFOLDING
        if koszul and x.ndim >= 3:
            cert = _koszul_young_lower_bound(xi, floor=lower, seed=seed,
                                             time_limit=KOSZUL_TIME_LIMIT)
            if cert is not None:
                evidence["koszul_young"] = cert
                if cert["bound"] > lower:
                    lower, method = cert["bound"], LOWER_KOSZUL
        if pencil and 2 in x.shape and x.ndim >= 3:
            cert = _pencil_uniqueness_lower_bound(xi)
            if cert is not None:
                evidence["pencil_uniqueness"] = cert
                if cert["bound"] > lower:
                    lower, method = cert["bound"], LOWER_UNIQUENESS
        evidence["certified_complex_lower"] = lower
        if pencil and 2 in x.shape:
            cert = _pencil_lower_bound(xi)
            if cert is not None:
                evidence["pencil"] = cert
                if cert["bound"] > lower:
                    lower, lower_field = cert["bound"], FIELD_REAL
                    method = LOWER_REAL_PENCIL
        if num_rank is not None and num_rank > best_cert:
            evidence["note"] = (f"the numerical unfolding rank {num_rank} exceeds the certified "
                                f"bound {best_cert}; only the certified value is used")
    elif big:
        raise ValueError("an integer tensor with entries >= 2^53 needs certify=True and at most "
                         f"{MAX_GFP_ENTRIES} entries (exact arithmetic only), got "
                         f"certify={certify}, {x.size} entries")
    lower_complex = evidence.get("certified_complex_lower", num_rank)
    upper, upper_method, upper_cert, upper_err, factors = trivial, UPPER_TRIVIAL, True, None, None
    upper_note, certified_upper = "", trivial
    search = None
    if certify and pencil and integer and x.ndim == 3:
        cert = _pencil_diagonalisable_upper_bound(x)
        if cert is not None and cert["bound"] < upper:
            upper, upper_method, certified_upper = cert["bound"], UPPER_PENCIL, cert["bound"]
            evidence["upper_pencil"] = cert
    if fit and lower < upper:
        search_kwargs = {k: v for k, v in fit_kwargs.items() if k in _SEARCH_KEYWORDS}
        per_fit = {k: v for k, v in fit_kwargs.items() if k not in _SEARCH_KEYWORDS}
        # checked above: size, order, tol, norm_limit, and no entry float64 would round
        search = _cp_rank_upper_bound(np.asarray(x, dtype=np.float64), max(lower, 1),
                                      min(rank_max or upper, upper), tol=tol, seed=seed,
                                      strategy=strategy, time_limit=time_limit,
                                      fit_kwargs=per_fit, **search_kwargs)
        if search.rank is not None and search.rank < upper:
            upper, upper_err, factors = search.rank, search.fit.rel_error, search.fit.factors
            exact = _rational_cp_certificate(exact_integer_array(x), factors) if integer else None
            if exact is not None:
                upper_method, upper_cert, certified_upper = UPPER_EXACT, True, upper
                evidence["upper_exact"] = {k: v for k, v in exact.items() if k != "factors"}
            else:
                upper_method, upper_cert = UPPER_NUMERICAL, False
                upper_note = (
                    f"upper end {upper} not certified: the float fit (rel. error "
                    f"{upper_err:.1e}) was not verified exactly"
                    + (" (no rational decomposition recomposes to the exact tensor), so only "
                       f"border rank <= {upper} is suggested, not rank <= {upper}"
                       if integer else " (float input)"))
    if lower > upper:  # cannot happen: the search starts at `lower`; kept as a hard invariant
        raise AssertionError(f"bracket invariant violated: lower {lower} > upper {upper}")
    return RankBracket(lower, upper, lower_certified, method, evidence, upper_method, upper_cert,
                       upper_err, tol, seed, factors,
                       search.error_curve if search else {}, search.border if search else {},
                       search.complete if search else True, time.perf_counter() - start,
                       lower_field, FIELD_REAL, lower_complex, search, integer, certified_upper,
                       upper_note)


def _check_bracket_arguments(tensor, *, seed, time_limit, strategy, max_partitions, rank_max,
                             fit, fit_kwargs) -> None:
    """Every argument check of :func:`cp_rank_bracket`, before the input is converted or copied.

    The shape is read without forming the tensor (a TensorTrain is not contracted), so a tensor
    above the size limits fails at once with a ``ValueError`` instead of a ``MemoryError`` or
    minutes of SVDs followed by the same refusal.
    """
    unknown = sorted(set(fit_kwargs) - FIT_KEYWORDS)
    if unknown:
        raise TypeError(f"cp_rank_bracket got unexpected keyword argument(s) {unknown}; the "
                        f"fitting search accepts {sorted(FIT_KEYWORDS)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got seed = {seed!r}")
    if time_limit is not None:
        if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float, np.number)):
            raise TypeError(f"time_limit must be a number of seconds or None, got {time_limit!r}")
        if not (math.isfinite(float(time_limit)) and time_limit > 0):
            raise ValueError(f"time_limit must be > 0 seconds (or None for no limit), got "
                             f"time_limit = {time_limit}; pass fit=False to skip the fitting")
    if strategy not in ("linear", "gallop", "bisect", "descend"):
        raise ValueError(f"strategy must be 'linear', 'gallop', 'bisect' or 'descend', "
                         f"got strategy = {strategy!r}")
    if isinstance(max_partitions, bool) or not isinstance(max_partitions, (int, np.integer)) \
            or max_partitions < 1:
        raise ValueError(f"max_partitions must be an integer >= 1, got {max_partitions!r}")
    if rank_max is not None and int(rank_max) < 1:
        raise ValueError(f"rank_max must be >= 1, got rank_max = {rank_max}")
    if fit and "norm_limit" in fit_kwargs and not fit_kwargs["norm_limit"] > 1:
        raise ValueError(f"norm_limit must be > 1, got norm_limit = {fit_kwargs['norm_limit']}")
    shape = _shape_of(tensor)
    if len(shape) < 2:
        raise ValueError(f"need a tensor of order >= 2, got shape {shape}")
    size = math.prod(shape)
    if size > MAX_SVD_ENTRIES:
        raise ValueError(f"tensor of shape {shape} has {size} entries, above the limit "
                         f"{MAX_SVD_ENTRIES} (MAX_SVD_ENTRIES) of every bound of cp_rank_bracket; "
                         f"bound an unfolding of a TensorTrain with unfolding_rank_mod_p instead")
    if fit and size > MAX_FIT_ENTRIES:
        raise ValueError(f"tensor of shape {shape} has {size} entries, above the limit "
                         f"{MAX_FIT_ENTRIES} (MAX_FIT_ENTRIES) for CP fitting; pass fit=False for "
                         f"the lower bounds and the trivial upper bound")
