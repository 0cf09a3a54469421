#!/usr/bin/env bash
# Small model that trains on a CPU in minutes: bash train_start/cpu_small.sh DATA NAME [extra train.py flags]
# Its networks: train_start/cpu_small.flags.
set -euo pipefail
DATA=${1:?usage: cpu_small.sh DATA NAME [flags]}
NAME=${2:?usage: cpu_small.sh DATA NAME [flags]}
shift 2
source "$(dirname "${BASH_SOURCE[0]}")/preset.sh"
preset_flags cpu_small MODEL
PYTHON=${PYTHON:-python3}
"$PYTHON" train.py --name "$NAME" --dataroot "$DATA" --gpu_ids -1 \
  --loadSize 128 --batchSize 2 --nThreads 1 \
  "${MODEL[@]}" --ndf 16 --num_D 2 --n_layers_D 3 \
  --niter 6 --niter_decay 4 --static_epochs 3 --lr 0.001 \
  --no_vgg_loss --print_freq 20 --display_freq 50 --save_latest_freq 200 --save_epoch_freq 5 "$@"
