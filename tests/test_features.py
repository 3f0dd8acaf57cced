"""Feature maps with the constant feature: the last feature is exactly 1 and survives dropout."""

from __future__ import annotations

import pytest
import torch

from tt_rnn.features import FEATURE_MAPS, make_feature_map

KW = {"linear": {}, "conv": {"hidden": 8}, "mlp": {"hidden": 8}, "cnn": {"hidden": 4}}


@pytest.mark.parametrize("kind", sorted(FEATURE_MAPS))
def test_constant_feature_is_exactly_one_and_survives_dropout(kind):
    torch.manual_seed(0)
    fmap = make_feature_map(kind, 4, 3, 6, dropout=0.5, constant_feature=True, **KW[kind])
    images = torch.randn(5, 3, 8, 8)
    fmap.train()
    out = fmap(images)
    assert out.shape == (5, 4, 6)
    assert torch.equal(out[..., -1], torch.ones(5, 4))
    learned = out[..., :-1]
    assert (learned == 0).float().mean() > 0.3  # dropout (and ReLU) act on the learned features
    fmap.eval()
    out_eval = fmap(images)
    assert torch.equal(out_eval[..., -1], torch.ones(5, 4))
    assert fmap.m == 6 and fmap.constant_feature


@pytest.mark.parametrize("kind", sorted(FEATURE_MAPS))
def test_without_constant_the_map_is_unchanged(kind):
    torch.manual_seed(1)
    plain = make_feature_map(kind, 4, 3, 6, **KW[kind])
    torch.manual_seed(1)
    explicit = make_feature_map(kind, 4, 3, 6, constant_feature=False, **KW[kind])
    for (key, a), b in zip(plain.state_dict().items(), explicit.state_dict().values()):
        assert torch.equal(a, b), key
    torch.manual_seed(1)
    with_constant = make_feature_map(kind, 4, 3, 6, constant_feature=True, **KW[kind])
    learned = sum(p.numel() for p in with_constant.parameters())
    assert learned < sum(p.numel() for p in plain.parameters())  # one output fewer to learn


@pytest.mark.parametrize("kind", sorted(FEATURE_MAPS))
def test_constant_feature_needs_two_features(kind):
    with pytest.raises(ValueError, match="constant_feature=True needs m >= 2.*m = 1"):
        make_feature_map(kind, 4, 3, 1, constant_feature=True, **KW[kind])


@pytest.mark.parametrize("kind, patch, channels, size", [("conv", 8, 3, 32), ("mlp", 7, 1, 28), ("cnn", 32, 3, 32)])
def test_the_memory_layout_changes_no_value(kind, patch, channels, size):
    # channels-last is a layout: the same features and gradients up to rounding
    torch.manual_seed(0)
    module = make_feature_map(kind, patch, channels, 16, hidden=8)
    images = torch.randn(4, channels, size, size)
    outputs, grads = [], []
    for layout in (False, True):
        module.channels_last = layout
        module.zero_grad()
        out = module(images)
        out.square().sum().backward()
        outputs.append(out.detach())
        grads.append(torch.cat([p.grad.flatten() for p in module.parameters()]))
    assert outputs[1].shape == outputs[0].shape
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-5)
    # sums in another order: compare the gradient as a whole (an entry near zero has no relative precision)
    assert (grads[1] - grads[0]).norm() <= 1e-5 * grads[0].norm()
