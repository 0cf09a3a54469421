#!/usr/bin/env bash
# Drive a trained person with another dancer's OpenPose keypoints:
#   bash test_start/start.sh NAME KEYPOINT_JSON_DIR [extra test.py flags, e.g. --bg_path new_bg.jpg --gpu_ids -1
#                                                   --driving_video CLIP.mp4 --output_size 1280 720]
# (no --fps here: 25 by default, the driving video's rate with --driving_video)
set -euo pipefail
NAME=${1:?usage: start.sh NAME KEYPOINT_JSON_DIR [flags]}
POSES=${2:?usage: start.sh NAME KEYPOINT_JSON_DIR [flags]}
shift 2
PYTHON=${PYTHON:-python3}
"$PYTHON" test.py --name "$NAME" --pose_path "$POSES" --which_epoch latest --smooth 1.0 "$@"
