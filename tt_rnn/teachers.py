"""Teacher functions for the teacher-student experiments: score networks with exact rational weights.

A teacher is one of the score networks of :mod:`tt_rnn.networks` (one output) whose parameters
are integers divided by a power of two, ``Q = 2^k`` (a Gaussian draw rounded to the grid
``1/Q``). Four families, one per format:

``tt-shared``  a random point of :math:`M^{eq}_{n,r}`: TT with ONE shared inner core (the
               recurrent network of Khrulkov, Novikov, Oseledets 2018 with shared weights);
``tt``         a random point of :math:`M_{n,r}`: TT with distinct cores;
``ht``         a Hierarchical Tucker tree of rank ``r`` (deep arithmetic circuit, Cohen, Sharir,
               Shashua 2016), ``d`` a power of two;
``cp``         a CP tensor of rank ``R`` with position-dependent factors (shallow network).

Why rounded Gaussian weights
----------------------------
Scaling every weight of a multilinear network by ``Q`` multiplies the coefficient tensor by a
positive constant, so the teacher's tensor is a positive multiple of the tensor of the INTEGER
weights ``round(Q w)``; CP ranks and relative errors do not see the constant. The integer tensor
is contracted exactly (Python integers), and the rank of its odd/even unfolding over GF(p) is a
**certified** lower bound on the CP rank (over R and C) of the teacher itself: a nonzero minor
modulo ``p`` is a nonzero integer. A teacher drawn with small integer cores directly (as
:func:`tt_rnn.tt.random_tt` with ``integer=True``) would also certify, but its function is
dominated by a few inputs (its top singular value carries ~94 % of the energy at ``n = 2, r = 3``)
and is easy to approximate; the rounded Gaussian teacher keeps the energy profile of the
normalised Gaussian draw (for the shared core, the transfer-map normalisation of
:func:`tt_rnn.tt.random_tt`).

What is proved, certified, conjectured
--------------------------------------
* proved (``thm:strong`` of the PDF): for almost every point of :math:`M^{eq}_{n,r}`, the CP
  rank is ``>= min(n, r)^{d/2}`` (:func:`tt_rnn.rank.proven_bound`). A rounded draw is not
  "almost every point", so the theorem says nothing about one teacher;
* certified (per teacher): ``cp_lower_bound``, the largest GF(p) rank over the odd/even and the
  contiguous-half unfoldings of the exact integer tensor;
* measured (not a bound): the numerical rank of the same unfoldings of the float table.

References
----------
.. [1] V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
       ICLR 2018.
.. [2] N. Cohen, O. Sharir, A. Shashua, "On the expressive power of deep learning: a tensor
       analysis", COLT 2016.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .networks import CPNetwork, HTNetwork, ScoreNetwork, TTNetwork
from .rank import gf_p_rank, proven_bound
from .tt import odd_even_row_modes, random_tt, unfold

__all__ = ["TEACHER_FAMILIES", "QUANTUM", "GFP_PRIME", "Teacher", "make_teacher", "exact_integer_table",
           "certified_cp_lower_bound", "numerical_unfolding_rank", "teacher_seed"]

TEACHER_FAMILIES = ("tt-shared", "tt", "ht", "cp")
QUANTUM = 16          # weights are integers / QUANTUM (a power of two: the float table is exact to rounding)
GFP_PRIME = 2_147_483_647  # 2^31 - 1


def teacher_seed(base_seed: int, n: int, r: int, d: int, index: int, family: str) -> list[int]:
    """The numpy seed sequence of teacher ``index`` of a cell: a list of ints, recorded in results."""
    return [int(base_seed), TEACHER_FAMILIES.index(family), int(n), int(r), int(d), int(index)]


def _check_family(family: str) -> str:
    if family not in TEACHER_FAMILIES:
        raise ValueError(f"unknown teacher family {family!r}; choose one of {TEACHER_FAMILIES}")
    return family


def _integer_parameters(family: str, n: int, r: int, d: int, rng: np.random.Generator, outputs: int = 1) -> dict:
    """Integer weights ``round(QUANTUM * w)`` of a Gaussian teacher, as int64 arrays keyed by the
    network's parameter names. ``outputs > 1`` (a classifier's K class scores): the cores are those
    of the one-output teacher, and outputs 2..K get their own output weights (TT: last cores drawn
    like the first, ``N(0, 1/r)``; CP and HT: further columns of the top weights), drawn after
    everything else, so output 1 is the one-output teacher of the same seed."""
    q = QUANTUM

    def rounded(x):
        out = np.rint(np.asarray(x, dtype=np.float64) * q).astype(np.int64)
        return out if np.any(out) else np.ones_like(out)  # an all-zero core would make the teacher 0

    if family in ("tt-shared", "tt"):
        train = random_tt(n, r, d, shared=family == "tt-shared", seed=rng)
        cores = [np.asarray(c) for c in train.cores]
        inner = cores[1:-1][:1] if family == "tt-shared" else cores[1:-1]
        last = [rounded(cores[-1])] + [rounded(rng.standard_normal(cores[-1].shape) / math.sqrt(r))
                                       for _ in range(outputs - 1)]
        return {"first_core": rounded(cores[0]), "inner_cores": np.stack([rounded(c) for c in inner]),
                "last_core": np.stack(last, axis=-1)}
    if family == "cp":
        out = {"a": rounded(rng.standard_normal((d, n, r)) / math.sqrt(n)),
               "weights": rounded(rng.standard_normal((r, 1)) / math.sqrt(r))}
        key = "weights"
    else:
        levels = int(math.log2(d))
        out = {"input_weights": rounded(rng.standard_normal((d, n, r)) / math.sqrt(n)),
               "hidden_weights": [rounded(rng.standard_normal((d >> lv, r, r)) / math.sqrt(r))
                                  for lv in range(1, levels)],
               "top_weights": rounded(rng.standard_normal((r, 1)) / math.sqrt(r))}
        key = "top_weights"
    if outputs > 1:
        out[key] = np.concatenate([out[key], rounded(rng.standard_normal((r, outputs - 1)) / math.sqrt(r))], axis=1)
    return out


def _network(family: str, n: int, r: int, d: int, outputs: int = 1) -> ScoreNetwork:
    kw = dict(dtype=torch.float64)
    if family in ("tt-shared", "tt"):
        return TTNetwork(d, n, r, outputs, shared=family == "tt-shared", **kw)
    if family == "cp":
        return CPNetwork(d, n, r, outputs, **kw)
    return HTNetwork(d, n, r, outputs, **kw)


def _load(network: ScoreNetwork, integer: dict) -> ScoreNetwork:
    with torch.no_grad():
        for name, value in integer.items():
            if name == "hidden_weights":
                for param, v in zip(network.hidden_weights, value):
                    param.copy_(torch.as_tensor(v, dtype=torch.float64) / QUANTUM)
            else:
                getattr(network, name).copy_(torch.as_tensor(value, dtype=torch.float64) / QUANTUM)
    for p in network.parameters():
        p.requires_grad_(False)
    return network


def exact_integer_table(family: str, integer: dict, d: int) -> np.ndarray:
    """The coefficient tensor of the INTEGER weights, exactly (numpy object array of Python ints);
    of output 1 for a teacher with several outputs.

    It equals ``QUANTUM ** k`` times the teacher's tensor, ``k`` the number of weight factors per
    entry (a positive constant): same CP rank, same unfolding ranks."""
    obj = lambda a: np.asarray(a, dtype=np.int64).astype(object)  # noqa: E731
    if family in ("tt-shared", "tt"):
        left = obj(integer["first_core"])  # (n, r)
        for t in range(1, d - 1):
            core = obj(integer["inner_cores"][0 if family == "tt-shared" else t - 1])  # (r, n, r)
            rp, n, rn = core.shape
            left = (left @ core.reshape(rp, n * rn)).reshape(-1, rn)
        last = obj(integer["last_core"][:, :, 0])  # (r, n)
        return (left @ last).reshape((last.shape[1],) * d)
    if family == "cp":
        a, weights = obj(integer["a"]), obj(integer["weights"][:, 0])
        full = a[0]
        for t in range(1, d):
            full = (full[:, None, :] * a[t][None, :, :]).reshape(-1, a.shape[2])
        return (full @ weights).reshape((a.shape[1],) * d)
    nodes = [obj(integer["input_weights"][t]).T for t in range(d)]  # (r, n)
    for weights in list(integer["hidden_weights"]) + [None]:
        paired = [(left[:, :, None] * right[:, None, :]).reshape(left.shape[0], -1)
                  for left, right in zip(nodes[0::2], nodes[1::2])]
        if weights is None:
            nodes = paired
            break
        nodes = [obj(weights[j]).T @ node for j, node in enumerate(paired)]
    full = obj(integer["top_weights"][:, :1]).T @ nodes[0]  # output 1
    return full.reshape((integer["input_weights"].shape[1],) * d)


def _contiguous_half(d: int) -> list[int]:
    return list(range(d // 2))


def certified_cp_lower_bound(table: np.ndarray, p: int = GFP_PRIME) -> tuple[int, dict]:
    """Certified CP-rank lower bound of an exact integer tensor: the largest GF(p) rank of its
    odd/even and contiguous-half unfoldings (each a lower bound on the rational matrix rank, which
    is a lower bound on the CP rank over R and C). Returns ``(bound, {partition: rank})``."""
    d = table.ndim
    residues = np.vectorize(lambda v: int(v) % p, otypes=[np.int64])(table)
    ranks = {}
    for label, rows in (("odd_even", odd_even_row_modes(d)), ("contiguous_half", _contiguous_half(d))):
        ranks[label] = int(gf_p_rank(unfold(residues, rows), p, method="elimination"))
    return max(ranks.values()), ranks


def numerical_unfolding_rank(table: np.ndarray, rtol: float = 1e-10) -> int:
    """Numerical rank (SVD, relative tolerance ``rtol``) of the odd/even unfolding: measured, not certified."""
    s = np.linalg.svd(unfold(np.asarray(table, dtype=np.float64), odd_even_row_modes(table.ndim)), compute_uv=False)
    return int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0


@dataclass
class Teacher:
    """One teacher: its network (frozen, float64), its normalised function table and bounds.

    Attributes
    ----------
    family, n, r, d, seed
        What was drawn (``r`` is the CP rank ``R`` for ``family == "cp"``) and the numpy seed sequence.
    network : ScoreNetwork
        The teacher as a network, weights ``integer / QUANTUM``; its score divided by ``scale`` is
        the normalised teacher.
    table : numpy.ndarray or None
        The normalised coefficient tensor (unit root-mean-square entry), shape ``(n,) * d``, when
        ``n ** d <= table_limit``.
    scale : float
        Root-mean-square entry of the unnormalised table (of output 1); without a table, the
        root-mean-square score on seeded random inputs (an estimate).
    integer : dict
        The integer weights (int64 arrays).
    cp_lower_bound : int or None
        Certified CP-rank lower bound (:func:`certified_cp_lower_bound`); None without a table.
    unfolding_ranks : dict
        GF(p) ranks per unfolding.
    numerical_rank : int or None
        Numerical rank of the odd/even unfolding of the float table (measured).
    """

    family: str
    n: int
    r: int
    d: int
    seed: list
    network: ScoreNetwork
    table: np.ndarray | None
    scale: float
    integer: dict
    cp_lower_bound: int | None
    unfolding_ranks: dict
    numerical_rank: int | None

    def n_parameters(self) -> int:
        """Scalars of the teacher network (a shared core counts once; its weights are frozen)."""
        return sum(p.numel() for p in self.network.parameters())

    def summary(self) -> dict:
        """What a results file records about the teacher."""
        return {"family": self.family, "n": self.n, "r": self.r, "d": self.d, "seed": list(self.seed),
                "quantum": QUANTUM, "n_parameters": self.n_parameters(), "scale": self.scale,
                "scale_from": "table" if self.table is not None else "random inputs (estimate)",
                "outputs": int(self.network.num_classes),
                "cp_lower_bound_certified": self.cp_lower_bound, "unfolding_ranks_gfp": self.unfolding_ranks,
                "numerical_unfolding_rank": self.numerical_rank,
                "proven_generic_bound": proven_bound(self.n, self.r, self.d)
                if self.family == "tt-shared" else None}


def make_teacher(family: str, n: int, r: int, d: int, seed, *, table_limit: int = 2 ** 16, outputs: int = 1,
                 scale_samples: int = 4096) -> Teacher:
    """Draw a teacher of ``family`` (see the module docs); ``seed`` is a numpy seed (int or list).

    ``outputs``: class scores of a classifier teacher (output 1 is the one-output teacher of the
    same seed; the table, the bounds and ``scale`` are those of output 1). When ``n ** d``
    exceeds ``table_limit`` there is no table: ``scale`` is then the root-mean-square score of
    output 1 on ``scale_samples`` uniformly drawn discrete inputs (seeded by ``seed``; an
    estimate, recorded as such), and no bound is computed.

    Raises
    ------
    ValueError
        For an unknown family, ``d < 3``, ``outputs < 1``, or an HT teacher whose ``d`` is not a
        power of two.
    """
    _check_family(family)
    if d < 3:
        raise ValueError(f"d = {d}: teachers need d >= 3 (a TT with an inner core)")
    if family == "ht" and d & (d - 1):
        raise ValueError(f"an HT teacher needs d to be a power of two, got d = {d}; use d in (4, 8, 16)")
    if outputs < 1:
        raise ValueError(f"outputs = {outputs}: a teacher needs at least one output")
    rng = np.random.default_rng(seed)
    integer = _integer_parameters(family, n, r, d, rng, outputs)
    network = _load(_network(family, n, r, d, outputs), integer)
    table, bound, ranks, numerical = None, None, {}, None
    if n ** d <= table_limit:
        exact = exact_integer_table(family, integer, d)
        bound, ranks = certified_cp_lower_bound(exact)
        with torch.no_grad():
            raw = network.coefficient_tensor()[0].numpy().astype(np.float64)
        scale = float(np.sqrt(np.mean(raw ** 2)))
    else:
        inputs = np.random.default_rng([*np.atleast_1d(seed).tolist(), 99]).integers(0, n, size=(scale_samples, d))
        features = torch.nn.functional.one_hot(torch.as_tensor(inputs), n).to(torch.float64)
        with torch.no_grad():
            scale = float(network.score(features)[:, 0].square().mean().sqrt())
    if not scale > 0:
        raise ValueError(f"teacher {family} seed {seed} is identically zero; draw another seed")
    if n ** d <= table_limit:
        table = raw / scale
        numerical = numerical_unfolding_rank(table)
    return Teacher(family, n, r, d, list(np.atleast_1d(seed).tolist()), network, table, scale, integer, bound,
                   ranks, numerical)
