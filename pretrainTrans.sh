#!/usr/bin/env bash
# Person-agnostic UV generator pre-training: bash pretrainTrans.sh DATA1[,DATA2,...] [NAME] [extra flags]
set -euo pipefail
DATAROOTS=${1:?usage: pretrainTrans.sh DATA1[,DATA2,...] [NAME] [flags]}
NAME=${2:-pretrain_trans}
shift $(( $# >= 2 ? 2 : 1 ))
PYTHON=${PYTHON:-python3}
"$PYTHON" pretrainTrans.py --name "$NAME" --dataroot "$DATAROOTS" \
  --loadSize 512 --batchSize 4 --nThreads 4 \
  --ngf_translate 64 --n_downsample_translate 4 --n_blocks_translate 9 \
  --niter 10 --niter_decay 10 --lr 0.0002 --tf_log "$@"
