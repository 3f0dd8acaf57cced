"""Statistics on synthetic data with known answers: intervals and tests over seeds (bootstrap,
sign-flip, Holm, Student t) and over test images (McNemar, paired bootstrap); early stopping on
validation and the per-image test predictions the paired tests need."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tt_rnn.data import load_mnist
from tt_rnn.runfiles import read_results
from tt_rnn.stats import (EXACT_MAX, binomial_standard_error, bootstrap_ci, holm, mcnemar, paired_bootstrap,
                          paired_difference, seed_interval, sign_flip_test)
from tt_rnn.train import TrainConfig, train


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


def test_seed_interval_is_the_student_t_interval():
    r = seed_interval([0.70, 0.72, 0.74])
    assert r.mean == pytest.approx(0.72) and r.std == pytest.approx(0.02)
    half = scipy_stats.t.ppf(0.975, 2) * 0.02 / math.sqrt(3)
    assert (r.low, r.high) == pytest.approx((0.72 - half, 0.72 + half))
    assert math.isnan(seed_interval([0.5]).low)
    with pytest.raises(ValueError, match="non-empty 1-d list"):
        seed_interval([])


def test_mcnemar_counts_only_discordant_images():
    a = np.array([1] * 60 + [0] * 40)
    b = np.array([1] * 50 + [0] * 50)            # a right on 10 images b gets wrong, never the reverse
    assert mcnemar(a, b) == pytest.approx(2 * 0.5 ** 10)
    assert mcnemar(a, a) == 1.0
    with pytest.raises(ValueError, match="same images"):
        mcnemar(a, b[:10])
    with pytest.raises(ValueError, match="0/1"):
        mcnemar(a * 2, b)


def test_paired_bootstrap_separates_a_real_gap_from_noise():
    rng = np.random.default_rng(0)
    truth = rng.random((3, 2000))
    a, b = truth < 0.80, truth < 0.75            # a is right wherever b is, and on 5 % more
    gap = paired_bootstrap(a, b, n_resamples=500)
    assert gap.significant and gap.low > 0 and gap.difference == pytest.approx(a.mean() - b.mean())
    same = paired_bootstrap(rng.random((3, 2000)) < 0.8, rng.random((3, 2000)) < 0.8, n_resamples=500)
    assert same.low < 0 < same.high and not same.significant and same.p_bootstrap > 0.05
    one_seed = paired_bootstrap(a[0], b[0], n_resamples=500)
    assert one_seed.p_mcnemar is not None and one_seed.p_mcnemar < 1e-6


def test_binomial_standard_error():
    assert binomial_standard_error(0.993, 10_000) == pytest.approx(0.000834, rel=1e-3)


@pytest.fixture(scope="module")
def mnist(fake_data_dir):
    return load_mnist(fake_data_dir, download=False)


def small(tmp_path, **kw) -> TrainConfig:
    base = dict(dataset="mnist", model="cp", rank=4, m=8, features="linear", epochs=6, batch_size=64, lr=3e-3,
                train_subset=400, test_subset=100, val_size=100, device="cpu", num_threads=1, progress=False,
                checkpoint_dir=str(tmp_path / "ckpt"), results_path=str(tmp_path / "results.json"))
    base.update(kw)
    return TrainConfig(**base)


def test_early_stopping_reports_the_epoch_validation_chose(mnist, tmp_path):
    results, model = train(small(tmp_path, lr=0.5, schedule="constant", patience=1, save_predictions=True),
                           data=mnist)  # a learning rate this large stops improving fast
    history = results["history"]
    best = max(history, key=lambda h: h["val_acc"])["epoch"]
    assert results["best_epoch"] == best and results["chosen"]["epoch"] == best
    assert results["stopped_early"] == (len(history) < 6) and len(history) - best <= 1
    predictions = results["test_predictions"]
    assert predictions["epoch"] == best and len(predictions["predicted"]) == 100
    accuracy = np.mean(np.array(predictions["predicted"]) == mnist.subset(None, 100, seed=0).test_labels.numpy())
    assert predictions["acc"] == pytest.approx(accuracy) == pytest.approx(results["chosen"]["test_acc"])
    assert predictions["labels"] == mnist.subset(None, 100, seed=0).test_labels.tolist()
    # resuming a stopped run trains nothing more
    again, _ = train(small(tmp_path, lr=0.5, schedule="constant", patience=1, save_predictions=True, resume=True),
                     data=mnist)
    assert len(again["history"]) == len(history) and read_results(tmp_path / "results.json")["status"] == "completed"


def test_patience_needs_a_validation_split(tmp_path):
    with pytest.raises(ValueError, match="patience = 3: early stopping reads the validation split"):
        small(tmp_path, val_size=0, patience=3).validate()
