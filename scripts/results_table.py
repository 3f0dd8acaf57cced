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


def rank_tables(folder) -> str:
    """Markdown for ``results/rank``: the n = 2, r = 3 brackets, the generic certified ranks, the timing."""
    folder = Path(folder)
    parts = []
    table = folder / "n2_r3_table.json"
    if table.exists():
        lines = ["CP-rank brackets of one random integer point of M^eq_{2,3} per d "
                 "(`tt_rnn.rank.cp_rank_bracket`; upper bound: an exact fit with relative error <= tol).", "",
                 "| d | earlier estimate | earlier bound | our [lower, upper] | lower bound from | fit error | "
                 "determined | earlier estimate vs our bracket |", "|---|---|---|---|---|---|---|---|"]
        for row in json.loads(table.read_text())["rows"]:
            fit = "exact" if row.get("upper_error") is None else f"{row['upper_error']:.1e}"
            lines.append(f"| {row['d']} | {row.get('earlier_estimate') or '–'} | {row.get('earlier_bound') or '–'} | "
                         f"[{row['lower']}, {row['upper']}] | {row['lower_method']} | {fit} | "
                         f"{'yes' if row['determined'] else 'no'} | {row.get('verdict', '–')} |")
        parts.append("\n".join(lines))
    generic = folder / "generic_unfolding_ranks.json"
    if generic.exists():
        best = {}
        for rec in json.loads(generic.read_text())["records"]:
            key = (rec["n"], rec["r"], rec["d"], rec["shared"])
            best[key] = max(best.get(key, 0), rec["certified_rank"])
            best[("bound",) + key[:3]] = rec["theorem_bound"]
        ds = sorted({k[2] for k in best if k[0] != "bound"})
        pairs = sorted({k[:2] for k in best if k[0] != "bound"})
        lines = ["Certified (exact, GF(p)) rank of the odd/even unfolding of random integer points of "
                 "M^eq_{n,r} (shared inner core), maximum over seeds, and the theorem's bound q^{d/2}, "
                 "q = min(n, r - 1), as `certified / bound`; `*` marks a case where distinct cores reach "
                 "a different rank.", "",
                 "| n | r | " + " | ".join(f"d = {d}" for d in ds) + " |", "|---|---|" + "---|" * len(ds)]
        for n, r in pairs:
            cells = []
            for d in ds:
                shared = best.get((n, r, d, True), best.get((n, r, d, False)))  # d = 2: no inner core
                if shared is None:
                    cells.append("")
                    continue
                distinct = best.get((n, r, d, False))
                flag = "*" if distinct is not None and distinct != shared else ""
                cells.append(f"{shared} / {best[('bound', n, r, d)]}{flag}")
            lines.append(f"| {n} | {r} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    bench = folder / "bench_rank.json"
    if bench.exists():
        b = json.loads(bench.read_text())
        parts.append(f"Benchmark (`benchmarks/bench_rank.py`, n = 2, r = 3, d = 2..10, one run): our brackets "
                     f"took {b['ours_total_s']:.0f} s in total, the Adam search over ranks (tolerance 1e-3) "
                     f"{b['adam_total_s']:.0f} s: {b['adam_total_s'] / b['ours_total_s']:.1f}x.")
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


def update_file(path, results_root=ROOT / "results") -> list[str]:
    """Replace every ``<!-- results:KEY -->`` block of ``path`` by ``folder_tables(results/KEY)``."""
    path = Path(path)
    text = path.read_text()
    keys = []

    def repl(match):
        key = match.group("key")
        keys.append(key)
        tables = {"rank": rank_tables, "benchmarks": benchmark_tables}.get(key, folder_tables)
        body = tables(Path(results_root) / key) or f"(no results in results/{key} yet)"
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
