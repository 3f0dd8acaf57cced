"""Initialisation schemes for the score networks, applied from outside to a built network.

``initialize(network, "identity")`` overwrites the parameters of a :class:`~tt_rnn.networks.CPNetwork`,
:class:`~tt_rnn.networks.TTNetwork` (distinct or shared inner core) or
:class:`~tt_rnn.networks.HTNetwork` in place so that, at initialisation, the network computes a
small perturbation of the constant function: every factor of the product reads the constant
feature ``f[m-1] = 1`` (see ``constant_feature`` in :mod:`tt_rnn.features`) with weight 1, and every
recurrent / mixing matrix is the identity. ``"random"`` leaves the constructor's initialisation
(documented on each class) untouched.

Why
---
The score ``h_y = sum A^y[i_1..i_d] f_1[i_1] ... f_d[i_d]`` is a product of ``d`` factors. At a random
initialisation each factor (``<a, f>`` for CP, one step matrix for TT) is a zero-mean random variable,
so the product of ``d`` of them has a log-normal-like spread whose variance grows linearly in ``d``: a
few rank components (or state directions) dominate every sample and the gradient of the others
is exponentially small. This is the difficulty of training products of many factors, addressed
for matrix-product-state classifiers by starting near the identity (Stoudenmire & Schwab 2016;
Novikov, Trofimov & Oseledets 2016, "Exponential machines"). Near the identity, every factor is
``1 + O(noise / sqrt(d))``, the product is ``O(1)`` for any ``d``, and the gradient of each factor is
``f_t`` times a product of near-one terms: every component learns from the first step.

Variance arithmetic (``ms(f)``: mean square entry of a feature vector, the constant included)
---------------------------------------------------------------------------------------------
* CP, ``a[t, :, rho] = e_{m-1} + eps``, ``eps ~ N(0, noise^2 / (d m))``:
  ``<a, f> = 1 + <eps, f>`` with ``E <eps, f>^2 = noise^2 ms(f) / d``. The ``d`` perturbations are
  independent, so ``log prod_t <a_t, f_t>`` has variance about ``noise^2 ms(f)``, whatever ``d``.
* TT, distinct cores: ``G[:, m-1, :] = I + eps``, other slices ``eps``, ``eps ~ N(0, noise^2 / (d r m))``.
  The step matrix is ``M_t = I + E_t`` with ``E_t = sum_i f_i eps[:, i, :]``, so
  ``E |h E_t|^2 / |h|^2 = r m ms(f) noise^2 / (d r m) = noise^2 ms(f) / d``; over ``d`` independent
  steps the state moves by a relative amount of variance about ``noise^2 ms(f)``.
  Shared core: the same ``eps`` at every step adds coherently (``sum_t E_t = E(sum_t f_t)``,
  ``|sum_t f_t|^2 <= d^2 ms(f) m``), so its noise is ``N(0, noise^2 / (d^2 r m))``: the same bound.
  The first core maps the constant to the all-ones state (``first_core[m-1, :] = 1``, unit RMS) plus
  ``N(0, noise^2 / (d m))`` on every row.
* HT: input weights like CP's factors (``e_{m-1} + N(0, noise^2 / (d m))``), hidden mixing matrices
  ``I + N(0, noise^2 / (d r))``: level ``l`` has ``d / 2^l`` nodes, each moving the product by a
  relative amount of variance ``noise^2 / d``, in total at most ``noise^2 sum_l 2^-l <= noise^2``.
* Output layers keep a standard scale: CP ``weights`` and HT ``top_weights`` ``N(0, 1/r)``, the TT last
  core ``N(0, 1/(r m))``, so the logits have variance about ``ms(f)`` (TT) or 1 (CP, HT) at initialisation,
  and the per-sample log-scale ``log c(X)`` of the rescaled networks is close to 0 instead of growing
  like ``d``.

References
----------
.. [1] E. M. Stoudenmire, D. J. Schwab, "Supervised learning with tensor networks", NeurIPS 2016.
.. [2] A. Novikov, M. Trofimov, I. Oseledets, "Exponential machines", arXiv:1605.03795 (2016).
"""

from __future__ import annotations

import math

import torch

from .networks import CPNetwork, HTNetwork, ScoreNetwork, TTNetwork

__all__ = ["INIT_SCHEMES", "DEFAULT_NOISE", "initialize"]

INIT_SCHEMES = ("random", "identity")
DEFAULT_NOISE = 1.0  # std of the log-product's perturbation per unit ms(f) (module docs)


def _normal(shape, std: float, generator, like: torch.Tensor) -> torch.Tensor:
    # drawn on the CPU from the given generator (reproducible on any device), then moved
    return (torch.randn(*shape, generator=generator) * std).to(device=like.device, dtype=like.dtype)


def _eye_plus(n_copies: int, r: int, std: float, generator, like: torch.Tensor) -> torch.Tensor:
    eye = torch.eye(r).expand(n_copies, r, r).to(device=like.device, dtype=like.dtype)
    return eye + _normal((n_copies, r, r), std, generator, like)


def _constant_picker(d: int, m: int, r: int, std: float, generator, like: torch.Tensor) -> torch.Tensor:
    """``(d, m, r)`` weights ``e_{m-1} + N(0, std^2)``: each ``<w[t, :, rho], f>`` is ``1 + small``."""
    w = _normal((d, m, r), std, generator, like)
    w[:, m - 1, :] += 1.0
    return w


def initialize(network: ScoreNetwork, scheme: str = "identity", *, noise: float = DEFAULT_NOISE,
               generator: torch.Generator | None = None) -> ScoreNetwork:
    """Overwrite the parameters of ``network`` in place by ``scheme``; return the network.

    Parameters
    ----------
    network : CPNetwork, TTNetwork or HTNetwork
        A built network with the classic product (``xi = "product"``).
    scheme : {"random", "identity"}
        ``"random"``: leave the constructor's initialisation (nothing is drawn, the parameters
        stay bit-identical). ``"identity"``: near-identity initialisation, which assumes that
        the LAST feature ``f[m-1]`` is the constant 1 (``constant_feature=True`` in
        :func:`tt_rnn.features.make_feature_map`); see the module docs for the variance arithmetic.
    noise : float
        Scale of the symmetry-breaking perturbation (``>= 0``): the log of the score moves by a
        relative amount of standard deviation about ``noise * sqrt(ms(f))``, independently of ``d``.
    generator : torch.Generator, optional
        Source of the perturbation (drawn on the CPU); default: the global torch RNG.

    Raises
    ------
    ValueError
        For an unknown ``scheme`` (naming it), a negative ``noise``, or a network whose
        generalized product is not the classic one (the identity has no meaning there).
    TypeError
        For an object that is not one of the three networks.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init scheme {scheme!r} is not one of {', '.join(INIT_SCHEMES)}")
    if not isinstance(network, ScoreNetwork) or not isinstance(network, (CPNetwork, TTNetwork, HTNetwork)):
        raise TypeError(f"initialize expects a CPNetwork, TTNetwork or HTNetwork, got {type(network).__name__}")
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise = {noise!r}: must be a finite number >= 0")
    if scheme == "random":
        return network
    xi = getattr(network, "xi", "product")
    if xi != "product":
        raise ValueError(f"init 'identity' is defined for the classic product only, got xi = {xi!r}; "
                         "use init 'random' with a generalized product")
    d, m, r = network.d, network.m, network.rank
    with torch.no_grad():
        if isinstance(network, CPNetwork):
            network.a.copy_(_constant_picker(d, m, r, noise / math.sqrt(d * m), generator, network.a))
            network.weights.copy_(_normal(network.weights.shape, 1 / math.sqrt(r), generator, network.weights))
        elif isinstance(network, TTNetwork):
            first = _normal((m, r), noise / math.sqrt(d * m), generator, network.first_core)
            first[m - 1, :] += 1.0
            network.first_core.copy_(first)
            n_inner = network.inner_cores.shape[0]
            coherent = d if network.shared else math.sqrt(d)  # a shared core's noise adds up coherently
            inner = _normal((n_inner, r, m, r), noise / (coherent * math.sqrt(r * m)), generator,
                            network.inner_cores)
            inner[:, :, m - 1, :] += torch.eye(r, dtype=inner.dtype, device=inner.device)
            network.inner_cores.copy_(inner)
            network.last_core.copy_(_normal(network.last_core.shape, 1 / math.sqrt(r * m), generator,
                                            network.last_core))
        else:  # HTNetwork
            network.input_weights.copy_(_constant_picker(d, m, r, noise / math.sqrt(d * m), generator,
                                                         network.input_weights))
            for weights in network.hidden_weights:
                weights.copy_(_eye_plus(weights.shape[0], r, noise / math.sqrt(d * r), generator, weights))
            network.top_weights.copy_(_normal(network.top_weights.shape, 1 / math.sqrt(r), generator,
                                              network.top_weights))
    return network
