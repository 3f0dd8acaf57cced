#!/usr/bin/env python
"""Write results/rank/beyond_flattenings.json: do certified bounds beyond flattenings help on M^eq?

For random integer points of :math:`M^{eq}_{n,r}` (``tt_rnn.tt.random_tt(..., shared=True,
integer=True)``) and each ``(n, r, d)`` of the grid below, one record holds

- ``flattening``: the largest exact GF(p) rank over every balanced unfolding
  (:func:`tt_rnn.rank.unfolding_rank_mod_p`);
- ``koszul``: the best Koszul-Young bound computed (:func:`tt_rnn.rank.koszul_young_lower_bound`,
  ``floor=0`` so that what it reaches is recorded even when it does not beat the flattening) and
  ``koszul_reach``, the largest value any of its candidates could take on this shape
  (:func:`tt_rnn.rank.koszul_young_reach`);
- ``pencil_uniqueness``: the bound ``N + 1`` of
  :func:`tt_rnn.rank.pencil_uniqueness_lower_bound` when it fires, else ``null``;
- ``best``: the largest of these certified lower bounds (over R and C), ``beats_flattening``.

Usage: ``python scripts/beyond_flattenings.py [--out results/rank/beyond_flattenings.json]``.
Every bound is exact (GF(p) ranks, integer determinants); nothing here is fitted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tt_rnn.rank import (balanced_bipartitions, koszul_young_lower_bound, koszul_young_reach,
                         pencil_uniqueness_lower_bound, unfolding_rank_mod_p)
from tt_rnn.tt import random_tt

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "results" / "rank" / "beyond_flattenings.json"
#: (n, r, d) examined, each for SEEDS: the n = 2, r = 3 table orders and small n >= 3 cases.
GRID = ([(2, 3, d) for d in range(3, 11)]
        + [(3, r, d) for r in (2, 3, 4) for d in (3, 4, 5)]
        + [(3, r, d) for r in (2, 3) for d in (6, 7)]
        + [(4, r, d) for r in (2, 3, 4) for d in (3, 4)])
SEEDS = (0, 1)
#: Koszul-Young budget per tensor.
KOSZUL_CANDIDATES = 40
KOSZUL_MAX_ENTRIES = 2 ** 20


def record(n: int, r: int, d: int, seed: int) -> dict:
    """One record of the file (see the module docstring)."""
    start = time.perf_counter()
    x = random_tt(n, r, d, shared=True, seed=seed, integer=True).to_tensor()
    flat = max(unfolding_rank_mod_p(x, rows) for rows in balanced_bipartitions(d))
    t_flat = time.perf_counter() - start
    kz = koszul_young_lower_bound(x, floor=0, seed=seed, max_candidates=KOSZUL_CANDIDATES,
                                  max_entries=KOSZUL_MAX_ENTRIES)
    uq = pencil_uniqueness_lower_bound(x) if 2 in x.shape else None
    best = max(flat, kz["bound"] if kz else 0, uq["bound"] if uq else 0)
    return dict(n=n, r=r, d=d, seed=seed, shared=True, integer_range=3, flattening=flat,
                koszul=None if kz is None else {k: kz[k] for k in (
                    "bound", "rank", "divisor", "p", "dim_A", "dim_A_used", "groups",
                    "matrix_shape", "prime", "candidates_tried", "complete")},
                koszul_reach=koszul_young_reach(x.shape),
                pencil_uniqueness=None if uq is None else {k: uq[k] for k in (
                    "bound", "N", "mode", "row_modes", "col_modes", "prime", "side")},
                best=best, beats_flattening=best > flat, flattening_time_s=t_flat,
                time_s=time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    records = []
    for n, r, d in GRID:
        for seed in SEEDS:
            rec = record(n, r, d, seed)
            records.append(rec)
            print(f"n={n} r={r} d={d} seed={seed}: flattening {rec['flattening']}, Koszul-Young "
                  f"{rec['koszul']['bound'] if rec['koszul'] else '-'} (reach "
                  f"{rec['koszul_reach']}), pencil uniqueness "
                  f"{rec['pencil_uniqueness']['bound'] if rec['pencil_uniqueness'] else '-'}"
                  f" -> {rec['best']}{' (beyond flattenings)' if rec['beats_flattening'] else ''}"
                  f" [{rec['time_s']:.1f} s]", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"description": __doc__.splitlines()[1], "grid": GRID,
                               "seeds": list(SEEDS), "records": records}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
