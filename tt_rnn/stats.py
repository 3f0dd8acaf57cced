"""Statistics for comparing trained models: intervals over seeds and paired tests over test images.

Every ordering the documentation states ("A beats B") comes with the seeds, an interval and,
where it is close, a paired test; these are the functions that compute them.

* :func:`seed_interval` — mean, standard deviation and a Student-t 95 % interval over seeds;
* :func:`mcnemar` — exact McNemar test of two classifiers on the same test images (the
  discordant pairs are binomial with p = 1/2 under the null);
* :func:`paired_bootstrap` — a 95 % interval and a two-sided p-value for the difference in
  accuracy of two models, resampling test images (and seeds, when several are given), paired;
* :func:`binomial_standard_error` — the test set's own resolution, ``sqrt(p (1 - p) / n)``.

References
----------
Q. McNemar, "Note on the sampling error of the difference between correlated proportions or
percentages", Psychometrika 12(2), 1947. T. G. Dietterich, "Approximate statistical tests for
comparing supervised classification learning algorithms", Neural Computation 10(7), 1998.
B. Efron, R. Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall, 1993.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as scipy_stats

__all__ = ["SeedInterval", "PairedComparison", "seed_interval", "mcnemar", "paired_bootstrap",
           "binomial_standard_error"]


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
