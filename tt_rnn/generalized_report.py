"""Tables and the command line of the rectifier-network computations.

:mod:`tt_rnn.generalized` (grid tensors and their ranks), :mod:`tt_rnn.regions` (linear regions)
and :mod:`tt_rnn.rectifier_analysis` (trained networks) compute; this module writes their results
files (:func:`compute_results`) and renders them as Markdown (:func:`generalized_tables`), for
``docs/generalized.md`` and the notebook. Command line::

    python -m tt_rnn.generalized_report                 # results/generalized/ (missing records only)
    python -m tt_rnn.generalized_report --quick --out runs/generalized-quick
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import numpy as np
import torch

from .generalized import EPSILONS, RANK_METHOD, GridRankRecord, grid_rank_experiment, summarise, write_grid_ranks
from .rectifier_analysis import trained_table
from .regions import REGION_KINDS, RegionRecord, region_experiment, write_regions
from .stats import holm, paired_difference

__all__ = ["generalized_tables", "grid_tables", "regions_table", "shared_vs_distinct", "shared_vs_distinct_table",
           "region_comparisons", "compute_results", "GRID_CONFIG", "GRID_WIDE_CONFIG", "GRID_PRODUCT_CONFIG",
           "REGION_CONFIG", "QUICK_GRID_CONFIG", "QUICK_REGION_CONFIG", "main"]


def generalized_tables(folder, *, trained: bool = True) -> str:
    """Markdown tables of ``grid_ranks.json``, ``linear_regions.json`` and (``trained``)
    ``trained_rectifiers.json`` in ``folder`` (those present)."""
    folder = Path(folder)
    parts = []
    grid_path = folder / "grid_ranks.json"
    if grid_path.exists():
        parts.append(grid_tables(json.loads(grid_path.read_text())))
    regions_path = folder / "linear_regions.json"
    if regions_path.exists():
        parts.append(regions_table(json.loads(regions_path.read_text())))
    trained_path = folder / "trained_rectifiers.json"
    if trained and trained_path.exists():
        parts.append(trained_table(json.loads(trained_path.read_text())))
    if not parts:
        raise FileNotFoundError(f"neither grid_ranks.json nor linear_regions.json in {folder}")
    return "\n\n".join(parts) + "\n"


def _fmt(stats) -> str:
    mean, lo, hi, _ = stats
    return f"{mean:.1f}" if lo == hi else f"{mean:.1f} [{lo}–{hi}]"


def _ci(out: dict, digits: int = 1) -> str:
    return f"{out['diff']:+.{digits}f} [{out['low']:+.{digits}f}, {out['high']:+.{digits}f}]"


def _exact_records(records: list[dict]) -> list[dict]:
    """Records of the current rank method only (older files hold float SVD ranks)."""
    return [r for r in records if r.get("method") == RANK_METHOD]


#: The epsilons shown in the tables (a subset of :data:`tt_rnn.generalized.EPSILONS`).
SHOWN_EPSILONS = (1e-12, 1e-9, 1e-6, 1e-3, 1e-1)


def _eps_index(eps: float) -> int:
    return min(range(len(EPSILONS)), key=lambda i: abs(math.log10(EPSILONS[i]) - math.log10(eps)))


def grid_tables(payload: dict) -> str:
    """Markdown: exact ranks per template count M, epsilon-rank profiles, the shallow-width bound,
    and the shared-vs-distinct comparison with bootstrap intervals and sign-flip tests."""
    records = _exact_records(payload["records"])
    if not records:
        return ("Grid ranks: the results file holds no records of the current (exact) rank method; "
                "recompute with `python -m tt_rnn.generalized_report`.")
    parts = []
    for n_templates in sorted({r["n_templates"] for r in records}):
        subset = [r for r in records if r["n_templates"] == n_templates]
        parts.append(_rank_table(subset, n_templates))
    parts.append(_eps_table(records))
    parts.append(_width_table([r for r in records if r["n_templates"] == min(x["n_templates"] for x in records)]))
    parts.append(shared_vs_distinct_table(records))
    return "\n\n".join(parts)


def _rank_table(records: list[dict], n_templates: int) -> str:
    stats = summarise(records, "odd_even_rank")
    ds = sorted({rec["d"] for rec in records})
    rows_keys = sorted({(rec["kind"], rec["xi"], rec["rank"]) for rec in records})
    n_exact = sum(r["odd_even_exact"] for r in records)
    seeds = sorted({(k[0], k[1], k[2]): v[3] for k, v in stats.items()}.values())
    seeds_text = f"{seeds[0]}" if seeds[0] == seeds[-1] else f"{seeds[0]}–{seeds[-1]}"
    lines = [f"Odd/even grid-tensor rank, M = {n_templates} templates, m = {records[0]['m']}: mean [min–max] "
             f"over {seeds_text} seeds per cell. Exact integer grid tensors of networks rounded to multiples "
             f"of 2^-{records[0]['bits']}; each rank is the GF(p) rank (a proved lower bound on the real rank), "
             f"proved equal to the real rank for {n_exact} of {len(records)} records (upper end from the "
             "matrix size, repeated rows and columns, or Bareiss elimination); a cell marked * holds a "
             "record whose upper end is not proved. Last row: the cap M^floor(d/2).", "",
             "| network | xi | r | " + " | ".join(f"d = {d}" for d in ds) + " |",
             "|" + " --- |" * (3 + len(ds))]
    exact_cell = {}
    for r in records:
        key = (r["kind"], r["xi"], r["rank"], r["d"])
        exact_cell[key] = exact_cell.get(key, True) and r["odd_even_exact"]
    for kind, xi, r in rows_keys:
        cells = [(_fmt(stats[(kind, xi, r, d)]) + ("" if exact_cell[(kind, xi, r, d)] else "*"))
                 if (kind, xi, r, d) in stats else "" for d in ds]
        lines.append(f"| {kind} | {xi} | {r} | " + " | ".join(cells) + " |")
    caps = {rec["d"]: rec["max_rank"] for rec in records}
    lines.append("| (cap) | | | " + " | ".join(str(caps[d]) for d in ds) + " |")
    return "\n".join(lines)


def _eps_table(records: list[dict]) -> str:
    """epsilon-rank profiles at the largest even d of each M (rectifier networks)."""
    shown = [_eps_index(e) for e in SHOWN_EPSILONS]
    lines = ["epsilon-rank profiles (numerical): mean over seeds of the number of singular values with "
             "sigma_k / sigma_1 > eps of the odd/even unfolding, beside the exact rank and the float SVD rank "
             "at the default tolerance (max(rows, cols) · 2.2e-16); the largest even d of each M.", "",
             "| M | d | network | xi | r | exact rank | SVD rank | " + " | ".join(f"eps = {e:.0e}" for e in SHOWN_EPSILONS)
             + " |", "|" + " --- |" * (7 + len(shown))]
    for n_templates in sorted({r["n_templates"] for r in records}):
        subset = [r for r in records if r["n_templates"] == n_templates]
        d = max(r["d"] for r in subset if r["d"] % 2 == 0)
        groups: dict = {}
        for r in subset:
            if r["d"] == d:
                groups.setdefault((r["kind"], r["xi"], r["rank"]), []).append(r)
        for (kind, xi, rank), recs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
            eps = np.array([r["odd_even_eps_ranks"] for r in recs], dtype=float)
            cells = [f"{eps[:, i].mean():.1f}" for i in shown]
            lines.append(f"| {n_templates} | {d} | {kind} | {xi} | {rank} | "
                         f"{statistics.fmean(r['odd_even_rank'] for r in recs):.1f} | "
                         f"{statistics.fmean(r['odd_even_svd_rank'] for r in recs):.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _width_table(records: list[dict]) -> str:
    need = summarise(records, "cp_width_needed")
    ds = sorted({rec["d"] for rec in records})
    rows_keys = sorted({(rec["kind"], rec["xi"], rec["rank"]) for rec in records})
    lines = [f"Smallest width of a shallow rectifier network with the same grid tensor (M = {records[0]['n_templates']}; "
             "Lemma in `tt_rnn/generalized.py`: ceil(odd/even rank / min(|S| M + 1, |S^c| M))), mean over seeds:", "",
             "| network | xi | r | " + " | ".join(f"d = {d}" for d in ds) + " |",
             "|" + " --- |" * (3 + len(ds))]
    for kind, xi, r in rows_keys:
        if kind == "cp" or xi != "rectifier":
            continue
        cells = [f"{need[(kind, xi, r, d)][0]:.1f}" if (kind, xi, r, d) in need else "" for d in ds]
        lines.append(f"| {kind} | {xi} | {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def shared_vs_distinct(records: list[dict], *, value=lambda r: r["odd_even_rank"], min_d: int = 4,
                       xi: str = "rectifier") -> list[dict]:
    """Paired comparisons tt-shared minus tt over the seeds both have, per ``(M, r, d)``: the mean
    difference of ``value`` with its bootstrap 95 % interval, the sign-flip p-value and the
    Holm-adjusted p-value over all the cells returned."""
    by_key: dict = {}
    for r in records:
        if r["xi"] == xi and r["kind"] in ("tt", "tt-shared") and r["d"] >= min_d:
            by_key.setdefault((r["n_templates"], r["rank"], r["d"]), {}).setdefault(r["kind"], {})[r["seed"]] = value(r)
    rows = []
    for (n_templates, rank, d), kinds in sorted(by_key.items()):
        if set(kinds) != {"tt", "tt-shared"}:
            continue
        seeds = sorted(set(kinds["tt"]) & set(kinds["tt-shared"]))
        if len(seeds) < 2:
            continue
        out = paired_difference([kinds["tt-shared"][s] for s in seeds], [kinds["tt"][s] for s in seeds])
        rows.append(dict(out, n_templates=n_templates, rank=rank, d=d))
    for row, adjusted in zip(rows, holm([row["p"] for row in rows])):
        row["p_holm"] = adjusted
    return rows


def shared_vs_distinct_table(records: list[dict]) -> str:
    eps_i = _eps_index(1e-6)
    lines = ["Shared against distinct cores (rectifier, d >= 4): tt-shared minus tt, paired by seed (the same "
             "templates), mean difference with its percentile-bootstrap 95 % interval (10,000 resamples), "
             "two-sided sign-flip permutation p-value, and Holm's adjustment over all rows of the column; "
             "**bold**: Holm-adjusted p <= 0.05. Left: exact rank; right: epsilon-rank at eps = 1e-6.", "",
             "| M | r | d | n | mean shared | mean distinct | difference [95 % CI] | p | p (Holm) "
             "| eps-rank difference [95 % CI] | p (Holm) |", "|" + " --- |" * 11]
    exact = shared_vs_distinct(records)
    eps = {(r["n_templates"], r["rank"], r["d"]): r for r in
           shared_vs_distinct(records, value=lambda r: r["odd_even_eps_ranks"][eps_i])}
    for row in exact:
        other = eps[(row["n_templates"], row["rank"], row["d"])]
        bold = row["p_holm"] <= 0.05
        bold_eps = other["p_holm"] <= 0.05
        diff = f"**{_ci(row)}**" if bold else _ci(row)
        diff_eps = f"**{_ci(other)}**" if bold_eps else _ci(other)
        lines.append(f"| {row['n_templates']} | {row['rank']} | {row['d']} | {row['n']} | {row['mean_a']:.1f} | "
                     f"{row['mean_b']:.1f} | {diff} | {row['p']:.2g} | {row['p_holm']:.2g} | {diff_eps} | "
                     f"{other['p_holm']:.2g} |")
    return "\n".join(lines)


def _mean_sd(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return ""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {sd:.1f}"


_SERIES_TITLE = {"equal-rank": "equal rank r = {rank}", "matched": "equal parameters (the rank in brackets)",
                 "units": "equal number of ReLU (max) nodes (the rank in brackets)", "rank": "d = {d}, rank varies"}


def regions_table(payload: dict) -> str:
    """Markdown: activation regions and linear pieces (mean ± sd over seeds) per series, and paired
    comparisons of the formats on the segments at the largest d."""
    records = payload["records"]
    n_line = len({r["seed"] for r in records})
    n_plane = len({r["seed"] for r in records if r["plane_regions"] is not None})
    lines = [f"Rectifier networks at initialisation (m = {payload['config'].get('m')}), mean ± sd over seeds "
             f"({n_line} seeds on segments, {n_plane} on planes). On the segment between two random inputs: "
             "**regions** = activation regions (maximal intervals with one activation pattern; Hanin and "
             "Rolnick 2019; Serra et al. 2018) and **pieces** = linear pieces (maximal intervals on which the "
             "score is one affine function; the 'linear regions' of Montúfar et al. 2014), both exact; "
             "pieces <= regions. **plane**: activation regions on the parallelogram spanned by three inputs "
             "(exact cell enumeration)."]
    for series, axis in (("equal-rank", "d"), ("matched", "d"), ("units", "d"), ("rank", "rank")):
        subset = [r for r in records if r["series"] == series]
        if not subset:
            continue
        xs = sorted({r[axis] for r in subset})
        title = _SERIES_TITLE[series].format(rank=subset[0]["rank"], d=subset[0]["d"])
        lines += ["", f"*{series}: {title}*", "",
                  "| network | quantity | " + " | ".join(f"{axis} = {x}" for x in xs) + " |",
                  "|" + " --- |" * (2 + len(xs))]
        for kind in REGION_KINDS:
            for quantity, key in (("regions", "line_regions"), ("pieces", "line_pieces"), ("plane", "plane_regions")):
                cells = []
                for x in xs:
                    group = [r for r in subset if r["kind"] == kind and r[axis] == x]
                    cell = _mean_sd([r[key] for r in group]) if group else ""
                    if cell and series in ("matched", "units") and quantity == "regions":
                        cell += f" (r = {group[0]['rank']})"
                    cells.append(cell)
                if any(cells):
                    lines.append(f"| {kind} | {quantity} | " + " | ".join(cells) + " |")
    comparisons = region_comparisons(records)
    if comparisons:
        lines += ["", "Paired comparisons on the segments (same seed = same segment) at the largest d: mean "
                  "difference with its bootstrap 95 % interval, sign-flip p-value, Holm over all rows; "
                  "**bold**: Holm-adjusted p <= 0.05.", "",
                  "| series | d | comparison | n | regions: difference [95 % CI] | p (Holm) "
                  "| pieces: difference [95 % CI] | p (Holm) |", "|" + " --- |" * 8]
        for row in comparisons:
            reg, pie = row["regions"], row["pieces"]
            fr = f"**{_ci(reg)}**" if reg["p_holm"] <= 0.05 else _ci(reg)
            fp = f"**{_ci(pie)}**" if pie["p_holm"] <= 0.05 else _ci(pie)
            lines.append(f"| {row['series']} | {row['d']} | {row['a']} − {row['b']} | {reg['n']} | {fr} | "
                         f"{reg['p_holm']:.2g} | {fp} | {pie['p_holm']:.2g} |")
    return "\n".join(lines)


REGION_PAIRS = (("tt", "ht"), ("tt-shared", "ht"), ("tt-shared", "tt"), ("tt", "cp"))


def region_comparisons(records: list[dict]) -> list[dict]:
    """Paired (by seed) differences of line regions and pieces between formats, per series, at the
    largest ``d`` of the series (Holm over all the p-values returned)."""
    rows = []
    for series in ("equal-rank", "matched", "units"):
        subset = [r for r in records if r["series"] == series]
        if not subset:
            continue
        d = max(r["d"] for r in subset)
        by_kind: dict = {}
        for r in subset:
            if r["d"] == d:
                by_kind.setdefault(r["kind"], {})[r["seed"]] = r
        for a, b in REGION_PAIRS:
            if a not in by_kind or b not in by_kind:
                continue
            seeds = sorted(set(by_kind[a]) & set(by_kind[b]))
            if len(seeds) < 2:
                continue
            row = dict(series=series, d=d, a=a, b=b)
            for name, key in (("regions", "line_regions"), ("pieces", "line_pieces")):
                row[name] = paired_difference([by_kind[a][s][key] for s in seeds], [by_kind[b][s][key] for s in seeds])
            rows.append(row)
    adjusted = holm([row[name]["p"] for row in rows for name in ("regions", "pieces")])
    for i, row in enumerate(rows):
        row["regions"]["p_holm"], row["pieces"]["p_holm"] = adjusted[2 * i], adjusted[2 * i + 1]
    return rows


# ----------------------------------------------------------------------------- producing the results files

GRID_CONFIG = dict(ds=[2, 3, 4, 5, 6, 7, 8, 9], ranks=[2, 4, 8], kinds=["tt", "tt-shared", "cp", "ht"],
                   xis=["rectifier"], n_templates=4, m=4, seeds=list(range(40)), bits=4)
#: More templates, so that the cap M^floor(d/2) (512 at d = 6) does not hide differences.
GRID_WIDE_CONFIG = dict(ds=[2, 3, 4, 5, 6], ranks=[2, 4, 8], kinds=["tt", "tt-shared", "cp", "ht"],
                        xis=["rectifier"], n_templates=8, m=4, seeds=list(range(40)), bits=4)
GRID_PRODUCT_CONFIG = dict(ds=[2, 4, 6, 8], ranks=[2, 4], kinds=["tt", "tt-shared", "cp"], xis=["product"],
                           n_templates=4, m=4, seeds=list(range(10)), bits=4)
REGION_CONFIG = dict(ds=[2, 4, 8, 16, 32], ranks=[2, 4, 8, 16], rank=4, d_for_ranks=8, m=4,
                     seeds=list(range(40)), plane_max_d=8, plane_max_rank=9, plane_seeds=5)
QUICK_GRID_CONFIG = dict(ds=[2, 4, 6], ranks=[2], kinds=["tt", "tt-shared", "cp"], xis=["rectifier"],
                         n_templates=3, m=3, seeds=[0, 1], bits=4)
QUICK_REGION_CONFIG = dict(ds=[2, 4], ranks=[2], rank=2, d_for_ranks=4, m=2, seeds=[0, 1],
                           plane_max_d=4, plane_max_rank=2, plane_seeds=1)
#: Write the results file after this many new records (the computation is resumable).
WRITE_EVERY = 50


def _load(path) -> list[dict]:
    path = Path(path)
    return json.loads(path.read_text())["records"] if path.exists() else []


class _Writer:
    """Collects records and rewrites the results file every ``WRITE_EVERY`` new ones (atomic)."""

    def __init__(self, path, records, write, config):
        self.path, self.records, self.write, self.config, self.new = path, records, write, config, 0

    def __call__(self, record):
        self.records.append(record)
        self.new += 1
        if self.new % WRITE_EVERY == 0:
            self.flush()

    def flush(self):
        self.write(self.path, self.records, self.config)


def compute_results(folder, *, quick: bool = False, grid: bool = True, regions: bool = True) -> dict:
    """Write ``grid_ranks.json`` and ``linear_regions.json`` into ``folder``, computing only the
    records that are missing from files already there (grid records of an older rank method
    are recomputed); the files are rewritten every :data:`WRITE_EVERY` records, so an
    interrupted run resumes. ``quick`` uses tiny configurations (for tests and the notebook's
    quick mode; never point it at ``results/``)."""
    folder = Path(folder)
    grid_configs = [QUICK_GRID_CONFIG] if quick else [GRID_CONFIG, GRID_WIDE_CONFIG, GRID_PRODUCT_CONFIG]
    region_config = QUICK_REGION_CONFIG if quick else REGION_CONFIG
    grid_path, regions_path = folder / "grid_ranks.json", folder / "linear_regions.json"
    if grid:
        old = [r for r in _load(grid_path) if r.get("method") == RANK_METHOD]
        done = {(r["kind"], r["xi"], r["d"], r["rank"], r["seed"], r["n_templates"], r["m"]) for r in old}
        config = dict(runs=grid_configs, n_templates=grid_configs[0]["n_templates"], m=grid_configs[0]["m"],
                      rank_method=RANK_METHOD, command="python -m tt_rnn.generalized_report")
        writer = _Writer(grid_path, [GridRankRecord(**r) for r in old], write_grid_ranks, config)
        for c in grid_configs:
            grid_rank_experiment(**c, on_record=writer, skip=lambda kind, xi, d, r, seed, c=c: (
                kind, xi, d, r, seed, c["n_templates"], c["m"]) in done)
        writer.flush()
    if regions:
        old = _load(regions_path)
        done = {(r["series"], r["kind"], r["d"], r["rank"], r["seed"], r["m"]) for r in old}
        writer = _Writer(regions_path, [RegionRecord(**r) for r in old], write_regions,
                         dict(region_config, command="python -m tt_rnn.generalized_report"))
        region_experiment(**region_config, on_record=writer, skip=lambda series, kind, d, r, seed: (
            series, kind, d, r, seed, region_config["m"]) in done)
        writer.flush()
    return dict(grid=grid_path, regions=regions_path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tt_rnn.generalized_report", description="Grid-tensor ranks and linear regions of rectifier networks.")
    parser.add_argument("--out", default="results/generalized", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="tiny configuration (seconds)")
    parser.add_argument("--only", choices=["grid", "regions"], default=None, help="compute only one of the two files")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    paths = compute_results(args.out, quick=args.quick, grid=args.only != "regions",
                            regions=args.only != "grid")
    print(generalized_tables(Path(paths["grid"]).parent))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
