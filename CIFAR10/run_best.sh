#!/usr/bin/env bash
# The best shared-core TT network on CIFAR-10, and its ablation (the notebook reads the results files).
#
# tt-shared_conv16_m64_r32_cropflip_e20: per-patch CNN feature map (tt_rnn.features.ConvPatchFeatures,
#   hidden = 16: two 3x3 conv-BN-ReLU layers inside each 8x8 patch, average pooling over the patch,
#   Linear -> m = 64, ReLU; no information crosses a patch boundary), ONE shared TT core of rank 32 over
#   the d = 16 patches, random crop (padding 4) + horizontal flip, AdamW + one-cycle, 20 epochs on all
#   50,000 training images.
# tt-shared_linear_m64_r32_cropflip_e20: the same with the per-patch linear + ReLU map of Khrulkov et al.
#
# Usage (from the repository root): nice -n 5 bash CIFAR10/run_best.sh [conv|linear]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

run() {  # run NAME ARGS...: train unless results/cifar10/best/NAME.json is complete (resumes otherwise)
  local name=$1; shift
  local out=results/cifar10/best/$name.json
  if [ -f "$out" ] && grep -q '"status": "completed"' "$out"; then echo "$out: done"; return; fi
  $PY -m tt_rnn.train --dataset cifar10 --model tt-shared --rank 32 --m 64 --patch-size 8 "$@" \
    --augment crop-flip --shift 4 --epochs 20 --batch-size 128 --lr 3e-3 --schedule onecycle \
    --weight-decay 5e-4 --grad-clip 5 --num-threads 1 --no-progress \
    --name "$name" --results-path "$out" --checkpoint-dir "checkpoints/cifar10/best/$name" --resume
}

which=${1:-both}
if [ "$which" = conv ] || [ "$which" = both ]; then
  run tt-shared_conv16_m64_r32_cropflip_e20 --features conv --hidden 16
fi
if [ "$which" = linear ] || [ "$which" = both ]; then
  run tt-shared_linear_m64_r32_cropflip_e20 --features linear
fi
