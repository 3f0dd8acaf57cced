"""Input checks shared by the rank modules: arrays, sizes, primes, bipartitions, tolerances.

Nothing here certifies anything; these functions turn bad input into a clear error naming the
offending value (never a silent conversion that changes the tensor).
"""

from __future__ import annotations

import numpy as np
import torch

from ..tt import TensorTrain, odd_even_row_modes, validate_tt
from .constants import FLOAT64_EXACT_INT, INT64_MAX


def _shape_of(tensor) -> tuple[int, ...]:
    """Shape of an array / torch tensor / TensorTrain without forming or copying anything."""
    if isinstance(tensor, TensorTrain):
        return tuple(tensor.shape)
    shape = getattr(tensor, "shape", None)
    if shape is None:
        raise TypeError(f"tensor must be a numpy array, torch tensor or TensorTrain, "
                        f"got {type(tensor).__name__}")
    return tuple(int(s) for s in shape)


def _core_numpy(core) -> np.ndarray:
    if isinstance(core, torch.Tensor):
        return core.detach().cpu().numpy()
    return np.asarray(core)


def tt_to_tensor_exact(cores) -> np.ndarray:
    """Full tensor of TT cores with no silent overflow: int64 for integer cores, else float64.

    Integer (or bool) cores of any dtype are contracted exactly: in int64 when the a-priori bound
    ``max|G_1| * prod_{k>1} (r_{k-1} max|G_k|)`` on every partial contraction is below
    ``2^63``, else with python integers (then converted to int64 when every entry fits). ``TensorTrain.to_tensor`` contracts in the cores' own dtype, so int8 cores
    ``(100, 27) x (100, 3) x (100, 5)`` wrap around and describe another tensor; here they give
    the true entries.

    Raises
    ------
    ValueError
        When the tensor has an entry of absolute value ``>= 2^63``, naming the first core after
        which a partial contraction leaves int64 (use :func:`tt_rnn.rank.tt_to_tensor_mod_p`
        for an exact residue tensor instead).
    """
    cores = [_core_numpy(c) for c in cores]
    mode_sizes, _ = validate_tt(cores)
    for k, c in enumerate(cores):
        if c.dtype == object or not (np.issubdtype(c.dtype, np.number) or c.dtype == bool):
            raise TypeError(f"TT core {k} must have a numeric dtype, got {c.dtype}")
        if np.issubdtype(c.dtype, np.complexfloating):
            raise TypeError(f"TT core {k} must be real, got dtype {c.dtype}")
    if not all(np.issubdtype(c.dtype, np.integer) or c.dtype == bool for c in cores):
        cores = [c.astype(np.float64) for c in cores]
        left = cores[0]
        for core in cores[1:]:
            core3 = core[:, :, None] if core.ndim == 2 else core
            left = (left @ core3.reshape(core3.shape[0], -1)).reshape(-1, core3.shape[2])
        return left.reshape(mode_sizes)
    big = [np.asarray(c).astype(object) for c in cores]
    maxabs = [max((abs(int(v)) for v in c.ravel()), default=0) for c in big]
    bound = maxabs[0]
    for k in range(1, len(cores)):
        bound *= maxabs[k] * cores[k].shape[0]
    exact_int64 = bound <= INT64_MAX
    left = np.asarray(cores[0]).astype(np.int64) if exact_int64 else big[0]
    first_over = None                 # first core after which a partial entry leaves int64
    for k, core in enumerate(cores[1:] if exact_int64 else big[1:], start=1):
        core = np.asarray(core).astype(np.int64) if exact_int64 else core
        core3 = core[:, :, None] if core.ndim == 2 else core
        left = (left @ core3.reshape(core3.shape[0], -1)).reshape(-1, core3.shape[2])
        if not exact_int64 and first_over is None and \
                max(abs(int(v)) for v in left.ravel()) > INT64_MAX:
            first_over = k
    if not exact_int64:
        top = max(abs(int(v)) for v in left.ravel())
        if top > INT64_MAX:
            raise ValueError(
                f"the TT tensor has entries up to {top} >= 2^63, which int64 cannot hold; the "
                f"contraction leaves int64 at core {first_over} (shape "
                f"{tuple(cores[first_over].shape)}) -- use tt_to_tensor_mod_p / "
                f"unfolding_rank_mod_p on the TensorTrain for exact GF(p) bounds, or cores with "
                f"smaller entries")
    return np.asarray(left).astype(np.int64).reshape(mode_sizes)


def _to_numpy(tensor, name: str = "tensor") -> np.ndarray:
    """numpy view of a numpy array / torch tensor / TensorTrain; raises on bad input.

    A TensorTrain is contracted by :func:`tt_to_tensor_exact` (no wrap-around of integer cores).
    """
    if isinstance(tensor, TensorTrain):
        tensor = tt_to_tensor_exact(tensor.cores)
    if isinstance(tensor, torch.Tensor):
        tensor = tensor.detach().cpu().numpy()
    if not isinstance(tensor, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, torch tensor or TensorTrain, "
                        f"got {type(tensor).__name__}")
    if tensor.dtype == object or not (np.issubdtype(tensor.dtype, np.number)
                                      or tensor.dtype == bool):
        raise TypeError(f"{name} must have a numeric dtype, got {tensor.dtype}")
    if tensor.size == 0:
        raise ValueError(f"{name} is empty (shape {tensor.shape})")
    if np.issubdtype(tensor.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {tensor.dtype}")
    if np.issubdtype(tensor.dtype, np.floating):
        bad = ~np.isfinite(tensor)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} has {int(bad.sum())} non-finite entries "
                             f"(first at index {idx}: {tensor[idx]})")
    return tensor


def _check_size(tensor: np.ndarray, limit: int, method: str) -> None:
    if tensor.size > limit:
        raise ValueError(f"tensor of shape {tensor.shape} has {tensor.size} entries, above the "
                         f"limit {limit} for {method}; pass a smaller tensor or raise the limit")


def _check_prime(p: int) -> int:
    p = int(p)
    if not 2 <= p < 2 ** 31:
        raise ValueError(f"the prime p must satisfy 2 <= p < 2**31 (no int64 overflow), got p = {p}")
    if not _is_prime(p):
        raise ValueError(f"p = {p} is not prime")
    return p


def _is_prime(p: int) -> bool:
    if p < 2:
        return False
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):  # deterministic Miller-Rabin < 3.3e24
        if p % a == 0:
            return p == a
    d, s = p - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in (2, 3, 5, 7, 11, 13, 17):
        x = pow(a, d, p)
        if x in (1, p - 1):
            continue
        for _ in range(s - 1):
            x = x * x % p
            if x == p - 1:
                break
        else:
            return False
    return True


def _row_modes_or_default(ndim: int, row_modes) -> list[int]:
    if ndim < 2:
        raise ValueError(f"need a tensor of order >= 2, got order {ndim}")
    if row_modes is None:
        return odd_even_row_modes(ndim)
    row_modes = [int(m) for m in row_modes]
    if not row_modes or len(row_modes) >= ndim:
        raise ValueError(f"row_modes must be a non-empty proper subset of range({ndim}), "
                         f"got {row_modes}")
    return row_modes




def _check_tol(tol, name: str = "tol") -> float:
    """A relative-error threshold in ``(0, 1)``; raises otherwise (also when no fit will run)."""
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a float in (0, 1), got {tol!r}") from None
    if not 0 < tol < 1:
        raise ValueError(f"{name} must be in (0, 1), got {name} = {tol}")
    return tol


def _exceeds_float64(x: np.ndarray) -> bool:
    """True for an integer array with an entry that float64 cannot hold exactly (``|x| >= 2^53``)."""
    if not np.issubdtype(x.dtype, np.integer):
        return False
    # compare in the integer dtype: converting first would round the very entries we look for
    return bool(np.any(x >= FLOAT64_EXACT_INT) or np.any(x <= -FLOAT64_EXACT_INT))


def _to_float64(x: np.ndarray, purpose: str) -> np.ndarray:
    """float64 copy of ``x``; refuses integer tensors that float64 would round.

    A silent ``astype(float64)`` of ``2**60 + k`` maps eight distinct entries to one value and
    turns an unfolding of rank 2 into one of rank 1; every float computation (SVD, fits) would
    then describe another tensor.
    """
    if _exceeds_float64(x):
        big = np.flatnonzero((x >= FLOAT64_EXACT_INT) | (x <= -FLOAT64_EXACT_INT))
        idx = tuple(int(i) for i in np.unravel_index(big[0], x.shape))
        raise ValueError(
            f"{purpose} needs float64 arithmetic, but the integer tensor has {big.size} entries of "
            f"absolute value >= 2^53 (first at index {idx}: {int(x[idx])}), which float64 cannot "
            f"represent exactly; use the exact GF(p) bounds (cp_rank_bracket(..., fit=False) or "
            f"unfolding_rank_mod_p) or subtract / rescale the tensor so its entries are < 2^53")
    return np.asarray(x, dtype=np.float64)


def _max_abs_scaled(x: np.ndarray) -> tuple[np.ndarray, float]:
    """``(x / max|x|, max|x|)`` in float64, so that norms neither overflow nor underflow.

    ``||x||_F`` of a 3 x 3 x 3 Gaussian tensor scaled by 1e160 overflows to inf, scaled by
    1e-170 it underflows to 0; after division by ``max|x|`` every entry is in ``[-1, 1]``, the
    largest is 1 and ``1 <= ||x||_F <= sqrt(size)``. Relative errors are scale invariant, so
    every tolerance keeps its meaning. ``max|x| = 0`` returns ``(x, 0.0)``.
    """
    x = np.asarray(x, dtype=np.float64)
    scale = float(np.max(np.abs(x))) if x.size else 0.0
    if scale == 0.0:
        return x, 0.0
    return x / scale, scale
