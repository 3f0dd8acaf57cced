"""Minibatches of in-memory uint8 images: order, normalisation and augmentation.

All images stay in memory as ``uint8`` tensors ``(N, C, H, W)`` (:mod:`tt_rnn.data`);
:func:`normalize` turns a batch into floats, and :func:`random_shift` / :func:`random_crop_flip`
augment whole batches on the device they live on, with a seeded ``torch.Generator``
(:func:`augment_batch` picks one by name).
"""

from __future__ import annotations

import torch

__all__ = ["normalize", "random_shift", "random_crop_flip", "augment_batch", "minibatch_indices"]


def normalize(images: torch.Tensor, mean, std, dtype=torch.float32) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float ``(x / 255 - mean) / std`` per channel."""
    x = images.to(dtype).div_(255.0)
    m = torch.tensor(mean, dtype=dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=dtype, device=x.device).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


def _randint(high: int, n: int, generator, device) -> torch.Tensor:
    return torch.randint(0, high, (n,), generator=generator).to(device)


def random_shift(images: torch.Tensor, max_shift: int, generator=None, fill: float = 0.0) -> torch.Tensor:
    """Shift every image of a batch by its own random ``(dy, dx)``, ``|dy|, |dx| <= max_shift``:
    pad with ``fill`` and crop back to size. Works on any device; randomness from ``generator``
    (a CPU ``torch.Generator``)."""
    if max_shift <= 0:
        return images
    b, c, h, w = images.shape
    s = max_shift
    padded = torch.nn.functional.pad(images, (s, s, s, s), value=fill)
    dy = _randint(2 * s + 1, b, generator, images.device)
    dx = _randint(2 * s + 1, b, generator, images.device)
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, :, None]   # (B, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, :]   # (B, 1, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_crop_flip(images: torch.Tensor, padding: int = 4, flip: bool = True, generator=None,
                     fill: float = 0.0) -> torch.Tensor:
    """Random crop with ``padding`` (= a random shift) and, if ``flip``, a random horizontal flip."""
    out = random_shift(images, padding, generator, fill)
    if flip:
        mask = (torch.rand(len(out), generator=generator) < 0.5).to(out.device).view(-1, 1, 1, 1)
        out = torch.where(mask, out.flip(-1), out)
    return out


def augment_batch(images: torch.Tensor, kind: str, amount: int, generator=None) -> torch.Tensor:
    """``kind``: ``"none"``, ``"shift"`` (random shifts up to ``amount`` px) or ``"crop-flip"``
    (random crop with padding ``amount`` + horizontal flip). Apply to normalised images so the
    padding is zero in normalised units, or to uint8 images for black padding."""
    if kind in (None, "none", "") or amount <= 0 and kind == "shift":
        return images
    if kind == "shift":
        return random_shift(images, amount, generator)
    if kind == "crop-flip":
        return random_crop_flip(images, amount, True, generator)
    raise ValueError(f"unknown augmentation {kind!r}; choose 'none', 'shift' or 'crop-flip'")


def minibatch_indices(n: int, batch_size: int, generator=None, shuffle: bool = True):
    """Index tensors of the minibatches of one epoch (a seeded permutation when ``shuffle``);
    the last batch holds the remainder."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]
