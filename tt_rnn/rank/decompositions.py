"""Checkable upper bounds: CP decompositions stored beside the results, and their verification.

An upper bound ``CP rank <= R`` from an exact fit is numerical evidence; its decomposition makes it
checkable by anyone: the integer TT cores of the tensor and the ``R`` real CP components, in a
small ``.npz`` file. :func:`verify_decomposition` rebuilds the tensor from the cores (exact integer
arithmetic), rebuilds the CP sum from the factors, and recomputes the relative error
``||X - sum_t a_t^(1) (x) ... (x) a_t^(d)||_F / ||X||_F`` (both sides divided by ``max|X|``
first, so nothing overflows) against the stored claim and tolerance.

File layout (``numpy.savez_compressed``, no pickles): ``core_0 ... core_{d-1}`` (int64 TT
cores), ``factor_0 ... factor_{d-1}`` (float64, shape ``(n_k, R)``), ``meta`` (a JSON string:
``n, r, d, shared, seed, integer_range, rank, rel_error, kappa, tol, method, time_s``).
Command line: ``python -m tt_rnn.rank verify [paths...]``.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..tt import random_tt, tt_to_tensor
from .constants import DEFAULT_FIT_TOL, FLOAT64_EXACT_INT
from .lm import cp_to_tensor

DECOMPOSITION_KEYS = ("n", "r", "d", "shared", "seed", "integer_range", "rank", "rel_error", "tol")


class DecompositionError(ValueError):
    """A decomposition file that is malformed or does not support its claim (one-line message)."""


@dataclass
class DecompositionRecord:
    """Outcome of :func:`verify_decomposition` for one file (only returned when the check passed)."""

    path: str
    n: int
    r: int
    d: int
    shared: bool
    seed: int
    rank: int
    claimed_error: float
    recomputed_error: float
    tol: float
    cores_match_seed: bool
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


def decomposition_error(cores, factors) -> float:
    """Relative error of the CP sum ``factors`` against the integer TT ``cores``.

    The tensor is contracted exactly (python integers), both sides are divided by ``max|X|``,
    and ``||X - CP||_F / ||X||_F`` is returned.
    """
    exact = tt_to_tensor([np.asarray(c).astype(object) for c in cores])
    maxabs = max(abs(int(v)) for v in exact.ravel())
    if maxabs == 0:
        raise DecompositionError("the TT cores give the zero tensor")
    if maxabs >= FLOAT64_EXACT_INT:
        raise DecompositionError(f"tensor entries reach {maxabs} >= 2^53: not exact in float64")
    x = exact.astype(np.float64) / maxabs
    cp = cp_to_tensor([np.asarray(f, dtype=np.float64) for f in factors]) / maxabs
    if cp.shape != x.shape:
        raise DecompositionError(f"CP factors give shape {cp.shape}, the cores {x.shape}")
    return float(np.linalg.norm(x - cp) / np.linalg.norm(x))


def save_decomposition(path, *, cores, factors, meta: dict) -> dict:
    """Write a decomposition file; the relative error stored is recomputed here by :func:`decomposition_error`.

    ``meta`` must hold ``n, r, d, shared, seed, integer_range, tol`` (and may hold ``method``,
    ``kappa``, ``time_s``); ``rank`` and ``rel_error`` are set here. Returns the stored meta.
    Written to a temporary file first and renamed, so a crash never leaves a half-written file.
    """
    factors = [np.asarray(f, dtype=np.float64) for f in factors]
    cores = [np.asarray(c) for c in cores]
    if not all(np.issubdtype(c.dtype, np.integer) for c in cores):
        raise ValueError("decomposition cores must be integer arrays (the tensor is rebuilt exactly)")
    meta = dict(meta, rank=int(factors[0].shape[1]), rel_error=decomposition_error(cores, factors))
    missing = [k for k in DECOMPOSITION_KEYS if k not in meta]
    if missing:
        raise ValueError(f"decomposition meta lacks {missing}")
    arrays = {f"core_{k}": c.astype(np.int64) for k, c in enumerate(cores)}
    arrays.update({f"factor_{k}": f for k, f in enumerate(factors)})
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return meta


def load_decomposition(path) -> tuple[list, list, dict]:
    """``(cores, factors, meta)`` of a decomposition file; :class:`DecompositionError` if malformed."""
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            meta = json.loads(str(data["meta"])) if "meta" in files else None
            if meta is None:
                raise DecompositionError("no 'meta' entry")
            d = int(meta.get("d", -1))
            need = [f"core_{k}" for k in range(d)] + [f"factor_{k}" for k in range(d)]
            if d < 2 or not set(need) <= files:
                raise DecompositionError(f"expected core_0..core_{d - 1} and factor_0..factor_{d - 1}, "
                                   f"found {sorted(files)}")
            cores = [data[f"core_{k}"] for k in range(d)]
            factors = [data[f"factor_{k}"] for k in range(d)]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:  # truncated, not a zip, ...
        raise DecompositionError(f"cannot read decomposition ({err}); restore the file from git, or recompute it with "
                           "python -m tt_rnn.rank improve") from None
    missing = [k for k in DECOMPOSITION_KEYS if k not in meta]
    if missing:
        raise DecompositionError(f"meta lacks {missing}")
    return cores, factors, meta


def verify_decomposition(path, *, claim_rtol: float = 1e-3) -> DecompositionRecord:
    """Re-check a stored upper bound; returns a record or raises :class:`DecompositionError`.

    Checks, in order: the file layout; integer cores of the stated ``(n, r, d)``; that the cores
    are those drawn by ``random_tt(n, r, d, shared, seed, integer=True, integer_range)`` (the
    tensor of the results table); factor shapes ``(n, rank)`` and finiteness; the recomputed
    relative error ``<= tol`` (the exact-fit threshold, at most ``1e-10`` unless stored otherwise)
    and within ``claim_rtol`` (relative) of the stored claim.
    """
    cores, factors, meta = load_decomposition(path)
    n, r, d, rank = int(meta["n"]), int(meta["r"]), int(meta["d"]), int(meta["rank"])
    tol = float(meta["tol"])
    if not all(np.issubdtype(c.dtype, np.integer) for c in cores):
        raise DecompositionError("cores are not integer arrays")
    shapes = [f.shape for f in factors]
    if any(s != (n, rank) for s in shapes):
        raise DecompositionError(f"factor shapes {shapes}, expected ({n}, {rank}) each")
    if not all(np.all(np.isfinite(f)) for f in factors):
        raise DecompositionError("factors contain non-finite values")
    if not 0 < tol <= DEFAULT_FIT_TOL:
        raise DecompositionError(f"stored tol {tol} is not an exact-fit threshold (0 < tol <= "
                           f"{DEFAULT_FIT_TOL})")
    try:
        expected = random_tt(n, r, d, shared=bool(meta["shared"]), seed=int(meta["seed"]),
                             integer=True, integer_range=int(meta["integer_range"])).cores
    except (ValueError, TypeError) as err:
        raise DecompositionError(f"cannot redraw the cores from meta: {err}") from None
    match = len(expected) == len(cores) and all(
        np.shape(e) == np.shape(c) and np.array_equal(e, c) for e, c in zip(expected, cores))
    if not match:
        raise DecompositionError(f"cores differ from random_tt({n}, {r}, {d}, shared={meta['shared']}, "
                           f"seed={meta['seed']}, integer=True)")
    err = decomposition_error(cores, factors)
    claimed = float(meta["rel_error"])
    if not err <= tol:
        raise DecompositionError(f"recomputed relative error {err:.3e} exceeds tol {tol:.1e} "
                           f"(claimed {claimed:.3e}) at rank {rank}")
    if abs(err - claimed) > claim_rtol * claimed + 1e-15:
        raise DecompositionError(f"recomputed relative error {err:.6e} differs from the claim "
                           f"{claimed:.6e}")
    return DecompositionRecord(path=str(path), n=n, r=r, d=d, shared=bool(meta["shared"]),
                         seed=int(meta["seed"]), rank=rank, claimed_error=claimed,
                         recomputed_error=err, tol=tol, cores_match_seed=True,
                         method=str(meta.get("method", "")))
