"""Every experiment of the repository, defined once, by name.

A name is the results file's path below ``results/`` without ``.json``: the experiment
``mnist/best/tt-shared_r32_m32_mlp256`` writes ``results/mnist/best/tt-shared_r32_m32_mlp256.json``
and checkpoints to ``checkpoints/mnist/best/tt-shared_r32_m32_mlp256/``. Run one with::

    python -m tt_rnn.train --config mnist/best/tt-shared_r32_m32_mlp256 --resume
    python -m tt_rnn.train --list-configs cifar10/          # the names
    python -m tt_rnn.sweep 'cifar10/sweep/*'                # all of a group, resuming

The notebooks import the same configurations (:func:`group`) and read their results files with
:func:`tt_rnn.notebooks.load_or_train`; :func:`quick` shrinks a configuration for smoke tests.
"""

from __future__ import annotations

import fnmatch

from .config import TrainConfig

__all__ = ["EXPERIMENTS", "get", "group", "select", "quick", "MNIST_SWEEP", "MNIST_BEST", "CIFAR10_SWEEP",
           "CIFAR10_BEST", "CIFAR10_CONV", "VALIDATION", "MNIST_CALIBRATION", "MNIST_VAL_SWEEP",
           "MNIST_VAL_BEST", "CIFAR10_VAL_SWEEP", "CIFAR10_VAL_CONV", "CIFAR10_VAL_BEST", "INIT_NOISE",
           "BUDGET_PROBES", "BUDGET_EPOCHS", "BUDGET_TOL", "BUDGET_SEEDS", "budget_study", "budget_seeds", "budget_folder",
           "SWEEP_EPOCHS", "MNIST_CONVERGED_SWEEP", "CIFAR10_CONVERGED_SWEEP", "SEARCH_BASES", "SEARCH_RANK",
           "BASELINES", "SEARCH_FORMATS", "TRIAL_PARAMS", "search_base", "trial_changes", "SELECTED",
           "FINAL_BUDGET", "FINAL_SEEDS", "EQUAL_PARAMS", "EQUAL_PARAMS_TRAINING", "IMAGE_SIZE", "selected_config",
           "final_config", "comparison_config", "final_names", "baseline_names", "selected_runs",
           "refresh_selected_runs",
           "equal_params_names"]

MODELS = ("tt-shared", "tt", "ht", "cp")
# Execution settings shared by every named run (not part of the experiment; see tt_rnn.config.RUN_ONLY_FIELDS).
_RUN = dict(num_threads=1, progress=False)


def _named(name: str, config: TrainConfig) -> tuple[str, TrainConfig]:
    return name, config.replace(name=name.replace("/", "_"), results_path=f"results/{name}.json",
                                checkpoint_dir=f"checkpoints/{name}", **_RUN)


# --- MNIST: 7x7 patches (d = 16), per-patch MLP features (256 hidden, m = 32)
MNIST_SWEEP = TrainConfig(dataset="mnist", m=32, patch_size=7, features="mlp", hidden=256, epochs=3,
                          train_subset=20000, batch_size=128, lr=2e-3, schedule="cosine",
                          warmup_epochs=0.5, seed=0)
MNIST_SWEEP_RANKS = (1, 2, 4, 8, 16, 32, 64)
MNIST_BEST = TrainConfig(dataset="mnist", rank=32, m=32, patch_size=7, features="mlp", hidden=256,
                         dropout=0.1, augment="shift", shift=2, epochs=30, batch_size=128, lr=2e-3,
                         schedule="cosine", warmup_epochs=1.0, seed=0)
_MNIST_BEST_RUNS = {  # name -> changes to MNIST_BEST
    "tt-shared_r32_m32_mlp256": dict(model="tt-shared"),
    "tt-shared_r32_m32_mlp256_s1": dict(model="tt-shared", seed=1),
    "tt_r32_m32_mlp256": dict(model="tt"),
    "tt_r32_m32_mlp256_do0.2": dict(model="tt", dropout=0.2),
    "ht_r32_m32_mlp256": dict(model="ht"),
    "cp_r32_m32_mlp256": dict(model="cp"),
    "cp_r32_m32_mlp256_do0": dict(model="cp", dropout=0.0),
}

# --- CIFAR-10: 8x8 patches (d = 16)
CIFAR10_SWEEP = TrainConfig(dataset="cifar10", features="linear", patch_size=8, m=32, train_subset=20000,
                            epochs=4, batch_size=128, lr=3e-3, schedule="onecycle", weight_decay=5e-4,
                            grad_clip=5.0)
CIFAR10_SWEEP_RANKS = (4, 16, 64)
CIFAR10_BEST = TrainConfig(dataset="cifar10", model="tt-shared", rank=32, m=64, patch_size=8,
                           features="conv", hidden=16, augment="crop-flip", shift=4, epochs=20,
                           batch_size=128, lr=3e-3, schedule="onecycle", weight_decay=5e-4, grad_clip=5.0)
CIFAR10_CONV = CIFAR10_BEST.replace(train_subset=20000, epochs=4)  # the four formats, reduced budget

# --- The validation protocol: every format near the identity with the constant feature
# (tt_rnn.initializers), a fixed seeded validation split of 5,000 training images recorded in
# every results file; choices are made on val_acc, the test set is for reporting only.
VALIDATION = dict(val_size=5000, split_seed=0, init="identity", constant_feature=True)
# The identity's perturbation per format, chosen on the validation accuracy of mnist/calibration
# (2 epochs): noise 4 for the shared core (r = 16: 94.54 % against 93.44 % with noise 1), 1 for
# the others (CP r = 16: 93.86 % against 91.76 %; HT 94.82 against 92.70; TT 96.68 against 96.80).
INIT_NOISE = {"tt-shared": 4.0, "tt": 1.0, "ht": 1.0, "cp": 1.0}
# The classic models under the same protocol (random initialisation, no constant feature).
VALIDATION_RANDOM = dict(val_size=5000, split_seed=0)
SEED_RANKS = (4, 16, 64)      # ranks repeated with seeds 1 and 2
EXTRA_SEEDS = (1, 2)

# MNIST calibration: does every format leave log 10 within one epoch? Identity + constant feature,
# against the classic random initialisation without it (and CP with the constant feature alone);
# 2 epochs on 20,000 images.
MNIST_CALIBRATION = MNIST_SWEEP.replace(epochs=2, val_size=5000, split_seed=0)
MNIST_CALIBRATION_RANKS = (1, 4, 16, 64)
# MNIST sweep under the protocol: the budget of mnist/sweep (3 epochs on 20,000 images).
MNIST_VAL_SWEEP = MNIST_SWEEP.replace(**VALIDATION)
MNIST_VAL_SWEEP_RANKS = (1, 2, 4, 8, 16, 32, 64)
MNIST_VAL_CP_RANKS = (128, 256)  # the shallow network needs larger ranks
# MNIST best models under the protocol: the budget of mnist/best (30 epochs, 55,000 images).
MNIST_VAL_BEST = MNIST_BEST.replace(**VALIDATION)
_MNIST_VAL_BEST_RUNS = {
    "tt-shared_r32": dict(model="tt-shared"), "tt_r32": dict(model="tt"), "ht_r32": dict(model="ht"),
    "cp_r32": dict(model="cp"), "cp_r256": dict(model="cp", rank=256),
    "cp_r256_do0": dict(model="cp", rank=256, dropout=0.0),
}
MNIST_VAL_BEST_SEEDED = ("tt-shared_r32", "tt_r32", "ht_r32", "cp_r32", "cp_r256_do0")  # also seeds 1, 2
# CIFAR-10 under the protocol: the budget of cifar10/sweep (4 epochs on 20,000 images, linear
# features) and of cifar10/conv_features / cifar10/best (conv features).
CIFAR10_VAL_SWEEP = CIFAR10_SWEEP.replace(**VALIDATION)
CIFAR10_VAL_SWEEP_RANKS = (4, 8, 16, 32, 64)
CIFAR10_VAL_CONV = CIFAR10_CONV.replace(**VALIDATION)
CIFAR10_VAL_BEST = CIFAR10_BEST.replace(**VALIDATION)

# Training budgets chosen on validation (the doubling rule; tt_rnn.tables.select_budget). A study
# trains probes (every format at a few ranks) with a group's configuration for budgets E that double;
# it picks the smallest E at which doubling raises no probe's final validation accuracy by
# BUDGET_TOL or more (15 of the 5,000 validation images, about one standard error at 97 %).
# Sweeps: from the sweep's own budget up (its runs are the val_sweep files); best models: half the
# full budget of the val_best files and (CIFAR-10, still rising there) two and four times it.
BUDGET_TOL = 0.003
BUDGET_EPOCHS = {"mnist/val_sweep": (3, 6, 12, 24), "cifar10/val_sweep": (4, 8, 16, 32),
                 "mnist/val_best": (15, 30), "cifar10/val_best": (10, 20, 40, 80)}
# the budget of each group's own runs (a candidate of its study)
_OWN_EPOCHS = {"mnist/val_sweep": MNIST_VAL_SWEEP.epochs, "cifar10/val_sweep": CIFAR10_VAL_SWEEP.epochs,
               "mnist/val_best": MNIST_VAL_BEST.epochs, "cifar10/val_best": CIFAR10_VAL_BEST.epochs}
BUDGET_PROBES = {"mnist/val_sweep": ("tt-shared_r4", "tt_r4", "ht_r4", "cp_r4",
                                     "tt-shared_r64", "tt_r64", "ht_r64", "cp_r64"),
                 "mnist/val_best": ("tt-shared_r32", "tt_r32", "ht_r32", "cp_r32", "cp_r256_do0"),
                 "cifar10/val_best": ("tt-shared_r32", "tt_r32", "ht_r32", "cp_r32")}
BUDGET_PROBES["cifar10/val_sweep"] = BUDGET_PROBES["mnist/val_sweep"]
# more seeds of a probe at a budget of its study, {study: {(probe, epochs): seeds}}: the CIFAR-10
# formats at 40 epochs (distinct cores with one more seed, as CPU allowed): a spread where 20 epochs
# still rise
BUDGET_SEEDS = {"cifar10/val_best": {("tt-shared_r32", 40): EXTRA_SEEDS, ("tt_r32", 40): (1,),
                                     ("ht_r32", 40): EXTRA_SEEDS, ("cp_r32", 40): EXTRA_SEEDS}}


def budget_folder(study: str) -> str:
    """Where ``study``'s runs beyond the group's own budget are written, below ``results/``:
    ``<data>/budget`` for a sweep, ``<data>/budget_best`` for the best models."""
    dataset, group_name = study.split("/")
    return f"{dataset}/budget" if group_name == "val_sweep" else f"{dataset}/budget_best"


def budget_study(study: str) -> dict[tuple[str, int], str]:
    """The runs of the doubling rule for ``study`` (a key of :data:`BUDGET_EPOCHS`):
    ``{(probe, epochs): experiment name}``; the group's own runs stand for its own budget."""
    if study not in BUDGET_EPOCHS:
        raise ValueError(f"no budget study {study!r}; choose one of {', '.join(BUDGET_EPOCHS)}")
    return {(probe, epochs): f"{study}/{probe}" if epochs == _OWN_EPOCHS[study] else
            f"{budget_folder(study)}/{probe}_e{epochs}"
            for epochs in BUDGET_EPOCHS[study] for probe in BUDGET_PROBES[study]}


def budget_seeds(study: str) -> dict[tuple[str, int, int], str]:
    """The extra seeds of ``study``'s probes (:data:`BUDGET_SEEDS`): ``{(probe, epochs, seed): name}``,
    names ``<folder>/<probe>_s<seed>_e<epochs>`` (the group's seeded run with another budget). The
    doubling rule reads seed 0 only; these give the spread at that budget."""
    return {(probe, epochs, seed): f"{budget_folder(study)}/{probe}_s{seed}_e{epochs}"
            for (probe, epochs), seeds in BUDGET_SEEDS.get(study, {}).items() for seed in seeds}


# The sweeps at the budget of the doubling rule (results/<data>/budget; the largest candidate where
# the rule cannot decide; tests/test_results.py checks it against the committed results files).
SWEEP_EPOCHS = {"mnist": 24, "cifar10": 32}
MNIST_CONVERGED_SWEEP = MNIST_VAL_SWEEP.replace(epochs=SWEEP_EPOCHS["mnist"])
CIFAR10_CONVERGED_SWEEP = CIFAR10_VAL_SWEEP.replace(epochs=SWEEP_EPOCHS["cifar10"])


# Rectifier networks (xi = max(x, y, 0); Khrulkov, Hrinchuk, Oseledets 2019) under the protocol: the
# feature maps and budgets of mnist/val_sweep and cifar10/val_sweep, with the constant feature and
# random initialisation (the identity initialisation is defined for the product only). The
# learning rate is chosen on validation by the rectifier calibration groups (r = 16, every format,
# seed 0; RECTIFIER_LR below).
RECTIFIER = dict(VALIDATION_RANDOM, constant_feature=True, xi="rectifier")
RECTIFIER_CALIBRATION_LRS = {"mnist": (5e-4, 2e-3, 8e-3, 3.2e-2, 1.28e-1), "cifar10": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)}
RECTIFIER_CALIBRATION_RANK = 16
# Extra MNIST rectifier seeds for the trained-network analysis (tt_rnn.rectifier_analysis).
RECTIFIER_ANALYSIS_SEEDS = (3, 4)
RECTIFIER_ANALYSIS_RANKS = (4, 16)
# The learning rate of each format: the argmax of the calibration's validation accuracy (3 epochs;
# tests/test_rectifier_analysis.py checks it against the committed results files).
# Validation accuracy at the chosen rate: MNIST TT-shared 90.32 %, TT 92.30, HT 95.52, CP 95.42;
# CIFAR-10 TT-shared 35.76 %, TT 37.58, HT 44.98, CP 43.50 (every optimum is inside its grid).
RECTIFIER_LR = {"mnist": {"tt-shared": 2e-3, "tt": 2e-3, "ht": 8e-3, "cp": 3.2e-2},
                "cifar10": {"tt-shared": 1e-3, "tt": 1e-3, "ht": 1e-2, "cp": 1e-2}}


# --- Per-format searches on validation (tt_rnn.search) and the configurations they selected.
# A search trains the base of its data set (the best models' settings under the protocol) at
# SEARCH_RANK and varies what :func:`trial_changes` maps a trial's parameters onto. The two
# baselines are searched the same way on both data sets, over the fields that apply to them:
# "pool-linear" is the tensor networks' per-patch feature map averaged over the patches, then a
# linear classifier; "cnn" is a standard CNN on the whole image (tt_rnn.features.CNNFeatures with
# the patch = the image, d = 1) and the same linear classifier. Neither takes the identity
# initialisation (it is defined for the multilinear networks only) nor the constant feature (a
# bias the linear classifier has already), so their searches leave out init and init_noise; the
# CNN's feature map is fixed (channels 16, 32 and 64; on MNIST 74,650 parameters with m = 32,
# 77,050 with m = 64, about the smallest equal-parameter budget below), so its search leaves out
# the choice of feature map; its patch is the whole image (IMAGE_SIZE).
SEARCH_BASES = {"mnist": MNIST_VAL_BEST, "cifar10": CIFAR10_VAL_BEST}
SEARCH_RANK = 32
BASELINES = {"pool-linear": dict(model="pool-linear", init="random", constant_feature=False),
             "cnn": dict(model="pool-linear", features="cnn", hidden=16, init="random", constant_feature=False)}
IMAGE_SIZE = {"mnist": 28, "cifar10": 32}
SEARCH_FORMATS = {"mnist": MODELS + tuple(BASELINES), "cifar10": MODELS + tuple(BASELINES)}
# the fields a trial may set (tt_rnn.search.suggest draws them; the baselines draw a subset)
TRIAL_PARAMS = ("init", "lr", "weight_decay", "dropout", "m", "init_noise", "features", "augment")


def search_base(dataset: str, fmt: str) -> TrainConfig:
    """The configuration the search ``<dataset>/<fmt>`` varies: the data set's base at
    :data:`SEARCH_RANK` for the format ``fmt`` (one of :data:`SEARCH_FORMATS`)."""
    if fmt not in SEARCH_FORMATS.get(dataset, ()):
        raise ValueError(f"no search {dataset}/{fmt}; searches: "
                         f"{', '.join(f'{d}/{f}' for d, fs in SEARCH_FORMATS.items() for f in fs)}")
    base = SEARCH_BASES[dataset].replace(rank=SEARCH_RANK, **_RUN)
    if fmt == "cnn":
        return base.replace(**BASELINES[fmt], patch_size=IMAGE_SIZE[dataset])
    return base.replace(**BASELINES[fmt]) if fmt in BASELINES else base.replace(model=fmt)


def trial_changes(params: dict, dataset: str) -> dict:
    """The :class:`TrainConfig` changes of a search trial's parameters (Optuna's ``trial.params``).

    The one mapping from a search's parameters to a run: :func:`tt_rnn.search.suggest` draws the
    parameters and applies it, and :data:`SELECTED` is its value at each search's best trial.
    ``init`` sets the constant feature with it (the identity reads it); ``features`` sets the
    feature map's hidden width (MNIST: 256 for mlp, 32 for linear; CIFAR-10: 16 for conv, 32 for
    linear); CIFAR-10 fixes the crop padding at 4. A parameter a trial did not draw (the
    baselines' ``init``, the CNN's ``features``) leaves its field at the search's base."""
    unknown = sorted(set(params) - set(TRIAL_PARAMS))
    if unknown:
        raise ValueError(f"unknown search parameters {unknown}; a trial draws {', '.join(TRIAL_PARAMS)}")
    if dataset not in SEARCH_BASES:
        raise ValueError(f"dataset = {dataset!r}: searches exist for {', '.join(SEARCH_BASES)}")
    missing = [k for k in ("lr", "weight_decay", "dropout", "m", "augment") if k not in params]
    if params.get("init") == "identity" and "init_noise" not in params:
        missing.append("init_noise")
    if missing:
        raise ValueError(f"search parameters {params} lack {', '.join(missing)}")
    changes = {k: params[k] for k in ("lr", "weight_decay", "dropout", "m", "augment")}
    if "init" in params:
        changes.update(init=params["init"], constant_feature=params["init"] == "identity")
        if params["init"] == "identity":  # the perturbation of the identity (tt_rnn.initializers)
            changes["init_noise"] = params["init_noise"]
    if "features" in params:
        wide = {"mnist": "mlp", "cifar10": "conv"}[dataset]
        changes.update(features=params["features"],
                       hidden={"mnist": 256, "cifar10": 16}[dataset] if params["features"] == wide else 32)
    if dataset == "cifar10":
        changes["shift"] = 4
    return changes


def _format(base: TrainConfig, model: str, **changes) -> TrainConfig:
    """``base`` for ``model``, with the format's :data:`INIT_NOISE` when it starts at the identity."""
    noise = INIT_NOISE[model] if base.init == "identity" else base.init_noise
    return base.replace(model=model, init_noise=noise, **changes)


def _seeded(prefix: str, base: TrainConfig, ranks, models=MODELS, seeds=EXTRA_SEEDS, seed_ranks=SEED_RANKS,
            per_model=None) -> list:
    """``prefix/{model}_r{rank}`` for every rank and model, plus ``seeds`` at ``seed_ranks``.

    ``per_model``: ``{model: {field: value}}`` changes for one format (e.g. its learning rate)."""
    per_model = per_model or {}
    runs = [_named(f"{prefix}/{model}_r{rank}", _format(base, model, rank=rank, **per_model.get(model, {})))
            for rank in ranks for model in models]
    runs += [_named(f"{prefix}/{model}_r{rank}_s{seed}",
                    _format(base, model, rank=rank, seed=seed, **per_model.get(model, {})))
             for seed in seeds for rank in seed_ranks if rank in ranks for model in models]
    return runs


EXPERIMENTS: dict[str, TrainConfig] = dict(
    [_named(f"mnist/sweep/{model}_r{rank}", MNIST_SWEEP.replace(model=model, rank=rank))
     for rank in MNIST_SWEEP_RANKS for model in MODELS]
    + [_named(f"mnist/best/{name}", MNIST_BEST.replace(**change)) for name, change in _MNIST_BEST_RUNS.items()]
    + [_named(f"cifar10/sweep/{model}_r{rank}", CIFAR10_SWEEP.replace(model=model, rank=rank))
       for rank in CIFAR10_SWEEP_RANKS for model in MODELS]
    + [_named("cifar10/best/tt-shared_conv16_m64_r32_cropflip_e20", CIFAR10_BEST),
       # the ablation: the same budget with the per-patch linear + ReLU map of Khrulkov et al.
       _named("cifar10/best/tt-shared_linear_m64_r32_cropflip_e20", CIFAR10_BEST.replace(features="linear", hidden=32))]
    + [_named(f"cifar10/conv_features/{model}_r32", CIFAR10_CONV.replace(model=model)) for model in MODELS]
    # the validation protocol (VALIDATION above)
    + [_named(f"mnist/calibration/{model}_r{rank}_identity",
              MNIST_CALIBRATION.replace(model=model, rank=rank, init="identity", constant_feature=True))
       for rank in MNIST_CALIBRATION_RANKS for model in MODELS]
    + [_named(f"mnist/calibration/{model}_r{rank}_random", MNIST_CALIBRATION.replace(model=model, rank=rank))
       for rank in MNIST_CALIBRATION_RANKS for model in MODELS]
    # the constant feature alone (random initialisation): which of the two changes matters
    + [_named(f"mnist/calibration/cp_r{rank}_random_constant",
              MNIST_CALIBRATION.replace(model="cp", rank=rank, constant_feature=True))
       for rank in MNIST_CALIBRATION_RANKS[1:]]
    # a larger perturbation of the identity (init_noise 4: the shared core then gets the distinct cores' scale)
    + [_named(f"mnist/calibration/{model}_r{rank}_identity_noise4",
              MNIST_CALIBRATION.replace(model=model, rank=rank, init="identity", constant_feature=True,
                                        init_noise=4.0))
       for rank in (16, 64) for model in MODELS]
    + _seeded("mnist/val_sweep", MNIST_VAL_SWEEP, MNIST_VAL_SWEEP_RANKS)
    + [_named(f"mnist/val_sweep/cp_r{rank}", _format(MNIST_VAL_SWEEP, "cp", rank=rank))
       for rank in MNIST_VAL_CP_RANKS]
    + _seeded("mnist/val_sweep_random", MNIST_SWEEP.replace(**VALIDATION_RANDOM), MNIST_VAL_SWEEP_RANKS, seeds=())
    + [_named(f"mnist/val_best/{name}", _format(MNIST_VAL_BEST, **change))
       for name, change in _MNIST_VAL_BEST_RUNS.items()]
    + [_named(f"mnist/val_best/{name}_s{seed}", _format(MNIST_VAL_BEST, seed=seed, **_MNIST_VAL_BEST_RUNS[name]))
       for seed in EXTRA_SEEDS for name in MNIST_VAL_BEST_SEEDED]
    + _seeded("cifar10/val_sweep", CIFAR10_VAL_SWEEP, CIFAR10_VAL_SWEEP_RANKS)
    + _seeded("cifar10/val_sweep_random", CIFAR10_SWEEP.replace(**VALIDATION_RANDOM), CIFAR10_VAL_SWEEP_RANKS,
              seeds=())
    + [_named(f"cifar10/val_conv/{model}_r32", _format(CIFAR10_VAL_CONV, model)) for model in MODELS]
    + [_named(f"cifar10/val_best/{model}_r32", _format(CIFAR10_VAL_BEST, model)) for model in MODELS]
    + [_named(f"cifar10/val_best/{model}_r32_s{seed}", _format(CIFAR10_VAL_BEST, model, seed=seed))
       for seed in EXTRA_SEEDS for model in MODELS]
    # the sweeps at the budget chosen on validation
    + _seeded("mnist/converged_sweep", MNIST_CONVERGED_SWEEP, MNIST_VAL_SWEEP_RANKS)
    + [_named(f"mnist/converged_sweep/cp_r{rank}", _format(MNIST_CONVERGED_SWEEP, "cp", rank=rank))
       for rank in MNIST_VAL_CP_RANKS]
    + _seeded("cifar10/converged_sweep", CIFAR10_CONVERGED_SWEEP, CIFAR10_VAL_SWEEP_RANKS)
    # rectifier networks: the learning rate on validation, then the sweeps
    + [_named(f"{dataset}/rectifier_calibration/{model}_r{RECTIFIER_CALIBRATION_RANK}_lr{lr:g}",
              base.replace(model=model, rank=RECTIFIER_CALIBRATION_RANK, lr=lr, **RECTIFIER))
       for dataset, base in (("mnist", MNIST_SWEEP), ("cifar10", CIFAR10_SWEEP))
       for lr in RECTIFIER_CALIBRATION_LRS[dataset] for model in MODELS]
    + _seeded("mnist/val_sweep_rectifier", MNIST_SWEEP.replace(**RECTIFIER), MNIST_VAL_SWEEP_RANKS,
              per_model={model: dict(lr=lr) for model, lr in RECTIFIER_LR["mnist"].items()})
    # seeds 3 and 4 at r = 4 and 16, so that the trained-network analysis has five seeds there
    + [_named(f"mnist/val_sweep_rectifier/{model}_r{rank}_s{seed}",
              _format(MNIST_SWEEP.replace(**RECTIFIER), model, rank=rank, seed=seed, lr=RECTIFIER_LR["mnist"][model]))
       for seed in RECTIFIER_ANALYSIS_SEEDS for rank in RECTIFIER_ANALYSIS_RANKS for model in MODELS]
    + _seeded("cifar10/val_sweep_rectifier", CIFAR10_SWEEP.replace(**RECTIFIER), CIFAR10_VAL_SWEEP_RANKS,
              seed_ranks=(RECTIFIER_CALIBRATION_RANK,),
              per_model={model: dict(lr=lr) for model, lr in RECTIFIER_LR["cifar10"].items()})
)

# the training budgets on validation (budget_study): each probe's own run with other numbers of epochs
EXPERIMENTS.update(_named(name, EXPERIMENTS[f"{study}/{probe}"].replace(epochs=epochs))
                   for study in BUDGET_EPOCHS for (probe, epochs), name in budget_study(study).items()
                   if name != f"{study}/{probe}")
EXPERIMENTS.update(_named(name, EXPERIMENTS[f"{study}/{probe}_s{seed}"].replace(epochs=epochs))
                   for study in BUDGET_SEEDS for (probe, epochs, seed), name in budget_seeds(study).items())


# --- The final comparison: every format at the configuration its own search selected on validation.
# SELECTED holds, per search (tt_rnn.search.SEARCHES), the changes trial_changes makes of the
# parameters of its best trial (highest validation accuracy) in results/search/<name>.json,
# written out. tests/test_final_experiments.py checks that every entry is that value, that every
# completed search has an entry and that no incomplete search has one. A search's final and
# equal-parameter runs exist once its entry does: adding a search's selection is one entry here.
SELECTED: dict[str, dict] = {
    # The best trial of each completed search (python -m tt_rnn.search DATASET/ --selected). The
    # first MNIST searches, whose pruner stopped up to two thirds of a search's trials in their
    # first two epochs, and their selections are in the history (docs/protocol.md).
    # best of 30 trials (trial 10): val. acc. 97.98 % after 8 epochs on 20,000 images, rank 32
    "mnist/tt-shared": dict(lr=0.0016252038426977909, weight_decay=0.0001, dropout=0.0, m=64, augment="shift",
                            init="random", constant_feature=False, features="mlp", hidden=256),
    # best of 31 trials (trial 22; two workers each started a last trial): 98.52 %
    "mnist/tt": dict(lr=0.0009048869370855427, weight_decay=0.0001, dropout=0.0, m=64, augment="shift",
                     init="identity", constant_feature=True, init_noise=0.5, features="mlp", hidden=256),
    # best of 30 trials (trial 14): 98.20 %
    "mnist/ht": dict(lr=0.009626503962054256, weight_decay=0.0, dropout=0.0, m=64, augment="shift",
                     init="identity", constant_feature=True, init_noise=4.0, features="mlp", hidden=256),
    # best of 30 trials (trial 23): 98.00 %
    "mnist/cp": dict(lr=0.004412412328960082, weight_decay=0.0005, dropout=0.1, m=64, augment="shift",
                     init="identity", constant_feature=True, init_noise=0.5, features="mlp", hidden=256),
}
# The final runs: the selected configuration on the whole training set less the searches'
# validation split (val_size 5,000, split_seed 0: 55,000 MNIST images), early-stopped on
# validation accuracy, with the test predictions of the epoch validation chose
# (save_predictions: the paired tests of tt_rnn.final_report), seeds FINAL_SEEDS.
# MNIST: up to 30 epochs, patience 10. 30 is the budget of mnist/val_best, for which the doubling
# rule found 15 enough (docs/protocol.md#budgets), and the cosine schedule spans the budget, so a
# longer one would keep the learning rate high through epochs that budget study shows are not
# needed, and a run stopped early would not have annealed (in mnist/val_best the best validation
# epochs came during the annealing, epochs 22-29 of 30). Patience 10 is above the longest stretch
# without a new best validation accuracy in the sixteen 30-epoch mnist/val_best runs (8 epochs),
# so it ends only a run that has stopped improving. The rule is the same for every format and
# reads validation only.
# CIFAR-10: up to 80 epochs, the largest budget of its doubling study (undecided there: only
# distinct cores had converged by 80), patience 15, above the longest such stretch in the four
# 80-epoch probes of cifar10/budget_best (13 epochs).
FINAL_BUDGET = {"mnist": dict(epochs=30, patience=10), "cifar10": dict(epochs=80, patience=15)}
FINAL_SEEDS = (0, 1, 2)
# Formats at equal total parameter counts (feature map included): each format's selected
# configuration at the rank whose count is closest to the budget (tt_rnn.train.rank_for_parameters;
# tests/test_final_experiments.py checks every rank against it and every count to within 2 % of
# its budget), the finals' training rule and seeds. The budgets lie near 78,000 (about the CNN
# baseline and the rank-32 models of the shared core, HT and CP), 145,000 and 300,000 parameters,
# where TT with distinct cores, whose count grows by about 2 d m r per rank, and every other format
# land within 1 % (python -m tt_rnn.search DATASET/ --budgets 78000 145000 300000 prints the entry).
# How the equal-parameter runs and the baselines train (changes to the final runs' training).
# MNIST: as the final runs. CIFAR-10: at the searches' per-trial budget (10 epochs on 20,000 of the
# 45,000 training images, the same validation split), because the final runs' budget (up to 80
# epochs on 45,000 images, about an hour a run on one core) times 36 equal-parameter runs and 6
# baseline runs is far beyond the compute of this study (docs/protocol.md#compute); the figure and
# tables say which budget each comparison had.
EQUAL_PARAMS_TRAINING = {"mnist": {}, "cifar10": dict(epochs=10, patience=None, train_subset=20000)}
EQUAL_PARAMS: dict[str, dict[int, dict[str, int]]] = {
    # python -m tt_rnn.search DATASET/ --budgets 78000 145000 300000, once DATASET's searches are selected;
    # MNIST: every format within 0.8 % of each budget (no budget within 15 % of 78,000 or 145,000
    # has every format within 1 %: the tool falls back to the one where they lie closest together)
    "mnist": {66_000: {"tt-shared": 19, "tt": 6, "ht": 26, "cp": 35},
              127_000: {"tt-shared": 34, "tt": 10, "ht": 54, "cp": 94},
              300_000: {"tt-shared": 60, "tt": 17, "ht": 107, "cp": 262}},
}


def _seed_suffix(seed: int) -> str:
    return "" if seed == 0 else f"_s{seed}"


def selected_config(search: str) -> TrainConfig:
    """The configuration search ``search`` (``"mnist/tt"``) selected: its base with the changes of
    :data:`SELECTED` (rank and budget those of the search's base)."""
    if search not in SELECTED:
        raise KeyError(f"search {search!r} has no selected configuration in SELECTED (entries: "
                       f"{', '.join(SELECTED)}); add its best trial once the search is completed")
    dataset, fmt = search.split("/")
    return search_base(dataset, fmt).replace(**SELECTED[search])


def final_config(search: str, seed: int = 0, rank: int | None = None) -> TrainConfig:
    """The final run of ``search``'s selected configuration with ``seed`` (and ``rank``, for the
    equal-parameter runs): :data:`FINAL_BUDGET`, early stopping, test predictions kept."""
    config = selected_config(search).replace(**FINAL_BUDGET[search.split("/")[0]], save_predictions=True,
                                             seed=seed)
    return config if rank is None else config.replace(rank=rank)


def final_names(dataset: str) -> dict[str, dict[int, str]]:
    """``{format: {seed: name}}``: the final runs of the four tensor-network formats of
    ``dataset``, named ``<dataset>/final/<format>`` (seed 0) and ``..._s<seed>``; a format whose
    search has no :data:`SELECTED` entry yet has names but no experiments. (The baselines are
    trained with the equal-parameter runs: :func:`baseline_names`.)"""
    return {fmt: {seed: f"{dataset}/final/{fmt}{_seed_suffix(seed)}" for seed in FINAL_SEEDS}
            for fmt in SEARCH_FORMATS[dataset] if fmt in MODELS}


def comparison_config(search: str, seed: int = 0, rank: int | None = None) -> TrainConfig:
    """An equal-parameter run (``rank``) or a baseline run (no rank) of ``search``'s selected
    configuration: :func:`final_config` with the data set's :data:`EQUAL_PARAMS_TRAINING`."""
    return final_config(search, seed, rank).replace(**EQUAL_PARAMS_TRAINING[search.split("/")[0]])


def baseline_names(dataset: str) -> dict[str, dict[int, str]]:
    """``{baseline: {seed: name}}``: the baselines of :data:`BASELINES` at their selected
    configurations, trained as the equal-parameter runs of ``dataset`` (:func:`comparison_config`)
    and compared with the formats there, named ``<dataset>/baselines/<baseline>`` and
    ``..._s<seed>``; a baseline whose search has no :data:`SELECTED` entry yet has names but no
    experiments."""
    return {fmt: {seed: f"{dataset}/baselines/{fmt}{_seed_suffix(seed)}" for seed in FINAL_SEEDS}
            for fmt in SEARCH_FORMATS[dataset] if fmt in BASELINES}


def equal_params_names(dataset: str) -> dict[int, dict[str, dict[int, str]]]:
    """``{budget: {format: {seed: name}}}``: the equal-parameter runs of ``dataset`` (an empty dict
    before its budgets are in :data:`EQUAL_PARAMS`), named ``<dataset>/equal_params/<format>_p<budget>``
    and ``..._s<seed>``."""
    return {budget: {fmt: {seed: f"{dataset}/equal_params/{fmt}_p{budget}{_seed_suffix(seed)}"
                           for seed in FINAL_SEEDS} for fmt in ranks}
            for budget, ranks in EQUAL_PARAMS.get(dataset, {}).items()}


SELECTED_GROUPS = ("final", "baselines", "equal_params")  # the groups defined by SELECTED and EQUAL_PARAMS


def selected_runs() -> dict[str, TrainConfig]:
    """The named experiments that :data:`SELECTED` and :data:`EQUAL_PARAMS` define: the final runs,
    the baselines' runs and the equal-parameter runs of every search that has an entry."""
    runs = dict(_named(name, final_config(f"{dataset}/{fmt}", seed))
                for dataset in SEARCH_FORMATS for fmt, names in final_names(dataset).items()
                if f"{dataset}/{fmt}" in SELECTED for seed, name in names.items())
    runs.update(_named(name, comparison_config(f"{dataset}/{fmt}", seed))
                for dataset in SEARCH_FORMATS for fmt, names in baseline_names(dataset).items()
                if f"{dataset}/{fmt}" in SELECTED for seed, name in names.items())
    runs.update(_named(name, comparison_config(f"{dataset}/{fmt}", seed, EQUAL_PARAMS[dataset][budget][fmt]))
                for dataset in EQUAL_PARAMS for budget, formats in equal_params_names(dataset).items()
                for fmt, names in formats.items() for seed, name in names.items())
    return runs


def refresh_selected_runs() -> None:
    """Redefine the experiments of :func:`selected_runs` in :data:`EXPERIMENTS` after
    :data:`SELECTED` or :data:`EQUAL_PARAMS` changed (tests install a selection of their own)."""
    for name in [n for n in EXPERIMENTS if n.split("/")[1:2] and n.split("/")[1] in SELECTED_GROUPS]:
        del EXPERIMENTS[name]
    EXPERIMENTS.update(selected_runs())


EXPERIMENTS.update(selected_runs())


def get(name: str) -> TrainConfig:
    """The configuration of experiment ``name`` (a clear error listing the groups otherwise)."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        groups = sorted({n.rsplit("/", 1)[0] for n in EXPERIMENTS})
        close = [n for n in EXPERIMENTS if n.startswith(name.rsplit("/", 1)[0])][:5]
        raise KeyError(f"no experiment named {name!r}; groups: {', '.join(groups)}"
                       + (f"; e.g. {', '.join(close)}" if close else "")
                       + " (python -m tt_rnn.train --list-configs)") from None


def group(prefix: str) -> dict[str, TrainConfig]:
    """The experiments whose name starts with ``prefix`` (e.g. ``"mnist/sweep/"``), in order."""
    found = {name: config for name, config in EXPERIMENTS.items() if name.startswith(prefix)}
    if not found:
        raise KeyError(f"no experiment starts with {prefix!r}")
    return found


def select(pattern: str) -> list[str]:
    """The names matching ``pattern``, in registry order: a glob (``*``, ``?``, ``[``) matched
    against the whole name, else an exact name, else a prefix (``"mnist/sweep/"``). An empty list
    if none matches."""
    if pattern in EXPERIMENTS:
        return [pattern]
    if any(c in pattern for c in "*?["):
        return [name for name in EXPERIMENTS if fnmatch.fnmatchcase(name, pattern)]
    return [name for name in EXPERIMENTS if name.startswith(pattern)]


def quick(config: TrainConfig, *, epochs: int = 1, train_subset: int = 2000, test_subset: int = 500) -> TrainConfig:
    """A smoke-test version of ``config``: a few epochs on small subsets (never a result).

    The validation split shrinks with the training set (to ``train_subset // 10``)."""
    return config.replace(epochs=min(epochs, config.epochs), train_subset=train_subset,
                          test_subset=test_subset, warmup_epochs=0.0,
                          val_size=min(config.val_size, train_subset // 10))
