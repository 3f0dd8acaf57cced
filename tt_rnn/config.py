"""What defines a training run: :class:`TrainConfig`, its file names, and when two runs are the same.

* :class:`TrainConfig` — every field of a run, validated once (:meth:`TrainConfig.validate`);
  :data:`FIELD_HELP` holds one sentence per field, from which ``python -m tt_rnn.train`` makes
  its flags.
* :func:`run_name`, :func:`results_path`, :func:`checkpoint_path` — where a run's files go.
  A run that is not a named experiment writes below ``runs/`` (git-ignored), never into
  ``results/``.
* :func:`experiment_fields`, :func:`same_experiment` — whether a stored run *is* the experiment a
  configuration asks for: every field counts except where files go, threads, devices and
  progress bars (:data:`RUN_ONLY_FIELDS`). A checkpoint may be resumed when only those, or the
  number of epochs (:data:`RESUMABLE_CHANGES`), differ.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from pathlib import Path

from .data import DATASETS
from .features import FEATURE_MAPS
from .initializers import INIT_SCHEMES
from .networks import NETWORK_KINDS, XI_KINDS
from .runfiles import portable_path

__all__ = ["TrainConfig", "FIELD_HELP", "AUGMENTATIONS", "SCHEDULES", "PRODUCTS", "ADHOC_ROOT", "RUN_ONLY_FIELDS",
           "RESUMABLE_CHANGES", "LEGACY_DEFAULTS", "run_name", "results_path", "checkpoint_path",
           "portable_config", "config_to_cli", "experiment_fields", "same_experiment", "resume_conflicts"]

AUGMENTATIONS = ("none", "shift", "crop-flip")
SCHEDULES = ("cosine", "onecycle", "constant")
PRODUCTS = ("auto", "sequential", "tree")
# Ad-hoc runs (not a named experiment of tt_rnn.experiments) write here; git ignores it.
ADHOC_ROOT = "runs"


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
    patience: int | None = None         # early stopping: stop after this many epochs without a new best val_acc
    save_predictions: bool = False      # store the test predictions of the epoch validation chose
    # execution
    seed: int = 0
    device: str = "auto"                # "auto" | "cpu" | "cuda" | "cuda:1" ...
    amp: bool = False                   # bfloat16 autocast (CUDA only)
    num_threads: int | None = None      # torch.set_num_threads (CPU)
    eval_batch_size: int = 1000
    evaluate_test: bool = True          # False: the test set is never read (hyperparameter searches)
    # files
    checkpoint_dir: str | None = None   # default runs/<dataset>/<run name>/
    results_path: str | None = None     # default runs/<dataset>/<run name>.json
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
                    "num_threads": 1, "patience": 1}
        for name, low in at_least.items():
            value = getattr(self, name)
            if value is None and name in ("train_subset", "test_subset", "num_threads", "patience"):
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} = {value!r}: must be an integer >= {low}")
        if not self.lr > 0:
            raise ValueError(f"lr = {self.lr!r}: must be > 0")
        if self.init == "identity" and self.model == "pool-linear":
            raise ValueError("init = 'identity' is an initialisation of the tensor networks; the pool-linear "
                             "baseline takes init = 'random'")
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
        if self.patience is not None and not self.val_size:
            raise ValueError(f"patience = {self.patience}: early stopping reads the validation split; set val_size > 0")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip = {self.grad_clip!r}: must be > 0 (or None for no clipping)")
        return self



# One sentence per field: the help of its ``python -m tt_rnn.train`` flag (choices are listed there).
FIELD_HELP = {
    "dataset": "data set to train on",
    "data_dir": "data directory (default: $TT_RNN_DATA, else ./data)",
    "cache_dir": "where decoded data are cached (default: $TT_RNN_CACHE, else beside the data)",
    "download": "download a missing data set with torchvision (default: yes, unless offline)",
    "val_size": "number of training images held out as the validation split (0: no validation)",
    "split_seed": "seed of the validation split (keep it fixed so every run sees the same split)",
    "train_subset": "train on this many randomly chosen training images (after the split)",
    "test_subset": "evaluate on this many randomly chosen test images",
    "augment": "data augmentation of training batches",
    "shift": "largest shift in pixels (shift) or crop padding (crop-flip)",
    "model": "score network: shallow CP, TT with distinct cores, TT with one shared core (an RNN), HT, or the "
             "pool-linear baseline (average of the patch features, then a linear classifier)",
    "xi": "generalized product of the network (product: multiplicative; rectifier: max(x, y, 0))",
    "rank": "rank of the network (CP rank, TT rank or HT rank)",
    "m": "number of features per patch (the mode size of the coefficient tensor)",
    "patch_size": "side of the square patches an image is cut into (d = number of patches)",
    "features": "per-patch feature map (cnn with --patch-size equal to the image size: a standard CNN)",
    "hidden": "hidden width of the conv and mlp feature maps",
    "dropout": "dropout probability on the patch features",
    "product": "how TT cores are contracted (auto: sequential on CPU, tree on CUDA)",
    "init": "initialisation of the network (identity: near the identity map; needs --constant-feature)",
    "constant_feature": "make the last feature the constant 1",
    "init_noise": "scale of the perturbation of the identity initialisation",
    "epochs": "number of training epochs (may be raised when resuming a finished run)",
    "batch_size": "training minibatch size",
    "lr": "peak learning rate",
    "schedule": "learning-rate schedule per optimizer step",
    "warmup_epochs": "linear warm-up in epochs (cosine schedule)",
    "weight_decay": "decoupled weight decay (> 0 switches Adam to AdamW)",
    "grad_clip": "clip the gradient norm to this value (default: no clipping)",
    "label_smoothing": "label smoothing of the cross-entropy loss",
    "patience": "stop when validation accuracy has not improved for this many epochs (needs --val-size)",
    "save_predictions": "store every test image's predicted class and label at the epoch validation chose "
                        "(paired tests)",
    "seed": "seed of the initialisation, minibatch order and augmentation",
    "device": "device to train on: auto (CUDA when available), cpu, cuda, cuda:1, ...",
    "amp": "bfloat16 autocast (CUDA only)",
    "num_threads": "number of CPU threads of torch (default: torch's choice)",
    "eval_batch_size": "batch size of evaluation",
    "evaluate_test": "evaluate the test set after every epoch (searches turn it off: choices never see it)",
    "checkpoint_dir": "checkpoint folder (default: runs/<dataset>/<run name>/)",
    "results_path": "results file (default: runs/<dataset>/<run name>.json)",
    "resume": "continue from the checkpoint if there is one (it must come from the same configuration)",
    "progress": "show progress bars",
    "name": "run name (default: made from the configuration)",
}


# ----------------------------------------------------------------------------- paths

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
    """Where the run's results JSON goes: ``config.results_path``, else
    ``runs/<dataset>/<run name>.json`` (``runs/`` is git-ignored; only the named experiments of
    :mod:`tt_rnn.experiments` write into ``results/``)."""
    return Path(config.results_path) if config.results_path else \
        Path(ADHOC_ROOT) / config.dataset / f"{run_name(config)}.json"


def checkpoint_path(config: TrainConfig) -> Path:
    """The run's checkpoint file ``<checkpoint_dir>/last.pt`` (default folder
    ``runs/<dataset>/<run name>/``)."""
    folder = Path(config.checkpoint_dir) if config.checkpoint_dir else \
        Path(ADHOC_ROOT) / config.dataset / run_name(config)
    return folder / "last.pt"


_PATH_FIELDS = ("data_dir", "cache_dir", "checkpoint_dir", "results_path")


def portable_config(config: TrainConfig) -> TrainConfig:
    """``config`` with every path as stored in a results file (:func:`~tt_rnn.runfiles.portable_path`)."""
    return config.replace(**{f: portable_path(getattr(config, f)) for f in _PATH_FIELDS})


def config_to_cli(config: TrainConfig) -> str:
    """The ``python -m tt_rnn.train`` command line equivalent to ``config`` (non-default fields;
    paths as stored in results files)."""
    config = portable_config(config)
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


# ----------------------------------------------------------------------------- same run or not

# Config fields that say where and how a run executes, not what it computes.
RUN_ONLY_FIELDS = frozenset({"data_dir", "cache_dir", "download", "results_path", "checkpoint_dir",
                             "resume", "progress", "name", "num_threads", "eval_batch_size", "device",
                             "evaluate_test"})
# What may change between a checkpoint and the run that resumes it: the run-only fields, and the
# number of epochs (extending a finished run; the learning-rate schedule then follows the new total).
RESUMABLE_CHANGES = RUN_ONLY_FIELDS | {"epochs"}
# Values of config fields added after some results files were written (absent there = this value).
LEGACY_DEFAULTS = {"xi": "product", "val_size": 0, "split_seed": 0, "init": "random", "constant_feature": False,
                   "init_noise": 1.0, "patience": None, "save_predictions": False}


def experiment_fields(config) -> dict:
    """The fields of a config (``TrainConfig`` or its dict) that define the experiment."""
    values = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    return {k: v for k, v in values.items() if k not in RUN_ONLY_FIELDS}


def same_experiment(stored_config: dict, config) -> tuple[bool, dict]:
    """Whether a stored run's config is the experiment ``config`` asks for, and the differing
    fields as ``{field: (stored, wanted)}``. A field the stored file lacks takes its
    :data:`LEGACY_DEFAULTS` value (it did not exist when the file was written)."""
    wanted = experiment_fields(config)
    stored = {k: stored_config.get(k, LEGACY_DEFAULTS.get(k)) for k in wanted}
    diff = {k: (stored[k], wanted[k]) for k in wanted if stored[k] != wanted[k]}
    return not diff, diff


def resume_conflicts(stored_config: dict, config) -> dict:
    """The fields, ``{field: (in the checkpoint, now)}``, that forbid resuming a checkpoint
    written with ``stored_config`` under ``config`` (all but :data:`RESUMABLE_CHANGES`)."""
    return {k: v for k, v in same_experiment(stored_config, config)[1].items() if k not in RESUMABLE_CHANGES}
