"""Image data sets held in memory as uint8 tensors: where they come from, download, checks.

Where the data come from
------------------------
``resolve_data_dir(data_dir)``: the argument, else the environment variable ``TT_RNN_DATA``,
else ``./data``. ``resolve_cache_dir(cache_dir, data_dir)``: the argument, else ``TT_RNN_CACHE``,
else ``<data_dir>/cache`` when the data directory is writable (by its permission bits, for root
too), else the user cache ``~/.cache/tt_rnn`` (``$XDG_CACHE_HOME/tt_rnn``).

* MNIST (:func:`load_mnist`): torchvision's layout ``<data_dir>/MNIST/raw/`` with the four raw
  IDX files (a directory that *is* ``MNIST`` or ``MNIST/raw`` is accepted too). Missing files are
  downloaded by torchvision (``download=True``, the default; progress bar; torchvision checks the
  md5 of each ``.gz`` it fetches), and the four files are always checked against their official
  md5 sums before use.
* CIFAR-10 (:func:`load_cifar10`): torchvision's ``cifar-10-batches-py`` under the data
  directory, the exact set (downloaded when missing, ``download=True`` by default; torchvision
  checks the archive's md5; the seven files are then checked against torchvision's md5 sums and
  read here), else an ImageFolder tree ``train/<class>/*.jpg``, ``test/<class>/*.jpg`` (in the
  data directory, ``<data_dir>/cifar10`` or ``<data_dir>/cifar10-jpeg``), else the archive
  ``cifar10-jpeg.tar.gz``, decoded once into the uint8 tensor cache ``cifar10-jpeg.pt`` in the
  cache directory. Class indices follow torchvision (airplane, automobile, ..., truck). The
  returned :class:`ImageData` says whether it is the exact set (``exact=True``, label
  ``"CIFAR-10"``) or the lossy copy (``label="CIFAR-10 (JPEG copy)"``); when a download was tried
  and failed before falling back to a JPEG copy, ``extra["download_error"]`` says why.

A missing or corrupt data set raises :class:`DataError` naming the directory, the files and one
command that gets them (``DataError.command``). ``TT_RNN_OFFLINE=1`` switches downloads off (the
tests set it). From a shell::

    python -m tt_rnn.data download {mnist,cifar10,all} [--data-dir DIR]
    python -m tt_rnn.data check [{mnist,cifar10,all}] [--data-dir DIR]

Synthetic test data
-------------------
:func:`tt_rnn.fixtures.make_fake_data_dir` writes small sets in the same formats with a manifest
``TT_RNN_SYNTHETIC_DATA.json`` of their md5 sums; a file that fails the official md5 is accepted
only when the manifest lists it with its exact md5, and the set is then labelled
``"... (synthetic test data)"`` (``exact=False``), so results made from it cannot pass for the real
sets. Batches and augmentation: :mod:`tt_rnn.batches`.

References
----------
Y. LeCun, C. Cortes, C. Burges, "The MNIST database of handwritten digits" (IDX format).
A. Krizhevsky, "Learning multiple layers of features from tiny images", 2009 (CIFAR-10, python
version of the batches).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import pickle
import shlex
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision

from .cli import OneLineParser
from .runfiles import portable_path

__all__ = [
    "DataError", "ImageData", "MNIST_FILES", "CIFAR10_FILES", "CIFAR10_CLASSES", "DATASETS",
    "resolve_data_dir", "resolve_cache_dir", "download_command", "verify_mnist_raw",
    "verify_cifar10_batches", "download_dataset", "offline", "load_mnist", "load_cifar10",
    "load_image_folder", "load_dataset", "main",
]

MNIST_FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
# torchvision.datasets.CIFAR10's files of cifar-10-batches-py and their md5 sums (same values)
CIFAR10_FILES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_ARCHIVE = "cifar10-jpeg.tar.gz"
# written by tt_rnn.fixtures.make_fake_data_dir at the top of a synthetic data directory
SYNTHETIC_MANIFEST = "TT_RNN_SYNTHETIC_DATA.json"
SYNTHETIC_GENERATOR = "tt_rnn.fixtures.make_fake_data_dir"
SYNTHETIC_SUFFIX = " (synthetic test data)"
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
DATASETS = ("mnist", "cifar10")


class DataError(FileNotFoundError):
    """A data set is missing or corrupt. The message names the directory, the files expected
    and, when a download would fix it, the command; ``command`` holds that command (or None)."""

    def __init__(self, message: str, command: str | None = None):
        super().__init__(message)
        self.command = command

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
    files: tuple = ()         # the files read (their checksums go into results files)

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
        return dataclasses.replace(self, train_images=tr_x, train_labels=tr_y, test_images=te_x,
                                   test_labels=te_y, extra=dict(self.extra))

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


def _writable(folder: Path) -> bool:
    """Whether files may be written in ``folder`` (or, if absent, in its nearest existing parent).
    The permission bits count even for root, so a folder marked read-only is left alone."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def resolve_cache_dir(cache_dir=None, data_dir=None) -> Path:
    """The argument, else ``$TT_RNN_CACHE``, else ``<data_dir>/cache`` when the data directory
    (resolved by :func:`resolve_data_dir`) is writable, else ``$XDG_CACHE_HOME/tt_rnn``
    (default ``~/.cache/tt_rnn``)."""
    if cache_dir is None or str(cache_dir) == "":
        cache_dir = os.environ.get("TT_RNN_CACHE")
    if cache_dir is not None and str(cache_dir) != "":
        return Path(cache_dir).expanduser()
    data_dir = resolve_data_dir(data_dir)
    if _writable(data_dir):
        return data_dir / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "tt_rnn"


def download_command(name: str, data_dir=None) -> str:
    """The shell command that downloads data set ``name`` (``"mnist"``, ``"cifar10"`` or
    ``"all"``) into the data directory ``data_dir`` (resolved as by :func:`resolve_data_dir`)."""
    key = str(name).lower().replace("-", "")
    if key not in (*DATASETS, "all"):
        raise ValueError(f"unknown dataset {name!r}; choose one of {(*DATASETS, 'all')}")
    folder = resolve_data_dir(data_dir)
    if key == "mnist":
        folder = _mnist_root(folder)
    return f"python -m tt_rnn.data download {key} --data-dir {shlex.quote(str(folder))}"


def _md5(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line (torchvision's download errors span several lines)."""
    text = " ".join(str(exc).split())
    text = text if len(text) <= limit else text[:limit] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def offline() -> bool:
    """True when ``$TT_RNN_OFFLINE`` is ``1``/``true``/``yes``/``on``: loaders then never download
    (as with ``download=False``) and the download functions raise :class:`DataError`."""
    return os.environ.get("TT_RNN_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _refuse_offline(what: str, folder: Path, files, command: str) -> None:
    if offline():
        raise DataError(
            f"{what} files missing in {folder} and downloads are switched off (TT_RNN_OFFLINE="
            f"{os.environ.get('TT_RNN_OFFLINE')}). Expected {', '.join(files)} there. Get them with: "
            f"{command} (without TT_RNN_OFFLINE), or point TT_RNN_DATA at a folder that holds them",
            command=command)


def _synthetic_sums(root: Path) -> dict:
    """md5 sums listed by the synthetic-data manifest at the top of ``root`` (``{}`` when none).

    Only :func:`tt_rnn.fixtures.make_fake_data_dir` writes that manifest; a file whose official md5
    does not match is accepted when, and only when, the manifest lists it with its exact md5."""
    path = Path(root) / SYNTHETIC_MANIFEST
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text())
        if manifest["generator"] != SYNTHETIC_GENERATOR or not isinstance(manifest["md5"], dict):
            raise ValueError
        return {str(k): str(v) for k, v in manifest["md5"].items()}
    except Exception:
        raise DataError(f"{path}: not a synthetic-data manifest written by {SYNTHETIC_GENERATOR} "
                        "(expected JSON with 'generator' and 'md5'); delete it") from None


def _check_files(folder: Path, official: dict, root: Path, what: str, command: str) -> bool:
    """Check ``folder/<name>`` against the ``official`` md5 sums, or the synthetic manifest of ``root``.

    Returns True when the files are synthetic test data; raises :class:`DataError` naming the
    folder, the files expected and ``command`` when a file is missing or its md5 matches neither.
    """
    missing = [name for name in official if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"{what} files missing in {folder}: {', '.join(missing)}. Expected {', '.join(official)} "
            f"there. Get them with: {command} (or point TT_RNN_DATA at a folder that holds them)",
            command=command)
    try:
        rel = folder.relative_to(root)
        synthetic = _synthetic_sums(root)
    except ValueError:  # folder outside root: no manifest applies
        rel, synthetic = None, {}
    bad, fake = [], False
    for name, md5 in official.items():
        actual = _md5(folder / name)
        if actual == md5:
            continue
        if rel is not None and synthetic.get((rel / name).as_posix()) == actual:
            fake = True
            continue
        bad.append(name)
    if bad:
        raise DataError(
            f"{what} files corrupt in {folder} (md5 mismatch): {', '.join(bad)}. Expected md5 sums "
            + ", ".join(f"{n}={official[n]}" for n in bad)
            + (f" (or those in {SYNTHETIC_MANIFEST}, which lists other sums: synthetic test data "
               "changed since it was written)" if any((rel / n).as_posix() in synthetic for n in bad) else "")
            + f". Delete them and get them again with: {command}", command=command)
    return fake


# ----------------------------------------------------------------------------- MNIST

def _mnist_root(data_dir: Path) -> Path:
    """The folder ``R`` with ``R/MNIST/raw`` (torchvision's ``root``), accepting a few spellings."""
    data_dir = Path(data_dir)
    if data_dir.name == "raw" and data_dir.parent.name == "MNIST":
        return data_dir.parent.parent
    if data_dir.name == "MNIST" and (data_dir / "raw").is_dir():
        return data_dir.parent
    return data_dir


def verify_mnist_raw(raw_dir) -> bool:
    """Check the four raw IDX files in ``raw_dir`` (``<root>/MNIST/raw``) against their md5 sums.

    Raises :class:`DataError` for a missing or corrupt file. Returns True when the files are
    synthetic test data accepted through the manifest of :mod:`tt_rnn.fixtures` (module docs).
    """
    raw_dir = Path(raw_dir)
    root = _mnist_root(raw_dir)
    return _check_files(raw_dir, MNIST_FILES, root, "MNIST raw", download_command("mnist", root))


@contextlib.contextmanager
def _remove_new_empty_folders(folder: Path):
    """On an exception, remove the folders on the way to ``folder`` that did not exist before
    and are empty (a failed download leaves no empty directory tree behind)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        yield
    except BaseException:
        for p in missing:  # deepest first
            try:
                p.rmdir()
            except OSError:  # not empty (a partial file worth keeping) or already gone
                pass
        raise


def download_dataset(name: str, data_dir=None) -> Path:
    """Download the exact set ``name`` (``"mnist"``, ``"cifar10"``) with torchvision unless its files are
    there; verify them (md5); return their folder (``MNIST/raw``, ``cifar-10-batches-py``). A failed
    download raises :class:`DataError` naming folder, files and retry command, leaving no empty folders."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")
    data_dir = resolve_data_dir(data_dir)
    if name == "mnist":
        root, fetch, where = _mnist_root(data_dir), torchvision.datasets.MNIST, "MNIST/raw/"
        folder, files, what = root / "MNIST" / "raw", MNIST_FILES, "MNIST raw"
    else:
        root, fetch, where = data_dir, torchvision.datasets.CIFAR10, f"{CIFAR10_DIR}/ or {CIFAR10_ARCHIVE}"
        folder, files, what = data_dir / CIFAR10_DIR, CIFAR10_FILES, "CIFAR-10"
    command = download_command(name, root)
    if not all((folder / f).is_file() for f in files):
        _refuse_offline(what, folder, files, command)
        try:
            with _remove_new_empty_folders(folder):
                fetch(root=str(root), train=True, download=True)
        except Exception as exc:  # offline, read-only directory, server down, ...
            raise DataError(
                f"{what.split()[0]} download into {folder} failed ({_one_line(exc)}). Expected the files "
                f"{', '.join(files)} there. Get them with: {command} on a machine with internet access, "
                f"or point TT_RNN_DATA at a folder that holds {where}", command=command) from exc
    _check_files(folder, files, root, what, command)
    return folder


def _read_idx(path: Path) -> torch.Tensor:
    """An IDX file of unsigned bytes -> uint8 tensor; :class:`DataError` if malformed or truncated."""
    data = path.read_bytes()
    magic = int.from_bytes(data[0:4], "big") if len(data) >= 4 else -1
    if magic < 0 or magic >> 8 != 0x08:  # 0x0000 08 <ndim>: unsigned byte data
        raise DataError(f"{path}: not an unsigned-byte IDX file (magic {magic:#x}, expected 0x801 "
                        "or 0x803)")
    ndim = magic & 0xFF
    offset = 4 + 4 * ndim
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if len(data) != offset + int(np.prod(shape)):
        raise DataError(f"{path}: truncated or padded IDX file: header says shape {shape} "
                        f"({offset + int(np.prod(shape))} bytes), file has {len(data)} bytes")
    arr = np.frombuffer(data, dtype=np.uint8, offset=offset)
    return torch.from_numpy(arr.reshape(shape).copy())


def load_mnist(data_dir=None, download: bool = True) -> ImageData:
    """MNIST (60,000 train / 10,000 test, ``(N, 1, 28, 28)`` uint8) from ``data_dir`` (module docs).

    Missing files are downloaded first when ``download`` is true (:func:`download_dataset`);
    missing or corrupt files raise :class:`DataError`.
    """
    root = _mnist_root(resolve_data_dir(data_dir))
    raw = root / "MNIST" / "raw"
    if download and not offline():
        download_dataset("mnist", root)
    synthetic = verify_mnist_raw(raw)
    tr_x, tr_y, te_x, te_y = (_read_idx(raw / name) for name in MNIST_FILES)
    for x, y, split in ((tr_x, tr_y, "train"), (te_x, te_y, "t10k")):
        if x.dim() != 3 or tuple(x.shape[1:]) != (28, 28) or y.dim() != 1 or len(y) != len(x):
            raise DataError(f"{raw}: {split} images {tuple(x.shape)} and labels {tuple(y.shape)} "
                            "do not form an MNIST split (N, 28, 28) / (N,)")
    label = "MNIST" + (SYNTHETIC_SUFFIX if synthetic else "")
    return ImageData("mnist", label, not synthetic, tr_x.unsqueeze(1), tr_y.long(), te_x.unsqueeze(1),
                     te_y.long(), tuple(str(i) for i in range(10)), MNIST_MEAN, MNIST_STD,
                     source=str(raw), extra={"synthetic": True} if synthetic else {},
                     files=tuple(raw / name for name in MNIST_FILES))


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
    decoded = [_decode(data) for _, _, data in items]
    sizes = sorted({tuple(x.shape) for x in decoded})
    if len(sizes) > 1:
        raise DataError(f"{where}: images of different sizes {sizes[:4]}; expected one size")
    images = torch.stack(decoded)
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
    splits, files = {}, []
    for split in ("train", "test"):
        folder = root / split
        if not folder.is_dir():
            raise DataError(f"ImageFolder {root}: missing folder {split}/ (expected "
                            f"{split}/<class>/*.jpg for classes {list(classes)})")
        paths = sorted(p for p in folder.glob("*/*") if p.suffix.lower() in _IMAGE_EXT)
        files += paths
        splits[split] = _stack_split([(p.parent.name, p.name, p.read_bytes()) for p in paths], classes,
                                     str(folder))
    return ImageData(name, label, exact, *splits["train"], *splits["test"], tuple(classes),
                     tuple(mean), tuple(std), source=str(root), files=tuple(files))


def _decode_tar(archive: Path, classes) -> dict:
    splits = {"train": [], "test": []}
    try:
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
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive}: unreadable archive ({_one_line(exc)}); expected a tar.gz of "
                        "train/<class>/*.jpg and test/<class>/*.jpg. Delete it, or get the exact "
                        f"set with: {download_command('cifar10', archive.parent)}",
                        command=download_command("cifar10", archive.parent)) from None
    out = {}
    for split, items in splits.items():
        images, labels = _stack_split(items, classes, f"{archive}:{split}/")
        out[f"{split}_images"], out[f"{split}_labels"] = images, labels
    return out


def verify_cifar10_batches(data_dir=None) -> bool:
    """Check ``<data_dir>/cifar-10-batches-py`` against torchvision's md5 sums (:data:`CIFAR10_FILES`).

    Raises :class:`DataError` for a missing or corrupt file; returns True for synthetic test data
    accepted through the manifest of :mod:`tt_rnn.fixtures` (module docs)."""
    data_dir = resolve_data_dir(data_dir)
    return _check_files(data_dir / CIFAR10_DIR, CIFAR10_FILES, data_dir, "CIFAR-10",
                        download_command("cifar10", data_dir))


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")  # md5-checked before, as torchvision does
    except Exception as exc:
        raise DataError(f"{path}: unreadable CIFAR-10 pickle ({_one_line(exc)})") from None
    if not isinstance(entry, dict):
        raise DataError(f"{path}: a CIFAR-10 pickle holds a dict, this one a {type(entry).__name__}")
    return entry


def _load_cifar10_batches(data_dir: Path) -> ImageData:
    """``<data_dir>/cifar-10-batches-py`` (md5-checked) -> :class:`ImageData`, read like torchvision."""
    batches = data_dir / CIFAR10_DIR
    synthetic = verify_cifar10_batches(data_dir)
    meta = _unpickle(batches / "batches.meta")
    if tuple(meta.get("label_names", ())) != CIFAR10_CLASSES:
        raise DataError(f"{batches}/batches.meta: classes {meta.get('label_names')}, expected "
                        f"{list(CIFAR10_CLASSES)}")
    splits = {}
    for split, names in (("train", [f"data_batch_{i}" for i in range(1, 6)]), ("test", ["test_batch"])):
        xs, ys = [], []
        for name in names:
            entry = _unpickle(batches / name)
            x, y = np.asarray(entry.get("data")), np.asarray(entry.get("labels"))
            if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or y.shape != (len(x),) \
                    or (len(y) and (y.min() < 0 or y.max() > 9)):
                raise DataError(f"{batches / name}: expected 'data' uint8 (N, 3072) and 'labels' "
                                f"in 0..9 of length N; got data {x.dtype} {x.shape}, labels {y.shape}")
            xs.append(x)
            ys.append(y)
        images = torch.from_numpy(np.concatenate(xs).reshape(-1, 3, 32, 32).copy())
        splits[split] = (images, torch.from_numpy(np.concatenate(ys).astype(np.int64)))
    label = "CIFAR-10" + (SYNTHETIC_SUFFIX if synthetic else "")
    return ImageData("cifar10", label, not synthetic, *splits["train"], *splits["test"],
                     CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, source=str(batches),
                     extra={"synthetic": True} if synthetic else {},
                     files=tuple(batches / name for name in CIFAR10_FILES))


def _check_listed(root: Path, folder: Path) -> bool:
    """True when the synthetic manifest of ``root`` lists files under ``folder``; those files
    must then match their recorded md5 (:class:`DataError` otherwise)."""
    prefix = "" if folder == root else folder.relative_to(root).as_posix() + "/"
    listed = {k: v for k, v in _synthetic_sums(root).items()
              if k.startswith(prefix) and k[len(prefix):].split("/")[0] in ("train", "test")}
    bad = [k for k, v in listed.items() if not (root / k).is_file() or _md5(root / k) != v]
    if bad:
        raise DataError(f"{folder}: {len(bad)} synthetic test file(s) missing or changed since "
                        f"{SYNTHETIC_MANIFEST} was written (e.g. {bad[0]}); generate them again")
    return bool(listed)


def _mark_synthetic(data: ImageData, listed: bool) -> ImageData:
    if listed:
        data.label, data.exact = data.label + SYNTHETIC_SUFFIX, False
        data.extra["synthetic"] = True
    return data


def _load_cifar10_archive(archive: Path, cache_dir: Path) -> ImageData:
    """The JPEG archive, decoded once into ``cache_dir/cifar10-jpeg.pt`` (keyed by the archive's md5)."""
    archive_md5 = _md5(archive)
    root = archive.parent
    listed = _synthetic_sums(root).get(archive.name)
    if listed is not None and listed != archive_md5:
        raise DataError(f"{archive}: md5 {archive_md5} differs from {listed} recorded by "
                        f"{SYNTHETIC_MANIFEST} (synthetic test data damaged); generate it again")
    cache = cache_dir / "cifar10-jpeg.pt"
    tensors = None
    if cache.is_file():
        try:
            loaded = torch.load(cache, map_location="cpu", weights_only=True)
            tensors = loaded if loaded.get("archive_md5") == archive_md5 else None
        except Exception:  # an unreadable cache is rebuilt
            tensors = None
    if tensors is None:
        print(f"decoding {archive.name} once into {portable_path(cache)} (every JPEG of the archive; about a minute "
              "for CIFAR-10; later loads read the cache)", file=sys.stderr, flush=True)
        tensors = _decode_tar(archive, CIFAR10_CLASSES)
        tensors["archive_md5"] = archive_md5
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".tmp{os.getpid()}")
            torch.save(tensors, tmp)
            os.replace(tmp, cache)
        except OSError:  # no writable cache: decode again next time
            pass
    data = ImageData("cifar10", "CIFAR-10 (JPEG copy)", False, tensors["train_images"],
                     tensors["train_labels"], tensors["test_images"], tensors["test_labels"],
                     CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, source=str(archive),
                     extra={"cache": str(cache)}, files=(archive,))
    return _mark_synthetic(data, listed is not None)


def load_cifar10(data_dir=None, cache_dir=None, download: bool = True) -> ImageData:
    """CIFAR-10 as :class:`ImageData` (``(N, 3, 32, 32)`` uint8), from the first source found:

    1. ``<data_dir>/cifar-10-batches-py``, the exact set (md5-checked; downloaded first with
       torchvision when missing and ``download`` is true);
    2. an ImageFolder tree in ``<data_dir>``, ``<data_dir>/cifar10`` or ``<data_dir>/cifar10-jpeg``;
    3. ``<data_dir>/cifar10-jpeg.tar.gz``, decoded once into ``<cache_dir>/cifar10-jpeg.pt``
       (``cache_dir`` as by :func:`resolve_cache_dir`; later calls read the cache).

    The JPEG sources are labelled ``"CIFAR-10 (JPEG copy)"`` (``exact=False``). When a download
    failed and a JPEG copy is used instead, ``extra["download_error"]`` says why; when there is
    no source at all, :class:`DataError` names the directory, the files and the download command.
    """
    data_dir = resolve_data_dir(data_dir)
    batches = data_dir / CIFAR10_DIR
    download_error = None
    if download and not offline() and not all((batches / name).is_file() for name in CIFAR10_FILES):
        try:
            download_dataset("cifar10", data_dir)
        except DataError as exc:  # offline: fall back to a JPEG copy if there is one
            download_error = exc
    if batches.is_dir():
        return _load_cifar10_batches(data_dir)  # md5-checked; DataError if incomplete or corrupt

    fallback = None
    for folder in (data_dir, data_dir / "cifar10", data_dir / "cifar10-jpeg"):
        if (folder / "train" / CIFAR10_CLASSES[0]).is_dir() and (folder / "test").is_dir():
            fallback = _mark_synthetic(load_image_folder(folder), _check_listed(data_dir, folder))
            break
    archive = data_dir / CIFAR10_ARCHIVE
    if fallback is None and archive.is_file():
        fallback = _load_cifar10_archive(archive, resolve_cache_dir(cache_dir, data_dir))
    if fallback is not None:
        if download_error is not None:
            fallback.extra["download_error"] = _one_line(download_error.__cause__ or download_error)
        return fallback

    command = download_command("cifar10", data_dir)
    why = f" The download failed: {_one_line(download_error.__cause__ or download_error)}." \
        if download_error is not None else ""
    raise DataError(
        f"CIFAR-10 not found in {data_dir}: expected one of {CIFAR10_DIR}/ (torchvision's files "
        f"{', '.join(CIFAR10_FILES)}), an ImageFolder tree train/<class>/*.jpg + test/<class>/*.jpg "
        f"with classes {list(CIFAR10_CLASSES)}, or {CIFAR10_ARCHIVE}.{why} Get the exact set with: "
        f"{command} (or point TT_RNN_DATA at a folder that holds one of these)", command=command)


def load_dataset(name: str, data_dir=None, cache_dir=None, download: bool | None = None) -> ImageData:
    """``"mnist"`` or ``"cifar10"`` (see :func:`load_mnist`, :func:`load_cifar10`); ``download``
    ``None`` means True (download what is missing)."""
    key = str(name).lower().replace("-", "")
    download = True if download is None else bool(download)
    if key == "mnist":
        return load_mnist(data_dir, download=download)
    if key == "cifar10":
        return load_cifar10(data_dir, cache_dir, download=download)
    raise ValueError(f"unknown dataset {name!r}; choose one of {DATASETS}")


# ----------------------------------------------------------------------------- command line

def _build_parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m tt_rnn.data",
                     description="Download or check the MNIST / CIFAR-10 files in the data directory "
                                 "(--data-dir, else $TT_RNN_DATA, else ./data).")
    sub = parser.add_subparsers(dest="action", required=True, metavar="{download,check}")
    for action, text in (("download", "download what is missing (torchvision, md5-checked)"),
                         ("check", "load each data set without downloading and print what was found")):
        p = sub.add_parser(action, help=text, description=text)
        p.add_argument("dataset", choices=(*DATASETS, "all"), nargs=None if action == "download" else "?",
                       default="all", help="which data set" + (" (default: all)" if action == "check" else ""))
        p.add_argument("--data-dir", default=None, help="data directory (default $TT_RNN_DATA, else ./data)")
        p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser


def _describe(data: ImageData) -> str:
    return (f"{data.label}: {len(data.train_labels):,} train / {len(data.test_labels):,} test "
            f"images {data.in_channels}x{data.image_size[0]}x{data.image_size[1]}, from {data.source}")


def main(argv=None) -> int:
    """``python -m tt_rnn.data {download,check} [dataset] [--data-dir DIR] [--debug]``.

    Prints one line per data set on stdout; an error is one line ``error: ...`` on stderr with
    exit status 2 (``--debug`` re-raises it with its traceback)."""
    try:
        args = _build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error, already printed as one line (2)
        return exc.code
    names = DATASETS if args.dataset == "all" else (args.dataset,)
    failed = 0
    for name in names:  # every data set is reported, also after one is missing
        try:
            if args.action == "download":
                folder = download_dataset(name, args.data_dir)
                files = MNIST_FILES if name == "mnist" else CIFAR10_FILES
                print(f"{name}: {len(files)} files in {folder} (md5 verified)")
            else:
                print(f"{name}: {_describe(load_dataset(name, args.data_dir, download=False))}")
        except (DataError, OSError, ValueError) as exc:
            if args.debug:
                raise
            print(f"error: {name}: {' '.join(str(exc).split())}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
