#!/usr/bin/env bash
# Regenerates the model that `bash test_start/start.sh` drives when given no name: the built-in synthetic
# person (seed 0, 120 frames of 128x128) trained with train_start/cpu_small.sh (6 to 10 minutes on 2 cores),
# cut down to an inference checkpoint, and the same person's novel moves as driving keypoints.
#   bash test_start/make_pretrained.sh            (writes test_start/pretrained/; work folder $WORK)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
WORK=${WORK:-$(mktemp -d)}
OUT=test_start/pretrained
"$PYTHON" -m data.synthetic --out "$WORK/synthetic" --frames 120 --size 128 128 --seed 0
"$PYTHON" -m data.synthetic --out "$WORK/novel" --frames 100 --size 128 128 --seed 0 --motion novel
PYTHON=$PYTHON bash train_start/cpu_small.sh "$WORK/synthetic" synthetic --checkpoints_dir "$WORK/checkpoints"
rm -rf "$OUT"
"$PYTHON" -m models.inference_checkpoint "$WORK/checkpoints/synthetic" "$OUT/synthetic" --fp16
mkdir -p "$OUT/driving_poses"
cp "$WORK"/novel/openpose_json/*.json "$OUT/driving_poses/"
echo "test_start/pretrained: $(du -sh "$OUT" | cut -f1) (work files in $WORK)"
