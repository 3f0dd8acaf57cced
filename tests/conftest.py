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
