"""Data loaders on synthetic files in the real formats (tt_rnn.fixtures): MNIST IDX (md5-checked),
CIFAR-10 pickles / ImageFolder / archive, downloads (faked, no network), errors, CLI, augmentation.

Tests that can also use the real data run on them too when ``$TT_RNN_DATA`` (or ``./data``) holds
them; no test needs them, and none is skipped without them.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import tt_rnn.data as data_mod
from tt_rnn.batches import augment_batch, minibatch_indices, normalize, random_crop_flip, random_shift
from tt_rnn.data import (CIFAR10_CLASSES, CIFAR10_FILES, MNIST_FILES, SYNTHETIC_MANIFEST, DataError,
                         download_command, load_cifar10, load_dataset, load_image_folder, load_mnist, main,
                         resolve_cache_dir, resolve_data_dir)
from tt_rnn.fixtures import fake_cifar10_arrays, fake_mnist_arrays, make_fake_data_dir

REAL_MNIST = resolve_data_dir(None) / "MNIST" / "raw"
HAVE_REAL_MNIST = all((REAL_MNIST / name).is_file() for name in MNIST_FILES)
MNIST_SOURCES = ["synthetic"] + (["real"] if HAVE_REAL_MNIST else [])


def _rewrite(root: Path, rel: str, data: bytes, update_manifest: bool):
    """Replace ``root/rel``; optionally record its new md5 in the synthetic manifest."""
    (root / rel).write_bytes(data)
    if update_manifest:
        manifest = json.loads((root / SYNTHETIC_MANIFEST).read_text())
        manifest["md5"][rel] = hashlib.md5(data).hexdigest()
        (root / SYNTHETIC_MANIFEST).write_text(json.dumps(manifest))


def _flip_byte(path: Path, offset: int = 100) -> bytes:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    return bytes(data)


# ----------------------------------------------------------------------------- fixtures' formats

def test_fake_files_are_read_by_torchvision_itself(tmp_path, monkeypatch):
    """The synthetic files are in the real formats: torchvision's own readers return our arrays."""
    import torchvision
    import torchvision.datasets.cifar as tv_cifar
    root = make_fake_data_dir(tmp_path, cifar10="pickle", n_train=50, n_test=20)
    mnist = fake_mnist_arrays(50, 20)
    tv = torchvision.datasets.MNIST(str(root), train=True)
    assert np.array_equal(tv.data.numpy(), mnist["train_images"])
    assert np.array_equal(tv.targets.numpy(), mnist["train_labels"])
    # torchvision's CIFAR10 checks its md5 sums, which fake files cannot match: bypass that here
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    cifar = fake_cifar10_arrays(50, 20)
    te = torchvision.datasets.CIFAR10(str(root), train=False)
    assert te.classes == list(CIFAR10_CLASSES)
    assert np.array_equal(te.data, cifar["test_images"]) and te.targets == cifar["test_labels"].tolist()
    ours = load_cifar10(root, download=False)
    tr = torchvision.datasets.CIFAR10(str(root), train=True)
    assert np.array_equal(ours.train_images.permute(0, 2, 3, 1).numpy(), tr.data)
    assert ours.train_labels.tolist() == tr.targets


def test_fixture_is_deterministic_balanced_and_safe(tmp_path):
    a = make_fake_data_dir(tmp_path / "a", cifar10="pickle", seed=3)
    b = make_fake_data_dir(tmp_path / "b", cifar10="pickle", seed=3)
    c = make_fake_data_dir(tmp_path / "c", cifar10="pickle", seed=4)
    md5 = lambda root: json.loads((root / SYNTHETIC_MANIFEST).read_text())["md5"]
    assert md5(a) == md5(b) and md5(a) != md5(c)
    assert set(md5(a)) == {f"MNIST/raw/{n}" for n in MNIST_FILES} | \
        {f"cifar-10-batches-py/{n}" for n in CIFAR10_FILES}
    data = load_mnist(a, download=False)
    assert torch.bincount(data.train_labels).tolist() == [60] * 10
    assert torch.bincount(data.test_labels).tolist() == [20] * 10
    with pytest.raises(ValueError, match="cifar10='zip'"):
        make_fake_data_dir(tmp_path / "d", cifar10="zip")
    with pytest.raises(ValueError, match="at least 10"):
        make_fake_data_dir(tmp_path / "e", n_test=5)
    # never overwrites files it did not write (a real data directory)
    real = tmp_path / "real" / "MNIST" / "raw"
    real.mkdir(parents=True)
    (real / "train-images-idx3-ubyte").write_bytes(b"real data")
    with pytest.raises(FileExistsError, match="not written by this generator"):
        make_fake_data_dir(tmp_path / "real")
    assert (real / "train-images-idx3-ubyte").read_bytes() == b"real data"


def test_fake_data_are_learnable(fake_data_dir, tmp_path):
    """Two short epochs of a small TT network on the synthetic MNIST beat chance (10 %) clearly."""
    from tt_rnn.train import TrainConfig, train
    cfg = TrainConfig(dataset="mnist", data_dir=str(fake_data_dir), model="tt", rank=8, m=8,
                      features="linear", epochs=2, batch_size=32, lr=3e-3, seed=0, device="cpu",
                      num_threads=1, progress=False, checkpoint_dir=str(tmp_path / "ckpt"),
                      results_path=str(tmp_path / "results.json"))
    train(cfg)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["history"][-1]["test_acc"] >= 0.4, saved["history"]
    assert saved["dataset_label"] == "MNIST (synthetic test data)"


# ----------------------------------------------------------------------------- MNIST

@pytest.mark.parametrize("source", MNIST_SOURCES)
def test_mnist_loads(source, fake_data_dir):
    root = fake_data_dir if source == "synthetic" else REAL_MNIST.parent.parent
    data = load_mnist(root, download=False)
    n_train, n_test = (600, 200) if source == "synthetic" else (60000, 10000)
    assert data.train_images.shape == (n_train, 1, 28, 28) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (n_test, 1, 28, 28) and data.test_labels.dtype == torch.int64
    assert data.num_classes == 10 and set(data.train_labels.tolist()) == set(range(10))
    if source == "real":
        assert data.label == "MNIST" and data.exact and "synthetic" not in data.extra
        assert data.train_labels.tolist()[:5] == [5, 0, 4, 1, 9]
        assert abs(float(data.train_images.float().mean()) / 255 - 0.1307) < 1e-3
    else:
        assert data.label == "MNIST (synthetic test data)" and not data.exact
        assert data.extra["synthetic"] is True and data.metadata()["synthetic"] is True
        assert np.array_equal(data.train_images[:, 0].numpy(), fake_mnist_arrays()["train_images"])
    # the MNIST folder and the raw folder are accepted as the data directory too
    for folder in (root / "MNIST", root / "MNIST" / "raw"):
        assert torch.equal(load_mnist(folder, download=False).test_labels, data.test_labels)


def test_mnist_missing_file_message(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\x00" * 16)
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path, download=False)
    msg = str(info.value)
    assert str(raw) in msg and "missing" in msg
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in msg
    assert info.value.command == download_command("mnist", tmp_path) and info.value.command in msg


@pytest.mark.parametrize("source", MNIST_SOURCES)
def test_mnist_corrupt_file_fails_md5(source, tmp_path):
    """A damaged file fails loudly: real data against the official md5, synthetic data against
    the manifest, and synthetic data without the manifest against the official md5."""
    if source == "real":
        raw = tmp_path / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in MNIST_FILES:
            shutil.copy(REAL_MNIST / name, raw / name)
    else:
        raw = make_fake_data_dir(tmp_path, cifar10=None) / "MNIST" / "raw"
    (raw / "train-labels-idx1-ubyte").write_bytes(_flip_byte(raw / "train-labels-idx1-ubyte"))
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path, download=False)
    msg = str(info.value)
    assert str(raw) in msg and "corrupt" in msg and "md5" in msg
    assert f"train-labels-idx1-ubyte={MNIST_FILES['train-labels-idx1-ubyte']}" in msg
    assert "t10k-images-idx3-ubyte=" not in msg and info.value.command in msg
    assert ("synthetic test data changed" in msg) == (source == "synthetic")


def test_mnist_synthetic_files_need_their_manifest(tmp_path):
    root = make_fake_data_dir(tmp_path, cifar10=None)
    assert load_mnist(root, download=False).label == "MNIST (synthetic test data)"
    manifest = json.loads((root / SYNTHETIC_MANIFEST).read_text())
    # a manifest that does not list a file does not excuse it
    del manifest["md5"]["MNIST/raw/t10k-images-idx3-ubyte"]
    (root / SYNTHETIC_MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"corrupt .*t10k-images-idx3-ubyte") as info:
        load_mnist(root, download=False)
    assert "train-images-idx3-ubyte=" not in str(info.value)
    # a manifest from elsewhere is refused
    (root / SYNTHETIC_MANIFEST).write_text(json.dumps({"generator": "someone else", "md5": {}}))
    with pytest.raises(DataError, match="not a synthetic-data manifest"):
        load_mnist(root, download=False)
    # without any manifest, all four synthetic files fail the official check
    (root / SYNTHETIC_MANIFEST).unlink()
    with pytest.raises(DataError) as info:
        load_mnist(root, download=False)
    assert all(f"{name}={md5}" in str(info.value) for name, md5 in MNIST_FILES.items())


def test_mnist_truncated_or_malformed_idx(tmp_path):
    root = make_fake_data_dir(tmp_path, cifar10=None)
    rel = "MNIST/raw/t10k-images-idx3-ubyte"
    good = (root / rel).read_bytes()
    _rewrite(root, rel, good[:-28], update_manifest=True)  # md5 recorded: the reader must notice
    with pytest.raises(DataError, match=r"truncated .*\[200, 28, 28\]"):
        load_mnist(root, download=False)
    _rewrite(root, rel, b"\x00\x00\x0d\x03" + good[4:], update_manifest=True)  # float data
    with pytest.raises(DataError, match="not an unsigned-byte IDX file"):
        load_mnist(root, download=False)
    _rewrite(root, "MNIST/raw/t10k-labels-idx1-ubyte", b"\x00\x00\x08\x01" + (199).to_bytes(4, "big")
             + bytes(199), update_manifest=True)  # 199 labels for 200 images
    _rewrite(root, rel, good, update_manifest=True)
    with pytest.raises(DataError, match=r"do not form an MNIST split"):
        load_mnist(root, download=False)


# ----------------------------------------------------------------------------- CIFAR-10

def test_cifar_pickles_load(tmp_path):
    root = make_fake_data_dir(tmp_path, mnist=False, cifar10="pickle", n_train=120, n_test=30)
    data = load_cifar10(root, download=False)
    arrays = fake_cifar10_arrays(120, 30)
    assert data.label == "CIFAR-10 (synthetic test data)" and not data.exact
    assert data.train_images.shape == (120, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert np.array_equal(data.train_images.permute(0, 2, 3, 1).numpy(), arrays["train_images"])
    assert data.test_labels.tolist() == arrays["test_labels"].tolist()
    assert data.source.endswith("cifar-10-batches-py")


def test_cifar_pickles_corrupt_or_missing(tmp_path):
    root = make_fake_data_dir(tmp_path, mnist=False, cifar10="pickle", n_train=50, n_test=20)
    rel = "cifar-10-batches-py/data_batch_3"
    good = (root / rel).read_bytes()
    _rewrite(root, rel, _flip_byte(root / rel), update_manifest=False)
    with pytest.raises(DataError, match=rf"corrupt .*md5.*data_batch_3={CIFAR10_FILES['data_batch_3']}"):
        load_cifar10(root, download=False)
    _rewrite(root, rel, good[: len(good) // 2], update_manifest=True)  # passes md5, bad pickle
    with pytest.raises(DataError, match="data_batch_3: unreadable CIFAR-10 pickle"):
        load_cifar10(root, download=False)
    _rewrite(root, rel, pickle.dumps([1, 2, 3]), update_manifest=True)
    with pytest.raises(DataError, match="data_batch_3: a CIFAR-10 pickle holds a dict, this one a list"):
        load_cifar10(root, download=False)
    _rewrite(root, rel, good, update_manifest=True)
    assert load_cifar10(root, download=False).label == "CIFAR-10 (synthetic test data)"
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DataError) as info:
        load_cifar10(root, download=False)  # an incomplete exact set is an error, not skipped
    assert "missing" in str(info.value) and "test_batch" in str(info.value)
    assert info.value.command == download_command("cifar10", root)


def _png_bytes(color, size=8, fmt="PNG") -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (size, size), tuple(color)).save(buf, format=fmt)
    return buf.getvalue()


SYNTH = {"truck": (200, 10, 10), "airplane": (10, 200, 10), "cat": (10, 10, 200)}


def _make_folder(root: Path, fmt="PNG", classes=SYNTH):
    for split, n in (("train", 2), ("test", 1)):
        for cls, color in classes.items():
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i:04d}.{fmt.lower()}").write_bytes(_png_bytes(color, fmt=fmt))


def test_image_folder_class_order(tmp_path):
    _make_folder(tmp_path)
    data = load_image_folder(tmp_path)
    assert data.classes == CIFAR10_CLASSES
    # torchvision's CIFAR-10 indices: airplane 0, cat 3, truck 9; sorted by class then file
    assert data.train_labels.tolist() == [0, 0, 3, 3, 9, 9]
    assert data.test_labels.tolist() == [0, 3, 9]
    assert data.train_images.shape == (6, 3, 8, 8) and data.train_images.dtype == torch.uint8
    assert data.train_images[0, :, 0, 0].tolist() == [10, 200, 10]   # airplane colour
    assert data.train_images[-1, :, 0, 0].tolist() == [200, 10, 10]  # truck colour
    assert data.label == "CIFAR-10 (JPEG copy)" and not data.exact
    # load_cifar10 finds the same tree as a data directory (no manifest: not synthetic)
    found = load_cifar10(tmp_path, download=False)
    assert found.train_labels.tolist() == [0, 0, 3, 3, 9, 9] and "synthetic" not in found.extra


def test_cifar_folder_and_archive_agree_and_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("TT_RNN_CACHE", raising=False)
    folder = make_fake_data_dir(tmp_path / "f", mnist=False, cifar10="folder", n_train=60, n_test=20)
    tar = make_fake_data_dir(tmp_path / "t", mnist=False, cifar10="tar", n_train=60, n_test=20)
    a = load_cifar10(folder, download=False)
    b = load_cifar10(tar, download=False)
    assert a.label == b.label == "CIFAR-10 (JPEG copy) (synthetic test data)"
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.test_labels, b.test_labels)
    assert torch.bincount(b.train_labels).tolist() == [6] * 10
    # JPEG is lossy but close to the generated pixels (the tree is sorted by class, then file)
    arrays = fake_cifar10_arrays(60, 20)
    order = np.argsort(arrays["train_labels"], kind="stable")
    exact = torch.from_numpy(arrays["train_images"][order]).permute(0, 3, 1, 2)
    err = (b.train_images.float() - exact.float()).abs().mean()
    wrong = (b.train_images.float() - exact.flip(0).float()).abs().mean()  # mismatched images
    assert err < 12 and err < wrong / 2, (err, wrong)
    # decoded once into the cache (by default next to the writable data directory), then read
    assert (tar / "cache" / "cifar10-jpeg.pt").is_file() and b.extra["cache"] == str(tar / "cache" / "cifar10-jpeg.pt")
    monkeypatch.setattr(data_mod, "_decode_tar", lambda *args: pytest.fail("cache not used"))
    again = load_cifar10(tar, download=False)
    assert torch.equal(again.train_images, b.train_images)
    # another archive in the same cache folder is decoded afresh (the cache is keyed by md5)
    other = make_fake_data_dir(tmp_path / "o", mnist=False, cifar10="tar", n_train=30, n_test=10, seed=1)
    with pytest.raises(pytest.fail.Exception, match="cache not used"):
        load_cifar10(other, download=False, cache_dir=tar / "cache")


def test_archive_with_wrong_class_folder_or_damage(tmp_path):
    tree = tmp_path / "tree"
    _make_folder(tree, fmt="JPEG", classes={"airplane": (1, 2, 3), "spaceship": (9, 9, 9)})
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with tarfile.open(data_dir / "cifar10-jpeg.tar.gz", "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(tree / split, arcname=split)
    with pytest.raises(DataError, match=r"unexpected class folders \['spaceship'\]"):
        load_cifar10(data_dir, download=False, cache_dir=tmp_path / "cache")
    # a synthetic archive changed after it was written fails its manifest md5
    root = make_fake_data_dir(tmp_path / "fake", mnist=False, cifar10="tar", n_train=20, n_test=10)
    (root / "cifar10-jpeg.tar.gz").write_bytes(_flip_byte(root / "cifar10-jpeg.tar.gz", 5000))
    with pytest.raises(DataError, match="synthetic test data damaged"):
        load_cifar10(root, download=False, cache_dir=tmp_path / "cache2")
    # a truncated archive (no manifest entry) is reported as unreadable
    (root / SYNTHETIC_MANIFEST).unlink()
    (root / "cifar10-jpeg.tar.gz").write_bytes((root / "cifar10-jpeg.tar.gz").read_bytes()[:3000])
    with pytest.raises(DataError, match="unreadable archive") as info:
        load_cifar10(root, download=False, cache_dir=tmp_path / "cache2")
    assert info.value.command == download_command("cifar10", root)


def test_cifar_missing_message(tmp_path):
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path, cache_dir=tmp_path / "cache", download=False)
    msg = str(info.value)
    assert str(tmp_path) in msg and "cifar-10-batches-py" in msg and "cifar10-jpeg.tar.gz" in msg
    assert "data_batch_1" in msg and info.value.command in msg
    assert info.value.command == f"python -m tt_rnn.data download cifar10 --data-dir {tmp_path}"


# ----------------------------------------------------------------------------- downloads (faked)

@pytest.fixture
def online(monkeypatch):
    """Downloads switched on again (tests/conftest.py sets TT_RNN_OFFLINE=1); torchvision's
    downloader still fails like an offline machine unless a test fakes it."""
    monkeypatch.delenv("TT_RNN_OFFLINE")


def test_missing_mnist_is_downloaded_by_torchvision(tmp_path, monkeypatch, online):
    """load_mnist's default downloads through torchvision's MNIST (every resource, with its md5)."""
    import torchvision.datasets.mnist as tv_mnist
    source = make_fake_data_dir(tmp_path / "source", cifar10=None)
    calls = []

    def fake_download(url, download_root, filename=None, md5=None, **kwargs):
        calls.append((url, filename, md5))
        name = filename[:-3]  # the .gz torchvision would extract
        shutil.copy(source / "MNIST" / "raw" / name, Path(download_root) / name)

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", fake_download)
    target = tmp_path / "data"  # a synthetic data directory whose files arrive by "download"
    target.mkdir()
    shutil.copy(source / SYNTHETIC_MANIFEST, target / SYNTHETIC_MANIFEST)
    data = load_mnist(target)
    assert sorted(f for _, f, _ in calls) == sorted(f"{n}.gz" for n in MNIST_FILES)
    assert {md5 for _, _, md5 in calls} == {md5 for _, md5 in tv_mnist.MNIST.resources}
    assert all(url.startswith(tv_mnist.MNIST.mirrors[0]) for url, _, _ in calls)
    assert data.label == "MNIST (synthetic test data)" and len(data.train_labels) == 600
    calls.clear()
    load_mnist(target)  # present now: no second download
    assert calls == []


def test_failed_mnist_download_names_dir_files_and_command(tmp_path, online):
    with pytest.raises(DataError) as info:  # tests are offline (conftest): the download fails
        load_mnist(tmp_path / "empty")
    msg = str(info.value)
    assert "download" in msg and "failed" in msg and "network access is disabled" in msg and "\n" not in msg
    assert str(tmp_path / "empty" / "MNIST" / "raw") in msg
    assert all(name in msg for name in MNIST_FILES)
    assert info.value.command == download_command("mnist", tmp_path / "empty") and info.value.command in msg


def test_missing_cifar_is_downloaded_by_torchvision(tmp_path, monkeypatch, online):
    import torchvision.datasets.cifar as tv_cifar
    calls = []

    def fake_download(url, download_root, filename=None, md5=None, **kwargs):
        calls.append((url, filename, md5))
        make_fake_data_dir(download_root, mnist=False, cifar10="pickle", n_train=50, n_test=20)

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", fake_download)
    # torchvision's own md5 check cannot pass on fake pickles: accept files that exist
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: Path(fpath).is_file())
    data = load_cifar10(tmp_path)
    assert calls == [(tv_cifar.CIFAR10.url, tv_cifar.CIFAR10.filename, tv_cifar.CIFAR10.tgz_md5)]
    assert data.label == "CIFAR-10 (synthetic test data)" and len(data.train_labels) == 50
    assert "download_error" not in data.extra


def test_failed_cifar_download_falls_back_to_jpeg_or_errors(tmp_path, fake_data_dir, online):
    data = load_cifar10(fake_data_dir, cache_dir=tmp_path / "cache")  # download=True, offline
    assert data.label == "CIFAR-10 (JPEG copy) (synthetic test data)"
    assert "URLError" in data.extra["download_error"]
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path / "empty", cache_dir=tmp_path / "cache")
    msg = str(info.value)
    assert "download failed" in msg and "URLError" in msg and info.value.command in msg


def test_offline_switch(tmp_path, fake_data_dir, monkeypatch, capsys):
    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.mnist as tv_mnist
    never = lambda *args, **kwargs: pytest.fail("download attempted although TT_RNN_OFFLINE=1")
    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", never)
    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", never)
    monkeypatch.setenv("TT_RNN_OFFLINE", "1")
    assert data_mod.offline()
    with pytest.raises(DataError, match="MNIST raw files missing") as info:
        load_mnist(tmp_path)  # download=True by default, but offline: as download=False
    assert info.value.command == download_command("mnist", tmp_path)
    data = load_cifar10(fake_data_dir, cache_dir=tmp_path / "cache")  # falls back, no download tried
    assert data.label.startswith("CIFAR-10 (JPEG copy)") and "download_error" not in data.extra
    with pytest.raises(DataError, match=r"downloads are switched off \(TT_RNN_OFFLINE=1\)"):
        data_mod.download_dataset("cifar10", tmp_path)
    assert "decoding cifar10-jpeg.tar.gz once" in capsys.readouterr().err  # the first load says so
    assert main(["download", "mnist", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "switched off" in err and err.count("\n") == 1 and download_command("mnist", tmp_path) in err
    for value in ("0", "", "no"):
        monkeypatch.setenv("TT_RNN_OFFLINE", value)
        assert not data_mod.offline()


def test_md5_tables_match_torchvision():
    from torchvision.datasets import CIFAR10, MNIST
    assert CIFAR10_FILES == {**dict(CIFAR10.train_list + CIFAR10.test_list),
                             CIFAR10.meta["filename"]: CIFAR10.meta["md5"]}
    assert sorted(f"{n}.gz" for n in MNIST_FILES) == sorted(f for f, _ in MNIST.resources)


def test_load_dataset_downloads_by_default(monkeypatch):
    seen = {}
    monkeypatch.setattr(data_mod, "load_mnist", lambda d, download: seen.setdefault("mnist", download))
    monkeypatch.setattr(data_mod, "load_cifar10", lambda d, c, download: seen.setdefault("cifar10", download))
    load_dataset("MNIST")
    load_dataset("cifar-10")
    assert seen == {"mnist": True, "cifar10": True}
    load_dataset("mnist", download=False)
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")


# ----------------------------------------------------------------------------- commands, directories

def test_download_command(tmp_path):
    assert download_command("mnist", "data") == "python -m tt_rnn.data download mnist --data-dir data"
    assert download_command("mnist", tmp_path / "MNIST" / "raw") == \
        f"python -m tt_rnn.data download mnist --data-dir {tmp_path}"
    assert download_command("all", "my data") == "python -m tt_rnn.data download all --data-dir 'my data'"
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        download_command("imagenet")


def test_data_and_cache_dirs(tmp_path, monkeypatch):
    monkeypatch.delenv("TT_RNN_DATA", raising=False)
    monkeypatch.delenv("TT_RNN_CACHE", raising=False)
    assert resolve_data_dir(None) == Path("data")
    monkeypatch.setenv("TT_RNN_DATA", str(tmp_path))
    assert resolve_data_dir(None) == tmp_path and resolve_data_dir("x") == Path("x")
    assert resolve_cache_dir(None) == tmp_path / "cache"
    assert resolve_cache_dir("c") == Path("c")
    monkeypatch.setenv("TT_RNN_CACHE", str(tmp_path / "cc"))
    assert resolve_cache_dir(None) == tmp_path / "cc"
    monkeypatch.delenv("TT_RNN_CACHE")
    assert resolve_cache_dir(None, tmp_path / "new" / "data") == tmp_path / "new" / "data" / "cache"
    # a read-only data directory (even for root, who could write there): the user cache instead
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        assert resolve_cache_dir(None, read_only) == tmp_path / "xdg" / "tt_rnn"
    finally:
        read_only.chmod(0o755)


def _run_cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_download_and_check(tmp_path, fake_data_dir, capsys, online):
    rc, out, err = _run_cli(capsys, "download", "all", "--data-dir", str(fake_data_dir))
    assert rc == 2 and err.startswith("error: cifar10: CIFAR-10 download into") and err.count("\n") == 1
    assert out.startswith(f"mnist: 4 files in {fake_data_dir / 'MNIST' / 'raw'} (md5 verified)")
    assert download_command("cifar10", fake_data_dir) in err
    rc, out, err = _run_cli(capsys, "check", "--data-dir", str(fake_data_dir))
    assert rc == 0 and all(line.startswith("decoding cifar10-jpeg.tar.gz once") for line in err.splitlines())
    assert out.splitlines() == [
        f"mnist: MNIST (synthetic test data): 600 train / 200 test images 1x28x28, from "
        f"{fake_data_dir / 'MNIST' / 'raw'}",
        f"cifar10: CIFAR-10 (JPEG copy) (synthetic test data): 600 train / 200 test images 3x32x32, "
        f"from {fake_data_dir / 'cifar10-jpeg.tar.gz'}"]


def test_cli_errors_are_one_line_with_status_2(tmp_path, capsys, online):
    for argv, expect in ((["fetch"], "invalid choice: 'fetch'"),
                         (["download"], "required: dataset"),
                         (["download", "svhn"], "invalid choice: 'svhn'"),
                         (["check", "mnist", "--bogus"], "unrecognized arguments: --bogus"),
                         (["check", "mnist", "--data-dir", str(tmp_path)], "MNIST raw files missing"),
                         (["download", "mnist", "--data-dir", str(tmp_path)], "MNIST download into")):
        rc, out, err = _run_cli(capsys, *argv)
        assert rc == 2 and err.startswith("error: ") and expect in err and err.count("\n") == 1, (argv, err)
    rc, out, err = _run_cli(capsys, "check", "mnist", "--data-dir", str(tmp_path))
    assert download_command("mnist", tmp_path) in err
    with pytest.raises(DataError):  # --debug: the exception itself, with its traceback
        main(["check", "mnist", "--data-dir", str(tmp_path), "--debug"])


# ----------------------------------------------------------------------------- batches

def test_augmentation_shapes_and_determinism():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.uint8).view(2, 1, 6, 6)
    a = random_shift(x, 2, torch.Generator().manual_seed(0))
    b = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and a.dtype == x.dtype and torch.equal(a, b)
    # a shift only moves pixels: every output pixel is 0 (padding) or an input pixel of that image
    for i in range(2):
        assert set(a[i].flatten().tolist()) <= set(x[i].flatten().tolist()) | {0}
    big = random_shift(torch.ones(64, 1, 6, 6), 2, torch.Generator().manual_seed(1))
    assert (big == 0).any() and (big.flatten(1).sum(1) >= 16).all()  # at most 2 rows/cols lost
    f = random_crop_flip(torch.randn(8, 3, 8, 8), 4, generator=torch.Generator().manual_seed(0))
    assert f.shape == (8, 3, 8, 8)
    g = augment_batch(torch.randn(8, 3, 8, 8), "crop-flip", 4, torch.Generator().manual_seed(0))
    assert g.shape == (8, 3, 8, 8)
    with pytest.raises(ValueError, match="unknown augmentation 'cropflip'"):
        augment_batch(x, "cropflip", 2)
    z = normalize(torch.full((1, 1, 2, 2), 255, dtype=torch.uint8), (0.5,), (0.25,))
    assert torch.allclose(z, torch.full_like(z, 2.0))
    batches = minibatch_indices(10, 4, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
