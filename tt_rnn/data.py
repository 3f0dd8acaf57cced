"""Image data sets held in memory as uint8 tensors, plus batched augmentation.

Where the data come from
------------------------
``resolve_data_dir(data_dir)``: the argument, else the environment variable ``TT_RNN_DATA``,
else ``./data``. ``resolve_cache_dir(cache_dir)``: the argument, else ``TT_RNN_CACHE``, else
``<repository>/data/cache`` (git-ignored; the data directory itself may be read-only).

* MNIST (:func:`load_mnist`): torchvision's layout ``<data_dir>/MNIST/raw/`` with the four raw
  IDX files (a directory that *is* ``MNIST`` or ``MNIST/raw`` is accepted too). Missing files are
  downloaded by torchvision when ``download=True`` and the network allows; the four files are
  then checked against their md5 sums. A missing or corrupt file raises
  :class:`DataError` naming the directory and the files expected.
* CIFAR-10 (:func:`load_cifar10`): torchvision's ``cifar-10-batches-py`` under the data
  directory (the exact set; downloaded when asked and possible), else an ImageFolder tree
  ``train/<class>/*.jpg``, ``test/<class>/*.jpg`` (in the data directory, in
  ``<data_dir>/cifar10`` or in the cache), else the archive ``cifar10-jpeg.tar.gz``, which is
  decoded once, straight from the archive, into a uint8 tensor cache ``cifar10-jpeg.pt`` in the
  cache directory. Class indices follow torchvision (airplane, automobile, ..., truck). The
  returned :class:`ImageData` says whether it is the exact set (``exact=True``, label
  ``"CIFAR-10"``) or the lossy copy (``label="CIFAR-10 (JPEG copy)"``).

All images stay in memory as ``uint8`` tensors ``(N, C, H, W)``; :func:`normalize` turns a batch
into floats, and :func:`random_shift` / :func:`random_crop_flip` augment whole batches on the
device they live on, with a seeded ``torch.Generator``.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "DataError", "ImageData", "MNIST_FILES", "CIFAR10_CLASSES", "DATASETS",
    "resolve_data_dir", "resolve_cache_dir", "verify_mnist_raw", "load_mnist", "load_cifar10",
    "load_image_folder", "load_dataset", "normalize", "random_shift", "random_crop_flip",
    "augment_batch", "minibatch_indices",
]

MNIST_FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
DATASETS = ("mnist", "cifar10")


class DataError(FileNotFoundError):
    """A data set is missing or corrupt; the message names the directory and the files expected."""


@dataclass
class ImageData:
    """A whole data set in memory. Images are ``uint8`` ``(N, C, H, W)``, labels ``int64``."""

    name: str                 # "mnist" or "cifar10"
    label: str                # for reports: "MNIST", "CIFAR-10", "CIFAR-10 (JPEG copy)"
    exact: bool               # True when these are the official, lossless images
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple
    mean: tuple               # per-channel, on the [0, 1] scale
    std: tuple
    source: str = ""          # where the data were read from
    extra: dict = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> tuple:
        return tuple(int(s) for s in self.train_images.shape[2:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> "ImageData":
        """A copy with ``n_train`` training and ``n_test`` test images drawn at random (seeded,
        kept in their original order). ``None`` keeps a split whole. Random, not the first n:
        the CIFAR-10 JPEG copy stores its test set sorted by class."""
        def pick(x, y, n):
            if n is None or n >= len(y):
                return x, y
            if n < 1:
                raise ValueError(f"subset size must be >= 1, got {n}")
            idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n]
            idx = idx.sort().values
            return x[idx], y[idx]
        tr_x, tr_y = pick(self.train_images, self.train_labels, n_train)
        te_x, te_y = pick(self.test_images, self.test_labels, n_test)
        return ImageData(self.name, self.label, self.exact, tr_x, tr_y, te_x, te_y, self.classes,
                         self.mean, self.std, self.source, dict(self.extra))

    def metadata(self) -> dict:
        """JSON-ready description (for results files)."""
        return {"name": self.name, "label": self.label, "exact": self.exact,
                "n_train": int(len(self.train_labels)), "n_test": int(len(self.test_labels)),
                "image_shape": [self.in_channels, *self.image_size], "classes": list(self.classes),
                "mean": list(self.mean), "std": list(self.std), "source": self.source, **self.extra}


# ----------------------------------------------------------------------------- directories

def resolve_data_dir(data_dir=None) -> Path:
    """The argument, else ``$TT_RNN_DATA``, else ``./data``."""
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get("TT_RNN_DATA") or "data"
    return Path(data_dir).expanduser()


def resolve_cache_dir(cache_dir=None) -> Path:
    """The argument, else ``$TT_RNN_CACHE``, else ``<repository>/data/cache`` (git-ignored) when the
    package runs from a checkout, else ``./data/cache``."""
    if cache_dir is None or str(cache_dir) == "":
        cache_dir = os.environ.get("TT_RNN_CACHE")
    if cache_dir is None or str(cache_dir) == "":
        repo = Path(__file__).resolve().parent.parent
        base = repo if (repo / "pyproject.toml").is_file() else Path(".")
        cache_dir = base / "data" / "cache"
    return Path(cache_dir).expanduser()


def _md5(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------- MNIST

def _mnist_root(data_dir: Path) -> Path:
    """The folder ``R`` with ``R/MNIST/raw`` (torchvision's ``root``), accepting a few spellings."""
    if data_dir.name == "raw" and data_dir.parent.name == "MNIST":
        return data_dir.parent.parent
    if data_dir.name == "MNIST" and (data_dir / "raw").is_dir():
        return data_dir.parent
    return data_dir


def verify_mnist_raw(raw_dir) -> None:
    """Check the four raw IDX files in ``raw_dir`` against their md5 sums; raise :class:`DataError`."""
    raw_dir = Path(raw_dir)
    expected = ", ".join(MNIST_FILES)
    missing = [name for name in MNIST_FILES if not (raw_dir / name).is_file()]
    if missing:
        raise DataError(
            f"MNIST raw files missing in {raw_dir}: {', '.join(missing)}. Expected the four "
            f"uncompressed IDX files {expected} in torchvision's layout <data_dir>/MNIST/raw/. "
            "Set the data directory (argument, or env TT_RNN_DATA) to a folder that holds them, "
            "or allow the download.")
    bad = [name for name, md5 in MNIST_FILES.items() if _md5(raw_dir / name) != md5]
    if bad:
        raise DataError(
            f"MNIST raw files corrupt in {raw_dir} (md5 mismatch): {', '.join(bad)}. Expected the "
            f"four IDX files {expected} with md5 sums "
            + ", ".join(f"{n}={MNIST_FILES[n]}" for n in bad)
            + ". Delete them and download again, or point TT_RNN_DATA at a good copy.")


def _read_idx(path: Path) -> torch.Tensor:
    data = path.read_bytes()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # unsigned byte data
        raise DataError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return torch.from_numpy(arr.reshape(shape).copy())


def load_mnist(data_dir=None, download: bool = True) -> ImageData:
    """MNIST (60,000 train / 10,000 test, ``(N, 1, 28, 28)`` uint8) from ``data_dir`` (see module docs).

    Downloads with torchvision into ``<data_dir>/MNIST/raw`` when files are missing and
    ``download`` is true; a failed download falls through to the missing-file :class:`DataError`.
    """
    data_dir = resolve_data_dir(data_dir)
    root = _mnist_root(data_dir)
    raw = root / "MNIST" / "raw"
    have_all = all((raw / name).is_file() for name in MNIST_FILES)
    if not have_all and download:
        try:
            import torchvision
            torchvision.datasets.MNIST(root=str(root), train=True, download=True)
            torchvision.datasets.MNIST(root=str(root), train=False, download=True)
        except Exception as exc:  # offline, read-only directory, ...: report the files below
            download_error = f" (download failed: {type(exc).__name__}: {exc})"
        else:
            download_error = ""
    else:
        download_error = ""
    try:
        verify_mnist_raw(raw)
    except DataError as exc:
        raise DataError(str(exc) + download_error) from None
    tr_x = _read_idx(raw / "train-images-idx3-ubyte").unsqueeze(1)
    tr_y = _read_idx(raw / "train-labels-idx1-ubyte").long()
    te_x = _read_idx(raw / "t10k-images-idx3-ubyte").unsqueeze(1)
    te_y = _read_idx(raw / "t10k-labels-idx1-ubyte").long()
    return ImageData("mnist", "MNIST", True, tr_x, tr_y, te_x, te_y, tuple(str(i) for i in range(10)),
                     MNIST_MEAN, MNIST_STD, source=str(raw))


# ----------------------------------------------------------------------------- CIFAR-10

def _decode(data: bytes) -> torch.Tensor:
    """Encoded image bytes -> ``(3, H, W)`` uint8 (torchvision.io, PIL as fallback)."""
    try:
        import warnings
        with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders (still fastest here)
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_image
            return decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    except Exception:
        from PIL import Image
        img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        return torch.from_numpy(img.copy()).permute(2, 0, 1).contiguous()


def _stack_split(items, classes, where) -> tuple[torch.Tensor, torch.Tensor]:
    """``items``: list of ``(class_name, sort_key, bytes)`` -> images, labels in class/file order."""
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({c for c, _, _ in items} - set(index))
    if unknown:
        raise DataError(f"{where}: unexpected class folders {unknown}; expected {list(classes)}")
    items = sorted(items, key=lambda it: (index[it[0]], it[1]))
    if not items:
        raise DataError(f"{where}: no images found")
    images = torch.stack([_decode(data) for _, _, data in items])
    labels = torch.tensor([index[c] for c, _, _ in items], dtype=torch.long)
    return images, labels


_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")


def load_image_folder(root, classes=CIFAR10_CLASSES, *, name: str = "cifar10",
                      label: str = "CIFAR-10 (JPEG copy)", exact: bool = False,
                      mean=CIFAR10_MEAN, std=CIFAR10_STD) -> ImageData:
    """An ImageFolder tree ``root/{train,test}/<class>/*.{jpg,png}`` -> :class:`ImageData`.

    Class index = position in ``classes`` (torchvision's CIFAR-10 order by default); files are
    taken in sorted name order within a class. All images must have the same size.
    """
    root = Path(root)
    splits = {}
    for split in ("train", "test"):
        folder = root / split
        if not folder.is_dir():
            raise DataError(f"ImageFolder {root}: missing folder {split}/ (expected "
                            f"{split}/<class>/*.jpg for classes {list(classes)})")
        items = [(p.parent.name, p.name, p.read_bytes()) for p in folder.glob("*/*")
                 if p.suffix.lower() in _IMAGE_EXT]
        splits[split] = _stack_split(items, classes, str(folder))
    return ImageData(name, label, exact, *splits["train"], *splits["test"], tuple(classes),
                     tuple(mean), tuple(std), source=str(root))


def _decode_tar(archive: Path, classes) -> dict:
    splits = {"train": [], "test": []}
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = Path(member.name).parts
            if len(parts) < 3 or Path(member.name).suffix.lower() not in _IMAGE_EXT:
                continue
            split, cls, fname = parts[-3], parts[-2], parts[-1]
            if split in splits:
                splits[split].append((cls, fname, tar.extractfile(member).read()))
    out = {}
    for split, items in splits.items():
        images, labels = _stack_split(items, classes, f"{archive}:{split}/")
        out[f"{split}_images"], out[f"{split}_labels"] = images, labels
    return out


def load_cifar10(data_dir=None, cache_dir=None, download: bool = False) -> ImageData:
    """CIFAR-10 as :class:`ImageData` (``(N, 3, 32, 32)`` uint8), from the first source found:

    1. ``<data_dir>/cifar-10-batches-py`` via torchvision (exact set; downloaded first when
       ``download`` is true and it is missing);
    2. an ImageFolder tree in ``<data_dir>``, ``<data_dir>/cifar10`` or ``<data_dir>/cifar10-jpeg``;
    3. ``<data_dir>/cifar10-jpeg.tar.gz``, decoded once into ``<cache_dir>/cifar10-jpeg.pt``
       (later calls read the cache).

    The JPEG sources are labelled ``"CIFAR-10 (JPEG copy)"`` (``exact=False``).
    """
    import torchvision

    data_dir = resolve_data_dir(data_dir)
    batches = data_dir / "cifar-10-batches-py"
    if download and not batches.is_dir():
        try:
            torchvision.datasets.CIFAR10(root=str(data_dir), train=True, download=True)
        except Exception:
            pass
    if batches.is_dir():
        try:
            tr = torchvision.datasets.CIFAR10(root=str(data_dir), train=True, download=False)
            te = torchvision.datasets.CIFAR10(root=str(data_dir), train=False, download=False)
        except RuntimeError as exc:
            raise DataError(f"CIFAR-10 in {batches} is incomplete or corrupt: {exc}") from None
        to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).contiguous()
        if tuple(tr.classes) != CIFAR10_CLASSES:
            raise DataError(f"unexpected CIFAR-10 classes in {batches}: {tr.classes}")
        return ImageData("cifar10", "CIFAR-10", True, to_t(tr.data), torch.tensor(tr.targets),
                         to_t(te.data), torch.tensor(te.targets), CIFAR10_CLASSES,
                         CIFAR10_MEAN, CIFAR10_STD, source=str(batches))

    for folder in (data_dir, data_dir / "cifar10", data_dir / "cifar10-jpeg"):
        if (folder / "train" / CIFAR10_CLASSES[0]).is_dir() and (folder / "test").is_dir():
            return load_image_folder(folder)

    archive = data_dir / "cifar10-jpeg.tar.gz"
    cache_dir = resolve_cache_dir(cache_dir)
    cache = cache_dir / "cifar10-jpeg.pt"
    if archive.is_file():
        stamp = {"archive": str(archive.resolve()), "size": archive.stat().st_size}
        tensors = None
        if cache.is_file():
            loaded = torch.load(cache, map_location="cpu", weights_only=True)
            if loaded.get("stamp_size") == stamp["size"]:
                tensors = loaded
        if tensors is None:
            tensors = _decode_tar(archive, CIFAR10_CLASSES)
            tensors["stamp_size"] = stamp["size"]
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            torch.save(tensors, tmp)
            os.replace(tmp, cache)
        return ImageData("cifar10", "CIFAR-10 (JPEG copy)", False, tensors["train_images"],
                         tensors["train_labels"], tensors["test_images"], tensors["test_labels"],
                         CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, source=str(archive),
                         extra={"cache": str(cache)})

    raise DataError(
        f"CIFAR-10 not found in {data_dir}: expected one of cifar-10-batches-py/ (torchvision; "
        "pass download=True where the network allows), an ImageFolder tree train/<class>/*.jpg + "
        f"test/<class>/*.jpg with classes {list(CIFAR10_CLASSES)}, or cifar10-jpeg.tar.gz. "
        "Set the data directory with an argument or env TT_RNN_DATA.")


def load_dataset(name: str, data_dir=None, cache_dir=None, download: bool | None = None) -> ImageData:
    """``"mnist"`` or ``"cifar10"`` (see :func:`load_mnist`, :func:`load_cifar10`)."""
    name = name.lower().replace("-", "")
    if name == "mnist":
        return load_mnist(data_dir, download=True if download is None else download)
    if name == "cifar10":
        return load_cifar10(data_dir, cache_dir, download=False if download is None else download)
    raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")


# ----------------------------------------------------------------------------- batches

def normalize(images: torch.Tensor, mean, std, dtype=torch.float32) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float ``(x / 255 - mean) / std`` per channel."""
    x = images.to(dtype).div_(255.0)
    m = torch.tensor(mean, dtype=dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=dtype, device=x.device).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


def _randint(high: int, n: int, generator, device) -> torch.Tensor:
    return torch.randint(0, high, (n,), generator=generator).to(device)


def random_shift(images: torch.Tensor, max_shift: int, generator=None, fill: float = 0.0) -> torch.Tensor:
    """Shift every image of a batch by its own random ``(dy, dx)``, ``|dy|, |dx| <= max_shift``:
    pad with ``fill`` and crop back to size. Works on any device; randomness from ``generator``
    (a CPU ``torch.Generator``)."""
    if max_shift <= 0:
        return images
    b, c, h, w = images.shape
    s = max_shift
    padded = torch.nn.functional.pad(images, (s, s, s, s), value=fill)
    dy = _randint(2 * s + 1, b, generator, images.device)
    dx = _randint(2 * s + 1, b, generator, images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, :, None]   # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, :]   # (B, 1, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_crop_flip(images: torch.Tensor, padding: int = 4, flip: bool = True, generator=None,
                     fill: float = 0.0) -> torch.Tensor:
    """Random crop with ``padding`` (= a random shift) and, if ``flip``, a random horizontal flip."""
    out = random_shift(images, padding, generator, fill)
    if flip:
        mask = (torch.rand(len(out), generator=generator) < 0.5).to(out.device).view(-1, 1, 1, 1)
        out = torch.where(mask, out.flip(-1), out)
    return out


def augment_batch(images: torch.Tensor, kind: str, amount: int, generator=None) -> torch.Tensor:
    """``kind``: ``"none"``, ``"shift"`` (random shifts up to ``amount`` px) or ``"crop-flip"``
    (random crop with padding ``amount`` + horizontal flip). Apply to normalised images so the
    padding is zero in normalised units, or to uint8 images for black padding."""
    if kind in (None, "none", "") or amount <= 0 and kind == "shift":
        return images
    if kind == "shift":
        return random_shift(images, amount, generator)
    if kind in ("crop-flip", "cropflip", "crop_flip"):
        return random_crop_flip(images, amount, True, generator)
    raise ValueError(f"unknown augmentation {kind!r}; choose 'none', 'shift' or 'crop-flip'")


def minibatch_indices(n: int, batch_size: int, generator=None, shuffle: bool = True,
                      drop_last: bool = False):
    """Index tensors of the minibatches of one epoch (a seeded permutation when ``shuffle``)."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]
