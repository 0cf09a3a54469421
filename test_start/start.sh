#!/usr/bin/env bash
# Drive a trained person with another dancer's OpenPose keypoints:
#   bash test_start/start.sh NAME KEYPOINT_JSON_DIR [extra test.py flags, e.g. --bg_path new_bg.jpg --gpu_ids -1
#                                                   --driving_video CLIP.mp4 --output_size 1280 720]
# (no --fps here: 25 by default, the driving video's rate with --driving_video)
# With no NAME (no arguments, or flags only): the shipped synthetic person (test_start/pretrained/, made by
# test_start/make_pretrained.sh) driven by its novel moves, into results/synthetic/test_latest/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON=${PYTHON:-$([ -x "$HERE/../.venv/bin/python" ] && echo "$HERE/../.venv/bin/python" || echo python3)}
if [ $# -eq 0 ] || [[ "$1" == --* ]]; then
  # the driving moves are the same person's before the same camera: no alignment needed
  exec "$PYTHON" "$HERE/../test.py" --name synthetic --checkpoints_dir "$HERE/pretrained" \
    --pose_path "$HERE/pretrained/driving_poses" --no_align --pose_size 128 128 "$@"
fi
NAME=${1:?usage: start.sh NAME KEYPOINT_JSON_DIR [flags]}
POSES=${2:?usage: start.sh NAME KEYPOINT_JSON_DIR [flags]}
shift 2
"$PYTHON" test.py --name "$NAME" --pose_path "$POSES" --which_epoch latest --smooth 1.0 "$@"
