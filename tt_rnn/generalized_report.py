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

from .generalized import GridRankRecord, grid_rank_experiment, summarise, write_grid_ranks
from .rectifier_analysis import trained_table
from .regions import REGION_KINDS, RegionRecord, region_experiment, write_regions

__all__ = ["generalized_tables", "regions_table", "compute_results", "GRID_CONFIG", "GRID_PRODUCT_CONFIG",
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
                   xis=["rectifier"], n_templates=4, m=4, seeds=list(range(10)), bits=4)
GRID_PRODUCT_CONFIG = dict(ds=[2, 4, 6, 8], ranks=[2, 4], kinds=["tt", "tt-shared", "cp"], xis=["product"],
                           n_templates=4, m=4, seeds=list(range(3)), bits=4)
REGION_CONFIG = dict(ds=[2, 4, 8, 16, 32], ranks=[2, 4, 8, 16], rank=4, d_for_ranks=8, m=4,
                     seeds=list(range(10)), plane_max_d=8, plane_max_rank=9, plane_seeds=5)
QUICK_GRID_CONFIG = dict(ds=[2, 4, 6], ranks=[2], kinds=["tt", "tt-shared", "cp"], xis=["rectifier"],
                         n_templates=3, m=3, seeds=[0, 1], bits=4)
QUICK_REGION_CONFIG = dict(ds=[2, 4], ranks=[2], rank=2, d_for_ranks=4, m=2, seeds=[0, 1],
                           plane_max_d=4, plane_max_rank=2, plane_seeds=1)


def _load(path) -> list[dict]:
    path = Path(path)
    return json.loads(path.read_text())["records"] if path.exists() else []


def compute_results(folder, *, quick: bool = False) -> dict:
    """Write ``grid_ranks.json`` and ``linear_regions.json`` into ``folder``, computing only the
    records that are missing from files already there. ``quick`` uses tiny configurations
    (for tests and the notebook's quick mode; never point it at ``results/``)."""
    folder = Path(folder)
    grid_configs = [QUICK_GRID_CONFIG] if quick else [GRID_CONFIG, GRID_PRODUCT_CONFIG]
    region_config = QUICK_REGION_CONFIG if quick else REGION_CONFIG
    grid_path, regions_path = folder / "grid_ranks.json", folder / "linear_regions.json"
    old = _load(grid_path)
    done = {(r["kind"], r["xi"], r["d"], r["rank"], r["seed"], r["n_templates"], r["m"]) for r in old}
    records = [GridRankRecord(**r) for r in old]
    for config in grid_configs:
        args = {k: v for k, v in config.items()}
        records += grid_rank_experiment(**args, skip=lambda kind, xi, d, r, seed, c=config: (
            kind, xi, d, r, seed, c["n_templates"], c["m"]) in done)
    write_grid_ranks(grid_path, records, dict(runs=grid_configs, n_templates=grid_configs[0]["n_templates"],
                                              m=grid_configs[0]["m"], command="python -m tt_rnn.generalized_report"))
    old = _load(regions_path)
    done = {(r["series"], r["kind"], r["d"], r["rank"], r["seed"], r["m"]) for r in old}
    regions = [RegionRecord(**r) for r in old]
    regions += region_experiment(**region_config, skip=lambda series, kind, d, r, seed: (
        series, kind, d, r, seed, region_config["m"]) in done)
    write_regions(regions_path, regions, dict(region_config, command="python -m tt_rnn.generalized_report"))
    return dict(grid=grid_path, regions=regions_path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tt_rnn.generalized_report", description="Grid-tensor ranks and linear regions of rectifier networks.")
    parser.add_argument("--out", default="results/generalized", help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="tiny configuration (seconds)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    paths = compute_results(args.out, quick=args.quick)
    print(generalized_tables(Path(paths["grid"]).parent))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
