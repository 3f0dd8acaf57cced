"""Tests of the TT container, random / shared / witness cores and unfoldings (tt_rnn.tt)."""

import numpy as np
import pytest
import torch
from tensorly.tt_tensor import tt_to_tensor as tensorly_tt_to_tensor

from tt_rnn.tt import (TensorTrain, odd_even_min_cut_bound, odd_even_unfolding, random_tt,
                       random_weight_tied_tt, shared_core_tt, to_tensorly_cores, tt_to_tensor, unfold,
                       unfolding_min_cut_bound, validate_tt, weight_tied_tt, weight_tied_witness_tt,
                       witness_q, witness_tt)


@pytest.mark.parametrize("n, r, d, shared", [
    (2, 3, 2, False), (3, 2, 3, False), (2, 4, 5, False), ([2, 3, 4, 2], [3, 1, 2], 4, False),
    (2, 3, 2, True), (3, 2, 3, True), (2, 4, 5, True), (3, 3, 7, True)])
def test_full_tensor_matches_tensorly(n, r, d, shared):
    tt = random_tt(n, r, d, shared=shared, seed=0)
    ours = tt.to_tensor()
    reference = tensorly_tt_to_tensor(to_tensorly_cores(tt.cores))
    assert ours.shape == reference.shape == tt.shape
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)


def test_full_tensor_torch_matches_numpy():
    tt_np = random_tt(3, 4, 5, seed=1)
    tt_torch = random_tt(3, 4, 5, seed=1, backend="torch")
    assert isinstance(tt_torch.to_tensor(), torch.Tensor)
    np.testing.assert_allclose(tt_torch.to_tensor().numpy(), tt_np.to_tensor(), rtol=1e-12)


def test_full_tensor_entry_is_product_of_core_slices():
    tt = random_tt(2, 3, 4, seed=2)
    g1, g2, g3, g4 = tt.cores
    index = (1, 0, 1, 1)
    expected = g1[index[0]] @ g2[:, index[1], :] @ g3[:, index[2], :] @ g4[:, index[3]]
    assert tt.to_tensor()[index] == pytest.approx(expected)


def test_random_tt_is_seeded_and_shared_core_is_one_array():
    a, b = random_tt(2, 3, 6, shared=True, seed=5), random_tt(2, 3, 6, shared=True, seed=5)
    for x, y in zip(a.cores, b.cores):
        np.testing.assert_array_equal(x, y)
    assert all(core is a.cores[1] for core in a.cores[1:-1])
    assert a.shared and a.n_parameters() == 2 * 3 + 3 * 2 * 3 + 3 * 2
    distinct = random_tt(2, 3, 6, seed=5)
    assert not np.array_equal(distinct.cores[1], distinct.cores[2])
    assert distinct.n_parameters() == 2 * 3 + 4 * 18 + 3 * 2


def test_integer_cores_are_integers_in_range():
    tt = random_tt(3, 3, 4, integer=True, integer_range=2, seed=0)
    for core in tt.cores:
        assert core.dtype == np.int64 and np.abs(core).max() <= 2
    full = tt.to_tensor()
    assert full.dtype == np.int64


def test_distinct_core_variance_is_one():
    """E X[i]^2 = 1 exactly for distinct Gaussian cores (docstring of random_tt)."""
    squares = [np.mean(random_tt(2, 4, 8, seed=s).to_tensor() ** 2) for s in range(400)]
    assert np.mean(squares) == pytest.approx(1.0, rel=0.15)


def test_shared_core_entries_stay_order_one_as_d_grows():
    """Without the transfer-map rescaling the mean square would grow exponentially in d."""
    for d in (4, 8, 12, 16):
        rms = np.sqrt(np.mean(random_tt(2, 3, d, shared=True, seed=3).to_tensor() ** 2))
        assert 0.05 < rms < 20, (d, rms)


@pytest.mark.parametrize("n, r, d", [(2, 2, 2), (2, 3, 4), (3, 3, 6), (2, 5, 8), (4, 3, 4), (3, 4, 6)])
def test_witness_unfolding_contains_identity(n, r, d):
    q = witness_q(n, r)
    assert q == min(n, r - 1)
    tensor = witness_tt(n, r, d).to_tensor()
    block = odd_even_unfolding(tensor[(slice(0, q),) * d])
    np.testing.assert_array_equal(block, np.eye(q ** (d // 2)))
    assert witness_tt(n, r, d).shared or d == 2


def test_witness_torch_backend():
    tensor = witness_tt(2, 3, 4, backend="torch").to_tensor()
    assert torch.equal(odd_even_unfolding(tensor[:2, :2, :2, :2]), torch.eye(4, dtype=torch.float64))


def test_unfold_layout():
    x = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    m = unfold(x, [1])
    assert m.shape == (3, 8)
    assert m[2, 1 * 4 + 3] == x[1, 2, 3]
    m = unfold(x, [2, 0])
    assert m.shape == (8, 3)
    assert m[3 * 2 + 1, 2] == x[1, 2, 3]


def test_odd_even_unfolding_of_rank_one_tensor_has_rank_one():
    rng = np.random.default_rng(0)
    vectors = [rng.standard_normal(3) for _ in range(6)]
    tensor = np.einsum("a,b,c,d,e,f->abcdef", *vectors)
    assert odd_even_unfolding(tensor).shape == (27, 27)
    assert np.linalg.matrix_rank(odd_even_unfolding(tensor)) == 1


def test_shared_core_tt_builds_m_eq_point():
    tt = random_tt(2, 3, 3, seed=0)
    x = shared_core_tt(tt.cores[0], tt.cores[1], tt.cores[2], 7)
    assert x.order == 7 and x.ranks == (3,) * 6 and x.shared


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def test_validate_rejects_broken_chains_with_core_and_shapes():
    cores = [np.ones((2, 3)), np.ones((4, 2, 3)), np.ones((3, 2))]
    with pytest.raises(ValueError, match=r"core 0 has shape \(2, 3\).*core 1 has shape \(4, 2, 3\)"):
        validate_tt(cores)


@pytest.mark.parametrize("cores, message", [
    ([np.ones((2, 3))], "at least d = 2"),
    ([np.ones((2, 0)), np.ones((0, 2))], "zero-size"),
    ([np.ones((2, 3, 1)), np.ones((3, 2))], r"core 0 \(first\) must have shape"),
    ([np.ones((2, 3)), np.ones((3, 2)), np.ones((3, 2))], r"core 1 \(inner\)"),
])
def test_validate_rejects_bad_cores(cores, message):
    with pytest.raises(ValueError, match=message):
        validate_tt(cores)


def test_validate_rejects_mixed_or_foreign_types():
    with pytest.raises(TypeError, match="mix"):
        validate_tt([np.ones((2, 3)), torch.ones(3, 2)])
    with pytest.raises(TypeError, match="core 1"):
        validate_tt([np.ones((2, 3)), [[1, 2]] * 3])
    with pytest.raises(TypeError, match="list of arrays"):
        validate_tt(np.ones((2, 3)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=2, r=3, d=1), "d must be >= 2"),
    (dict(n=2, r=0, d=4), "r must be >= 1"),
    (dict(n=0, r=2, d=4), "n must be >= 1"),
    (dict(n=2, r=[2, 3], d=4), "length 3"),
    (dict(n=[2, 3, 2, 2], r=2, d=4, shared=True), "uniform"),
])
def test_random_tt_rejects_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        random_tt(**kwargs)


def test_witness_needs_r_at_least_two():
    with pytest.raises(ValueError, match="r >= 2"):
        witness_tt(3, 1, 4)


def test_unfold_rejects_bad_modes():
    with pytest.raises(ValueError, match="out of range"):
        unfold(np.ones((2, 2)), [2])
    with pytest.raises(ValueError, match="distinct"):
        unfold(np.ones((2, 2, 2)), [1, 1])


def test_shared_flag_is_checked():
    tt = random_tt(2, 3, 5, seed=0)
    with pytest.raises(ValueError, match="inner core 2 differs"):
        TensorTrain(tt.cores, shared=True)


def test_tt_to_tensor_validates():
    with pytest.raises(ValueError, match="do not chain"):
        tt_to_tensor([np.ones((2, 3)), np.ones((2, 2))])


# ---------------------------------------------------------------------------------------------
# Weight-tied family and min-cut bounds (new API)
# ---------------------------------------------------------------------------------------------

def test_weight_tied_tt_is_a_shared_core_tt():
    rng = np.random.default_rng(0)
    u, core, v = rng.standard_normal(3), rng.standard_normal((3, 2, 3)), rng.standard_normal(3)
    tt = weight_tied_tt(u, core, v, 5)
    assert tt.shared and tt.order == 5 and tt.shape == (2,) * 5 and tt.ranks == (3,) * 4
    index = (1, 0, 1, 1, 0)
    expected = u @ core[:, 1, :] @ core[:, 0, :] @ core[:, 1, :] @ core[:, 1, :] @ core[:, 0, :] @ v
    assert tt.to_tensor()[index] == pytest.approx(expected)
    two = weight_tied_tt(u, core, v, 2).to_tensor()  # d = 2: u^T G^(i) G^(j) v
    assert two[1, 0] == pytest.approx(u @ core[:, 1, :] @ core[:, 0, :] @ v)


def test_random_weight_tied_tt_seeded_integer_and_torch():
    a, b = random_weight_tied_tt(3, 2, 4, seed=1), random_weight_tied_tt(3, 2, 4, seed=1)
    for x, y in zip(a.cores, b.cores):
        np.testing.assert_array_equal(x, y)
    ints = random_weight_tied_tt(3, 2, 4, seed=1, integer=True, integer_range=2)
    assert all(c.dtype == np.int64 for c in ints.cores)
    assert ints.to_tensor().dtype == np.int64
    tt_torch = random_weight_tied_tt(2, 3, 4, seed=2, backend="torch")
    assert isinstance(tt_torch.to_tensor(), torch.Tensor)
    rms = np.sqrt(np.mean(random_weight_tied_tt(2, 3, 14, seed=3).to_tensor() ** 2))
    assert 1e-3 < rms < 1e3  # rescaled core: entries neither explode nor vanish with d


@pytest.mark.parametrize("kwargs, message", [
    (dict(u=np.ones(2), core=np.ones((3, 2, 3)), v=np.ones(3), d=4), "u must be a vector of length r = 3"),
    (dict(u=np.ones(3), core=np.ones((3, 2, 3)), v=np.ones((3, 1)), d=4), "v must be a vector"),
    (dict(u=np.ones(3), core=np.ones((3, 2, 2)), v=np.ones(3), d=4), r"shape \(r, n, r\)"),
    (dict(u=np.ones(3), core=np.ones((3, 2, 3)), v=np.ones(3), d=1), "d must be >= 2"),
])
def test_weight_tied_tt_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        weight_tied_tt(**kwargs)


def test_weight_tied_tt_rejects_mixed_types():
    with pytest.raises(TypeError, match="must all be numpy arrays or all torch tensors"):
        weight_tied_tt(torch.ones(2), np.ones((2, 2, 2)), np.ones(2), 3)


def test_random_weight_tied_and_witness_reject_bad_sizes():
    with pytest.raises(ValueError, match="n must be >= 1"):
        random_weight_tied_tt(0, 2, 4)
    with pytest.raises(ValueError, match="d must be >= 2"):
        random_weight_tied_tt(2, 2, 1)
    with pytest.raises(ValueError, match="r >= 2"):
        weight_tied_witness_tt(2, 1, 4)


def test_min_cut_bounds_small_cases_and_errors():
    # contiguous split of a TT: the bond rank; odd/even examples of prop:mincut-oe
    assert unfolding_min_cut_bound([3, 3, 3, 3], [2, 2, 2], [0, 1]) == 2
    assert odd_even_min_cut_bound(5, 2, 4) == 8 and odd_even_min_cut_bound(3, 2, 4) == 6
    assert odd_even_min_cut_bound(2, 5, 6) == 8 and odd_even_min_cut_bound(9, 2, 5) == 16
    with pytest.raises(ValueError, match="d - 1 ranks"):
        unfolding_min_cut_bound([2, 2, 2], [2], [0])
    with pytest.raises(ValueError, match="out of range"):
        unfolding_min_cut_bound([2, 2], [2], [2])
    with pytest.raises(ValueError, match=">= 1"):
        unfolding_min_cut_bound([2, 0], [2], [0])
    with pytest.raises(ValueError, match="r must be >= 1"):
        odd_even_min_cut_bound(2, 0, 4)
