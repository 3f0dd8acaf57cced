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
import statistics
from pathlib import Path

import torch

from .generalized import RANK_METHOD, GridRankRecord, grid_rank_experiment, summarise, write_grid_ranks
from .rectifier_analysis import trained_table
from .regions import REGION_KINDS, RegionRecord, region_experiment, write_regions

__all__ = ["generalized_tables", "regions_table", "compute_results", "GRID_CONFIG", "GRID_WIDE_CONFIG", "GRID_PRODUCT_CONFIG",
           "REGION_CONFIG", "QUICK_GRID_CONFIG", "QUICK_REGION_CONFIG", "main"]


def generalized_tables(folder, *, trained: bool = True) -> str:
    """Markdown tables of ``grid_ranks.json``, ``linear_regions.json`` and (``trained``)
    ``trained_rectifiers.json`` in ``folder`` (those present)."""
    folder = Path(folder)
    parts = []
    grid_path = folder / "grid_ranks.json"
    if grid_path.exists():
        parts.append(_grid_table(json.loads(grid_path.read_text())))
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


def _grid_table(payload: dict) -> str:
    records = payload["records"]
    config = payload["config"]
    stats = summarise(records, "odd_even_rank")
    need = summarise(records, "cp_width_needed")
    ds = sorted({rec["d"] for rec in records})
    rows_keys = sorted({(rec["kind"], rec["xi"], rec["rank"]) for rec in records})
    n_seeds = max(s[3] for s in stats.values())
    cert = all(rec["certified"] for rec in records)
    lines = [f"Odd/even grid-tensor rank, mean [min–max] over {n_seeds} seeds "
             f"(M = {config.get('n_templates')} templates, m = {config.get('m')}; "
             + ("exact GF(p) ranks of dyadic-rounded networks" if cert else "GF(p) ranks where certified, SVD ranks otherwise") + "); "
             "last row: the largest possible rank M^floor(d/2).", "",
             "| network | xi | r | " + " | ".join(f"d = {d}" for d in ds) + " |",
             "|" + " --- |" * (3 + len(ds))]
    for kind, xi, r in rows_keys:
        cells = [_fmt(stats[(kind, xi, r, d)]) if (kind, xi, r, d) in stats else "" for d in ds]
        lines.append(f"| {kind} | {xi} | {r} | " + " | ".join(cells) + " |")
    caps = {rec["d"]: rec["max_rank"] for rec in records}
    lines.append("| (max) | | | " + " | ".join(str(caps[d]) for d in ds) + " |")
    lines += ["", "Smallest width of a shallow rectifier network with the same grid tensor "
              "(Lemma in `tt_rnn/generalized.py`: ceil(odd/even rank / min(|S| M + 1, |S^c| M))), "
              "mean over seeds:", "",
              "| network | xi | r | " + " | ".join(f"d = {d}" for d in ds) + " |",
              "|" + " --- |" * (3 + len(ds))]
    for kind, xi, r in rows_keys:
        if kind == "cp" or xi != "rectifier":
            continue
        cells = [f"{need[(kind, xi, r, d)][0]:.1f}" if (kind, xi, r, d) in need else "" for d in ds]
        lines.append(f"| {kind} | {xi} | {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean_sd(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return ""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {sd:.1f}"


def regions_table(payload: dict) -> str:
    """Markdown: mean ± standard deviation over seeds of the region counts, per series."""
    records = payload["records"]
    n_seeds = len({r["seed"] for r in records})
    lines = [f"Linear regions of rectifier networks at initialisation (m = {payload['config'].get('m')}), "
             f"mean ± sd over {n_seeds} seeds: activation regions on the segment between two random "
             "inputs (exact breakpoint walk) / on the parallelogram spanned by three inputs "
             "(exact cell enumeration)."]
    for series, axis in (("equal-rank", "d"), ("matched", "d"), ("rank", "rank")):
        subset = [r for r in records if r["series"] == series]
        if not subset:
            continue
        xs = sorted({r[axis] for r in subset})
        title = {"equal-rank": f"equal rank r = {subset[0]['rank']}" if series == "equal-rank" else "",
                 "matched": "matched parameter counts (ranks in brackets)",
                 "rank": f"d = {subset[0]['d']}, rank varies"}[series]
        lines += ["", f"*{series}: {title}*", "",
                  "| network | quantity | " + " | ".join(f"{axis} = {x}" for x in xs) + " |",
                  "|" + " --- |" * (2 + len(xs))]
        for kind in REGION_KINDS:
            for quantity, key in (("line", "line_regions"), ("plane", "plane_regions")):
                cells = []
                for x in xs:
                    group = [r for r in subset if r["kind"] == kind and r[axis] == x]
                    cell = _mean_sd([r[key] for r in group]) if group else ""
                    if cell and series == "matched":
                        cell += f" (r = {group[0]['rank']})"
                    cells.append(cell)
                if any(cells):
                    lines.append(f"| {kind} | {quantity} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
