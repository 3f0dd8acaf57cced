"""Baselines beside the tensor networks (average pooling + linear classifier; a standard CNN),
and ranks chosen so that formats have equal parameter counts."""

from __future__ import annotations

import pytest
import torch

from tt_rnn.data import load_mnist
from tt_rnn.features import make_feature_map
from tt_rnn.networks import make_network
from tt_rnn.train import TrainConfig, build_model, parameter_count, rank_for_parameters, train


@pytest.fixture(scope="module")
def mnist(fake_data_dir):
    return load_mnist(fake_data_dir, download=False)


def test_pool_linear_is_the_mean_of_the_features_through_a_linear_map():
    torch.manual_seed(0)
    net = make_network("pool-linear", 4, 3, 1, 2)
    features = torch.randn(5, 4, 3)
    expected = features.mean(1) @ net.linear.weight.T + net.linear.bias
    assert torch.allclose(net(features), expected)
    with pytest.raises(ValueError, match="no coefficient tensor"):
        net.coefficient_tensor()
    with pytest.raises(ValueError, match="no generalized product"):
        make_network("pool-linear", 4, 3, 1, 2, xi="rectifier")


def test_cnn_on_the_whole_image_is_one_patch():
    fmap = make_feature_map("cnn", 28, 1, 16, hidden=4)
    assert fmap(torch.randn(2, 1, 28, 28)).shape == (2, 1, 16)


@pytest.mark.parametrize("features, patch", [("linear", 7), ("cnn", 28)])
def test_baselines_train(mnist, tmp_path, features, patch):
    config = TrainConfig(dataset="mnist", model="pool-linear", features=features, patch_size=patch, m=16, hidden=8,
                         epochs=3, lr=1e-2, train_subset=500, test_subset=200, device="cpu", num_threads=1,
                         progress=False, results_path=str(tmp_path / "r.json"), checkpoint_dir=str(tmp_path / "c"))
    results, _ = train(config, data=mnist)
    assert results["status"] == "completed" and results["d"] == 784 // patch ** 2
    if features == "cnn":  # the synthetic classes are blobs at class-specific places: the CNN sees where
        # (on 8 batches an epoch, BatchNorm's running statistics lag: training accuracy shows the learning)
        assert results["history"][-1]["train_acc"] > 0.3  # chance is 0.1
    # (averaging per-patch features forgets where a patch was: pool-linear sits near chance on them)
    with pytest.raises(ValueError, match="pool-linear baseline takes init = 'random'"):
        config.replace(init="identity", constant_feature=True).validate()


def test_parameter_count_matches_the_built_model():
    config = TrainConfig(dataset="cifar10", model="ht", rank=8, m=16, patch_size=8, features="conv", hidden=8)
    model = build_model(config, 3, 10, (32, 32))
    assert parameter_count(config) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("model", ["tt-shared", "tt", "ht", "cp"])
def test_rank_for_parameters_is_the_closest_rank(model):
    config = TrainConfig(dataset="mnist", model=model, m=16, patch_size=7)
    target = 30_000
    r = rank_for_parameters(config, target)
    gap = abs(parameter_count(config.replace(rank=r)) - target)
    for other in (r - 1, r + 1):
        if other >= 1:
            assert gap <= abs(parameter_count(config.replace(rank=other)) - target)
    with pytest.raises(ValueError, match="target = 0"):
        rank_for_parameters(config, 0)
