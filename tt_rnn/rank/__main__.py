"""Command line of :mod:`tt_rnn.rank`.

``python -m tt_rnn.rank verify [paths...]``
    Re-check stored CP decompositions (default: every ``results/rank/decompositions/*.npz`` below the
    current directory). One line per file; exit status 0 when all pass, 2 on the first kind of
    failure (each failure is one line naming the file and the reason).
``python -m tt_rnn.rank improve --d 9 10 [--time-limit S] [--lm-iter N] [--restarts K]``
    Walk down from the stored decomposition of each ``d`` (:func:`~tt_rnn.rank.cpfit.descend_exact_fit`),
    then try ``K`` random starts one rank lower (:func:`~tt_rnn.rank.cpfit.cp_fit`), and overwrite
    the decomposition with every lower exact fit found (the long computation behind the table).
``python -m tt_rnn.rank bracket FILE.npy [--rank-max R] [--time-limit S] [--seed N]``
    Print the CP-rank bracket (:func:`~tt_rnn.rank.bracket.cp_rank_bracket`) of a real tensor
    stored with ``numpy.save``. A missing or unreadable file, an archive or pickle instead of one
    array, or a tensor the engine refuses (order < 2, complex or non-numeric dtype, non-finite
    entries, above the size limits) is one ``error: ...`` line on stderr, exit status 2.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from ..cli import OneLineParser
from ..tt import tt_to_tensor
from .bracket import cp_rank_bracket
from .cpfit import cp_fit, descend_exact_fit
from .report import decomposition_path
from .decompositions import (DecompositionError, load_decomposition, save_decomposition,
                             verify_decomposition)


def _verify(paths) -> int:
    paths = [Path(p) for p in paths] or sorted(Path("results/rank/decompositions").glob("*.npz"))
    if not paths:
        print("no decomposition files given or found under results/rank/decompositions", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            rec = verify_decomposition(path)
        except (DecompositionError, OSError, ValueError) as err:
            print(f"FAIL {path}: {err}".splitlines()[0], file=sys.stderr)
            status = 2
            continue
        print(f"ok   {path}: n={rec.n} r={rec.r} d={rec.d} seed={rec.seed}: CP rank <= {rec.rank}, "
              f"recomputed relative error {rec.recomputed_error:.2e} <= tol {rec.tol:.0e} "
              f"(claimed {rec.claimed_error:.2e})")
    return status


def _improve(args) -> int:
    for d in args.d:
        path = decomposition_path(args.folder, d)
        try:
            cores, factors, meta = load_decomposition(path)
            verify_decomposition(path)
        except (DecompositionError, OSError) as err:
            print(f"FAIL {path}: {err}", file=sys.stderr)
            return 2
        start = time.perf_counter()
        base_time = float(meta.get("time_s") or 0.0)

        def save(rank, facs, err, kappa, d=d, path=path, cores=cores, meta=meta,
                 method=f"descend_exact_fit (prune + Levenberg-Marquardt) from the rank-"
                        f"{meta['rank']} decomposition"):
            new = dict(meta, kappa=kappa, method=method,
                       time_s=base_time + time.perf_counter() - start)
            stored = save_decomposition(path, cores=cores, factors=facs, meta=new)
            print(f"d={d}: rank {rank} fitted, relative error {stored['rel_error']:.2e}, "
                  f"saved {path}", flush=True)

        print(f"d={d}: descending from rank {meta['rank']} ({args.time_limit:.0f} s)", flush=True)
        x = _tensor_of_cores(cores)
        log = (lambda s: print(s, flush=True)) if args.verbose else None
        found = descend_exact_fit(x, factors, time_limit=args.time_limit, lm_iter=args.lm_iter,
                                  seed=args.seed, on_exact=save, log=log)
        rank = min(found, default=int(meta["rank"]))
        left = args.time_limit - (time.perf_counter() - start)
        if args.restarts > 0 and left > 0:
            # fresh random starts one rank lower: they explore other basins than the pruned fits
            fit = cp_fit(x, rank - 1, n_als=0, n_refine=0, n_random=args.restarts,
                         lm_iter=args.lm_iter, seed=args.seed + 1, time_limit=left)
            print(f"d={d}: {len(fit.attempts)} random starts at rank {rank - 1}: best relative "
                  f"error {fit.rel_error:.2e} (kappa {fit.kappa:.1e}); exact: {fit.exact}", flush=True)
            if fit.exact:
                save(rank - 1, fit.factors, fit.rel_error, fit.kappa,
                     method=f"cp_fit with {args.restarts} random starts (seed {args.seed + 1})")
    return 0


def _bracket(args) -> int:
    path = Path(args.file)
    try:
        x = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return _fail(f"{path}: no such file")
    except (OSError, ValueError, EOFError) as err:  # truncated, not .npy, pickled objects
        return _fail(f"{path}: cannot read it as an array saved with numpy.save ({err})")
    if not isinstance(x, np.ndarray):               # an .npz archive
        x.close()
        return _fail(f"{path}: an .npz archive, not one array saved with numpy.save")
    try:
        bracket = cp_rank_bracket(x, rank_max=args.rank_max, time_limit=args.time_limit,
                                  seed=args.seed)
    except (ValueError, TypeError) as err:
        return _fail(f"{path}: {err}")
    print(bracket)
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}".splitlines()[0], file=sys.stderr)
    return 2


def _tensor_of_cores(cores):
    """The integer tensor of TT ``cores`` (int64; entries checked by the fitting code)."""
    return tt_to_tensor([c.astype(object) for c in cores]).astype("int64")


def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m tt_rnn.rank",
                                     description="stored CP decompositions (the upper bounds of the rank "
                                                 "table): verify or improve; the bracket of a tensor in a .npy file")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="re-check stored CP decompositions")
    v.add_argument("paths", nargs="*")
    imp = sub.add_parser("improve", help="descend from stored decompositions")
    imp.add_argument("--d", type=int, nargs="+", required=True)
    imp.add_argument("--folder", default="results/rank")
    imp.add_argument("--time-limit", type=float, default=600.0)
    imp.add_argument("--lm-iter", type=int, default=3000)
    imp.add_argument("--seed", type=int, default=0)
    imp.add_argument("--restarts", type=int, default=0,
                     help="random starts one rank below the lowest fit after the descent")
    imp.add_argument("--verbose", action="store_true")
    br = sub.add_parser("bracket", help="print the CP-rank bracket of a tensor stored with "
                                        "numpy.save")
    br.add_argument("file", help="a .npy file holding one real array of order >= 2")
    br.add_argument("--rank-max", type=int, default=None,
                    help="highest rank the fitting search tries (default: the trivial bound)")
    br.add_argument("--time-limit", type=float, default=None,
                    help="seconds for the fitting search (default: no limit)")
    br.add_argument("--seed", type=int, default=0, help="seed of the fits (default: 0)")
    args = parser.parse_args(argv)
    if args.command == "verify":
        return _verify(args.paths)
    if args.command == "bracket":
        return _bracket(args)
    return _improve(args)


if __name__ == "__main__":
    sys.exit(main())
