"""Forward + backward throughput of the score networks against a ``nn.Bilinear`` loop baseline.

The baseline is the plain way to write a TT/recurrent network in PyTorch: a Python loop
of ``torch.nn.Bilinear(r, m, r)`` calls, one per step (one module per step for distinct cores,
the same module every step for shared cores), with the same per-step rescaling as ours so that
both compute the same function class stably. Both run in the same process on the same inputs.

Usage::

    python benchmarks/bench_networks.py                 # CPU, and CUDA when present
    python benchmarks/bench_networks.py --device cpu --repeats 5

Printed per configuration: samples/s for forward+backward, the ratio to the baseline with the
same core sharing, and the forward pass's achieved GFLOP/s against the recurrence's FLOP count
``2 d m r^2`` per sample (TT and baseline rows; CP and HT do other work and are shown for scale).
``--json PATH`` also writes the rows (``PATH`` with ``_cpu`` / ``_cuda`` appended).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from tt_rnn.networks import _rescale, make_network

SIZES = [dict(batch=256, d=16, m=32, r=32), dict(batch=256, d=196, m=8, r=32)]
NUM_CLASSES = 10


class BilinearLoopTT(nn.Module):
    """Baseline: ``h_t = Bilinear(h_{t-1}, f_t)`` in a Python loop, rescaled every step."""

    def __init__(self, d, m, r, num_classes, shared):
        super().__init__()
        self.first = nn.Linear(m, r, bias=False)
        n_inner = 1 if shared else d - 2
        self.steps = nn.ModuleList(nn.Bilinear(r, m, r, bias=False) for _ in range(n_inner))
        self.last = nn.Bilinear(r, m, num_classes, bias=False)
        self.shared = shared

    def forward(self, features):
        h, log_scale = _rescale(self.first(features[:, 0]), dims=1)
        for t in range(1, features.shape[1] - 1):
            step = self.steps[0] if self.shared else self.steps[t - 1]
            h, s = _rescale(step(h, features[:, t]), dims=1)
            log_scale = log_scale + s
        return self.last(h, features[:, -1])


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model, features, labels, device, repeats):
    """Median seconds of one forward+backward and of one forward (no grad)."""
    loss_fn = nn.CrossEntropyLoss()

    def step():
        model.zero_grad(set_to_none=True)
        loss_fn(model(features), labels).backward()

    def forward():
        with torch.no_grad():
            model(features)

    return _time(step, device, repeats), _time(forward, device, repeats)


def run(device: torch.device, repeats: int) -> list[dict]:
    rows = []
    for size in SIZES:
        batch, d, m, r = size["batch"], size["d"], size["m"], size["r"]
        torch.manual_seed(0)
        features = torch.rand(batch, d, m, device=device)
        labels = torch.randint(0, NUM_CLASSES, (batch,), device=device)
        flops = 2 * d * m * r * r * batch  # recurrence forward FLOPs
        candidates = {
            "baseline bilinear loop (distinct)": BilinearLoopTT(d, m, r, NUM_CLASSES, shared=False),
            "baseline bilinear loop (shared)": BilinearLoopTT(d, m, r, NUM_CLASSES, shared=True),
            "tt (distinct, sequential)": make_network("tt", d, m, r, NUM_CLASSES),
            "tt-shared (sequential)": make_network("tt-shared", d, m, r, NUM_CLASSES),
            "tt (distinct, tree)": make_network("tt", d, m, r, NUM_CLASSES, product="tree"),
            "tt-shared (tree)": make_network("tt-shared", d, m, r, NUM_CLASSES, product="tree"),
            "cp": make_network("cp", d, m, r, NUM_CLASSES),
        }
        ht_d = 1 << (d - 1).bit_length()  # HT needs a power of two: the next one up
        ht_features = torch.rand(batch, ht_d, m, device=device)
        results = {}
        for name, model in candidates.items():
            results[name] = measure(model.to(device), features, labels, device, repeats)
        results[f"ht (d = {ht_d})"] = measure(make_network("ht", ht_d, m, r, NUM_CLASSES).to(device),
                                              ht_features, labels, device, repeats)
        base = {"distinct": results["baseline bilinear loop (distinct)"][0],
                "shared": results["baseline bilinear loop (shared)"][0]}
        for name, (train_s, fwd_s) in results.items():
            sharing = "shared" if "shared" in name else "distinct"
            # The FLOP count is the TT recurrence's: meaningful for TT and baseline rows only.
            is_recurrence = name.startswith("tt") or name.startswith("baseline")
            rows.append(dict(device=str(device), batch=batch, d=d, m=m, r=r, model=name,
                             samples_per_s=batch / train_s,
                             forward_gflops=flops / fwd_s / 1e9 if is_recurrence else float("nan"),
                             ratio=base[sharing] / train_s if is_recurrence else float("nan")))
        seq = results["tt-shared (sequential)"][0]
        tree = results["tt-shared (tree)"][0]
        rows.append(dict(device=str(device), batch=batch, d=d, m=m, r=r,
                         model="tree / sequential speed-up (shared)", samples_per_s=float("nan"),
                         forward_gflops=float("nan"), ratio=seq / tree))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description="score-network throughput benchmark")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the rows to this JSON file (one per device: "
                        "the device name is appended, e.g. results/benchmarks/networks_cpu.json)")
    args = parser.parse_args(argv)
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    header = f"{'device':<6} {'d':>4} {'m':>3} {'r':>3}  {'model':<38} {'samples/s':>10} {'vs baseline':>11} {'fwd GFLOP/s':>11}"
    print(header)
    print("-" * len(header))
    for device in devices:
        rows = run(device, args.repeats)
        if args.json:
            path = Path(args.json)
            path = path.with_name(f"{path.stem}_{device.type}{path.suffix}")
            path.parent.mkdir(parents=True, exist_ok=True)
            name = torch.cuda.get_device_name() if device.type == "cuda" else (platform.processor() or "CPU")
            clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                     for row in rows]
            path.write_text(json.dumps({"device_name": name, "threads": torch.get_num_threads(),
                                        "torch": torch.__version__, "rows": clean}, indent=1))
        for row in rows:
            ratio = "" if row["ratio"] != row["ratio"] else f"{row['ratio']:.2f}x"
            sps = "" if row["samples_per_s"] != row["samples_per_s"] else f"{row['samples_per_s']:.0f}"
            gf = "" if row["forward_gflops"] != row["forward_gflops"] else f"{row['forward_gflops']:.2f}"
            print(f"{row['device']:<6} {row['d']:>4} {row['m']:>3} {row['r']:>3}  {row['model']:<38} "
                  f"{sps:>10} {ratio:>11} {gf:>11}")
    if not torch.cuda.is_available():
        print("CUDA not available: GPU rows (tree vs sequential at d = 196) not measured.")


if __name__ == "__main__":
    main()
