"""Markdown tables from results files, training budgets chosen on validation, and the generated
blocks of the README and ``docs/``.

The top layer of the training side: it reads results files (:mod:`tt_rnn.runfiles`) and the
named experiments (:mod:`tt_rnn.experiments`) and writes nothing but Markdown.

* :func:`runs_table`, :func:`sweep_table`, :func:`seed_summary`, :func:`folder_tables` — tables of runs;
* :func:`select_budget`, :func:`budget_table` — the doubling rule that picks a training budget on
  validation accuracy (never on the test set);
* :func:`tt_rnn.final_report.final_tables`, :func:`~tt_rnn.final_report.equal_params_tables` — the
  formats at their selected configurations and at equal parameters, with paired tests (sections
  ``<data>/final`` and ``<data>/equal_params``);
* :func:`cpu_hours_table` — the compute the second round has spent (section ``second_round_cpu``);
* :func:`update_file` — regenerates the ``<!-- results:KEY -->`` blocks of a Markdown file
  (``python -m tt_rnn.tables --update docs/results-mnist.md``; ``make tables`` updates every such
  file of the README and ``docs/``).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .cli import OneLineParser
from .config import experiment_fields
from .experiments import BUDGET_EPOCHS, BUDGET_PROBES, BUDGET_TOL, SEARCH_FORMATS, budget_folder, budget_study, get
from .final_report import FORMAT_NAMES, equal_params_tables, final_tables
from .generalized_report import generalized_tables
from .rank.report import rank_tables
from .runfiles import ResultsFileError, load_runs, portable_path, read_results
from .search import SEARCHES, trial_seconds
from .teacher_student_analysis import teacher_student_tables

__all__ = ["MODEL_NAMES", "MODEL_ORDER", "load_runs", "provenance_table", "provenance_summary",
           "runs_table", "seed_summary", "history_entry", "sweep_table", "describe", "folder_tables",
           "benchmark_tables", "update_file", "main", "BudgetChoice", "select_budget", "budget_table",
           "budget_tables", "converged_sweep_tables", "cpu_hours_table"]

MODEL_NAMES = {"cp": "CP (shallow)", "tt": "TT (distinct cores)", "tt-shared": "TT (shared core)",
               "ht": "HT (deep)"}
MODEL_ORDER = ["tt-shared", "tt", "ht", "cp"]
MARKER = re.compile(r"(<!-- results:(?P<key>[\w./-]+) -->)(?P<body>.*?)(<!-- /results:(?P=key) -->)", re.S)


# ----------------------------------------------------------------------------- matching

def provenance_table(runs: dict) -> str:
    """Markdown: one row per run, where its numbers come from and the command that produced them."""
    lines = ["| experiment | source | command that produced it |", "|---|---|---|"]
    for name, run in runs.items():
        how = run.source + (f" ({run.reason.split('.')[0]})" if run.reason else "")
        command = run.results["command"] if run.results else ""
        lines.append(f"| `{name}` | {how} | `{command}` |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- tables

def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def _mean_std(values) -> str:
    """``mean ± std [n]`` in percent (sample std); a single value as it is."""
    values = [100 * v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{mean:.2f} ± {std:.2f} [{len(values)}]"


def _status(run) -> str:
    return "" if run.get("status") == "completed" else f" ({run.get('status', '?')})"


def _final(run, key: str):
    return run["history"][-1].get(key) if run["history"] else None


def _model_key(run):
    c = run["config"]
    order = MODEL_ORDER.index(c["model"]) if c["model"] in MODEL_ORDER else 99
    return (order, c["rank"], c["m"], c.get("seed", 0), run.get("name", ""))


def _init(config: dict) -> str:
    init = config.get("init", "random")
    if init != "random":
        init += f" ({config.get('init_noise', 1.0):g})"
    return init + (" + const" if config.get("constant_feature") else "")


def runs_table(runs: list[dict]) -> str:
    """One row per run: model, rank, m, feature map, initialisation, regularisation, params, epochs,
    final validation / test / training accuracy, device. (No "best epoch": that would pick by test.
    No wall time: it belongs to one machine; it stays in the results file.)"""
    head = ("| model | rank | m | feature map | init | dropout | augment | params | epochs | train size | "
            "seed | val acc (%) | test acc (%) | train acc (%) | device |")
    lines = [head, "|" + "|".join(["---"] * 15) + "|"]
    for run in sorted(runs, key=_model_key):
        c, hist = run["config"], run["history"]
        feat = c["features"] + (f" ({c['hidden']})" if c["features"] in ("mlp", "conv") else "")
        aug = "none" if c.get("augment") in (None, "none") else f"{c['augment']} {c.get('shift')}"
        lines.append(
            f"| {MODEL_NAMES.get(c['model'], c['model'])}{_status(run)} | {c['rank']} | {c['m']} | {feat} | "
            f"{_init(c)} | {c.get('dropout', 0):g} | {aug} | {run['params']:,} | {hist[-1]['epoch'] if hist else 0} | "
            f"{run['dataset']['n_train']:,} | {c.get('seed', 0)} | {_pct(_final(run, 'val_acc'))} | "
            f"{_pct(_final(run, 'test_acc'))} | {_pct(_final(run, 'train_acc'))} | {run.get('device', '?')} |")
    return "\n".join(lines)


def seed_summary(runs: list[dict]) -> str:
    """Mean ± std over seeds of every configuration run with several seeds (else "")."""
    groups: dict = {}
    for run in sorted(runs, key=_model_key):
        key = json.dumps({k: v for k, v in experiment_fields(run["config"]).items() if k != "seed"}, sort_keys=True)
        groups.setdefault(key, []).append(run)
    multi = [g for g in groups.values() if len(g) > 1]
    if not multi:
        return ""
    lines = ["| model | rank | init | dropout | seeds | val acc (%) | test acc (%) | completed |",
             "|---|---|---|---|---|---|---|---|"]
    for group in multi:
        c = group[0]["config"]
        done = sum(r.get("status") == "completed" for r in group)
        lines.append(f"| {MODEL_NAMES.get(c['model'], c['model'])} | {c['rank']} | {_init(c)} | {c.get('dropout', 0):g} | "
                     f"{', '.join(str(r['config']['seed']) for r in group)} | "
                     f"{_mean_std([_final(r, 'val_acc') for r in group])} | "
                     f"{_mean_std([_final(r, 'test_acc') for r in group])} | {done} of {len(group)} |")
    return "Mean ± sample std over seeds [number of seeds]:\n\n" + "\n".join(lines)


def history_entry(run: dict, epoch: int | str = -1) -> dict | None:
    """One epoch of ``run``'s history: ``epoch`` an index (-1 the last, 0 the first) or
    ``"best-val"``, the first epoch of highest validation accuracy (early stopping on validation;
    the test figures of that epoch are reported, never used to choose). ``None`` if there is none."""
    history = run["history"]
    if epoch == "best-val":
        scored = [e for e in history if e.get("val_acc") is not None]
        return max(scored, key=lambda e: e["val_acc"]) if scored else None
    if not isinstance(epoch, int):
        raise ValueError(f"epoch must be an index or 'best-val', got {epoch!r}")
    return history[epoch] if len(history) > (epoch if epoch >= 0 else -epoch - 1) else None


def sweep_table(runs: list[dict], metric: str = "test_acc", epoch: int | str = -1) -> str:
    """Pivot: one row per rank, one column per model, cells ``metric (params)`` at ``epoch`` (see
    :func:`history_entry`: -1 the last, 0 the first, ``"best-val"`` early stopping on validation);
    with several seeds ``mean ± std [seeds]``. Accuracies in percent, losses as they are."""
    models = [m for m in MODEL_ORDER if any(r["config"]["model"] == m for r in runs)]
    ranks = sorted({r["config"]["rank"] for r in runs})
    cells: dict = {}
    for r in runs:
        entry = history_entry(r, epoch)
        if entry is not None:
            cells.setdefault((r["config"]["model"], r["config"]["rank"]), []).append((r, entry))
    lines = ["| rank | " + " | ".join(MODEL_NAMES[m] for m in models) + " |",
             "|---|" + "---|" * len(models)]
    for rank in ranks:
        row = []
        for m in models:
            group = cells.get((m, rank))
            if not group:
                row.append("–")
                continue
            values = [entry.get(metric) for _, entry in group]
            # _mean_std prints percent: losses are divided by 100 to print as they are
            text = _mean_std(values if metric.endswith("_acc") else [v / 100 for v in values])
            unfinished = [r for r, _ in group if r.get("status") != "completed"]
            row.append(f"{text} ({group[0][0]['params']:,})" + (_status(unfinished[0]) if unfinished else ""))
        lines.append(f"| {rank} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def xi_comparison_table(product_runs: list[dict], rectifier_runs: list[dict], metric: str = "test_acc") -> str:
    """Per rank, each format's final ``metric`` with the product (``x``) and the rectifier (``max``)
    side by side; with several seeds ``mean ± std [seeds]`` (percent). Only completed runs count."""
    def cells(runs):
        out: dict = {}
        for r in runs:
            if r.get("status") == "completed":
                out.setdefault((r["config"]["model"], r["config"]["rank"]), []).append(_final(r, metric))
        return out
    prod, rect = cells(product_runs), cells(rectifier_runs)
    models = [m for m in MODEL_ORDER if any(k[0] == m for k in rect)]
    ranks = sorted({k[1] for k in rect})
    lines = ["| rank | " + " | ".join(f"{MODEL_NAMES[m]} x | max" for m in models) + " |",
             "|---|" + "---|---|" * len(models)]
    for rank in ranks:
        row = [f"{_mean_std(prod.get((m, rank), []))} | {_mean_std(rect.get((m, rank), []))}" for m in models]
        lines.append(f"| {rank} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def rectifier_tables(folder) -> str:
    """``results/<data>/val_sweep_rectifier``: the comparison with the product sweep of the same
    data set (``val_sweep``), then the rectifier sweep's own table."""
    folder = Path(folder)
    product = folder.parent / folder.name.replace("_rectifier", "")
    rect_runs = [r for r in load_runs(folder) if Path(r["_path"]).parent == folder]
    if not rect_runs:
        return ""
    head = (f"Test accuracy (%), product network (x) beside rectifier network (max), same feature map, "
            f"budget and validation split (`{portable_path(product)}` and `{portable_path(folder)}`):")
    return head + "\n\n" + xi_comparison_table(load_runs(product), rect_runs) + "\n\n" + folder_tables(folder)


@dataclass
class BudgetChoice:
    """The training budget of a group chosen by the doubling rule (:func:`select_budget`).

    ``val_acc[probe][epochs]``: the probe's final validation accuracy (``None``: no completed results
    file); ``gains[epochs]``: the largest rise of a probe's validation accuracy when ``epochs`` is
    doubled (over the probes run at both budgets: a lower bound where ``epochs`` is in ``partial``);
    ``epochs``: the chosen budget (``None`` while the rule cannot decide: runs missing, or every
    doubling still helps)."""

    study: str
    tol: float
    candidates: tuple
    val_acc: dict
    gains: dict
    epochs: int | None
    reason: str
    partial: tuple = ()

    def to_dict(self) -> dict:
        return {"study": self.study, "tol": self.tol, "candidates": list(self.candidates), "epochs": self.epochs,
                "reason": self.reason, "gains": {str(e): g for e, g in self.gains.items()},
                "partial": list(self.partial),
                "val_acc": {probe: {str(e): v for e, v in accs.items()} for probe, accs in self.val_acc.items()}}


def select_budget(study: str, results_root="results") -> BudgetChoice:
    """The doubling rule: the smallest candidate budget ``E`` at which training for the next candidate
    (twice as long) raises no probe's final validation accuracy by ``BUDGET_TOL`` or more.

    A budget is rejected as soon as one probe run at both ``E`` and ``2E`` rises by ``BUDGET_TOL``
    (the other probes cannot undo that); it is chosen only when every probe was run at both.

    ``study``: a key of :data:`tt_rnn.experiments.BUDGET_EPOCHS` (``"mnist/val_sweep"``, ...); its
    runs are :func:`tt_rnn.experiments.budget_study`'s. Only completed results files count, and only
    validation accuracy is read.
    """
    names = budget_study(study)
    candidates = BUDGET_EPOCHS[study]
    val_acc: dict = {}
    for (probe, epochs), name in names.items():
        path = Path(results_root) / f"{name}.json"
        run = read_results(path) if path.exists() else None
        done = run is not None and run.get("status") == "completed"
        val_acc.setdefault(probe, {})[epochs] = _final(run, "val_acc") if done else None
    gains: dict = {}
    partial: list = []

    def choice(epochs, reason):
        return BudgetChoice(study, BUDGET_TOL, candidates, val_acc, gains, epochs, reason, tuple(partial))
    for short, long in zip(candidates, candidates[1:]):
        missing = [probe for probe, accs in val_acc.items() if accs[short] is None or accs[long] is None]
        rises = [accs[long] - accs[short] for accs in val_acc.values()
                 if accs[short] is not None and accs[long] is not None]
        if rises:
            gains[short] = max(rises)
        if missing:
            partial.append(short)
            if not rises or gains[short] < BUDGET_TOL:
                return choice(None, f"undecided: {short} against {long} epochs lacks completed runs "
                                    f"({', '.join(missing)})")
        elif gains[short] < BUDGET_TOL:
            return choice(short, f"doubling {short} epochs raises no probe's validation accuracy by "
                                 f"{100 * BUDGET_TOL:.1f} points or more; largest rise {100 * gains[short]:+.2f}")
    last = candidates[-2]
    return choice(None, f"undecided: doubling {last} epochs still raised validation accuracy by "
                        f"{'at least ' if last in partial else ''}{100 * gains[last]:+.2f} points, at the last "
                        f"candidate pair")


def budget_table(choice: BudgetChoice) -> str:
    """Markdown: the probes' final validation accuracy per budget, the largest rise per doubling, the choice."""
    cands = choice.candidates
    lines = ["| probe | " + " | ".join(f"{e} epochs" for e in cands) + " |", "|---|" + "---|" * len(cands)]
    for probe, accs in choice.val_acc.items():
        lines.append(f"| `{probe}` | " + " | ".join(_pct(accs[e]) for e in cands) + " |")
    lines.append("| largest rise on doubling | " + " | ".join(
        (f"≥ {100 * choice.gains[e]:+.2f}" if e in choice.partial else f"{100 * choice.gains[e]:+.2f}")
        if e in choice.gains else "–" for e in cands) + " |")
    chosen = f"Chosen: {choice.epochs} epochs" if choice.epochs else "No budget chosen"
    return (f"Final validation accuracy (%) of the budget probes of `{choice.study}` (only validation is "
            f"read). Rule: the smallest budget that doubling improves by less than {100 * choice.tol:.1f} "
            f"points on every probe. **{chosen}** ({choice.reason}).\n\n" + "\n".join(lines))


def converged_sweep_tables(folder) -> str:
    """README section ``<data>/converged_sweep``: the sweep's table at the last epoch, then the same
    runs early-stopped on validation (each run's epoch of highest validation accuracy)."""
    runs = [r for r in load_runs(folder) if Path(r["_path"]).parent == Path(folder)]
    if not runs:
        return ""
    return (folder_tables(folder) + "\n\nThe same runs early-stopped on validation (test accuracy at each run's "
            "first epoch of highest validation accuracy):\n\n" + sweep_table(runs, epoch="best-val"))


def budget_tables(folder) -> str:
    """README section ``<data>/budget`` or ``<data>/budget_best``: the doubling rule's table for the
    data set's sweep or best models (:func:`budget_table`); for the best models, also the runs longer
    than the group's own budget with their test accuracy (and mean ± std where there are seeds)."""
    folder = Path(folder)
    key = f"{folder.parent.name}/{folder.name}"
    study = next((s for s in BUDGET_EPOCHS if budget_folder(s) == key), None)
    if study is None:
        raise ValueError(f"no budget study writes to results/{key}; the studies write to "
                         f"{', '.join(f'results/{budget_folder(s)}' for s in BUDGET_EPOCHS)}")
    text = budget_table(select_budget(study, folder.parent.parent))
    if not study.endswith("/val_best"):
        return text
    own_epochs = get(f"{study}/{BUDGET_PROBES[study][0]}").epochs
    longer = [r for r in load_runs(folder) if r["config"]["epochs"] > own_epochs]
    if longer:
        text += (f"\n\nThe runs longer than the {own_epochs} epochs of `{study}`, with their test accuracy "
                 f"(reported; the rule reads validation only):\n\n"
                 + "\n\n".join(t for t in (runs_table(longer), seed_summary(longer)) if t))
    return text


def provenance_summary(runs: dict) -> str:
    """One line: how many runs were read, trained or are missing (naming the missing ones)."""
    counts: dict = {}
    for run in runs.values():
        counts[run.source] = counts.get(run.source, 0) + 1
    missing = [name for name, run in runs.items() if run.source == "missing"]
    text = ", ".join(f"{n} {source}" for source, n in sorted(counts.items()))
    return text + (f" (missing: {', '.join(f'`{m}`' for m in missing)})" if missing else "")


def describe(runs: list[dict]) -> str:
    """One line: data set label, test-set size, epochs and train-set size of the runs."""
    if not runs:
        return ""
    labels = sorted({r.get("dataset_label", r["dataset"]["label"]) for r in runs})
    n_test = sorted({r.get("n_test", r["dataset"]["n_test"]) for r in runs})
    n_train = sorted({r["dataset"]["n_train"] for r in runs})
    epochs = sorted({r["config"]["epochs"] for r in runs})
    val = sorted({(r["config"].get("val_size", 0), r["config"].get("split_seed", 0)) for r in runs})
    split = "; ".join(f"validation split {n:,} images carved from the training set (seed {seed})" if n else
                      "no validation split" for n, seed in val)
    return (f"{', '.join(labels)}; test set {', '.join(f'{n:,}' for n in n_test)} images; "
            f"training set {', '.join(f'{n:,}' for n in n_train)} images; {split}; "
            f"{', '.join(map(str, epochs))} epochs.")


def folder_tables(folder) -> str:
    """Markdown for ``folder``: its own runs, then one sub-section per sub-folder."""
    folder = Path(folder)
    parts = []
    own = [r for r in load_runs(folder) if Path(r["_path"]).parent == folder]
    if own:
        table = sweep_table(own) if folder.name.endswith("sweep") or "_sweep" in folder.name else \
            "\n\n".join(t for t in (runs_table(own), seed_summary(own)) if t)
        parts.append(describe(own) + "\n\n" + table)
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        text = folder_tables(sub)
        if text:
            parts.append(f"**{sub.relative_to(folder.parent)}**\n\n{text}")
    return "\n\n".join(parts)


def benchmark_tables(folder) -> str:
    """Markdown for ``results/benchmarks``: the score-network throughput rows of bench_networks.py."""
    parts = []
    for path in sorted(Path(folder).glob("networks_*.json")):
        bench = json.loads(path.read_text())
        lines = [f"`benchmarks/bench_networks.py` on {bench['device_name']} ({bench['threads']} threads, "
                 f"torch {bench['torch']}), forward + backward, batch 256:", "",
                 "| d | m | r | model | samples/s | vs baseline | forward GFLOP/s |", "|---|---|---|---|---|---|---|"]
        for row in bench["rows"]:
            ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}x"
            sps = "" if row["samples_per_s"] is None else f"{row['samples_per_s']:,.0f}"
            gflops = "" if row["forward_gflops"] is None else f"{row['forward_gflops']:.1f}"
            lines.append(f"| {row['d']} | {row['m']} | {row['r']} | {row['model']} | {sps} | {ratio} | {gflops} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def search_tables(folder) -> str:
    """One row per search summary in ``folder`` (``results/search/<dataset>/``): trials finished,
    their states, and the best trial's validation accuracy and configuration (never the test set)."""
    rows = []
    for path in sorted(Path(folder).glob("*.json")):
        record = json.loads(path.read_text())
        states = {s: sum(t["state"] == s for t in record["trials"]) for s in ("COMPLETE", "PRUNED", "FAIL")}
        best = record.get("best") or {}
        params = ", ".join(f"{k} {v:.2g}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in sorted(best.get("params", {}).items()))
        finished = [t for t in record["trials"] if t["state"] in ("COMPLETE", "PRUNED")]
        distinct = len({json.dumps(t["params"], sort_keys=True) for t in finished})
        repeats = f"; {distinct} distinct" if distinct < len(finished) else ""
        # by the search's format: both baselines are model pool-linear
        rows.append(f"| {FORMAT_NAMES.get(path.stem, path.stem)} | {record['n_finished']} of "
                    f"{record['search']['n_trials']} ({states['COMPLETE']} complete, {states['PRUNED']} pruned"
                    f"{repeats}) | "
                    f"{_pct(best.get('value'))} | {params} | {record['status']} |")
    if not rows:
        return ""
    first = json.loads(sorted(Path(folder).glob("*.json"))[0].read_text())["search"]
    pruning = (f", pruned from epoch {first['prune_after']} on when below the median" if "prune_after" in first
               else "")
    head = (f"Per-format searches on the validation split ({first['base']['val_size']:,} images; trials of "
            f"{first['epochs']} epochs on {first['train_subset']:,} training images, rank {first['base']['rank']}"
            f"{pruning}; best validation accuracy over a trial's epochs; the test set is not read):")
    return "\n".join([head, "", "| format | trials | best val. acc. (%) | best configuration | status |",
                      "|---|---|---|---|---|", *rows])


def cpu_hours_table(folder) -> str:
    """The single-core CPU-hours the second round has spent, per data set and part: the searches'
    finished trials (:func:`tt_rnn.search.trial_seconds`) and the wall time every results file of
    the final, equal-parameter and baseline runs records (runs are single-threaded, so wall time
    is CPU time; a run in progress counts to its last checkpoint). ``folder``: ``results/<key>``;
    the results root is its parent."""
    root = Path(folder).parent
    lines = ["| data set | searches | final runs | equal parameters | baselines | total |", "|---|---|---|---|---|---|"]
    grand = 0.0
    for dataset in SEARCH_FORMATS:
        searches = sum(trial_seconds(spec) for name, spec in SEARCHES.items() if name.startswith(f"{dataset}/"))
        parts = [searches]
        for group in ("final", "equal_params", "baselines"):
            parts.append(sum(read_results(p).get("wall_time_s", 0.0) for p in sorted((root / dataset / group).glob("*.json"))))
        grand += sum(parts)
        name = {"mnist": "MNIST", "cifar10": "CIFAR-10 (JPEG copy)"}[dataset]
        lines.append(f"| {name} | " + " | ".join(f"{s / 3600:.2f}" for s in parts) + f" | {sum(parts) / 3600:.2f} |")
    lines.append(f"| all | | | | | {grand / 3600:.2f} |")
    return ("Single-core CPU-hours spent so far (finished search trials from their journals; runs from the wall "
            "time their results files record):\n\n" + "\n".join(lines))


def _section_tables(key: str):
    """The renderer of README section ``key`` (results/KEY)."""
    if key == "rank":
        return rank_tables
    if key == "generalized":
        return generalized_tables
    if key == "benchmarks":
        return benchmark_tables
    if key == "teacher_student":
        return teacher_student_tables
    if key == "second_round_cpu":
        return cpu_hours_table
    if key.startswith("search/"):
        return search_tables
    if key.endswith("/final"):
        return final_tables
    if key.endswith("/equal_params"):
        return equal_params_tables
    if key.endswith("_rectifier"):
        return rectifier_tables
    if key.endswith("/converged_sweep"):
        return converged_sweep_tables
    if key.endswith(("/budget", "/budget_best")):
        return budget_tables
    return folder_tables


def update_file(path, results_root="results") -> list[str]:
    """Replace every ``<!-- results:KEY -->`` block of ``path`` by the tables of ``results/KEY``."""
    path = Path(path)
    text = path.read_text()
    keys = []

    def repl(match):
        key = match.group("key")
        keys.append(key)
        body = _section_tables(key)(Path(results_root) / key) or f"(no results in results/{key} yet)"
        note = f"<!-- generated by `python -m tt_rnn.tables --update` from results/{key}; do not edit by hand -->"
        return f"{match.group(1)}\n{note}\n\n{body}\n\n{match.group(4)}"

    new = MARKER.sub(repl, text)
    if new != text:
        path.write_text(new)
    return keys


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m tt_rnn.tables",
                                description="Markdown tables from results files; regenerate the generated blocks of "
                                "the README and docs/.")
    p.add_argument("folders", nargs="*", help="results folders to print (default: results/)")
    p.add_argument("--update", metavar="FILE", help="rewrite the <!-- results:KEY --> blocks of FILE")
    p.add_argument("--results-root", default="results")
    args = p.parse_args(argv)
    if not Path(args.results_root).is_dir():
        p.error(f"results root {args.results_root!r} is not a folder; run from the repository root "
                "or pass --results-root")
    try:
        if args.update:
            keys = update_file(args.update, args.results_root)
            print(f"updated {args.update}: sections {', '.join(keys) or '(none found)'}")
            return 0
        for folder in args.folders or [args.results_root]:
            print(f"### {folder}\n\n{folder_tables(folder)}\n")
    except ResultsFileError as exc:  # a corrupt results file: tables are not written without it
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
