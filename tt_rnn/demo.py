"""A short demo of the main theorem (Theorem 6 of the PDF): ``python -m tt_rnn.demo``.

Builds random shared-core TT tensors (points of M^eq_{n,r}) and prints the rank of their
odd/even unfolding, a lower bound on the CP rank, beside two proven bounds for almost every
point: Alkin's bound ``min(n, r - 1)^{d/2}`` (Remark 22 of the PDF) and the main theorem's bound
``min(n, r)^{d/2}`` (Theorem 6 of the PDF). The last column checks the main theorem's bound.
"""

from __future__ import annotations

import argparse

import numpy as np

from .tt import odd_even_unfolding, random_tt, witness_q

HEADER = ("n", "r", "d", "unfolding rank", "Alkin min(n,r-1)^(d/2)", "Thm 6 min(n,r)^(d/2)", ">= Thm 6")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the random cores (default 0)")
    args = parser.parse_args(argv)
    widths = [max(2, len(h)) for h in HEADER]
    print("  ".join(h.rjust(w) for h, w in zip(HEADER, widths)))
    for n, r, d in [(2, 3, 4), (2, 3, 8), (3, 3, 6), (3, 4, 6), (4, 5, 4), (2, 5, 10)]:
        tensor = random_tt(n, r, d, shared=True, seed=args.seed).to_tensor()
        rank = int(np.linalg.matrix_rank(odd_even_unfolding(tensor)))
        alkin = witness_q(n, r) ** (d // 2)
        main_bound = min(n, r) ** (d // 2)
        row = (n, r, d, rank, alkin, main_bound, rank >= main_bound)
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths)))


if __name__ == "__main__":
    main()
