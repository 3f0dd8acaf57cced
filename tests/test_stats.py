"""Tests of tt_rnn.stats on synthetic data with known answers."""

import numpy as np
import pytest

from tt_rnn.stats import EXACT_MAX, bootstrap_ci, holm, paired_difference, sign_flip_test


def test_exact_sign_flip_p_value_by_hand():
    # differences 1, 2, 3: of the 8 sign patterns only +++ and --- reach |mean| = 2
    assert sign_flip_test([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    # 1, 1, 1, 1: only ++++ and ---- reach |mean| = 1
    assert sign_flip_test([1.0] * 4) == pytest.approx(2 / 16)


def test_no_difference_gives_p_one():
    a = np.arange(30.0)
    assert sign_flip_test(a - a) == 1.0
    out = paired_difference(a, a)
    assert out["diff"] == 0 and out["low"] == 0 and out["high"] == 0 and out["p"] == 1.0


def test_a_clear_shift_is_detected_and_its_size_recovered():
    rng = np.random.default_rng(1)
    b = rng.normal(size=40)
    a = b + 1.0 + 0.3 * rng.normal(size=40)
    out = paired_difference(a, b, n_perm=20_000)
    assert out["p"] < 1e-3
    assert out["low"] > 0 and out["low"] < 1.0 < out["high"]


def test_monte_carlo_and_exact_agree_under_the_null():
    rng = np.random.default_rng(2)
    x = rng.normal(size=EXACT_MAX)
    exact = sign_flip_test(x)  # enumerated
    # one zero difference more: the same p-value (it scales every pattern's mean alike), but
    # above EXACT_MAX, so estimated by Monte Carlo
    y = np.concatenate([x, [0.0]])
    assert abs(sign_flip_test(y, n_perm=50_000) - exact) < 0.02


def test_null_p_values_are_roughly_uniform():
    rng = np.random.default_rng(3)
    ps = [sign_flip_test(rng.normal(size=20), n_perm=2_000, seed=k) for k in range(200)]
    assert 0.02 <= np.mean(np.array(ps) < 0.05) <= 0.10
    assert 0.4 <= np.mean(ps) <= 0.6


def test_bootstrap_interval_covers_the_mean_about_95_percent():
    rng = np.random.default_rng(4)
    hits = 0
    for k in range(200):
        x = rng.normal(loc=3.0, size=40)
        _, lo, hi = bootstrap_ci(x, n_boot=2_000, seed=k)
        hits += lo <= 3.0 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_bootstrap_of_another_statistic():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    est, lo, hi = bootstrap_ci(x, statistic=np.median, n_boot=2_000)
    assert est == 3.0 and 1.0 <= lo <= est <= hi <= 100.0


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.2, 0.9]) == pytest.approx([0.4, 0.9])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # monotone: never below a smaller raw p's


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        bootstrap_ci([1.0])
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])
