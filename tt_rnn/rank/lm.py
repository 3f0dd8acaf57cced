"""The numerical engine of the upper bounds: CP model algebra and a Levenberg-Marquardt solver.

Damped Gauss-Newton (Levenberg-Marquardt [1]_, [2]_; damping update of Nielsen [3]_) on
``0.5 ||X - [[A_1, ..., A_d]]||_F^2`` with the analytic Gram matrix ``J^T J`` of the CP model
(Tomasi and Bro [4]_; the matrix-free product and block-Jacobi preconditioner of Sorber, Van Barel
and De Lathauwer [5]_, as in Tensorlab's ``cpd_nls``), plus the border-rank heuristic
:func:`border_rank_suspected` (diverging components, Landsberg [6]_ Sec. 2.4, de Silva and Lim
[7]_). Nothing here is a proof: a fit is numerical evidence that the rank is at most ``R``.

References
----------
.. [1] K. Levenberg, "A method for the solution of certain non-linear problems in least
       squares", Quart. Appl. Math. 2, 1944.
.. [2] D. W. Marquardt, "An algorithm for least-squares estimation of nonlinear parameters",
       SIAM J. Appl. Math. 11(2), 1963.
.. [3] H. B. Nielsen, "Damping parameter in Marquardt's method", IMM-REP-1999-05, DTU, 1999.
.. [4] G. Tomasi, R. Bro, "A comparison of algorithms for fitting the PARAFAC model",
       Comput. Stat. Data Anal. 50(7), 2006.
.. [5] L. Sorber, M. Van Barel, L. De Lathauwer, "Optimization-based algorithms for tensor
       decompositions: canonical polyadic decomposition, decomposition in rank-(Lr,Lr,1) terms
       and a new generalization", SIAM J. Optim. 23(2), 2013.
.. [6] J. M. Landsberg, *Tensors: Geometry and Applications*, AMS, 2012.
.. [7] V. de Silva, L.-H. Lim, "Tensor rank and the ill-posedness of the best low-rank
       approximation problem", SIAM J. Matrix Anal. Appl. 30(3), 2008.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Sequence

import numpy as np
import scipy.linalg

from .constants import DEFAULT_FIT_TOL


def blas_single_thread():
    """Context manager limiting BLAS to one thread (``threadpoolctl`` if installed, else no-op).

    The Levenberg-Marquardt steps factor small dense matrices; on a loaded machine a
    multi-threaded BLAS spends most of its time waking threads (6x slower in our measurements).
    Without ``threadpoolctl`` set ``OPENBLAS_NUM_THREADS=1`` before numpy is imported.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def cp_to_tensor(factors: Sequence[np.ndarray]) -> np.ndarray:
    """Full tensor ``sum_t a_t^(1) (x) ... (x) a_t^(d)`` of CP factors ``A_k`` of shape ``(n_k, R)``.

    Works for any dtype numpy can multiply (float64, or ``object`` for exact python integers);
    no input checks (callers pass factors of matching rank).
    """
    shape = tuple(f.shape[0] for f in factors)
    return _khatri_rao_rows(factors).sum(axis=1).reshape(shape)


def _khatri_rao_rows(factors: Sequence[np.ndarray]) -> np.ndarray:
    """Row-wise Khatri-Rao product in C order: row ``(i_1, ..., i_m)`` is ``prod_j A_j[i_j, :]``."""
    out = factors[0]
    for f in factors[1:]:
        out = (out[:, None, :] * f[None, :, :]).reshape(-1, f.shape[1])
    return out


def _mttkrp(tensor: np.ndarray, factors: Sequence[np.ndarray], mode: int) -> np.ndarray:
    """``unfold(tensor, mode) @ khatri_rao(factors without mode)`` (C order).

    Same quantity as ``tensorly.tenalg.unfolding_dot_khatri_rao``, written with numpy
    broadcasting because the tensorly backend dispatch dominated the run time on small tensors.
    """
    others = [f for j, f in enumerate(factors) if j != mode]
    unfolded = np.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)
    return unfolded @ _khatri_rao_rows(others)


def _norm_ratio(factors: Sequence[np.ndarray], xnorm: float) -> float:
    comp = np.prod([np.linalg.norm(f, axis=0) for f in factors], axis=0)
    return float(comp.max() / xnorm) if comp.size else 0.0


def _balance(factors: list[np.ndarray]) -> list[np.ndarray]:
    """Rescale each component so that its factor columns have equal norms (same tensor)."""
    norms = np.array([np.linalg.norm(f, axis=0) for f in factors])  # (d, R)
    norms = np.where(norms == 0, 1.0, norms)
    geo = np.exp(np.mean(np.log(norms), axis=0))
    return [f * (geo / nrm) for f, nrm in zip(factors, norms)]


def _gram_jtj(factors: Sequence[np.ndarray]) -> np.ndarray:
    """``J^T J`` of the CP map ``(A_1, ..., A_d) -> sum_t a_t^(1) (x) ... (x) a_t^(d)``.

    Parameters are ``vec(A_k)`` in row-major order (index ``i * R + t``), stacked over ``k``.
    Blocks: ``(k, k) = I_{n_k} (x) Gamma_k`` with ``Gamma_k`` the Hadamard product of the
    ``A_j^T A_j``, ``j != k``; ``(k, l)[i t, i' t'] = A_k[i, t'] A_l[i', t] Gamma_kl[t, t']``
    with ``Gamma_kl`` the Hadamard product over ``j != k, l`` ([4]_, [5]_).
    """
    d = len(factors)
    R = factors[0].shape[1]
    grams = [f.T @ f for f in factors]
    sizes = [f.shape[0] * R for f in factors]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    out = np.empty((offsets[-1], offsets[-1]))
    for k in range(d):
        gk = np.ones((R, R))
        for j in range(d):
            if j != k:
                gk = gk * grams[j]
        out[offsets[k]:offsets[k + 1], offsets[k]:offsets[k + 1]] = np.kron(np.eye(factors[k].shape[0]), gk)
        for l in range(k + 1, d):
            gkl = np.ones((R, R))
            for j in range(d):
                if j != k and j != l:
                    gkl = gkl * grams[j]
            block = np.einsum("ib,ja,ab->iajb", factors[k], factors[l], gkl).reshape(sizes[k], sizes[l])
            out[offsets[k]:offsets[k + 1], offsets[l]:offsets[l + 1]] = block
            out[offsets[l]:offsets[l + 1], offsets[k]:offsets[k + 1]] = block.T
    return out


class _GaussNewtonSystem:
    """``J^T J`` of the CP map at fixed factors, dense (Cholesky) or matrix-free (PCG).

    Matrix-free product ([5]_, Tensorlab's ``cpd_nls``): for ``V = (V_1, ..., V_d)``,
    ``(J^T J V)_k = V_k Gamma_k + sum_{l != k} A_k (Gamma_kl * (A_l^T V_l))^T`` with ``*`` the
    Hadamard product; preconditioner: the block diagonal ``V_k (Gamma_k + mu I)^{-1}``.
    """

    def __init__(self, factors: list[np.ndarray], dense: bool):
        self.factors = factors
        self.d = len(factors)
        self.R = factors[0].shape[1]
        self.sizes = [f.size for f in factors]
        self.shapes = [f.shape for f in factors]
        self.dense = dense
        if dense:
            self.jtj = _gram_jtj(factors)
            self.diag_max = float(np.max(np.diag(self.jtj)))
        else:
            grams = np.stack([f.T @ f for f in factors])          # (d, R, R)
            self.gamma = np.empty((self.d, self.d, self.R, self.R))
            for k in range(self.d):
                for l in range(k, self.d):
                    keep = [j for j in range(self.d) if j != k and j != l]
                    g = np.prod(grams[keep], axis=0) if keep else np.ones((self.R, self.R))
                    self.gamma[k, l] = self.gamma[l, k] = g
            self.gamma_diag = self.gamma[np.arange(self.d), np.arange(self.d)].copy()
            self.gamma_off = self.gamma.copy()
            self.gamma_off[np.arange(self.d), np.arange(self.d)] = 0.0
            self.diag_max = float(np.max(np.diagonal(self.gamma_diag, axis1=1, axis2=2)))

    def _split(self, v):
        return [p.reshape(sh) for p, sh in zip(np.split(v, np.cumsum(self.sizes)[:-1]), self.shapes)]

    def matvec(self, v: np.ndarray) -> np.ndarray:
        if self.dense:
            return self.jtj @ v
        vs = self._split(v)
        w = np.stack([a.T @ vv for a, vv in zip(self.factors, vs)])           # (d, R, R)
        s = np.einsum("klab,lab->kab", self.gamma_off, w)
        return np.concatenate([(vv @ g + a @ sk.T).ravel()
                               for vv, g, a, sk in zip(vs, self.gamma_diag, self.factors, s)])

    def solve(self, rhs: np.ndarray, mu: float, rtol: float) -> np.ndarray:
        if self.dense:
            chol = scipy.linalg.cho_factor(self.jtj + mu * np.eye(self.jtj.shape[0]),
                                           check_finite=False)
            return scipy.linalg.cho_solve(chol, rhs, check_finite=False)
        import scipy.sparse.linalg as spla
        inv = np.linalg.inv(self.gamma_diag + mu * np.eye(self.R))

        def precond(v):
            return np.concatenate([(p @ i).ravel() for p, i in zip(self._split(v), inv)])

        n = rhs.size
        op = spla.LinearOperator((n, n), matvec=lambda v: self.matvec(v) + mu * v, dtype=float)
        pre = spla.LinearOperator((n, n), matvec=precond, dtype=float)
        sol, _ = spla.cg(op, rhs, M=pre, rtol=rtol, maxiter=n)
        return sol


def _lm(x: np.ndarray, factors: list[np.ndarray], *, tol: float, max_iter: int,
        deadline: float | None, stall_window: int = 60, stall_factor: float = 0.98,
        dense_max: int = 2000):
    """Levenberg-Marquardt on ``0.5 ||X - [[A]]||^2`` for a unit-norm X. Returns (factors, history).

    Residuals are formed explicitly (no ``||X||^2 - 2<X, M> + ||M||^2`` cancellation), so relative
    errors down to ~1e-15 are measured faithfully. Damping: Nielsen's update of ``mu``. The
    damped normal equations are solved by Cholesky for ``<= dense_max`` parameters (faster here
    up to ~2000 parameters), else by
    preconditioned conjugate gradients (inexact Gauss-Newton, forcing term tied to the error).
    History rows: ``(iteration, relative error, kappa)``.
    """
    factors = _balance([f.copy() for f in factors])
    shapes = [f.shape for f in factors]
    sizes = [f.size for f in factors]
    dense = sum(sizes) <= dense_max
    resid = cp_to_tensor(factors) - x
    f_val = 0.5 * float(np.sum(resid * resid))
    history = [(0, math.sqrt(2 * f_val), _norm_ratio(factors, 1.0))]
    mu, nu = None, 2.0
    for it in range(1, max_iter + 1):
        if history[-1][1] <= tol or (deadline is not None and time.perf_counter() > deadline):
            break
        grad = np.concatenate([_mttkrp(resid, factors, k).ravel() for k in range(len(factors))])
        system = _GaussNewtonSystem(factors, dense)
        if mu is None:
            mu = 1e-3 * system.diag_max
        accepted = False
        cg_rtol = min(1e-2, max(1e-12, history[-1][1]))
        for _ in range(30):
            try:
                step = -system.solve(grad, mu, cg_rtol)
            except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
                mu *= nu
                nu *= 2
                continue
            parts = np.split(step, np.cumsum(sizes)[:-1])
            trial = [f + s.reshape(shape) for f, s, shape in zip(factors, parts, shapes)]
            new_resid = cp_to_tensor(trial) - x
            new_f = 0.5 * float(np.sum(new_resid * new_resid))
            predicted = -float(grad @ step) - 0.5 * float(step @ system.matvec(step))
            rho = (f_val - new_f) / predicted if predicted > 0 else -1.0
            if rho > 0:
                factors, resid, f_val = _balance(trial), new_resid, new_f
                mu *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu = 2.0
                accepted = True
                break
            mu *= nu
            nu *= 2
        history.append((it, math.sqrt(2 * f_val), _norm_ratio(factors, 1.0)))
        if not accepted:
            break
        # stall: in the swamp the error hardly moves; stop unless it is still clearly decreasing
        if it >= stall_window and history[-1][1] > 1e3 * tol:
            if history[-1][1] > stall_factor * history[-1 - stall_window][1]:
                break
    return factors, np.array(history)


def border_rank_suspected(errors, norm_ratios, *, min_growth: float = 1.5,
                          max_slope: float = -0.3, min_ratio: float = 10.0,
                          tol: float = DEFAULT_FIT_TOL) -> bool:
    """Does a fit history look like a border-rank approximation (error -> 0, norms -> infinity)?

    Parameters
    ----------
    errors : sequence of float
        Relative errors along the iterations of one fit.
    norm_ratios : sequence of float
        ``kappa`` along the same iterations: the largest component norm
        ``prod_k ||a^{(k)}_t||`` over ``||X||``. For an exact, well-posed decomposition it stays
        ``O(1)``; near a border-rank point components diverge and cancel.
    min_growth : float
        ``kappa`` must have grown by at least this factor over the second half of the run.
    max_slope : float
        Over the second half, ``log(error)`` against ``log(kappa)`` must have a least-squares
        slope ``<= max_slope``. Along the rank-2 approximations of the W tensor the error falls
        like a power of ``1 / kappa`` (slope -1 for the textbook curve, about -2 along a
        Levenberg-Marquardt run); a positive plateau (a degenerate best approximation without
        error decay, e.g. a real ``2 x 2 x 2`` tensor of rank 3 fitted at rank 2) has slope ~0.
    min_ratio : float
        ``kappa`` must end above this (bounded components are never flagged).
    tol : float
        A run that reached ``tol`` with bounded ``kappa`` is an exact fit, never flagged.

    Returns
    -------
    bool

    Notes
    -----
    A rank flagged here is *not* reported as an upper bound on the CP rank (it may be the border
    rank, [6]_ Sec. 2.4, [7]_). The criterion is a heuristic read of the iteration history.
    """
    err = np.asarray(errors, dtype=float)
    kap = np.asarray(norm_ratios, dtype=float)
    if err.shape != kap.shape or err.ndim != 1:
        raise ValueError(f"errors and norm_ratios must be 1-D of equal length, got shapes "
                         f"{err.shape} and {kap.shape}")
    if err.size < 4:
        return False
    if kap[-1] < min_ratio:
        return False
    half = err.size // 2
    e2, k2 = err[half:], kap[half:]
    if k2[-1] < min_growth * k2[0] or e2[-1] >= e2[0]:
        return False
    lk, le = np.log(k2), np.log(np.maximum(e2, 1e-300))
    if np.ptp(lk) == 0:
        return False
    slope = np.polyfit(lk, le, 1)[0]
    return bool(slope <= max_slope)
