"""Tests of the score-function networks (tt_rnn.networks) and the per-patch feature maps."""

import itertools
import string

import numpy as np
import pytest
import torch

from tt_rnn.features import (ConvPatchFeatures, LinearReLUFeatures, extract_patches,
                             make_feature_map)
from tt_rnn.networks import (XI_KINDS, CPNetwork, HTNetwork, ScoreClassifier, TTNetwork,
                             count_parameters, make_network)

# (kind, extra kwargs): every network variant, both TT products.
VARIANTS = [("cp", {}), ("tt", {}), ("tt", {"product": "tree"}), ("tt-shared", {}),
            ("tt-shared", {"product": "tree"}), ("ht", {})]
IDS = ["cp", "tt-seq", "tt-tree", "tt-shared-seq", "tt-shared-tree", "ht"]


def _dense_score(coefficients, features):
    """<A^y, f_1 x ... x f_d> by einsum, the definition of the score function."""
    d = features.shape[1]
    letters = string.ascii_lowercase[:d]
    spec = "y" + letters + "," + ",".join(f"z{c}" for c in letters) + "->zy"
    return torch.einsum(spec, coefficients, *[features[:, t] for t in range(d)])


# HT needs a power-of-two d: those cases are not generated rather than skipped
DENSE_CASES = [pytest.param(kind, kwargs, d, id=f"{name}-d{d}") for (kind, kwargs), name in zip(VARIANTS, IDS)
               for d in (2, 3, 4, 5, 8) if kind != "ht" or not d & (d - 1)]


@pytest.mark.parametrize("kind, kwargs, d", DENSE_CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_score_equals_dense_coefficient_tensor(kind, kwargs, d, dtype):
    torch.manual_seed(d)
    m = 3 if d < 8 else 2
    net = make_network(kind, d, m, 4, 3, dtype=dtype, **kwargs)
    features = torch.randn(6, d, m, dtype=dtype)
    with torch.no_grad():
        expected = _dense_score(net.coefficient_tensor().double(), features.double())
        got = net.score(features).double()
    assert got.dtype == torch.float64
    assert net.coefficient_tensor().shape == (3,) + (m,) * d
    relative = (got - expected).abs().max() / expected.abs().max()
    assert relative < 1e-5, relative


@pytest.mark.parametrize("kind, kwargs", VARIANTS, ids=IDS)
def test_logits_are_scores_over_a_positive_per_sample_factor(kind, kwargs):
    torch.manual_seed(0)
    net = make_network(kind, 8, 3, 4, 5, dtype=torch.float64, **kwargs)
    features = torch.randn(7, 8, 3, dtype=torch.float64)
    logits, log_scale = net(features, return_log_scale=True)
    scores = net.score(features)
    ratio = scores / logits
    torch.testing.assert_close(ratio, log_scale.exp().unsqueeze(1).expand_as(ratio))
    assert torch.equal(scores.argmax(1), logits.argmax(1))


@pytest.mark.parametrize("kind, kwargs", VARIANTS, ids=IDS)
def test_every_input_changes_the_output(kind, kwargs):
    """Earlier public code fed patch 0 twice and never used another: guard against that."""
    torch.manual_seed(1)
    d = 16
    net = make_network(kind, d, 4, 6, 3, dtype=torch.float64, **kwargs)
    features = torch.randn(2, d, 4, dtype=torch.float64)
    with torch.no_grad():
        base = net.score(features)
        for t in range(d):
            changed = features.clone()
            changed[:, t] = torch.randn(2, 4, dtype=torch.float64)
            diff = (net.score(changed) - base).abs().max() / base.abs().max()
            assert diff > 1e-6, f"{kind}: input {t} does not affect the output"


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("d", [3, 4, 7, 16, 33])
def test_tree_product_equals_sequential(shared, d):
    torch.manual_seed(d)
    seq = TTNetwork(d, 5, 6, 4, shared=shared, dtype=torch.float64)
    tree = TTNetwork(d, 5, 6, 4, shared=shared, product="tree", dtype=torch.float64)
    tree.load_state_dict(seq.state_dict())
    features = torch.randn(9, d, 5, dtype=torch.float64)
    torch.testing.assert_close(tree.score(features), seq.score(features), rtol=1e-9, atol=0)


def test_parameter_counts():
    d, m, r, c = 10, 4, 5, 3
    assert count_parameters(CPNetwork(d, m, r, c)) == d * m * r + r * c
    assert count_parameters(TTNetwork(d, m, r, c)) == m * r + (d - 2) * r * m * r + r * m * c
    assert count_parameters(TTNetwork(d, m, r, c, shared=True)) == m * r + r * m * r + r * m * c
    assert count_parameters(HTNetwork(8, m, r, c)) == 8 * m * r + (4 + 2) * r * r + r * c
    # The recurrent network's size does not depend on the sequence length.
    counts = {TTNetwork(d, m, r, c, shared=True).n_parameters() for d in (3, 16, 196, 784)}
    assert len(counts) == 1


@pytest.mark.parametrize("kind, kwargs", VARIANTS, ids=IDS)
def test_long_sequences_stay_finite_in_float32(kind, kwargs):
    """d = 784 (1x1 patches of MNIST): forward and backward finite at random init, float32."""
    torch.manual_seed(0)
    d = 1024 if kind == "ht" else 784
    m = 4
    net = make_network(kind, d, m, 8, 10, **kwargs)
    features = torch.rand(4, d, m)  # non-negative, like ReLU features
    features[1, 100] = 0.0  # an all-zero feature vector: the score is exactly 0
    logits, log_scale = net(features, return_log_scale=True)
    assert torch.isfinite(logits).all() and torch.isfinite(log_scale).all()
    assert log_scale[0].abs() > 50, "the unscaled score would over/underflow float32 here"
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    for name, p in net.named_parameters():
        assert torch.isfinite(p.grad).all(), name


def test_mnist_pixels_as_784_inputs_train_step_is_finite():
    """1x1 patches of a real-looking image through the shared feature map and a TT net."""
    torch.manual_seed(0)
    images = (torch.rand(8, 1, 28, 28) > 0.8).float()  # mostly zero, like MNIST
    model = ScoreClassifier(LinearReLUFeatures(1, 1, 4), TTNetwork(784, 4, 16, 10, shared=True))
    loss = torch.nn.functional.cross_entropy(model(images), torch.arange(8))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
@pytest.mark.parametrize("kind, kwargs", VARIANTS, ids=IDS)
def test_cuda_matches_cpu(kind, kwargs):
    torch.manual_seed(0)
    net = make_network(kind, 16, 4, 8, 3, dtype=torch.float64, **kwargs)
    features = torch.randn(5, 16, 4, dtype=torch.float64)
    expected = net(features)
    got = net.to("cuda")(features.to("cuda")).cpu()
    torch.testing.assert_close(got, expected)


# ---------------------------------------------------------------------------------------------
# Feature maps
# ---------------------------------------------------------------------------------------------

def test_extract_patches_is_row_major():
    images = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)
    patches = extract_patches(images, 2)  # d = 2 x 3 patches of 2 channels x 2 x 2
    assert patches.shape == (1, 6, 8)
    for t, (row, col) in enumerate(itertools.product(range(2), range(3))):
        expected = images[0, :, 2 * row:2 * row + 2, 2 * col:2 * col + 2].reshape(-1)
        assert torch.equal(patches[0, t], expected)


def test_linear_relu_features_apply_one_affine_map_per_patch():
    torch.manual_seed(0)
    fmap = LinearReLUFeatures(4, 3, 5)
    images = torch.randn(2, 3, 8, 12)
    patches = extract_patches(images, 4)
    weight = fmap.conv.weight.reshape(5, -1)
    expected = torch.relu(patches @ weight.T + fmap.conv.bias)
    torch.testing.assert_close(fmap(images), expected)


@pytest.mark.parametrize("kind", ["linear", "conv", "mlp"])
def test_feature_maps_act_on_each_patch_alone(kind):
    torch.manual_seed(0)
    fmap = make_feature_map(kind, 4, 3, 6).eval()
    images = torch.randn(2, 3, 8, 8)
    base = fmap(images)
    changed = images.clone()
    changed[:, :, 4:8, 0:4] += 1.0  # patch t = 2 (second row, first column)
    diff = (fmap(changed) - base).abs().amax(dim=(0, 2))
    assert diff[2] > 0 and torch.all(diff[[0, 1, 3]] == 0)


def test_same_feature_map_feeds_every_network():
    fmap = ConvPatchFeatures(7, 1, 8)
    images = torch.randn(3, 1, 28, 28)
    for kind in ("cp", "tt", "tt-shared", "ht"):
        model = ScoreClassifier(fmap, make_network(kind, 16, 8, 4, 10))
        assert model(images).shape == (3, 10)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, kwargs", VARIANTS, ids=IDS)
def test_bad_features_raise_clear_errors(kind, kwargs):
    net = make_network(kind, 4, 3, 2, 2, **kwargs)
    with pytest.raises(ValueError, match=r"d = 4 inputs.*d = 5"):
        net(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match=r"m = 3.*m = 2"):
        net(torch.randn(2, 4, 2))
    with pytest.raises(ValueError, match=r"shape \(batch, d, m\)"):
        net(torch.randn(4, 3))
    with pytest.raises(ValueError, match="2 non-finite"):
        bad = torch.randn(2, 4, 3)
        bad[0, 1, 2], bad[1, 0, 0] = float("nan"), float("inf")
        net(bad)
    with pytest.raises(TypeError, match="floating"):
        net(torch.ones(2, 4, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        net([[0.0] * 3] * 4)


@pytest.mark.parametrize("args, error, message", [
    (("tt", 1, 3, 2, 2), ValueError, "d must be >= 2"),
    (("tt", 4, 3, 0, 2), ValueError, "rank must be >= 1"),
    (("cp", 4, 0, 2, 2), ValueError, "m must be >= 1"),
    (("ht", 6, 3, 2, 2), ValueError, "power of two, got d = 6"),
    (("rnn", 4, 3, 2, 2), ValueError, "unknown network kind 'rnn'"),
    (("tt", 4.0, 3, 2, 2), TypeError, "d must be an int"),
])
def test_bad_network_arguments(args, error, message):
    with pytest.raises(error, match=message):
        make_network(*args)


def test_bad_product_and_images():
    with pytest.raises(ValueError, match="product must be"):
        TTNetwork(4, 3, 2, 2, product="parallel")
    with pytest.raises(ValueError, match="not divisible by patch_size = 5"):
        extract_patches(torch.randn(1, 1, 28, 28), 5)
    with pytest.raises(ValueError, match="expected 3 channels"):
        LinearReLUFeatures(4, 3, 5)(torch.randn(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"shape \(batch, C, H, W\)"):
        extract_patches(torch.randn(28, 28), 4)


# ---------------------------------------------------------------------------------------------
# Architecture bridge: networks -> TensorTrain / CP factors -> rank tools
# ---------------------------------------------------------------------------------------------

def _train_a_few_steps(net, steps=5, seed=0):
    torch.manual_seed(seed)
    features = torch.randn(16, net.d, net.m, dtype=torch.float64)
    labels = torch.randint(0, net.num_classes, (16,))
    optimiser = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(steps):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(net(features), labels).backward()
        optimiser.step()
    return net


@pytest.mark.parametrize("kind", ["tt", "tt-shared", "cp"])
@pytest.mark.parametrize("d", [2, 3, 4, 6])
def test_to_tensor_train_equals_coefficient_tensor(kind, d):
    torch.manual_seed(d)
    net = _train_a_few_steps(make_network(kind, d, 3, 2, 3, dtype=torch.float64))
    dense = net.coefficient_tensor().detach()
    for y in range(3):
        train = net.to_tensor_train(y)
        assert train.shape == (3,) * d
        assert max(train.ranks) <= 2
        torch.testing.assert_close(train.to_tensor(), dense[y], rtol=1e-12, atol=1e-14)
    if kind == "tt-shared" and d > 3:
        assert train.shared and train.cores[1] is train.cores[2]


def test_cp_factors_rebuild_the_coefficient_tensor():
    torch.manual_seed(0)
    net = _train_a_few_steps(make_network("cp", 4, 3, 2, 2, dtype=torch.float64))
    weights, factors = net.to_cp(1)
    rebuilt = torch.einsum("r,ir,jr,kr,lr->ijkl", weights, *factors)
    torch.testing.assert_close(rebuilt, net.coefficient_tensor()[1].detach())


def test_trained_tt_network_goes_through_the_rank_bracket():
    """A trained network's TT, handed to the rank tools, gives the dense tensor's unfolding rank."""
    from tt_rnn import rank
    torch.manual_seed(0)
    net = _train_a_few_steps(make_network("tt", 4, 3, 2, 3, dtype=torch.float64), steps=10)
    dense = net.coefficient_tensor()[2].detach().numpy()
    bracket = rank.cp_rank_bracket(net.to_tensor_train(2), fit=False)
    # Independent: numpy rank of every balanced unfolding of the dense tensor (row modes {0, k}).
    expected = max(np.linalg.matrix_rank(dense.transpose(0, k, *[j for j in (1, 2, 3) if j != k])
                                         .reshape(9, 9)) for k in (1, 2, 3))
    assert bracket.lower == expected
    assert 1 <= expected <= 6  # TT ranks (2, 2, 2): the (0, 2 | 1, 3) unfolding has rank <= r n = 6


@pytest.mark.parametrize("bad", [3, -1, 1.0, True])
def test_to_tensor_train_rejects_bad_class(bad):
    net = make_network("tt", 4, 3, 2, 3)
    with pytest.raises(ValueError, match=r"class index y must be an int in \[0, 3\)"):
        net.to_tensor_train(bad)


# ---------------------------------------------------------------------------------------------
# Generalized product xi
# ---------------------------------------------------------------------------------------------

GENERAL_KINDS = ["cp", "tt", "tt-shared", "ht"]
NONLINEAR_XI = [xi for xi in XI_KINDS if xi != "product"]


def _naive_generalized_score(net, features):
    """Independent loop implementation of the generalized networks (float64, small sizes)."""
    xi = {"rectifier": lambda x, y: max(x, y, 0.0),
          "rectifier-sum": lambda x, y: max(x, 0.0) + max(y, 0.0)}[net.xi]
    f = features.double().tolist()
    out = []
    for sample in f:
        d = len(sample)
        if isinstance(net, CPNetwork):
            a, w = net.a.double().tolist(), net.weights.double().tolist()
            z = [[sum(a[t][i][r] * sample[t][i] for i in range(net.m)) for r in range(net.rank)]
                 for t in range(d)]
            folded = z[0]
            for t in range(1, d):
                folded = [xi(x, y) for x, y in zip(folded, z[t])]
            out.append([sum(folded[r] * w[r][c] for r in range(net.rank)) for c in range(net.num_classes)])
        elif isinstance(net, TTNetwork):
            cores = [net.inner_core(t).double().tolist() for t in range(1, d - 1)]
            cores.append(net.last_core.double().tolist())
            g1 = net.first_core.double().tolist()
            h = [sum(g1[i][b] * xi(0.0, sample[0][i]) for i in range(net.m)) for b in range(net.rank)]
            for t, core in enumerate(cores, start=1):
                width = len(core[0][0])
                h = [sum(core[a][i][c] * xi(h[a], sample[t][i]) for a in range(len(h))
                         for i in range(net.m)) for c in range(width)]
            out.append(h)
        else:  # HT
            w0 = net.input_weights.double().tolist()
            u = [[sum(w0[t][i][r] * sample[t][i] for i in range(net.m)) for r in range(net.rank)]
                 for t in range(d)]
            for weights in net.hidden_weights:
                w = weights.double().tolist()
                pooled = [[xi(x, y) for x, y in zip(u[2 * j], u[2 * j + 1])] for j in range(len(u) // 2)]
                u = [[sum(p[a] * w[j][a][b] for a in range(net.rank)) for b in range(net.rank)]
                     for j, p in enumerate(pooled)]
            top = net.top_weights.double().tolist()
            pooled = [xi(x, y) for x, y in zip(u[0], u[1])]
            out.append([sum(pooled[a] * top[a][c] for a in range(net.rank))
                        for c in range(net.num_classes)])
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("kind, kwargs", VARIANTS, ids=IDS)
def test_xi_product_is_bit_for_bit_the_multilinear_network(kind, kwargs):
    features = torch.randn(5, 8, 3)
    torch.manual_seed(3)
    default = make_network(kind, 8, 3, 4, 5, **kwargs)
    torch.manual_seed(3)
    explicit = make_network(kind, 8, 3, 4, 5, xi="product", **kwargs)
    assert explicit.xi == default.xi == "product"
    for p, q in zip(default.parameters(), explicit.parameters()):
        assert torch.equal(p, q)
    a, log_a = default(features, return_log_scale=True)
    b, log_b = explicit(features, return_log_scale=True)
    assert torch.equal(a, b) and torch.equal(log_a, log_b)


@pytest.mark.parametrize("xi", NONLINEAR_XI)
@pytest.mark.parametrize("kind", GENERAL_KINDS)
@pytest.mark.parametrize("d", [2, 4, 8])
def test_generalized_score_matches_a_naive_loop(kind, xi, d):
    torch.manual_seed(d)
    net = make_network(kind, d, 3, 3, 2, xi=xi, dtype=torch.float64)
    features = torch.randn(4, d, 3, dtype=torch.float64)  # negative entries too
    with torch.no_grad():
        torch.testing.assert_close(net.score(features), _naive_generalized_score(net, features),
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("xi", NONLINEAR_XI)
@pytest.mark.parametrize("kind", GENERAL_KINDS)
def test_rectifier_networks_are_piecewise_linear_and_homogeneous(kind, xi):
    """Along a line the second differences vanish except next to finitely many breakpoints."""
    torch.manual_seed(0)
    d = 8
    net = make_network(kind, d, 3, 4, 2, xi=xi, dtype=torch.float64)
    x0, direction = torch.rand(d, 3, dtype=torch.float64), torch.randn(d, 3, dtype=torch.float64)

    def kinks(n_points):
        s = torch.linspace(-1, 1, n_points, dtype=torch.float64)
        with torch.no_grad():
            values = net.score(x0 + s[:, None, None] * direction)[:, 0]
        second = values[2:] - 2 * values[1:-1] + values[:-2]
        return int((second.abs() > 1e-9 * values.abs().max()).sum())

    coarse, fine = kinks(2001), kinks(20001)
    assert 0 < fine <= 2 * coarse + 2, (coarse, fine)  # the kink count does not grow with resolution
    assert fine < 0.01 * 20001
    product = make_network(kind, d, 3, 4, 2, dtype=torch.float64)
    net = product
    assert kinks(2001) > 0.9 * 2000  # a multilinear score of degree d is curved everywhere
    net = make_network(kind, d, 3, 4, 2, xi=xi, dtype=torch.float64)
    features = torch.randn(3, d, 3, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(net.score(2.5 * features), 2.5 * net.score(features))


@pytest.mark.parametrize("xi", NONLINEAR_XI)
@pytest.mark.parametrize("kind", GENERAL_KINDS)
def test_generalized_networks_stay_finite_at_d_784_in_float32(kind, xi):
    torch.manual_seed(0)
    d = 1024 if kind == "ht" else 784
    net = make_network(kind, d, 4, 8, 10, xi=xi)
    features = torch.rand(4, d, 4)
    features[1, 100] = 0.0
    logits, log_scale = net(features, return_log_scale=True)
    assert torch.isfinite(logits).all() and torch.isfinite(log_scale).all()
    assert (log_scale >= 0).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    for name, p in net.named_parameters():
        assert torch.isfinite(p.grad).all(), name


def test_shared_rectifier_state_is_rescaled_exactly():
    """With c > 1 the logits are score / c: check against float64 without overflow at d = 200."""
    torch.manual_seed(0)
    net = make_network("tt-shared", 200, 4, 8, 3, xi="rectifier", dtype=torch.float64)
    with torch.no_grad():
        net.inner_cores.mul_(3.0)  # force geometric growth of the state
        features = torch.rand(2, 200, 4, dtype=torch.float64)
        logits, log_scale = net(features, return_log_scale=True)
        assert (log_scale > 20).all()
        expected = _naive_generalized_score(net, features)
    torch.testing.assert_close(logits * log_scale.exp().unsqueeze(1), expected, rtol=1e-9, atol=0)


@pytest.mark.parametrize("kind", GENERAL_KINDS)
def test_rectifier_network_trains_inside_a_score_classifier(kind):
    torch.manual_seed(0)
    model = ScoreClassifier(LinearReLUFeatures(7, 1, 6), make_network(kind, 16, 6, 4, 10, xi="rectifier"))
    images = torch.rand(8, 1, 28, 28)
    loss = torch.nn.functional.cross_entropy(model(images), torch.arange(8))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_bad_xi_names_the_value_and_the_choices():
    for kind in GENERAL_KINDS:
        with pytest.raises(ValueError, match=r"xi = 'relu'; choose one of \('product', 'rectifier'"):
            make_network(kind, 4, 3, 2, 2, xi="relu")
    with pytest.raises(ValueError, match="xi = None"):
        TTNetwork(4, 3, 2, 2, xi=None)
    with pytest.raises(ValueError, match="product = 'tree'.*xi = 'rectifier'"):
        TTNetwork(4, 3, 2, 2, product="tree", xi="rectifier")
    net = make_network("tt", 4, 3, 2, 2, xi="rectifier")
    with pytest.raises(ValueError, match="needs xi = 'product'.*'rectifier'"):
        net.coefficient_tensor()
    with pytest.raises(ValueError, match="needs xi = 'product'"):
        net.to_tensor_train(0)
    with pytest.raises(ValueError, match="needs xi = 'product'"):
        make_network("cp", 4, 3, 2, 2, xi="rectifier-sum").to_cp(0)
