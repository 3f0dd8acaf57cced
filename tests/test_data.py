"""Data loaders: MNIST from raw IDX files (md5-checked), CIFAR-10 ImageFolder / archive, augmentation."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
import torch

from tt_rnn.data import (CIFAR10_CLASSES, MNIST_FILES, DataError, load_cifar10, load_image_folder,
                         load_mnist, minibatch_indices, normalize, random_crop_flip, random_shift,
                         resolve_data_dir)


def mnist_raw_dir() -> Path:
    """The real MNIST raw folder ($TT_RNN_DATA, else ./data); skip (or fail in CI) when absent."""
    root = resolve_data_dir(None)
    raw = root / "MNIST" / "raw"
    if all((raw / name).is_file() for name in MNIST_FILES):
        return raw
    msg = (f"MNIST raw files not found in {raw} (set TT_RNN_DATA to a folder holding "
           "MNIST/raw/{" + ",".join(MNIST_FILES) + "})")
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def test_mnist_loads_real_files():
    raw = mnist_raw_dir()
    data = load_mnist(raw.parent.parent, download=False)
    assert data.train_images.shape == (60000, 1, 28, 28) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (10000, 1, 28, 28)
    assert data.train_labels.tolist()[:5] == [5, 0, 4, 1, 9]
    assert data.label == "MNIST" and data.exact and data.num_classes == 10
    assert abs(float(data.train_images.float().mean()) / 255 - 0.1307) < 1e-3
    # the raw folder itself is accepted as the data directory too
    assert load_mnist(raw, download=False).test_labels.shape == (10000,)


def test_mnist_missing_file_message(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\x00" * 16)
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path, download=False)
    msg = str(info.value)
    assert str(raw) in msg
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in msg
    assert "missing" in msg


def test_mnist_corrupt_file_message(tmp_path):
    real = mnist_raw_dir()
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        if name != "train-labels-idx1-ubyte":
            (raw / name).symlink_to(real / name)
    data = bytearray((real / "train-labels-idx1-ubyte").read_bytes())
    data[1000] ^= 0xFF  # flip one label byte
    (raw / "train-labels-idx1-ubyte").write_bytes(bytes(data))
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path, download=False)
    msg = str(info.value)
    assert str(raw) in msg and "corrupt" in msg and "md5" in msg
    assert "train-labels-idx1-ubyte" in msg and "t10k-images-idx3-ubyte=" not in msg


def _png_bytes(color, size=8, fmt="PNG") -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (size, size), tuple(color)).save(buf, format=fmt)
    return buf.getvalue()


SYNTH = {"truck": (200, 10, 10), "airplane": (10, 200, 10), "cat": (10, 10, 200)}


def _make_folder(root: Path, fmt="PNG"):
    for split, n in (("train", 2), ("test", 1)):
        for cls, color in SYNTH.items():
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
    # load_cifar10 finds the same tree as a data directory
    assert load_cifar10(tmp_path).train_labels.tolist() == [0, 0, 3, 3, 9, 9]


def test_cifar_archive_decoded_once_into_cache(tmp_path):
    tree = tmp_path / "tree"
    _make_folder(tree, fmt="JPEG")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with tarfile.open(data_dir / "cifar10-jpeg.tar.gz", "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(tree / split, arcname=split)
    cache = tmp_path / "cache"
    data = load_cifar10(data_dir, cache_dir=cache)
    assert (cache / "cifar10-jpeg.pt").is_file()
    assert data.train_labels.tolist() == [0, 0, 3, 3, 9, 9] and data.label == "CIFAR-10 (JPEG copy)"
    assert abs(int(data.train_images[0, 1, 4, 4]) - 200) < 8  # lossy, but close
    again = load_cifar10(data_dir, cache_dir=cache)  # read from the cache
    assert torch.equal(again.train_images, data.train_images)


def test_cifar_missing_message(tmp_path):
    with pytest.raises(DataError) as info:
        load_cifar10(tmp_path, cache_dir=tmp_path / "cache")
    msg = str(info.value)
    assert str(tmp_path) in msg and "cifar-10-batches-py" in msg and "cifar10-jpeg.tar.gz" in msg


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
    z = normalize(torch.full((1, 1, 2, 2), 255, dtype=torch.uint8), (0.5,), (0.25,))
    assert torch.allclose(z, torch.full_like(z, 2.0))
    batches = minibatch_indices(10, 4, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
