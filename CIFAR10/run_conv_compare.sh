#!/usr/bin/env bash
# The four formats with the feature map of the best run (per-patch CNN, ConvPatchFeatures with
# hidden = 16, 8x8 patches, m = 64) at rank 32, random crop + flip, at a reduced budget:
# 20,000 training images, 4 epochs (the notebook reads the results files).
# Usage (from the repository root): nice -n 5 bash CIFAR10/run_conv_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
for model in tt-shared tt cp ht; do
  out=results/cifar10/conv_features/${model}_r32.json
  [ -f "$out" ] && continue
  $PY -m tt_rnn.train --dataset cifar10 --model "$model" --rank 32 --m 64 --patch-size 8 \
    --features conv --hidden 16 --augment crop-flip --shift 4 --train-subset 20000 --epochs 4 \
    --batch-size 128 --lr 3e-3 --schedule onecycle --weight-decay 5e-4 --grad-clip 5 --num-threads 1 \
    --no-progress --name "${model}_r32" --results-path "$out" \
    --checkpoint-dir "checkpoints/cifar10/conv_features/${model}_r32"
done
