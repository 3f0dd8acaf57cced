"""Shared test fixtures: synthetic data directories, and no network access from any test.

``fake_data_dir``: a session-wide data directory written by :func:`tt_rnn.fixtures.make_fake_data_dir`
(MNIST IDX files + the CIFAR-10 JPEG archive, 600 train / 200 test images each). Pass it as
``data_dir`` (or ``monkeypatch.setenv("TT_RNN_DATA", str(fake_data_dir))``); the loaders label it
``"... (synthetic test data)"``. Tests that need another CIFAR-10 format call
``make_fake_data_dir(tmp_path, cifar10="pickle" | "folder")`` themselves.

Every test runs with ``TT_RNN_OFFLINE=1`` (the loaders do not download; papermill kernels
started by a test inherit it) and with torchvision's downloader replaced by one that fails like an
offline machine (``URLError``), so a test can never start a real download; tests of the download
path unset the variable and patch torchvision again with their own fake.
"""

from __future__ import annotations

import urllib.error

import pytest

from tt_rnn.fixtures import make_fake_data_dir


def _offline_download_url(url, *args, **kwargs):
    raise urllib.error.URLError(f"network access is disabled in the tests (tests/conftest.py): {url}")


@pytest.fixture(autouse=True)
def _no_network_downloads(monkeypatch):
    import torchvision.datasets.utils as tv_utils
    monkeypatch.setattr(tv_utils, "download_url", _offline_download_url)
    monkeypatch.setenv("TT_RNN_OFFLINE", "1")  # also for notebook kernels started by a test


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory):
    """A synthetic data directory (MNIST raw IDX files + ``cifar10-jpeg.tar.gz``), made once."""
    return make_fake_data_dir(tmp_path_factory.mktemp("fake_data"), mnist=True, cifar10="tar")


# A fixed MNIST selection (the entries the first MNIST searches chose, and the equal-parameter
# ranks that match them), installed by the `selection` fixture as if committed: the tests of the
# final report, the equal-parameter runs and the baselines do not depend on how far the searches
# of this checkout have come.
FIXTURE_SELECTED = {
    "mnist/tt-shared": dict(lr=0.005439081055460673, weight_decay=0.0001, dropout=0.0, m=32, augment="shift",
                            init="random", constant_feature=False, features="mlp", hidden=256),
    "mnist/tt": dict(lr=0.0007358980360455339, weight_decay=0.002, dropout=0.2, m=64, augment="shift",
                     init="identity", constant_feature=True, init_noise=1.0, features="mlp", hidden=256),
    "mnist/ht": dict(lr=0.00912196873641691, weight_decay=0.002, dropout=0.0, m=64, augment="none",
                     init="identity", constant_feature=True, init_noise=0.5, features="mlp", hidden=256),
    "mnist/cp": dict(lr=0.00688098964857193, weight_decay=0.002, dropout=0.2, m=64, augment="none",
                     init="identity", constant_feature=True, init_noise=4.0, features="mlp", hidden=256),
}
FIXTURE_EQUAL_PARAMS = {"mnist": {78_000: {"tt-shared": 37, "tt": 7, "ht": 33, "cp": 47},
                                  145_000: {"tt-shared": 57, "tt": 11, "ht": 61, "cp": 112},
                                  300_000: {"tt-shared": 88, "tt": 17, "ht": 107, "cp": 262}}}


@pytest.fixture
def selection(monkeypatch):
    """Install :data:`FIXTURE_SELECTED` and :data:`FIXTURE_EQUAL_PARAMS` as the selection (and the
    experiments they define) for one test."""
    import copy

    from tt_rnn import experiments as E
    from tt_rnn import search as S

    monkeypatch.setattr(E, "SELECTED", copy.deepcopy(FIXTURE_SELECTED))
    monkeypatch.setattr(S, "SELECTED", E.SELECTED)
    monkeypatch.setattr(E, "EQUAL_PARAMS", copy.deepcopy(FIXTURE_EQUAL_PARAMS))
    monkeypatch.setattr(E, "EXPERIMENTS", dict(E.EXPERIMENTS))
    E.refresh_selected_runs()
    return E.SELECTED
