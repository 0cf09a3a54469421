"""bench/gpu_check.sh without a GPU: it stops at once with a message that says so, and --dry-run lists what it would
run (the three training precisions at 512, torchrun with one rank, inference)."""
import os
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import ROOT

SCRIPT = os.path.join(ROOT, 'bench', 'gpu_check.sh')


def run(*args):
    return subprocess.run(['bash', SCRIPT, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, 'PYTHON': sys.executable})


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA GPU is present: the check would run')
def test_without_cuda_it_stops_at_once_and_says_why():
    start = time.time()
    result = run()
    assert result.returncode == 2
    assert 'no CUDA GPU is available' in result.stderr and 'nothing was measured' in result.stderr
    assert result.stdout == '' and time.time() - start < 60


def test_dry_run_lists_every_measurement():
    result = run('--dry-run')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for amp in ('none', 'bf16', 'fp16'):
        assert any(f'--amp {amp} --parts train' in line and '--size 512 --gpu_ids 0' in line for line in lines), amp
    assert any('torch.distributed.run' in line and '--nproc_per_node 1' in line and 'train.py' in line
               for line in lines)
    assert any('--parts infer' in line for line in lines)
    assert all(line.startswith('timeout ') for line in lines[1:])
    assert sum(int(line.split()[1]) for line in lines[1:]) <= 300          # the limits fit in 5 minutes
