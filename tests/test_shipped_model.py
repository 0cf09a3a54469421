"""The model shipped for `bash test_start/start.sh` without a name, and the inference checkpoints it is made of
(models.inference_checkpoint): a cut-down checkpoint renders exactly what its training checkpoint renders."""
import os
import subprocess
import sys

import torch

from models.loading import load_model
from tests.helpers import ROOT
from util.checkpoint import load_checkpoint

SHIPPED = os.path.join(ROOT, 'test_start', 'pretrained')


def test_inference_checkpoint_renders_what_the_training_checkpoint_renders(tiny_render, tmp_path):
    run_dir = tiny_render.checkpoints / tiny_render.name
    result = cut_down(run_dir, tmp_path / 'cut')
    assert result.returncode == 0, result.stderr
    cut = load_checkpoint(str(tmp_path / 'cut' / 'latest_checkpoint.pth'))
    assert 'optimizers' not in cut and set(cut['networks']) == {'trans', 'texture', 'd2g', 'background'}
    assert os.path.getsize(tmp_path / 'cut' / 'latest_checkpoint.pth') < \
        0.6 * os.path.getsize(run_dir / 'latest_checkpoint.pth')
    pose = torch.rand(2, 3, 64, 64) * 2 - 1
    full, _, _ = load_model(str(run_dir))
    small, _, _ = load_model(str(tmp_path / 'cut'))
    assert torch.equal(full.infer(pose)['output'], small.infer(pose)['output'])
    # it refuses to write over the run's own checkpoint, and names a missing one
    again = cut_down(run_dir, run_dir)
    assert again.returncode == 2 and 'would overwrite' in again.stderr and 'Traceback' not in again.stderr
    missing = cut_down(tmp_path / 'nothing', tmp_path / 'out')
    assert missing.returncode == 2 and 'nothing' in missing.stderr and 'Traceback' not in missing.stderr


def cut_down(run_dir, out_dir):
    return subprocess.run([sys.executable, '-m', 'models.inference_checkpoint', str(run_dir), str(out_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_start_sh_without_a_name_drives_the_shipped_person(tmp_path):
    checkpoint = os.path.join(SHIPPED, 'synthetic', 'latest_checkpoint.pth')
    assert os.path.getsize(checkpoint) <= 10e6
    poses = sorted(os.listdir(os.path.join(SHIPPED, 'driving_poses')))
    result = subprocess.run(['bash', os.path.join(ROOT, 'test_start', 'start.sh'), '--results_dir', str(tmp_path),
                             '--gpu_ids', '-1', '--html_frames', '2'],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env={**os.environ, 'PYTHON': sys.executable})
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / 'synthetic' / 'test_latest'
    assert len(os.listdir(folder / 'frames')) == len(poses) > 0
    for name in ('video.mp4', 'side_by_side.mp4', 'index.html'):
        assert os.path.getsize(folder / name) > 0
