"""Figures of the teacher-student experiments, drawn from the results files only.

``python -m tt_rnn.teacher_student_plots`` writes ``docs/figures/teacher_student_rank_needed.png``
and ``docs/figures/teacher_student_error_vs_rank.png`` from ``results/teacher_student/``. The
notebook ``teacher_student.ipynb`` calls the same functions.

Conventions as in :mod:`tt_rnn.teacher_student_analysis`: errors are the best over restarts per
teacher, then mean ± std over teachers; a teacher whose epsilon-rank was not reached by the
largest rank tried is drawn as an open marker at that rank with an upward arrow (a lower bound,
not a value).

References
----------
.. [1] V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
       ICLR 2018.
.. [2] N. Cohen, O. Sharir, A. Shashua, "On the expressive power of deep learning: a tensor
       analysis", COLT 2016.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .teacher_student_analysis import (MODEL_LABELS, als_curves, best_by_rank, load_folder, n_parameters,
                                       rank_needed, sample_curves, student_curves, teacher_summaries)

__all__ = ["COLORS", "plot_rank_needed", "plot_error_vs_rank", "plot_error_vs_parameters", "plot_samples",
           "plot_held_out_vs_parameters", "main"]

COLORS = {"cp": "tab:red", "als": "tab:orange", "tt-shared": "tab:blue", "tt": "tab:green", "ht": "tab:purple"}


def plot_rank_needed(results: dict, eps: float, ax=None, kinds=("cp", "als", "tt-shared")):
    """Student rank needed for relative error ``eps`` against ``d`` (log2 axis), with the teachers'
    certified CP lower bound and the proven generic bound ``min(n, r)^{d/2}``.

    Points: geometric mean of the epsilon-ranks of the teachers that reached ``eps`` (error bars:
    times / divided by ``2^std(log2 rank)``); an open triangle at the largest rank tried where
    some teacher was not reached."""
    ax = ax or plt.gca()
    table = rank_needed(results, eps)
    ds = sorted(table)
    proven = [table[d]["proven"] for d in ds]
    ax.plot(ds, proven, "k--", lw=1.2, label=r"$\min(n,r)^{d/2}$ (proved, generic)")
    cert = [np.mean(table[d]["certified"]) for d in ds]
    ax.plot(ds, cert, "ks", ms=7, mfc="none", label="certified CP lower bound (GF(p))")
    for j, kind in enumerate(kinds):
        offset = (j - 1) * 0.12
        xs, means, stds, open_x, open_y = [], [], [], [], []
        for d in ds:
            values = table[d].get(kind)
            if values is None:
                continue
            reached = [v for v in values if v is not None]
            if reached:
                xs.append(d + offset)
                logs = np.log2(reached)
                means.append(2 ** logs.mean())
                stds.append(logs.std(ddof=1) if len(logs) > 1 else 0.0)
            if len(reached) < len(values):
                open_x.append(d + offset)
                open_y.append(table[d]["max_rank"][kind])
        if xs:
            means = np.array(means)
            lower, upper = means - means / 2 ** np.array(stds), means * 2 ** np.array(stds) - means
            ax.errorbar(xs, means, yerr=[lower, upper], fmt="o-", color=COLORS[kind], capsize=3,
                        label=f"{MODEL_LABELS[kind]}{' (SGD)' if kind != 'als' else ''}")
        if open_x:
            ax.scatter(open_x, open_y, marker="^", facecolors="none", edgecolors=COLORS[kind], s=60,
                       label=f"{MODEL_LABELS[kind]}: not reached by rank shown")
    ax.set_yscale("log", base=2)
    ax.set_xlabel("sequence length d")
    ax.set_ylabel(f"student rank for relative error ≤ {eps:g}")
    ax.set_xticks(ds)
    ax.grid(alpha=0.3)
    return ax


def plot_error_vs_rank(results: dict, d: int, ax=None, kinds=("cp", "tt-shared")):
    """Relative error against student rank at order ``d``: SGD students (best restart per teacher;
    line: mean over teachers, band: min to max) and ALS; ranks below the smallest certified CP
    lower bound are shaded (a CP student there cannot reach error 0)."""
    ax = ax or plt.gca()
    curves = {kind: student_curves(results, kind) for kind in kinds}
    curves["als"] = {c: {r: [e] for r, e in v.items()} for c, v in als_curves(results).items()}
    for kind, by_cell in curves.items():
        cells = [c for c in by_cell if c[0] == d]
        if not cells:
            continue
        ranks = sorted({r for c in cells for r in by_cell[c]})
        best = [best_by_rank(by_cell[c]) for c in cells]
        mean = [np.mean([b[r] for b in best if r in b]) for r in ranks]
        lo = [min(b[r] for b in best if r in b) for r in ranks]
        hi = [max(b[r] for b in best if r in b) for r in ranks]
        ax.plot(ranks, mean, "o-" if kind != "als" else "s--", color=COLORS[kind],
                label=f"{MODEL_LABELS[kind]}{' (SGD)' if kind != 'als' else ''}")
        ax.fill_between(ranks, lo, hi, color=COLORS[kind], alpha=0.15)
    certs = [t["cp_lower_bound_certified"] for (dd, _), t in teacher_summaries(results).items() if dd == d]
    if certs:
        ax.axvspan(0.7, min(certs) - 0.01, color="0.85", zorder=0,
                   label=f"CP rank < certified bound {min(certs)}: error > 0")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("student rank")
    ax.set_ylabel("relative error (function table)")
    ax.set_title(f"d = {d}")
    ax.grid(alpha=0.3)
    return ax


def plot_error_vs_parameters(by_family: dict, axes=None, kinds=("cp", "tt", "tt-shared", "ht")):
    """One panel per teacher family: best error (mean over teachers) against the
    students' parameter counts, per student format."""
    families = list(by_family)
    if axes is None:
        _, axes = plt.subplots(1, len(families), figsize=(4 * len(families), 3.4), sharey=True)
    for ax, family in zip(np.atleast_1d(axes), families):
        results = by_family[family]
        d = results["config"]["ds"][0]
        for kind in kinds:
            counts = n_parameters(results, kind)
            by_cell = student_curves(results, kind)
            ranks = sorted({r for c in by_cell for r in by_cell[c]})
            if not ranks:
                continue
            best = [best_by_rank(v) for v in by_cell.values()]
            mean = [np.mean([b[r] for b in best if r in b]) for r in ranks]
            ax.plot([counts[(d, r)] for r in ranks], mean, "o-", color=COLORS[kind], label=MODEL_LABELS[kind])
        teacher = next(iter(teacher_summaries(results).values()), None)
        if teacher is not None:
            ax.axvline(teacher["n_parameters"], color="k", lw=0.8, ls=":")
        ax.axhline(1e-2, color="0.5", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"teacher: {MODEL_LABELS.get(family, family)} (r = {results['config']['r']})")
        ax.set_xlabel("student parameters")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("relative error")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    return axes


def plot_samples(results: dict, ax=None):
    """Held-out relative error against the number of training samples N (continuous inputs)."""
    ax = ax or plt.gca()
    counts = {}
    for kind, per in sample_curves(results).items():
        counts[kind] = sorted(set(n_parameters(results, kind).values()))
        sizes = sorted(per)
        mean = [np.mean(per[n]) for n in sizes]
        lo = [min(per[n]) for n in sizes]
        hi = [max(per[n]) for n in sizes]
        ax.plot(sizes, mean, "o-", color=COLORS[kind], label=f"{MODEL_LABELS[kind]} ({counts[kind][0]} params)")
        ax.fill_between(sizes, lo, hi, color=COLORS[kind], alpha=0.15)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training samples N")
    ax.set_ylabel("held-out relative error")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_held_out_vs_parameters(results: dict, axes=None, kinds=("cp", "tt", "tt-shared", "ht")):
    """Sampled inputs (one panel per ``d``): held-out relative error, or test accuracy for the
    classification task, against the students' parameter counts; best restart per teacher, line =
    median over teachers (accuracy: mean), band = min to max. The dotted line is the teacher's parameter count."""
    classify = results["config"].get("task", "regression") == "classification"
    ds = list(results["config"]["ds"])
    if axes is None:
        _, axes = plt.subplots(1, len(ds), figsize=(4 * len(ds), 3.4), sharey=True)
    largest = max(results["config"]["n_train"])
    for ax, d in zip(np.atleast_1d(axes), ds):
        for kind in kinds:
            counts = n_parameters(results, kind)
            cells = [v for c, v in student_curves(results, kind).items()
                     if c[0] == d and (len(c) == 2 or c[2] == largest)]
            ranks = sorted({r for v in cells for r in v})
            if not ranks:
                continue
            per_rank = [[min(v[r]) for v in cells if r in v] for r in ranks]
            if classify:
                per_rank = [[1 - e for e in values] for values in per_rank]
            x = [counts[(d, r)] for r in ranks]
            centre = np.mean if classify else np.median  # a held-out error is unbounded: the median
            ax.plot(x, [centre(v) for v in per_rank], "o-", color=COLORS[kind], label=MODEL_LABELS[kind])
            ax.fill_between(x, [min(v) for v in per_rank], [max(v) for v in per_rank], color=COLORS[kind], alpha=0.15)
        teacher = next((t for (dd, _), t in teacher_summaries(results).items() if dd == d), None)
        if teacher is not None:
            ax.axvline(teacher["n_parameters"], color="k", lw=0.8, ls=":")
        ax.set_xscale("log")
        if not classify:
            ax.set_yscale("log")
        ax.set_title(f"d = {d}")
        ax.set_xlabel("student parameters")
        ax.grid(alpha=0.3)
    first = np.atleast_1d(axes)[0]
    first.set_ylabel("test accuracy" if classify else "held-out relative error")
    first.legend(fontsize=8)
    return axes


def readme_figure(results: dict, path) -> Path:
    """The README figure: rank needed for eps = 1e-1 and 1e-2 against d (two panels)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharey=True)
    for ax, eps in zip(axes, (1e-1, 1e-2)):
        plot_rank_needed(results, eps, ax=ax)
        ax.set_title(f"ε = {eps:g}")
    cfg = results["config"]
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), fontsize=8, loc="lower center", ncol=4)
    fig.suptitle(f"Shared-core teachers (n = {cfg['n']}, r = {cfg['r']}, {cfg['teachers']} per d): "
                 "student rank needed to learn them", fontsize=11)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def error_vs_rank_figure(results: dict, path) -> Path:
    """Error against student rank, one panel per ``d`` of the file."""
    ds = sorted({rec["d"] for rec in results["records"] if rec["job"] == "teacher"})
    fig, axes = plt.subplots(1, len(ds), figsize=(3.4 * len(ds), 3.4), sharey=True)
    for ax, d in zip(np.atleast_1d(axes), ds):
        plot_error_vs_rank(results, d, ax=ax)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tt_rnn.teacher_student_plots", description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/teacher_student", help="folder of the results files")
    parser.add_argument("--out", default="docs/figures", help="folder for the PNG files")
    args = parser.parse_args(argv)
    plt.switch_backend("Agg")  # files only; the notebook keeps its inline backend
    found = load_folder(args.results)
    main_name = "teacher_student/shared_n2_r3"
    if main_name not in found:
        print(f"error: no results file for {main_name} under {args.results}; run "
              f"python -m tt_rnn.sweep {main_name}", file=sys.stderr)
        return 2
    for path in (readme_figure(found[main_name], Path(args.out) / "teacher_student_rank_needed.png"),
                 error_vs_rank_figure(found[main_name], Path(args.out) / "teacher_student_error_vs_rank.png")):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
