"""The ``n = 2, r = 3`` results table and the markdown of ``results/rank`` (README tables).

Defines once what the notebook and ``benchmarks/bench_rank.py`` share: the published estimates
of Khrulkov, Novikov and Oseledets 2018 [1]_ (their table for ``n = 2, r = 3``), the search policy of
the table (:func:`table_strategy`), the computation of one table row (:func:`n2_r3_row`: a fresh
:func:`~tt_rnn.rank.bracket.cp_rank_bracket`, merged with a verified stored decomposition when that
is lower) and :func:`rank_tables`, which turns the files of ``results/rank`` into markdown.

References
----------
.. [1] V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
       ICLR 2018.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..tt import random_tt
from .bracket import UPPER_NUMERICAL, UPPER_PENCIL, cp_rank_bracket
from .constants import DEFAULT_FIT_TOL
from .gfp import min_cut_bound, proven_bound
from .decompositions import (DecompositionError, load_decomposition, save_decomposition,
                             verify_decomposition)

#: Khrulkov, Novikov, Oseledets 2018 [1]_: their gradient-descent "CP-rank estimates" for a
#: random point of M^eq_{2,3}.
KHRULKOV_2018_ESTIMATES = {2: 2, 3: 2, 4: 4, 5: 7, 6: 10, 7: 34, 8: 42}
#: Khrulkov, Novikov, Oseledets 2018 [1]_: the lower bound printed beside them in the same table.
KHRULKOV_2018_BOUNDS = {2: 2, 3: 2, 4: 4, 5: 4, 6: 8, 7: 8, 8: 16}
#: Orders up to this climb from the lower bound (``"gallop"``); above, walk down (``"descend"``).
GALLOP_MAX_D = 8
#: Seconds of fitting search per order above GALLOP_MAX_D in the table (below: no limit).
TABLE_TIME_LIMIT = 200.0
#: Where the decompositions of the table's upper bounds live, relative to the results folder.
DECOMPOSITION_SUBDIR = "decompositions"


def table_strategy(d: int) -> tuple[str, float | None]:
    """``(strategy, time_limit)`` of the table's search at order ``d`` (shared by notebook and bench)."""
    if int(d) <= GALLOP_MAX_D:
        return "gallop", None
    return "descend", TABLE_TIME_LIMIT


def decomposition_path(folder, d: int, n: int = 2, r: int = 3) -> Path:
    """``<folder>/decompositions/n{n}_r{r}_d{d}.npz``."""
    return Path(folder) / DECOMPOSITION_SUBDIR / f"n{n}_r{r}_d{d}.npz"


def verdict(d: int, row: dict) -> str:
    """Where Khrulkov et al. 2018's estimate lies relative to our bracket (``row`` as in :func:`n2_r3_row`)."""
    est = KHRULKOV_2018_ESTIMATES.get(d)
    if est is None:
        return "-"
    if est < row["lower"]:
        return f"below our certified lower bound {row['lower']}" if row["lower_certified"] \
            else "below our lower bound"
    if est > row["upper"]:
        return f"above our bracket (exact fit at {row['upper']} for our tensor)"
    return "inside" + (" (= rank)" if row["lower"] == row["upper"] == est else "")


def n2_r3_row(d: int, *, seed: int = 0, folder=None, time_limit: float | None = -1.0,
              write_decomposition: bool = False) -> dict:
    """One row of the ``n = 2, r = 3`` table: bracket of one random integer point of M^eq_{2,3}.

    Runs :func:`cp_rank_bracket` with :func:`table_strategy` (``time_limit=-1`` means the
    policy's limit). If ``folder`` holds a decomposition for this ``d`` (:func:`decomposition_path`) it is
    verified (:func:`~tt_rnn.rank.decompositions.verify_decomposition`; a failing decomposition raises) and, when
    its rank is below the fresh upper bound, it becomes the upper bound (``upper_source =
    "stored decomposition"``). With ``write_decomposition`` a fresh fit that beats the stored decomposition (or
    the first fit) is saved, so that every upper bound of the table has a decomposition file.

    Returns
    -------
    dict
        ``RankBracket.to_dict()`` plus ``d, n, r, shared, seed, integer_range, khrulkov_2018_estimate,
        khrulkov_2018_bound, verdict, upper_source, decomposition`` (path relative to ``folder``),
        ``decomposition_time_s`` (compute time stored with the decomposition), ``time_s`` (this call).
    """
    start = time.perf_counter()
    tt = random_tt(2, 3, d, shared=True, seed=seed, integer=True)
    x = tt.to_tensor()
    strategy, limit = table_strategy(d)
    if time_limit is None or time_limit >= 0:
        limit = time_limit
    # a zero budget means: no fresh search (the stored decomposition alone gives the upper end)
    b = cp_rank_bracket(x, seed=seed, strategy=strategy, time_limit=limit or None,
                        fit=limit != 0)
    row = dict(d=d, n=2, r=3, shared=True, seed=seed, integer_range=3,
               khrulkov_2018_estimate=KHRULKOV_2018_ESTIMATES.get(d),
               khrulkov_2018_bound=KHRULKOV_2018_BOUNDS.get(d))
    row.update(b.to_dict())
    source = ("fresh search" if b.factors is not None else
              "exact pencil certificate" if b.upper_method == UPPER_PENCIL else "trivial (slices)")
    row.update(upper_source=source,
               decomposition=None, decomposition_time_s=None, strategy=strategy, search_time_limit=limit)
    path = decomposition_path(folder, d) if folder is not None else None
    stored = None
    if path is not None and path.exists():
        stored = verify_decomposition(path)
        if stored.seed != seed or stored.d != d:
            raise DecompositionError(f"{path}: decomposition is for d={stored.d}, seed={stored.seed}")
    if stored is not None and stored.rank < row["upper"] and stored.rank >= row["lower"]:
        row.update(upper=stored.rank, upper_error=stored.recomputed_error,
                   upper_method=UPPER_NUMERICAL, upper_certified=False,
                   upper_source="stored decomposition (verified)")
        row["determined"] = False       # a float decomposition is evidence, not a certificate
    if b.factors is not None and write_decomposition and path is not None and (
            stored is None or b.upper < stored.rank):
        save_decomposition(path, cores=tt.cores, factors=b.factors,
                     meta=dict(n=2, r=3, d=d, shared=True, seed=seed, integer_range=3, tol=b.tol,
                               method=f"cp_rank_bracket(strategy={strategy!r})",
                               time_s=b.time_s))
        stored = verify_decomposition(path)
    if path is not None and stored is not None and stored.rank == row["upper"]:
        row["decomposition"] = f"{DECOMPOSITION_SUBDIR}/{path.name}"       # relative to the table's folder
        row["decomposition_error"] = stored.recomputed_error
        row["decomposition_time_s"] = load_decomposition(path)[2].get("time_s")
    row["verdict"] = verdict(d, row)
    row["time_s"] = time.perf_counter() - start
    return row


def n2_r3_table(ds=tuple(range(2, 11)), *, seed: int = 0, folder=None, write: bool = False,
                time_limit: float | None = -1.0, log=print) -> dict:
    """All rows of the ``n = 2, r = 3`` table; with ``write`` also ``folder/n2_r3_table.json``."""
    rows = []
    for d in ds:
        row = n2_r3_row(d, seed=seed, folder=folder, time_limit=time_limit, write_decomposition=write)
        rows.append(row)
        if log is not None:
            log(f"d={d:>2}: {'real CP rank' if row['lower_field'] == 'real' else 'CP rank'} in "
                f"[{row['lower']}, {row['upper']}] (upper: {row['upper_source']}) "
                f"[{row['time_s']:.1f} s]")
    payload = {"description": "CP rank brackets of one random integer point of M^eq_{2,3} per d "
                              "(tt_rnn.rank.report.n2_r3_table); error_curve: best relative error "
                              "per rank tried in this run; decomposition: the .npz file behind the upper "
                              "bound (python -m tt_rnn.rank verify)",
               "tol": DEFAULT_FIT_TOL, "rows": rows}
    if write:
        if folder is None:
            raise ValueError("write=True needs a folder")
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "n2_r3_table.json").write_text(json.dumps(payload, indent=1))
    return payload


def _fmt_err(x) -> str:
    return "-" if x is None else f"{x:.1e}"


def _n2_r3_markdown(payload: dict) -> str:
    rows = payload["rows"]
    real_only = [r["d"] for r in rows if r.get("lower_field") == "real"]
    lines = [
        "CP-rank brackets of one random integer point of M^eq_{2,3} per d "
        "(`tt_rnn.rank.report.n2_r3_table`). Lower bound: exact GF(p) unfolding rank, "
        "Koszul-Young flattening or pencil uniqueness (valid over R and C) or the exact real "
        "pencil certificate (valid for the **real CP rank** only); upper bound: a real CP "
        "decomposition with relative error <= tol, stored as a decomposition file "
        "(`python -m tt_rnn.rank verify`) -- numerical evidence, not a certificate, unless the "
        "upper bound column says it was verified exactly. Determined = both ends certified "
        "(see docs/rank.md). Khrulkov et al. 2018 estimate: the CP rank that the gradient-descent "
        "search of Khrulkov, Novikov and Oseledets (ICLR 2018) reported for a random point of "
        "M^eq_{2,3}; Khrulkov et al. 2018 bound: the lower bound printed beside it in their table."
        + (f" For d in {real_only} the pencil gives the lower end, so the bracket is on the real "
           f"CP rank; the bracket on the complex CP rank is shown as (C: [lower, upper])."
           if real_only else ""),
        "",
        "| d | Khrulkov et al. 2018 estimate | Khrulkov et al. 2018 bound | ours [lower, upper] "
        "| rank over | lower bound from | fit error | upper bound from | determined | time (s) "
        "| Khrulkov et al. 2018 estimate vs our bracket |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        over = "R (real CP rank)" if r.get("lower_field") == "real" else "R and C"
        bracket = f"[{r['lower']}, {r['upper']}]"
        if r.get("lower_field") == "real":
            bracket += f" (C: [{r.get('lower_complex')}, {r['upper']}])"
        src = r.get("upper_source", r.get("upper_method", "-"))
        if r.get("decomposition"):
            src += f", `{r['decomposition']}`"
        src += " (certified)" if r.get("upper_certified") else " (numerical, not a certificate)"
        t = r.get("decomposition_time_s") if r.get("upper_source", "").startswith("stored") else None
        time_s = f"{r['time_s']:.0f}" + (f" (+{t:.0f} for the stored fit)" if t else "")
        lines.append(
            f"| {r['d']} | {r.get('khrulkov_2018_estimate') or '-'} | {r.get('khrulkov_2018_bound') or '-'} | "
            f"{bracket} | {over} | {r['lower_method']} | {_fmt_err(r.get('upper_error'))} | {src} | "
            f"{'yes' if r['determined'] else 'no'} | {time_s} | {r.get('verdict', '-')} |")
    return "\n".join(lines)


def _generic_markdown(records: list) -> str:
    best = {}
    for rec in records:
        key = (int(rec["n"]), int(rec["r"]), int(rec["d"]), bool(rec["shared"]))
        best[key] = max(best.get(key, 0), int(rec["certified_rank"]))
    ds = sorted({k[2] for k in best})
    pairs = sorted({k[:2] for k in best})
    lines = ["Certified (exact, GF(p)) rank of the odd/even unfolding of random integer points of "
             "M^eq_{n,r} (shared inner core), maximum over seeds, as `certified / proven / "
             "min-cut`: proven = min(n, r)^{d/2} (Theorem 6 of the PDF, a lower bound for almost "
             "every point), min-cut = min(n^{d/2}, r n^{d/2-1}, r^{d-1}) (an upper bound for every "
             "point). Certified = min-cut means the generic unfolding rank is determined. `*` marks "
             "a case where independent cores reach a different rank. These are unfolding ranks, "
             "lower bounds on the CP rank over R and C.", "",
             "| n | r | " + " | ".join(f"d = {d}" for d in ds) + " |",
             "|---|---|" + "---|" * len(ds)]
    for n, r in pairs:
        cells = []
        for d in ds:
            shared = best.get((n, r, d, True), best.get((n, r, d, False)))  # d = 2: no inner core
            if shared is None:
                cells.append("")
                continue
            distinct = best.get((n, r, d, False))
            flag = "*" if d > 2 and distinct is not None and distinct != shared else ""
            cells.append(f"{shared} / {proven_bound(n, r, d)} / {min_cut_bound(n, r, d)}{flag}")
        lines.append(f"| {n} | {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rank_tables(folder) -> str:
    """Markdown for ``results/rank``: the n = 2, r = 3 brackets, the generic certified ranks, the timing.

    Reads ``n2_r3_table.json`` (:func:`n2_r3_table`), ``generic_unfolding_ranks.json`` (records of
    :class:`~tt_rnn.rank.gfp.UnfoldingCertificate`, fields ``n, r, d, shared, seed,
    certified_rank`` used, extra fields ignored; odd ``d`` skipped) and ``bench_rank.json``
    (``benchmarks/bench_rank.py``). Missing files are skipped; returns ``""`` if none exists.
    """
    folder = Path(folder)
    parts = []
    table = folder / "n2_r3_table.json"
    if table.exists():
        parts.append(_n2_r3_markdown(json.loads(table.read_text())))
    generic = folder / "generic_unfolding_ranks.json"
    if generic.exists():
        records = [rec for rec in json.loads(generic.read_text())["records"]
                   if int(rec["d"]) % 2 == 0]
        if records:
            parts.append(_generic_markdown(records))
    bench = folder / "bench_rank.json"
    if bench.exists():
        b = json.loads(bench.read_text())
        ds = [row["d"] for row in b.get("rows", [])]
        span = f"d = {min(ds)}..{max(ds)}" if ds else "n = 2, r = 3"
        parts.append(f"Benchmark (`benchmarks/bench_rank.py`, n = 2, r = 3, {span}, one run): our "
                     f"brackets took {b['ours_total_s']:.0f} s in total, the Adam search over ranks "
                     f"(tolerance 1e-3) {b['adam_total_s']:.0f} s: "
                     f"{b['adam_total_s'] / b['ours_total_s']:.1f}x.")
    return "\n\n".join(parts)
