"""Train and evaluate score-function networks (CP, TT, TT shared, HT) on image data sets.

Python::

    from tt_rnn.train import TrainConfig, train
    results, model = train(TrainConfig(dataset="mnist", model="tt-shared", rank=32, m=32, epochs=10))

Command line (writes the results file; ``--help`` lists every option)::

    python -m tt_rnn.train --dataset mnist --model tt-shared --rank 32 --m 32 --epochs 10 \\
        --features conv --dropout 0.1 --augment shift --out runs/my-run
    python -m tt_rnn.train --list-configs                 # the groups of named experiments
    python -m tt_rnn.train --config mnist/best/tt-shared_r32_m32_mlp256 --resume

Only a named experiment (:mod:`tt_rnn.experiments`), run with its own configuration, writes into
``results/``; every other run writes below ``runs/`` (git-ignored) or where ``--out`` says, and the
command's first line says which it is and where it writes.

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
  ``<checkpoint_dir>/last.pt`` (model, optimiser, scheduler, RNG states, history, the config as
  plain data: loaded with ``weights_only=True``) and the results JSON rewritten, both atomically,
  so an interrupted run loses at most the epoch in progress. ``resume=True`` continues from the
  checkpoint exactly (CPU, same seed), and only when the checkpoint's configuration is this one
  (the number of epochs may grow). The test set is evaluated for reporting only.
* Ctrl-C or SIGTERM: status ``interrupted``, the checkpoint kept, and the resume command printed.
  A lock file ``<results>.lock`` keeps two processes from writing the same run.
* Provenance in every results file: git commit of the code (and whether it had uncommitted
  changes), the CPU model or GPU name, and the SHA-256 of the data files read
  (:func:`tt_rnn.runfiles.provenance`).
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
import signal
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn
from tqdm import tqdm

from . import experiments
from .cli import OneLineParser
from .config import (ADHOC_ROOT, AUGMENTATIONS, FIELD_HELP, PRODUCTS, SCHEDULES, TrainConfig, checkpoint_path,
                     config_to_cli, portable_config, resume_conflicts, results_path, run_name, same_experiment)
from .batches import augment_batch, minibatch_indices, normalize
from .data import DATASETS, ImageData, load_dataset
from .features import FEATURE_MAPS, make_feature_map
from .initializers import INIT_SCHEMES, initialize
from .networks import NETWORK_KINDS, XI_KINDS, ScoreClassifier, count_parameters, make_network
from .runfiles import (ResultsFileError, RunLock, atomic_write, cpu_name, portable_path, portable_text, provenance,
                       read_results, shown_path, write_json)

__all__ = ["TrainConfig", "NonFiniteLossError", "RunInterrupted", "CheckpointMismatchError", "train", "evaluate",
           "build_model", "run_name", "results_path", "checkpoint_path", "validation_split", "resolve_device",
           "config_to_cli", "load_checkpoint", "destination", "parameter_count", "rank_for_parameters",
           "AUGMENTATIONS", "SCHEDULES", "PRODUCTS", "main"]


class NonFiniteLossError(FloatingPointError):
    """The training loss (or a parameter) became NaN/Inf; the message names epoch and step."""


class RunInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C, SIGTERM); the message gives the exact resume command."""


class CheckpointMismatchError(ValueError):
    """``resume`` found a checkpoint written by a different configuration."""


def resolve_device(device: str = "auto") -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _versions() -> dict:
    return {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name(torch.get_num_threads())


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


# channels, classes and image size of each data set (for counting parameters without the data)
DATASET_SHAPES = {"mnist": (1, 10, (28, 28)), "cifar10": (3, 10, (32, 32))}


def parameter_count(config: TrainConfig) -> int:
    """Parameters of the model ``config`` builds (feature map and network), counted without
    allocating them (on PyTorch's meta device)."""
    channels, classes, size = DATASET_SHAPES[config.dataset]
    with torch.device("meta"):  # shapes only: a rank-4096 TT costs nothing to count
        model = build_model(config.replace(init="random", device="cpu"), channels, classes, size)
    return count_parameters(model)


def rank_for_parameters(config: TrainConfig, target: int, max_rank: int = 4096) -> int:
    """The rank at which ``config``'s model has the parameter count closest to ``target`` (the
    smaller rank on a tie): formats compared at equal parameters rather than equal rank."""
    if target < 1:
        raise ValueError(f"target = {target!r}: must be a positive number of parameters")
    low, high = 1, max_rank
    while low < high:  # the first rank with at least target parameters (counts grow with the rank)
        mid = (low + high) // 2
        low, high = (mid + 1, high) if parameter_count(config.replace(rank=mid)) < target else (low, mid)
    candidates = [r for r in (low - 1, low) if r >= 1]
    return min(candidates, key=lambda r: (abs(parameter_count(config.replace(rank=r)) - target), r))


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
             batch_size: int = 1000, device=None, amp: bool = False, predictions: bool = False) -> dict:
    """Mean cross-entropy and accuracy of ``model`` (in eval mode) on uint8 ``images``.

    Returns ``{"loss": float, "acc": float, "n": int, "correct": int}``, and with ``predictions``
    the predicted class of every image (``"predicted"``, a list). The model's training mode is
    restored afterwards.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_loss, correct, n, predicted = 0.0, 0, len(labels), []
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
            predicted += logits.argmax(1).tolist() if predictions else []
    finally:
        model.train(was_training)
    out = {"loss": total_loss / n, "acc": correct / n, "n": n, "correct": correct}
    return {**out, "predicted": predicted} if predictions else out


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


# ----------------------------------------------------------------------------- checkpoints

def _save_checkpoint(path, model, optimizer, scheduler, rngs, epoch, history, wall, config) -> None:
    # plain data only (tensors, numbers, strings, lists, dicts): loadable with weights_only=True
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "rng": rngs.state(), "epoch": epoch,
             "history": history, "wall_time_s": wall, "config": asdict(portable_config(config))}
    atomic_write(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path, map_location="cpu") -> dict:
    """A checkpoint written by :func:`train`, loaded with ``weights_only=True`` (a checkpoint
    received from elsewhere cannot execute code). Raises :class:`~tt_rnn.runfiles.ResultsFileError`
    naming the file and the fix when it is truncated, corrupt or not a checkpoint of this code."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, pickle error, refused global: one line, not a traceback
        raise ResultsFileError(f"checkpoint {shown_path(path)} cannot be read ({' '.join(str(exc).split())[:200]}); "
                               "delete it to start the run over") from None
    missing = {"model", "optimizer", "scheduler", "rng", "epoch", "history", "config"} - set(ckpt)
    if not isinstance(ckpt, dict) or missing:
        raise ResultsFileError(f"checkpoint {shown_path(path)} is not a training checkpoint (missing "
                               f"{sorted(missing)}); delete it to start the run over")
    return ckpt


def _resume(path, config, model, optimizer, scheduler, rngs, device) -> dict:
    """Restore a run from its checkpoint, after checking that the same configuration wrote it."""
    ckpt = load_checkpoint(path, device)
    conflicts = resume_conflicts(ckpt["config"], config)
    if conflicts:
        fields = ", ".join(f"{k} = {stored!r} there, {now!r} now" for k, (stored, now) in conflicts.items())
        raise CheckpointMismatchError(
            f"checkpoint {shown_path(path)} was written by a different configuration ({fields}); resume "
            f"with the configuration that wrote it, give this run its own folder (--out DIR), or delete "
            f"{shown_path(Path(path).parent)} to start over")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    rngs.restore(ckpt["rng"])
    return ckpt


def destination(config: TrainConfig) -> str:
    """What the run's results file is: ``"named experiment NAME"`` when it lies in ``results/``
    (only a named experiment of :mod:`tt_rnn.experiments`, with exactly that configuration, may
    write there; anything else raises ``ValueError`` naming the differing fields), else
    ``"ad-hoc run"``."""
    where = portable_path(results_path(config))
    if not where.startswith("results/"):
        return "ad-hoc run"
    name = where[len("results/"):].removesuffix(".json")
    if name not in experiments.EXPERIMENTS:
        raise ValueError(f"{where} is in results/, which holds only the named experiments, and no experiment "
                         f"is named {name!r}; write ad-hoc runs below {ADHOC_ROOT}/ (--out DIR)")
    same, diff = same_experiment(asdict(experiments.get(name)), config)
    if not same:
        fields = ", ".join(f"{k} = {now!r} (the experiment has {named!r})" for k, (named, now) in diff.items())
        raise ValueError(f"this run differs from the named experiment {name} ({fields}) and would overwrite "
                         f"{where}; write it elsewhere (--out DIR; without --results-path the command line "
                         f"does so itself)")
    return f"named experiment {name}"


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

class _Run:
    """One run's state between set-up and the end of its loop: model, optimiser, data, history,
    and the two files it keeps current (checkpoint and results)."""

    def __init__(self, config: TrainConfig, data: ImageData | None, command: str | None):
        self.config = config
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        self.device = device = resolve_device(config.device)
        self.amp = bool(config.amp and device.type == "cuda")
        self.out_path, self.ckpt_path = results_path(config), checkpoint_path(config)
        self.data, val, split = _prepare_data(config, data)
        self.train_x, self.train_y = self.data.train_images.to(device), self.data.train_labels.to(device)
        test = (self.data.test_images, self.data.test_labels) if config.evaluate_test else None
        self.splits = {"val": val, "test": test}
        torch.manual_seed(config.seed)
        self.model = build_model(config, self.data.in_channels, self.data.num_classes, self.data.image_size, device)
        self.model.network.check_finite = False  # non-finite values surface as a non-finite loss
        self.optimizer = _make_optimizer(config, self.model)
        self.steps_per_epoch = math.ceil(len(self.train_y) / config.batch_size)
        self.scheduler = _make_scheduler(config, self.optimizer, self.steps_per_epoch)
        self.rngs = _Generators(config.seed, device)
        self.history, self.start_epoch, self.wall, resumed_from = [], 1, 0.0, None
        if config.resume and self.ckpt_path.is_file():
            ckpt = _resume(self.ckpt_path, config, self.model, self.optimizer, self.scheduler, self.rngs, device)
            self.history, self.start_epoch = ckpt["history"], ckpt["epoch"] + 1
            self.wall = ckpt.get("wall_time_s", 0.0)
            resumed_from = {"path": portable_path(self.ckpt_path), "epoch": ckpt["epoch"]}
        else:  # the initial state: a "last good checkpoint" from the start
            self.checkpoint(0)
        command = command or config_to_cli(config)
        self.resume_command = command if "--resume" in command.split() else command + " --resume"
        self.results = {
            "config": asdict(portable_config(config)), "name": run_name(config),
            "dataset": {**self.data.metadata(), "source": portable_path(self.data.source),
                        "n_train": split["n_train"]},
            "dataset_label": self.data.label, "split": split, "n_test": split["n_test"],
            "params": count_parameters(self.model), "params_network": count_parameters(self.model.network),
            "params_features": count_parameters(self.model.feature_map), "d": self.model.network.d,
            "device": str(device), "device_name": _machine(device), "versions": _versions(),
            "provenance": provenance(_machine(device), self.data.files),
            "command": command, "cli_equivalent": config_to_cli(config),
            "results_path": portable_path(self.out_path), "checkpoint": portable_path(self.ckpt_path),
            "resumed_from": resumed_from, "history": self.history, "status": "running", "wall_time_s": self.wall,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        self.results["dataset"].pop("cache", None)

    @property
    def best_epoch(self) -> int | None:
        """The epoch of the highest validation accuracy so far (the first, on ties); None without validation."""
        scored = [h for h in self.history if h.get("val_acc") is not None]
        return max(scored, key=lambda h: h["val_acc"])["epoch"] if scored else None

    def remaining_epochs(self) -> range:
        """The epochs still to train: none once early stopping has ended the run."""
        last = self.history[-1]["epoch"] if self.history else 0
        return range(self.start_epoch, self.config.epochs + 1) if not self.stops_after(last) else range(0)

    def stops_after(self, epoch: int) -> bool:
        """Whether the run ends after ``epoch`` (the last epoch, or ``patience`` epochs without a new best)."""
        best, patience = self.best_epoch, self.config.patience
        return epoch >= self.config.epochs or (patience is not None and best is not None and epoch - best >= patience)

    def note_best(self, epoch: int) -> None:
        """Keep the weights of the best validation epoch (``best.pt``) when they will be needed."""
        if (self.config.patience or self.config.save_predictions) and self.best_epoch == epoch:
            state = {"epoch": epoch, "model": self.model.state_dict()}
            atomic_write(self.ckpt_path.with_name("best.pt"), lambda fh: torch.save(state, fh))

    def finish(self) -> None:
        """Record the run as completed, with the epoch validation chose and (if asked) its test predictions."""
        best = self.best_epoch
        chosen = best if best is not None else (self.history[-1]["epoch"] if self.history else None)
        last = self.history[-1]["epoch"] if self.history else 0
        self.results.update(best_epoch=best, stopped_early=0 < last < self.config.epochs,
                            chosen=next((h for h in self.history if h["epoch"] == chosen), None))
        if self.config.save_predictions and self.config.evaluate_test and chosen is not None:
            best_file = self.ckpt_path.with_name("best.pt")
            if best is not None and best_file.is_file():
                self.model.load_state_dict(torch.load(best_file, map_location=self.device, weights_only=True)["model"])
            ev = evaluate(self.model, self.data.test_images, self.data.test_labels, mean=self.data.mean,
                          std=self.data.std, batch_size=self.config.eval_batch_size, device=self.device,
                          amp=self.amp, predictions=True)
            # the labels too: paired tests read which images each run got right from the file alone
            self.results["test_predictions"] = {"epoch": chosen, "acc": ev["acc"], "predicted": ev["predicted"],
                                                "labels": self.data.test_labels.tolist()}
        self.record("completed")

    def checkpoint(self, epoch: int) -> None:
        _save_checkpoint(self.ckpt_path, self.model, self.optimizer, self.scheduler, self.rngs, epoch,
                         self.history, self.wall, self.config)

    def record(self, status: str, error: str | None = None) -> None:
        """Rewrite the results file (atomically) with the history so far and ``status``."""
        self.results.update(status=status, error=error, history=self.history, wall_time_s=self.wall,
                            finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        if self.history:
            last = self.history[-1]
            self.results.update(final_test_acc=last.get("test_acc"), final_test_loss=last.get("test_loss"),
                                final_train_acc=last["train_acc"], epochs_done=last["epoch"],
                                final_val_acc=last.get("val_acc"))
        write_json(self.results, self.out_path)

    def _last_good(self) -> str:
        good = self.history[-1]["epoch"] if self.history else 0
        return f"the last checkpoint (epoch {good}) is kept at {portable_path(self.ckpt_path)}"

    def diverged(self, what: str, epoch: int, where: str) -> NonFiniteLossError:
        msg = (f"{what} at epoch {epoch}, {where}; stopped. The last good checkpoint (epoch "
               f"{self.history[-1]['epoch'] if self.history else 0}) is kept at {portable_path(self.ckpt_path)}; "
               f"results so far in {portable_path(self.out_path)}.")
        self.record("diverged", msg)
        return NonFiniteLossError(msg)

    def interrupted(self) -> RunInterrupted:
        msg = f"interrupted; {self._last_good()}. Resume with: {self.resume_command}"
        self.record("interrupted", msg)
        return RunInterrupted(msg)

    def failed(self, exc: BaseException) -> None:
        self.record("failed", portable_text(f"{type(exc).__name__}: {' '.join(str(exc).split())}; {self._last_good()}"))

    def train_epoch(self, epoch: int, bar) -> dict:
        """One pass over the training set; the running mean loss and accuracy of its minibatches."""
        config, model, device = self.config, self.model, self.device
        t0 = time.perf_counter()
        batches = minibatch_indices(len(self.train_y), config.batch_size, self.rngs.shuffle, shuffle=True)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        model.train()
        for step, idx in enumerate(bar(batches, desc=f"epoch {epoch}", unit="batch", leave=False), start=1):
            idx = idx.to(device)
            xb = augment_batch(self.train_x[idx], config.augment, config.shift, self.rngs.augment)
            xb, yb = normalize(xb, self.data.mean, self.data.std), self.train_y[idx]
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.amp):
                logits = model(xb)
            loss = nn.functional.cross_entropy(logits.float(), yb, label_smoothing=config.label_smoothing)
            if not bool(torch.isfinite(loss)):
                self.wall += time.perf_counter() - t0
                raise self.diverged(f"non-finite training loss ({float(loss.detach())})", epoch,
                                    f"step {step} of {len(batches)} (lr {self.scheduler.get_last_lr()[0]:.3g})")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            self.wall += time.perf_counter() - t0
            raise self.diverged("non-finite parameters", epoch, f"after step {len(batches)}")
        train_time = time.perf_counter() - t0
        return {"epoch": epoch, "train_loss": float(loss_sum) / len(self.train_y),
                "train_acc": int(correct) / len(self.train_y), "train_time_s": train_time,
                "train_samples_per_s": len(self.train_y) / train_time}

    def evaluate_splits(self) -> dict:
        """Loss and accuracy on the validation split (if any) and the test set (reported only)."""
        out = {}
        for split_name, images_labels in self.splits.items():
            if images_labels is not None:
                ev = evaluate(self.model, *images_labels, mean=self.data.mean, std=self.data.std,
                              batch_size=self.config.eval_batch_size, device=self.device, amp=self.amp)
                out.update({f"{split_name}_loss": ev["loss"], f"{split_name}_acc": ev["acc"]})
        return out


def train(config: TrainConfig | dict | None = None, data: ImageData | None = None,
          on_epoch_end=None, *, command: str | None = None, **overrides) -> tuple[dict, ScoreClassifier]:
    """Train as ``config`` says; return ``(results, model)``. The results dict is also written to
    the results file after every epoch, with a checkpoint.

    ``data``: an :class:`~tt_rnn.data.ImageData` already loaded (else loaded from the config;
    the split and subset sizes apply either way). ``on_epoch_end(epoch, model, record)`` is called
    after each epoch's checkpoint and results file are written. ``command``: the command line
    that started the run, stored in the results (default: the equivalent ``python -m
    tt_rnn.train`` line). Keyword ``overrides`` replace config fields.

    ``patience``: stop after that many epochs without a new best validation accuracy;
    ``save_predictions``: store the test predictions of the epoch validation chose, with the test
    labels (``results["test_predictions"]``: ``epoch``, ``acc``, ``predicted``, ``labels``; the
    returned model then holds that epoch's weights). The results record ``best_epoch`` and ``chosen`` (the
    history entry of the epoch validation chose; the last epoch without validation).

    Raises :class:`CheckpointMismatchError` when ``resume`` finds a checkpoint of another
    configuration, :class:`~tt_rnn.runfiles.RunLockedError` when another process writes the same
    results file, :class:`RunInterrupted` on Ctrl-C (status ``interrupted``, the checkpoint kept)
    and :class:`NonFiniteLossError` on a NaN/Inf loss (status ``diverged``).
    """
    # ---- set-up
    config = TrainConfig(**config) if isinstance(config, dict) else (config or TrainConfig())
    config = config.replace(**overrides).validate()
    destination(config)  # never overwrite a named experiment's results with another run
    with RunLock(results_path(config)):
        run = _Run(config, data, command)
        bar = _progress(config)
        # ---- loop
        try:
            for epoch in bar(run.remaining_epochs(), desc=run_name(config), unit="epoch"):
                t0 = time.perf_counter()
                entry = run.train_epoch(epoch, bar)
                entry.update(run.evaluate_splits())
                epoch_time = time.perf_counter() - t0
                run.wall += epoch_time
                entry.update(lr=run.scheduler.get_last_lr()[0], epoch_time_s=epoch_time)
                # ---- record
                run.history.append(entry)
                run.note_best(epoch)
                run.checkpoint(epoch)
                run.finish() if run.stops_after(epoch) else run.record("running")
                if on_epoch_end is not None:
                    on_epoch_end(epoch, run.model, entry)
                if run.stops_after(epoch):
                    break
        except KeyboardInterrupt:
            raise run.interrupted() from None
        except SystemExit:  # submitit's requeue on preemption exits the process: the checkpoint stays
            run.interrupted()
            raise
        except NonFiniteLossError:
            raise
        except Exception as exc:
            run.failed(exc)
            raise
        if not run.remaining_epochs() and run.results["status"] != "completed":  # resumed a finished run
            run.finish()
    return run.results, run.model


def _progress(config: TrainConfig):
    """``bar(iterable, **kw)``: a tqdm bar when ``config.progress``, else the iterable itself."""
    if not config.progress:
        return lambda iterable, **kw: iterable
    return lambda iterable, **kw: tqdm(iterable, dynamic_ncols=True, mininterval=1.0, **kw)


# ----------------------------------------------------------------------------- CLI

_CHOICES = {"dataset": DATASETS, "model": NETWORK_KINDS, "xi": XI_KINDS, "features": tuple(FEATURE_MAPS),
            "augment": AUGMENTATIONS, "schedule": SCHEDULES, "product": PRODUCTS, "init": INIT_SCHEMES}


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m tt_rnn.train", argument_default=argparse.SUPPRESS,
                       description="Train a CP / TT / TT-shared / HT score network; writes a results JSON and a "
                                   "checkpoint every epoch. Bad arguments and failures are one 'error:' line, "
                                   "exit status 2.")
    p.add_argument("--config", metavar="NAME", help="start from a named experiment of tt_rnn.experiments; "
                   "flags that change what it computes make it an ad-hoc run, written below runs/")
    p.add_argument("--list-configs", nargs="?", const="", metavar="PATTERN",
                   help="without PATTERN: the groups of named experiments with their sizes; with PATTERN "
                        "(a prefix, or a glob such as 'mnist/*/cp_*'): the matching names. Then exit")
    p.add_argument("--out", metavar="DIR", help="write this run's results.json and checkpoint into DIR")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of an error "
                   "(also: environment variable TT_RNN_DEBUG=1)")
    optional = {"train_subset": int, "test_subset": int, "num_threads": int, "grad_clip": float}
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        text = f"{FIELD_HELP[f.name]} (default: {f.default})"
        if isinstance(f.default, bool) or f.name == "download":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
        else:
            typ = optional.get(f.name) or (type(f.default) if f.default is not None else str)
            choices = _CHOICES.get(f.name)
            p.add_argument(flag, type=typ, choices=choices, metavar=f.name.upper() if choices is None else None,
                           help=text)
    return p


def _list_configs(pattern: str) -> str:
    names = experiments.select(pattern) if pattern else list(experiments.EXPERIMENTS)
    if pattern:
        return "\n".join(names)
    groups: dict[str, int] = {}
    for name in names:
        groups[name.rsplit("/", 1)[0]] = groups.get(name.rsplit("/", 1)[0], 0) + 1
    width = max(map(len, groups))
    return "\n".join(f"{g:<{width}}  {n:>4} experiments" for g, n in groups.items()) + \
        f"\n{len(names)} named experiments; --list-configs PATTERN lists names"


def _command_config(args: dict) -> tuple[TrainConfig, str]:
    """The run's configuration from parsed flags, and a line saying what it is and where it writes.

    ``--config NAME`` alone (or with flags that change only where and how it runs) is the named
    experiment, written into ``results/``; with flags that change what it computes it becomes an
    ad-hoc run in ``runs/NAME-<hash of the changes>`` (the same changes, the same folder, so
    ``--resume`` finds it again). ``--out DIR`` puts results and checkpoint into ``DIR``."""
    out = args.pop("out", None)
    if out is not None:
        args.update(results_path=str(Path(out) / "results.json"), checkpoint_dir=str(out))
    name = args.pop("config", None)
    base = experiments.get(name) if name else TrainConfig()
    config = base.replace(**args)
    if name:
        same, diff = same_experiment(asdict(base), config)
        if not same and "results_path" not in args:
            changes = {k: now for k, (_, now) in diff.items()}
            tag = hashlib.sha1(json.dumps(changes, sort_keys=True).encode()).hexdigest()[:8]
            folder = Path(ADHOC_ROOT) / f"{name}-{tag}"
            config = config.replace(results_path=f"{folder}.json", checkpoint_dir=str(folder),
                                    name=f"{Path(name).name}-{tag}")
            what = f"ad-hoc variant of {name} ({', '.join(f'{k}={v}' for k, v in changes.items())})"
        else:
            what = destination(config) if same else "ad-hoc run"
    else:
        what = destination(config)
    where = f"{what}: results {portable_path(results_path(config))}, checkpoint {portable_path(checkpoint_path(config))}"
    return config, where


def _completed(config: TrainConfig) -> dict | None:
    """With ``--resume``: the summary of the run when its results file is already completed with
    this configuration (nothing to do, and the file is left as it is), else ``None``."""
    path = results_path(config)
    if not (config.resume and path.is_file()):
        return None
    stored = read_results(path)
    if stored.get("status") != "completed" or not same_experiment(stored["config"], config)[0]:
        return None
    last = stored["history"][-1] if stored["history"] else {}
    return {"results": str(path), "status": "completed", "note": "already completed; nothing to do (delete the "
            "results file, or leave out --resume, to train it again)", "params": stored.get("params"),
            "val_acc": last.get("val_acc"), "test_acc": last.get("test_acc"), "epochs": last.get("epoch")}


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt  # a cluster's or a user's kill records status "interrupted" like Ctrl-C


def main(argv=None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = vars(parser.parse_args(argv))
    command = " ".join(["python", "-m", "tt_rnn.train"] + [shlex.quote(a) for a in _portable_args(argv)])
    debug = args.pop("debug", False) or os.environ.get("TT_RNN_DEBUG") not in (None, "", "0")
    try:
        if "list_configs" in args:
            print(_list_configs(args["list_configs"]))
            return 0
        config, where = _command_config(args)
        print(where, flush=True)
        done = _completed(config)
        if done is not None:
            print(json.dumps(done))
            return 0
        previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
        try:
            results, _ = train(config, command=command)
        finally:
            signal.signal(signal.SIGTERM, previous)
    except KeyboardInterrupt as exc:  # RunInterrupted says where the checkpoint is and how to resume
        print(str(exc) or "interrupted", file=sys.stderr)
        return 130
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
