"""Exact counts of the linear regions of rectifier networks on lines and planes through inputs.

A rectifier network (``xi = "rectifier"`` in :mod:`tt_rnn.networks`) is a composition of
linear maps and nodes ``max(x, y, 0)`` (CP: ``max(z_1, ..., z_d, 0)``), so it is piecewise
linear in its input features ``X`` of shape ``(d, m)``. Its *activation pattern* at ``X`` lists
which argument attains every max. For a fixed pattern every node is an affine function of ``X``
and the pattern holds exactly on the set where each chosen argument is at least every other
one: finitely many linear inequalities, so each activation region is a convex polyhedron and
counting regions means counting distinct patterns.

* On a line ``X(s) = X_0 + s V`` (:func:`count_regions_on_line`) the network is traced with
  values and slopes in ``s``: inside the current region every node is affine in ``s``, the
  next breakpoint is the smallest positive ``s`` at which one of the region's inequalities
  becomes tight, and at a breakpoint ties are broken by the slope (the pattern just to the
  right). Walking from breakpoint to breakpoint enumerates every region met, with no grid.
* On a plane ``X(s, t) = X_0 + s V_1 + t V_2`` (:func:`count_regions_on_plane`) the region of a
  pattern is a convex polygon, the window square clipped by the region's inequalities. A
  breadth-first search crosses every polygon edge at its midpoint and so visits every region
  of the window. :func:`brute_force_plane_patterns` counts distinct patterns on a grid as an
  independent check (it can only miss regions thinner than the grid step).

Two counts, two definitions (the literature uses both):

* **activation regions** -- the sets of inputs with one activation pattern (which argument
  attains each max). Hanin and Rolnick (2019b) name them so and study their number; Serra,
  Tjandraatmadja and Ramalingam (2018) identify a linear region with a set of active units and
  count such regions exactly (MILP), i.e. they count activation regions;
* **linear pieces** -- the maximal connected sets on which the score is one affine function, the
  "regions of linearity" of Montúfar, Pascanu, Cho and Bengio (2014). An activation region lies in
  one piece, but a piece may hold several activation regions (Hanin and Rolnick 2019b make this
  distinction): two neighbouring patterns may give the same affine function, e.g. a max whose
  output is later ignored, or weights that cancel.

On a segment both are counted exactly: ``regions`` is the number of pattern intervals, ``pieces``
the number of maximal intervals with one slope (neighbouring intervals whose slopes agree to
``rtol = 1e-9`` are merged), so ``pieces <= regions``. On planes only activation regions are
counted.

What the counts say (Hanin & Rolnick 2019): they measure the regions a network *at given
weights* cuts along low-dimensional slices of input space, not the maximum over weights that
expressivity bounds speak about. Hanin and Rolnick prove that for ReLU networks at typical
initialisations the expected number of regions meeting a line or a unit 2-D cube grows with the
total number of neurons, not exponentially with depth, and observe the same during training.
So region counts at initialisation say little about which functions a format can express; the
grid-tensor ranks of :mod:`tt_rnn.generalized` are the expressivity statement here.

References
----------
.. [1] B. Hanin, D. Rolnick, "Complexity of linear regions in deep networks", ICML 2019.
.. [2] B. Hanin, D. Rolnick, "Deep ReLU networks have surprisingly few activation patterns",
       NeurIPS 2019.
.. [3] T. Serra, C. Tjandraatmadja, S. Ramalingam, "Bounding and counting linear regions of deep
       neural networks", ICML 2018.
.. [4] G. Montúfar, R. Pascanu, K. Cho, Y. Bengio, "On the number of linear regions of deep
       neural networks", NeurIPS 2014.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .networks import CPNetwork, HTNetwork, TTNetwork, make_network
from .runfiles import write_records

__all__ = [
    "trace",
    "count_regions_on_line",
    "count_regions_on_plane",
    "brute_force_plane_patterns",
    "line_patterns_on_grid",
    "matched_rank",
    "relu_units",
    "matched_units_rank",
    "RegionRecord",
    "region_experiment",
    "write_regions",
    "REGION_KINDS",
]

#: Values within ``TIE_RTOL * scale`` count as equal when the pattern at a breakpoint is chosen.
TIE_RTOL = 1e-10


class _AffineTracer:
    """Evaluates max nodes on affine functions ``v + g . delta`` and records the region's inequalities."""

    def __init__(self, scale: float):
        self.patterns: list[np.ndarray] = []
        self.offsets: list[np.ndarray] = []  # c0 >= 0 ...
        self.gradients: list[np.ndarray] = []  # ... with c0 + cg . delta >= 0 inside the region
        self.tol = TIE_RTOL * scale

    def max(self, values: np.ndarray, slopes: np.ndarray):
        """Max over axis 0 of ``values`` (``(k, ...)``), ``slopes`` (``(k, ..., D)``).

        Ties (within ``tol``) go to the larger slope along direction 0: the pattern just after
        a breakpoint on a line.
        """
        top = values.max(axis=0)
        tied = values >= top - self.tol
        key = np.where(tied, slopes[..., 0], -np.inf)
        chosen = key.argmax(axis=0)
        value = np.take_along_axis(values, chosen[None], axis=0)[0]
        slope = np.take_along_axis(slopes, chosen[None, ..., None], axis=0)[0]
        self.patterns.append(chosen.astype(np.int8).ravel())
        self.offsets.append(np.maximum(value[None] - values, 0.0).ravel())
        self.gradients.append((slope[None] - slopes).reshape(-1, slopes.shape[-1]))
        return value, slope

    def pattern(self) -> bytes:
        return np.concatenate(self.patterns).tobytes()

    def inequalities(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(self.offsets), np.concatenate(self.gradients)


def _zeros_like_arg(values, slopes):
    return np.zeros_like(values), np.zeros_like(slopes)


def _rectifier(tracer, xv, xg, yv, yg):
    """``max(x, y, 0)`` elementwise (broadcast), affine arguments."""
    xv, yv = np.broadcast_arrays(xv, yv)
    xg, yg = np.broadcast_arrays(xg, yg)
    values = np.stack([xv, yv, np.zeros_like(xv)])
    slopes = np.stack([xg, yg, np.zeros_like(xg)])
    return tracer.max(values, slopes)


def _params(net):
    return {name: p.detach().cpu().double().numpy() for name, p in net.named_parameters()}


def trace(network, point: np.ndarray, directions: np.ndarray):
    """Affine trace of a rectifier network at ``point`` along ``directions``.

    Parameters
    ----------
    network : CPNetwork, TTNetwork or HTNetwork with ``xi = "rectifier"``
    point : array ``(d, m)``
    directions : array ``(D, d, m)``

    Returns
    -------
    value : array ``(C,)`` — the score at ``point``
    gradient : array ``(C, D)`` — its derivatives along the directions, in the current region
    tracer : the recorded pattern and inequalities ``c0 + cg . delta >= 0`` of the region
    """
    if getattr(network, "xi", None) != "rectifier":
        raise ValueError(f"region counting needs a network with xi = 'rectifier', got xi = "
                         f"{getattr(network, 'xi', None)!r}")
    p = _params(network)
    x = np.asarray(point, dtype=np.float64)
    dirs = np.moveaxis(np.asarray(directions, dtype=np.float64), 0, -1)  # (d, m, D)
    if x.shape != (network.d, network.m) or dirs.shape[:2] != x.shape:
        raise ValueError(f"point must have shape (d, m) = {(network.d, network.m)} and directions "
                         f"(D, d, m); got {x.shape} and {np.shape(directions)}")
    tracer = _AffineTracer(scale=1.0 + float(np.abs(x).max()))
    if isinstance(network, TTNetwork):
        value, grad = _trace_tt(network, p, x, dirs, tracer)
    elif isinstance(network, CPNetwork):
        value, grad = _trace_cp(p, x, dirs, tracer)
    elif isinstance(network, HTNetwork):
        value, grad = _trace_ht(network, p, x, dirs, tracer)
    else:
        raise TypeError(f"unsupported network type {type(network).__name__}")
    return value, grad, tracer


def _linear(v, g, matrix):
    """``v @ matrix`` and the same for every slope direction (``g``: ``(..., n, D)``)."""
    return v @ matrix, np.einsum("...nD,nk->...kD", g, matrix)


def _trace_tt(net, p, x, dirs, tracer):
    r, m = net.rank, net.m
    zero_v, zero_g = np.zeros(m), np.zeros((m, dirs.shape[-1]))
    pv, pg = _rectifier(tracer, zero_v, zero_g, x[0], dirs[0])  # xi(h_0 = 0, f(x_1))
    h, hg = _linear(pv, pg, p["first_core"])
    inner = p["inner_cores"]
    for t in range(1, net.d):
        pv, pg = _rectifier(tracer, h[:, None], hg[:, None, :], x[t][None, :], dirs[t][None, :, :])
        pv, pg = pv.reshape(r * m), pg.reshape(r * m, -1)
        core = p["last_core"] if t == net.d - 1 else inner[0 if net.shared else t - 1]
        h, hg = _linear(pv, pg, core.reshape(r * m, -1))
    return h, hg


def _trace_cp(p, x, dirs, tracer):
    a = p["a"]  # (d, m, R)
    z = np.einsum("tm,tmr->tr", x, a)
    zg = np.einsum("tmD,tmr->trD", dirs, a)
    values = np.concatenate([z, np.zeros((1, z.shape[1]))])
    slopes = np.concatenate([zg, np.zeros((1,) + zg.shape[1:])])
    v, g = tracer.max(values, slopes)  # max(z_1, ..., z_d, 0) per component
    return _linear(v, g, p["weights"])


def _trace_ht(net, p, x, dirs, tracer):
    w0 = p["input_weights"]
    u = np.einsum("tm,tmr->tr", x, w0)
    ug = np.einsum("tmD,tmr->trD", dirs, w0)
    level = 0
    while u.shape[0] > 1:
        v, g = _rectifier(tracer, u[0::2], ug[0::2], u[1::2], ug[1::2])
        if u.shape[0] == 2:
            return _linear(v[0], g[0], p["top_weights"])
        w = p[f"hidden_weights.{level}"]  # (nodes, r, r)
        u = np.einsum("jr,jrk->jk", v, w)
        ug = np.einsum("jrD,jrk->jkD", g, w)
        level += 1
    raise AssertionError("unreachable: d >= 2")


# ---------------------------------------------------------------------------------------------
# Lines
# ---------------------------------------------------------------------------------------------

def count_regions_on_line(network, start: np.ndarray, end: np.ndarray, *, max_regions: int = 1_000_000):
    """Activation regions and linear pieces of a rectifier network on the segment ``[start, end]``.

    Returns a dict with ``regions`` (number of activation patterns met, each one interval),
    ``pieces`` (maximal intervals on which the score is one affine function of ``s``),
    ``breakpoints`` (the ``s`` in ``(0, 1)`` where the pattern changes).
    """
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    direction = (end - start)[None]
    s, breakpoints, slopes = 0.0, [], []
    while True:
        _, grad, tracer = trace(network, start + s * direction[0], direction)
        slopes.append(grad[:, 0])
        c0, cg = tracer.inequalities()
        falling = cg[:, 0] < 0
        step = np.min(c0[falling] / -cg[falling, 0]) if falling.any() else math.inf
        step = max(step, 1e-15)  # a breakpoint at s itself was resolved by the slope tie-break
        if s + step >= 1.0:
            break
        s += step
        breakpoints.append(s)
        if len(breakpoints) >= max_regions:
            raise RuntimeError(f"more than max_regions = {max_regions} regions on the segment")
    pieces = 1 + sum(not np.allclose(a, b, rtol=1e-9, atol=1e-12 * (1 + np.abs(a).max()))
                     for a, b in zip(slopes[:-1], slopes[1:]))
    return dict(regions=len(breakpoints) + 1, pieces=pieces, breakpoints=breakpoints)


def line_patterns_on_grid(network, start, end, n_points: int) -> int:
    """Brute force: number of pattern changes + 1 between consecutive points of an even grid."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    direction = (end - start)[None]
    previous, changes = None, 0
    for s in np.linspace(0.0, 1.0, n_points):
        pattern = trace(network, start + s * direction[0], direction)[2].pattern()
        changes += previous is not None and pattern != previous
        previous = pattern
    return changes + 1


# ---------------------------------------------------------------------------------------------
# Planes
# ---------------------------------------------------------------------------------------------

def _clip(polygon: list, a: np.ndarray, b: float) -> list:
    """Sutherland-Hodgman: the part of a convex polygon with ``b + a . x >= 0``."""
    out = []
    n = len(polygon)
    for k in range(n):
        p, q = polygon[k], polygon[(k + 1) % n]
        fp, fq = b + a @ p, b + a @ q
        if fp >= 0:
            out.append(p)
        if (fp >= 0) != (fq >= 0):
            out.append(p + (q - p) * (fp / (fp - fq)))
    return out


def count_regions_on_plane(network, origin, corner_s, corner_t, *, max_regions: int = 100_000,
                           eps: float = 1e-7) -> dict:
    """Activation regions of a rectifier network on the parallelogram ``origin + s (corner_s -
    origin) + t (corner_t - origin)``, ``(s, t) in [0, 1]^2`` (three inputs span the plane).

    Breadth-first search over regions: the region of the current pattern is the unit square
    clipped by the pattern's inequalities; each edge inside the square is crossed at its
    midpoint (``eps`` outside) to reach a neighbour. Returns ``regions`` and ``areas`` (the
    polygons' areas, which must sum to 1: a check that no region was missed).
    """
    origin = np.asarray(origin, dtype=np.float64)
    dirs = np.stack([np.asarray(corner_s, dtype=np.float64) - origin,
                     np.asarray(corner_t, dtype=np.float64) - origin])
    square = [np.array(v, dtype=np.float64) for v in ((0, 0), (1, 0), (1, 1), (0, 1))]
    seen: dict[bytes, float] = {}
    queue = deque([np.array([0.5, 0.5])])
    while queue:
        st = queue.popleft()
        _, _, tracer = trace(network, origin + st[0] * dirs[0] + st[1] * dirs[1], dirs)
        key = tracer.pattern()
        if key in seen:
            continue
        c0, cg = tracer.inequalities()
        offsets = c0 - cg @ st  # the inequalities as offsets + cg . x >= 0 in window coordinates
        corners = np.array(square)
        # Only inequalities violated at some corner of the window can cut it (vectorised filter).
        cutting = (offsets[:, None] + cg @ corners.T < 0).any(axis=1)
        polygon = square
        for b, a in zip(offsets[cutting], cg[cutting]):
            polygon = _clip(polygon, a, b)
            if len(polygon) < 3:
                break
        area = _area(polygon) if len(polygon) >= 3 else 0.0
        seen[key] = area
        if len(seen) > max_regions:
            raise RuntimeError(f"more than max_regions = {max_regions} regions in the window")
        for k in range(len(polygon)):
            p, q = polygon[k], polygon[(k + 1) % len(polygon)]
            edge = q - p
            length = float(np.hypot(*edge))
            mid = (p + q) / 2
            if length < 1e-12 or _on_boundary(p, q):
                continue
            outward = np.array([edge[1], -edge[0]]) / length  # counter-clockwise polygon
            queue.append(mid + eps * outward)
    return dict(regions=len(seen), area_total=float(sum(seen.values())))


def _on_boundary(p, q) -> bool:
    for axis in (0, 1):
        for side in (0.0, 1.0):
            if abs(p[axis] - side) < 1e-12 and abs(q[axis] - side) < 1e-12:
                return True
    return False


def _area(polygon) -> float:
    xs = np.array([v[0] for v in polygon])
    ys = np.array([v[1] for v in polygon])
    return 0.5 * float(np.sum(xs * np.roll(ys, -1) - np.roll(xs, -1) * ys))


def brute_force_plane_patterns(network, origin, corner_s, corner_t, n_grid: int) -> int:
    """Independent check: distinct activation patterns at the centres of an ``n_grid^2`` grid."""
    origin = np.asarray(origin, dtype=np.float64)
    dirs = np.stack([np.asarray(corner_s) - origin, np.asarray(corner_t) - origin])
    centres = (np.arange(n_grid) + 0.5) / n_grid
    patterns = set()
    for s in centres:
        for t in centres:
            patterns.add(trace(network, origin + s * dirs[0] + t * dirs[1], dirs[:1])[2].pattern())
    return len(patterns)


# ---------------------------------------------------------------------------------------------
# The experiment: regions vs d and r, shared against distinct, equal rank and matched size
# ---------------------------------------------------------------------------------------------

REGION_KINDS = ("cp", "tt", "tt-shared", "ht")


def matched_rank(kind: str, d: int, m: int, n_parameters: int, num_classes: int = 1) -> int:
    """The rank (width) of a ``kind`` network whose parameter count is closest to ``n_parameters``."""
    best, best_gap = 1, math.inf
    for r in range(1, 4097):
        count = _count(kind, d, m, r, num_classes)
        gap = abs(count - n_parameters)
        if gap < best_gap:
            best, best_gap = r, gap
        if count > n_parameters:
            break
    return best


def relu_units(kind: str, d: int, m: int, r: int) -> int:
    """The number of rectifier nodes ``max(., ., 0)`` of a network (what :func:`trace` records):
    TT (shared or not) ``m`` at the first step and ``r m`` at each later one, ``m + (d - 1) r m``;
    HT ``r`` per internal node of the binary tree, ``(d - 1) r``; CP ``r`` (each a max over
    ``d + 1`` arguments)."""
    if kind in ("tt", "tt-shared"):
        return m + (d - 1) * r * m
    if kind == "ht":
        return (d - 1) * r
    if kind == "cp":
        return r
    raise ValueError(f"unknown network kind {kind!r}")


def matched_units_rank(kind: str, d: int, m: int, units: int) -> int:
    """The rank of a ``kind`` network whose rectifier-node count is closest to ``units``."""
    return min(range(1, 4097), key=lambda r: (abs(relu_units(kind, d, m, r) - units), r))


def _count(kind, d, m, r, c) -> int:
    """Parameter counts of :mod:`tt_rnn.networks` in closed form (tested against the modules)."""
    if kind == "cp":
        return d * m * r + r * c
    if kind == "tt":
        return m * r + (d - 2) * r * m * r + r * m * c
    if kind == "tt-shared":
        return m * r + r * m * r + r * m * c  # the shared core exists (unused) even at d = 2
    if kind == "ht":
        hidden = sum(d >> level for level in range(1, int(math.log2(d))))
        return d * m * r + hidden * r * r + r * c
    raise ValueError(f"unknown network kind {kind!r}")


@dataclass
class RegionRecord:
    """Regions of one rectifier network on one line and one plane through random inputs."""

    series: str
    kind: str
    d: int
    rank: int
    m: int
    seed: int
    n_parameters: int
    line_regions: int
    line_pieces: int
    plane_regions: int | None
    plane_area_total: float | None
    time_s: float
    relu_units: int = -1

    def to_dict(self) -> dict:
        return asdict(self)


def _region_record(series, kind, d, r, m, seed, planes: bool) -> RegionRecord:
    start = time.perf_counter()
    torch.manual_seed(seed)
    net = make_network(kind, d, m, r, 1, xi="rectifier", dtype=torch.float64)
    # Non-negative inputs like ReLU features; the line and plane pass through 2 and 3 of them.
    x0, x1, x2 = np.random.default_rng(1_000 + seed).random((3, d, m))
    line = count_regions_on_line(net, x0, x1)
    plane = count_regions_on_plane(net, x0, x1, x2) if planes else None
    return RegionRecord(series=series, kind=kind, d=d, rank=r, m=m, seed=seed,
                        n_parameters=net.n_parameters(), line_regions=line["regions"],
                        line_pieces=line["pieces"], plane_regions=plane["regions"] if plane else None,
                        plane_area_total=plane["area_total"] if plane else None,
                        time_s=time.perf_counter() - start, relu_units=relu_units(kind, d, m, r))


def region_experiment(*, ds=(2, 4, 8, 16, 32), ranks=(2, 4, 8, 16), rank: int = 4, d_for_ranks: int = 8,
                      m: int = 4, seeds=range(10), plane_max_d: int = 8, plane_max_rank: int = 9,
                      plane_seeds: int = 5, kinds=REGION_KINDS, skip=None, on_record=None) -> list[RegionRecord]:
    """Three series of rectifier networks at initialisation, each over ``seeds``.

    ``"equal-rank"``: every format at rank (CP width) ``rank``, ``d`` in ``ds``.
    ``"rank"``: ``d = d_for_ranks``, rank in ``ranks``.
    ``"matched"``: ``d`` in ``ds``, each format at the rank whose parameter count is closest to
    that of the distinct-core TT of rank ``rank`` (:func:`matched_rank`).
    ``"units"``: ``d`` in ``ds``, each format at the rank whose number of rectifier nodes is
    closest to that of the distinct-core TT of rank ``rank`` (:func:`matched_units_rank`).
    Planes (costlier: one trace per region and neighbour probe) only for ``d <= plane_max_d``,
    rank ``<= plane_max_rank`` and the first ``plane_seeds`` seeds.
    ``skip(series, kind, d, r, seed)`` leaves out done work.
    """
    jobs = []
    for kind in kinds:
        for d in ds:
            jobs.append(("equal-rank", kind, d, rank))
            budget = _count("tt", d, m, rank, 1)
            jobs.append(("matched", kind, d, matched_rank(kind, d, m, budget)))
            jobs.append(("units", kind, d, matched_units_rank(kind, d, m, relu_units("tt", d, m, rank))))
        for r in ranks:
            jobs.append(("rank", kind, d_for_ranks, r))
    records = []
    for series, kind, d, r in jobs:
        if kind == "ht" and d & (d - 1):
            continue
        for seed in seeds:
            if skip is not None and skip(series, kind, d, r, seed):
                continue
            planes = d <= plane_max_d and r <= plane_max_rank and seed in list(seeds)[:plane_seeds]
            records.append(_region_record(series, kind, d, r, m, seed, planes=planes))
            if on_record is not None:
                on_record(records[-1])
    return records


def write_regions(path, records, config: dict) -> Path:
    """Write region records and the configuration as JSON."""
    return write_records(path, records, config)
