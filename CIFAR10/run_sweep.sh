#!/usr/bin/env bash
# Fair comparison on CIFAR-10 at a fixed feature map (the notebook reads the results files):
# per-patch linear ReLU, 8x8 patches (d = 16), m = 32; CP / TT / TT-shared / HT at ranks 4, 16, 64;
# 20,000 training images, 4 epochs, no augmentation, the same optimiser for every model.
# Usage (from the repository root): nice -n 5 bash CIFAR10/run_sweep.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
for rank in 4 16 64; do
  for model in tt-shared tt cp ht; do
    out=results/cifar10/sweep/${model}_r${rank}.json
    [ -f "$out" ] && continue
    $PY -m tt_rnn.train --dataset cifar10 --model "$model" --rank "$rank" --features linear \
      --patch-size 8 --m 32 --train-subset 20000 --epochs 4 --batch-size 128 --lr 3e-3 \
      --schedule onecycle --weight-decay 5e-4 --grad-clip 5 --num-threads 1 --no-progress \
      --name "${model}_r${rank}" --results-path "$out" --checkpoint-dir "checkpoints/cifar10/sweep/${model}_r${rank}"
  done
done
