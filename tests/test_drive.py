"""test.py end to end on a tiny model trained on a synthetic video: driving with the same person's novel
moves, alignment of a smaller and shifted dancer, messy OpenPose input, a new background, the
reconstruction (val) phase, and a non-square model with 3D labels."""
import glob
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from data.transforms import resize_image
from data.readers import read_frame, read_openpose, write_frame, write_openpose
from data.driving import affine_label
from data.synthetic import generate
from models.loading import load_model
from inference.drive import drive as run_drive
from options.test_options import TestOptions as DriveOptions
from tests.helpers import FRAMES, SIZE, run_script, train_tiny
from util.pose import draw_pose, scale_pose
from util.pose_align import clean_sequence
from util.video import read_video

MEASURED = {}        # numbers for the report (pytest -s prints them)


@pytest.fixture(scope='module')
def trained(tiny_render):
    """The shared tiny renderer (tests/conftest.py: 8 static + 1 full epochs on 24 frames of 64 x 64) and the
    same person's novel moves."""
    yield tiny_render
    print('\nmeasured:', *(f'  {key}: {value}' for key, value in MEASURED.items()), sep='\n')


def drive(trained, results, *args):
    """test.py's work (inference.drive) in this process; returns the result folder."""
    argv = ['--name', trained.name, '--checkpoints_dir', trained.checkpoints, '--gpu_ids', '-1', '--results_dir',
            results, '--batch_size', '8', *args]
    return run_drive(DriveOptions().parse([str(a) for a in argv]))[0]


def write_driving(source_dir, out_dir, transform):
    """Copy OpenPose JSON files, each frame's persons replaced by transform(t, persons)."""
    os.makedirs(out_dir, exist_ok=True)
    for t, path in enumerate(sorted(glob.glob(os.path.join(source_dir, 'openpose_json', '*.json')))):
        write_openpose(os.path.join(out_dir, os.path.basename(path)), transform(t, read_openpose(path)))
    return str(out_dir)


def shrunk(_t, people):
    """The driving dancer of the brief: 0.8 x smaller and 20 % of the width further right."""
    return [scale_pose(p, 0.8, 0.8, 0.2 * SIZE, 0.0) for p in people]


def extent(image, threshold):
    """(height, bottom row, centre x) of the pixels of a grey or RGB image above threshold; NaNs if none."""
    grey = image.max(axis=2) if image.ndim == 3 else image
    on = grey > threshold
    rows = np.flatnonzero(on.any(axis=1))
    if not len(rows):
        return np.nan, np.nan, np.nan
    return rows[-1] - rows[0] + 1, rows[-1], np.nonzero(on)[1].mean()


def median_extent(paths, threshold):
    return np.nanmedian(np.array([extent(read_frame(p), threshold) for p in paths], float), axis=0)


def masks(folder):
    return sorted(glob.glob(os.path.join(folder, 'mask', '*.png')))


def snapshot(folder):
    return {p: os.path.getmtime(p) for p in glob.glob(os.path.join(str(folder), '**'), recursive=True)}


def test_cli_writes_frames_videos_and_page(trained, tmp_path):
    before = snapshot(trained.data), snapshot(trained.novel)
    command = ['--name', trained.name, '--checkpoints_dir', trained.checkpoints, '--gpu_ids', '-1',
               '--pose_path', trained.novel / 'openpose_json']
    run_script('test.py', *command, '--results_dir', tmp_path, '--html_frames', '5')
    folder = tmp_path / 'tiny' / 'test_latest'
    frames = sorted(glob.glob(str(folder / 'frames' / '*.png')))
    assert [os.path.basename(p) for p in frames] == [f'frame{k:05d}.png' for k in range(1, FRAMES + 1)]
    assert read_frame(frames[0]).shape == (SIZE, SIZE, 3)
    video, side = read_video(str(folder / 'video.mp4')), read_video(str(folder / 'side_by_side.mp4'))
    assert video.shape == (FRAMES, SIZE, SIZE, 3) and side.shape == (FRAMES, SIZE, 3 * SIZE, 3)
    assert np.abs(video[5].astype(int) - read_frame(frames[5])).mean() < 6        # the same frames, encoded
    page = (folder / 'index.html').read_text()
    assert 'href="video.mp4"' in page and 'href="side_by_side.mp4"' in page
    assert page.count('<img') == 5 * 3 and 'frames/frame00024.png' in page and 'images/frame00001_aligned.png' in page
    summary = json.loads((folder / 'summary.json').read_text())
    assert summary['frames'] == FRAMES and summary['alignment']['mode'] == 'global'
    assert (folder / 'test_opt.txt').exists()
    assert (snapshot(trained.data), snapshot(trained.novel)) == before        # datasets untouched

    refused = run_script('test.py', *command, '--results_dir', trained.novel / 'results', check=False)
    assert refused.returncode != 0 and 'refusing to write results inside the dataset' in refused.stderr
    assert not (trained.novel / 'results').exists()


def test_alignment_restores_height_and_feet(trained, tmp_path):
    driving = write_driving(trained.novel, tmp_path / 'small', shrunk)
    aligned = drive(trained, tmp_path / 'aligned', '--pose_path', driving, '--save_mask', '--smooth', '0')
    plain = drive(trained, tmp_path / 'plain', '--pose_path', driving, '--save_mask', '--smooth', '0', '--no_align')

    # the network's input: aligned skeletons vs the novel moves drawn at their true size and place
    truth = clean_sequence([read_openpose(p) for p in sorted(glob.glob(str(trained.novel / 'openpose_json' / '*')))],
                           smooth=0)
    true_h, true_bottom, _ = np.nanmedian([extent(draw_pose(p, SIZE, SIZE), 0) for p in truth], axis=0)
    skeleton = {}
    for label, folder in (('aligned', aligned), ('unaligned', plain)):
        h, bottom, _ = median_extent(sorted(glob.glob(os.path.join(folder, 'images', '*_aligned.png'))), 0)
        skeleton[label] = (h / true_h - 1, (bottom - true_bottom) / true_h)
    # the rendered person: predicted mask (1 - bg_prob > 0.5) vs the target's own masks in training
    own = np.array([extent(read_frame(p), 127) for p in sorted(glob.glob(str(trained.data / 'mask' / '*.png')))])
    low, high = own.min(axis=0), own.max(axis=0)
    reference_h = np.median(own[:, 0])

    def off(value, k):      # distance outside the target's own [min, max] range, in person heights
        return max(low[k] - value, value - high[k], 0.0) / reference_h

    mask = {}
    for label, folder in (('aligned', aligned), ('unaligned', plain)):
        h, bottom, _ = median_extent(masks(folder), 127)
        mask[label] = (off(h, 0), off(bottom, 1), h, bottom)
    MEASURED['skeleton (height error, foot error) / person height'] = skeleton
    MEASURED['mask outside the target range (height, foot) / person height, median h, bottom'] = mask
    MEASURED['target own mask range (height, bottom)'] = (low[:2].tolist(), high[:2].tolist())

    assert abs(skeleton['aligned'][0]) < 0.05 and abs(skeleton['aligned'][1]) < 0.05
    assert abs(skeleton['unaligned'][0]) > 0.1 and abs(skeleton['unaligned'][1]) > 0.1
    assert mask['aligned'][0] < 0.1 and mask['aligned'][1] < 0.1
    assert mask['unaligned'][0] > 0.1 and mask['unaligned'][1] > 0.1


def messy(t, people):
    """Real OpenPose trouble: nobody, a bystander, lost joints, no face or hands."""
    if t in (2, 3):
        return []
    pose = {k: (None if v is None else v.copy()) for k, v in people[0].items()}
    if t == 6:
        return [scale_pose(pose, 0.5, 0.5, 40.0, 0.0), pose]          # a small bystander listed first
    if 9 <= t <= 11:
        pose['body'][[3, 4, 12, 13, 14], 2] = 0                       # right arm and left leg lost
    if t == 14:
        pose['face'] = pose['hand_left'] = pose['hand_right'] = None
    if t == 17:
        pose['body'][[10, 11, 13, 14, 19, 20, 21, 22, 23, 24], 2] = 0  # legs cut off
    return [pose]


def test_messy_driving_json_does_not_crash(trained, tmp_path):
    driving = write_driving(trained.novel, tmp_path / 'messy', messy)
    folder = drive(trained, tmp_path / 'out', '--pose_path', driving, '--save_mask')
    alphas = [read_frame(p)[..., 0] for p in masks(folder)]
    frames = [read_frame(p) for p in sorted(glob.glob(os.path.join(folder, 'frames', '*.png')))]
    assert len(alphas) == len(frames) == FRAMES
    person = np.array([(a > 127).sum() for a in alphas])
    assert person.min() > 0.5 * np.median(person), person
    centres = np.array([np.nonzero(a > 127)[1].mean() for a in alphas])
    assert abs(centres[6] - (centres[5] + centres[7]) / 2) < 4, centres    # the dancer, not the bystander
    background = read_frame(str(trained.checkpoints / 'tiny' / 'latest_background.png')).astype(int)
    for frame, alpha in zip(frames, alphas):
        assert np.abs(frame.astype(int) - background)[alpha > 127].mean() > 5


def test_new_background_of_another_size(trained, tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (37, 91, 3), dtype=np.uint8)
    bg_path = str(tmp_path / 'plate.png')
    write_frame(bg_path, image)
    with pytest.warns(UserWarning, match='--ngf 32 ignored'):
        folder = drive(trained, tmp_path / 'out', '--pose_path', str(trained.novel / 'openpose_json'),
                       '--bg_path', bg_path, '--save_mask', '--start', '4', '--how_many', '6', '--ngf', '32')
    expected = resize_image(image, SIZE, SIZE).astype(int)
    learned = read_frame(str(trained.checkpoints / 'tiny' / 'latest_background.png')).astype(int)
    frames = sorted(glob.glob(os.path.join(folder, 'frames', '*.png')))
    assert len(frames) == 6
    worst, share, excess = 0, [], 0
    for frame_path, mask_path in zip(frames, masks(folder)):
        output, alpha = read_frame(frame_path).astype(int), read_frame(mask_path)[..., 0].astype(int)
        difference = np.abs(output - expected)
        # output - plate = (1 - bg_prob) (person - plate): never more than the alpha (+ rounding)
        excess = max(excess, (difference.max(axis=2) - alpha).max())
        outside = alpha <= 1                                            # bg_prob > 0.994
        share.append(outside.mean())
        worst = max(worst, difference[outside].max())
        assert np.abs(learned - expected)[outside].mean() > 30        # the learned plate would not match
    MEASURED['new background: largest difference where bg_prob > 0.994, its share of pixels'] = (worst, min(share))
    assert excess <= 1
    assert min(share) > 0.005 and worst <= 2
    assert 'images/background.png' in open(os.path.join(folder, 'index.html')).read()


def test_static_stage_checkpoint_renders_without_the_untrained_detail_generator(trained):
    """Epoch 4 lies in the static stage: its D2G never trained, so inference is the texture render."""
    pose = torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    outputs = {}
    for label, full in (('4', False), ('latest', True)):
        model, _, _ = load_model(str(trained.checkpoints / trained.name), label)
        assert model.full_stage is full
        result = model.infer(pose)
        outputs[label] = result
        assert torch.equal(result['output'], result['raw']) is not full
    assert set(outputs['4']) == set(outputs['latest'])             # --bg_path needs 'person' either way


def test_val_phase_renders_held_out_frames_next_to_real(trained, tmp_path):
    folder = drive(trained, tmp_path, '--phase', 'val')
    assert folder.endswith(os.path.join('tiny', 'val_latest'))
    held_out = FRAMES - int(FRAMES * 0.9)
    frames = sorted(glob.glob(os.path.join(folder, 'frames', '*.png')))
    side = read_video(os.path.join(folder, 'side_by_side.mp4'))
    assert len(frames) == held_out and side.shape == (held_out, SIZE, 2 * SIZE, 3)
    real = read_frame(sorted(glob.glob(str(trained.data / 'synth' / '*.jpg')))[-1]).astype(int)
    assert np.abs(side[-1, :, :SIZE].astype(int) - real).mean() < 6            # real | output
    summary = json.loads(open(os.path.join(folder, 'summary.json')).read())
    MEASURED['val PSNR'] = summary['psnr']
    assert summary['psnr'] > 15
    assert 'images/frame00001_real.png' in open(os.path.join(folder, 'index.html')).read()


def test_non_square_model_with_3d_labels(trained, tmp_path):
    """A 64 x 48 (H x W) model with 3D label channels, driven by keypoints of a 64 x 64 video."""
    data = tmp_path / 'portrait'
    generate(str(data), frames=12, height=64, width=48, motion='train', seed=4, tex_size=16)

    def labels(folder, count, height, width):
        os.makedirs(folder, exist_ok=True)
        ramp = np.linspace(0, 1, width, dtype=np.float32)
        for k in range(count):
            np.save(os.path.join(folder, f'frame{k + 1:05d}.npy'), np.stack([np.tile(ramp, (height, 1))] * 3))
    labels(data / 'LaplaceProj', 12, 64, 48)
    train_tiny(data, tmp_path / 'checkpoints', 'portrait', '--niter', '1', '--niter_decay', '0', '--static_epochs',
               '1', '--data_ratio', '0.75', '--use_label3d', '--label3d_nc', '3')
    labels(tmp_path / 'driving_labels', FRAMES, 64, 64)
    model = SimpleNamespace(checkpoints=tmp_path / 'checkpoints', name='portrait')
    args = ['--pose_path', str(trained.novel / 'openpose_json'), '--pose_size', '64', '64', '--how_many', '5']
    with pytest.raises(SystemExit, match='--label3d_path'):         # a clean SystemExit, not a crash
        drive(model, tmp_path / 'out', *args)
    folder = drive(model, tmp_path / 'out', *args, '--label3d_path', str(tmp_path / 'driving_labels'))
    frames = sorted(glob.glob(os.path.join(folder, 'frames', '*.png')))
    assert len(frames) == 5 and read_frame(frames[0]).shape == (64, 48, 3)
    assert read_video(os.path.join(folder, 'side_by_side.mp4')).shape == (5, 64, 3 * 48, 3)
    folder = drive(model, tmp_path / 'out', '--phase', 'val')
    frames = sorted(glob.glob(os.path.join(folder, 'frames', '*.png')))
    assert len(frames) == 3 and read_frame(frames[0]).shape == (64, 48, 3)


def test_label_warp_follows_the_keypoints():
    """3D labels get the same pixel mapping as the keypoints (here: a 2x upscale)."""
    label = np.zeros((1, 10, 10), np.float32)
    label[0, 3, 7] = 1
    matrix = np.array([[2, 0, 0.5], [0, 2, 0.5]], np.float64)          # pixel-centre 2x: x' = 2x + 0.5
    out = affine_label(label, matrix, 20, 20)
    assert out.shape == (1, 20, 20) and set(zip(*np.nonzero(out[0]))) == {(6, 14), (6, 15), (7, 14), (7, 15)}
