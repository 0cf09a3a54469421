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
bash train_start/cpu_small.sh "$DATA" demo
echo
echo "Training page: checkpoints/demo/web/index.html   losses: checkpoints/demo/loss_log.txt"
