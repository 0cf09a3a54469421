"""Puts the repository root on sys.path, and trains what several test modules drive, once per test run: the
tiny renderer and the tiny pose2image baseline, on synthetic videos of one person."""
import os
import shutil
import sys
from types import SimpleNamespace

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from data.synthetic import generate
from tests.helpers import FRAMES, SIZE, TINY_POSE2IMAGE, run_script, train_tiny


@pytest.fixture(scope='session')
def videos(tmp_path_factory):
    """One person (seed 3): data, the video to train on (FRAMES frames of SIZE x SIZE); novel, the same person's
    novel moves at the same size; novel_80x64, 12 frames of them at 80 x 64 (its folder is named novel too)."""
    root = tmp_path_factory.mktemp('videos')
    videos = SimpleNamespace(data=root / 'synth', novel=root / 'novel', novel_80x64=root / '80x64' / 'novel')
    generate(str(videos.data), frames=FRAMES, height=SIZE, width=SIZE, motion='train', seed=3, tex_size=16)
    generate(str(videos.novel), frames=FRAMES, height=SIZE, width=SIZE, motion='novel', seed=3, tex_size=16)
    generate(str(videos.novel_80x64), frames=12, height=80, width=64, motion='novel', seed=3, tex_size=16)
    return videos


@pytest.fixture(scope='session')
def tiny_render(videos, tmp_path_factory):
    """The tiny renderer 'tiny' trained 8 static + 1 full epochs on videos.data; checkpoints latest, 4 and 8 (in
    the static stage). Eight static epochs: with four, the predicted person mask came out 12.5 % of the person's
    height taller than any of the target's own masks on one CPU (test_drive's alignment test allows 10 %); with
    eight, 2.9 %."""
    checkpoints = tmp_path_factory.mktemp('render')
    train_tiny(videos.data, checkpoints, 'tiny', '--niter', '9', '--niter_decay', '0', '--static_epochs', '8',
               '--save_epoch_freq', '4')
    return SimpleNamespace(data=videos.data, novel=videos.novel, checkpoints=checkpoints, name='tiny')


@pytest.fixture(scope='session')
def tiny_pose2image(videos, tmp_path_factory):
    """(root, data, novel): the pose2image baseline 'edn' in root/checkpoints, trained 6 epochs (60 iterations)
    on a copy of videos.data without DensePose, texture atlas or background plate."""
    root = tmp_path_factory.mktemp('pose2image')
    data = root / 'synth'
    shutil.copytree(videos.data, data)
    shutil.rmtree(data / 'densepose')
    os.remove(data / 'texture.jpg')
    os.remove(data / 'bg.jpg')
    run_script('train.py', '--model', 'pose2image', '--name', 'edn', '--dataroot', data, '--checkpoints_dir',
               root / 'checkpoints', *TINY_POSE2IMAGE, '--niter', '6', '--niter_decay', '0', '--print_freq', '5',
               '--display_freq', '30', '--lr', '0.002')
    return root, data, videos.novel
