"""A short demo of the theorem: ``python -m tt_rnn.demo``.

Builds random shared-core TT tensors (points of M^eq_{n,r}) and prints the rank of their
odd/even unfolding, a lower bound on the CP rank, against the theorem's bound ``q^{d/2}`` with
``q = min(n, r - 1)`` and Khrulkov et al.'s ``min(n, r)^{d/2}``.
"""

from __future__ import annotations

import argparse

import numpy as np

from .tt import odd_even_unfolding, random_tt, witness_q


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"{'n':>2} {'r':>2} {'d':>2}  {'unfolding rank':>14}  {'q^(d/2)':>8}  {'min(n,r)^(d/2)':>14}  >= bound")
    for n, r, d in [(2, 3, 4), (2, 3, 8), (3, 3, 6), (3, 4, 6), (4, 5, 4), (2, 5, 10)]:
        tensor = random_tt(n, r, d, shared=True, seed=args.seed).to_tensor()
        rank = int(np.linalg.matrix_rank(odd_even_unfolding(tensor)))
        bound = witness_q(n, r) ** (d // 2)
        print(f"{n:>2} {r:>2} {d:>2}  {rank:>14}  {bound:>8}  {min(n, r) ** (d // 2):>14}  {rank >= bound}")


if __name__ == "__main__":
    main()
