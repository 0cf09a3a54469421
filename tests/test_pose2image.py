"""The pose2image baseline (--model pose2image) through the same train.py and test.py as the render model,
on a tiny synthetic video with no DensePose, texture atlas or background plate: the L1 loss falls, the
page and checkpoint hold the baseline's images and networks, test.py rebuilds it from the checkpoint
and writes frames and videos, and refuses what the baseline cannot do (--bg_path, --save_mask)."""
import glob
import json
import os

import numpy as np
import pytest

from data.readers import read_frame
from inference.drive import drive
from options.test_options import TestOptions as DriveOptions
from tests.helpers import FRAMES, SIZE, TINY_POSE2IMAGE, logged, run_script
from util.checkpoint import load_checkpoint
from util.video import read_video

EPOCHS = 6          # of the shared baseline, tiny_pose2image (tests/conftest.py)


def test_training_lowers_l1_and_writes_page_and_checkpoint(tiny_pose2image):
    root, _, _ = tiny_pose2image
    run_dir = root / 'checkpoints' / 'edn'
    l1 = logged(run_dir, 'G_l1')
    assert len(l1) == 12
    assert l1[-1] < 0.7 * l1[0], l1
    val = logged(run_dir, 'l1', phase='val')
    assert len(val) == EPOCHS and val[-1] < 0.8 * val[0], val
    for name in ('G_gan', 'G_feat', 'G_temporal', 'G_gan_temporal', 'D_real', 'DT_real'):
        assert len(logged(run_dir, name)) == 12, f'{name} missing: the baseline has no static stage'
    assert not logged(run_dir, 'G_l2_raw') and not logged(run_dir, 'G_uv')

    page = (run_dir / 'web' / 'index.html').read_text()
    for name in ('real', 'output', 'pose', 'warped_previous'):
        assert f'_{name}.png' in page, name
    assert '_texture_atlas.png' not in page and not (run_dir / 'latest_texture.png').exists()
    state = load_checkpoint(str(run_dir / 'latest_checkpoint.pth'))
    assert set(state['networks']) == {'generator', 'discriminators'}
    assert set(state['optimizers']) == {'G', 'D'}
    assert state['working_size'] == [SIZE, SIZE] and state['options']['model'] == 'pose2image'
    assert state['progress'] == {'epoch': EPOCHS, 'epoch_iter': 10, 'iteration': 60}


def test_drive_writes_video_and_frames(tiny_pose2image, tmp_path):
    root, _, novel = tiny_pose2image
    run_script('test.py', '--name', 'edn', '--checkpoints_dir', root / 'checkpoints', '--gpu_ids', '-1',
               '--pose_path', novel / 'openpose_json', '--results_dir', tmp_path, '--html_frames', '4')
    folder = tmp_path / 'edn' / 'test_latest'
    frames = sorted(glob.glob(str(folder / 'frames' / '*.png')))
    assert [os.path.basename(p) for p in frames] == [f'frame{k:05d}.png' for k in range(1, FRAMES + 1)]
    video = read_video(str(folder / 'video.mp4'))
    assert video.shape == (FRAMES, SIZE, SIZE, 3)
    assert read_video(str(folder / 'side_by_side.mp4')).shape == (FRAMES, SIZE, 3 * SIZE, 3)
    assert np.abs(video[5].astype(int) - read_frame(frames[5])).mean() < 6        # the same frames, encoded
    images = np.array([read_frame(p).astype(int) for p in frames])
    assert np.abs(images - images.mean(axis=0)).max(axis=-1).mean() > 2, 'the output does not follow the poses'
    assert (folder / 'index.html').read_text().count('<img') == 4 * 3


def test_val_phase_reconstructs_held_out_frames(tiny_pose2image, tmp_path):
    root, _, _ = tiny_pose2image
    folder = drive(DriveOptions().parse(['--name', 'edn', '--checkpoints_dir', str(root / 'checkpoints'), '--gpu_ids',
                                        '-1', '--results_dir', str(tmp_path), '--phase', 'val']))[0]
    summary = json.loads(open(os.path.join(folder, 'summary.json')).read())
    assert summary['frames'] == FRAMES - int(FRAMES * 0.9) and summary['psnr'] > 15, summary


@pytest.mark.parametrize('flag', [['--bg_path', 'plate.png'], ['--save_mask']])
def test_compositing_flags_are_refused(tiny_pose2image, tmp_path, flag):
    root, _, novel = tiny_pose2image
    refused = run_script('test.py', '--name', 'edn', '--checkpoints_dir', root / 'checkpoints', '--gpu_ids', '-1',
                         '--pose_path', novel / 'openpose_json', '--results_dir', tmp_path / 'out', *flag, check=False)
    assert refused.returncode == 2 and 'Traceback' not in refused.stderr, refused.stderr[-3000:]
    assert f'{flag[0]}: the pose2image model renders whole frames' in refused.stderr
    assert not (tmp_path / 'out').exists()          # refused before anything was written


def test_pretrained_uv_generator_is_refused(tiny_pose2image, tmp_path):
    _, data, _ = tiny_pose2image
    result = run_script('train.py', '--model', 'pose2image', '--name', 'bad', '--dataroot', data, '--checkpoints_dir',
                        tmp_path, *TINY_POSE2IMAGE, '--load_pretrain_TransG', tmp_path, check=False)
    assert result.returncode != 0 and 'has no UV generator' in result.stderr

