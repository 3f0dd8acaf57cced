"""Patches and per-patch feature maps ``f_theta(x_t)``: images -> ``(batch, d, m)``.

Patch order
-----------
An image of shape ``(C, H, W)`` is cut into non-overlapping ``k x k`` patches, numbered in
row-major order: patch ``t`` covers rows ``(t // (W/k)) k ...`` and columns ``(t % (W/k)) k ...``,
so ``t = 0`` is the top-left patch and ``t = 1`` its right neighbour. Inside a patch, pixels are
flattened in ``(channel, row, column)`` order. ``d = (H/k)(W/k)``.

Every feature map here acts on each patch alone (patches interact only through the tensor
network that follows), and all patches share the map's weights, as in Khrulkov et al. (2018).

Constant feature
----------------
With ``constant_feature=True`` every map learns ``m - 1`` features and appends the constant 1 as
feature ``m - 1`` (so the network's ``m`` is unchanged): ``f(x) = [g(x), 1]``. A score function
of such features contains every lower-order interaction of the learned ones (expand the product
of the ``<a_t, [g_t, 1]>``), and the near-identity initialisation of :mod:`tt_rnn.initializers`
reads this constant. Dropout acts on the learned features only: the constant is exactly 1 in
training and evaluation.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["extract_patches", "LinearReLUFeatures", "ConvPatchFeatures", "PatchMLPFeatures",
           "CNNFeatures", "make_feature_map", "FEATURE_MAPS"]


def _check_images(images, patch_size: int, in_channels: int | None = None) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape (batch, C, H, W), got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (batch, C, H, W), got shape {tuple(images.shape)}")
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive int, got {patch_size!r}")
    _, c, h, w = images.shape
    if in_channels is not None and c != in_channels:
        raise ValueError(f"expected {in_channels} channels, got images of shape {tuple(images.shape)}")
    if h % patch_size or w % patch_size:
        raise ValueError(f"image size {h}x{w} is not divisible by patch_size = {patch_size}")


def _learned_size(m: int, constant_feature: bool) -> int:
    """Number of learned features: ``m - 1`` when the last one is the constant 1, else ``m``."""
    if not isinstance(m, int) or isinstance(m, bool) or m < 1:
        raise ValueError(f"m must be a positive int, got {m!r}")
    if constant_feature and m < 2:
        raise ValueError(f"constant_feature=True needs m >= 2 (one learned feature and the constant), got m = {m}")
    return m - 1 if constant_feature else m


def _layout(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``images`` in the memory layout a feature map's convolutions run fastest in: the same
    values, so the same function, up to the order of floating-point sums
    (benchmarks/bench_features.py measures both layouts)."""
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def _append_constant(features: torch.Tensor) -> torch.Tensor:
    """``(B, d, n)`` -> ``(B, d, n + 1)`` with the constant 1 as the last feature."""
    return torch.cat([features, features.new_ones(features.shape[:-1] + (1,))], dim=-1)


def extract_patches(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``(batch, C, H, W)`` -> ``(batch, d, C k k)``, patches in row-major order (module docs)."""
    _check_images(images, patch_size)
    b, c, h, w = images.shape
    k = patch_size
    patches = images.reshape(b, c, h // k, k, w // k, k).permute(0, 2, 4, 1, 3, 5)
    return patches.reshape(b, (h // k) * (w // k), c * k * k)


class LinearReLUFeatures(nn.Module):
    """``f(x) = ReLU(A x + b)`` on each flattened ``k x k`` patch (Khrulkov et al. 2018).

    Implemented as a convolution with kernel = stride = ``k``, which is exactly the same affine
    map applied to every non-overlapping patch, followed by a row-major flatten.
    """

    def __init__(self, patch_size: int, in_channels: int, m: int, *, dropout: float = 0.0,
                 constant_feature: bool = False):
        super().__init__()
        self.patch_size, self.in_channels, self.m = patch_size, in_channels, m
        self.constant_feature = bool(constant_feature)
        n = _learned_size(m, self.constant_feature)
        self.conv = nn.Conv2d(in_channels, n, kernel_size=patch_size, stride=patch_size)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, self.patch_size, self.in_channels)
        out = torch.relu(self.conv(images))  # (B, n, H/k, W/k)
        out = self.dropout(out.flatten(2).transpose(1, 2))  # (B, d, n), row-major patches
        return _append_constant(out) if self.constant_feature else out


class ConvPatchFeatures(nn.Module):
    """A small CNN applied to each ``k x k`` patch on its own (zero padding at the patch border).

    Two ``3 x 3`` convolutions with ``hidden`` channels and ReLU, global average pooling over the
    patch, then ``Linear(hidden, m)`` and ReLU. Patches are folded into the batch, so no
    information crosses a patch boundary.
    """

    channels_last = False  # the layout of the convolutions' input (_layout)

    def __init__(self, patch_size: int, in_channels: int, m: int, *, hidden: int = 32,
                 dropout: float = 0.0, constant_feature: bool = False):
        super().__init__()
        self.patch_size, self.in_channels, self.m = patch_size, in_channels, m
        self.constant_feature = bool(constant_feature)
        n = _learned_size(m, self.constant_feature)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(hidden, n), nn.ReLU())
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, self.patch_size, self.in_channels)
        b, c = images.shape[:2]
        k = self.patch_size
        patches = extract_patches(images, k)  # (B, d, C k k)
        d = patches.shape[1]
        out = self.body(_layout(patches.reshape(b * d, c, k, k), self.channels_last))  # each patch: a mini-image
        out = self.dropout(out.view(b, d, -1))
        return _append_constant(out) if self.constant_feature else out


class PatchMLPFeatures(nn.Module):
    """``f(x) = ReLU(W_2 ReLU(W_1 x + b_1) + b_2)`` on each flattened ``k x k`` patch.

    A two-layer perceptron shared by all patches (a per-patch feature map: no information
    crosses a patch boundary). The first layer is a convolution with kernel = stride = ``k``
    (exactly ``W_1`` on every non-overlapping patch), the second a ``1 x 1`` convolution; a
    BatchNorm after the first layer is part of the model in training and evaluation.
    ``dropout`` acts on the output features, as in :class:`LinearReLUFeatures`.
    """

    channels_last = False  # the layout of the convolutions' input (_layout)

    def __init__(self, patch_size: int, in_channels: int, m: int, *, hidden: int = 128,
                 dropout: float = 0.0, constant_feature: bool = False):
        super().__init__()
        self.patch_size, self.in_channels, self.m = patch_size, in_channels, m
        self.constant_feature = bool(constant_feature)
        n = _learned_size(m, self.constant_feature)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=patch_size, stride=patch_size),
            nn.BatchNorm2d(hidden), nn.ReLU(), nn.Conv2d(hidden, n, 1), nn.ReLU())
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images, self.patch_size, self.in_channels)
        out = self.body(_layout(images, self.channels_last))  # (B, n, H/k, W/k)
        out = self.dropout(out.flatten(2).transpose(1, 2))  # (B, d, n), row-major patches
        return _append_constant(out) if self.constant_feature else out


class CNNFeatures(ConvPatchFeatures):
    """A small standard CNN on each ``k x k`` patch: with ``k`` = the image size (``d = 1``) it is
    an ordinary CNN on the whole image, the baseline the tensor networks are compared with.

    Three blocks ``[3 x 3 conv, BatchNorm, ReLU] x 2`` of ``hidden``, ``2 hidden`` and ``4 hidden``
    channels, 2 x 2 max pooling after the first two, global average pooling, then
    ``Linear(4 hidden, m)`` and ReLU (the patch handling of :class:`ConvPatchFeatures`).
    """

    # channels-last input: 1.23-1.25x faster forward + backward on one CPU thread, where the
    # per-patch maps gain 1.0-1.3x, not reliably (benchmarks/bench_features.py)
    channels_last = True

    def __init__(self, patch_size: int, in_channels: int, m: int, *, hidden: int = 32,
                 dropout: float = 0.0, constant_feature: bool = False):
        super().__init__(patch_size, in_channels, m, hidden=hidden, dropout=dropout,
                         constant_feature=constant_feature)
        layers, width = [], in_channels
        for block, out in enumerate((hidden, 2 * hidden, 4 * hidden)):
            for _ in range(2):
                layers += [nn.Conv2d(width, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
                width = out
            if block < 2:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
        n = _learned_size(m, self.constant_feature)
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, n), nn.ReLU())


FEATURE_MAPS = {"linear": LinearReLUFeatures, "conv": ConvPatchFeatures, "mlp": PatchMLPFeatures,
                "cnn": CNNFeatures}


def make_feature_map(kind: str, patch_size: int, in_channels: int, m: int, **kwargs) -> nn.Module:
    """``"linear"`` (ReLU(Ax + b) per patch), ``"conv"`` (small per-patch CNN), ``"mlp"`` (two-layer
    per-patch MLP) or ``"cnn"`` (a standard CNN; on the whole image when the patch is the image).

    Keyword arguments go to the class: ``dropout``, ``constant_feature`` (last feature = 1; module
    docs) and, for ``"conv"`` / ``"mlp"``, ``hidden``."""
    if kind not in FEATURE_MAPS:
        raise ValueError(f"unknown feature map {kind!r}; choose one of {sorted(FEATURE_MAPS)}")
    return FEATURE_MAPS[kind](patch_size, in_channels, m, **kwargs)
