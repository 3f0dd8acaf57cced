"""Intervals over seeds, paired tests over test images, early stopping on validation, and the
per-image test predictions they need."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tt_rnn.data import load_mnist
from tt_rnn.runfiles import read_results
from tt_rnn.stats import binomial_standard_error, mcnemar, paired_bootstrap, seed_interval
from tt_rnn.train import TrainConfig, train


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
    # resuming a stopped run trains nothing more
    again, _ = train(small(tmp_path, lr=0.5, schedule="constant", patience=1, save_predictions=True, resume=True),
                     data=mnist)
    assert len(again["history"]) == len(history) and read_results(tmp_path / "results.json")["status"] == "completed"


def test_patience_needs_a_validation_split(tmp_path):
    with pytest.raises(ValueError, match="patience = 3: early stopping reads the validation split"):
        small(tmp_path, val_size=0, patience=3).validate()
