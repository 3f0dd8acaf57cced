"""Statistics for comparisons: intervals over seeds, paired tests over seeds and over test images,
and corrections for many comparisons. Every ordering the documentation states ("A beats B")
comes with its seeds, an interval and, where it is close, a paired test; these compute them.

Over random seeds (small samples; used by :mod:`tt_rnn.generalized_report`):

* :func:`bootstrap_ci` -- percentile bootstrap interval of a statistic of one sample (Efron and
  Tibshirani 1993, Ch. 13);
* :func:`paired_difference` -- the mean paired difference ``a - b`` with its percentile bootstrap
  interval (pairs resampled together) and the sign-flip permutation p-value;
* :func:`sign_flip_test` -- two-sided test of "the paired differences are symmetric about 0"
  (Fisher's randomisation test, e.g. Good 2005, Sec. 3.1): exact enumeration of the ``2^n``
  sign patterns for ``n <= EXACT_MAX``, else a Monte Carlo estimate ``(1 + #{|T*| >= |T|}) /
  (1 + n_perm)``, which is itself a valid p-value;
* :func:`holm` -- Holm's step-down adjustment (Holm 1979): controls the family-wise error rate;
* :func:`seed_interval` -- mean, standard deviation and a Student-t 95 % interval over seeds.

Over the images of a test set (two classifiers, the same images):

* :func:`mcnemar` -- exact McNemar test (the discordant images are binomial with p = 1/2);
* :func:`paired_bootstrap` -- a 95 % interval and a two-sided p-value for the difference in
  accuracy, resampling test images (and seeds, when several are given), paired;
* :func:`binomial_standard_error` -- the test set's own resolution, ``sqrt(p (1 - p) / n)``.

References
----------
.. [1] B. Efron, R. Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall, 1993.
.. [2] P. Good, *Permutation, Parametric and Bootstrap Tests of Hypotheses*, 3rd ed., Springer, 2005.
.. [3] S. Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Stat. 6, 1979.
.. [4] Q. McNemar, "Note on the sampling error of the difference between correlated proportions or
       percentages", Psychometrika 12(2), 1947.
.. [5] T. G. Dietterich, "Approximate statistical tests for comparing supervised classification
       learning algorithms", Neural Computation 10(7), 1998.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as scipy_stats

__all__ = ["EXACT_MAX", "bootstrap_ci", "sign_flip_test", "paired_difference", "holm", "SeedInterval",
           "PairedComparison", "seed_interval", "mcnemar", "paired_bootstrap", "binomial_standard_error"]

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


@dataclass
class SeedInterval:
    """Mean over seeds with its standard deviation and a 95 % Student-t interval."""

    mean: float
    std: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PairedComparison:
    """Accuracy difference ``a - b`` on the same test images, its 95 % interval and p-values."""

    difference: float
    low: float
    high: float
    p_bootstrap: float
    p_mcnemar: float | None   # one seed each: the exact McNemar test
    n_images: int
    n_seeds: int

    @property
    def significant(self) -> bool:
        """Whether the 95 % interval excludes 0."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def _correct(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name}: expected per-image correctness of shape (n_images,) or (n_seeds, n_images), "
                         f"got shape {np.shape(values)}")
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name}: expected 0/1 (or bool) per image, got values {np.unique(array)[:5]}")
    return array.astype(bool)


def seed_interval(values, confidence: float = 0.95) -> SeedInterval:
    """Mean, sample standard deviation and Student-t interval of per-seed values (one value: no interval)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) == 0 or not np.isfinite(x).all():
        raise ValueError(f"expected a non-empty 1-d list of finite per-seed values, got {values!r}")
    mean = float(x.mean())
    if len(x) == 1:
        return SeedInterval(mean, 0.0, math.nan, math.nan, 1)
    std = float(x.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, len(x) - 1)) * std / math.sqrt(len(x))
    return SeedInterval(mean, std, mean - half, mean + half, len(x))


def mcnemar(correct_a, correct_b) -> float:
    """Two-sided exact McNemar p-value for two classifiers on the same images (0/1 per image)."""
    a, b = _correct(correct_a, "correct_a")[0], _correct(correct_b, "correct_b")[0]
    if a.shape != b.shape:
        raise ValueError(f"correct_a has {a.shape[0]} images and correct_b {b.shape[0]}: they must be the same images")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def paired_bootstrap(correct_a, correct_b, *, n_resamples: int = 10_000, seed: int = 0,
                     confidence: float = 0.95) -> PairedComparison:
    """Difference in accuracy of ``a`` and ``b`` with a paired bootstrap over test images.

    ``correct_a`` and ``correct_b``: 0/1 per image, shape ``(n_images,)`` or ``(n_seeds, n_images)``
    (seed ``k`` of ``a`` is paired with seed ``k`` of ``b``). Each resample draws images with
    replacement (the same images for both models) and, with several seeds, seeds with replacement;
    the statistic is the difference of mean accuracies. The p-value is the two-sided bootstrap
    p-value of a zero difference (twice the smaller tail of the recentred distribution)."""
    a, b = _correct(correct_a, "correct_a"), _correct(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(f"correct_a has shape {a.shape} and correct_b {b.shape}: pair the same seeds and images")
    if n_resamples < 100:
        raise ValueError(f"n_resamples = {n_resamples}: use at least 100")
    n_seeds, n_images = a.shape
    rng = np.random.default_rng(seed)
    per_image = a.astype(float) - b.astype(float)               # (seeds, images)
    observed = float(per_image.mean())
    stats = np.empty(n_resamples)
    for k in range(n_resamples):
        images = rng.integers(0, n_images, n_images)
        seeds = rng.integers(0, n_seeds, n_seeds) if n_seeds > 1 else np.zeros(1, dtype=int)
        stats[k] = per_image[np.ix_(seeds, images)].mean()
    alpha = 1 - confidence
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    centred = stats - observed
    p = float(min(1.0, 2 * min((centred >= abs(observed)).mean(), (centred <= -abs(observed)).mean())))
    p = max(p, 1.0 / n_resamples) if observed != 0 else 1.0
    p_mcnemar = mcnemar(a[0], b[0]) if n_seeds == 1 else None
    return PairedComparison(observed, float(low), float(high), p, p_mcnemar, n_images, n_seeds)


def binomial_standard_error(accuracy: float, n: int) -> float:
    """The standard error ``sqrt(p (1 - p) / n)`` of an accuracy measured on ``n`` images."""
    if not 0 <= accuracy <= 1 or n < 1:
        raise ValueError(f"accuracy = {accuracy!r} must be in [0, 1] and n = {n!r} >= 1")
    return math.sqrt(accuracy * (1 - accuracy) / n)
