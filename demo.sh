#!/usr/bin/env bash
# End-to-end demo on the built-in synthetic data, CPU only: install, make a video, train, show results.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirement.txt
export PYTHON=.venv/bin/python
DATA=datasets/demo_synth
if [ ! -f "$DATA/gt/meta.json" ]; then
  $PYTHON -m data.synthetic --out "$DATA" --frames 120 --size 128 128 --seed 0
fi
$PYTHON -m data.check "$DATA" --quiet
if [ ! -f datasets/demo_novel/gt/meta.json ]; then
  $PYTHON -m data.synthetic --out datasets/demo_novel --frames 100 --size 128 128 --seed 0 --motion novel
fi
RESUME=()
if [ -f checkpoints/demo/latest_checkpoint.pth ]; then
  RESUME=(--continue_train)   # a finished run resumes at its end: nothing is retrained or overwritten
fi
bash train_start/cpu_small.sh "$DATA" demo "${RESUME[@]}"
bash test_start/start.sh demo datasets/demo_novel/openpose_json --gpu_ids -1
# the driven person is synthetic: its novel moves have ground truth to measure the video against
$PYTHON evaluate.py --name demo --dataroot datasets/demo_novel --phase all --gpu_ids -1
echo
$PYTHON -m evaluation.headline results/demo/eval_all_latest_demo_novel/metrics.json --reference docs/quality.json
echo
echo "Training page:  checkpoints/demo/web/index.html   (losses: checkpoints/demo/loss_log.txt)"
echo "Driven video:   results/demo/test_latest/video.mp4 and side_by_side.mp4"
echo "Results page:   results/demo/test_latest/index.html"
echo "Evaluation:     results/demo/eval_all_latest_demo_novel/index.html"
