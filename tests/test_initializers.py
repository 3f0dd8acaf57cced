"""Near-identity initialisation (tt_rnn.initializers): scale of the logits and of the per-sample
log-scale at d = 16 and long sequences, exact values without noise, 'random' is a no-op."""

from __future__ import annotations

import pytest
import torch

from tt_rnn.initializers import INIT_SCHEMES, initialize
from tt_rnn.networks import make_network
from tt_rnn.train import TrainConfig, build_model

KINDS = ("cp", "tt", "tt-shared", "ht")


def features_with_constant(batch: int, d: int, m: int, seed: int = 0) -> torch.Tensor:
    """ReLU features (mean square about 1/2) with the constant 1 as the last feature."""
    g = torch.Generator().manual_seed(seed)
    learned = torch.relu(torch.randn(batch, d, m - 1, generator=g))
    return torch.cat([learned, torch.ones(batch, d, 1)], dim=-1)


def build(kind: str, d: int, m: int = 16, rank: int = 8, seed: int = 0):
    torch.manual_seed(seed)
    return make_network(kind, d, m, rank, 10)


@pytest.mark.parametrize("kind", KINDS)
def test_random_scheme_leaves_parameters_bit_identical_and_draws_nothing(kind):
    net = build(kind, 16)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    assert initialize(net, "random") is net
    assert torch.equal(rng, torch.get_rng_state())
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
    # and build_model with the default config is the classic model, draw for draw
    torch.manual_seed(3)
    model = build_model(TrainConfig(model=kind, rank=4, m=8, features="linear"), 1, 10)
    torch.manual_seed(3)
    again = build_model(TrainConfig(model=kind, rank=4, m=8, features="linear", init="random"), 1, 10)
    for (key, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), key


@pytest.mark.parametrize("scheme", ["Identity", "", "xavier"])
def test_bad_scheme_names_the_value(scheme):
    with pytest.raises(ValueError, match=f"init scheme '{scheme}' is not one of random, identity"):
        initialize(build("cp", 4), scheme)
    with pytest.raises(ValueError, match=f"init = '{scheme}' is not one of"):
        TrainConfig(init=scheme).validate()
    assert INIT_SCHEMES == ("random", "identity")


def test_bad_arguments():
    with pytest.raises(ValueError, match="noise = -1"):
        initialize(build("tt", 4), "identity", noise=-1)
    with pytest.raises(TypeError, match="got Linear"):
        initialize(torch.nn.Linear(2, 2), "identity")
    with pytest.raises(ValueError, match="constant_feature"):
        TrainConfig(init="identity").validate()  # identity reads the constant feature
    with pytest.raises(ValueError, match="init_noise = -0.5"):
        TrainConfig(init="identity", constant_feature=True, init_noise=-0.5).validate()


@pytest.mark.parametrize("kind", KINDS)
def test_without_noise_the_network_is_the_identity_on_the_constant(kind):
    d, m, rank = 8, 5, 3
    net = initialize(build(kind, d, m, rank), "identity", noise=0.0)
    f = features_with_constant(4, d, m)
    score = net.score(f)
    if kind == "tt" or kind == "tt-shared":
        # state = all-ones after every step; the last core reads the last input
        expected = torch.einsum("bi,aic->bc", f[:, -1], net.last_core)
    elif kind == "cp":
        expected = net.weights.sum(0).expand(4, -1)  # every factor is exactly 1
    else:
        expected = net.top_weights.sum(0).expand(4, -1)
    torch.testing.assert_close(score, expected)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("d", [16, 196])
def test_identity_keeps_logits_and_log_scale_of_order_one(kind, d):
    if kind == "ht" and d == 196:
        d = 256  # HT needs a power of two
    m, rank = 16, 16
    f = features_with_constant(64, d, m)
    logits, log_scale = {}, {}
    for scheme in INIT_SCHEMES:
        net = initialize(build(kind, d, m, rank), scheme, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            logits[scheme], log_scale[scheme] = net(f, return_log_scale=True)
    # identity: log c(X) = log of the product's rescaling, O(noise^2 ms(f)) for any d (module docs)
    assert log_scale["identity"].abs().mean() < 1.0, log_scale["identity"]
    assert log_scale["identity"].abs().max() < 2.0, log_scale["identity"]
    assert log_scale["identity"].std() < 0.5
    # random: the log-scale grows with d (the product of d zero-mean factors shrinks)
    assert log_scale["random"].abs().mean() > 0.2 * d
    rms = logits["identity"].square().mean().sqrt()
    assert 0.2 < rms < 3, rms
    # the logits depend on the sample (the constant does not swallow the inputs)
    assert logits["identity"].std(0).mean() > 0.1


@pytest.mark.parametrize("d", [16, 196])
def test_identity_gives_every_cp_component_a_gradient(d):
    # at random initialisation a few components dominate and the others get a vanishing gradient
    m, rank = 16, 32
    f = features_with_constant(64, d, m)
    y = torch.arange(64) % 10
    spread = {}
    for scheme in INIT_SCHEMES:
        net = initialize(build("cp", d, m, rank), scheme, generator=torch.Generator().manual_seed(1))
        torch.nn.functional.cross_entropy(net(f), y).backward()
        per_component = net.a.grad.square().sum((0, 1)).sqrt()
        spread[scheme] = float(per_component.max() / per_component.min())
    assert spread["identity"] < 20, spread
    assert spread["random"] > 10 * spread["identity"], spread


def test_build_model_identity_is_seeded_and_uses_the_constant_feature():
    cfg = TrainConfig(model="tt-shared", rank=4, m=8, features="mlp", hidden=16, patch_size=7,
                      init="identity", constant_feature=True, seed=5, dropout=0.5)
    a, b = build_model(cfg, 1, 10), build_model(cfg, 1, 10)
    torch.testing.assert_close(a.network.inner_cores, b.network.inner_cores, rtol=0, atol=0)
    c = build_model(cfg.replace(seed=6), 1, 10)
    assert not torch.equal(a.network.inner_cores, c.network.inner_cores)
    eye = torch.eye(4)
    assert (a.network.inner_cores[0, :, 7, :] - eye).abs().max() < 0.5
    a.train()
    feats = a.feature_map(torch.randn(3, 1, 28, 28))
    assert feats.shape == (3, 16, 8) and torch.equal(feats[..., -1], torch.ones(3, 16))
    with torch.no_grad():
        logits, log_scale = a(torch.randn(3, 1, 28, 28), return_log_scale=True)
    assert torch.isfinite(logits).all() and log_scale.abs().max() < 2.0
    # init_noise scales the perturbation; 0 gives the exact identity on the shared core
    exact = build_model(cfg.replace(init_noise=0.0), 1, 10)
    assert torch.equal(exact.network.inner_cores[0, :, 7, :], eye)
