"""Small synthetic data sets written in the real on-disk formats, for tests and quick notebook runs.

:func:`make_fake_data_dir` fills a directory the way :mod:`tt_rnn.data` expects a data directory
to look, in the same file formats as the real sets (the approach of torchvision's own test suite,
which fakes each data set's files rather than mocking its loader):

* MNIST: the four uncompressed IDX files under ``<root>/MNIST/raw/`` (magic numbers 0x0803 for
  images, 0x0801 for labels, big-endian sizes), 28x28 ``uint8`` images;
* CIFAR-10, one of three formats:

  - ``"pickle"``: torchvision's ``<root>/cifar-10-batches-py/`` (``data_batch_1`` ...
    ``data_batch_5``, ``test_batch``, ``batches.meta``; dicts with ``data`` ``(N, 3072)`` uint8
    rows R|G|B, ``labels``, ``filenames``, ``batch_label``);
  - ``"folder"``: an ImageFolder tree ``<root>/cifar10/{train,test}/<class>/NNNN.jpg``;
  - ``"tar"``: the same tree packed as ``<root>/cifar10-jpeg.tar.gz``.

The images are *learnable*: each class is a bright blob at its own place (and, for CIFAR-10, of
its own colour), jittered by a pixel or two and with noise added, so a one-epoch run of a small
network beats chance (10 %) clearly. Everything is deterministic given ``seed``.

Checksums: the real files are verified against their official md5 sums, which fake files cannot
match. The generator therefore writes a manifest ``<root>/TT_RNN_SYNTHETIC_DATA.json`` with the md5
of every file it wrote; :mod:`tt_rnn.data` accepts a file whose official md5 does not match only
when this manifest lists it *and* the file matches the manifest's md5 (so a damaged fake file still
fails), and it labels such data ``"... (synthetic test data)"`` with ``exact=False``. A real data
directory has no manifest, so its files keep the official check. Nothing else (no environment
variable, no keyword) is needed: a notebook run by papermill only has to point its data directory
(``TT_RNN_DATA`` or its ``DATA_DIR`` parameter) at the generated folder.

Example
-------
>>> from tt_rnn.fixtures import make_fake_data_dir            # doctest: +SKIP
>>> root = make_fake_data_dir("/tmp/fake", cifar10="tar")     # doctest: +SKIP
>>> from tt_rnn.data import load_mnist
>>> load_mnist(root).label                                     # doctest: +SKIP
'MNIST (synthetic test data)'
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np

from .data import CIFAR10_CLASSES, MNIST_FILES, SYNTHETIC_MANIFEST, SYNTHETIC_GENERATOR

__all__ = ["make_fake_data_dir", "fake_mnist_arrays", "fake_cifar10_arrays", "CIFAR10_FORMATS"]

CIFAR10_FORMATS = ("tar", "folder", "pickle")
_CIFAR_BATCH_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")


def _blob_images(labels: np.ndarray, size: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """``(N, size, size, channels)`` uint8: a Gaussian blob per image, placed (and coloured) by class."""
    n = len(labels)
    # class k: blob centred in its own cell of a 4x4 grid (cells = 7x7 patches on 28x28, 8x8 on
    # 32x32), so that each class lights a different patch
    cells = [(0, 0), (0, 2), (1, 1), (1, 3), (2, 0), (2, 2), (3, 1), (3, 3), (0, 3), (3, 0)]
    centres = (np.array(cells, dtype=np.float64) + 0.5) * (size / 4) - 0.5   # (10, 2) row, col
    centre = centres[labels] + rng.uniform(-1.0, 1.0, size=(n, 2))        # jitter
    sigma = size / 11.0 * rng.uniform(0.85, 1.15, size=n)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    d2 = (yy[None] - centre[:, 0, None, None]) ** 2 + (xx[None] - centre[:, 1, None, None]) ** 2
    blob = np.exp(-d2 / (2 * sigma[:, None, None] ** 2))                 # (N, H, W) in [0, 1]
    if channels == 1:
        colour = np.ones((10, 1))
    else:  # a colour per class too, kept bright in at least one channel
        colour = np.random.default_rng(1234).uniform(0.3, 1.0, size=(10, channels))
        colour[np.arange(10), np.arange(10) % channels] = 1.0
    img = blob[..., None] * colour[labels][:, None, None, :] * rng.uniform(0.7, 1.0, size=(n, 1, 1, 1))
    img = img * 230 + rng.normal(0, 12, size=img.shape) + (20 if channels > 1 else 0)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels with every class present (as balanced as ``n`` allows), in random order."""
    if n < 10:
        raise ValueError(f"need at least 10 images per split (one per class), got {n}")
    return rng.permutation(np.arange(n) % 10).astype(np.uint8)


def fake_mnist_arrays(n_train: int = 600, n_test: int = 200, seed: int = 0) -> dict:
    """Synthetic MNIST-shaped arrays: ``train_images`` ``(n_train, 28, 28)`` uint8,
    ``train_labels`` ``(n_train,)`` uint8, and the same for ``test_``."""
    rng = np.random.default_rng([seed, 28])
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = _labels(n, rng)
        out[f"{split}_images"] = _blob_images(y, 28, 1, rng)[..., 0]
        out[f"{split}_labels"] = y
    return out


def fake_cifar10_arrays(n_train: int = 500, n_test: int = 200, seed: int = 0) -> dict:
    """Synthetic CIFAR-10-shaped arrays: ``train_images`` ``(n_train, 32, 32, 3)`` uint8 (HWC, as
    torchvision keeps them), ``train_labels`` ``(n_train,)`` uint8, and the same for ``test_``."""
    rng = np.random.default_rng([seed, 32])
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = _labels(n, rng)
        out[f"{split}_images"] = _blob_images(y, 32, 3, rng)
        out[f"{split}_labels"] = y
    return out


def _idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic ``0x0000 08 <ndim>``, big-endian int32 sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _jpeg_bytes(image_hwc: np.ndarray) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(image_hwc, "RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _jpeg_tree(arrays: dict) -> dict:
    """``{"train/<class>/NNNN.jpg": bytes, ...}`` (numbered per class, in array order)."""
    files = {}
    for split in ("train", "test"):
        count = [0] * 10
        for img, y in zip(arrays[f"{split}_images"], arrays[f"{split}_labels"]):
            files[f"{split}/{CIFAR10_CLASSES[y]}/{count[y]:04d}.jpg"] = _jpeg_bytes(img)
            count[y] += 1
    return files


def _cifar_pickles(arrays: dict) -> dict:
    """torchvision's ``cifar-10-batches-py`` files as ``{name: bytes}``."""
    def batch(images, labels, title, start):
        rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)   # R plane | G plane | B plane
        entry = {"batch_label": title, "labels": [int(v) for v in labels], "data": rows,
                 "filenames": [f"synthetic_{start + i:05d}.png" for i in range(len(images))]}
        return pickle.dumps(entry, protocol=2)

    files = {}
    parts = np.array_split(np.arange(len(arrays["train_labels"])), len(_CIFAR_BATCH_FILES))
    for k, (name, idx) in enumerate(zip(_CIFAR_BATCH_FILES, parts)):
        files[name] = batch(arrays["train_images"][idx], arrays["train_labels"][idx],
                            f"training batch {k + 1} of 5", int(idx[0]) if len(idx) else 0)
    files["test_batch"] = batch(arrays["test_images"], arrays["test_labels"], "testing batch 1 of 1", 0)
    files["batches.meta"] = pickle.dumps({"num_cases_per_batch": len(parts[0]),
                                          "label_names": list(CIFAR10_CLASSES), "num_vis": 3072},
                                         protocol=2)
    return files


def make_fake_data_dir(root, *, mnist: bool = True, cifar10: str | None = "tar", n_train: int = 600,
                       n_test: int = 200, seed: int = 0) -> Path:
    """Write small synthetic MNIST / CIFAR-10 sets in their real on-disk formats under ``root``.

    Parameters
    ----------
    root : path
        Data directory to fill (created if needed). Use a temporary folder: the function refuses
        to overwrite files in a folder that has no manifest of its own (real data).
    mnist : bool
        Write ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``.
    cifar10 : {"tar", "folder", "pickle", None}
        CIFAR-10 format: ``cifar10-jpeg.tar.gz``, an ImageFolder tree ``cifar10/{train,test}/<class>``,
        or torchvision's ``cifar-10-batches-py`` pickles; ``None`` writes no CIFAR-10.
    n_train, n_test : int
        Images per split (each >= 10; every class appears). The defaults load in well under a second
        and train a small network for an epoch in about a second.
    seed : int
        Same seed, same bytes.

    Returns
    -------
    Path
        ``root``, to pass as ``data_dir`` (or to set as ``TT_RNN_DATA``).
    """
    if cifar10 not in (None, *CIFAR10_FORMATS):
        raise ValueError(f"cifar10={cifar10!r}; choose one of {CIFAR10_FORMATS} or None")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / SYNTHETIC_MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    files: dict[str, bytes] = {}
    if mnist:
        arrays = fake_mnist_arrays(n_train, n_test, seed)
        for name in MNIST_FILES:
            split = "train" if name.startswith("train") else "test"
            kind = "images" if "images" in name else "labels"
            files[f"MNIST/raw/{name}"] = _idx_bytes(arrays[f"{split}_{kind}"])
    if cifar10 is not None:
        arrays = fake_cifar10_arrays(n_train, n_test, seed)
        if cifar10 == "pickle":
            files.update({f"cifar-10-batches-py/{k}": v for k, v in _cifar_pickles(arrays).items()})
        elif cifar10 == "folder":
            files.update({f"cifar10/{k}": v for k, v in _jpeg_tree(arrays).items()})
        else:
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
                for name, data in _jpeg_tree(arrays).items():
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime, info.mode = len(data), 0, 0o644
                    tar.addfile(info, io.BytesIO(data))
            files["cifar10-jpeg.tar.gz"] = buf.getvalue()
    known = set(manifest["md5"]) if manifest else set()
    clash = [rel for rel in files if (root / rel).exists() and rel not in known]
    if clash:
        raise FileExistsError(f"{root} already holds {clash[:3]} not written by this generator "
                              "(real data?); give make_fake_data_dir an empty folder")
    md5 = dict(manifest["md5"]) if manifest else {}
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        md5[rel] = hashlib.md5(data).hexdigest()
    manifest_path.write_text(json.dumps(
        {"generator": SYNTHETIC_GENERATOR, "note": "synthetic images for tests, not MNIST/CIFAR-10",
         "seed": seed, "n_train": n_train, "n_test": n_test, "md5": dict(sorted(md5.items()))},
        indent=1) + "\n")
    return root
