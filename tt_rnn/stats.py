"""Small-sample statistics for comparisons over random seeds: bootstrap intervals, a paired
sign-flip permutation test and Holm's correction for many comparisons.

Used by :mod:`tt_rnn.generalized_report` to say which shared-vs-distinct (and other) differences
over seeds are significant. Everything is seeded, so the tables are reproducible.

* :func:`bootstrap_ci` -- percentile bootstrap interval of a statistic (Efron and Tibshirani
  1993, Ch. 13) of one sample;
* :func:`paired_difference` -- the mean paired difference ``a - b`` with its percentile
  bootstrap interval (pairs resampled together) and the sign-flip permutation p-value;
* :func:`sign_flip_test` -- two-sided test of "the paired differences are symmetric about 0"
  (Fisher's randomisation test, e.g. Good 2005, Sec. 3.1): exact enumeration of the ``2^n``
  sign patterns for ``n <= EXACT_MAX``, else a Monte Carlo estimate ``(1 + #{|T*| >= |T|}) /
  (1 + n_perm)``, which is itself a valid p-value;
* :func:`holm` -- Holm's step-down adjustment (Holm 1979): reject ``H_i`` at level ``alpha``
  when its adjusted p-value is ``<= alpha``; controls the family-wise error rate.

References
----------
.. [1] B. Efron, R. Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall, 1993.
.. [2] P. Good, *Permutation, Parametric and Bootstrap Tests of Hypotheses*, 3rd ed., Springer, 2005.
.. [3] S. Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Stat. 6, 1979.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["EXACT_MAX", "bootstrap_ci", "sign_flip_test", "paired_difference", "holm"]

#: Up to this many pairs the sign-flip test enumerates all 2^n sign patterns.
EXACT_MAX = 16


def bootstrap_ci(values, *, statistic=np.mean, n_boot: int = 10_000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """``(estimate, low, high)``: the statistic of ``values`` and its percentile bootstrap interval."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"bootstrap_ci needs a 1-D sample of at least 2 values, got shape {x.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    stats = np.apply_along_axis(statistic, 1, x[idx]) if statistic is not np.mean else x[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return float(statistic(x)), float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def sign_flip_test(differences, *, n_perm: int = 100_000, seed: int = 0) -> float:
    """Two-sided p-value of the mean of paired differences under random sign flips."""
    x = np.asarray(differences, dtype=np.float64)
    if x.ndim != 1 or x.size < 1:
        raise ValueError(f"sign_flip_test needs a 1-D sample, got shape {x.shape}")
    observed = abs(x.mean())
    tol = 1e-12 * (1.0 + np.abs(x).max())  # ties with the observed value count as extreme
    if x.size <= EXACT_MAX:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=x.size)))
        means = np.abs(signs @ x) / x.size
        return float(np.mean(means >= observed - tol))
    rng = np.random.default_rng(seed)
    count, done = 0, 0
    while done < n_perm:
        batch = min(10_000, n_perm - done)
        signs = rng.choice((1.0, -1.0), size=(batch, x.size))
        count += int(np.sum(np.abs(signs @ x) / x.size >= observed - tol))
        done += batch
    return (1 + count) / (1 + n_perm)


def paired_difference(a, b, *, n_boot: int = 10_000, n_perm: int = 100_000, level: float = 0.95,
                      seed: int = 0) -> dict:
    """Mean of ``a - b`` over pairs, its bootstrap interval and the sign-flip p-value.

    Returns ``{"n", "mean_a", "mean_b", "diff", "low", "high", "p"}``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D samples of equal length, got shapes {a.shape} and {b.shape}")
    diff, low, high = bootstrap_ci(a - b, n_boot=n_boot, level=level, seed=seed)
    return dict(n=int(a.size), mean_a=float(a.mean()), mean_b=float(b.mean()), diff=diff, low=low, high=high,
                p=sign_flip_test(a - b, n_perm=n_perm, seed=seed))


def holm(pvalues) -> list[float]:
    """Holm-adjusted p-values, in the order given (each ``<= 1``, monotone in the raw ones)."""
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (p.size - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()
