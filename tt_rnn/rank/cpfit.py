"""Upper bounds on the CP rank: exact-fit attempts (ALS + Levenberg-Marquardt) and rank searches.

A rank ``R`` counts as *fitted* when some real rank-``R`` decomposition reaches relative error
``||X - X_R||_F / ||X||_F <= tol`` (default ``1e-10`` in float64) with bounded components
(``kappa <= norm_limit``) -- numerical evidence that the real (hence also the complex) CP rank is
``<= R``, not a proof; stored decompositions can be re-checked by :mod:`tt_rnn.rank.decompositions`. Starts:
ALS with line search from tensorly [1]_ (:func:`tensorly.decomposition.parafac`), warm starts
from neighbouring ranks, random starts; refinement by the Levenberg-Marquardt solver of
:mod:`tt_rnn.rank.lm` ([2]_, [3]_). Inputs are divided by ``max|x|`` first, so nothing depends on
the scale of the tensor (no overflow of ``||x||`` at 1e160, no underflow at 1e-170).

References
----------
.. [1] J. Kossaifi, Y. Panagakis, A. Anandkumar, M. Pantic, "TensorLy: tensor learning in
       Python", JMLR 20(26), 2019.
.. [2] G. Tomasi, R. Bro, "A comparison of algorithms for fitting the PARAFAC model",
       Comput. Stat. Data Anal. 50(7), 2006.
.. [3] L. Sorber, M. Van Barel, L. De Lathauwer, "Optimization-based algorithms for tensor
       decompositions: canonical polyadic decomposition, decomposition in rank-(Lr,Lr,1) terms
       and a new generalization", SIAM J. Optim. 23(2), 2013.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ._checks import _check_size, _check_tol, _max_abs_scaled, _to_float64, _to_numpy
from .constants import DEFAULT_FIT_TOL, DEFAULT_NORM_LIMIT, MAX_FIT_ENTRIES
from .lm import _balance, _lm, blas_single_thread, border_rank_suspected, cp_to_tensor


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
        Factors ``A_k`` of shape ``(n_k, rank)`` of the best attempt, for the tensor as
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
    """The checks of every public fitting function; returns the tensor as float64 numpy."""
    x = _to_numpy(tensor)
    if x.ndim < 2:
        raise ValueError(f"need a tensor of order >= 2, got shape {x.shape}")
    _check_size(x, MAX_FIT_ENTRIES, "CP fitting (ALS / Levenberg-Marquardt)")
    x = _to_float64(x, "CP fitting")
    _check_tol(tol)
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
    x = _check_fit_input(tensor, tol, norm_limit)
    if int(rank) < 1:
        raise ValueError(f"rank must be >= 1, got rank = {rank}")
    with blas_single_thread():
        return _cp_fit(x, int(rank), tol=tol, n_als=n_als, n_random=n_random, n_refine=n_refine,
                       warm_start=warm_start, seed=seed, als_iter=als_iter, lm_iter=lm_iter,
                       norm_limit=norm_limit, time_limit=time_limit)


def _cp_fit(x: np.ndarray, rank: int, *, tol: float = DEFAULT_FIT_TOL, n_als: int = 3,
            n_random: int = 2, n_refine: int = 2, warm_start=None, seed: int = 0,
            als_iter: int = 200, lm_iter: int = 400, norm_limit: float = DEFAULT_NORM_LIMIT,
            time_limit: float | None = None) -> CPFit:
    """:func:`cp_fit` of a tensor checked by :func:`_check_fit_input` (float64, order ``>= 2``,
    within the size limit), a rank ``>= 1`` and checked ``tol``, ``norm_limit``; the caller
    holds :func:`blas_single_thread`. ``warm_start`` is checked here (the searches build it)."""
    from tensorly.decomposition import parafac

    start = time.perf_counter()
    deadline = None if time_limit is None else start + time_limit
    xs, maxabs = _max_abs_scaled(x)
    if maxabs == 0:
        return CPFit(rank, 0.0, 0.0, True, False, [np.zeros((s, rank)) for s in x.shape],
                     [], 0.0, tol)
    nrm = float(np.linalg.norm(xs))
    xu = xs / nrm
    # X = maxabs * nrm * xu; each of the d factors carries the d-th root of that scale (never
    # formed as a product, which may overflow)
    root = maxabs ** (1.0 / x.ndim) * nrm ** (1.0 / x.ndim)
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
            scaled = [np.asarray(w, dtype=np.float64) / root for w in ws]
            if not all(np.all(np.isfinite(w)) for w in scaled):
                raise ValueError("warm_start factors must be finite")
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
                return _finish(best, attempts, rank, root, tol, norm_limit, start)
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
        err = float(np.linalg.norm(cp_to_tensor(fac) - xu))
        als.append((err, fac, "als-" + init, seed_used))
    als.sort(key=lambda t: t[0])
    for err, fac, kind, seed_used in als[:n_refine]:
        if out_of_time():
            break
        if run_lm(fac, kind, seed_used, als_error=err):
            return _finish(best, attempts, rank, root, tol, norm_limit, start)
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
    return _finish(best, attempts, rank, root, tol, norm_limit, start)


def _finish(best, attempts, rank, root, tol, norm_limit, start) -> CPFit:
    if best is None:
        return CPFit(rank, float("inf"), float("inf"), False, False, None, attempts,
                     time.perf_counter() - start, tol)
    _, facs, rec = best
    factors = [f * root for f in facs]
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
        Its fit (factors, error, attempts with seeds).
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
    unknown = sorted(set(fit_kwargs) - SEARCH_FIT_KEYWORDS)
    if unknown:
        raise TypeError(f"cp_rank_upper_bound got unexpected keyword argument(s) {unknown}; "
                        f"cp_fit accepts {sorted(SEARCH_FIT_KEYWORDS)} from it")
    return _cp_rank_upper_bound(x, rank_min, rank_max, tol=tol, seed=seed, strategy=strategy,
                                rank_guess=rank_guess, time_limit=time_limit,
                                rank_time_limit=rank_time_limit, norm_limit=norm_limit,
                                verbose=verbose, fit_kwargs=fit_kwargs)


def _cp_rank_upper_bound(x: np.ndarray, rank_min: int, rank_max: int | None, *, tol: float,
                         seed: int = 0, strategy: str = "linear", rank_guess: int | None = None,
                         time_limit: float | None = None, rank_time_limit: float | None = None,
                         norm_limit: float = DEFAULT_NORM_LIMIT, verbose: bool = False,
                         fit_kwargs=None) -> CPSearch:
    """:func:`cp_rank_upper_bound` of a tensor checked by :func:`_check_fit_input`. The rank range
    and the strategy are checked here: :func:`~tt_rnn.rank.bracket.cp_rank_bracket` derives
    ``rank_min`` from the tensor."""
    fit_kwargs = fit_kwargs or {}
    trivial = x.size // max(x.shape)
    if rank_max is None:
        rank_max = trivial
    rank_min, rank_max = int(rank_min), int(rank_max)
    if rank_min < 1:
        raise ValueError(f"rank_min must be >= 1, got rank_min = {rank_min}")
    if rank_max < rank_min:
        raise ValueError(f"rank_max = {rank_max} is below rank_min = {rank_min}")
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be 'linear', 'gallop', 'bisect' or 'descend', "
                         f"got {strategy!r}")
    run = _RankSearch(x, tol=tol, seed=seed, time_limit=time_limit,
                      rank_time_limit=rank_time_limit, norm_limit=norm_limit, verbose=verbose,
                      fit_kwargs=fit_kwargs)
    if rank_guess is None and strategy in ("bisect", "descend"):
        rank_guess = generic_rank_estimate(x.shape)
    best, complete = _STRATEGIES[strategy](run, rank_min, rank_max, rank_guess)
    if run.timed_out():  # an attempt cut short by the deadline is not a genuine failure
        complete = False
    for rank, fit in run.fits.items():
        if rank != best:
            fit.factors = None
    return CPSearch(best, run.fits.get(best), dict(sorted(run.curve.items())),
                    dict(sorted(run.border.items())), run.fits, seed, tol,
                    time.perf_counter() - run.start, strategy, complete)


#: Keywords of :func:`cp_fit` that :func:`cp_rank_upper_bound` passes on (the rest it sets itself).
SEARCH_FIT_KEYWORDS = frozenset(inspect.signature(cp_fit).parameters) - {
    "tensor", "rank", "tol", "seed", "warm_start", "norm_limit", "time_limit"}


class _RankSearch:
    """State of one :func:`cp_rank_upper_bound` run: the fits per rank and the clock.

    :meth:`attempt` fits one rank (warm-started from the fits already made) and records it; the
    strategy functions below decide which ranks to attempt.
    """

    def __init__(self, x, *, tol, seed, time_limit, rank_time_limit, norm_limit, verbose,
                 fit_kwargs):
        self.x, self.tol, self.seed, self.norm_limit = x, tol, seed, norm_limit
        self.time_limit, self.rank_time_limit = time_limit, rank_time_limit
        self.verbose, self.fit_kwargs = verbose, fit_kwargs
        self.fits, self.curve, self.border = {}, {}, {}
        self.start = time.perf_counter()

    def timed_out(self) -> bool:
        return self.time_limit is not None and \
            time.perf_counter() - self.start > self.time_limit

    def attempt(self, rank: int, cheap: bool = False) -> bool:
        """Fit ``rank``; True on an exact fit. ``cheap``: only the pruned exact fit from above."""
        fits = self.fits
        remaining = None if self.time_limit is None else \
            self.time_limit - (time.perf_counter() - self.start)
        limit = self.rank_time_limit if remaining is None else (
            remaining if self.rank_time_limit is None else min(remaining, self.rank_time_limit))
        # warm starts: prune the nearest exact fit above, pad the nearest fit below
        above = [k for k, f in fits.items() if k > rank and f.exact and f.factors is not None]
        below = [k for k, f in fits.items() if k < rank and f.factors is not None]
        ws = ([fits[min(above)].factors] if above else []) + \
            ([fits[max(below)].factors] if below else [])
        kwargs = dict(self.fit_kwargs)
        if cheap:  # only the pruned exact fit from above, no ALS / random starts
            ws = ws[:1]
            kwargs.update(n_als=0, n_random=0)
        with blas_single_thread():
            fit = _cp_fit(self.x, rank, tol=self.tol, seed=self.seed, warm_start=ws or None,
                          norm_limit=self.norm_limit, time_limit=limit, **kwargs)
        if rank in fits and not fit.exact and fits[rank].rel_error < fit.rel_error:
            fit = fits[rank]
        self.curve[rank], self.border[rank] = fit.rel_error, fit.border_suspected
        fits[rank] = fit
        if self.verbose:
            print(f"  rank {rank:>4}: best relative error {fit.rel_error:.2e}, kappa "
                  f"{fit.kappa:.1e}, {'exact' if fit.exact else 'no exact fit'}"
                  f"{', border rank suspected' if fit.border_suspected else ''} "
                  f"[{len(fit.attempts)} starts, {fit.time_s:.1f} s]", flush=True)
        return fit.exact


# Each strategy returns ``(best, complete)``: the smallest fitted rank it found (or None) and
# whether it ran to its end (False when the time limit stopped it).

def _search_linear(run: _RankSearch, rank_min: int, rank_max: int, rank_guess) -> tuple:
    """``rank_min, rank_min + 1, ...`` up to the first exact fit."""
    for rank in range(rank_min, rank_max + 1):
        if run.timed_out():
            return None, False
        if run.attempt(rank):
            return rank, True
    return None, True


def _climb(run: _RankSearch, rank: int, step: int, lo: int, rank_max: int) -> tuple:
    """Try ``rank``, then steps ``step, 2 step, 4 step, ...`` up to the first exact fit, and
    ``rank_max`` last when the steps jump over it. Returns ``(best, largest failed rank,
    complete)``."""
    while rank <= rank_max:
        if run.timed_out():
            return None, lo, False
        if run.attempt(rank):
            return rank, lo, True
        lo, rank, step = rank, rank + step, step * 2
    if lo < rank_max and run.attempt(rank_max):
        return rank_max, lo, True
    return None, lo, True


def _bisect_down(run: _RankSearch, lo: int, hi: int) -> tuple:
    """Bisect between a failed rank ``lo`` and a fitted rank ``hi``; ``(best, complete)``."""
    while hi - lo > 1:
        if run.timed_out():
            return hi, False
        mid = (lo + hi) // 2
        if run.attempt(mid):
            hi = mid
        else:
            lo = mid
    return hi, True


def _first_guess(rank_min: int, rank_max: int, rank_guess: int) -> tuple:
    """``(rank, step)`` where ``"bisect"`` / ``"descend"`` start climbing."""
    return (int(min(max(rank_guess, rank_min), rank_max)),
            max(1, (rank_max - rank_min) // 8))


def _search_gallop(run: _RankSearch, rank_min: int, rank_max: int, rank_guess) -> tuple:
    """``rank_min``, then steps ``1, 2, 4, ...`` to the first exact fit; bisect back down."""
    best, lo, complete = _climb(run, rank_min, 1, rank_min - 1, rank_max)
    if best is None:
        return None, complete
    return _bisect_down(run, lo, best)


def _search_bisect(run: _RankSearch, rank_min: int, rank_max: int, rank_guess: int) -> tuple:
    """``rank_guess`` first (climbing from it if it fails), then bisect down to ``rank_min``."""
    rank, step = _first_guess(rank_min, rank_max, rank_guess)
    best, lo, complete = _climb(run, rank, step, rank_min - 1, rank_max)
    if best is None:
        return None, complete
    return _bisect_down(run, lo, best)


def _search_descend(run: _RankSearch, rank_min: int, rank_max: int, rank_guess: int) -> tuple:
    """Like ``"bisect"`` to the first exact fit, then walk down from it.

    Steps of a quarter of the gap, halved after each failure, each tried with the pruned exact
    fit only; once the step is 1, a full multi-start attempt decides.
    """
    rank, step = _first_guess(rank_min, rank_max, rank_guess)
    best, lo, complete = _climb(run, rank, step, rank_min - 1, rank_max)
    if best is None:
        return None, complete
    hi, step = best, max(1, (best - lo) // 4)
    while hi - lo > 1:
        if run.timed_out():
            return hi, False
        target = max(lo + 1, hi - step)
        if run.attempt(target, cheap=True):
            hi = target
        elif step > 1:
            step //= 2
        elif run.attempt(target):
            hi = target
        else:
            lo = target
    return hi, True


_STRATEGIES = {"linear": _search_linear, "gallop": _search_gallop, "bisect": _search_bisect,
               "descend": _search_descend}


def descend_exact_fit(tensor, factors, *, tol: float = DEFAULT_FIT_TOL,
                      norm_limit: float = DEFAULT_NORM_LIMIT, time_limit: float = 600.0,
                      lm_iter: int = 2000, max_prunes: int = 6, n_perturb: int = 2, seed: int = 0,
                      on_exact=None, log=None) -> dict:
    """Walk down from an exact rank-``R`` fit: drop one component, refine, repeat.

    At each step the components of the current exact fit are ordered by strength
    ``prod_k ||a_t^(k)||`` and, weakest first, up to ``max_prunes`` of them are removed in turn;
    each rank-``(R-1)`` start is refined by Levenberg-Marquardt. Then ``n_perturb`` starts add
    Gaussian noise (5% of the factor scale) to the weakest-pruned start. The first exact fit
    (error ``<= tol``, ``kappa <= norm_limit``) becomes the new current fit; the walk stops when
    no start fits or the time runs out. A pruned exact fit converges in a few Gauss-Newton steps
    when the lower rank is reachable nearby, which makes this much cheaper than fresh starts.

    Parameters
    ----------
    tensor : array or TensorTrain
    factors : list of arrays
        An exact fit of ``tensor`` (factors ``(n_k, R)`` for the tensor as given).
    tol, norm_limit : float
        As in :func:`cp_fit`.
    time_limit : float
        Seconds for the whole walk.
    lm_iter : int
        Levenberg-Marquardt iteration cap per start.
    max_prunes, n_perturb : int
        Starts per rank (see above).
    seed : int
        Noise of start ``j`` at rank ``R'``: ``numpy.random.default_rng([seed, R', j])``.
    on_exact : callable, optional
        ``on_exact(rank, factors, rel_error, kappa)`` after each exact fit (e.g. to checkpoint).
    log : callable, optional
        Receives one line per start.

    Returns
    -------
    dict
        ``{rank: {"factors", "rel_error", "kappa"}}`` for every rank reached (factors for the
        tensor as given); empty if the first step already fails.
    """
    x = _check_fit_input(tensor, tol, norm_limit)
    if time_limit <= 0 or int(lm_iter) < 1:
        raise ValueError(f"need time_limit > 0 and lm_iter >= 1, got {time_limit}, {lm_iter}")
    d = x.ndim
    if len(factors) != d or any(np.shape(f)[0] != s for f, s in zip(factors, x.shape)):
        raise ValueError(f"factors of shapes {[np.shape(f) for f in factors]} do not match the "
                         f"tensor shape {x.shape}")
    start = time.perf_counter()
    deadline = start + float(time_limit)
    xs, maxabs = _max_abs_scaled(x)
    if maxabs == 0:
        raise ValueError("the zero tensor has CP rank 0; nothing to descend")
    nrm = float(np.linalg.norm(xs))
    xu = xs / nrm
    root = maxabs ** (1.0 / d) * nrm ** (1.0 / d)
    fac = _balance([np.asarray(f, dtype=np.float64) / root for f in factors])
    found = {}
    with blas_single_thread():
        while time.perf_counter() < deadline and fac[0].shape[1] > 1:
            rank = fac[0].shape[1]
            target = rank - 1
            strength = np.prod([np.linalg.norm(f, axis=0) for f in fac], axis=0)
            order = [int(k) for k in np.argsort(strength)]
            starts = [("prune", k, None) for k in order[:max_prunes]]
            starts += [("prune+noise", order[0], j) for j in range(n_perturb)]
            ok = None
            for kind, k, j in starts:
                if time.perf_counter() > deadline:
                    break
                keep = [t for t in range(rank) if t != k]
                init = [f[:, keep].copy() for f in fac]
                if j is not None:
                    rng = np.random.default_rng([seed, target, j])
                    init = [f + 0.05 * np.linalg.norm(f) / math.sqrt(f.size)
                            * rng.standard_normal(f.shape) for f in init]
                t0 = time.perf_counter()
                new, hist = _lm(xu, init, tol=tol, max_iter=int(lm_iter), deadline=deadline,
                                stall_window=150)
                err, kap = float(hist[-1, 1]), float(hist[-1, 2])
                if log is not None:
                    log(f"  rank {target}: {kind} component {k}"
                        f"{'' if j is None else f' seed {j}'}: error {err:.2e}, kappa {kap:.1e}, "
                        f"{int(hist[-1, 0])} it, {time.perf_counter() - t0:.1f} s")
                if err <= tol and kap <= norm_limit:
                    ok = (new, err, kap)
                    break
            if ok is None:
                break
            fac = _balance(ok[0])
            out = [f * root for f in fac]
            found[target] = dict(factors=out, rel_error=ok[1], kappa=ok[2])
            if on_exact is not None:
                on_exact(target, out, ok[1], ok[2])
    return found
