#!/usr/bin/env bash
# Whole model, end to end, at the paper's 512 scale, starting from a pre-trained UV generator.
#   bash train_start/pretrain_start.sh DATA NAME [PRETRAINED_TRANS_RUN_DIR] [extra flags]
# Several GPUs: NPROC=4 bash train_start/pretrain_start.sh ...
# Its networks: the original research code's, train_start/original.flags.
set -euo pipefail
DATA=${1:?usage: pretrain_start.sh DATA NAME [PRETRAINED_RUN_DIR] [flags]}
NAME=${2:?usage: pretrain_start.sh DATA NAME [PRETRAINED_RUN_DIR] [flags]}
shift 2
PRETRAINED=()
if [ $# -gt 0 ] && [ -d "$1" ]; then
  PRETRAINED=(--load_pretrain_TransG "$1")
  shift
fi
source "$(dirname "${BASH_SOURCE[0]}")/preset.sh"
preset_flags original MODEL
PYTHON=${PYTHON:-python3}
LAUNCH=("$PYTHON")
if [ "${NPROC:-1}" -gt 1 ]; then
  LAUNCH=("$PYTHON" -m torch.distributed.run --nproc_per_node "$NPROC")
fi
"${LAUNCH[@]}" train.py --name "$NAME" --dataroot "$DATA" "${PRETRAINED[@]}" \
  --loadSize 512 --batchSize 2 --nThreads 4 --amp bf16 \
  "${MODEL[@]}" \
  --niter 20 --niter_decay 20 --static_epochs 3 --tf_log "$@"
