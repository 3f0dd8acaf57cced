"""Forward + backward time of the per-patch feature maps, in PyTorch's default memory layout and
in channels-last, on the same inputs in the same process.

The feature map, not the tensor network, takes most of a CIFAR-10 training step on a CPU (a
profile of a search trial: the convolutions and batch normalisations of the per-patch CNN about
70 % of the step, the TT recurrence about 10 %), so its layout decides the cost of the long runs.

Usage::

    python benchmarks/bench_features.py                      # one thread, CPU
    python benchmarks/bench_features.py --threads 2 --repeats 20

Printed per feature map: milliseconds per batch of 128 images (median of ``--repeats`` timed
steps, after warm-up) in each layout, and the ratio default / channels-last (above 1: channels-last
is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tt_rnn.features import make_feature_map

# (name, feature map, patch, channels, m, hidden, image size): the configurations the experiments use
CASES = [("CIFAR-10 conv, 8x8 patches", "conv", 8, 3, 64, 16, 32),
         ("MNIST mlp, 7x7 patches", "mlp", 7, 1, 32, 256, 28),
         ("CIFAR-10 CNN baseline (whole image)", "cnn", 32, 3, 64, 16, 32)]


def step_seconds(module, images, repeats: int) -> float:
    """Median seconds of one forward + backward pass over ``images``."""
    for _ in range(3):
        module(images).sum().backward()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        module(images).sum().backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}")
    print(f"{'feature map':40s} {'default ms':>11s} {'ch.-last ms':>11s} {'ratio':>6s}")
    for name, kind, patch, channels, m, hidden, size in CASES:
        torch.manual_seed(0)
        kwargs = {} if hidden is None else {"hidden": hidden}
        module = make_feature_map(kind, patch, channels, m, **kwargs)
        images = torch.randn(args.batch, channels, size, size)
        module.channels_last = False
        default = step_seconds(module, images, args.repeats)
        module.channels_last = True  # the convolutions' input in channels-last (tt_rnn.features._layout)
        last = step_seconds(module, images, args.repeats)
        print(f"{name:40s} {1e3 * default:11.1f} {1e3 * last:11.1f} {default / last:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
