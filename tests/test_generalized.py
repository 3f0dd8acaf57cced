"""Tests of grid tensors (tt_rnn.generalized) and exact linear-region counts (tt_rnn.regions)."""

import itertools
import json

import numpy as np
import pytest
import torch

from tt_rnn import rank
from tt_rnn.generalized import (EXACT_INTEGER_LIMIT, cp_width_lower_bound, dyadic_network,
                                dyadic_templates, grid_rank_experiment, grid_tensor, unfolding_ranks,
                                write_grid_ranks)
from tt_rnn.generalized_report import generalized_tables
from tt_rnn.networks import XI_KINDS, make_network
from tt_rnn.regions import (brute_force_plane_patterns, count_regions_on_line, count_regions_on_plane,
                            line_patterns_on_grid, matched_rank, region_experiment, trace,
                            write_regions)

KINDS = ["cp", "tt", "tt-shared", "ht"]


def _scores_on_all_template_tuples(net, templates):
    d, n = net.d, templates.shape[0]
    index = np.array(list(itertools.product(range(n), repeat=d)))
    with torch.no_grad():
        scores = net.score(torch.tensor(templates[index]))
    return scores.numpy().T.reshape(net.num_classes, *([n] * d))


@pytest.mark.parametrize("xi", XI_KINDS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("d", [2, 4])
def test_grid_tensor_tabulates_the_network(kind, xi, d):
    torch.manual_seed(d)
    net = make_network(kind, d, 3, 3, 2, xi=xi, dtype=torch.float64)
    templates = np.random.default_rng(0).standard_normal((3, 3))
    grid = grid_tensor(net, templates)
    np.testing.assert_allclose(grid, _scores_on_all_template_tuples(net, templates), rtol=1e-10, atol=1e-12)


def test_product_grid_tensor_is_the_coefficient_tensor_times_the_templates():
    torch.manual_seed(0)
    net = make_network("tt", 4, 3, 2, 1, dtype=torch.float64)
    f = np.random.default_rng(1).standard_normal((5, 3))
    a = net.coefficient_tensor()[0].detach().numpy()
    expected = np.einsum("abcd,ia,jb,kc,ld->ijkl", a, f, f, f, f)
    np.testing.assert_allclose(grid_tensor(net, f)[0], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_dyadic_grid_tensor_is_exact_and_certified(kind):
    net = dyadic_network(kind, 4, 3, 3, xi="rectifier", bits=4, seed=0)
    templates = dyadic_templates(4, 3, bits=4, seed=0)
    grid, exponent = grid_tensor(net, templates, return_exactness=True)
    assert exponent is not None
    scaled = grid[0] * 2.0 ** exponent
    assert rank.is_integer_tensor(scaled) and np.abs(scaled).max() < EXACT_INTEGER_LIMIT
    ranks = unfolding_ranks(scaled, exact=True)
    assert ranks["odd_even"]["gf_p_rank"] == ranks["odd_even"]["svd_rank"]
    # Non-dyadic parameters: not certified.
    net = make_network(kind, 4, 3, 3, 1, xi="rectifier", dtype=torch.float64)
    assert grid_tensor(net, templates, return_exactness=True)[1] is None


@pytest.mark.parametrize("d", [4, 5, 6])
def test_rectifier_cp_grid_ranks_obey_the_width_lemma(d):
    """Lemma: rank unfold_S <= R min(|S| M + 1, |S^c| M) for a shallow rectifier network."""
    n_templates = 3
    for seed in range(5):
        for width in (1, 2, 3):
            net = dyadic_network("cp", d, 3, width, xi="rectifier", seed=seed)
            grid, exponent = grid_tensor(net, dyadic_templates(n_templates, 3, seed=seed), return_exactness=True)
            ranks = unfolding_ranks(grid[0] * 2.0 ** exponent, exact=True)
            for split in ranks.values():
                assert cp_width_lower_bound(split["rank"], d, n_templates, split["row_modes"]) <= width


def test_rectifier_tt_grid_rank_exceeds_what_a_tt_rank_bound_would_allow():
    """A product TT of rank r has contiguous-half unfolding rank <= r; the rectifier one does not."""
    net = dyadic_network("tt-shared", 6, 4, 2, xi="rectifier", seed=1)
    grid, exponent = grid_tensor(net, dyadic_templates(4, 4, seed=1), return_exactness=True)
    ranks = unfolding_ranks(grid[0] * 2.0 ** exponent, exact=True)
    assert ranks["half"]["rank"] > 2
    product = dyadic_network("tt-shared", 6, 4, 2, xi="product", seed=1)
    grid = grid_tensor(product, dyadic_templates(4, 4, seed=1))
    assert unfolding_ranks(grid[0], exact=False)["half"]["rank"] <= 2


def test_grid_tensor_refuses_clearly():
    net = make_network("tt", 12, 3, 2, 1, xi="rectifier")
    with pytest.raises(ValueError, match=r"1 x 4\^12 = 16777216 entries, above max_entries"):
        grid_tensor(net, np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"shape \(M, m\) = \(M, 3\)"):
        grid_tensor(net, np.ones((4, 2)))
    with pytest.raises(TypeError, match="CPNetwork, TTNetwork or HTNetwork"):
        grid_tensor(torch.nn.Linear(2, 2), np.ones((4, 3)))
    with pytest.raises(ValueError, match="unknown xi = 'relu'"):
        cp_width_lower_bound(3, 4, 3, [0, 2], xi="relu")


def test_grid_experiment_writes_json_and_tables(tmp_path):
    records = grid_rank_experiment(ds=(2, 4), ranks=(2,), kinds=("tt", "tt-shared", "cp"), seeds=range(2),
                                   n_templates=3, m=3)
    assert len(records) == 12 and all(r.certified for r in records)
    for r in records:  # the bracket: GF(p) lower end <= upper end, exact when they meet
        assert 1 <= r.odd_even_rank <= r.odd_even_upper <= r.max_rank
        assert r.odd_even_exact == (r.odd_even_rank == r.odd_even_upper)
        assert len(r.odd_even_eps_ranks) == 12 and r.odd_even_eps_ranks[0] <= r.max_rank
    write_grid_ranks(tmp_path / "grid_ranks.json", records, dict(n_templates=3, m=3))
    payload = json.loads((tmp_path / "grid_ranks.json").read_text())
    assert payload["records"][0]["kind"] == "tt"
    table = generalized_tables(tmp_path)
    assert "| tt-shared | rectifier | 2 |" in table and "d = 4" in table
    assert "Shared against distinct cores" in table and "| 3 | 2 | 4 | 2 |" in table  # M, r, d, n seeds


# ---------------------------------------------------------------------------------------------
# Linear regions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_trace_gives_the_score_and_its_directional_derivative(kind):
    torch.manual_seed(0)
    net = make_network(kind, 4, 3, 3, 2, xi="rectifier", dtype=torch.float64)
    x, v = np.random.default_rng(0).random((2, 4, 3))
    value, grad, _ = trace(net, x, v[None])
    with torch.no_grad():
        at = net.score(torch.tensor(x)[None])[0].numpy()
        ahead = net.score(torch.tensor(x + 1e-7 * v)[None])[0].numpy()
    np.testing.assert_allclose(value, at, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad[:, 0], (ahead - at) / 1e-7, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_line_regions_match_a_fine_grid(kind):
    rng = np.random.default_rng(1)
    for seed in range(3):
        torch.manual_seed(seed)
        net = make_network(kind, 4, 3, 3, 1, xi="rectifier", dtype=torch.float64)
        x0, x1 = rng.random((2, 4, 3))
        exact = count_regions_on_line(net, x0, x1)
        assert exact["pieces"] <= exact["regions"] == len(exact["breakpoints"]) + 1
        assert line_patterns_on_grid(net, x0, x1, 1501) == exact["regions"]
        # The score is affine between breakpoints: check at a midpoint of every piece.
        cuts = [0.0] + exact["breakpoints"] + [1.0]
        for a, b in zip(cuts[:-1], cuts[1:]):
            s = np.array([a + 0.25 * (b - a), a + 0.5 * (b - a), a + 0.75 * (b - a)])
            with torch.no_grad():
                y = net.score(torch.tensor(x0 + s[:, None, None] * (x1 - x0)))[:, 0].numpy()
            assert abs(y[0] - 2 * y[1] + y[2]) <= 1e-9 * (1 + np.abs(y).max())


@pytest.mark.parametrize("kind", KINDS)
def test_plane_regions_tile_the_window_and_match_brute_force(kind):
    rng = np.random.default_rng(2)
    torch.manual_seed(3)
    net = make_network(kind, 4, 2, 2, 1, xi="rectifier", dtype=torch.float64)
    x0, x1, x2 = rng.random((3, 4, 2))
    exact = count_regions_on_plane(net, x0, x1, x2)
    assert exact["area_total"] == pytest.approx(1.0, abs=1e-9)  # the regions found tile the window
    brute = brute_force_plane_patterns(net, x0, x1, x2, 80)
    assert brute <= exact["regions"] <= brute + 2  # a grid can only miss thin regions


def test_regions_reject_non_rectifier_networks():
    net = make_network("tt", 4, 3, 2, 1)
    with pytest.raises(ValueError, match="xi = 'rectifier', got xi = 'product'"):
        count_regions_on_line(net, np.zeros((4, 3)), np.ones((4, 3)))


def test_region_experiment_writes_json(tmp_path):
    records = region_experiment(ds=(2, 4), ranks=(2,), rank=2, d_for_ranks=4, m=2, seeds=range(2),
                                kinds=("tt", "tt-shared"))
    assert {r.series for r in records} == {"equal-rank", "matched", "units", "rank"}
    assert all(1 <= r.line_pieces <= r.line_regions for r in records)
    assert all(abs(r.plane_area_total - 1) < 1e-9 for r in records if r.plane_regions is not None)
    assert any(r.plane_regions is not None for r in records)
    write_regions(tmp_path / "linear_regions.json", records, dict(m=2))
    table = generalized_tables(tmp_path)
    assert "| tt-shared | regions |" in table and "| tt-shared | pieces |" in table
    assert "tt-shared − tt" in table  # the paired comparisons
    assert matched_rank("tt", 8, 4, make_network("tt", 8, 4, 4, 1).n_parameters()) == 4
