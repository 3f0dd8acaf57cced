"""The final comparison of the formats, as Markdown: each format at the configuration its own
search selected on validation (:data:`tt_rnn.experiments.SELECTED`), over three seeds, and the
tensor networks at equal parameter counts (:data:`tt_rnn.experiments.EQUAL_PARAMS`).

* :func:`final_tables` — ``results/<data>/final``: per format the test accuracy (mean ± std over
  seeds and a Student-t 95 % interval, :func:`tt_rnn.stats.seed_interval`), the epoch validation
  chose, the parameter count and the validation accuracy; then every pair of formats compared;
* :func:`equal_params_tables` — ``results/<data>/equal_params``: test accuracy against parameter
  count per format, and at each budget every pair of formats compared; the baselines
  (``results/<data>/baselines``, trained the same way), each compared with the formats at the
  budget nearest its own parameter count;
* :func:`compare` — the paired comparisons both use.

A pair of formats is compared on the test images and seeds both have (seed ``k`` of one format
with seed ``k`` of the other), from the predictions each results file stores for the epoch
validation chose (``save_predictions``): the difference in accuracy with a 95 % interval of the
paired bootstrap that resamples images and seeds together (:func:`tt_rnn.stats.paired_bootstrap`),
and McNemar's exact test on each seed separately (:func:`tt_rnn.stats.mcnemar`), Holm-corrected
over the pairs compared on that seed (:func:`tt_rnn.stats.holm`). An ordering is called significant
only when it is significant at 0.05 after correction on every seed, in the same direction on
every seed: an intersection-union test, whose p-value is the largest corrected p. Otherwise the
line says "not significant". Nothing here chooses anything: the epoch of each run was chosen on
validation when it was trained, and the test set is only reported.

A run is counted when its results file is ``completed`` with its named configuration; a group
with runs missing or in progress is shown with what there is, and the missing runs are listed.
A completed results file without test predictions, or of another configuration, is an error
naming the file (a table never silently drops a run).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import experiments as E
from .config import same_experiment
from .runfiles import ResultsFileError, read_results, shown_path
from .stats import holm, mcnemar, paired_bootstrap, seed_interval
from .train import parameter_count

__all__ = ["FORMAT_NAMES", "N_RESAMPLES", "ALPHA", "FormatRuns", "collect", "compare", "comparison_lines",
           "final_tables", "equal_params_tables"]

FORMAT_NAMES = {"tt-shared": "TT (shared core)", "tt": "TT (distinct cores)", "ht": "HT (deep)",
                "cp": "CP (shallow)", "pool-linear": "pool-linear (baseline)", "cnn": "CNN (baseline)"}
N_RESAMPLES = 10_000   # bootstrap resamples of a paired comparison
ALPHA = 0.05


@dataclass
class FormatRuns:
    """One format's runs of a group: the completed ones (``runs``: seed -> results), which images
    each got right (``correct``) and the test labels (``labels``), and what the others are
    (``pending``: seed -> "no results file", "running, 12 epochs", ...)."""

    fmt: str
    names: dict[int, str]
    runs: dict[int, dict] = field(default_factory=dict)
    correct: dict[int, np.ndarray] = field(default_factory=dict)
    labels: dict[int, np.ndarray] = field(default_factory=dict)
    pending: dict[int, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return FORMAT_NAMES.get(self.fmt, self.fmt)


def _predictions(run: dict, path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(correct per test image, labels)`` of a completed run; a clear error without them."""
    stored = run.get("test_predictions") or {}
    if "predicted" not in stored or "labels" not in stored:
        lacks = "test_predictions" if not stored else "test_predictions['labels']"
        raise ResultsFileError(f"{shown_path(path)} is completed but has no {lacks}: the paired tests read which "
                               f"test images each run got right. Train it again with save_predictions = True, as its "
                               f"named configuration has it (delete the file, then python -m tt_rnn.sweep {name})")
    predicted, labels = np.asarray(stored["predicted"]), np.asarray(stored["labels"])
    if predicted.shape != labels.shape or predicted.ndim != 1 or predicted.size == 0:
        raise ResultsFileError(f"{shown_path(path)}: test_predictions has {predicted.size} predictions and "
                               f"{labels.size} labels; they must be one per test image; train the run again")
    return predicted == labels, labels


def collect(names: dict[int, str], fmt: str, results_root="results") -> FormatRuns:
    """The runs ``names`` (seed -> experiment name) of format ``fmt`` below ``results_root``."""
    out = FormatRuns(fmt, dict(names))
    for seed, name in names.items():
        path = Path(results_root) / f"{name}.json"
        if not path.is_file():
            out.pending[seed] = "no results file"
            continue
        run = read_results(path)
        if run.get("status") != "completed":
            out.pending[seed] = f"{run.get('status', 'no status')}, {len(run.get('history', []))} epochs"
            continue
        if name in E.EXPERIMENTS:
            same, diff = same_experiment(run["config"], E.EXPERIMENTS[name])
            if not same:
                fields = ", ".join(f"{k} = {a!r} (the experiment has {b!r})" for k, (a, b) in diff.items())
                raise ResultsFileError(f"{shown_path(path)} is not the named experiment {name} ({fields}); delete it "
                                       f"and run python -m tt_rnn.sweep {name}")
        out.runs[seed] = run
        out.correct[seed], out.labels[seed] = _predictions(run, path, name)
    return out


# ----------------------------------------------------------------------------- paired comparisons

def compare(groups: list[FormatRuns], n_resamples: int = N_RESAMPLES) -> list[dict]:
    """Every pair of ``groups`` with a completed seed in common, compared on those seeds (see the
    module docstring). Each dict: ``a``, ``b`` (the better first), ``seeds``, ``difference``,
    ``low``, ``high`` (accuracy, a - b), ``p_seed`` (Holm-corrected McNemar p per seed), ``p``
    (the largest), ``same_direction``, ``significant``, ``n_images``, ``n_pairs`` (per seed)."""
    pairs = []
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            seeds = sorted(set(a.correct) & set(b.correct))
            if not seeds:
                continue
            for s in seeds:
                if not np.array_equal(a.labels[s], b.labels[s]):
                    raise ResultsFileError(f"{a.names[s]} and {b.names[s]} were tested on different images (their "
                                           "stored test labels differ); they cannot be paired: train both on the "
                                           "whole test set (test_subset = None)")
            ca = np.stack([a.correct[s] for s in seeds])
            cb = np.stack([b.correct[s] for s in seeds])
            boot = paired_bootstrap(ca, cb, n_resamples=n_resamples, seed=0)
            per_seed = {s: float(ca[k].mean() - cb[k].mean()) for k, s in enumerate(seeds)}
            raw = {s: mcnemar(ca[k], cb[k]) for k, s in enumerate(seeds)}
            pairs.append(dict(a=a, b=b, seeds=seeds, difference=boot.difference, low=boot.low, high=boot.high,
                              per_seed=per_seed, p_raw=raw, n_images=boot.n_images))
    # Holm over the pairs compared on each seed
    for seed in sorted({s for pair in pairs for s in pair["seeds"]}):
        on_seed = [pair for pair in pairs if seed in pair["seeds"]]
        for pair, adjusted in zip(on_seed, holm([pair["p_raw"][seed] for pair in on_seed])):
            pair.setdefault("p_seed", {})[seed] = adjusted
            pair.setdefault("n_pairs", {})[seed] = len(on_seed)
    for pair in pairs:
        if pair["difference"] < 0:  # the better format first
            pair.update(a=pair["b"], b=pair["a"], difference=-pair["difference"], low=-pair["high"],
                        high=-pair["low"], per_seed={s: -d for s, d in pair["per_seed"].items()})
        pair["p"] = max(pair["p_seed"].values())
        pair["same_direction"] = pair["difference"] > 0 and all(d > 0 for d in pair["per_seed"].values())
        pair["significant"] = pair["p"] < ALPHA and pair["same_direction"]
    return sorted(pairs, key=lambda p: (-p["difference"], p["a"].fmt, p["b"].fmt))


def _p(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}" if p < 0.01 else f"{p:.2f}"


def comparison_lines(pairs: list[dict]) -> list[str]:
    """One Markdown line per pair: the ordering, the difference and its interval, McNemar per seed."""
    lines = []
    for pair in pairs:
        seeds = pair["seeds"]
        order = ">" if pair["difference"] > 0 else "="
        family = sorted(set(pair["n_pairs"].values()))
        ps = ", ".join(f"seed {s} {_p(pair['p_seed'][s])}" for s in seeds)
        if pair["significant"]:
            verdict = f"significant (p {_p(pair['p'])}, every seed)"
        else:
            why = "" if pair["same_direction"] or pair["difference"] == 0 else "; the seeds disagree in direction"
            verdict = f"**not significant** (p {_p(pair['p'])}{why})"
        lines.append(f"- {pair['a'].label} {order} {pair['b'].label}: {100 * pair['difference']:+.2f} points, 95 % "
                     f"interval [{100 * pair['low']:+.2f}, {100 * pair['high']:+.2f}] ({pair['n_images']:,} images × "
                     f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}); McNemar, Holm over "
                     f"{'/'.join(map(str, family))} pairs: {ps}; {verdict}")
    return lines


# ----------------------------------------------------------------------------- tables

def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def _accuracy(values) -> tuple[str, str]:
    """``("mean ± std [n]", "[low, high]")`` in percent over seeds."""
    if not values:
        return "not run yet", "–"
    interval = seed_interval(values)
    if interval.n == 1:
        return f"{100 * interval.mean:.2f} [1]", "–"
    return (f"{100 * interval.mean:.2f} ± {100 * interval.std:.2f} [{interval.n}]",
            f"[{100 * interval.low:.2f}, {100 * interval.high:.2f}]")


def _test_accs(group: FormatRuns) -> list[float]:
    return [group.runs[s]["test_predictions"]["acc"] for s in sorted(group.runs)]


def _search_status(dataset: str, fmt: str, results_root) -> str:
    """Where a format without a selected configuration stands: its search not finished (its
    progress is left out, so that the page changes only when a search completes), or completed
    and waiting for its :data:`tt_rnn.experiments.SELECTED` entry."""
    path = Path(results_root) / "search" / dataset / f"{fmt}.json"
    if path.is_file() and json.loads(path.read_text()).get("status") == "completed":
        return (f"search completed; its best trial is not in `SELECTED` yet (`python -m tt_rnn.search "
                f"{dataset}/{fmt} --selected`)")
    return "search not finished"


def _missing(groups: list[FormatRuns]) -> str:
    """The runs not (yet) completed, grouped by format and state."""
    parts = []
    for group in groups:
        by_state: dict[str, list[int]] = {}
        for seed, state in sorted(group.pending.items()):
            by_state.setdefault(state, []).append(seed)
        if by_state:
            states = "; ".join(f"seed{'s' if len(s) > 1 else ''} {', '.join(map(str, s))} {state}"
                               for state, s in by_state.items())
            parts.append(f"`{group.names[min(group.names)]}` ({states})")
    return "Missing: " + ", ".join(parts) + "." if parts else ""


def _not_searched(dataset: str, formats, results_root) -> str:
    lines = [f"Search not finished: no {'MNIST' if dataset == 'mnist' else 'CIFAR-10'} format has a selected "
             "configuration yet (`SELECTED` in `tt_rnn/experiments.py`); the runs are defined once it has. "
             f"Progress: `python -m tt_rnn.search {dataset}/ --dry-run`.", ""]
    lines += [f"- {FORMAT_NAMES.get(fmt, fmt)}: {_search_status(dataset, fmt, results_root)}" for fmt in formats]
    return "\n".join(lines)


def _dataset(folder) -> tuple[str, Path]:
    folder = Path(folder)
    dataset = folder.parent.name
    if dataset not in E.SEARCH_FORMATS:
        raise ValueError(f"{folder.as_posix()}: no searches for data set {dataset!r}; the final groups are "
                         f"{', '.join(f'results/{d}/final' for d in E.SEARCH_FORMATS)}")
    return dataset, folder.parent.parent


def final_tables(folder, n_resamples: int = N_RESAMPLES) -> str:
    """Markdown for ``results/<data>/final``: the formats at their selected configurations
    (see the module docstring); "search not finished" while no format has one."""
    dataset, root = _dataset(folder)
    names = E.final_names(dataset)
    selected = [fmt for fmt in names if f"{dataset}/{fmt}" in E.SELECTED]
    if not selected:
        return _not_searched(dataset, names, root)
    budget = E.FINAL_BUDGET[dataset]
    groups = [collect(names[fmt], fmt, root) for fmt in selected]
    val_size = E.get(names[selected[0]][E.FINAL_SEEDS[0]]).val_size
    lines = [f"Each format at the configuration its own search selected on validation (`SELECTED` in "
             f"`tt_rnn/experiments.py`), fitted on the training set less the {val_size:,}-image validation split "
             f"for up to {budget['epochs']} epochs, stopped after {budget['patience']} epochs without a new best "
             f"validation accuracy; test accuracy of the epoch validation chose; seeds {', '.join(map(str, E.FINAL_SEEDS))}. "
             "Mean ± sample std over seeds [seeds], and a Student-t 95 % interval over seeds.", "",
             "| format | runs | rank | params | chosen epoch (of epochs run) | val. acc. (%) | test acc. (%) | "
             "95 % interval (%) |", "|---|---|---|---|---|---|---|---|"]
    for group in groups:
        config = E.get(group.names[min(group.names)])
        params = next((r["params"] for r in group.runs.values()), parameter_count(config))
        chosen = ", ".join(f"{group.runs[s]['chosen']['epoch']} ({len(group.runs[s]['history'])})"
                           for s in sorted(group.runs)) or "–"
        val = [group.runs[s]["chosen"]["val_acc"] for s in sorted(group.runs)]
        test, interval = _accuracy(_test_accs(group))
        lines.append(f"| {group.label} | {len(group.runs)} of {len(group.names)} | {config.rank} | {params:,} | "
                     f"{chosen} | {_accuracy(val)[0] if val else '–'} | {test} | {interval} |")
    for fmt in names:
        if fmt not in selected:
            lines.append(f"| {FORMAT_NAMES.get(fmt, fmt)} | {_search_status(dataset, fmt, root)} | | | | | | |")
    text = "\n".join(lines)
    missing = _missing(groups)
    if missing:
        text += f"\n\n{missing}"
    pairs = compare([g for g in groups if g.runs], n_resamples)
    if pairs:
        text += ("\n\nEvery pair of formats, the better first (difference in test accuracy in points, paired bootstrap "
                 "over images and seeds; McNemar's exact test on each seed, Holm-corrected over the pairs of that "
                 "seed; significant only when so on every seed):\n\n" + "\n".join(comparison_lines(pairs)))
    else:
        text += "\n\nThe paired comparisons follow once two formats have completed runs."
    return text


def _training(config) -> str:
    """How a run of an equal-parameter group trained, in words (its data set's
    :data:`tt_rnn.experiments.EQUAL_PARAMS_TRAINING` applied to the final runs' training)."""
    split = f"the {config.val_size:,}-image validation split"
    images = (f"{config.train_subset:,} of the training images left after {split}" if config.train_subset
              else f"the whole training set less {split}")
    stop = (f", stopped after {config.patience} epochs without a new best validation accuracy" if config.patience
            else "")
    return f"{config.epochs} epochs on {images}{stop}; seeds {', '.join(map(str, E.FINAL_SEEDS))}"


def _nearest_budget(params: int, budgets) -> int:
    """The budget closest to ``params`` on a log scale."""
    return min(budgets, key=lambda b: (abs(math.log(b / params)), b))


def equal_params_tables(folder, n_resamples: int = N_RESAMPLES) -> str:
    """Markdown for ``results/<data>/equal_params``: test accuracy against parameter count per
    format (the rank of each budget, its count, mean ± std and 95 % interval over seeds), the
    baselines (:func:`tt_rnn.experiments.baseline_names`, trained the same way), then at each
    budget every pair of formats compared, and each baseline compared with the formats at the
    budget nearest its own parameter count."""
    dataset, root = _dataset(folder)
    budgets = E.equal_params_names(dataset)
    if not budgets:
        if not any(key.startswith(f"{dataset}/") for key in E.SELECTED):
            return _not_searched(dataset, E.MODELS, root)
        return (f"No parameter budgets for {dataset} yet (`EQUAL_PARAMS` in `tt_rnn/experiments.py`); choose them "
                "once the selected configurations are known.")
    formats = list(dict.fromkeys(fmt for per_budget in budgets.values() for fmt in per_budget))
    groups = {(budget, fmt): collect(budgets[budget][fmt], fmt, root)
              for budget in budgets for fmt in formats if fmt in budgets[budget]}
    first = next(iter(groups.values()))
    training = _training(E.get(first.names[min(first.names)]))
    lines = [f"Each format at its selected configuration with the rank whose total parameter count (feature map "
             f"included) is closest to the budget; each run up to {training}; test accuracy of the epoch validation "
             "chose. Cells: test accuracy (%) mean ± std [seeds], Student-t 95 % interval; rank and parameter count.",
             "", "| format | " + " | ".join(f"{b:,} parameters" for b in budgets) + " |",
             "|---|" + "---|" * len(budgets)]
    for fmt in formats:
        cells = []
        for b in budgets:
            group = groups.get((b, fmt))
            if group is None:
                cells.append("–")
                continue
            config = E.get(group.names[min(group.names)])
            params = next((r["params"] for r in group.runs.values()), parameter_count(config))
            test, interval = _accuracy(_test_accs(group))
            shown = f"{test} {interval}" if interval != "–" else test
            cells.append(f"{shown} (r {config.rank}, {params:,})")
        lines.append(f"| {FORMAT_NAMES.get(fmt, fmt)} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    baselines, baseline_text = _baselines(dataset, root, list(budgets))
    text += baseline_text
    missing = _missing(list(groups.values()) + [g for g, _ in baselines])
    if missing:
        text += f"\n\n{missing}"
    for b in budgets:
        pairs = compare([g for (bb, _), g in groups.items() if bb == b and g.runs], n_resamples)
        if pairs:
            text += f"\n\nAt {b:,} parameters, every pair of formats, the better first:\n\n" + "\n".join(
                comparison_lines(pairs))
    for group, nearest in baselines:
        if not group.runs:
            continue
        pairs = compare([group] + [g for (bb, _), g in groups.items() if bb == nearest and g.runs], n_resamples)
        pairs = [p for p in pairs if group in (p["a"], p["b"])]
        if pairs:
            text += (f"\n\n{group.label} against the formats at {nearest:,} parameters (the budget nearest its "
                     "own count; Holm over every pair of that group):\n\n" + "\n".join(comparison_lines(pairs)))
    if not any(g.runs for g in groups.values()):
        text += "\n\nThe paired comparisons at each budget follow once two formats have completed runs there."
    return text


def _baselines(dataset: str, root: Path, budgets: list[int]) -> tuple[list[tuple[FormatRuns, int]], str]:
    """The baselines' groups (each with the budget nearest its parameter count) and their table."""
    names = E.baseline_names(dataset)
    if not names:
        return [], ""
    lines = ["", "", "The baselines (the same per-patch feature map averaged over the patches, then a linear "
             "classifier; a small standard CNN on the whole image), each at the configuration its own search "
             "selected, with the same training:", "",
             "| baseline | runs | params | val. acc. (%) | test acc. (%) | 95 % interval (%) |",
             "|---|---|---|---|---|---|"]
    out = []
    for fmt, seeds in names.items():
        label = FORMAT_NAMES.get(fmt, fmt)
        if f"{dataset}/{fmt}" not in E.SELECTED:
            lines.append(f"| {label} | {_search_status(dataset, fmt, root)} | | | | |")
            continue
        group = collect(seeds, fmt, root)
        params = next((r["params"] for r in group.runs.values()), parameter_count(E.get(seeds[min(seeds)])))
        val = [group.runs[s]["chosen"]["val_acc"] for s in sorted(group.runs)]
        test, interval = _accuracy(_test_accs(group))
        lines.append(f"| {label} | {len(group.runs)} of {len(seeds)} | {params:,} | "
                     f"{_accuracy(val)[0] if val else '–'} | {test} | {interval} |")
        out.append((group, _nearest_budget(params, budgets)))
    return out, "\n".join(lines)
