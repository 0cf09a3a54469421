#!/usr/bin/env bash
# The GPU check of issue 14, ready to run on a machine with a CUDA GPU, at most 5 minutes; prints one JSON:
#   - training s/iter and peak memory (torch max allocated) at 512 px, original configuration, --amp none,
#     bf16 and fp16 (benchmark.py --parts train);
#   - two training steps of train.py under torchrun --nproc_per_node 1 (NCCL process group, DDP) on a tiny
#     synthetic video;
#   - inference frames/s at 512 (benchmark.py --parts infer, per engine where it reports them);
#   - the GPU's name, torch and CUDA versions.
#
#   bash bench/gpu_check.sh                              # JSON on stdout, progress on stderr
#   bash bench/gpu_check.sh --out docs/speed/gpu_check_h100.json
#   bash bench/gpu_check.sh --dry-run                    # print the commands, run nothing (no GPU needed)
#
# Without CUDA (or torch: set PYTHON=...) it stops at once with exit status 2. Each measurement has its own
# time limit inside the 5 minutes (GPU_CHECK_SECONDS, default 290; the limits are estimates, the script has not
# met a GPU yet); one that fails or runs out of time is reported under "errors" and the others still run (exit
# status 1 then). GPU_CHECK_GPU_IDS=-1 GPU_CHECK_SIZE=64 run the same steps on the CPU, to try the script
# itself (bf16 is emulated there and runs out of time, fp16 fails: it needs CUDA).
set -u
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
TOTAL=${GPU_CHECK_SECONDS:-290}
GPU=${GPU_CHECK_GPU_IDS:-0}
SIZE=${GPU_CHECK_SIZE:-512}
OUT=""
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench/gpu_check.sh: unknown argument $1 (use --out FILE, --dry-run)" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
START=$(date +%s)

# name | time limit in seconds | command
STEPS=(
  "train_none|55|$PYTHON benchmark.py --preset original --size $SIZE --gpu_ids $GPU --amp none --parts train --iters 3 --json $WORK/train_none.json"
  "train_bf16|55|$PYTHON benchmark.py --preset original --size $SIZE --gpu_ids $GPU --amp bf16 --parts train --iters 3 --json $WORK/train_bf16.json"
  "train_fp16|55|$PYTHON benchmark.py --preset original --size $SIZE --gpu_ids $GPU --amp fp16 --parts train --iters 3 --json $WORK/train_fp16.json"
  "torchrun_nccl|35|$PYTHON -m torch.distributed.run --standalone --nproc_per_node 1 train.py --name nccl --dataroot $WORK/tiny --checkpoints_dir $WORK/checkpoints --gpu_ids $GPU --loadSize 64 --batchSize 2 --max_dataset_size 4 --data_ratio 1.0 --nThreads 0 --niter 1 --niter_decay 0 --static_epochs 0 --no_vgg_loss --ngf_translate 16 --ngf 16 --ndf 16 --print_freq 1 --display_freq 1000"
  "infer|85|$PYTHON benchmark.py --preset original --size $SIZE --gpu_ids $GPU --parts infer --json $WORK/infer.json"
)
TINY_DATA="$PYTHON -m data.synthetic --out $WORK/tiny --frames 6 --size 64 64 --seed 0"

if [ $DRY = 1 ]; then
  echo "$TINY_DATA"
  for step in "${STEPS[@]}"; do IFS='|' read -r name limit command <<< "$step"; echo "timeout $limit $command"; done
  exit 0
fi

if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
  echo "bench/gpu_check.sh: $PYTHON cannot import torch: nothing was measured; set PYTHON=/path/to/venv/bin/python" >&2
  exit 2
fi
if [ "$GPU" != -1 ] && ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "bench/gpu_check.sh: no CUDA GPU is available to torch ($PYTHON): nothing was measured. Run it on a" \
       "machine with an NVIDIA GPU and a CUDA build of torch (bash bench/gpu_check.sh --dry-run lists the commands)." >&2
  exit 2
fi

"$PYTHON" -c 'import json, sys, torch
if sys.argv[1] == "-1":
    print(json.dumps({"gpu": None, "device": "cpu", "torch": torch.__version__}))
else:
    p = torch.cuda.get_device_properties(0)
    print(json.dumps({"gpu": p.name, "gpu_memory_gb": round(p.total_memory / 2 ** 30, 1), "torch": torch.__version__,
                      "cuda": torch.version.cuda, "bf16_supported": torch.cuda.is_bf16_supported()}))' "$GPU" > "$WORK/device.json"
$TINY_DATA > "$WORK/tiny.log" 2>&1 || echo '{"step": "tiny data", "log_tail": "data.synthetic failed"}' >> "$WORK/errors.jsonl"

for step in "${STEPS[@]}"; do
  IFS='|' read -r name limit command <<< "$step"
  left=$(( TOTAL - ($(date +%s) - START) ))
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -le 5 ]; then
    echo "{\"step\": \"$name\", \"log_tail\": \"not run: the 5 minutes were used up\"}" >> "$WORK/errors.jsonl"
    continue
  fi
  echo "gpu_check: $name (at most ${limit} s)" >&2
  begin=$(date +%s%N)
  timeout --kill-after 5 "$limit" $command > "$WORK/$name.log" 2>&1
  status=$?
  milliseconds=$(( ($(date +%s%N) - begin) / 1000000 ))
  echo "{\"step\": \"$name\", \"status\": $status, \"seconds\": $milliseconds.0e-3}" >> "$WORK/steps.jsonl"
  if [ $status -ne 0 ]; then
    "$PYTHON" -c 'import json, sys
reason = "ran out of its time limit" if sys.argv[2] in ("124", "137") else "exit status " + sys.argv[2]
tail = open(sys.argv[3], errors="replace").read()[-1500:]
print(json.dumps({"step": sys.argv[1], "log_tail": reason + ": " + tail}))' "$name" "$status" "$WORK/$name.log" >> "$WORK/errors.jsonl"
  fi
done

"$PYTHON" - "$WORK" "$OUT" "$SIZE" <<'EOF'
"""Combine the measurements in WORK (at SIZE px) into one JSON (stdout, and OUT when given); exit 1 when any
step failed."""
import json
import os
import re
import sys

work, out = sys.argv[1], sys.argv[2]


def read(name):
    path = os.path.join(work, name)
    return json.load(open(path)) if os.path.exists(path) else None


def lines(name):
    path = os.path.join(work, name)
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


steps = {s['step']: s for s in lines('steps.jsonl')}
result = dict(read('device.json') or {})
result['check'] = 'bench/gpu_check.sh (issue 14, item 4)'
result['size'] = int(sys.argv[3])
result['train_original'] = {}
for amp in ('none', 'bf16', 'fp16'):
    run = read(f'train_{amp}.json')
    if run:
        train = run['train']
        result['train_original'][amp] = {
            's_per_iter': train['train_s_per_iter'], 'peak_memory_gb': train['peak_memory_gb'],
            'tflop_per_iter': train['train_tflop_per_iter'], 'fraction_of_matmul_floor': run.get('fraction_of_floor'),
            'matmul_gflops': run['matmul_gflops']}
log = os.path.join(work, 'torchrun_nccl.log')
checkpoint = os.path.join(work, 'checkpoints', 'nccl', 'latest_checkpoint.pth')
torchrun = {'exit_status': steps.get('torchrun_nccl', {}).get('status'),
            'seconds_with_start_up': steps.get('torchrun_nccl', {}).get('seconds')}
if os.path.exists(checkpoint):
    import torch
    torchrun['iterations'] = torch.load(checkpoint, map_location='cpu', weights_only=True)['progress']['iteration']
if os.path.exists(log):
    found = re.search(r'distributed: (\d+) ranks?, backend (\w+)', open(log, errors='replace').read())
    if found:
        torchrun.update(world_size=int(found.group(1)), backend=found.group(2))
result['torchrun_nproc_1_two_steps'] = torchrun
infer = read('infer.json')
result['infer_original'] = infer.get('infer') if infer else None
result['step_seconds'] = {name: s['seconds'] for name, s in steps.items()}
errors = lines('errors.jsonl')
result['errors'] = errors
text = json.dumps(result, indent=2)
print(text)
if out:
    with open(out, 'w', encoding='utf-8') as handle:
        handle.write(text + '\n')
sys.exit(1 if errors else 0)
EOF
