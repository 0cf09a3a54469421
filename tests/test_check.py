"""data.check: a fresh synthetic dataset passes; each kind of damage fails naming the file; nothing is written."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from data import synthetic
from data.check import check_dataset
from data.layout import index_dataset
from data.readers import read_frame, read_iuv, write_flo, write_frame, write_iuv, write_openpose
from tests.helpers import snapshot

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES, HEIGHT, WIDTH = 6, 48, 64


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('check') / 'person')
    synthetic.generate(root, FRAMES, HEIGHT, WIDTH, seed=1)
    return root


def _run_cli(root, *args):
    return subprocess.run([sys.executable, '-m', 'data.check', root, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_clean_dataset_passes(dataset):
    summary, problems = check_dataset(dataset)
    assert problems == []
    counts = summary['counts']
    assert counts['frames'] == FRAMES
    assert counts['densepose'] == counts['mask'] == counts['openpose_json'] == FRAMES
    assert counts['flow'] == counts['flow_inv'] == FRAMES - 1
    assert counts['bg'] and counts['texture']
    assert summary['frame_size'] == (HEIGHT, WIDTH)
    assert 0.5 <= summary['person_frame_share'] <= 1.0
    assert 0.01 < summary['iuv_person_share'] < 0.9
    assert summary['iuv_mask_iou'] > 0.8
    assert 0 < summary['flow_magnitude']['flow']['mean'] < summary['flow_magnitude']['flow']['max'] < WIDTH

    result = _run_cli(dataset)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'OK' in result.stdout and f'{WIDTH}x{HEIGHT}' in result.stdout


def _damage_missing_iuv(files):
    os.remove(files.iuv[2])
    return files.iuv[2], 'missing'


def _damage_truncated_flo(files):
    with open(files.flow[1], 'rb') as handle:
        data = handle.read()
    with open(files.flow[1], 'wb') as handle:
        handle.write(data[:len(data) // 2])
    return files.flow[1], 'truncated'


def _damage_truncated_flo_whole_floats(files):
    with open(files.flow_inv[2], 'r+b') as handle:
        handle.truncate(12 + 4 * 100)
    return files.flow_inv[2], 'truncated'


def _damage_bad_magic(files):
    with open(files.flow_inv[0], 'r+b') as handle:
        handle.write(np.array([1.0], np.float32).tobytes())
    return files.flow_inv[0], 'magic'


def _damage_iuv_part_30(files):
    iuv = read_iuv(files.iuv[1])
    iuv[HEIGHT // 2, WIDTH // 2, 0] = 30
    write_iuv(files.iuv[1], iuv)
    return files.iuv[1], 'part index 30'


def _damage_corrupt_jpg(files):
    with open(files.frames[3], 'r+b') as handle:
        handle.write(b'this is no image' * 8)
    return files.frames[3], 'decode'


def _damage_truncated_jpg(files):
    with open(files.frames[5], 'r+b') as handle:
        handle.truncate(os.path.getsize(files.frames[5]) // 2)      # OpenCV decodes it, grey where cut
    return files.frames[5], 'truncated'


def _damage_no_person(files):
    for path in files.pose:
        write_openpose(path, [])
    return os.path.dirname(files.pose[0]), 'no person detected in any frame'


def _damage_flow_count(files):
    os.remove(files.flow[-1])
    return os.path.dirname(files.flow[0]), f'expected {FRAMES - 1}'


def _damage_frame_size(files):
    frame = read_frame(files.frames[4])
    write_frame(files.frames[4], np.ascontiguousarray(frame[:HEIGHT - 8, :WIDTH - 16]))
    return files.frames[4], f'{WIDTH - 16}x{HEIGHT - 8}'


def _damage_flow_size(files):
    write_flo(files.flow[3], np.zeros((HEIGHT // 2, WIDTH // 2, 2), np.float32))
    return files.flow[3], f'{WIDTH // 2}x{HEIGHT // 2}'


def _damage_texture_shape(files):
    write_frame(files.texture, np.zeros((100, 64, 3), np.uint8))
    return files.texture, '6 rows x 4 columns'


DAMAGES = {name[len('_damage_'):]: fn for name, fn in globals().items() if name.startswith('_damage_')}


def _damaged_copy(dataset, tmp_path):
    copy = str(tmp_path / os.path.basename(dataset))     # the frames folder is named after the dataset
    shutil.copytree(dataset, copy)
    return copy, index_dataset(copy)


@pytest.mark.parametrize('damage', sorted(DAMAGES))
def test_damage_is_reported_naming_the_file(dataset, tmp_path, damage):
    copy, files = _damaged_copy(dataset, tmp_path)
    culprit, words = DAMAGES[damage](files)
    before = snapshot(copy)
    _, problems = check_dataset(copy)
    assert snapshot(copy) == before
    named = [p for p in problems if culprit in p]
    assert named, f'no problem names {culprit}: {problems}'
    assert any(words in p for p in named), f'{words!r} not in {named}'


def test_cli_lists_every_problem_and_fails(dataset, tmp_path):
    copy, files = _damaged_copy(dataset, tmp_path)
    culprits = [_damage_missing_iuv(files)[0], _damage_bad_magic(files)[0], _damage_corrupt_jpg(files)[0],
                _damage_frame_size(files)[0]]
    result = _run_cli(copy, '--quiet')
    assert result.returncode == 2
    for culprit in culprits:
        assert culprit in result.stdout, f'{culprit} missing from:\n{result.stdout}'
    assert f'{len(culprits)} problems' in result.stdout


def test_checker_modifies_nothing(dataset):
    before = snapshot(dataset)
    check_dataset(dataset)
    assert _run_cli(dataset).returncode == 0
    assert snapshot(dataset) == before
