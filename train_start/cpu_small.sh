#!/usr/bin/env bash
# Small model that trains on a CPU in minutes: bash train_start/cpu_small.sh DATA NAME [extra train.py flags]
set -euo pipefail
DATA=${1:?usage: cpu_small.sh DATA NAME [flags]}
NAME=${2:?usage: cpu_small.sh DATA NAME [flags]}
shift 2
PYTHON=${PYTHON:-python3}
"$PYTHON" train.py --name "$NAME" --dataroot "$DATA" --gpu_ids -1 \
  --loadSize 128 --batchSize 2 --nThreads 1 \
  --ngf_translate 16 --n_downsample_translate 3 --n_blocks_translate 2 \
  --ngf 16 --n_downsample_global 3 --n_blocks_global 2 \
  --tex_size 64 --tex_feat 8 --ndf 16 --num_D 2 --n_layers_D 3 \
  --niter 6 --niter_decay 4 --static_epochs 3 --lr 0.001 \
  --no_vgg_loss --print_freq 20 --display_freq 50 --save_latest_freq 200 --save_epoch_freq 5 "$@"
