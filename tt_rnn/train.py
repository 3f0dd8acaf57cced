"""Train and evaluate score-function networks (CP, TT, TT shared, HT) on image data sets.

Python::

    from tt_rnn.train import TrainConfig, train
    results = train(TrainConfig(dataset="mnist", model="tt-shared", rank=32, m=32, epochs=10))

Command line (writes the results file; ``--help`` lists every option)::

    python -m tt_rnn.train --dataset mnist --model tt-shared --rank 32 --m 32 --epochs 10 \\
        --features conv --dropout 0.1 --augment shift --results results/mnist/run.json

What a run does
---------------
* Data: the whole data set in memory as uint8 tensors (:mod:`tt_rnn.data`), moved once to the
  device; minibatches by a seeded permutation; augmentation on whole batches (``shift``: random
  translations by up to ``shift`` px, pad and crop; ``crop-flip``: random crop with padding
  ``shift`` + horizontal flip), then per-channel normalisation.
* Model: ``make_feature_map`` (or the per-patch MLP) + ``make_network`` in a
  :class:`~tt_rnn.networks.ScoreClassifier`; cross-entropy on the networks' rescaled logits
  (see :mod:`tt_rnn.networks`). Optional dropout on patch features. No normalisation outside the
  model: the model trained is the model evaluated.
* Optimiser: Adam (AdamW when ``weight_decay > 0``) with a per-step schedule: ``cosine``
  (optional linear warm-up), ``onecycle`` or ``constant``; optional gradient clipping.
* Every epoch: evaluation on the test set, a checkpoint ``<checkpoint_dir>/last.pt`` (model,
  optimiser, scheduler, RNG states, history) and the results JSON rewritten, so an interrupted
  run loses nothing. ``resume=True`` continues from the checkpoint exactly (CPU, same seed).
* A NaN/Inf training loss (or non-finite parameters) raises :class:`NonFiniteLossError` naming
  the epoch and step; the last good checkpoint is kept and the results file is written with the
  history so far and ``status = "diverged"``.

Reported ``train_loss`` / ``train_acc`` are running means over the epoch's minibatches (in
training mode: with dropout and augmentation); ``test_loss`` / ``test_acc`` are computed in
evaluation mode on the whole test split after each epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import ImageData, augment_batch, load_dataset, minibatch_indices, normalize
from .features import make_feature_map
from .networks import ScoreClassifier, count_parameters, make_network

__all__ = ["TrainConfig", "NonFiniteLossError", "train", "evaluate", "build_model", "run_name",
           "default_results_path", "load_results", "resolve_device", "config_to_cli", "main"]


@dataclass
class TrainConfig:
    """Everything that defines a run (stored verbatim in the results file)."""

    # data
    dataset: str = "mnist"              # "mnist" | "cifar10"
    data_dir: str | None = None         # else $TT_RNN_DATA, else ./data
    cache_dir: str | None = None        # else $TT_RNN_CACHE, else ./data/cache (CIFAR JPEG cache)
    download: bool | None = None        # None: MNIST yes, CIFAR-10 no
    train_subset: int | None = None     # use n random training images (quick mode, tests)
    test_subset: int | None = None      # use n random test images (seeded)
    augment: str = "none"               # "none" | "shift" | "crop-flip"
    shift: int = 2                      # max shift (px) / crop padding for augmentation
    # model
    model: str = "tt-shared"            # "cp" | "tt" | "tt-shared" | "ht"
    rank: int = 32
    m: int = 32                         # feature size = TT mode size
    patch_size: int = 7
    features: str = "linear"            # "linear" | "conv" | "mlp" (per-patch MLP)
    hidden: int = 32                    # hidden width of the conv / mlp feature map
    dropout: float = 0.0                # dropout on the patch features
    product: str = "auto"               # TT product: "sequential" | "tree" | "auto" (CPU: seq., CUDA: tree)
    # optimisation
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    schedule: str = "cosine"            # "cosine" | "onecycle" | "constant"
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


class NonFiniteLossError(FloatingPointError):
    """The training loss (or a parameter) became NaN/Inf; the message names epoch and step."""


# ----------------------------------------------------------------------------- helpers

def run_name(config: TrainConfig) -> str:
    """A file-name-safe run name derived from the config (``config.name`` wins)."""
    if config.name:
        return config.name
    parts = [config.model, f"r{config.rank}", f"m{config.m}", f"k{config.patch_size}", config.features]
    if config.dropout:
        parts.append(f"do{config.dropout:g}")
    if config.augment not in (None, "none"):
        parts.append(f"{config.augment}{config.shift}")
    parts += [f"e{config.epochs}", f"s{config.seed}"]
    if config.train_subset:
        parts.append(f"n{config.train_subset}")
    return "_".join(parts)


def default_results_path(config: TrainConfig) -> Path:
    return Path(config.results_path) if config.results_path else \
        Path("results") / config.dataset / f"{run_name(config)}.json"


def _checkpoint_dir(config: TrainConfig) -> Path:
    return Path(config.checkpoint_dir) if config.checkpoint_dir else \
        Path("checkpoints") / config.dataset / run_name(config)


def resolve_device(device: str = "auto") -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_results(path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def _versions() -> dict:
    import torchvision
    return {"torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def config_to_cli(config: TrainConfig) -> str:
    """The ``python -m tt_rnn.train`` command line equivalent to ``config`` (non-default fields)."""
    args = ["python", "-m", "tt_rnn.train"]
    for f in dataclasses.fields(TrainConfig):
        value, default = getattr(config, f.name), f.default
        if value == default or f.name in ("progress",):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif value is not None:
            args += [flag, str(value)]
    if not config.progress:
        args.append("--no-progress")
    return " ".join(shlex.quote(a) for a in args)


def _command_line(config: TrainConfig) -> str:
    """How this run was started: the CLI's own argv, else the equivalent command line."""
    argv = list(sys.argv) if sys.argv else []
    if argv and argv[0].replace(os.sep, "/").endswith("tt_rnn/train.py"):
        return " ".join(shlex.quote(a) for a in ["python", "-m", "tt_rnn.train"] + argv[1:])
    return config_to_cli(config)


def _atomic_json(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)
    os.replace(tmp, path)


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- model

def build_model(config: TrainConfig, in_channels: int, num_classes: int, image_size=(28, 28),
                device=None) -> ScoreClassifier:
    """Feature map (per patch) + score network, as in the config."""
    h, w = image_size
    k = config.patch_size
    if h % k or w % k:
        raise ValueError(f"image size {h}x{w} is not divisible by patch_size = {k}")
    d = (h // k) * (w // k)
    extra = {} if config.features == "linear" else {"hidden": config.hidden}
    fmap = make_feature_map(config.features, k, in_channels, config.m, dropout=config.dropout, **extra)
    kwargs = {}
    if config.model in ("tt", "tt-shared"):
        product = config.product
        if product == "auto":
            product = "tree" if resolve_device(config.device).type == "cuda" else "sequential"
        kwargs["product"] = product
    net = make_network(config.model, d, config.m, config.rank, num_classes, **kwargs)
    model = ScoreClassifier(fmap, net)
    return model.to(device) if device is not None else model


def _make_scheduler(config: TrainConfig, optimizer, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total,
                                                   pct_start=0.25)
    if config.schedule == "cosine":
        warm = int(round(config.warmup_epochs * steps_per_epoch))

        def factor(step):
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise ValueError(f"unknown schedule {config.schedule!r}; choose 'cosine', 'onecycle' or 'constant'")


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


# ----------------------------------------------------------------------------- training

def _rng_state(gen_shuffle, gen_augment, device):
    state = {"torch": torch.get_rng_state(), "shuffle": gen_shuffle.get_state(),
             "augment": gen_augment.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state, gen_shuffle, gen_augment, device):
    torch.set_rng_state(state["torch"])
    gen_shuffle.set_state(state["shuffle"])
    gen_augment.set_state(state["augment"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def train(config: TrainConfig | dict | None = None, data: ImageData | None = None,
          on_epoch_end=None, **overrides) -> dict:
    """Train as ``config`` says; return the results dict (also written to the results file).

    ``data``: an :class:`~tt_rnn.data.ImageData` already loaded (else loaded from the config;
    the config's subset sizes apply either way). ``on_epoch_end(epoch, model, record)`` is called
    after each epoch's checkpoint and results file are written. Keyword ``overrides`` replace
    config fields.
    """
    if config is None:
        config = TrainConfig()
    elif isinstance(config, dict):
        config = TrainConfig(**config)
    if overrides:
        config = config.replace(**overrides)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    amp = bool(config.amp and device.type == "cuda")
    results_path = default_results_path(config)
    ckpt_dir = _checkpoint_dir(config)
    ckpt_path = ckpt_dir / "last.pt"

    if data is None:
        data = load_dataset(config.dataset, config.data_dir, config.cache_dir, config.download)
    if config.train_subset or config.test_subset:
        data = data.subset(config.train_subset, config.test_subset, seed=config.seed)
    train_x, train_y = data.train_images.to(device), data.train_labels.to(device)
    test_x, test_y = data.test_images.to(device), data.test_labels.to(device)

    torch.manual_seed(config.seed)
    model = build_model(config, data.in_channels, data.num_classes, data.image_size, device)
    model.network.check_finite = False  # non-finite values surface as a non-finite loss below
    if config.weight_decay > 0:
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    n_train = len(train_y)
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    scheduler = _make_scheduler(config, optimizer, steps_per_epoch)
    gen_shuffle = torch.Generator().manual_seed(config.seed)
    gen_augment = torch.Generator().manual_seed(config.seed + 1)

    history, start_epoch, wall_before = [], 1, 0.0
    resumed_from = None
    if config.resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"], gen_shuffle, gen_augment, device)
        history, start_epoch = ckpt["history"], ckpt["epoch"] + 1
        wall_before = ckpt.get("wall_time_s", 0.0)
        resumed_from = {"path": str(ckpt_path), "epoch": ckpt["epoch"]}

    results = {
        "config": asdict(config),
        "name": run_name(config),
        "dataset": data.metadata(),
        "dataset_label": data.label,
        "n_test": int(len(test_y)),
        "params": count_parameters(model),
        "params_network": count_parameters(model.network),
        "params_features": count_parameters(model.feature_map),
        "d": model.network.d,
        "device": str(device),
        "device_name": _device_name(device),
        "versions": _versions(),
        "command": _command_line(config),
        "cli_equivalent": config_to_cli(config),
        "results_path": str(results_path),
        "checkpoint": str(ckpt_path),
        "resumed_from": resumed_from,
        "history": history,
        "status": "running",
        "wall_time_s": wall_before,
    }

    def finish(status: str, error: str | None = None) -> dict:
        results["status"] = status
        results["error"] = error
        results["history"] = history
        if history:
            last = history[-1]
            results.update(final_test_acc=last["test_acc"], final_test_loss=last["test_loss"],
                           final_train_acc=last["train_acc"], epochs_done=last["epoch"],
                           best_test_acc=max(h["test_acc"] for h in history))
        results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        _atomic_json(results, results_path)
        return results

    def save_checkpoint(epoch: int, wall: float) -> None:
        _atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "scheduler": scheduler.state_dict(),
                      "rng": _rng_state(gen_shuffle, gen_augment, device), "epoch": epoch,
                      "history": history, "wall_time_s": wall, "config": asdict(config)}, ckpt_path)

    if start_epoch == 1 and not (config.resume and ckpt_path.is_file()):
        save_checkpoint(0, 0.0)  # the initial state: a "last good checkpoint" from the start
    results["started"] = time.strftime("%Y-%m-%dT%H:%M:%S")

    bar_kw = dict(disable=not config.progress, dynamic_ncols=True, mininterval=1.0)
    if config.progress:
        from tqdm import tqdm
    else:
        tqdm = None
    epochs = range(start_epoch, config.epochs + 1)
    epoch_bar = tqdm(epochs, desc=f"{run_name(config)}", unit="epoch", **bar_kw) if tqdm else epochs
    wall = wall_before
    model.train()
    for epoch in epoch_bar:
        t0 = time.perf_counter()
        batches = minibatch_indices(n_train, config.batch_size, gen_shuffle, shuffle=True)
        batch_bar = tqdm(batches, desc=f"epoch {epoch}", unit="batch", leave=False, **bar_kw) \
            if tqdm else batches
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        seen = 0
        for step, idx in enumerate(batch_bar, start=1):
            idx = idx.to(device)
            xb = train_x[idx]
            if config.augment not in (None, "none"):
                xb = augment_batch(xb, config.augment, config.shift, gen_augment)
            xb = normalize(xb, data.mean, data.std)
            yb = train_y[idx]
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                logits = model(xb)
            loss = nn.functional.cross_entropy(logits.float(), yb, label_smoothing=config.label_smoothing)
            if not bool(torch.isfinite(loss)):
                wall += time.perf_counter() - t0
                results["wall_time_s"] = wall
                good = history[-1]["epoch"] if history else 0
                msg = (f"non-finite training loss ({float(loss.detach())}) at epoch {epoch}, step {step} of "
                       f"{len(batches)} (lr {scheduler.get_last_lr()[0]:.3g}); stopped. The last good "
                       f"checkpoint (epoch {good}) is kept at {ckpt_path}; results so far in {results_path}.")
                finish("diverged", msg)
                raise NonFiniteLossError(msg)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(idx)
            if tqdm and step % 50 == 0:
                batch_bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}", refresh=False)
        train_time = time.perf_counter() - t0
        if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            wall += time.perf_counter() - t0
            results["wall_time_s"] = wall
            good = history[-1]["epoch"] if history else 0
            msg = (f"non-finite parameters after epoch {epoch} (step {len(batches)}); stopped. The last "
                   f"good checkpoint (epoch {good}) is kept at {ckpt_path}; results so far in {results_path}.")
            finish("diverged", msg)
            raise NonFiniteLossError(msg)
        ev = evaluate(model, test_x, test_y, mean=data.mean, std=data.std,
                      batch_size=config.eval_batch_size, device=device, amp=amp)
        epoch_time = time.perf_counter() - t0
        wall += epoch_time
        record = {"epoch": epoch, "train_loss": float(loss_sum) / seen, "train_acc": int(correct) / seen,
                  "test_loss": ev["loss"], "test_acc": ev["acc"], "lr": scheduler.get_last_lr()[0],
                  "train_time_s": train_time, "epoch_time_s": epoch_time,
                  "train_samples_per_s": seen / train_time}
        history.append(record)
        results["wall_time_s"] = wall
        save_checkpoint(epoch, wall)
        finish("running" if epoch < config.epochs else "completed")
        if tqdm:
            epoch_bar.set_postfix(train_acc=f"{record['train_acc']:.4f}", test_acc=f"{ev['acc']:.4f}")
        if on_epoch_end is not None:
            on_epoch_end(epoch, model, record)
    if not epochs:  # resumed a finished run
        finish("completed")
    results["model"] = model
    return results


# ----------------------------------------------------------------------------- CLI

_CHOICES = {"dataset": ["mnist", "cifar10"], "model": ["cp", "tt", "tt-shared", "ht"],
            "features": ["linear", "conv", "mlp"], "augment": ["none", "shift", "crop-flip"],
            "schedule": ["cosine", "onecycle", "constant"], "product": ["auto", "sequential", "tree"]}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tt_rnn.train",
                                description="Train a CP / TT / TT-shared / HT score network; writes a results JSON.")
    types = {int: int, float: float, str: str}
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if f.type in ("bool", bool) or isinstance(default, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif f.name == "download":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            typ = {"int": int, "float": float}.get(str(f.type).split(" ")[0], None)
            if typ is None:
                typ = type(default) if default is not None and type(default) in types else str
                if f.name in ("train_subset", "test_subset", "num_threads"):
                    typ = int
                if f.name == "grad_clip":
                    typ = float
            p.add_argument(flag, type=typ, default=default, choices=_CHOICES.get(f.name),
                           help=f"(default: {default})")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    config = TrainConfig(**vars(args))
    try:
        results = train(config)
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    last = results["history"][-1] if results["history"] else {}
    print(json.dumps({"results": results["results_path"], "params": results["params"],
                      "test_acc": last.get("test_acc"), "epochs": last.get("epoch"),
                      "wall_time_s": round(results["wall_time_s"], 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
