"""CP rank of a random tensor of M^eq_{2,3} (n = 2, r = 3): our bracket vs an Adam rank search.

Both methods run here, one after the other, on the same tensors (integer cores, so that the lower
bounds are exact certificates for the very tensor being decomposed):

* **Adam search** -- a gradient-descent rank search, the kind behind the "CP-rank estimates"
  that Khrulkov, Novikov and Oseledets (ICLR 2018) report for ``n = 2, r = 3``: for
  ``R = 1, 2, ...`` fit a rank-``R`` CP model by Adam (gradient descent on the squared error,
  random start, fixed step budget) and report the first ``R`` whose relative error is below a
  loose tolerance (default ``1e-3``). It gives a single number, no lower bound, no certificate.
* **ours** -- :func:`tt_rnn.rank.cp_rank_bracket`: a certified lower bound (GF(p) unfolding
  rank, exact pencil certificate) and an exact-fit upper bound at relative error ``<= 1e-10``
  (ALS + Levenberg-Marquardt), with border-rank flags.

Usage::

    .venv/bin/python benchmarks/bench_rank.py            # d = 2..10
    .venv/bin/python benchmarks/bench_rank.py --d-max 8 --json results/rank/bench_rank.json

Prints one line per d (the estimate Khrulkov et al. 2018 published, printed as "KNO2018"; the Adam
estimate and time; our bracket and time)
and the total times and their ratio.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small dense solves: one BLAS thread is faster

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tt_rnn.rank import KHRULKOV_2018_BOUNDS, KHRULKOV_2018_ESTIMATES, cp_rank_bracket, table_strategy
from tt_rnn.tt import random_tt


def adam_cp_rank(tensor: np.ndarray, *, tol: float = 1e-3, lr: float = 1e-2, steps: int = 2000,
                 rank_max: int | None = None, seed: int = 0, time_limit: float | None = None) -> dict:
    """The Adam search: the first rank whose Adam fit reaches relative error ``tol``.

    For ``R = 1, 2, ...``: random Gaussian factors (scaled so that the model starts at the
    tensor's norm), ``steps`` Adam steps on ``||X - [[A]]||^2 / ||X||^2`` (float64), early stop
    when the relative error drops below ``tol``. Returns ``rank`` (None if no rank up to
    ``rank_max`` succeeded within ``time_limit`` seconds), ``error`` at that rank, per-rank
    ``errors`` and ``time_s``.
    """
    start = time.perf_counter()
    x = torch.as_tensor(tensor, dtype=torch.float64)
    x = x / x.abs().max()          # first by max|x|: the norm of a huge tensor would overflow
    x = x / torch.linalg.norm(x)
    d = x.ndim
    rank_max = rank_max or int(np.prod(x.shape) // max(x.shape))
    gen = torch.Generator().manual_seed(seed)
    letters = "abcdefghijklmnopqrstuvw"[:d]
    expr = ",".join(f"{c}z" for c in letters) + "->" + letters
    errors = {}
    for rank in range(1, rank_max + 1):
        if time_limit is not None and time.perf_counter() - start > time_limit:
            break
        scale = rank ** (-0.5 / d) * (np.prod(x.shape) ** (-0.5 / d))
        factors = [(torch.randn(s, rank, generator=gen, dtype=torch.float64) * scale).requires_grad_()
                   for s in x.shape]
        opt = torch.optim.Adam(factors, lr=lr)
        err = float("inf")
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.sum((torch.einsum(expr, *factors) - x) ** 2)
            err = float(loss.detach().sqrt())
            if err < tol:
                break
            loss.backward()
            opt.step()
        errors[rank] = err
        if err < tol:
            return dict(rank=rank, error=err, errors=errors, time_s=time.perf_counter() - start)
    return dict(rank=None, error=None, errors=errors, time_s=time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d-min", type=int, default=2)
    parser.add_argument("--d-max", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="seed of the integer TT cores")
    parser.add_argument("--adam-tol", type=float, default=1e-3)
    parser.add_argument("--adam-steps", type=int, default=2000)
    parser.add_argument("--tol", type=float, default=1e-10, help="our exact-fit tolerance")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds for our fitting search per d above GALLOP_MAX_D "
                             "(default: the table's policy, tt_rnn.rank.table_strategy)")
    parser.add_argument("--adam-time-limit", type=float, default=900.0,
                        help="seconds for the Adam rank search per d")
    parser.add_argument("--json", default=None, help="write the comparison here")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    rows = []
    print(f"n = 2, r = 3, shared inner core, integer cores seed {args.seed}; ours: tol "
          f"{args.tol:g}; Adam: tol {args.adam_tol:g}, {args.adam_steps} steps per rank")
    print(f"{'d':>3} {'KNO2018':>7} {'bound':>5} | {'Adam':>5} {'time':>7} | "
          f"{'ours [lo, up]':>14} {'cert.':>5} {'error':>8} {'time':>7}")
    for d in range(args.d_min, args.d_max + 1):
        x = random_tt(2, 3, d, shared=True, seed=args.seed, integer=True).to_tensor()
        adam = adam_cp_rank(x, tol=args.adam_tol, steps=args.adam_steps, seed=args.seed,
                            time_limit=args.adam_time_limit)
        strategy, limit = table_strategy(d)               # the same policy as the notebook
        if limit is not None and args.time_limit is not None:
            limit = args.time_limit
        ours = cp_rank_bracket(x, tol=args.tol, seed=args.seed, strategy=strategy,
                               time_limit=limit)
        err = f"{ours.upper_error:.1e}" if ours.upper_error is not None else "exact"
        print(f"{d:>3} {KHRULKOV_2018_ESTIMATES.get(d, '-'):>7} {KHRULKOV_2018_BOUNDS.get(d, '-'):>5} | "
              f"{str(adam['rank']) if adam['rank'] else '>' + str(max(adam['errors'])):>5} "
              f"{adam['time_s']:>6.1f}s | "
              f"{f'[{ours.lower}, {ours.upper}]':>14} {'yes' if ours.lower_certified else 'no':>5} "
              f"{err:>8} {ours.time_s:>6.1f}s", flush=True)
        rows.append(dict(d=d, khrulkov_2018_estimate=KHRULKOV_2018_ESTIMATES.get(d),
                         adam=dict(rank=adam["rank"], error=adam["error"], time_s=adam["time_s"],
                                   tol=args.adam_tol, steps=args.adam_steps,
                                   ranks_tried=max(adam["errors"]) if adam["errors"] else 0,
                                   time_limit=args.adam_time_limit),
                         ours=ours.to_dict()))
    t_adam = sum(r["adam"]["time_s"] for r in rows)
    t_ours = sum(r["ours"]["time_s"] for r in rows)
    lower_or_equal = all(r["adam"]["rank"] is None or r["ours"]["upper"] <= r["adam"]["rank"]
                         for r in rows)
    adam_in_bracket = [r["d"] for r in rows if r["adam"]["rank"] is not None
                       and r["ours"]["lower"] <= r["adam"]["rank"] <= r["ours"]["upper"]]
    print(f"total: Adam {t_adam:.1f} s, ours {t_ours:.1f} s, ratio Adam / ours = "
          f"{t_adam / t_ours:.2f}")
    print(f"our upper bound <= Adam estimate at every d: {lower_or_equal}")
    print(f"d where the Adam estimate lies inside our bracket: {adam_in_bracket or 'none'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(dict(rows=rows, adam_total_s=t_adam,
                                                   ours_total_s=t_ours), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
