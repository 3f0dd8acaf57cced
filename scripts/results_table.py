"""Markdown tables from the results JSON files written by ``tt_rnn.train``.

Print the tables of a results folder (every ``*.json`` below it)::

    python scripts/results_table.py results/mnist            # all sub-folders
    python scripts/results_table.py results/mnist/best       # one table

Regenerate README sections in place: every block ``<!-- results:KEY --> ... <!-- /results:KEY -->``
of the file is replaced by the tables of ``results/KEY`` (KEY such as ``mnist``, ``mnist/best``,
``cifar10``)::

    python scripts/results_table.py --update README.md

A folder named ``sweep`` gives a pivot table (rank x model: test accuracy and parameter count);
any other folder one row per run. Runs whose status is not ``completed`` are marked.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAMES = {"cp": "CP (shallow)", "tt": "TT (distinct cores)", "tt-shared": "TT (shared core)",
               "ht": "HT (deep)"}
MODEL_ORDER = ["tt-shared", "tt", "ht", "cp"]
MARKER = re.compile(r"(<!-- results:(?P<key>[\w./-]+) -->)(?P<body>.*?)(<!-- /results:(?P=key) -->)", re.S)


def load_runs(folder) -> list[dict]:
    """Every results JSON under ``folder`` (sorted by path), with ``_path`` added."""
    runs = []
    for path in sorted(Path(folder).rglob("*.json")):
        try:
            run = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(run, dict) and "config" in run and "history" in run:
            run["_path"] = str(path)
            runs.append(run)
    return runs


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def _status(run) -> str:
    return "" if run.get("status") == "completed" else f" ({run.get('status', '?')})"


def _model_key(run):
    c = run["config"]
    order = MODEL_ORDER.index(c["model"]) if c["model"] in MODEL_ORDER else 99
    return (order, c["rank"], c["m"], c.get("seed", 0), run.get("name", ""))


def runs_table(runs: list[dict]) -> str:
    """One row per run: model, rank, m, feature map, regularisation, params, epochs, accuracies, time."""
    head = ("| model | rank | m | feature map | dropout | augment | params | epochs | train size | "
            "seed | test acc (%) | best epoch acc (%) | train acc (%) | time (min) | device |")
    lines = [head, "|" + "|".join(["---"] * 15) + "|"]
    for run in sorted(runs, key=_model_key):
        c, hist = run["config"], run["history"]
        last = hist[-1] if hist else {}
        feat = c["features"] + (f" ({c['hidden']})" if c["features"] in ("mlp", "conv") else "")
        aug = "none" if c.get("augment") in (None, "none") else f"{c['augment']} {c.get('shift')}"
        lines.append(
            f"| {MODEL_NAMES.get(c['model'], c['model'])}{_status(run)} | {c['rank']} | {c['m']} | {feat} | "
            f"{c.get('dropout', 0):g} | {aug} | {run['params']:,} | {last.get('epoch', 0)} | "
            f"{run['dataset']['n_train']:,} | {c.get('seed', 0)} | {_pct(last.get('test_acc'))} | "
            f"{_pct(max((h['test_acc'] for h in hist), default=None))} | {_pct(last.get('train_acc'))} | "
            f"{run.get('wall_time_s', 0) / 60:.1f} | {run.get('device', '?')} |")
    return "\n".join(lines)


def sweep_table(runs: list[dict]) -> str:
    """Pivot: one row per rank, one column per model, cells ``test acc % (params)``."""
    models = [m for m in MODEL_ORDER if any(r["config"]["model"] == m for r in runs)]
    ranks = sorted({r["config"]["rank"] for r in runs})
    cell = {(r["config"]["model"], r["config"]["rank"]): r for r in runs}
    lines = ["| rank | " + " | ".join(MODEL_NAMES[m] for m in models) + " |",
             "|---|" + "---|" * len(models)]
    for rank in ranks:
        row = []
        for m in models:
            run = cell.get((m, rank))
            if run is None or not run["history"]:
                row.append("–")
            else:
                row.append(f"{_pct(run['history'][-1]['test_acc'])} ({run['params']:,}){_status(run)}")
        lines.append(f"| {rank} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def describe(runs: list[dict]) -> str:
    """One line: data set label, test-set size, epochs and train-set size of the runs."""
    if not runs:
        return ""
    labels = sorted({r.get("dataset_label", r["dataset"]["label"]) for r in runs})
    n_test = sorted({r.get("n_test", r["dataset"]["n_test"]) for r in runs})
    n_train = sorted({r["dataset"]["n_train"] for r in runs})
    epochs = sorted({r["config"]["epochs"] for r in runs})
    return (f"{', '.join(labels)}; test set {', '.join(f'{n:,}' for n in n_test)} images; "
            f"training set {', '.join(f'{n:,}' for n in n_train)} images; "
            f"{', '.join(map(str, epochs))} epochs.")


def folder_tables(folder) -> str:
    """Markdown for ``folder``: its own runs, then one sub-section per sub-folder."""
    folder = Path(folder)
    parts = []
    own = [r for r in load_runs(folder) if Path(r["_path"]).parent == folder]
    if own:
        parts.append(describe(own) + "\n\n" + (sweep_table(own) if folder.name == "sweep" else runs_table(own)))
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        text = folder_tables(sub)
        if text:
            parts.append(f"**{sub.relative_to(folder.parent)}**\n\n{text}")
    return "\n\n".join(parts)


def update_file(path, results_root=ROOT / "results") -> list[str]:
    """Replace every ``<!-- results:KEY -->`` block of ``path`` by ``folder_tables(results/KEY)``."""
    path = Path(path)
    text = path.read_text()
    keys = []

    def repl(match):
        key = match.group("key")
        keys.append(key)
        body = folder_tables(Path(results_root) / key) or f"(no results in results/{key} yet)"
        note = f"<!-- generated by scripts/results_table.py from results/{key}; do not edit by hand -->"
        return f"{match.group(1)}\n{note}\n\n{body}\n\n{match.group(4)}"

    new = MARKER.sub(repl, text)
    if new != text:
        path.write_text(new)
    return keys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="*", help="results folders to print (default: results/)")
    p.add_argument("--update", metavar="FILE", help="rewrite the <!-- results:KEY --> blocks of FILE")
    p.add_argument("--results-root", default=str(ROOT / "results"))
    args = p.parse_args(argv)
    if args.update:
        keys = update_file(args.update, args.results_root)
        print(f"updated {args.update}: sections {', '.join(keys) or '(none found)'}")
        return 0
    for folder in args.folders or [args.results_root]:
        print(f"### {folder}\n\n{folder_tables(folder)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
