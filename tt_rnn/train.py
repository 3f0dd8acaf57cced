"""Train and evaluate score-function networks (CP, TT, TT shared, HT) on image data sets.

Python::

    from tt_rnn.train import TrainConfig, train
    results, model = train(TrainConfig(dataset="mnist", model="tt-shared", rank=32, m=32, epochs=10))

Command line (writes the results file; ``--help`` lists every option)::

    python -m tt_rnn.train --dataset mnist --model tt-shared --rank 32 --m 32 --epochs 10 \\
        --features conv --dropout 0.1 --augment shift --results-path results/mnist/run.json
    python -m tt_rnn.train --list-configs mnist/          # the named experiments (tt_rnn.experiments)
    python -m tt_rnn.train --config mnist/best/tt-shared_r32_m32_mlp256 --resume

What a run does
---------------
* Data: the whole data set in memory as uint8 tensors (:mod:`tt_rnn.data`), moved once to the
  device. ``val_size > 0`` carves a fixed validation split out of the training set (seeded by
  ``split_seed``, the same for every run and model); the rest is the training set, optionally
  subsampled (``train_subset``). Minibatches by a seeded permutation; augmentation on whole
  batches (``shift``: random translations by up to ``shift`` px; ``crop-flip``: random crop with
  padding ``shift`` + horizontal flip), then per-channel normalisation.
* Model: ``make_feature_map`` + ``make_network`` in a :class:`~tt_rnn.networks.ScoreClassifier`;
  cross-entropy on the networks' rescaled logits (see :mod:`tt_rnn.networks`).
* Optimiser: Adam (AdamW when ``weight_decay > 0``) with a per-step schedule: ``cosine``
  (optional linear warm-up), ``onecycle`` or ``constant``; optional gradient clipping.
* Every epoch: evaluation on the validation split (if any) and the test set, a checkpoint
  ``<checkpoint_dir>/last.pt`` (model, optimiser, scheduler, RNG states, history) and the results
  JSON rewritten, so an interrupted run loses nothing. ``resume=True`` continues from the
  checkpoint exactly (CPU, same seed). The test set is evaluated for reporting only.
* A NaN/Inf training loss (or non-finite parameters) raises :class:`NonFiniteLossError` naming
  the epoch and step; the last good checkpoint is kept and the results file is written with the
  history so far and ``status = "diverged"``.

Reported ``train_loss`` / ``train_acc`` are running means over the epoch's minibatches (in
training mode: with dropout and augmentation); ``val_*`` and ``test_*`` are computed in
evaluation mode on the whole split after each epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import shlex
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import DATASETS, ImageData, augment_batch, load_dataset, minibatch_indices, normalize
from .features import FEATURE_MAPS, make_feature_map
from .initializers import INIT_SCHEMES, initialize
from .networks import NETWORK_KINDS, XI_KINDS, ScoreClassifier, count_parameters, make_network
from .results import portable_path, write_json

__all__ = ["TrainConfig", "NonFiniteLossError", "train", "evaluate", "build_model", "run_name",
           "results_path", "checkpoint_path", "validation_split", "resolve_device", "config_to_cli",
           "AUGMENTATIONS", "SCHEDULES", "PRODUCTS", "main"]

AUGMENTATIONS = ("none", "shift", "crop-flip")
SCHEDULES = ("cosine", "onecycle", "constant")
PRODUCTS = ("auto", "sequential", "tree")


@dataclass
class TrainConfig:
    """Everything that defines a run (stored in the results file; see :func:`validate`)."""

    # data
    dataset: str = "mnist"              # tt_rnn.data.DATASETS
    data_dir: str | None = None         # else $TT_RNN_DATA, else ./data
    cache_dir: str | None = None        # else $TT_RNN_CACHE, else the data module's default
    download: bool | None = None        # None: the loader's default (download when missing)
    val_size: int = 0                   # validation images carved from the training set
    split_seed: int = 0                 # seed of the validation split (fixed across runs)
    train_subset: int | None = None     # use n random training images (after the split)
    test_subset: int | None = None      # use n random test images (seeded)
    augment: str = "none"               # AUGMENTATIONS
    shift: int = 2                      # max shift (px) / crop padding for augmentation
    # model
    model: str = "tt-shared"            # tt_rnn.networks.NETWORK_KINDS
    xi: str = "product"                 # generalized product of the network (XI_KINDS)
    rank: int = 32
    m: int = 32                         # feature size = TT mode size
    patch_size: int = 7
    features: str = "linear"            # tt_rnn.features.FEATURE_MAPS
    hidden: int = 32                    # hidden width of the conv / mlp feature map
    dropout: float = 0.0                # dropout on the patch features
    product: str = "auto"               # TT product: PRODUCTS (auto: CPU sequential, CUDA tree)
    # initialisation: "identity" starts every format near the identity (tt_rnn.initializers) and
    # needs the constant feature f[m-1] = 1 (m - 1 learned features + 1); defaults = the classic runs
    init: str = "random"                # tt_rnn.initializers.INIT_SCHEMES
    constant_feature: bool = False      # last feature is the constant 1 (tt_rnn.features)
    init_noise: float = 1.0             # scale of the perturbation of init "identity" (``noise``)
    # optimisation
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    schedule: str = "cosine"            # SCHEDULES
    warmup_epochs: float = 0.0          # linear warm-up (cosine schedule)
    weight_decay: float = 0.0           # > 0: AdamW (decoupled)
    grad_clip: float | None = None      # clip the gradient norm
    label_smoothing: float = 0.0
    # execution
    seed: int = 0
    device: str = "auto"                # "auto" | "cpu" | "cuda" | "cuda:1" ...
    amp: bool = False                   # bfloat16 autocast (CUDA only)
    num_threads: int | None = None      # torch.set_num_threads (CPU)
    eval_batch_size: int = 1000
    # files
    checkpoint_dir: str | None = None   # default checkpoints/<dataset>/<run name>
    results_path: str | None = None     # default results/<dataset>/<run name>.json
    resume: bool = False                # continue from <checkpoint_dir>/last.pt if present
    progress: bool = True               # tqdm bars (epoch and batch)
    name: str | None = None             # run name (default: from the config)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def validate(self) -> "TrainConfig":
        """Raise ``ValueError`` naming the first field whose value cannot work; return ``self``."""
        choices = {"dataset": DATASETS, "model": NETWORK_KINDS, "xi": XI_KINDS, "features": tuple(FEATURE_MAPS),
                   "augment": AUGMENTATIONS, "schedule": SCHEDULES, "product": PRODUCTS, "init": INIT_SCHEMES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} = {getattr(self, name)!r} is not one of {', '.join(allowed)}")
        at_least = {"rank": 1, "m": 1, "patch_size": 1, "hidden": 1, "epochs": 1, "batch_size": 1,
                    "eval_batch_size": 1, "shift": 0, "val_size": 0, "train_subset": 1, "test_subset": 1,
                    "num_threads": 1}
        for name, low in at_least.items():
            value = getattr(self, name)
            if value is None and name in ("train_subset", "test_subset", "num_threads"):
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} = {value!r}: must be an integer >= {low}")
        if not self.lr > 0:
            raise ValueError(f"lr = {self.lr!r}: must be > 0")
        if self.init == "identity" and not self.constant_feature:
            raise ValueError("init = 'identity' reads the constant feature f[m-1] = 1: set constant_feature "
                             "= True (--constant-feature), or use init = 'random'")
        if self.constant_feature and self.m < 2:
            raise ValueError(f"m = {self.m!r}: constant_feature = True needs m >= 2")
        for name in ("dropout", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)!r}: must be in [0, 1)")
        for name in ("warmup_epochs", "weight_decay", "init_noise"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} = {getattr(self, name)!r}: must be >= 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip = {self.grad_clip!r}: must be > 0 (or None for no clipping)")
        return self


class NonFiniteLossError(FloatingPointError):
    """The training loss (or a parameter) became NaN/Inf; the message names epoch and step."""


# ----------------------------------------------------------------------------- paths and records

def run_name(config: TrainConfig) -> str:
    """A file-name-safe run name derived from the config (``config.name`` wins)."""
    if config.name:
        return config.name.replace("/", "_")
    parts = [config.model, f"r{config.rank}", f"m{config.m}", f"k{config.patch_size}", config.features]
    if config.xi != "product":
        parts.append(config.xi)
    if config.init != "random":
        parts.append(f"{config.init}{config.init_noise:g}")
    if config.constant_feature:
        parts.append("const")
    if config.val_size:
        parts.append(f"val{config.val_size}")
    if config.dropout:
        parts.append(f"do{config.dropout:g}")
    if config.augment != "none":
        parts.append(f"{config.augment}{config.shift}")
    parts += [f"e{config.epochs}", f"s{config.seed}"]
    if config.train_subset:
        parts.append(f"n{config.train_subset}")
    return "_".join(parts)


def results_path(config: TrainConfig) -> Path:
    """Where the run's results JSON goes (``config.results_path``, else a name from the config)."""
    return Path(config.results_path) if config.results_path else \
        Path("results") / config.dataset / f"{run_name(config)}.json"


def checkpoint_path(config: TrainConfig) -> Path:
    """The run's checkpoint file ``<checkpoint_dir>/last.pt``."""
    folder = Path(config.checkpoint_dir) if config.checkpoint_dir else \
        Path("checkpoints") / config.dataset / run_name(config)
    return folder / "last.pt"


def resolve_device(device: str = "auto") -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _versions() -> dict:
    import torchvision
    return {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


_PATH_FIELDS = ("data_dir", "cache_dir", "checkpoint_dir", "results_path")


def _portable_config(config: TrainConfig) -> TrainConfig:
    return config.replace(**{f: portable_path(getattr(config, f)) for f in _PATH_FIELDS})


def config_to_cli(config: TrainConfig) -> str:
    """The ``python -m tt_rnn.train`` command line equivalent to ``config`` (non-default fields;
    paths as stored in results files)."""
    config = _portable_config(config)
    args = ["python", "-m", "tt_rnn.train"]
    for f in dataclasses.fields(TrainConfig):
        value = getattr(config, f.name)
        if value == f.default:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif value is not None:
            args += [flag, str(value)]
    return " ".join(shlex.quote(a) for a in args)


def _portable_args(argv) -> list[str]:
    """Command-line arguments with every absolute path made portable (see :func:`portable_path`)."""
    return [portable_path(a) if os.path.isabs(a) else a for a in argv]


def validation_split(n: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train, val)`` of a seeded split of ``n`` training images: ``val_size`` images for
    validation, the rest for training (both sorted). The same ``(n, val_size, seed)`` always gives
    the same split, whatever the model or the run's own seed."""
    if not 0 <= val_size < n:
        raise ValueError(f"val_size = {val_size}: must be in [0, {n}) for a training set of {n} images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[val_size:].sort().values, order[:val_size].sort().values


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- model

def build_model(config: TrainConfig, in_channels: int, num_classes: int, image_size=(28, 28),
                device=None) -> ScoreClassifier:
    """Feature map (per patch) + score network, as in the config.

    ``config.constant_feature`` makes the last feature the constant 1; ``config.init =
    "identity"`` then re-initialises the network near the identity (:func:`tt_rnn.initializers.initialize`)
    from a generator seeded by ``config.seed``. ``init = "random"`` draws nothing more (the classic
    models are unchanged)."""
    h, w = image_size
    k = config.patch_size
    if h % k or w % k:
        raise ValueError(f"image size {h}x{w} is not divisible by patch_size = {k}")
    d = (h // k) * (w // k)
    extra = {} if config.features == "linear" else {"hidden": config.hidden}
    if config.constant_feature:
        extra["constant_feature"] = True
    fmap = make_feature_map(config.features, k, in_channels, config.m, dropout=config.dropout, **extra)
    kwargs = {"xi": config.xi}
    if config.model in ("tt", "tt-shared"):
        product = config.product
        if product == "auto":
            product = "tree" if resolve_device(config.device).type == "cuda" else "sequential"
        kwargs["product"] = product
    net = make_network(config.model, d, config.m, config.rank, num_classes, **kwargs)
    if config.init != "random":
        initialize(net, config.init, noise=config.init_noise,
                   generator=torch.Generator().manual_seed(config.seed))
    model = ScoreClassifier(fmap, net)
    return model.to(device) if device is not None else model


def _make_optimizer(config: TrainConfig, model: nn.Module):
    if config.weight_decay > 0:
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.lr)


def _make_scheduler(config: TrainConfig, optimizer, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "onecycle":
        if total < 3:
            raise ValueError(f"schedule = 'onecycle' needs at least 3 optimizer steps, got {total} "
                             f"(epochs x batches per epoch); use schedule = 'cosine', or more epochs or data")
        # a quarter of the steps warm up; at least 2 of them on tiny runs (torch divides by the count - 1)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total,
                                                   pct_start=max(0.25, 2 / total))
    if config.schedule == "cosine":
        warm = int(round(config.warmup_epochs * steps_per_epoch))

        def factor(step):
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


# ----------------------------------------------------------------------------- evaluation

@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, mean, std,
             batch_size: int = 1000, device=None, amp: bool = False) -> dict:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode) on uint8 ``images``.

    Returns ``{"loss": float, "acc": float, "n": int, "correct": int}``. The model's training
    mode is restored afterwards.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_loss, correct, n = 0.0, 0, len(labels)
    try:
        for start in range(0, n, batch_size):
            x = normalize(images[start:start + batch_size].to(device), mean, std)
            y = labels[start:start + batch_size].to(device)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16,
                                enabled=amp and device.type == "cuda"):
                logits = model(x)
            logits = logits.float()
            total_loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
    finally:
        model.train(was_training)
    return {"loss": total_loss / n, "acc": correct / n, "n": n, "correct": correct}


# ----------------------------------------------------------------------------- run state

class _Generators:
    """The run's random streams: global torch RNG, minibatch order, augmentation."""

    def __init__(self, seed: int, device: torch.device):
        self.device = device
        self.shuffle = torch.Generator().manual_seed(seed)
        self.augment = torch.Generator().manual_seed(seed + 1)

    def state(self) -> dict:
        state = {"torch": torch.get_rng_state(), "shuffle": self.shuffle.get_state(),
                 "augment": self.augment.get_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def restore(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        self.shuffle.set_state(state["shuffle"])
        self.augment.set_state(state["augment"])
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.device)


def _save_checkpoint(path, model, optimizer, scheduler, rngs, epoch, history, wall, config) -> None:
    _atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                  "scheduler": scheduler.state_dict(), "rng": rngs.state(), "epoch": epoch,
                  "history": history, "wall_time_s": wall,
                  "config": asdict(_portable_config(config))}, path)


def _load_checkpoint(path, model, optimizer, scheduler, rngs, device) -> dict:
    ckpt = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    rngs.restore(ckpt["rng"])
    return ckpt


def _prepare_data(config: TrainConfig, data: ImageData | None):
    """The training, validation and test splits of the run, and a description for the record."""
    if data is None:
        data = load_dataset(config.dataset, config.data_dir, config.cache_dir, config.download)
    split = {"val_size": config.val_size, "split_seed": config.split_seed}
    val = None
    if config.val_size:
        train_idx, val_idx = validation_split(len(data.train_labels), config.val_size, config.split_seed)
        val = (data.train_images[val_idx], data.train_labels[val_idx])
        data = dataclasses.replace(data, train_images=data.train_images[train_idx],
                                   train_labels=data.train_labels[train_idx])
        split["val_indices_sha1"] = hashlib.sha1(val_idx.numpy().tobytes()).hexdigest()[:16]
    if config.train_subset or config.test_subset:
        data = data.subset(config.train_subset, config.test_subset, seed=config.seed)
    split.update(n_train=int(len(data.train_labels)), n_val=0 if val is None else int(len(val[1])),
                 n_test=int(len(data.test_labels)))
    return data, val, split


# ----------------------------------------------------------------------------- training

def train(config: TrainConfig | dict | None = None, data: ImageData | None = None,
          on_epoch_end=None, *, command: str | None = None, **overrides) -> tuple[dict, ScoreClassifier]:
    """Train as ``config`` says; return ``(results, model)``. The results dict is also written to
    the results file after every epoch.

    ``data``: an :class:`~tt_rnn.data.ImageData` already loaded (else loaded from the config;
    the split and subset sizes apply either way). ``on_epoch_end(epoch, model, record)`` is called
    after each epoch's checkpoint and results file are written. ``command``: the command line
    that started the run, stored in the results (default: the equivalent ``python -m
    tt_rnn.train`` line). Keyword ``overrides`` replace config fields.
    """
    # ---- set-up
    config = TrainConfig(**config) if isinstance(config, dict) else (config or TrainConfig())
    config = config.replace(**overrides).validate()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    amp = bool(config.amp and device.type == "cuda")
    out_path, ckpt_path = results_path(config), checkpoint_path(config)

    data, val, split = _prepare_data(config, data)
    train_x, train_y = data.train_images.to(device), data.train_labels.to(device)
    splits = {"val": val, "test": (data.test_images, data.test_labels)}

    torch.manual_seed(config.seed)
    model = build_model(config, data.in_channels, data.num_classes, data.image_size, device)
    model.network.check_finite = False  # non-finite values surface as a non-finite loss below
    optimizer = _make_optimizer(config, model)
    steps_per_epoch = math.ceil(len(train_y) / config.batch_size)
    scheduler = _make_scheduler(config, optimizer, steps_per_epoch)
    rngs = _Generators(config.seed, device)

    history, start_epoch, wall, resumed_from = [], 1, 0.0, None
    if config.resume and ckpt_path.is_file():
        ckpt = _load_checkpoint(ckpt_path, model, optimizer, scheduler, rngs, device)
        history, start_epoch, wall = ckpt["history"], ckpt["epoch"] + 1, ckpt.get("wall_time_s", 0.0)
        resumed_from = {"path": portable_path(ckpt_path), "epoch": ckpt["epoch"]}
    else:  # the initial state: a "last good checkpoint" from the start
        _save_checkpoint(ckpt_path, model, optimizer, scheduler, rngs, 0, history, 0.0, config)

    results = {
        "config": asdict(_portable_config(config)), "name": run_name(config),
        "dataset": {**data.metadata(), "source": portable_path(data.source), "n_train": split["n_train"]},
        "dataset_label": data.label, "split": split, "n_test": split["n_test"],
        "params": count_parameters(model), "params_network": count_parameters(model.network),
        "params_features": count_parameters(model.feature_map), "d": model.network.d,
        "device": str(device), "device_name": _device_name(device), "versions": _versions(),
        "command": command or config_to_cli(config),
        "cli_equivalent": config_to_cli(config),
        "results_path": portable_path(out_path), "checkpoint": portable_path(ckpt_path),
        "resumed_from": resumed_from, "history": history, "status": "running", "wall_time_s": wall,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    results["dataset"].pop("cache", None)

    def record(status: str, error: str | None = None) -> None:
        results.update(status=status, error=error, history=history, wall_time_s=wall,
                       finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        if history:
            last = history[-1]
            results.update(final_test_acc=last["test_acc"], final_test_loss=last["test_loss"],
                           final_train_acc=last["train_acc"], epochs_done=last["epoch"],
                           final_val_acc=last.get("val_acc"))
        write_json(results, out_path)

    def diverged(what: str, epoch: int, where: str) -> NonFiniteLossError:
        good = history[-1]["epoch"] if history else 0
        msg = (f"{what} at epoch {epoch}, {where}; stopped. The last good checkpoint (epoch {good}) "
               f"is kept at {portable_path(ckpt_path)}; results so far in {portable_path(out_path)}.")
        record("diverged", msg)
        return NonFiniteLossError(msg)

    bar = _progress(config)
    model.train()
    # ---- loop
    for epoch in bar(range(start_epoch, config.epochs + 1), desc=run_name(config), unit="epoch"):
        t0 = time.perf_counter()
        batches = minibatch_indices(len(train_y), config.batch_size, rngs.shuffle, shuffle=True)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        for step, idx in enumerate(bar(batches, desc=f"epoch {epoch}", unit="batch", leave=False), start=1):
            idx = idx.to(device)
            xb = augment_batch(train_x[idx], config.augment, config.shift, rngs.augment)
            xb, yb = normalize(xb, data.mean, data.std), train_y[idx]
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                logits = model(xb)
            loss = nn.functional.cross_entropy(logits.float(), yb, label_smoothing=config.label_smoothing)
            if not bool(torch.isfinite(loss)):
                wall += time.perf_counter() - t0
                raise diverged(f"non-finite training loss ({float(loss.detach())})", epoch,
                               f"step {step} of {len(batches)} (lr {scheduler.get_last_lr()[0]:.3g})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
        train_time = time.perf_counter() - t0
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            wall += time.perf_counter() - t0
            raise diverged("non-finite parameters", epoch, f"after step {len(batches)}")
        # ---- record
        entry = {"epoch": epoch, "train_loss": float(loss_sum) / len(train_y),
                 "train_acc": int(correct) / len(train_y)}
        for split_name, images_labels in splits.items():
            if images_labels is not None:
                ev = evaluate(model, *images_labels, mean=data.mean, std=data.std,
                              batch_size=config.eval_batch_size, device=device, amp=amp)
                entry.update({f"{split_name}_loss": ev["loss"], f"{split_name}_acc": ev["acc"]})
        epoch_time = time.perf_counter() - t0
        wall += epoch_time
        entry.update(lr=scheduler.get_last_lr()[0], train_time_s=train_time, epoch_time_s=epoch_time,
                     train_samples_per_s=len(train_y) / train_time)
        history.append(entry)
        _save_checkpoint(ckpt_path, model, optimizer, scheduler, rngs, epoch, history, wall, config)
        record("running" if epoch < config.epochs else "completed")
        if on_epoch_end is not None:
            on_epoch_end(epoch, model, entry)
    if start_epoch > config.epochs:  # resumed a finished run
        record("completed")
    return results, model


def _progress(config: TrainConfig):
    """``bar(iterable, **kw)``: a tqdm bar when ``config.progress``, else the iterable itself."""
    if not config.progress:
        return lambda iterable, **kw: iterable
    from tqdm import tqdm
    return lambda iterable, **kw: tqdm(iterable, dynamic_ncols=True, mininterval=1.0, **kw)


# ----------------------------------------------------------------------------- CLI

class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one ``error: ...`` line on stderr (exit status 2)."""

    def error(self, message):
        self.exit(2, f"error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="python -m tt_rnn.train", argument_default=argparse.SUPPRESS,
                       description="Train a CP / TT / TT-shared / HT score network; writes a results JSON. "
                                   "Bad arguments and failures are one 'error:' line, exit status 2.")
    p.add_argument("--config", metavar="NAME", help="start from a named experiment of tt_rnn.experiments "
                   "(the flags below override its fields)")
    p.add_argument("--list-configs", nargs="?", const="", metavar="PREFIX",
                   help="print the names of the named experiments (starting with PREFIX) and exit")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error "
                   "(also: environment variable TT_RNN_DEBUG=1)")
    choices = {"dataset": DATASETS, "model": NETWORK_KINDS, "xi": XI_KINDS, "features": tuple(FEATURE_MAPS),
               "augment": AUGMENTATIONS, "schedule": SCHEDULES, "product": PRODUCTS}
    optional = {"train_subset": int, "test_subset": int, "num_threads": int, "grad_clip": float}
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool) or f.name == "download":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, help=f"(default: {f.default})")
        else:
            typ = optional.get(f.name) or (type(f.default) if f.default is not None else str)
            p.add_argument(flag, type=typ, choices=choices.get(f.name), help=f"(default: {f.default})")
    return p


def main(argv=None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = vars(parser.parse_args(argv))
    command = " ".join(["python", "-m", "tt_rnn.train"] + [shlex.quote(a) for a in _portable_args(argv)])
    debug = args.pop("debug", False) or os.environ.get("TT_RNN_DEBUG") not in (None, "", "0")
    try:
        from . import experiments
        if "list_configs" in args:
            print("\n".join(name for name in experiments.EXPERIMENTS if name.startswith(args["list_configs"])))
            return 0
        base = experiments.get(args.pop("config")) if "config" in args else TrainConfig()
        config = base.replace(**args)
        results, _ = train(config, command=command)
    except Exception as exc:  # one line for every failure; --debug shows where
        if debug:
            traceback.print_exc()
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    last = results["history"][-1] if results["history"] else {}
    print(json.dumps({"results": str(results_path(config)), "status": results["status"],
                      "params": results["params"], "val_acc": last.get("val_acc"),
                      "test_acc": last.get("test_acc"), "epochs": last.get("epoch"),
                      "wall_time_s": round(results["wall_time_s"], 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
