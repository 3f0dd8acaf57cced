"""Reading teacher-student results files: epsilon-ranks, fractions of restarts, tables.

Everything here is computed from the results files written by
:func:`tt_rnn.teacher_student.run_experiment` (``results/teacher_student/``); nothing is
hard-coded. Conventions:

* a student's error is the relative L2 error of its last iterate (``table_error`` for the table
  regime: the distance between coefficient tensors; ``test_error`` for continuous inputs);
* "best" is the minimum over all restarts (every initialisation and seed) of one student rank;
  the "fraction reaching eps" counts the restarts with error ``<= eps``;
* the **epsilon-rank** of a teacher for a student format is the smallest student rank whose best
  error is ``<= eps`` (:func:`epsilon_rank`); ``None`` when no rank tried reaches it -- reported
  as "> largest rank tried", never as a number;
* statistics over teachers are mean and sample standard deviation (``ddof = 1``) over the
  teachers that reached eps, with the count of those that did.

References
----------
.. [1] V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
       ICLR 2018.
.. [2] N. Cohen, O. Sharir, A. Shashua, "On the expressive power of deep learning: a tensor
       analysis", COLT 2016.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from .runfiles import ResultsFileError, shown_path

__all__ = ["EPSILONS", "MODEL_LABELS", "load_folder", "epsilon_rank", "mean_std", "teacher_summaries",
           "student_curves", "als_curves", "best_by_rank", "n_parameters", "rank_needed", "fraction_reaching", "params_needed",
           "sample_curves", "rank_needed_markdown", "teacher_rank_markdown", "fraction_markdown",
           "families_markdown", "samples_markdown", "error_by_rank_markdown", "teacher_student_tables"]

EPSILONS = (1e-1, 1e-2)
MODEL_LABELS = {"cp": "CP", "tt": "TT", "tt-shared": "TT-shared", "ht": "HT", "als": "CP (ALS)"}


def load_folder(folder) -> dict:
    """``{name: results}`` of every teacher-student results file below ``folder`` (sorted).

    A file that is not valid JSON raises :class:`tt_rnn.runfiles.ResultsFileError` naming it."""
    found = {}
    for path in sorted(Path(folder).rglob("*.json")):
        try:
            obj = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ResultsFileError(f"{shown_path(path)} is not valid JSON ({exc}); delete it and rerun its "
                                   "experiment, or restore it with git checkout") from None
        if isinstance(obj, dict) and obj.get("kind") == "teacher_student":
            found[obj["name"]] = obj
    return found


def epsilon_rank(ranks, errors, eps: float):
    """The smallest rank whose error is ``<= eps`` (``None`` if none).

    ``ranks`` and ``errors`` are parallel sequences (any order; non-finite errors never reach).
    The curve need not be monotone: the first rank that reaches, in increasing rank order, counts."""
    pairs = sorted((int(r), float(e)) for r, e in zip(ranks, errors, strict=True))
    for rank, err in pairs:
        if math.isfinite(err) and err <= eps:
            return rank
    return None


def mean_std(values) -> tuple:
    """``(mean, std, count)`` of the non-None values (std with ddof 1; nan for fewer than 2)."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return float("nan"), float("nan"), 0
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan"), len(vals)


def teacher_summaries(results: dict) -> dict:
    """``{(d, teacher): summary}`` of the teacher records."""
    return {(rec["d"], rec["teacher"]): rec for rec in results["records"] if rec["job"] == "teacher"}


def _error_key(results: dict) -> str:
    return "table_error" if results["config"]["inputs"] == "table" else "test_error"


def _is_classification(results: dict) -> bool:
    return results["config"].get("task", "regression") == "classification"


def student_curves(results: dict, kind: str, *, inits=None) -> dict:
    """``{(d, teacher): {rank: [errors of every restart]}}`` of student ``kind`` (held-out inputs
    with several training-set sizes: keyed by ``(d, teacher, N)``). ``inits`` restricts the
    initialisations."""
    key = _error_key(results)
    several_sizes = len(results["config"].get("n_train") or ()) > 1
    out = defaultdict(lambda: defaultdict(list))
    for rec in results["records"]:
        if rec["job"] != "student" or rec["kind"] != kind or (inits and rec["init"] not in inits):
            continue
        cell = (rec["d"], rec["teacher"], rec["N"]) if several_sizes else (rec["d"], rec["teacher"])
        out[cell][rec["rank"]] += [run[key] for run in rec["runs"]]
    return {c: dict(v) for c, v in out.items()}


def als_curves(results: dict) -> dict:
    """``{(d, teacher): {rank: best ALS error}}``."""
    out = defaultdict(dict)
    for rec in results["records"]:
        if rec["job"] == "als":
            out[(rec["d"], rec["teacher"])][rec["rank"]] = rec["error"]
    return dict(out)


def best_by_rank(curve: dict) -> dict:
    """``{rank: min over restarts}`` of a ``{rank: [errors]}`` curve."""
    return {rank: min(errors) for rank, errors in curve.items()}


def n_parameters(results: dict, kind: str) -> dict:
    """``{(d, rank): parameter count}`` of the students of ``kind``."""
    return {(rec["d"], rec["rank"]): rec["n_parameters"] for rec in results["records"]
            if rec["job"] == "student" and rec["kind"] == kind}


def rank_needed(results: dict, eps: float) -> dict:
    """Per ``d``: the epsilon-ranks over teachers of every student format and of ALS, with the
    teachers' certified CP lower bounds and the proven generic bound.

    Returns ``{d: {"cp": [...], "als": [...], "tt-shared": [...], ..., "certified": [...],
    "proven": int or None, "max_rank": {kind: largest rank tried}}}``; lists run over teachers
    (``None`` where no rank tried reached ``eps``)."""
    teachers = teacher_summaries(results)
    kinds = sorted({rec["kind"] for rec in results["records"] if rec["job"] == "student"})
    out = {}
    for d in results["config"]["ds"]:
        cells = sorted(k for k in teachers if k[0] == d)
        if not cells:
            continue
        row = {"certified": [teachers[c]["cp_lower_bound_certified"] for c in cells],
               "proven": teachers[cells[0]].get("proven_generic_bound"), "max_rank": {}, "teachers": len(cells)}
        curves = {kind: student_curves(results, kind) for kind in kinds}
        curves["als"] = {c: {r: [e] for r, e in v.items()} for c, v in als_curves(results).items()}
        for kind, by_cell in curves.items():
            ranks_tried = sorted({r for c in cells for r in by_cell.get(c, {})})
            if not ranks_tried:
                continue
            row["max_rank"][kind] = ranks_tried[-1]
            row[kind] = []
            for c in cells:
                best = best_by_rank(by_cell.get(c, {}))
                row[kind].append(epsilon_rank(list(best), list(best.values()), eps) if best else None)
        out[d] = row
    return out


def fraction_reaching(results: dict, kind: str, rank: int, eps: float, *, inits=None) -> dict:
    """Per ``d``: ``(restarts reaching eps, restarts)`` summed over teachers, and the per-teacher
    best and median errors, for student ``kind`` at ``rank``."""
    out = {}
    for (d, _t, *rest), curve in sorted(student_curves(results, kind, inits=inits).items()):
        if rank not in curve:
            continue
        errors = curve[rank]
        row = out.setdefault(d, {"reached": 0, "total": 0, "best": [], "median": []})
        row["reached"] += sum(1 for e in errors if math.isfinite(e) and e <= eps)
        row["total"] += len(errors)
        row["best"].append(min(errors))
        row["median"].append(float(np.median(errors)))
    return out


def params_needed(results: dict, kind: str, eps: float) -> list:
    """Per teacher (first ``d`` of the file): the smallest parameter count of a student of
    ``kind`` whose best error is ``<= eps`` (``None`` if none)."""
    counts = n_parameters(results, kind)
    out = []
    d = results["config"]["ds"][0]
    for cell, curve in sorted(student_curves(results, kind).items()):
        if cell[0] != d:
            continue
        best = best_by_rank(curve)
        reached = [counts[(d, r)] for r, e in best.items() if math.isfinite(e) and e <= eps]
        out.append(min(reached) if reached else None)
    return out


def sample_curves(results: dict) -> dict:
    """``{kind: {N: [best test error per teacher]}}`` (continuous inputs), and parameter counts."""
    out = {}
    for kind in sorted({rec["kind"] for rec in results["records"] if rec["job"] == "student"}):
        per = defaultdict(list)
        for (d, t, size), curve in sorted(student_curves(results, kind).items()):
            per[size].append(min(min(v) for v in curve.values()))
        out[kind] = dict(sorted(per.items()))
    return out


# ----------------------------------------------------------------------------- markdown

def _fmt_stat(values, max_rank) -> str:
    mean, std, count = mean_std(values)
    total = len(values)
    if count == 0:
        return f"> {max_rank} (0/{total})"
    text = f"{mean:.3g}" + (f" ± {std:.2g}" if math.isfinite(std) else "")
    return text + ("" if count == total else f" ({count}/{total}; others > {max_rank})")


def rank_needed_markdown(results: dict, eps: float) -> str:
    """Markdown table: student rank needed for ``eps`` against ``d`` (mean ± std over teachers)."""
    table = rank_needed(results, eps)
    if not table:
        return "(no teachers recorded yet)"
    kinds = [k for k in ("cp", "als", "tt-shared", "tt", "ht") if any(k in row for row in table.values())]
    head = ["d", "teachers", "min(n,r)^(d/2) (proved, generic)", "certified CP lower bound"] + \
        [f"{MODEL_LABELS[k]} rank for ε = {eps:g}" for k in kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d, row in sorted(table.items()):
        cert = mean_std(row["certified"])
        cells = [str(d), str(row["teachers"]), str(row["proven"]),
                 f"{cert[0]:.3g}" + (f" (min {min(row['certified'])})" if len(set(row["certified"])) > 1 else "")]
        cells += [_fmt_stat(row[k], row["max_rank"][k]) if k in row else "–" for k in kinds]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fraction_markdown(results: dict, kind: str, ranks, eps_values=EPSILONS, inits_list=(None,)) -> str:
    """Markdown table: fraction of restarts of ``kind`` reaching each eps, per rank and ``d``."""
    head = ["d", "rank", "initialisation", "best error (mean over teachers)", "median error (mean)"] + \
        [f"restarts ≤ {e:g}" for e in eps_values]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rank in ranks:
        for inits in inits_list:
            per_eps = [fraction_reaching(results, kind, rank, e, inits=inits) for e in eps_values]
            for d in sorted(per_eps[0]):
                row = per_eps[0][d]
                label = "all" if inits is None else ", ".join(inits)
                cells = [str(d), str(rank), label, f"{np.mean(row['best']):.2e}", f"{np.mean(row['median']):.2e}"]
                cells += [f"{p[d]['reached']}/{p[d]['total']}" for p in per_eps]
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def teacher_rank_markdown(results: dict) -> str:
    """Markdown: the teachers' certified and numerical unfolding ranks per ``d``."""
    rows = defaultdict(list)
    for (d, _t), rec in sorted(teacher_summaries(results).items()):
        rows[d].append(rec)
    lines = ["| d | teachers | parameters | certified CP lower bound (each teacher) | numerical odd/even rank | "
             "min(n,r)^(d/2) |", "|---|---|---|---|---|---|"]
    for d, recs in sorted(rows.items()):
        lines.append(f"| {d} | {len(recs)} | {recs[0]['n_parameters']} | "
                     f"{', '.join(str(r['cp_lower_bound_certified']) for r in recs)} | "
                     f"{', '.join(str(r['numerical_unfolding_rank']) for r in recs)} | {recs[0]['proven_generic_bound']} |")
    return "\n".join(lines)


def families_markdown(by_family: dict, eps: float = 1e-2) -> str:
    """The teacher family x student format table: parameters needed for ``eps`` (median over
    teachers, with how many teachers reached it). ``by_family`` maps a family to its results."""
    kinds = ("cp", "tt", "tt-shared", "ht")
    head = ["teacher ↓ / student →", "teacher parameters", "certified CP lower bound"] + [MODEL_LABELS[k] for k in kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for family, results in by_family.items():
        teachers = list(teacher_summaries(results).values())
        certs = [t["cp_lower_bound_certified"] for t in teachers]
        label = {"tt-shared": "TT-shared", "tt": "TT", "ht": "HT", "cp": "CP"}[family] + \
            f" (r = {results['config']['r']})"
        cells = [label, str(teachers[0]["n_parameters"]) if teachers else "–",
                 f"{min(certs)}–{max(certs)}" if certs and min(certs) != max(certs) else (str(certs[0]) if certs else "–")]
        for kind in kinds:
            needed = params_needed(results, kind, eps)
            reached = [v for v in needed if v is not None]
            if not needed:
                cells.append("–")
            elif not reached:
                top = max(n_parameters(results, kind).values())
                cells.append(f"> {top} (0/{len(needed)})")
            else:
                cells.append(f"{int(np.median(reached))} ({len(reached)}/{len(needed)})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def samples_markdown(results: dict) -> str:
    """Markdown: held-out test error against the training-set size N (mean ± std over teachers)."""
    curves = sample_curves(results)
    sizes = sorted({n for per in curves.values() for n in per})
    counts = {k: sorted(set(n_parameters(results, k).values())) for k in curves}
    head = ["student (parameters)"] + [f"N = {n}" for n in sizes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind, per in curves.items():
        cells = [f"{MODEL_LABELS[kind]} ({', '.join(map(str, counts[kind]))})"]
        for n in sizes:
            mean, std, count = mean_std(per.get(n, []))
            cells.append("–" if count == 0 else f"{mean:.2e}" + (f" ± {std:.1e}" if math.isfinite(std) else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def error_by_rank_markdown(results: dict, eps: float = 1e-1) -> str:
    """Markdown: held-out error of every student format and rank (best restart per teacher; the
    largest training set), with parameter counts. Regression: the median over teachers with the
    range, and how many teachers the student reaches within ``eps`` (a held-out relative error is
    unbounded above: a student that extrapolates badly to a few inputs can be far above 1, so a
    mean would be one teacher's outlier). Classification: the test ACCURACY, mean ± std and range
    over teachers, and the share of the most frequent label (a constant classifier's accuracy)."""
    classify = _is_classification(results)
    counts = {kind: n_parameters(results, kind) for kind in MODEL_LABELS if kind != "als"}
    teachers = teacher_summaries(results)
    largest = max(results["config"].get("n_train") or (0,))
    if classify:
        head = ["d", "certified CP lower bound", "student", "rank", "parameters", "test accuracy (mean ± std)",
                "range", "teachers", "most frequent label"]
    else:
        head = ["d", "certified CP lower bound", "student", "rank", "parameters", "held-out relative error (median)",
                "range", f"teachers ≤ {eps:g}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for d in results["config"]["ds"]:
        certs = [t["cp_lower_bound_certified"] for (dd, _), t in sorted(teachers.items()) if dd == d]
        cert = "–" if not certs or None in certs else (
            str(certs[0]) if len(set(certs)) == 1 else f"{min(certs)}–{max(certs)}")
        for kind in ("cp", "tt", "tt-shared", "ht"):
            curves = {c: v for c, v in student_curves(results, kind).items()  # the largest N only
                      if c[0] == d and (len(c) == 2 or c[2] == largest)}
            for rank in sorted({r for v in curves.values() for r in v}):
                best = [min(v[rank]) for v in curves.values() if rank in v]
                cells = [str(d), cert, MODEL_LABELS[kind], str(rank), str(counts[kind].get((d, rank), "–"))]
                if classify:
                    acc = [1 - e for e in best]
                    mean, std, _ = mean_std(acc)
                    shares = [rec["majority_share"] for rec in results["records"] if rec["job"] == "student"
                              and rec["d"] == d and rec["kind"] == kind and rec["rank"] == rank]
                    cells += [f"{mean:.1%}" + (f" ± {std:.1%}" if math.isfinite(std) else ""),
                              f"{min(acc):.1%}–{max(acc):.1%}", str(len(best)), f"{np.mean(shares):.1%}"]
                else:
                    reached = sum(1 for e in best if math.isfinite(e) and e <= eps)
                    cells += [f"{np.median(best):.2g}", f"{min(best):.2g}–{max(best):.2g}", f"{reached}/{len(best)}"]
                lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _status_line(results: dict) -> str:
    cfg = results["config"]
    return (f"`{results['name']}`: status **{results['status']}**, {len(results['records'])} units, "
            f"{results.get('cpu_time_s', 0) / 3600:.2f} CPU hours; teachers {cfg['family']} n = {cfg['n']}, "
            f"r = {cfg['r']}, d ∈ {cfg['ds']}, {cfg['teachers']} per d")


def teacher_student_tables(folder) -> str:
    """Every table of the teacher-student results below ``folder`` (for ``<!-- results:teacher_student -->``)."""
    found = load_folder(folder)
    if not found:
        return ""
    parts = []
    for name, results in found.items():
        if "/families_d8/" in name or results["config"]["inputs"] != "table":
            continue
        parts.append(f"#### {name}\n\n{_status_line(results)}\n\n{teacher_rank_markdown(results)}")
        for eps in EPSILONS:
            parts.append(rank_needed_markdown(results, eps))
        shared = [rec["rank"] for rec in results["records"] if rec["job"] == "student" and rec["kind"] == "tt-shared"]
        if shared:
            inits = sorted({rec["init"] for rec in results["records"] if rec["job"] == "student"
                            and rec["kind"] == "tt-shared"})
            parts.append("TT-shared students, every restart:\n\n" + fraction_markdown(
                results, "tt-shared", sorted(set(shared)), inits_list=[(i,) for i in inits]))
    families = {n.rsplit("/", 1)[1]: r for n, r in found.items() if "/families_d8/" in n}
    if families:
        order = [f for f in ("tt-shared", "tt", "ht", "cp") if f in families]
        first = families[order[0]]["config"]
        parts.append(f"#### teacher family × student format (n = {first['n']}, d = {first['ds'][0]})\n\n"
                     + "\n".join(f"- {_status_line(families[f])}" for f in order) + "\n\n"
                     + "Parameters of the smallest student reaching ε = 0.01 (median over teachers; teachers "
                     "reaching it / teachers):\n\n" + families_markdown({f: families[f] for f in order}))
    for name, results in found.items():
        if results["config"]["inputs"] == "sampled":
            what = ("Test accuracy (labels: argmax of the teacher's class scores)" if _is_classification(results)
                    else "Held-out relative error")
            parts.append(f"#### {name}\n\n{_status_line(results)}; {results['config']['n_train'][0]} sampled "
                         f"training inputs, {results['config']['n_test']} held-out ones\n\n{what} of the best restart "
                         f"per teacher:\n\n" + error_by_rank_markdown(results))
    for name, results in found.items():
        if results["config"]["inputs"] == "continuous":
            parts.append(f"#### {name}\n\n{_status_line(results)}\n\nHeld-out relative error (best restart, "
                         f"mean ± std over teachers) against the number of training samples:\n\n"
                         + samples_markdown(results))
    return "\n\n".join(parts)
