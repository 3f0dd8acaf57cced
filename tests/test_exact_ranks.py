"""Exact grid-tensor ranks (tt_rnn.generalized), the additive-RNN form of the rectifier-sum TT,
and the two region counts of tt_rnn.regions (activation regions against linear pieces)."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from tt_rnn import rank
from tt_rnn.generalized import (BAREISS_MAX, EPSILONS, _Exact, _grid, additive_relu_rnn, bareiss_rank,
                                dyadic_network, dyadic_templates, epsilon_ranks, exact_unfolding_rank,
                                grid_tensor, integer_grid_tensor)
from tt_rnn.networks import make_network
from tt_rnn.regions import count_regions_on_line, line_patterns_on_grid, relu_units, trace
from tt_rnn.tt import odd_even_row_modes, unfold


def _objects(rows):
    out = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            out[i, j] = int(v)
    return out


def _fraction_rank(matrix) -> int:
    """Rank over Q by Gaussian elimination in Fractions (an independent reference)."""
    a = [[Fraction(int(v)) for v in row] for row in np.asarray(matrix, dtype=object).tolist()]
    rank_, cols = 0, len(a[0]) if a else 0
    for c in range(cols):
        piv = next((i for i in range(rank_, len(a)) if a[i][c] != 0), None)
        if piv is None:
            continue
        a[rank_], a[piv] = a[piv], a[rank_]
        for i in range(rank_ + 1, len(a)):
            f = a[i][c] / a[rank_][c]
            a[i] = [x - f * y for x, y in zip(a[i], a[rank_])]
        rank_ += 1
    return rank_


# ----------------------------------------------------------------------------- float SVD undercounts

def test_svd_undercounts_a_scaled_identity_and_the_exact_rank_is_certified():
    a = _objects([[2 ** 60, 0], [0, 1]])
    assert rank.unfolding_rank(a.astype(np.float64), [0]) == 1  # sigma_2 / sigma_1 = 2^-60 < tolerance
    out = exact_unfolding_rank(a)
    assert out == dict(out, lower=2, upper=2, exact=True)


def test_svd_undercounts_an_integer_hilbert_matrix():
    n = 14
    lcm = 1
    for k in range(1, 2 * n):
        lcm = lcm * k // np.gcd(lcm, k)
    h = _objects([[lcm // (i + j + 1) for j in range(n)] for i in range(n)])  # lcm / (i + j + 1): nonsingular
    assert rank.unfolding_rank(h.astype(np.float64), [0]) < n
    out = exact_unfolding_rank(h)
    assert out["lower"] == n and out["exact"]


def test_the_recorded_product_network_whose_svd_rank_was_252():
    """``tt``, product, d = 8, r = 4, seed 2 (M = 4, m = 4, 4 bits): the grid tensor is exact only in
    Python integers (the float64 bound fails); its odd/even unfolding has full rank 256."""
    net = dyadic_network("tt", 8, 4, 4, 1, xi="product", bits=4, seed=2)
    templates = dyadic_templates(4, 4, bits=4, seed=10_002)
    assert grid_tensor(net, templates, return_exactness=True)[1] is None
    grid, e = integer_grid_tensor(net, templates)
    matrix = unfold(grid[0], odd_even_row_modes(8))
    out = exact_unfolding_rank(matrix)
    assert out["lower"] == out["upper"] == 256 and out["exact"]
    svd = rank.unfolding_rank(matrix.astype(np.float64), [0])
    assert svd <= 256  # (252 on the machine that wrote the old record: the spectrum decays through eps)
    profile = epsilon_ranks(matrix.astype(np.float64))
    assert profile == sorted(profile, reverse=True) and profile[0] < 256  # the smallest directions are < 1e-12


# ----------------------------------------------------------------------------- exact integer grid tensors

@pytest.mark.parametrize("xi", ["product", "rectifier", "rectifier-sum"])
@pytest.mark.parametrize("kind", ["cp", "tt", "tt-shared", "ht"])
def test_python_integer_grid_equals_the_exact_float_grid(kind, xi):
    net = dyadic_network(kind, 4, 3, 3, xi=xi, bits=3, seed=1)
    f = dyadic_templates(3, 3, bits=3, seed=1)
    grid, e = grid_tensor(net, f, return_exactness=True)
    assert e is not None
    out = _grid(net, _Exact.of(f), xi)
    exact = out.value.T.reshape(grid.shape)
    assert np.array_equal(np.vectorize(lambda v: Fraction(int(v), 2 ** out.exponent))(exact),
                          np.vectorize(lambda v: Fraction(float(v)))(grid))


def test_python_integer_grid_where_float64_is_not_exact():
    net = dyadic_network("tt-shared", 9, 4, 8, xi="rectifier", bits=4, seed=3)
    f = dyadic_templates(4, 4, bits=4, seed=10_003)
    grid, e = grid_tensor(net, f, return_exactness=True)
    assert e is None  # the bound does not prove float64 exact here
    ints, exponent = integer_grid_tensor(net, f)
    np.testing.assert_allclose(ints.astype(np.float64) / 2.0 ** exponent, grid, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- the rank bracket

@pytest.mark.parametrize("k", [1, 3, 7])
def test_bareiss_and_the_bracket_on_low_rank_integer_matrices(k):
    rng = np.random.default_rng(k)
    a = (rng.integers(-2 ** 40, 2 ** 40, size=(20, k)).astype(object)
         @ rng.integers(-2 ** 40, 2 ** 40, size=(k, 30)).astype(object))
    assert bareiss_rank(a) == _fraction_rank(a) == k
    out = exact_unfolding_rank(a)
    assert out["lower"] == out["upper"] == k and out["exact"] and out["upper_method"] == "Bareiss"


def test_the_bracket_says_when_it_is_not_exact():
    rng = np.random.default_rng(0)
    n, k = BAREISS_MAX + 12, BAREISS_MAX + 2
    a = rng.integers(-9, 10, size=(n, k)) @ rng.integers(-9, 10, size=(k, n))
    out = exact_unfolding_rank(a)
    assert out["lower"] == k  # generic: GF(p) finds the rank
    assert out["upper"] == n and not out["exact"]  # no proof of the upper end at this size: labelled


def test_repeated_rows_and_columns_give_the_upper_end():
    a = np.array([[1, 2, 1], [3, 4, 3], [1, 2, 1]], dtype=np.int64)
    out = exact_unfolding_rank(a)
    assert out["lower"] == out["upper"] == 2 and out["exact"]


def test_epsilon_profile_counts_relative_singular_values():
    rng = np.random.default_rng(0)
    s = np.array([1.0, 3e-2, 3e-5, 3e-9, 3e-14])
    u, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    v, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    profile = epsilon_ranks(7.0 * (u * s) @ v.T)
    assert profile == [int(np.sum(s > eps)) for eps in EPSILONS]
    assert profile[0] == 4 and profile[-1] == 1


# ----------------------------------------------------------------------------- rectifier-sum = additive ReLU RNN

@pytest.mark.parametrize("shared", [False, True])
def test_rectifier_sum_tt_is_an_additive_relu_rnn(shared):
    torch.manual_seed(0)
    net = make_network("tt-shared" if shared else "tt", 6, 3, 4, 2, xi="rectifier-sum", dtype=torch.float64)
    x = torch.randn(5, 6, 3, dtype=torch.float64)  # negative features too
    rnn = additive_relu_rnn(net)
    f = np.maximum(x.numpy(), 0.0)
    h = f[:, 0] @ rnn["first"]
    for t, (w, u) in enumerate(rnn["steps"], start=1):
        h = np.maximum(h, 0.0) @ w + f[:, t] @ u
    with torch.no_grad():
        np.testing.assert_allclose(h, net.score(x).numpy(), rtol=1e-10, atol=1e-12)
    if shared:
        assert all(np.array_equal(rnn["steps"][0][0], w) for w, _ in rnn["steps"][:-1])


# ----------------------------------------------------------------------------- regions against pieces

@pytest.mark.parametrize("kind", ["cp", "tt", "tt-shared", "ht"])
def test_relu_units_count_the_max_nodes_the_trace_records(kind):
    torch.manual_seed(0)
    net = make_network(kind, 8, 3, 4, 1, xi="rectifier", dtype=torch.float64)
    x = np.random.default_rng(0).random((8, 3))
    tracer = trace(net, x, x[None])[2]
    assert sum(p.size for p in tracer.patterns) == relu_units(kind, 8, 3, 4)


def test_a_max_that_is_ignored_makes_regions_but_not_pieces():
    """CP width 2, m = 1: nodes ``max(x_1, 0, 0)`` (read-out 1) and ``max(-x_1, x_2, 0)`` (read-out
    0). On ``x_1`` from -1 to 1 at ``x_2 = 0.5`` the first switches at ``x_1 = 0`` (a kink), the
    second at ``x_1 = -0.5``: an activation-region boundary but not a kink. 3 regions, 2 pieces."""
    net = make_network("cp", 2, 1, 2, 1, xi="rectifier", dtype=torch.float64)
    with torch.no_grad():
        net.a.copy_(torch.tensor([[[1.0, -1.0]], [[0.0, 1.0]]], dtype=torch.float64))
        net.weights.copy_(torch.tensor([[1.0], [0.0]], dtype=torch.float64))
    start, end = np.array([[-1.0], [0.5]]), np.array([[1.0], [0.5]])
    out = count_regions_on_line(net, start, end)
    assert out["pieces"] <= out["regions"]
    assert out["regions"] == line_patterns_on_grid(net, start, end, 4001)
    s = np.linspace(0, 1, 4001)
    values = np.array([trace(net, start + t * (end - start), (end - start)[None])[0][0] for t in s])
    slopes = np.diff(values) / np.diff(s)
    kinks = int(np.sum(np.abs(np.diff(slopes)) > 1e-6))
    assert out["pieces"] == kinks + 1
    assert (out["regions"], out["pieces"]) == (3, 2)
