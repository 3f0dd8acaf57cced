"""Teacher-student experiments: can a network LEARN a function whose CP rank is provably large?

The rank theorem (``thm:strong`` of the PDF; Khrulkov, Novikov, Oseledets 2018 for distinct
cores) says that a generic recurrent network with one shared core (a point of
:math:`M^{eq}_{n,r}`) has CP rank ``>= min(n, r)^{d/2}``: a shallow (CP) network needs that many
units to represent it EXACTLY. This module asks what that means for training: a teacher of one
format (:mod:`tt_rnn.teachers`) labels inputs, students of the four formats of
:mod:`tt_rnn.networks` (CP, TT, TT-shared, HT; Cohen, Sharir, Shashua 2016) are trained on them
by Adam, and beside every CP student a dedicated solver (ALS with restarts, tensorly's
``parafac``) gives the best rank-R CP approximation it finds, so that "no rank-R CP is close"
is separated from "gradient descent did not find it".

Regimes
-------
``inputs = "table"``  discrete inputs ``x_t in {0..n-1}`` with one-hot features: the function
    table IS the coefficient tensor. Every input is a training input (``n^d`` of them), so the
    error measured is the distance between the student's and the teacher's tensors
    (representation plus optimisation; nothing is held out). The learning rate is chosen from
    ``lrs`` on a seeded validation split carved from the table (``val_fraction``), by the
    validation error after ``select_steps`` steps; the run at the chosen rate then trains on the
    whole table.
``inputs = "continuous"``  ``x_t in [0, 1]`` with the fixed feature map
    ``f(x) = [cos(pi x / 2), sin(pi x / 2)]`` (``n = 2``); ``N`` training samples (``n_train``),
    a seeded validation split carved from them (learning rate chosen on it), a held-out test set
    of ``n_test`` samples used only for reporting.
``inputs = "sampled"``  discrete inputs with one-hot features, for orders ``d`` where the table
    is too large to fit (or to be the training set): distinct inputs drawn uniformly without
    replacement, the test set first (``n_test``), then the training sets (nested: the set of
    size ``N`` is the first ``N`` of the rest), so no test input is ever trained on.

Tasks: ``task = "regression"`` (the main one: relative L2 error, as above) or
``"classification"``: the teacher has ``classes`` outputs (:func:`tt_rnn.teachers.make_teacher`:
output 1 is the regression teacher of the same seed, the others add their own output weights),
the label of an input is the argmax of the teacher's class scores, students with ``classes``
outputs minimise the cross-entropy (full-batch Adam, the learning rate chosen on validation
accuracy), and the error reported is the test misclassification rate; each record keeps the
share of the most frequent label (what a constant classifier gets).

Students: ranks per format in ``students`` (``"auto"`` for CP: powers of two up to
``cp_rank_max`` and about twice the generic rank of the table); initialisations ``inits``:
``"random"`` (the constructors' variance-preserving draw) and ``"identity"`` (the near-identity
scheme of :mod:`tt_rnn.initializers`, with every feature slice set to the identity so that the
network is near a constant for features summing to one, as one-hot features do); ``restarts``
seeds per initialisation. Float64, full-batch Adam, loss = mean squared error of the UNSCALED
score (:meth:`tt_rnn.networks.ScoreNetwork.score`) against the teacher normalised to unit
root-mean-square value; error = relative L2 error.

Experiments are named (:data:`EXPERIMENTS`) and run through the sweep runner
(``python -m tt_rnn.sweep 'teacher_student/*'``) or :func:`run_experiment`; a results file
``results/teacher_student/<name>.json`` is written atomically after every unit of work (status
``running``) and is resumed unit by unit; ``completed`` once every unit is done.

References
----------
.. [1] V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
       ICLR 2018.
.. [2] N. Cohen, O. Sharir, A. Shashua, "On the expressive power of deep learning: a tensor
       analysis", COLT 2016.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorly
import torch
from tensorly.decomposition import parafac

from .config import ADHOC_ROOT
from .initializers import initialize
from .networks import CPNetwork, HTNetwork, ScoreNetwork, TTNetwork, count_parameters, make_network
from .rank import generic_rank_estimate
from .runfiles import ResultsFileError, RunLock, cpu_name, portable_path, provenance, shown_path, write_json
from .teachers import TEACHER_FAMILIES, Teacher, make_teacher, teacher_seed

__all__ = ["TeacherStudentConfig", "EXPERIMENTS", "select", "get", "STUDENT_INITS", "INPUT_KINDS", "TASKS",
           "one_hot_features", "continuous_features", "table_inputs", "sampled_inputs", "make_student",
           "relative_error", "table_sse", "fit_student", "fit_classifier", "train_with_lr_selection", "best_cp_approximation", "cp_ranks_for",
           "student_ranks", "run_experiment", "results_path", "skip_reason", "load_results", "adhoc", "main"]

STUDENT_INITS = ("random", "identity")
INPUT_KINDS = ("table", "continuous", "sampled")
TASKS = ("regression", "classification")
RESULTS_ROOT = "results"


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class TeacherStudentConfig:
    """One named teacher-student experiment (see the module docs for the regimes).

    Attributes
    ----------
    name : str
        Registry name, ``"teacher_student/<what>"``; the results file is ``results/<name>.json``
        unless ``results_path`` is set.
    family : str
        Teacher family, one of :data:`tt_rnn.teachers.TEACHER_FAMILIES`.
    n, r : int
        Mode size and teacher rank (TT / HT rank; the CP rank ``R`` for ``family = "cp"``).
    ds : tuple of int
        Orders ``d``.
    teachers : int
        Teachers per ``d`` (seeds ``teacher_seed(seed, n, r, d, k, family)``).
    inputs : {"table", "continuous", "sampled"}
    task : {"regression", "classification"}
    classes : int
        Class scores of the teacher for ``task = "classification"`` (ignored for regression).
    students : tuple of (kind, ranks) or (kind, ranks, inits)
        ``ranks`` a tuple of ints, or ``"auto"`` (CP only, see :func:`cp_ranks_for`); ``inits``
        overrides ``inits`` for that student.
    inits, restarts
        Initialisations and seeds per initialisation.
    lrs, select_steps, steps, val_fraction
        Learning-rate grid, steps of each selection run, steps of each final run, validation share.
    als_restarts, als_iter
        ALS restarts (one SVD start, the rest random) and iterations per restart (0: no ALS).
    n_train, n_test
        Training-set sizes ``N`` and the test-set size (continuous inputs).
    cp_rank_max : int
    seed : int
    results_path : str
        Where the results file goes ("" = ``results/<name>.json``).
    """

    name: str
    family: str = "tt-shared"
    n: int = 2
    r: int = 3
    ds: tuple = (4, 6, 8)
    teachers: int = 5
    inputs: str = "table"
    task: str = "regression"
    classes: int = 10
    students: tuple = (("cp", "auto"), ("tt-shared", (1, 2, 3, 4, 6)))
    inits: tuple = ("random", "identity")
    restarts: int = 2
    lrs: tuple = (3e-3, 1e-2, 3e-2)
    select_steps: int = 200
    steps: int = 1500
    val_fraction: float = 0.1
    als_restarts: int = 3
    als_iter: int = 500
    n_train: tuple = ()
    n_test: int = 2000
    cp_rank_max: int = 256
    seed: int = 0
    results_path: str = ""

    def __post_init__(self):
        if self.family not in TEACHER_FAMILIES:
            raise ValueError(f"{self.name}: family = {self.family!r}; choose one of {TEACHER_FAMILIES}")
        if self.inputs not in INPUT_KINDS:
            raise ValueError(f"{self.name}: inputs = {self.inputs!r}; choose one of {INPUT_KINDS}")
        if self.inputs == "continuous" and (self.n != 2 or not self.n_train):
            raise ValueError(f"{self.name}: continuous inputs need n = 2 (the cos/sin feature map) and "
                             f"n_train sizes; got n = {self.n}, n_train = {self.n_train}")
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: task = {self.task!r}; choose one of {TASKS}")
        if self.task == "classification" and (self.inputs == "table" or self.classes < 2):
            raise ValueError(f"{self.name}: classification needs held-out inputs (inputs 'sampled' or "
                             f"'continuous', got {self.inputs!r}) and classes >= 2 (got {self.classes})")
        if self.inputs == "sampled":
            if not self.n_train:
                raise ValueError(f"{self.name}: sampled inputs need n_train sizes; got n_train = {self.n_train}")
            for d in self.ds:
                if self.n ** d < max(self.n_train) + self.n_test:
                    raise ValueError(f"{self.name}: d = {d} has only {self.n ** d} distinct inputs, fewer than "
                                     f"max(n_train) + n_test = {max(self.n_train) + self.n_test}; use a larger d "
                                     "or inputs = 'table'")
        for init in self.inits:
            if init not in STUDENT_INITS:
                raise ValueError(f"{self.name}: init {init!r} is not one of {STUDENT_INITS}")
        for entry in self.students:
            kind, ranks = entry[0], entry[1]
            for init in (entry[2] if len(entry) > 2 else ()):
                if init not in STUDENT_INITS:
                    raise ValueError(f"{self.name}: init {init!r} of {kind} is not one of {STUDENT_INITS}")
            if kind not in ("cp", "tt", "tt-shared", "ht"):
                raise ValueError(f"{self.name}: student kind {kind!r}; choose cp, tt, tt-shared or ht")
            if ranks == "auto" and kind != "cp":
                raise ValueError(f"{self.name}: ranks 'auto' is for CP students only; give {kind} a tuple")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"{self.name}: val_fraction = {self.val_fraction}; must be in (0, 1)")

    def replace(self, **changes) -> "TeacherStudentConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """JSON-ready fields (tuples as lists); ``results_path`` made portable."""
        out = json.loads(json.dumps(dataclasses.asdict(self)))
        out["results_path"] = portable_path(results_path(self))
        return out


def results_path(config: TeacherStudentConfig) -> Path:
    """``config.results_path`` or ``results/<name>.json``."""
    return Path(config.results_path or Path(RESULTS_ROOT) / f"{config.name}.json")


def _same_config(stored: dict, config: TeacherStudentConfig) -> list[str]:
    """Fields whose stored value differs from ``config`` (``results_path`` excluded). A field the
    stored file predates counts as its default (files written before ``task`` existed are
    regression files)."""
    mine = config.to_dict()
    defaults = {f.name: f.default for f in dataclasses.fields(TeacherStudentConfig)
                if f.default is not dataclasses.MISSING}
    stored = {k: v for k, v in defaults.items() if k in mine and k not in stored} | stored
    return sorted(k for k in set(stored) | set(mine) if k != "results_path" and stored.get(k) != mine.get(k))


def load_results(path) -> dict:
    """A teacher-student results file; :class:`ResultsFileError` naming the file and the fix."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsFileError(f"{shown_path(path)} is not a readable teacher-student results file ({exc}); "
                               "delete it and rerun the experiment, or restore it with git checkout") from None
    if not isinstance(obj, dict) or obj.get("kind") != "teacher_student" or "records" not in obj:
        raise ResultsFileError(f"{shown_path(path)} is not a teacher-student results file (no kind/records); "
                               "move it away")
    return obj


def skip_reason(config: TeacherStudentConfig) -> str:
    """``"completed"`` when the results file is completed with the same configuration, else ``""``.

    Raises :class:`ResultsFileError` when the file holds another configuration."""
    path = results_path(config)
    if not path.is_file():
        return ""
    stored = load_results(path)
    diff = _same_config(stored["config"], config)
    if diff:
        raise ResultsFileError(f"{portable_path(path)} holds another configuration ({', '.join(diff)} differ); "
                               "move it away before this experiment writes there")
    return "completed" if stored.get("status") == "completed" else ""


# ----------------------------------------------------------------------------- inputs

def one_hot_features(indices: np.ndarray, n: int) -> torch.Tensor:
    """One-hot features ``(N, d, n)`` (float64) of integer inputs ``(N, d)`` in ``{0..n-1}``."""
    idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
    return torch.nn.functional.one_hot(idx, n).to(torch.float64)


def table_inputs(n: int, d: int) -> np.ndarray:
    """All ``n^d`` inputs ``(n^d, d)`` in the C order of the table (last position fastest)."""
    return np.stack(np.unravel_index(np.arange(n ** d), (n,) * d), axis=1)


def sampled_inputs(n: int, d: int, n_test: int, n_train: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """Distinct discrete inputs drawn uniformly without replacement from ``{0..n-1}^d``:
    ``(test (n_test, d), train (n_train, d))``, disjoint. The training set of a smaller size is a
    prefix of this one (same seed), so training sets are nested."""
    total = n ** d
    if n_test + n_train > total:
        raise ValueError(f"n_test + n_train = {n_test + n_train} distinct inputs asked for, but n^d = {total}")
    rng = np.random.default_rng(seed)
    if total < 2 ** 62:
        codes = rng.choice(total, size=n_test + n_train, replace=False)
        digits = np.stack(np.unravel_index(codes, (n,) * d), axis=1)
    else:  # n^d does not fit an int64 code: draw rows instead (repeats vanishingly rare at this size)
        digits = distinct_rows(rng, n, d, n_test + n_train)
    return digits[:n_test], digits[n_test:]


def distinct_rows(rng: np.random.Generator, n: int, d: int, count: int) -> np.ndarray:
    """``count`` distinct rows ``(count, d)`` of ``{0..n-1}^d`` in the order first drawn: rows are
    drawn uniformly in batches, repeats dropped, until ``count`` distinct ones are in hand (uniform
    without replacement). ``count`` must not exceed ``n^d``."""
    if count > n ** d:
        raise ValueError(f"count = {count} distinct rows asked for, but n^d = {n ** d}")
    rows = np.empty((0, d), dtype=np.int64)
    while len(rows) < count:
        rows = np.concatenate([rows, rng.integers(0, n, size=(2 * (count - len(rows)), d))])
        _, first = np.unique(rows, axis=0, return_index=True)
        rows = rows[np.sort(first)]
    return rows[:count]


def continuous_features(x: np.ndarray) -> torch.Tensor:
    """``f(x) = [cos(pi x / 2), sin(pi x / 2)]`` of inputs ``(N, d)`` in ``[0, 1]``: ``(N, d, 2)`` float64."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    return torch.stack([torch.cos(math.pi * x / 2), torch.sin(math.pi * x / 2)], dim=-1)


# ----------------------------------------------------------------------------- students

def make_student(kind: str, d: int, m: int, rank: int, *, init: str = "random", seed: int = 0,
                 outputs: int = 1) -> ScoreNetwork:
    """A float64 student network of ``kind`` with ``outputs`` outputs (class scores), drawn from ``seed``.

    ``init = "random"``: the constructor's variance-preserving draw (torch's RNG seeded with
    ``seed``, the global RNG left as it was). ``init = "identity"``:
    :func:`tt_rnn.initializers.initialize` (near-identity, reading feature ``m - 1``), then every
    other feature slice gets the same identity part, so that for features that sum to one
    (one-hot) each factor is ``1 + noise`` and each step matrix ``I + noise`` whatever the input.
    """
    if init not in STUDENT_INITS:
        raise ValueError(f"init = {init!r}; choose one of {STUDENT_INITS}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        network = make_network(kind, d, m, rank, outputs, dtype=torch.float64)
    if init == "random":
        return network
    initialize(network, "identity", generator=torch.Generator().manual_seed(int(seed)))
    with torch.no_grad():
        if isinstance(network, CPNetwork):
            network.a[:, :m - 1, :] += 1.0
        elif isinstance(network, TTNetwork):
            network.first_core[:m - 1, :] += 1.0
            eye = torch.eye(network.rank, dtype=network.inner_cores.dtype)
            for i in range(m - 1):
                network.inner_cores[:, :, i, :] += eye
        elif isinstance(network, HTNetwork):
            network.input_weights[:, :m - 1, :] += 1.0
    return network


def relative_error(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """``||prediction - target|| / ||target||`` (``inf`` for a non-finite prediction)."""
    err = torch.linalg.vector_norm(prediction - target) / torch.linalg.vector_norm(target)
    value = float(err)
    return value if math.isfinite(value) else float("inf")


def table_sse(network: ScoreNetwork, table: torch.Tensor) -> torch.Tensor | None:
    """``||A - T||_F^2`` for a CP or TT student ``network`` (coefficient tensor ``A``) and a table
    ``T`` of shape ``(n,) * d``, in closed form; ``None`` for other networks.

    With one-hot features the score on input ``(i_1..i_d)`` is ``A[i_1..i_d]``, so this is the
    sum of squared errors over all ``n^d`` inputs, computed without the ``n^d x d x rank`` forward
    pass: ``||A||^2`` from the factors' Gram matrices (CP) or the transfer recursion (TT), and
    ``<A, T>`` by contracting ``T`` one mode at a time (``O(n^d rank)`` for CP, ``O(n^d rank^2)`` for TT).
    Differentiable in the network's parameters."""
    n, d = table.shape[0], table.ndim
    if isinstance(network, CPNetwork) and network.xi == "product":
        a, w = network.a, network.weights[:, 0]
        gram = (a.transpose(1, 2) @ a).prod(0)  # (R, R): prod_t a_t^T a_t
        norm2 = w @ gram @ w
        x = table.reshape(n, -1).T @ a[0]  # (n^(d-1), R)
        for t in range(1, d):
            x = (x.reshape(n, -1, network.rank) * a[t].unsqueeze(1)).sum(0)
        inner = x[0] @ w
    elif isinstance(network, TTNetwork) and network.xi == "product":
        cores = [network.first_core.unsqueeze(0)] + [network.inner_core(t) for t in range(1, d - 1)] \
            + [network.last_core]  # (r_in, n, r_out), the last r_out = 1
        gram = torch.ones(1, 1, dtype=table.dtype)
        x = table.reshape(1, -1, 1)  # (rows of T left, modes to go, bond)
        for core in cores:  # ||A||^2: E <- sum_i G_i^T E G_i ;  <A, T>: contract one mode
            gram = torch.einsum("ab,aic,bid->cd", gram, core, core)
            x = x.reshape(n, -1, x.shape[-1])
            x = torch.einsum("ija,aic->jc", x, core)
        norm2, inner = gram[0, 0], x[0, 0]
    else:
        return None
    return norm2 - 2 * inner + table.square().sum()


def _adam_steps(network: ScoreNetwork, loss_fn, *, lr: float, steps: int, plateau: float, patience: int,
                converged) -> tuple[int, bool]:
    """Full-batch Adam on ``loss_fn()``; returns ``(steps taken, diverged)``. Every 50 steps,
    before the step (Adam moves even a zero-loss point by about ``lr``), it stops when
    ``converged(loss)``, or on a plateau: the loss has not fallen by a factor ``1 - plateau`` over
    the last ``patience`` steps. A non-finite loss stops it as diverged."""
    optimiser = torch.optim.Adam(network.parameters(), lr=lr)
    done, history = 0, {}
    for step in range(steps):
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn()
        if not torch.isfinite(loss):
            return done, True
        if step % 50 == 0:
            value = float(loss.detach())
            if converged(value):
                break
            history[step] = value
            before = history.get(step - patience)
            if before is not None and value > (1 - plateau) * before:
                break
        loss.backward()
        optimiser.step()
        done = step + 1
    return done, False


def fit_student(network: ScoreNetwork, features: torch.Tensor, target: torch.Tensor, *, lr: float, steps: int,
                table: torch.Tensor | None = None, held_out: tuple | None = None, stop_error: float = 1e-7,
                plateau: float = 1e-3, patience: int = 200) -> dict:
    """Full-batch Adam on the mean squared error of the unscaled score; returns
    ``{"train_error", "steps", "diverged"}``. Training stops early below relative error
    ``stop_error``, or on a plateau: when the loss has not fallen by a factor ``1 - plateau``
    over the last ``patience`` steps (checked every 50 steps).

    With ``table`` (one-hot inputs), ``features``/``target`` must be the whole table minus the
    inputs of ``held_out = (features, target)``; the loss is then computed in closed form by
    :func:`table_sse` (minus the held-out inputs' squared errors) for CP and TT students, which
    is the same number as the forward pass over the inputs, and is checked against it in the
    tests. The closed form subtracts numbers of size ``||T||^2``, so it resolves relative errors
    down to about ``sqrt(machine epsilon) ~ 1e-8`` (hence ``stop_error = 1e-7``); the returned
    error is always computed by the forward pass. A non-finite loss stops the run and marks it
    diverged (its error is then ``inf``)."""
    target_sq = float(target.square().sum())
    use_table = table is not None and table_sse(network, table) is not None

    def sse() -> torch.Tensor:
        if not use_table:
            return (network.score(features)[:, 0] - target).square().sum()
        out = table_sse(network, table)
        if held_out is not None:
            out = out - (network.score(held_out[0])[:, 0] - held_out[1]).square().sum()
        return out

    done, diverged = _adam_steps(network, lambda: sse() / features.shape[0], lr=lr, steps=steps, plateau=plateau,
                                 patience=patience,
                                 converged=lambda value: value * features.shape[0] < stop_error ** 2 * target_sq)
    with torch.no_grad():
        err = float("inf") if diverged else relative_error(network.score(features)[:, 0], target)
    return {"train_error": err, "steps": done, "diverged": diverged or not math.isfinite(err)}


def fit_classifier(network: ScoreNetwork, features: torch.Tensor, labels: torch.Tensor, *, lr: float, steps: int,
                   plateau: float = 1e-3, patience: int = 200, stop_loss: float = 1e-4) -> dict:
    """Full-batch Adam on the cross-entropy of the unscaled class scores; returns
    ``{"train_error" (misclassification rate), "steps", "diverged"}``. Stops below mean loss
    ``stop_loss``, or on a plateau (as :func:`fit_student`)."""
    done, diverged = _adam_steps(network, lambda: torch.nn.functional.cross_entropy(network.score(features), labels),
                                 lr=lr, steps=steps, plateau=plateau, patience=patience,
                                 converged=lambda value: value < stop_loss)
    err = float("inf") if diverged else _error_rate(network, features, labels)
    return {"train_error": err, "steps": done, "diverged": diverged or not math.isfinite(err)}


def _error_rate(network, features, labels) -> float:
    with torch.no_grad():
        scores = network.score(features)
        if not torch.isfinite(scores).all():
            return float("inf")
        return float((scores.argmax(1) != labels).double().mean())


def _evaluate(network, features, target) -> float:
    if target.dtype == torch.long:  # class labels: misclassification rate
        return _error_rate(network, features, target)
    with torch.no_grad():
        return relative_error(network.score(features)[:, 0], target)


def train_with_lr_selection(kind: str, rank: int, d: int, m: int, train: tuple, *, init: str, seeds,
                            lrs, select_steps: int, steps: int, val_fraction: float, split_seed: int,
                            evaluate: dict | None = None, table: torch.Tensor | None = None,
                            outputs: int | None = None) -> dict:
    """Choose the learning rate on a validation split of ``train``, then train ``seeds`` restarts.

    The validation split (a seeded ``val_fraction`` of the training inputs) is used only to pick
    the learning rate: each rate in ``lrs`` trains the student of the first seed for
    ``select_steps`` steps on the rest, and the lowest validation error wins. Each restart then
    trains at that rate for ``steps`` steps on ``train`` (all of it for the table regime, where
    ``evaluate`` is empty; the part outside the validation split otherwise). ``evaluate`` maps a
    name to ``(features, target)`` reported per restart (e.g. the test set). ``table``: the
    function table, when ``train`` is every one-hot input in table order (closed-form loss, see
    :func:`fit_student`). Integer (``long``) targets are class labels: students get
    ``outputs`` outputs (default: the largest label + 1), are fitted by
    :func:`fit_classifier`, and every error is a misclassification rate.
    """
    classify = train[1].dtype == torch.long
    outputs = outputs or (int(train[1].max()) + 1 if classify else 1)

    def fit_one(net, f, t, lr, n_steps, **kw):
        if classify:
            return fit_classifier(net, f, t, lr=lr, steps=n_steps)
        return fit_student(net, f, t, lr=lr, steps=n_steps, **kw)

    features, target = train
    n_total = features.shape[0]
    n_val = max(1, int(round(val_fraction * n_total)))
    order = np.random.default_rng([int(split_seed), 7]).permutation(n_total)
    val_idx, fit_idx = torch.as_tensor(order[:n_val]), torch.as_tensor(order[n_val:])
    selection = {}
    for lr in lrs:
        net = make_student(kind, d, m, rank, init=init, seed=seeds[0], outputs=outputs)
        fit = fit_one(net, features[fit_idx], target[fit_idx], lr, select_steps, table=table,
                      held_out=(features[val_idx], target[val_idx]))
        selection[repr(lr)] = float("inf") if fit["diverged"] else _evaluate(net, features[val_idx], target[val_idx])
    best_lr = min(lrs, key=lambda lr: (selection[repr(lr)], lr))
    final_features, final_target = (features, target) if evaluate is None else (features[fit_idx], target[fit_idx])
    runs = []
    for seed in seeds:
        net = make_student(kind, d, m, rank, init=init, seed=seed, outputs=outputs)
        start = time.perf_counter()
        fit = fit_one(net, final_features, final_target, best_lr, steps, table=table if evaluate is None else None)
        run = {"seed": int(seed), "train_error": fit["train_error"], "steps": fit["steps"], "diverged": fit["diverged"],
               "time_s": round(time.perf_counter() - start, 3)}
        for name, (f, t) in (evaluate or {}).items():
            run[f"{name}_error"] = float("inf") if fit["diverged"] else _evaluate(net, f, t)
        runs.append(run)
    return {"lr": best_lr, "val_error_by_lr": selection,
            "n_parameters": count_parameters(make_student(kind, d, m, rank, outputs=outputs)), "runs": runs}


def best_cp_approximation(table: np.ndarray, rank: int, *, restarts: int, n_iter: int, seed: int) -> dict:
    """Best rank-``rank`` CP approximation found by ALS (tensorly ``parafac``) over restarts.

    Restart 0 starts from the SVD initialisation, the others from seeded random factors. Returns
    ``{"error": best relative error, "errors": per restart}``; an upper bound on the best
    achievable error at this rank (ALS can miss the optimum; border rank can make it unattained).
    """
    tensor = np.asarray(table, dtype=np.float64)
    norm = float(np.linalg.norm(tensor))
    errors = []
    with tensorly.backend_context("numpy"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tensorly: SVD start of rank > mode size is padded
        for k in range(restarts):
            init = "svd" if k == 0 else "random"
            try:
                cp = parafac(tensor, rank, n_iter_max=n_iter, init=init, tol=1e-12, random_state=int(seed) * 1000 + k,
                             normalize_factors=True)
                approx = tensorly.cp_to_tensor(cp)
                errors.append(float(np.linalg.norm(approx - tensor) / norm))
            except (np.linalg.LinAlgError, ValueError):
                errors.append(float("inf"))
    finite = [e for e in errors if math.isfinite(e)]
    return {"error": min(finite) if finite else float("inf"), "errors": errors}


def cp_ranks_for(n: int, d: int, rank_max: int) -> list[int]:
    """CP student ranks for the ``n^d`` table: powers of two up to ``rank_max`` and up to the
    first power of two ``>= 2 x`` the generic rank estimate (beyond it a generic CP fits exactly)."""
    cap = min(rank_max, 1 << max(0, math.ceil(math.log2(2 * generic_rank_estimate([n] * d)))))
    return [1 << k for k in range(int(math.log2(cap)) + 1)]


def student_ranks(config: TeacherStudentConfig, kind: str, ranks, d: int) -> list[int]:
    """The ranks of student ``kind`` at order ``d`` (``[]`` for HT when ``d`` is not a power of two)."""
    if kind == "ht" and d & (d - 1):
        return []
    if ranks == "auto":
        return cp_ranks_for(config.n, d, config.cp_rank_max)
    return [int(r) for r in ranks]


# ----------------------------------------------------------------------------- the experiment

def _teacher_targets(teacher: Teacher, features: torch.Tensor, task: str = "regression") -> torch.Tensor:
    """The normalised score of output 1 (regression), or the argmax label over every output."""
    with torch.no_grad():
        scores = teacher.network.score(features)
        return scores.argmax(1) if task == "classification" else scores[:, 0] / teacher.scale


def _units(config: TeacherStudentConfig):
    """Every unit of work, in order: ``(key, what)``."""
    sizes = config.n_train if config.inputs != "table" else (None,)
    for d in config.ds:
        for k in range(config.teachers):
            yield f"d={d}/t={k}/teacher", ("teacher", d, k, None, None, None, None)
            for entry in config.students:
                kind, ranks = entry[0], entry[1]
                inits = entry[2] if len(entry) > 2 else config.inits
                for rank in student_ranks(config, kind, ranks, d):
                    for size in sizes:
                        for init in inits:
                            size_key = "" if size is None else f"/N={size}"
                            yield (f"d={d}/t={k}/{kind}/R={rank}{size_key}/init={init}",
                                   ("student", d, k, kind, rank, size, init))
                    if kind == "cp" and config.inputs == "table" and config.als_iter > 0:
                        yield f"d={d}/t={k}/als/R={rank}", ("als", d, k, kind, rank, None, None)


def _run_unit(config: TeacherStudentConfig, what: tuple, teachers: dict, data: dict) -> dict:
    job, d, k, kind, rank, size, init = what
    key = (d, k)
    if key not in teachers:
        teachers[key] = make_teacher(config.family, config.n, config.r, d,
                                     teacher_seed(config.seed, config.n, config.r, d, k, config.family),
                                     outputs=config.classes if config.task == "classification" else 1)
    teacher = teachers[key]
    if job == "teacher":
        return teacher.summary()
    if job == "als":
        start = time.perf_counter()
        out = best_cp_approximation(teacher.table, rank, restarts=config.als_restarts, n_iter=config.als_iter,
                                    seed=k)
        return {"rank": rank, "error": out["error"], "errors": out["errors"],
                "time_s": round(time.perf_counter() - start, 3)}
    seeds = [int(s) for s in range(config.restarts)]
    if config.inputs == "table":
        if key not in data:
            features = one_hot_features(table_inputs(config.n, d), config.n)
            data[key] = (features, torch.as_tensor(teacher.table.reshape(-1), dtype=torch.float64))
        out = train_with_lr_selection(kind, rank, d, config.n, data[key], init=init, seeds=seeds, lrs=config.lrs,
                                      select_steps=config.select_steps, steps=config.steps,
                                      val_fraction=config.val_fraction, split_seed=k,
                                      table=torch.as_tensor(teacher.table, dtype=torch.float64))
        for run in out["runs"]:
            run["table_error"] = run["train_error"]
    else:
        dkey = (d, k, size)
        if dkey not in data:
            if config.inputs == "continuous":
                rng = np.random.default_rng([config.seed, d, k, 11])
                x_test = rng.uniform(size=(config.n_test, d))
                x_train = np.random.default_rng([config.seed, d, k, 12, size]).uniform(size=(size, d))
                f_train, f_test = continuous_features(x_train), continuous_features(x_test)
            else:  # sampled discrete inputs; training sets nested in N
                x_test, x_train = sampled_inputs(config.n, d, config.n_test, max(config.n_train),
                                                 [config.seed, d, k, 13])
                f_train, f_test = one_hot_features(x_train[:size], config.n), one_hot_features(x_test, config.n)
            data[dkey] = tuple((f, _teacher_targets(teacher, f, config.task)) for f in (f_train, f_test))
        train, test = data[dkey]
        out = train_with_lr_selection(kind, rank, d, config.n, train, init=init, seeds=seeds, lrs=config.lrs,
                                      select_steps=config.select_steps, steps=config.steps,
                                      val_fraction=config.val_fraction, split_seed=k, evaluate={"test": test},
                                      outputs=config.classes if config.task == "classification" else 1)
        if config.task == "classification":  # what a constant classifier gets
            out["majority_share"] = float(torch.bincount(test[1], minlength=config.classes).max()) / len(test[1])
    out.update({"kind": kind, "rank": rank, "init": init, "N": size})
    return out


def run_experiment(config: TeacherStudentConfig, *, command: str = "", out=None, max_units: int | None = None) -> dict:
    """Run (or resume) ``config``; write its results file after every unit; return the results.

    A results file of the same configuration is resumed: its recorded units are kept and not
    recomputed. The status is ``running`` until every unit is done, then ``completed``;
    ``max_units`` stops after that many new units (status stays ``running``). Single-threaded
    (``torch.set_num_threads(1)``). A second process on the same file gets
    :class:`tt_rnn.runfiles.RunLockedError`."""
    torch.set_num_threads(1)
    path = results_path(config)
    with RunLock(path):
        records, previous_time = {}, 0.0
        if path.is_file():
            stored = load_results(path)
            diff = _same_config(stored["config"], config)
            if diff:
                raise ResultsFileError(f"{portable_path(path)} holds another configuration ({', '.join(diff)} "
                                       "differ); move it away")
            records = {rec["key"]: rec for rec in stored["records"]}
            previous_time = float(stored.get("cpu_time_s", 0.0))
        results = {"kind": "teacher_student", "name": config.name, "config": config.to_dict(),
                   "status": "running", "command": command or f"python -m tt_rnn.sweep {config.name}",
                   "provenance": provenance(cpu_name(1)), "records": list(records.values()),
                   "cpu_time_s": previous_time}
        teachers, data, new = {}, {}, 0
        start = time.process_time()
        units = list(_units(config))
        for key, what in units:
            if key in records:
                continue
            if max_units is not None and new >= max_units:
                break
            record = {"key": key, "job": what[0], "d": what[1], "teacher": what[2], **_run_unit(config, what, teachers, data)}
            records[key] = record
            new += 1
            results["records"] = list(records.values())
            results["cpu_time_s"] = round(previous_time + time.process_time() - start, 1)
            write_json(results, path)
            if out is not None:
                out(f"{config.name}: {key}")
        if all(key in records for key, _ in units):
            results["status"] = "completed"
        results["records"] = list(records.values())
        results["cpu_time_s"] = round(previous_time + time.process_time() - start, 1)
        write_json(results, path)
    return results


# ----------------------------------------------------------------------------- named experiments

_RANDOM = ("random",)
_BOTH = ("random", "identity")
# Sizes chosen for a shared 2-core machine (about one CPU hour for all of them).
_SHORT = dict(lrs=(1e-2, 3e-2), select_steps=100, als_restarts=2, als_iter=200)
_FOUR_STUDENTS = (("cp", (1, 2, 4, 8, 16, 32, 64), _RANDOM), ("tt-shared", (2, 3, 6), _RANDOM),
                  ("tt", (2, 3, 4), _RANDOM), ("ht", (2, 3, 4), _RANDOM))


_BEYOND_STUDENTS = (("cp", (4, 16, 64)), ("tt-shared", (3, 6)), ("tt", (3,)), ("ht", (3,)))


def _experiments() -> dict:
    found = {}

    def add(config):
        found[config.name] = config

    # The main case: shared-core teachers, n = 2, r = 3, the full table, d = 4 .. 12; TT-shared
    # students at the teacher's rank and twice it, from both initialisations.
    add(TeacherStudentConfig("teacher_student/shared_n2_r3", family="tt-shared", n=2, r=3, ds=(4, 6, 8, 10, 12),
                             students=(("cp", "auto", _RANDOM), ("tt-shared", (3, 6), _BOTH)),
                             steps=600, cp_rank_max=128, **_SHORT))
    # A second (n, r): n = 2, r = 2.
    add(TeacherStudentConfig("teacher_student/shared_n2_r2", family="tt-shared", n=2, r=2, ds=(4, 6, 8, 10),
                             students=(("cp", "auto", _RANDOM), ("tt-shared", (2, 4), _BOTH)),
                             steps=600, cp_rank_max=128, **_SHORT))
    # The 4 x 4 table at n = 2, r = 3, d = 8: every teacher family against every student format
    # (one restart per student rank).
    for family in TEACHER_FAMILIES:
        add(TeacherStudentConfig(f"teacher_student/families_d8/{family}", family=family, n=2,
                                 r=4 if family == "cp" else 3, ds=(8,), students=_FOUR_STUDENTS, inits=_RANDOM,
                                 restarts=1, steps=500, **_SHORT))
    # Two more (n, r): n = 3, r = 3 (3^8 = 6,561 inputs at d = 8) and n = 2, r = 4 (the teacher's
    # rank above n: the theorem's q = min(n, r) is still 2).
    add(TeacherStudentConfig("teacher_student/shared_n3_r3", family="tt-shared", n=3, r=3, ds=(4, 6, 8),
                             students=(("cp", "auto", _RANDOM), ("tt-shared", (3, 6), _BOTH)),
                             steps=600, cp_rank_max=128, **_SHORT))
    add(TeacherStudentConfig("teacher_student/shared_n2_r4", family="tt-shared", n=2, r=4, ds=(4, 6, 8, 10),
                             students=(("cp", "auto", _RANDOM), ("tt-shared", (4, 8), _BOTH)),
                             steps=600, cp_rank_max=128, **_SHORT))
    # Beyond the full table: d = 16 and 24 with 2,000 sampled training inputs and 1,000 held-out
    # ones (one-hot features), every student format; regression and the classification variant
    # (labels = argmax of 10 teacher scores, d = 16). Longer runs than in the table regime: a
    # trial at d = 16 showed 400 steps (rate chosen after 100) leaving the shared-core student of
    # the teacher's rank at 0.5 held-out error where 1,000 steps at 0.01 recover the teacher.
    # Sizes set by CPU time: a CP student of rank 64 at d = 24 costs about 0.4 s per step here.
    beyond = dict(family="tt-shared", n=2, r=3, inputs="sampled", n_train=(2000,), n_test=1000, inits=_RANDOM,
                  restarts=1, lrs=(3e-3, 1e-2), select_steps=300, steps=1500, students=_BEYOND_STUDENTS,
                  als_restarts=2, als_iter=0)
    add(TeacherStudentConfig("teacher_student/sampled_n2_r3", ds=(16, 24), **beyond))
    add(TeacherStudentConfig("teacher_student/classify_n2_r3", ds=(16,), task="classification", classes=10,
                             **beyond))
    # Sample complexity: continuous inputs, shared-core teacher d = 8, students at ~300 parameters.
    add(TeacherStudentConfig("teacher_student/samples_n2_r3_d8", family="tt-shared", n=2, r=3, ds=(8,),
                             inputs="continuous", n_train=(100, 300, 1000, 3000), n_test=2000, inits=_RANDOM,
                             students=(("cp", (16,)), ("tt-shared", (10,)), ("tt", (5,)), ("ht", (6,))),
                             restarts=1, steps=600, **dict(_SHORT, als_iter=0)))
    # The same with a longer budget (2,000 steps, 2 restarts): at 600 steps the training error
    # matched the held-out error from N = 1,000 on, so the optimiser, not the data, was the limit.
    add(TeacherStudentConfig("teacher_student/samples_n2_r3_d8_long", family="tt-shared", n=2, r=3, ds=(8,),
                             inputs="continuous", n_train=(100, 300, 1000, 3000), n_test=2000, inits=_RANDOM,
                             students=(("cp", (16,)), ("tt-shared", (10,)), ("tt", (5,)), ("ht", (6,))),
                             restarts=2, steps=2000, **dict(_SHORT, als_iter=0)))
    return found


EXPERIMENTS: dict = _experiments()


def select(pattern: str) -> list[str]:
    """Names of :data:`EXPERIMENTS` matching ``pattern``: exact, glob, or prefix (as
    :func:`tt_rnn.experiments.select`)."""
    if pattern in EXPERIMENTS:
        return [pattern]
    if any(c in pattern for c in "*?["):
        return [name for name in EXPERIMENTS if fnmatch.fnmatchcase(name, pattern)]
    return [name for name in EXPERIMENTS if name.startswith(pattern)]


def get(name: str) -> TeacherStudentConfig:
    """The named experiment; a ``KeyError`` lists the names."""
    if name not in EXPERIMENTS:
        raise KeyError(f"no teacher-student experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def adhoc(config: TeacherStudentConfig, tag: str) -> TeacherStudentConfig:
    """``config`` writing below ``runs/`` (not a named experiment's results file)."""
    return config.replace(results_path=str(Path(ADHOC_ROOT) / "teacher_student" / f"{tag}.json"))


def main(argv=None) -> int:
    """``python -m tt_rnn.teacher_student --list``: the named experiments and their results files;
    run them with ``python -m tt_rnn.sweep 'teacher_student/*'``."""
    parser = argparse.ArgumentParser(prog="python -m tt_rnn.teacher_student",
                                     description="Named teacher-student experiments (run them with python -m "
                                                 "tt_rnn.sweep 'teacher_student/*').")
    parser.add_argument("--list", action="store_true", help="list the experiments, their status and results files")
    args = parser.parse_args(argv)
    if not args.list:
        parser.print_help()
        return 0
    for name, config in EXPERIMENTS.items():
        path = results_path(config)
        status = load_results(path).get("status", "?") if path.is_file() else "not run"
        print(f"{name:45s} {status:10s} {portable_path(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
