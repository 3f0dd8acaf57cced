"""Training throughput of every network on MNIST-sized input: samples/s and seconds per epoch.

    python benchmarks/bench_training.py                       # CPU (and CUDA when available)
    python benchmarks/bench_training.py --device cpu --threads 1 --rank 32 --m 32
    python benchmarks/bench_training.py --json out.json       # also write the numbers

Each measurement times full training steps (augmentation, normalisation, forward, cross-entropy,
backward, Adam step) of the same model the training loop builds (``tt_rnn.train.build_model``),
on random uint8 28 x 28 images, after warm-up steps; seconds per epoch are extrapolated to the
60,000 MNIST training images (plus the 10,000-image evaluation, timed separately). On a shared
machine the figures depend on the load: the script prints the load average with them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from tt_rnn.batches import augment_batch, normalize
from tt_rnn.train import TrainConfig, build_model

MODELS = ("tt-shared", "tt", "ht", "cp")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(model_kind: str, device: torch.device, *, rank=32, m=32, features="mlp", hidden=256,
          batch_size=128, steps=30, warmup=5, amp=False, n_train=60000, n_test=10000) -> dict:
    cfg = TrainConfig(model=model_kind, rank=rank, m=m, features=features, hidden=hidden, dropout=0.1,
                      device=str(device), amp=amp)
    torch.manual_seed(0)
    model = build_model(cfg, 1, 10, (28, 28), device)
    model.network.check_finite = False
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size * 4, 1, 28, 28), dtype=torch.uint8, device=device)
    labels = torch.randint(0, 10, (batch_size * 4,), device=device)
    mean, std = (0.1307,), (0.3081,)

    def step(i):
        sl = slice((i % 4) * batch_size, (i % 4 + 1) * batch_size)
        x = normalize(augment_batch(images[sl], "shift", 2, gen), mean, std)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[sl])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    model.train()
    for i in range(warmup):
        step(i)
    _sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    _sync(device)
    train_sps = steps * batch_size / (time.perf_counter() - t0)

    model.eval()
    eval_batch = 1000
    x_eval = torch.randint(0, 256, (eval_batch, 1, 28, 28), dtype=torch.uint8, device=device)
    with torch.no_grad():
        model(normalize(x_eval, mean, std))
        _sync(device)
        t0 = time.perf_counter()
        reps = 3
        for _ in range(reps):
            model(normalize(x_eval, mean, std))
        _sync(device)
    eval_sps = reps * eval_batch / (time.perf_counter() - t0)
    return {"model": model_kind, "device": str(device), "rank": rank, "m": m, "features": features,
            "batch_size": batch_size, "params": sum(p.numel() for p in model.parameters()),
            "train_samples_per_s": train_sps, "eval_samples_per_s": eval_sps,
            "s_per_epoch": n_train / train_sps + n_test / eval_sps,
            "threads": torch.get_num_threads() if device.type == "cpu" else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="all", help="cpu, cuda, or all (cpu + cuda if available)")
    p.add_argument("--models", nargs="*", default=list(MODELS))
    p.add_argument("--rank", type=int, default=32)
    p.add_argument("--m", type=int, default=32)
    p.add_argument("--features", default="mlp")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads on CPU")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [torch.device(d) for d in devices if d != "cuda" or torch.cuda.is_available()]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"# torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch threads, load average {load}")
    if torch.cuda.is_available():
        print(f"# CUDA: {torch.cuda.get_device_name(0)}")
    rows = []
    print("| model | device | rank | m | features | batch | params | train samples/s | eval samples/s | s/epoch (60k train + 10k test) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for device in devices:
        for kind in args.models:
            r = bench(kind, device, rank=args.rank, m=args.m, features=args.features, hidden=args.hidden,
                      batch_size=args.batch_size, steps=args.steps, amp=args.amp)
            rows.append(r)
            print(f"| {kind} | {device} | {r['rank']} | {r['m']} | {r['features']} | {r['batch_size']} | "
                  f"{r['params']:,} | {r['train_samples_per_s']:,.0f} | {r['eval_samples_per_s']:,.0f} | "
                  f"{r['s_per_epoch']:.1f} |", flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"load_average": load, "torch": torch.__version__,
                                               "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
