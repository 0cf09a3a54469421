"""Per-frame files pair with the frames by name, else by frame number (data.pairing): OpenPose's video naming
and outputs numbered from 0 for frames numbered from 1 train as they are and pass prepare_dataset.py, whose
pairing check fails fast naming the frames without a file; driving poses are read in frame-number order."""
import os
import shutil

import numpy as np
import pytest

from data.check import check_dataset, format_summary
from data.clip_dataset import ClipDataset
from data.driving import read_sequence
from data.layout import index_dataset
from data.pairing import in_number_order, pair_files
from data.prepare import command as prepare_dataset
from data.prepare.masks import mask_from_iuv
from data.readers import read_frame, read_iuv, read_mask
from data.synthetic import generate
from tests.helpers import TINY, run_script
from util.video import VideoWriter

POSE = ('_keypoints.json', '.json')
IUV = ('_IUV.png', '_iuv.png', '_INDS.png', '.png')
FRAMES, SIZE = 8, 64
STEMS = [f'frame{k:05d}' for k in range(1, 41)]


# -- the rule ------------------------------------------------------------------------------------------
def test_names_of_the_frames_pair_by_name():
    names = [f'{stem}_keypoints.json' for stem in STEMS] + ['notes.txt', 'frame00099_keypoints.json']
    pairing = pair_files('D/openpose_json', STEMS, names[::-1], POSE, 'pose')
    assert pairing.files == names[:40] and pairing.note is None and pairing.problem is None


def test_openpose_video_naming_pairs_by_number():
    names = [f'dance_{k:012d}_keypoints.json' for k in range(40)]
    pairing = pair_files('D/openpose_json', STEMS, names[::-1], POSE, 'pose')
    assert pairing.files == names and pairing.problem is None
    assert pairing.note.startswith('D/openpose_json: pose files paired with the frames by frame number')
    assert 'file number = frame number - 1' in pairing.note
    assert 'dance_000000000000_keypoints.json <-> frame00001' in pairing.note


def test_zero_based_outputs_pair_with_one_based_frames():
    """39 of 40 names match a frame, one of the wrong frame: the numbers, not the names, pair them."""
    names = [f'frame{k:05d}_IUV.png' for k in range(40)] + [f'frame{k:05d}_INDS.png' for k in range(40)]
    pairing = pair_files('D/densepose', STEMS, names, IUV, 'iuv')
    assert pairing.files == names[:40] and pairing.problem is None
    assert 'file number = frame number - 1' in pairing.note and 'frame00000_IUV.png <-> frame00001' in pairing.note


def test_count_mismatch_names_the_frames_without_a_file():
    zero_based = [f'dance_{k:012d}_keypoints.json' for k in range(40) if k not in (3, 20)]
    pairing = pair_files('D/openpose_json', STEMS, zero_based, POSE, 'pose')
    assert pairing.note is None
    assert pairing.problem.startswith('D/openpose_json: missing pose for frames frame00004, frame00021 '
                                      '(38 pose files, expected 40; matched by number')
    assert pairing.files[3] is None and pairing.files[4] == 'dance_000000000004_keypoints.json'

    by_name = [f'{stem}_IUV.png' for stem in STEMS if stem != 'frame00007']
    problem = pair_files('D/densepose', STEMS, by_name, IUV, 'iuv').problem
    assert problem == 'D/densepose/frame00007_IUV.png: missing iuv for frame frame00007 (39 iuv files, expected 40)'

    many = [f'{stem}.json' for stem in STEMS[:30]]
    problem = pair_files('D/openpose_json', STEMS, many, POSE, 'pose').problem
    assert 'frame00031, frame00032, frame00033, frame00034, frame00035 and 5 more' in problem

    whole_video = [f'dance_{k:012d}_keypoints.json' for k in range(100)]
    problem = pair_files('D/openpose_json', STEMS, whole_video, POSE, 'pose').problem
    assert 'more pose files than frames' in problem and '100 pose files, expected 40' in problem


def test_numbers_that_do_not_step_with_the_frames_are_refused():
    """As many files as frames, but one frame lacks its file and another file has no frame."""
    names = [f'frame{k:05d}.json' for k in range(1, 42) if k != 5]
    pairing = pair_files('D/openpose_json', STEMS, names, POSE, 'pose')
    assert pairing.note is None and 'frame00005' in pairing.problem
    assert 'files of no frame: frame00041.json' in pairing.problem


def test_frame_number_order_is_natural():
    assert in_number_order(['f_10_.json', 'f_9_.json', 'f_100_.json', 'f_1_.json']) == \
        ['f_1_.json', 'f_9_.json', 'f_10_.json', 'f_100_.json']
    stems = [f'img{k}' for k in range(1, 121)]             # unpadded frame names
    names = [f'run_{k}.flo' for k in range(119)]
    pairing = pair_files('D/flow', stems[:-1], names[::-1], ('.flo',), 'flow')
    assert pairing.files == names and pairing.problem is None


def test_unnumbered_files_pair_in_name_order_only_when_as_many():
    pairing = pair_files('D/flow', ['a', 'b'], ['x.flo', 'y.flo'], ('.flo',), 'flow')
    assert pairing.files == ['x.flo', 'y.flo'] and 'in name order' in pairing.note
    assert 'named neither after the frames nor numbered' in pair_files('D/flow', ['a', 'b', 'c'], ['x.flo', 'y.flo'],
                                                                        ('.flo',), 'flow').problem


# -- datasets as the tools leave them -------------------------------------------------------------------
@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp('pairing') / 'synth'
    generate(str(root), frames=FRAMES, height=SIZE, width=SIZE, seed=3, tex_size=16)
    return root


def _renumber(folder, name):
    """Rename folder's files, in frame order, to name(k) for k = 0, 1, ..."""
    for k, old in enumerate(in_number_order(os.listdir(folder))):
        os.rename(os.path.join(folder, old), os.path.join(folder, name(k)))


def _zero_based(folder, suffix):
    _renumber(folder, lambda k: f'frame{k:05d}{suffix}')


def _train(dataset, checkpoints):
    """One epoch of the full model (a few steps); -> stderr."""
    return run_script('train.py', '--name', 'run', '--dataroot', dataset, '--checkpoints_dir', checkpoints, *TINY,
                      '--data_ratio', '0.75', '--niter', '1', '--niter_decay', '0', '--static_epochs', '0',
                      '--print_freq', '1000', '--display_freq', '1000').stderr


def test_openpose_video_naming_trains(synth, tmp_path):
    dataset = tmp_path / 'dance'
    shutil.copytree(synth, dataset)
    os.rename(dataset / 'synth', dataset / 'dance')
    _renumber(dataset / 'openpose_json', lambda k: f'dance_{k:012d}_keypoints.json')
    ours = ClipDataset(str(dataset), 'all')
    truth = ClipDataset(str(synth), 'all').poses
    assert [p['body'].tolist() for p in ours.poses] == [p['body'].tolist() for p in truth]
    stderr = _train(dataset, tmp_path / 'checkpoints')
    assert stderr.count('pose files paired with the frames by frame number') == 1, stderr[-3000:]
    assert (tmp_path / 'checkpoints' / 'run' / 'latest_checkpoint.pth').exists()


def test_outputs_numbered_from_zero_train_with_frames_numbered_from_one(synth, tmp_path):
    dataset = tmp_path / 'synth'
    shutil.copytree(synth, dataset)
    for folder, suffix in (('densepose', '_IUV.png'), ('openpose_json', '_keypoints.json'), ('mask', '.png'),
                           ('flow', '.flo'), ('flow_inv', '.flo')):
        _zero_based(dataset / folder, suffix)
    files = index_dataset(str(dataset))
    assert files.problems == [] and len(files.notes) == 5
    assert os.path.basename(files.iuv[0]) == 'frame00000_IUV.png'
    assert os.path.basename(files.flow[-1]) == 'frame00006.flo'
    summary, problems = check_dataset(str(dataset))
    assert problems == [] and format_summary(summary).count('\n  pairing: ') == 5
    stderr = _train(dataset, tmp_path / 'checkpoints')
    for kind in ('iuv', 'pose', 'mask', 'flow', 'flow_inv'):
        assert stderr.count(f'{kind} files paired with the frames by frame number') == 1, (kind, stderr[-3000:])


@pytest.fixture(scope='module')
def video(synth):
    path = str(synth.parent / 'dance.mp4')
    with VideoWriter(path, fps=25) as writer:
        for name in in_number_order(os.listdir(synth / 'synth')):
            writer.write(read_frame(str(synth / 'synth' / name)))
    return path


def _zero_based_externals(synth, root):
    """DensePose and OpenPose output of another extraction, numbered from 0, in a new dataset folder root."""
    for folder, suffix in (('densepose', '_IUV.png'), ('openpose_json', '_keypoints.json')):
        shutil.copytree(synth / folder, root / folder)
        _zero_based(root / folder, suffix)


def _prepare(video, root, capsys):
    code = prepare_dataset.main(['--video', video, '--out', str(root), '--tex_size', '16', '--no_progress'])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_prepare_dataset_pairs_outputs_numbered_from_zero(synth, video, tmp_path, capsys):
    root = tmp_path / 'person'
    _zero_based_externals(synth, root)
    code, out, err = _prepare(video, root, capsys)
    assert code == 0, out + err
    for folder in ('densepose', 'openpose_json'):
        assert out.count(f'pairing: {root / folder}: ') == 1, out
    assert 'file number = frame number - 1' in (root / 'prepare_log.txt').read_text()
    assert 'check: OK, no problems' in out
    # frame 1's mask is made from the first IUV, frame00000_IUV.png
    expected = mask_from_iuv(read_iuv(str(root / 'densepose' / 'frame00000_IUV.png')))
    assert np.array_equal(read_mask(str(root / 'mask' / 'frame00001.png')), expected)


def test_prepare_dataset_fails_fast_naming_the_frame_without_a_file(synth, video, tmp_path, capsys):
    root = tmp_path / 'person'
    _zero_based_externals(synth, root)
    os.remove(root / 'openpose_json' / 'frame00003_keypoints.json')
    code, out, err = _prepare(video, root, capsys)
    assert code == 2
    assert f'{root / "openpose_json"}: missing pose for frame frame00004 (7 pose files, expected 8' in err
    assert not os.path.exists(root / 'flow') and not os.path.exists(root / 'mask')
    assert not os.path.exists(root / 'bg.jpg')


def test_driving_poses_are_read_in_frame_number_order(synth, tmp_path):
    folder = tmp_path / 'driving'
    shutil.copytree(synth / 'openpose_json', folder)
    _renumber(folder, lambda k: f'clip_{5 * k}_keypoints.json')     # clip_0, clip_5, clip_10, ...: not sorted
    poses = read_sequence(str(folder), 'driving poses', max_gap=12, smooth=0.0)
    truth = read_sequence(str(synth / 'openpose_json'), 'driving poses', max_gap=12, smooth=0.0)
    assert [p['body'].tolist() for p in poses] == [p['body'].tolist() for p in truth]
