"""Score-function networks: shallow CP, Tensor-Train (distinct or ONE shared inner core), and HT.

Every network maps a batch of ``d`` feature vectors ``f(x_1), ..., f(x_d)`` (a tensor of shape
``(batch, d, m)``) to class scores

.. math:: h_y(x_1, \\dots, x_d) = \\sum_{i_1 \\dots i_d} A^y[i_1, \\dots, i_d] \\prod_t f(x_t)[i_t],

and differs only in how the coefficient tensor ``A^y`` is parametrised: a CP decomposition
(shallow network, Cohen et al. 2016), a Tensor Train (recurrent network, Khrulkov et al. 2018),
or a Hierarchical Tucker tree (deep convolutional arithmetic circuit, Cohen et al. 2016).

Where is the TT recurrence?  :meth:`TTNetwork._sequential_product` (one step per input, the
RNN view) and :meth:`TTNetwork._tree_product` (the same product of step matrices, in log depth).

Generalized networks (``xi``)
-----------------------------
Every network takes ``xi`` in :data:`XI_KINDS`. ``"product"`` (the default) is the multilinear
network above, computed by the unchanged code path. Otherwise each multiplication of two
numbers coming from different inputs — state entry times feature entry in the TT step,
position times position in the CP product, child times child in HT pooling — is replaced by
the generalized product ``xi(x, y)`` (Cohen & Shashua 2016; Khrulkov, Hrinchuk, Oseledets 2019).
``xi = "rectifier"`` (``max(x, y, 0)``) gives piecewise-linear networks: ReLU with max pooling
for CP and HT, and for TT the recurrence
``h_t[c] = sum_{a, i} G_t[a, i, c] max(h_{t-1}[a], f(x_t)[i], 0)``. Such a score is no longer
``<A^y, f_1 x ... x f_d>``; :func:`tt_rnn.generalized.grid_tensor` tabulates it on template points.

What the logits are
-------------------
A product of ``d`` bilinear maps over- or underflows float32 long before ``d = 784``. Every
network therefore rescales its intermediate state after each step (or tree level) to unit
root-mean-square entries and accumulates the logarithm of the factors it divided by. The
``forward`` output is

.. math:: \\text{logits}_y(X) = h_y(X) / c(X), \\qquad c(X) = \\prod_\\text{steps} s_\\text{step}(X) > 0,

with ``log c(X)`` returned on request (``return_log_scale=True``). ``c(X)`` is one positive number
per sample, the same for every class ``y``, so ``argmax_y logits_y = argmax_y h_y`` and the
decision function is exactly the network's. Generalized networks (``xi != "product"``) are not
rescaled (``log c = 0``): the rectifiers grow at most linearly with d. Softmax and cross-entropy are taken on these
rescaled scores (a per-sample temperature); :meth:`ScoreNetwork.score` returns the unscaled
``h_y`` for tests at small d.

References
----------
.. [1] N. Cohen, O. Sharir, A. Shashua, "On the expressive power of deep learning: a tensor
       analysis", COLT 2016.
.. [2] V. Khrulkov, A. Novikov, I. Oseledets, "Expressive power of recurrent neural networks",
       ICLR 2018.
.. [3] N. Cohen, A. Shashua, "Convolutional rectifier networks as generalized tensor
       decompositions", ICML 2016.
.. [4] V. Khrulkov, O. Hrinchuk, I. Oseledets, "Generalized tensor models for recurrent neural
       networks", ICLR 2019.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import tt

__all__ = [
    "ScoreNetwork",
    "CPNetwork",
    "TTNetwork",
    "HTNetwork",
    "ScoreClassifier",
    "make_network",
    "count_parameters",
    "check_features",
    "PoolLinearNetwork",
    "NETWORK_KINDS",
    "XI_KINDS",
    "xi_function",
]


# Generalized outer products xi (Cohen & Shashua 2016; Khrulkov, Hrinchuk, Oseledets 2019): every
# multiplication of a state entry by a feature entry (or of two pooled channels) becomes xi(x, y).
# All three are associative and commutative, so a product of d scalars generalizes unambiguously.
XI_KINDS = ("product", "rectifier", "rectifier-sum")

_XI_FUNCTIONS = {
    "product": torch.mul,
    # ReLU activation followed by max pooling: max(relu(x), relu(y)) = max(x, y, 0).
    "rectifier": lambda x, y: torch.clamp_min(torch.maximum(x, y), 0.0),
    # ReLU activation followed by sum pooling: relu(x) + relu(y).
    "rectifier-sum": lambda x, y: torch.relu(x) + torch.relu(y),
}

# The state a recurrent network starts from, h_0 in xi(h_0, f(x_1)): the neutral element of xi on
# non-negative numbers (1 for the product, 0 for the rectifiers), so that the first step is the
# linear map f(x_1) @ G_1 for the non-negative (ReLU) features of this package.
_XI_INITIAL_STATE = {"product": 1.0, "rectifier": 0.0, "rectifier-sum": 0.0}


def _check_xi(xi) -> str:
    if not isinstance(xi, str) or xi not in XI_KINDS:
        raise ValueError(f"unknown generalized product xi = {xi!r}; choose one of {XI_KINDS}")
    return xi


def xi_function(xi: str):
    """The elementwise (broadcasting) function ``xi(x, y)`` named ``xi`` (see :data:`XI_KINDS`).

    ``"product"``: ``x y``; ``"rectifier"``: ``max(x, y, 0)``; ``"rectifier-sum"``:
    ``max(x, 0) + max(y, 0)``.
    """
    return _XI_FUNCTIONS[_check_xi(xi)]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars (a shared core counts once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def check_features(features, d: int, m: int, check_finite: bool = True) -> None:
    """Raise a clear error unless ``features`` is a finite float tensor of shape ``(batch, d, m)``."""
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"features must be a torch.Tensor of shape (batch, {d}, {m}), "
                        f"got {type(features).__name__}")
    if not features.is_floating_point():
        raise TypeError(f"features must be a floating tensor, got dtype {features.dtype}")
    if features.ndim != 3:
        raise ValueError(f"features must have shape (batch, d, m) = (batch, {d}, {m}), "
                         f"got shape {tuple(features.shape)}")
    if features.shape[1] != d:
        raise ValueError(f"network expects d = {d} inputs, got features of shape {tuple(features.shape)} "
                         f"(d = {features.shape[1]})")
    if features.shape[2] != m:
        raise ValueError(f"network expects feature size m = {m}, got features of shape "
                         f"{tuple(features.shape)} (m = {features.shape[2]})")
    if features.shape[0] == 0:
        raise ValueError("features have batch size 0")
    if check_finite and not bool(torch.isfinite(features).all()):
        bad = int((~torch.isfinite(features)).sum())
        raise ValueError(f"features contain {bad} non-finite (NaN or Inf) entries")


def _check_sizes(min_d: int = 2, **sizes) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {value!r}")
    for name, value in sizes.items():
        minimum = min_d if name == "d" else 1
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {name} = {value}")


def _check_class(y, num_classes: int) -> int:
    if not isinstance(y, int) or isinstance(y, bool) or not 0 <= y < num_classes:
        raise ValueError(f"class index y must be an int in [0, {num_classes}), got y = {y!r}")
    return y


def _require_product(net, what: str) -> None:
    xi = getattr(net, "xi", "product")
    if xi != "product":
        raise ValueError(f"{what} needs xi = 'product' (a multilinear network); this network has "
                         f"xi = {xi!r}, whose score is not <A^y, f_1 x ... x f_d> for any tensor A^y")


def _rescale(x: torch.Tensor, dims) -> tuple[torch.Tensor, torch.Tensor]:
    """Divide ``x`` by the root-mean-square of its entries over ``dims``.

    Returns the rescaled ``x`` and the log of the factors, with the reduced ``dims`` removed.
    An exactly-zero state (e.g. a ReLU feature vector that is all zero) is left as it is, with
    factor 1: the score is then exactly 0 and both values and gradients stay finite. The inner
    ``where`` keeps ``sqrt`` away from 0, whose infinite derivative would otherwise turn the
    masked gradient into NaN.
    """
    mean_square = x.square().mean(dim=dims, keepdim=True)
    nonzero = mean_square > 0
    rms = torch.where(nonzero, mean_square, torch.ones_like(mean_square)).sqrt()
    return x / rms, rms.log().sum(dim=dims)


def _shrink(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Divide each row of ``h`` by ``c = max(rms(row), 1)``; return ``h / c`` and ``log c`` (>= 0)."""
    # Clamp before the square root: sqrt'(0) = inf would turn a zero state's gradient into NaN.
    factor = torch.clamp_min(h.square().mean(dim=1, keepdim=True), 1.0).sqrt()
    return h / factor, factor.log().squeeze(1)


class ScoreNetwork(nn.Module):
    """Base class: ``d`` inputs of size ``m`` -> ``num_classes`` rescaled scores (see module docs)."""

    ONE_INPUT_OK = False  # the tensor networks need d >= 2 inputs; the pool-linear baseline takes 1

    def __init__(self, d: int, m: int, num_classes: int, xi: str = "product"):
        super().__init__()
        _check_sizes(d=d, m=m, num_classes=num_classes, min_d=1 if self.ONE_INPUT_OK else 2)
        self.d, self.m, self.num_classes = d, m, num_classes
        self.xi = _check_xi(xi)
        self.check_finite = True

    def forward(self, features: torch.Tensor, return_log_scale: bool = False):
        """Rescaled scores ``h_y / c`` of shape ``(batch, num_classes)``, and ``log c`` of shape ``(batch,)`` if asked."""
        check_features(features, self.d, self.m, self.check_finite)
        if self.xi == "product":  # the multilinear networks keep their own (rescaled) code path
            logits, log_scale = self._forward(features)
        else:
            logits, log_scale = self._xi_forward(features, xi_function(self.xi))
        return (logits, log_scale) if return_log_scale else logits

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """The unscaled score ``h_y(X) = <A^y, f(x_1) x ... x f(x_d)>`` (overflows for large d)."""
        logits, log_scale = self.forward(features, return_log_scale=True)
        return logits * log_scale.exp().unsqueeze(1)

    def coefficient_tensor(self) -> torch.Tensor:
        """Dense ``A`` of shape ``(num_classes, m, ..., m)``; only for small ``m ** d`` and ``xi = "product"``."""
        _require_product(self, "coefficient_tensor")
        if self.m ** self.d * self.num_classes > 50_000_000:
            raise ValueError(f"the dense coefficient tensor has {self.num_classes} x {self.m}^{self.d} "
                             "entries; too large to form")
        return self._coefficient_tensor()

    def n_parameters(self) -> int:
        return count_parameters(self)

    def _forward(self, features):  # pragma: no cover - abstract
        raise NotImplementedError

    def _coefficient_tensor(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _xi_forward(self, features, xi):  # pragma: no cover - abstract
        """``(logits, log_scale)`` of the generalized network with elementwise ``xi``."""
        raise NotImplementedError


class CPNetwork(ScoreNetwork):
    """Shallow network: ``h_y = sum_rho lambda[rho, y] prod_t <a[t, :, rho], f(x_t)>`` (CP rank ``rank``).

    Parameters ``a`` of shape ``(d, m, rank)`` (one weight vector per position and component,
    as in Cohen et al.'s shallow network with unshared 1x1 convolutions) and ``weights`` of shape
    ``(rank, num_classes)``.

    Initialisation: ``a ~ N(0, 1/m)`` so each ``<a, f>`` has the mean square of the features'
    entries; after rescaling the product has unit-RMS entries, and ``weights ~ N(0, 1/rank)``
    gives logits of variance about 1.
    """

    def __init__(self, d: int, m: int, rank: int, num_classes: int, *, xi: str = "product",
                 device=None, dtype=None):
        super().__init__(d, m, num_classes, xi)
        _check_sizes(rank=rank)
        self.rank = rank
        kw = dict(device=device, dtype=dtype)
        self.a = nn.Parameter(torch.randn(d, m, rank, **kw) / math.sqrt(m))
        self.weights = nn.Parameter(torch.randn(rank, num_classes, **kw) / math.sqrt(rank))

    def _forward(self, features):
        # (d, B, m) @ (d, m, R) -> (d, B, R): all d inner products in one batched matmul.
        z = torch.bmm(features.transpose(0, 1), self.a).transpose(0, 1)  # (B, d, R)
        log_scale = features.new_zeros(features.shape[0])
        # Pairwise tree product over positions, rescaling each node: log2(d) vectorised steps.
        while z.shape[1] > 1:
            carry = z[:, -1:] if z.shape[1] % 2 else None
            z = z[:, 0:-1:2] * z[:, 1::2] if carry is not None else z[:, 0::2] * z[:, 1::2]
            if carry is not None:
                z = torch.cat([z, carry], dim=1)
            z, s = _rescale(z, dims=2)
            log_scale = log_scale + s.sum(1)
        return z[:, 0] @ self.weights, log_scale

    def _coefficient_tensor(self):
        full = self.a[0]  # (m, R)
        for t in range(1, self.d):
            full = (full.unsqueeze(1) * self.a[t].unsqueeze(0)).reshape(-1, self.rank)
        full = full @ self.weights  # (m^d, C)
        return full.T.reshape(self.num_classes, *([self.m] * self.d))

    def _xi_forward(self, features, xi):
        """``h_y = sum_rho weights[rho, y] xi(z_1rho, ..., z_drho)``, ``z_trho = <a[t, :, rho], f(x_t)>``.

        The generalized shallow network: the product over positions becomes an xi-fold (for the
        rectifier ``max(z_1rho, ..., z_drho, 0)``: 1x1 convolution, ReLU, global max pooling).
        """
        z = torch.bmm(features.transpose(0, 1), self.a).transpose(0, 1)  # (B, d, R)
        while z.shape[1] > 1:  # xi is associative: fold neighbours pairwise, log2(d) steps
            odd = z.shape[1] % 2
            folded = xi(z[:, 0:z.shape[1] - odd:2], z[:, 1::2])
            z = torch.cat([folded, z[:, -1:]], dim=1) if odd else folded
        logits = z[:, 0] @ self.weights  # O(1) for the max, O(d) for the sum: no rescaling
        return logits, logits.new_zeros(logits.shape[0])

    def to_cp(self, y: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """CP form of ``A^y``: ``(weights, factors)`` with ``A^y = sum_rho weights[rho] a_1[:, rho] x ... x a_d[:, rho]``.

        ``weights`` has shape ``(rank,)``, each factor ``(m, rank)``; detached copies.
        """
        y = _check_class(y, self.num_classes)
        _require_product(self, "to_cp")
        return self.weights[:, y].detach().clone(), [self.a[t].detach().clone() for t in range(self.d)]

    def to_tensor_train(self, y: int) -> tt.TensorTrain:
        """``A^y`` as a :class:`tt_rnn.tt.TensorTrain` of TT ranks ``<= rank``.

        A CP tensor of rank ``R`` is a TT whose inner cores are diagonal in the rank indices:
        ``G_t[rho, i, rho'] = a_t[i, rho] delta(rho, rho')``; the class weights go into the last core.
        """
        weights, factors = self.to_cp(y)
        cores = [factors[0]]
        for factor in factors[1:-1]:
            cores.append(torch.diag_embed(factor).permute(1, 0, 2))  # (R, m, R), diagonal in rho
        cores.append((factors[-1] * weights).T)  # (R, m)
        return tt.TensorTrain(cores)


class TTNetwork(ScoreNetwork):
    """Recurrent (Tensor-Train) network: ``h_t = G_t(f(x_t), h_{t-1})``, a bilinear map per step.

    Cores: first ``(m, rank)``, inner ``(rank, m, rank)`` — ``d - 2`` distinct ones, or ONE
    shared by every step when ``shared=True`` (the recurrent network with shared weights, whose
    coefficient tensors form :math:`M^{eq}`) — and last ``(rank, m, num_classes)``: the last core
    carries the class outputs, ``A^y = G_1 G_2 ... G_{d-1} G_d[..., y]``.

    Parameters
    ----------
    product : {"sequential", "tree"}
        ``"sequential"``: one step per input. Per step the state ``(B, r)`` meets the core as a
        single matrix product ``(B, r) @ (r, m r)`` and the result ``(B, m, r)`` is contracted
        with the features by a multiply-and-sum over ``m``: ``2 m r^2`` FLOPs per sample and
        step, and no ``(B, r, r)`` matrix per sample and step. Best on CPU.
        ``"tree"``: form all step matrices ``M_t = sum_i f(x_t)[i] G[:, i, :]`` (``(B, d-2, r, r)``)
        and multiply neighbours pairwise in ``ceil(log2 d)`` batched matmuls. It does
        ``r / m`` times more FLOPs but launches ``O(log d)`` kernels instead of ``O(d)``, which
        wins on a GPU for long sequences.

    Initialisation (variance arithmetic): with ``G ~ N(0, 1/(r_in m))`` (``r_in = 1`` for the
    first core) one step gives ``E h'_b^2 = sum_{a,i} E G^2 h_a^2 f_i^2 = ms(h) ms(f)``, where
    ``ms`` is the mean square entry. The state is rescaled to ``ms(h) = 1`` after each step, so
    logits have variance ``ms(f(x_d))`` at initialisation, for any d.
    """

    def __init__(self, d: int, m: int, rank: int, num_classes: int, *, shared: bool = False,
                 product: str = "sequential", xi: str = "product", device=None, dtype=None):
        super().__init__(d, m, num_classes, xi)
        _check_sizes(rank=rank)
        if product not in ("sequential", "tree"):
            raise ValueError(f"product must be 'sequential' or 'tree', got {product!r}")
        if product == "tree" and self.xi != "product":
            raise ValueError(f"product = 'tree' regroups a product of matrices and needs xi = 'product'; "
                             f"got xi = {self.xi!r} (use product = 'sequential')")
        self.rank, self.shared, self.product = rank, bool(shared), product
        kw = dict(device=device, dtype=dtype)
        r = rank
        self.first_core = nn.Parameter(torch.randn(m, r, **kw) / math.sqrt(m))
        n_inner = 1 if shared else d - 2
        self.inner_cores = nn.Parameter(torch.randn(n_inner, r, m, r, **kw) / math.sqrt(r * m))
        self.last_core = nn.Parameter(torch.randn(r, m, num_classes, **kw) / math.sqrt(r * m))

    def inner_core(self, t: int) -> torch.Tensor:
        """The core used at inner step ``t`` (``1 <= t <= d - 2``, 0-based position)."""
        return self.inner_cores[0] if self.shared else self.inner_cores[t - 1]

    def _forward(self, features):
        steps = features.transpose(0, 1)  # (d, B, m): contiguous per-step slices below
        steps = steps.contiguous()
        h = steps[0] @ self.first_core  # (B, r)
        h, log_scale = _rescale(h, dims=1)
        if self.d > 2:
            if self.product == "tree":
                h, s = self._tree_product(h, steps[1:-1])
            else:
                h, s = self._sequential_product(h, steps[1:-1])
            log_scale = log_scale + s
        return self._contract(h, steps[-1], self.last_core.reshape(self.rank, -1)), log_scale

    @staticmethod
    def _contract(h, f, core_matrix):
        """``out[b, c] = sum_{a, i} h[b, a] G[a, i, c] f[b, i]`` with ``core_matrix = G.reshape(r, m * r_out)``.

        One ``(B, r) @ (r, m r_out)`` matmul, then a multiply-and-sum over ``i`` (cheaper on CPU
        than a batched ``(1, m) @ (m, r_out)`` bmm of tiny matrices).
        """
        batch, m = f.shape
        hm = (h @ core_matrix).view(batch, m, -1)
        return (hm * f.unsqueeze(2)).sum(1)

    def _core_matrices(self) -> list:
        """Inner cores as ``(r, m r)`` matrices, split once per forward pass: indexing the stacked
        parameter at every step would make backward write a full-size gradient per step."""
        r = self.rank
        return [core.reshape(r, -1) for core in self.inner_cores.unbind(0)]

    def _sequential_product(self, h, inner_steps):
        """The TT recurrence, one rescaled bilinear step per inner input."""
        log_scale = h.new_zeros(h.shape[0])
        matrices = self._core_matrices()
        for t, f in enumerate(inner_steps):
            core_matrix = matrices[0] if self.shared else matrices[t]
            h, s = _rescale(self._contract(h, f, core_matrix), dims=1)
            log_scale = log_scale + s
        return h, log_scale

    def _tree_product(self, h, inner_steps):
        """``h M_1 M_2 ... M_{d-2}`` with the matrix product taken as a pairwise tree."""
        n_steps, batch, m = inner_steps.shape
        r = self.rank
        cores = self.inner_cores.permute(0, 2, 1, 3).reshape(-1, m, r * r)  # (1 or d-2, m, r*r)
        if self.shared:
            mats = (inner_steps.reshape(-1, m) @ cores[0]).view(n_steps, batch, r, r)
        else:
            mats = torch.bmm(inner_steps, cores).view(n_steps, batch, r, r)
        mats, log_scale = _rescale(mats, dims=(2, 3))
        log_scale = log_scale.sum(0)
        while mats.shape[0] > 1:
            odd = mats.shape[0] % 2
            pairs = mats[0:mats.shape[0] - odd:2] @ mats[1::2]
            mats = torch.cat([pairs, mats[-1:]], 0) if odd else pairs
            mats, s = _rescale(mats, dims=(2, 3))
            log_scale = log_scale + s.sum(0)
        h = torch.bmm(h.unsqueeze(1), mats[0]).squeeze(1)
        h, s = _rescale(h, dims=1)
        return h, log_scale + s

    def _xi_forward(self, features, xi):
        """The generalized recurrence ``h_t[c] = sum_{a, i} G_t[a, i, c] xi(h_{t-1}[a], f(x_t)[i])``.

        Khrulkov, Hrinchuk, Oseledets (2019), Sec. 4: the bilinear step with every product of a
        state entry and a feature entry replaced by xi. The start state ``h_0`` (one entry) is the
        neutral element of xi on non-negative numbers (``_XI_INITIAL_STATE``), so
        ``h_1 = xi(h_0, f(x_1)) @ G_1``.

        Growth: with one shared core the rectifier state can grow geometrically (for large
        ``h`` the step is ``h -> W relu(h)``, ``W = sum_i G[:, i, :]``) and overflows float32 by
        ``d = 784``. Both rectifiers are positively homogeneous, ``xi(c x, c y) = c xi(x, y)`` for
        ``c > 0``, so the state may be divided by ``c >= 1`` if the features still to come are
        divided by the same ``c``: the logits are ``h_y / c(X)`` with ``log c`` returned, as for
        the product networks. ``c`` only ever divides (states of RMS <= 1 are left alone), so
        ``c = 1`` and the logits are the exact scores whenever the state stays O(1).
        """
        if self.xi == "product":
            raise ValueError("the product network uses TTNetwork._forward")
        steps = features.transpose(0, 1)  # (d, B, m)
        start = steps.new_full((), _XI_INITIAL_STATE[self.xi])
        h, log_scale = _shrink(xi(start, steps[0]) @ self.first_core)  # (B, r)
        matrices = self._core_matrices()
        batch = features.shape[0]
        for t in range(1, self.d):
            f = steps[t] * torch.exp(-log_scale).unsqueeze(1)  # the features at the state's scale
            pairs = xi(h.unsqueeze(2), f.unsqueeze(1)).reshape(batch, -1)  # xi(h[a], f[i]), (B, r m)
            if t == self.d - 1:
                return pairs @ self.last_core.reshape(-1, self.num_classes), log_scale
            core_matrix = matrices[0] if self.shared else matrices[t - 1]  # (r, m r)
            h, s = _shrink(pairs @ core_matrix.view(-1, self.rank))
            log_scale = log_scale + s

    def _coefficient_tensor(self):
        # All classes at once: the last core as an (r, m * C) matrix is a TT core with mode m * C.
        cores = [self.first_core] + [self.inner_core(t) for t in range(1, self.d - 1)] \
            + [self.last_core.reshape(self.rank, -1)]
        full = tt.tt_to_tensor(cores).reshape(-1, self.num_classes)  # (m^d, C)
        return full.T.reshape(self.num_classes, *([self.m] * self.d))

    def to_tensor_train(self, y: int) -> tt.TensorTrain:
        """The coefficient tensor ``A^y`` of class ``y`` as a :class:`tt_rnn.tt.TensorTrain`.

        Cores (detached copies, in :mod:`tt_rnn.tt`'s layout): first ``(m, r)``, ``d - 2`` inner
        ``(r, m, r)`` — for a shared network the one shared core repeated, and the train is
        marked ``shared=True`` — and last ``G_d[:, :, y]`` of shape ``(r, m)``. Only meaningful
        for ``xi="product"`` (a generalized network has no multilinear coefficient tensor).
        """
        y = _check_class(y, self.num_classes)
        _require_product(self, "to_tensor_train")
        inner = [self.inner_core(t).detach().clone() for t in range(1, self.d - 1)]
        if self.shared and inner:
            inner = [inner[0]] * len(inner)
        cores = [self.first_core.detach().clone()] + inner + [self.last_core[:, :, y].detach().clone()]
        return tt.TensorTrain(cores, shared=self.shared)


class HTNetwork(ScoreNetwork):
    """Deep convolutional arithmetic circuit (Cohen et al. 2016): a Hierarchical Tucker tree.

    Level 0 maps each input to ``rank`` channels, ``u_t = f(x_t) @ W0[t]`` (``W0: (d, m, rank)``,
    unshared per position). Each of the ``log2(d) - 1`` hidden levels multiplies neighbouring
    nodes channel-wise (product pooling of size 2) and mixes channels with a per-node
    ``(rank, rank)`` matrix; the top level multiplies the last two nodes and maps ``rank`` channels
    to ``num_classes`` scores. This is the HT format with a CP-form transfer at every node.

    ``d`` must be a power of two (no padding: a padded input would change the function class).

    Initialisation: ``W0 ~ N(0, 1/m)``, hidden ``N(0, 1/rank)``, top ``N(0, 1/rank)``; nodes are
    rescaled to unit RMS after every product, so logits have variance about 1 at any depth.
    """

    def __init__(self, d: int, m: int, rank: int, num_classes: int, *, xi: str = "product",
                 device=None, dtype=None):
        super().__init__(d, m, num_classes, xi)
        _check_sizes(rank=rank)
        if d & (d - 1):
            raise ValueError(f"HTNetwork needs d to be a power of two, got d = {d}")
        self.rank = rank
        kw = dict(device=device, dtype=dtype)
        self.levels = int(math.log2(d))
        self.input_weights = nn.Parameter(torch.randn(d, m, rank, **kw) / math.sqrt(m))
        self.hidden_weights = nn.ParameterList([
            nn.Parameter(torch.randn(d >> level, rank, rank, **kw) / math.sqrt(rank))
            for level in range(1, self.levels)])
        self.top_weights = nn.Parameter(torch.randn(rank, num_classes, **kw) / math.sqrt(rank))

    def _forward(self, features):
        u = torch.bmm(features.transpose(0, 1), self.input_weights)  # (d, B, r)
        u, log_scale = _rescale(u, dims=2)
        log_scale = log_scale.sum(0)
        for weights in self.hidden_weights:
            u = torch.bmm(u[0::2] * u[1::2], weights)  # pool pairs, then mix channels per node
            u, s = _rescale(u, dims=2)
            log_scale = log_scale + s.sum(0)
        pooled = u[0] * u[1]
        pooled, s = _rescale(pooled, dims=1)
        return pooled @ self.top_weights, log_scale + s

    def _xi_forward(self, features, xi):
        """Generalized HT (Cohen & Shashua 2016): product pooling of two children replaced by xi.

        For the rectifier, ``max(u_left, u_right, 0)``: ReLU followed by size-2 max pooling.
        """
        u = torch.bmm(features.transpose(0, 1), self.input_weights)  # (d, B, r)
        for weights in self.hidden_weights:  # log2(d) levels: growth at most geometric in log d
            u = torch.bmm(xi(u[0::2], u[1::2]), weights)
        logits = xi(u[0], u[1]) @ self.top_weights
        return logits, logits.new_zeros(logits.shape[0])

    def _coefficient_tensor(self):
        # nodes[j][alpha] is a tensor over the modes below node j, built bottom-up.
        nodes = [self.input_weights[t].T for t in range(self.d)]  # each (r, m)
        for weights in list(self.hidden_weights) + [None]:
            paired = [(left.unsqueeze(2) * right.unsqueeze(1)).reshape(self.rank, -1)
                      for left, right in zip(nodes[0::2], nodes[1::2])]
            if weights is None:
                nodes = paired
                break
            nodes = [weights[j].T @ node for j, node in enumerate(paired)]
        full = self.top_weights.T @ nodes[0]  # (C, m^d)
        return full.reshape(self.num_classes, *([self.m] * self.d))


class ScoreClassifier(nn.Module):
    """``images -> feature_map -> (batch, d, m) -> score network -> logits``."""

    def __init__(self, feature_map: nn.Module, network: ScoreNetwork):
        super().__init__()
        self.feature_map, self.network = feature_map, network

    def forward(self, images: torch.Tensor, return_log_scale: bool = False):
        return self.network(self.feature_map(images), return_log_scale=return_log_scale)


class PoolLinearNetwork(ScoreNetwork):
    """Baseline without multiplicative interactions: ``h_y = <w_y, (1/d) sum_t f(x_t)> + b_y``.

    Average pooling of the patch features and a linear classifier: what the same feature map
    achieves when the patches only add up. (With a constant feature, its coefficient tensor is a
    sum of ``d`` rank-one terms: it is the degree-one part of every score function above.)
    ``rank`` is accepted for a uniform signature and not used; ``d = 1`` is allowed (a standard
    CNN on the whole image, :class:`tt_rnn.features.CNNFeatures`, followed by a linear layer).
    """

    ONE_INPUT_OK = True

    def __init__(self, d: int, m: int, rank: int, num_classes: int, *, xi: str = "product", device=None, dtype=None):
        super().__init__(d, m, num_classes, xi)
        if self.xi != "product":
            raise ValueError(f"xi = {xi!r}: the pool-linear baseline has no generalized product; use xi = 'product'")
        self.rank = rank
        self.linear = nn.Linear(m, num_classes, device=device, dtype=dtype)

    def _forward(self, features):
        return self.linear(features.mean(dim=1)), features.new_zeros(features.shape[0])

    def _coefficient_tensor(self):
        raise ValueError("the pool-linear baseline is affine in the features, not multilinear: it has no "
                         "coefficient tensor of order d")


NETWORK_KINDS = ("cp", "tt", "tt-shared", "ht", "pool-linear")


def make_network(kind: str, d: int, m: int, rank: int, num_classes: int, **kwargs) -> ScoreNetwork:
    """Build a network by name: ``"cp"``, ``"tt"`` (distinct cores), ``"tt-shared"``, ``"ht"``, or the
    baseline ``"pool-linear"`` (:class:`PoolLinearNetwork`).

    Keyword arguments go to the class, e.g. ``xi="rectifier"`` (one of :data:`XI_KINDS`).
    """
    if kind == "cp":
        return CPNetwork(d, m, rank, num_classes, **kwargs)
    if kind == "tt":
        return TTNetwork(d, m, rank, num_classes, shared=False, **kwargs)
    if kind == "tt-shared":
        return TTNetwork(d, m, rank, num_classes, shared=True, **kwargs)
    if kind == "ht":
        return HTNetwork(d, m, rank, num_classes, **kwargs)
    if kind == "pool-linear":
        return PoolLinearNetwork(d, m, rank, num_classes, **kwargs)
    raise ValueError(f"unknown network kind {kind!r}; choose one of {NETWORK_KINDS}")
