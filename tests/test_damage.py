"""A damage catalogue run through train.py (and test.py, evaluate.py for a corrupt checkpoint): each damage
ends with exit status 2 and one message naming the file, no traceback, before the first step, the dataset
and the checkpoints byte-identical afterwards; survivable oddities train; a file damaged mid-run stops the
run cleanly with its last checkpoint intact.

Most cases run the script in this process (runpy, exactly as `python train.py` runs it, without paying
the imports again); the real processes check the exit status and stderr as a user sees them."""
import contextlib
import io
import os
import runpy
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from data.layout import index_dataset
from data.readers import (DataFileError, read_frame, read_iuv, read_openpose, write_flo, write_frame, write_iuv,
                          write_openpose)
from data.synthetic import generate
from tests.helpers import ROOT, TINY, run_script, snapshot
from util.checkpoint import load_checkpoint
from util.pose import scale_pose

FRAMES, SIZE = 10, 64
TRAIN = [*TINY, '--data_ratio', '0.8', '--niter', '1', '--niter_decay', '0', '--static_epochs', '1',
         '--print_freq', '1000', '--display_freq', '1000']


@pytest.fixture(scope='module')
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp('damage') / 'synth'
    generate(str(root), frames=FRAMES, height=SIZE, width=SIZE, seed=3, tex_size=16)
    return root


def copy_of(dataset, tmp_path):
    copy = tmp_path / dataset.name      # the frames folder is named after the dataset
    shutil.copytree(dataset, copy)
    return copy, index_dataset(str(copy))


def run_here(script, *args):
    """(exit status, stderr) of `python script args` run in this process."""
    stderr, argv = io.StringIO(), sys.argv
    sys.argv = [script, *map(str, args)]
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            runpy.run_path(os.path.join(ROOT, script), run_name='__main__')
    except SystemExit as stop:
        return stop.code, stderr.getvalue()
    finally:
        sys.argv = argv
    return 0, stderr.getvalue()


def assert_clean_failure(status, stderr, *named):
    """Exit status 2, one 'error: ' message at the end of stderr (after any progress bars) naming each of named."""
    assert status == 2, stderr
    assert 'Traceback' not in stderr and stderr.count('error: ') == 1, stderr
    assert stderr.startswith('error: ') or '\nerror: ' in stderr, stderr
    message = stderr[stderr.index('error: '):]
    for name in named:
        assert str(name) in message, f'{name} not in:\n{message}'


# -- the catalogue: each damages a copy and returns (the file the message must name, words it must hold) --
def _truncate(path, keep=0.5):
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:int(len(data) * keep)])


def _damage_truncated_jpg(files):
    _truncate(files.frames[-1])          # the last frame: the val split, met last without the check
    return files.frames[-1], 'truncated'


def _damage_truncated_flo(files):
    _truncate(files.flow[3])
    return files.flow[3], 'header 64x64 needs'


def _damage_bad_magic_flo(files):
    with open(files.flow_inv[0], 'r+b') as handle:
        handle.write(np.array([1.0], np.float32).tobytes())
    return files.flow_inv[0], 'magic'


def _damage_flo_of_another_size(files):
    write_flo(files.flow[2], np.zeros((SIZE // 2, SIZE // 2, 2), np.float32))
    return files.flow[2], f'flow is {SIZE // 2}x{SIZE // 2}, the frames are {SIZE}x{SIZE}'


def _damage_iuv_part_30(files):
    iuv = read_iuv(files.iuv[5])
    iuv[SIZE // 2, SIZE // 2, 0] = 30
    write_iuv(files.iuv[5], iuv)
    return files.iuv[5], 'part index 30'


def _damage_missing_iuv(files):
    os.remove(files.iuv[3])
    return files.iuv[3], 'missing'


def _damage_truncated_mask(files):
    _truncate(files.mask[6], 0.7)
    return files.mask[6], 'cannot decode'


def _damage_unreadable_json(files):
    open(files.pose[6], 'w').write('{"version": 1.3, "people": [')
    return files.pose[6], 'invalid JSON'


def _damage_unreadable_texture(files):
    open(files.texture, 'wb').write(b'not an image at all' * 10)
    return files.texture, 'texture atlas'


def _damage_missing_bg(files):
    os.remove(files.bg)
    return files.bg, 'background plate'


def _damage_frame_of_another_size(files):
    write_frame(files.frames[4], np.ascontiguousarray(read_frame(files.frames[4])[:48]))
    return files.frames[4], f'frame is {SIZE}x48'


def _damage_missing_flow_inv(files):
    shutil.rmtree(os.path.dirname(files.flow_inv[0]))
    return os.path.dirname(files.flow_inv[0]), 'flow_inv folder not found'


DAMAGES = {name[len('_damage_'):]: damage for name, damage in globals().items() if name.startswith('_damage_')}


@pytest.mark.parametrize('damage', sorted(DAMAGES))
def test_damage_stops_train_before_the_first_step(clean, tmp_path, damage):
    copy, files = copy_of(clean, tmp_path)
    culprit, words = DAMAGES[damage](files)
    before = snapshot(copy)
    status, stderr = run_here('train.py', '--name', 'run', '--dataroot', copy, '--checkpoints_dir',
                              tmp_path / 'checkpoints', *TRAIN)
    assert_clean_failure(status, stderr, culprit, words)
    assert snapshot(copy) == before
    assert not (tmp_path / 'checkpoints').exists(), 'something was written before the check'


@pytest.mark.parametrize('how', ['flag', 'environment'])
def test_debug_shows_the_traceback(clean, tmp_path, monkeypatch, how):
    copy, files = copy_of(clean, tmp_path)
    _damage_truncated_jpg(files)
    extra = ['--debug'] if how == 'flag' else []
    if how == 'environment':
        monkeypatch.setenv('NHR_DEBUG', '1')
    with pytest.raises(DataFileError, match='frame00010.jpg'):
        run_here('train.py', '--name', 'run', '--dataroot', copy, '--checkpoints_dir', tmp_path / 'checkpoints',
                 *TRAIN, *extra)


def test_every_problem_listed_at_once_by_the_real_process(clean, tmp_path):
    copy, files = copy_of(clean, tmp_path)
    damages = (_damage_truncated_jpg, _damage_iuv_part_30, _damage_flo_of_another_size, _damage_missing_bg)
    culprits = [damage(files)[0] for damage in damages]
    before = snapshot(copy)
    result = run_script('train.py', '--name', 'run', '--dataroot', copy, '--checkpoints_dir',
                        tmp_path / 'checkpoints', *TRAIN, check=False)
    assert_clean_failure(result.returncode, result.stderr, f'dataset has {len(culprits)} problems', *culprits)
    assert snapshot(copy) == before


@pytest.fixture(scope='module')
def trained(clean, tmp_path_factory):
    """A run trained on a copy of the dataset with survivable oddities: a frame whose JSON has no person, one
    with two persons, and .DS_Store files everywhere; (dataset, checkpoints, snapshot of the dataset before)."""
    root = tmp_path_factory.mktemp('survivable')
    data = root / clean.name
    shutil.copytree(clean, data)
    files = index_dataset(str(data))
    write_openpose(files.pose[2], [])
    person = read_openpose(files.pose[5])[0]
    write_openpose(files.pose[5], [person, scale_pose(person, 0.5, 0.5, 4.0, 4.0)])
    for folder in (data, files.frames_dir, *(os.path.dirname(getattr(files, kind)[0]) for kind in
                                             ('iuv', 'mask', 'pose', 'flow', 'flow_inv'))):
        open(os.path.join(folder, '.DS_Store'), 'wb').write(b'\x00\x00\x00\x01Bud1' + bytes(64))
    before = snapshot(data)
    run_script('train.py', '--name', 'run', '--dataroot', data, '--checkpoints_dir', root / 'checkpoints', *TRAIN)
    return data, root / 'checkpoints', before


def test_survivable_oddities_train(trained):
    data, checkpoints, before = trained
    assert snapshot(data) == before
    assert load_checkpoint(str(checkpoints / 'run' / 'latest_checkpoint.pth'))['progress']['epoch'] == 1


def _corrupt_latest(trained, tmp_path):
    checkpoints = tmp_path / 'checkpoints'
    shutil.copytree(trained[1], checkpoints)
    _truncate(checkpoints / 'run' / 'latest_checkpoint.pth')
    return checkpoints, snapshot(checkpoints)


def test_corrupt_latest_checkpoint_names_the_intact_ones(trained, tmp_path):
    data = trained[0]
    checkpoints, before = _corrupt_latest(trained, tmp_path)
    latest, intact = checkpoints / 'run' / 'latest_checkpoint.pth', '1_checkpoint.pth'
    status, stderr = run_here('train.py', '--name', 'run', '--dataroot', data, '--checkpoints_dir', checkpoints,
                              *TRAIN, '--continue_train')
    assert_clean_failure(status, stderr, latest, intact, '--which_epoch 1')
    status, stderr = run_here('evaluate.py', '--name', 'run', '--checkpoints_dir', checkpoints, '--gpu_ids', '-1',
                              '--results_dir', tmp_path / 'results')
    assert_clean_failure(status, stderr, latest, intact)
    result = run_script('test.py', '--name', 'run', '--checkpoints_dir', checkpoints, '--gpu_ids', '-1',
                        '--phase', 'val', '--results_dir', tmp_path / 'results', check=False)
    assert_clean_failure(result.returncode, result.stderr, latest, intact)
    assert snapshot(checkpoints) == before


def test_file_damaged_mid_run_ends_cleanly(trained, tmp_path):
    """A training frame damaged after the check, once epoch 1 is saved, met by a DataLoader worker in epoch 2:
    the message names it, the run ends with status 2 and its latest checkpoint loads."""
    copy, files = copy_of(trained[0], tmp_path)
    latest = tmp_path / 'checkpoints' / 'run' / 'latest_checkpoint.pth'
    command = [sys.executable, os.path.join(ROOT, 'train.py'), '--name', 'run', '--dataroot', str(copy),
               '--checkpoints_dir', str(tmp_path / 'checkpoints'), *TRAIN, '--niter', '100', '--static_epochs', '100',
               '--nThreads', '1']
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not latest.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    open(files.frames[0], 'wb').write(b'damaged after the check')
    try:
        stderr = process.communicate(timeout=300)[1]
    finally:
        process.kill()
    assert_clean_failure(process.returncode, stderr, files.frames[0], f'{latest} is intact')
    assert load_checkpoint(str(latest))['progress']['epoch'] >= 1
