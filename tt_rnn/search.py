"""Hyperparameter searches on the validation split, one per format, with Optuna.

Every choice of a format's training configuration (learning rate, weight decay, dropout,
initialisation, feature map and its size, augmentation) is made here, on the validation
accuracy of a seeded split carved from the training set. The test set is never read during a
search: trial runs have ``evaluate_test = False``.

* A search (:class:`SearchSpec`, named in :data:`SEARCHES`) fixes the format, the rank, the
  per-trial budget (epochs, training images) and the number of trials; every format of a data
  set gets the same space and the same budget. On MNIST the two baselines of
  :data:`tt_rnn.experiments.BASELINES` (``mnist/pool-linear``, ``mnist/cnn``) are searched the
  same way over the fields that apply to them.
* :func:`suggest` draws a trial's parameters; :func:`tt_rnn.experiments.trial_changes` maps them
  onto the run, the same mapping that turns each search's best trial into its selected
  configuration (:data:`tt_rnn.experiments.SELECTED`, the final runs).
* Optuna's TPE sampler (seeded) proposes configurations; a median pruner stops a trial whose
  validation accuracy after an epoch is below the median of earlier trials at that epoch, from
  half the trial's epochs on (``prune_after``): before that the learning-rate warm-up, not the
  configuration, decides the ranking (a pruner active from the first epoch stopped two thirds of
  an earlier search's trials in their first two epochs: the slow starters, every near-identity start among them).
* The study lives in a journal file, ``results/search/<name>.journal``, that several workers can
  share (on one machine, or a cluster's shared disk): a search resumes where it stopped, and every
  trial is recorded. ``results/search/<name>.json`` summarises it (each trial's parameters,
  state, validation curve; the best trial), rewritten atomically after every trial.
* A trial trains with :func:`tt_rnn.train.train` into ``runs/search/<name>/trial<number>``,
  checkpointing every epoch; a trial left ``RUNNING`` by a worker that
  died (its run's lock is free) is marked failed and its parameters are tried again, resuming
  from that checkpoint.

Command line (workers run through the sweep runner's executors, :mod:`tt_rnn.sweep`)::

    python -m tt_rnn.search 'mnist/*' --dry-run           # the searches and how far they are
    python -m tt_rnn.search mnist/tt-shared --workers 2    # two worker processes on this machine
    python -m tt_rnn.search mnist/tt-shared --first-worker 1   # beside a command with worker 0
    python -m tt_rnn.search 'cifar10/*' --executor slurm --partition gpu --time 600 --gpus 1
    python -m tt_rnn.search mnist/ --selected              # SELECTED entries of the completed searches
    python -m tt_rnn.search mnist/ --budgets 78000 145000 300000   # an EQUAL_PARAMS entry

References
----------
T. Akiba, S. Sano, T. Yanase, T. Ohta, M. Koyama, "Optuna: a next-generation hyperparameter
optimization framework", KDD 2019.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from .cli import OneLineParser
from .config import TrainConfig
from .experiments import BASELINES, MODELS, SEARCH_FORMATS, SELECTED, search_base, selected_config, trial_changes
from .runfiles import cpu_name, process_is_gone, provenance, this_process, write_json
from .sweep import SLURM_KEYS, SweepRun, run_local, slurm_parameters, submit_slurm
from .train import parameter_count, rank_for_parameters, train

__all__ = ["SearchSpec", "SEARCHES", "suggest", "sampler_seed", "study", "run_trials", "trial_seconds", "SearchJob", "summary",
           "selected_entry", "selection_problems", "equal_params_entry", "main"]

SEARCH_ROOT = "results/search"
TRIAL_ROOT = "runs/search"


@dataclass(frozen=True)
class SearchSpec:
    """One search: the configuration searched around, the budget of a trial, how many trials."""

    name: str                   # "mnist/tt-shared"
    base: TrainConfig           # format, rank, validation split; the fields not searched
    epochs: int                 # per-trial budget
    train_subset: int | None    # training images per trial (after the validation split)
    n_trials: int
    seed: int = 0               # seed of the sampler (trials train with base.seed)
    prune_after: int | None = None  # epochs before the pruner may stop a trial (default: half the epochs)

    def __post_init__(self):
        if self.prune_after is None:
            object.__setattr__(self, "prune_after", self.epochs // 2)

    def to_dict(self) -> dict:
        return {"name": self.name, "base": dataclasses.asdict(self.base), "epochs": self.epochs,
                "train_subset": self.train_subset, "n_trials": self.n_trials, "seed": self.seed,
                "prune_after": self.prune_after}

    @property
    def journal(self) -> Path:
        return Path(SEARCH_ROOT) / f"{self.name}.journal"

    @property
    def summary_path(self) -> Path:
        return Path(SEARCH_ROOT) / f"{self.name}.json"


# The same space and budget for every format of a data set, the baselines included (over the
# fields that apply to them; tt_rnn.experiments.BASELINES); the rank is the best models' (32).
_BUDGET = {"mnist": dict(epochs=8, train_subset=20000, n_trials=30),
           "cifar10": dict(epochs=10, train_subset=20000, n_trials=30)}
SEARCHES: dict[str, SearchSpec] = {
    f"{dataset}/{fmt}": SearchSpec(f"{dataset}/{fmt}", search_base(dataset, fmt), **_BUDGET[dataset])
    for dataset, formats in SEARCH_FORMATS.items() for fmt in formats}


def suggest(trial: optuna.Trial, dataset: str, base: TrainConfig | None = None) -> dict:
    """The :class:`TrainConfig` changes a trial tries: the search space, the same for every format.

    Draws the parameters (in a fixed order: the sampler's random stream depends on it) and maps
    them with :func:`tt_rnn.experiments.trial_changes`. ``base``: the search's configuration; the
    pool-linear baseline draws no initialisation (random only), and a base with the ``cnn``
    feature map draws no feature map."""
    tensor_network = base is None or base.model != BASELINES["pool-linear"]["model"]
    fixed_features = base is not None and base.features == BASELINES["cnn"]["features"]
    params = {}
    if tensor_network:
        params["init"] = trial.suggest_categorical("init", ["identity", "random"])
    params["lr"] = trial.suggest_float("lr", 3e-4, 1e-2, log=True)
    params["weight_decay"] = trial.suggest_categorical("weight_decay", [0.0, 1e-4, 5e-4, 2e-3])
    params["dropout"] = trial.suggest_categorical("dropout", [0.0, 0.1, 0.2])
    params["m"] = trial.suggest_categorical("m", [32, 64])
    if params.get("init") == "identity":  # the perturbation of the identity (tt_rnn.initializers)
        params["init_noise"] = trial.suggest_categorical("init_noise", [0.5, 1.0, 2.0, 4.0])
    if dataset == "mnist":
        if not fixed_features:
            params["features"] = trial.suggest_categorical("features", ["linear", "mlp"])
        params["augment"] = trial.suggest_categorical("augment", ["none", "shift"])
    else:
        if not fixed_features:
            params["features"] = trial.suggest_categorical("features", ["linear", "conv"])
        params["augment"] = trial.suggest_categorical("augment", ["none", "crop-flip"])
    return trial_changes(params, dataset)


def sampler_seed(spec: SearchSpec, worker: int, n_existing: int) -> int:
    """The seed of a worker's sampler: a hash of the search's seed, the worker and the number of
    trials the journal already holds when the worker starts. Each process that joins or resumes a
    search draws its own random numbers: with one seed for every process, a search resumed one trial
    at a time drew the same start-up configuration again and again (an earlier version did)."""
    return int(np.random.SeedSequence([spec.seed, worker, n_existing]).generate_state(1)[0])


def study(spec: SearchSpec, worker: int = 0) -> optuna.Study:
    """The search's Optuna study in its journal file (created, or loaded to resume), its TPE
    sampler seeded by :func:`sampler_seed`: workers sharing a journal, and workers resuming it
    later, do not draw the same random start-up configurations."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial comes from the sweep runner
    spec.journal.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(spec.journal)))
    the_study = optuna.create_study(study_name=spec.name, storage=storage, direction="maximize", load_if_exists=True,
                                    pruner=optuna.pruners.MedianPruner(n_startup_trials=5,
                                                                       n_warmup_steps=spec.prune_after))
    seed = sampler_seed(spec, worker, len(the_study.get_trials(deepcopy=False)))
    the_study.sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=8)
    return the_study


def _trial_config(spec: SearchSpec, changes: dict, key: str) -> TrainConfig:
    folder = Path(TRIAL_ROOT) / spec.name / key
    return spec.base.replace(**changes, epochs=spec.epochs, train_subset=spec.train_subset, evaluate_test=False,
                             resume=True, name=f"{spec.name.replace('/', '_')}_{key}",
                             results_path=f"{folder}.json", checkpoint_dir=str(folder))


def _read_only_study(spec: SearchSpec) -> optuna.Study:
    """The search's study loaded from its journal without writing to it (``create_study`` with
    ``load_if_exists`` appends a create-study record to the journal every time it is called)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=spec.name, storage=JournalStorage(JournalFileBackend(str(spec.journal))))


def trial_seconds(spec: SearchSpec) -> float:
    """Seconds the finished trials of ``spec`` took (start to end of each completed or pruned
    trial, read from the journal without writing to it; 0 without a journal). A trial that a
    worker left running at a session's end counts from its resumption: the interrupted part is
    not in the journal's times."""
    if not spec.journal.is_file():
        return 0.0
    trials = _read_only_study(spec).get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return float(sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials
                     if t.datetime_start and t.datetime_complete))


def _retry_dead_trials(spec: SearchSpec, the_study: optuna.Study) -> int:
    """Trials ``RUNNING`` in the journal whose worker process is certainly gone
    (:func:`tt_rnn.runfiles.process_is_gone`): failed, and their parameters queued again, to resume
    from the dead trial's checkpoint."""
    retried = 0
    for trial in the_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        key, worker = trial.user_attrs.get("key"), trial.user_attrs.get("worker")
        if key is None or worker is None or not process_is_gone(worker):  # just started, or alive
            continue
        the_study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        the_study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number, "resume_key": key})
        retried += 1
    return retried


def _objective(spec: SearchSpec):
    dataset = spec.base.dataset

    def objective(trial: optuna.Trial) -> float:
        changes = suggest(trial, dataset, spec.base)
        # a trial's own folder (a retried trial resumes the folder of the trial it repeats)
        key = trial.user_attrs.get("resume_key") or f"trial{trial.number:04d}"
        trial.set_user_attr("key", key)
        trial.set_user_attr("worker", this_process())  # so a later worker can tell it died
        curve = []

        def report(epoch, model, entry):
            curve.append(entry["val_acc"])
            trial.set_user_attr("val_curve", curve)
            trial.report(entry["val_acc"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation accuracy {entry['val_acc']:.4f} at epoch {epoch}")

        results, _ = train(_trial_config(spec, changes, key), on_epoch_end=report)
        curve = [h["val_acc"] for h in results["history"]]  # also the epochs of a resumed trial
        trial.set_user_attr("val_curve", curve)
        trial.set_user_attr("params_count", results["params"])
        return max(curve)  # the epoch validation chose (early stopping)
    return objective


def _finished(the_study: optuna.Study) -> int:
    return len(the_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def summary(spec: SearchSpec, the_study: optuna.Study | None = None) -> dict:
    """The search's record: every trial (parameters, state, validation curve), the best, the status."""
    the_study = the_study or study(spec)
    trials = [{"number": t.number, "state": t.state.name, "params": t.params, "value": t.value,
               "val_curve": t.user_attrs.get("val_curve", []), "params_count": t.user_attrs.get("params_count"),
               "key": t.user_attrs.get("key")} for t in the_study.get_trials(deepcopy=False)]
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    best = max(complete, key=lambda t: t["value"]) if complete else None
    # "incomplete": fewer trials than planned are finished (a worker may or may not be running)
    return {"search": spec.to_dict(), "status": "completed" if _finished(the_study) >= spec.n_trials else "incomplete",
            "n_finished": _finished(the_study), "best": best, "trials": trials,
            "selected_on": "validation accuracy (best epoch); the test set is not read",
            "provenance": provenance(cpu_name(1)), "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}


def run_trials(spec: SearchSpec, max_trials: int | None = None, worker: int = 0) -> dict:
    """Run trials of ``spec`` in this process until the search has ``n_trials`` finished trials
    (or ``max_trials`` more); returns the summary, also written to ``results/search/<name>.json``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    the_study = study(spec, worker)
    _retry_dead_trials(spec, the_study)
    done_here = 0
    while _finished(the_study) < spec.n_trials and (max_trials is None or done_here < max_trials):
        the_study.optimize(_objective(spec), n_trials=1, catch=(ValueError, FloatingPointError))
        done_here += 1
        write_json(summary(spec, the_study), spec.summary_path)
    record = summary(spec, the_study)
    write_json(record, spec.summary_path)
    return record


def selected_entry(record: dict) -> dict:
    """The :data:`tt_rnn.experiments.SELECTED` entry of a search summary: the run changes of its
    best trial (:func:`tt_rnn.experiments.trial_changes`). Raises ``ValueError`` naming the search
    when it is not completed or has no completed trial (nothing may be selected from it yet)."""
    name = record["search"]["name"]
    if record.get("status") != "completed" or not record.get("best"):
        raise ValueError(f"search {name} is {record.get('status')!r} ({record.get('n_finished')} of "
                         f"{record['search']['n_trials']} trials finished): nothing is selected from it until it "
                         f"is completed (python -m tt_rnn.search {name})")
    return trial_changes(record["best"]["params"], record["search"]["base"]["dataset"])


def equal_params_entry(dataset: str, targets, spread: float = 0.15, tol: float = 0.01) -> dict[int, dict[str, int]]:
    """An :data:`tt_rnn.experiments.EQUAL_PARAMS` entry for ``dataset``: for each target count, the
    budget (a multiple of 1,000 within ``spread`` of the target) closest to the target at which
    every format with a selected configuration has a rank whose count is within ``tol`` of it (or,
    if there is none, the budget where the formats land closest together), with each format's
    rank there (:func:`tt_rnn.train.rank_for_parameters`). A format whose count grows in large
    steps with the rank (TT with distinct cores) decides where a budget can lie."""
    formats = [fmt for fmt in MODELS if f"{dataset}/{fmt}" in SELECTED]
    if not formats:
        raise ValueError(f"no format of {dataset!r} has a SELECTED entry yet: budgets depend on the selected "
                         "configurations (python -m tt_rnn.search DATASET/ --selected)")
    configs = {fmt: selected_config(f"{dataset}/{fmt}") for fmt in formats}
    entry = {}
    for target in targets:
        if target < 1:
            raise ValueError(f"budget target {target!r}: must be a positive number of parameters")
        candidates = range(int(round(target * (1 - spread), -3)), int(round(target * (1 + spread), -3)) + 1, 1000)

        def worst(budget):  # the largest relative distance of a format's closest count from the budget
            return max(abs(parameter_count(c.replace(rank=rank_for_parameters(c, budget))) - budget) / budget
                       for c in configs.values())
        spreads = {b: worst(b) for b in candidates}
        within = [b for b, w in spreads.items() if w <= tol]
        budget = min(within, key=lambda b: abs(b - target)) if within else min(spreads, key=spreads.get)
        entry[budget] = {fmt: rank_for_parameters(c, budget) for fmt, c in configs.items()}
    return entry


def selection_problems(selected: dict | None = None, root=SEARCH_ROOT) -> list[str]:
    """What ties :data:`tt_rnn.experiments.SELECTED` (or ``selected``) to the search summaries in
    ``root`` (``<root>/<dataset>/<format>.json``) and does not hold, one sentence each: an entry
    that is not its completed search's best trial, an entry whose search is incomplete or has no
    summary, a completed search without an entry. An empty list when every tie holds."""
    selected = SELECTED if selected is None else selected
    records = {f"{p.parent.name}/{p.stem}": json.loads(p.read_text()) for p in sorted(Path(root).glob("*/*.json"))}
    problems = []
    for name, entry in selected.items():
        record = records.get(name)
        if record is None:
            problems.append(f"SELECTED[{name!r}] has no search summary {Path(root).as_posix()}/{name}.json: "
                            "select only from a completed search")
            continue
        try:
            best = selected_entry(record)
        except ValueError as exc:
            problems.append(f"SELECTED[{name!r}]: {exc}; remove the entry")
            continue
        if entry != best:
            fields = ", ".join(f"{k} = {entry.get(k)!r} (the best trial: {best.get(k)!r})"
                               for k in sorted(set(entry) | set(best)) if entry.get(k) != best.get(k))
            problems.append(f"SELECTED[{name!r}] is not the best trial (number {record['best']['number']}) of "
                            f"{Path(root).as_posix()}/{name}.json: {fields}; write the entry "
                            f"python -m tt_rnn.search {name} --selected prints")
    for name, record in records.items():
        if record.get("status") == "completed" and name not in selected:
            problems.append(f"search {name} is completed and SELECTED has no entry for it; add the one "
                            f"python -m tt_rnn.search {name} --selected prints")
    return problems


class SearchJob:
    """What a sweep worker runs: trials of one search (see :func:`run_trials`)."""

    def __init__(self, spec: SearchSpec, max_trials: int | None = None, worker: int = 0):
        self.spec, self.max_trials, self.worker = spec, max_trials, worker

    def __call__(self) -> dict:
        start = time.perf_counter()
        record = run_trials(self.spec, self.max_trials, self.worker)
        best = record["best"] or {}
        wall = round(time.perf_counter() - start, 1)
        return {"name": self.spec.name, "status": record["status"], "val_acc": best.get("value"), "wall_time_s": wall,
                "line": f"{record['status']}, {record['n_finished']} of {self.spec.n_trials} trials finished, "
                        f"best val_acc {best.get('value')}, {wall} s"}


# ----------------------------------------------------------------------------- command line

def _select(pattern: str) -> list[SearchSpec]:
    if pattern in SEARCHES:  # a name is itself only ("cifar10/tt" is not "cifar10/tt-shared")
        return [SEARCHES[pattern]]
    names = [n for n in SEARCHES if n.startswith(pattern) or fnmatch.fnmatchcase(n, pattern)]
    if not names:
        raise ValueError(f"no search matches {pattern!r}; searches: {', '.join(SEARCHES)}")
    return [SEARCHES[n] for n in names]


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m tt_rnn.search", description="Per-format hyperparameter searches on the "
                      "validation split (Optuna, journal storage in results/search/).")
    p.add_argument("pattern", help="a search name (mnist/tt-shared), a prefix (mnist/) or a glob")
    p.add_argument("--workers", type=int, default=1, help="worker processes per search (default 1)")
    p.add_argument("--first-worker", type=int, default=0, help="index of the first worker (default 0): give "
                   "commands that work on the same search at the same time different indices")
    p.add_argument("--max-trials", type=int, help="trials per worker at most (default: until the search is done)")
    p.add_argument("--executor", choices=("local", "slurm"), default="local", help="where workers run")
    p.add_argument("--max-parallel", type=int, default=2, help="workers at a time (default 2)")
    p.add_argument("--dry-run", action="store_true", help="print each search's progress and run nothing")
    p.add_argument("--summarise", action="store_true", help="rewrite each search's summary from its journal "
                   "and run nothing")
    p.add_argument("--selected", action="store_true", help="print the SELECTED entry (tt_rnn.experiments) of each "
                   "completed search, from its summary, and run nothing")
    p.add_argument("--budgets", type=int, nargs="+", metavar="N", help="print the EQUAL_PARAMS entry "
                   "(tt_rnn.experiments) of the data set named by the pattern, at budgets near these parameter "
                   "counts, from the selected configurations, and run nothing")
    for key in SLURM_KEYS:
        p.add_argument("--" + key.replace("_", "-"), type=SLURM_KEYS[key], help=f"SLURM {key} (with --executor slurm)")
    args = p.parse_args(argv)
    try:
        if args.budgets:
            dataset = args.pattern.split("/")[0]
            entry = equal_params_entry(dataset, args.budgets)
            for budget, ranks in entry.items():
                counts = ", ".join(f"{fmt} {parameter_count(selected_config(f'{dataset}/{fmt}').replace(rank=r)):,}"
                                   for fmt, r in ranks.items())
                print(f"# {budget:,}: {counts}")
            print(f"\"{dataset}\": {{" + ",\n            ".join(
                f"{b:_}: {{" + ", ".join(f"\"{f}\": {r}" for f, r in ranks.items()) + "}" for b, ranks in entry.items())
                + "},")
            return 0
        specs = _select(args.pattern)
        if args.summarise:
            for spec in specs:
                write_json(summary(spec), spec.summary_path)
                print(f"{spec.name}: summary written to {spec.summary_path}")
            return 0
        if args.selected:
            for spec in specs:  # a search not completed gets a comment line: nothing to select yet
                if not spec.summary_path.is_file():
                    print(f"# {spec.name}: no summary {spec.summary_path.as_posix()} yet; no entry")
                    continue
                record = json.loads(spec.summary_path.read_text())
                if record.get("status") != "completed" or not record.get("best"):
                    print(f"# {spec.name}: {record.get('status')}, {record.get('n_finished')} of {spec.n_trials} "
                          "trials finished; no entry")
                    continue
                entry = selected_entry(record)
                print(f"# best of {record['n_finished']} trials (trial {record['best']['number']}): val. acc. "
                      f"{100 * record['best']['value']:.2f} %\n\"{spec.name}\": dict("
                      + ", ".join(f"{k}={v!r}" for k, v in entry.items()) + "),")
            return 0
        if args.dry_run:
            for spec in specs:
                done = _finished(_read_only_study(spec)) if spec.journal.is_file() else 0
                print(f"{spec.name}: {done} of {spec.n_trials} trials finished ({spec.epochs} epochs on "
                      f"{spec.train_subset} images each) -> {spec.summary_path}")
            return 0
        if args.workers < 1 or args.first_worker < 0:
            raise ValueError(f"--workers {args.workers} --first-worker {args.first_worker}: need workers >= 1 and "
                             "first worker >= 0")
        workers = range(args.first_worker, args.first_worker + args.workers)
        runs = [SweepRun(f"search/{spec.name}#{w}", spec.base, job=SearchJob(spec, args.max_trials, w))
                for spec in specs for w in workers]
        if args.executor == "slurm":
            options = {k: getattr(args, k) for k in SLURM_KEYS if getattr(args, k) is not None}
            report = submit_slurm(runs, slurm_parameters(options, args.max_parallel), Path("runs/search-logs"))
        else:
            report = run_local(runs, max_parallel=args.max_parallel, log_dir=Path("runs/search-logs"))
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
