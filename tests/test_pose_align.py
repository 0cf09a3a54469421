"""util/pose_align.py: a driving sequence lands on the target's height, floor line and place; missing
joints and frames, jumps, depth changes and upper-body-only detections are handled."""
import glob
import os

import numpy as np
import pytest

from data.readers import read_openpose
from data.synthetic import generate
from util.pose import scale_pose
from util.pose_align import (Alignment, apply_alignment, clean_sequence, fit_alignment, identity_alignment,
                             sequence_stats)

# A standing person (BODY_25), x and y as fractions of its height from the head top, feet at y = 1.
_STANDING = {
    0: (0.00, 0.06), 1: (0.00, 0.17), 2: (-0.10, 0.18), 3: (-0.14, 0.33), 4: (-0.16, 0.47),
    5: (0.10, 0.18), 6: (0.14, 0.33), 7: (0.16, 0.47), 8: (0.00, 0.52), 9: (-0.06, 0.52),
    10: (-0.07, 0.74), 11: (-0.07, 0.95), 12: (0.06, 0.52), 13: (0.07, 0.74), 14: (0.07, 0.95),
    15: (-0.02, 0.05), 16: (0.02, 0.05), 17: (-0.05, 0.06), 18: (0.05, 0.06), 19: (0.10, 1.0),
    20: (0.12, 1.0), 21: (0.06, 0.98), 22: (-0.10, 1.0), 23: (-0.12, 1.0), 24: (-0.06, 0.98)}
HEAD_TO_ANKLE = 0.95 - 0.05     # of the _STANDING person (eyes to ankles)


def head_to_ankle(pose):
    return pose['body'][[11, 14], 1].max() - pose['body'][[0, 15, 16, 17, 18], 1].min()


def standing(height, foot_y, centre_x, conf=0.9):
    """A standing person `height` px tall whose soles are at foot_y, centred on centre_x."""
    body = np.zeros((25, 3), np.float32)
    for j, (x, y) in _STANDING.items():
        body[j] = (centre_x + x * height, foot_y - (1 - y) * height, conf)
    return {'body': body, 'face': None, 'hand_left': None, 'hand_right': None}


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    """(target: train motion, other: novel motion) clean pose sequences of one synthetic person, 128 px."""
    root = tmp_path_factory.mktemp('align')
    sequences = []
    for motion in ('train', 'novel'):
        out = str(root / motion)
        generate(out, frames=48, height=128, width=128, motion=motion, seed=5, tex_size=8)
        people = [read_openpose(p) for p in sorted(glob.glob(os.path.join(out, 'openpose_json', '*.json')))]
        sequences.append(clean_sequence(people, smooth=0))
    return sequences


def shrink_and_shift(poses, width=128):
    """The brief's driving dancer: 0.8 x smaller and 20 % of the frame width further right."""
    return [scale_pose(p, 0.8, 0.8, 0.2 * width, 0.0) for p in poses]


def vertical_error(poses_a, poses_b):
    """Median |y_a - y_b| over confident body joints of all frames."""
    a = np.stack([p['body'] for p in poses_a])
    b = np.stack([p['body'] for p in poses_b])
    ok = (a[..., 2] > 0) & (b[..., 2] > 0)
    return float(np.median(np.abs(a[..., 1] - b[..., 1])[ok]))


def test_scaled_and_shifted_dancer_aligns_back(synthetic):
    target, novel = synthetic
    driving = shrink_and_shift(novel)
    tgt = sequence_stats(target)
    before = sequence_stats(driving)
    alignment = fit_alignment(driving, target)
    aligned = apply_alignment(driving, alignment)
    after = sequence_stats(aligned)
    height = tgt['height']
    assert alignment.mode == 'global'
    assert abs(alignment.scale[0] - 1.25) < 0.03 * 1.25                 # undoes the 0.8
    assert abs(after['height'] / height - 1) < 0.02
    assert abs(after['floor'] - tgt['floor']) < 0.02 * height
    assert abs(after['centre_x'] - tgt['centre_x']) < 0.02 * height
    # the driving dancer was off by far more than that
    assert abs(before['height'] / height - 1) > 0.15
    assert abs(before['floor'] - tgt['floor']) > 0.15 * height
    # same person, same stage: the aligned joints are back where the unshrunk moves put them
    assert vertical_error(aligned, novel) < 0.03 * height
    assert vertical_error(driving, novel) > 0.1 * height


def test_identity_when_driving_is_target(synthetic):
    target, _ = synthetic
    alignment = fit_alignment(target, target)
    assert np.allclose(alignment.scale, 1.0, atol=1e-9)
    assert np.allclose(alignment.dx, 0.0, atol=1e-6) and np.allclose(alignment.dy, 0.0, atol=1e-6)
    for before, after in zip(target, apply_alignment(target, alignment)):
        assert np.allclose(before['body'], after['body'], atol=1e-4)
        assert np.allclose(before['hand_left'], after['hand_left'], atol=1e-4)


def test_missing_joints_and_frames(synthetic):
    target, novel = synthetic
    rng = np.random.default_rng(0)
    people = []
    for t, pose in enumerate(shrink_and_shift(novel)):
        if t in (3, 4, 5, 30):
            people.append([])                                   # nobody detected
            continue
        pose = {k: (None if v is None else v.copy()) for k, v in pose.items()}
        pose['body'][rng.random(25) < 0.2, 2] = 0               # 20 % of the joints lost
        if 10 <= t < 14:
            pose['body'][[11, 14], 2] = 0                       # both ankles lost for 4 frames
        if t % 7 == 0:
            pose['face'] = pose['hand_left'] = None
        crowd = [pose]
        if t == 20:                                             # a small bystander at the edge
            crowd.append(scale_pose(pose, 0.4, 0.4, 100.0, 10.0))
        people.append(crowd)
    driving = clean_sequence(people, max_gap=12, smooth=1.0)
    assert len(driving) == len(novel) and all(p is not None for p in driving)
    assert abs(driving[20]['body'][8, 0] - driving[19]['body'][8, 0]) < 5     # the dancer, not the bystander
    alignment = fit_alignment(driving, target)
    aligned = apply_alignment(driving, alignment)
    tgt, after = sequence_stats(target), sequence_stats(aligned)
    assert abs(alignment.scale[0] / 1.25 - 1) < 0.04
    assert abs(after['height'] / tgt['height'] - 1) < 0.03
    assert abs(after['floor'] - tgt['floor']) < 0.03 * tgt['height']
    # a sequence whose joints are mostly missing in a few frames only still gives finite transforms
    assert np.isfinite(alignment.scale).all() and np.isfinite(alignment.dy).all()


def test_depth_change_scales_with_the_ground_line():
    """A dancer walking towards the camera (feet lower and body bigger) stays the target's size."""
    frames = 40
    u = np.linspace(0, 1, frames)
    driving = [standing(60 + 40 * k, 70 + 50 * k, 100 + 30 * k) for k in u]    # perspective: size ~ foot y
    target = [standing(90, 180, 120) for _ in range(30)]
    alignment = fit_alignment(driving, target, window=1)
    assert alignment.mode == 'depth'
    aligned = apply_alignment(driving, alignment)
    heights = np.array([head_to_ankle(p) for p in aligned])
    ankles = np.array([p['body'][14, 1] for p in aligned])
    # exact between the 5th and 95th percentile ground lines, held constant beyond them
    inner = slice(2, -2)
    assert np.abs(heights[inner] / (90 * HEAD_TO_ANKLE) - 1).max() < 0.005
    assert np.abs(heights / (90 * HEAD_TO_ANKLE) - 1).max() < 0.05
    assert np.abs(ankles - (180 - 90 * 0.05)).max() < 0.01 * 90
    # one global scale could not do this: the driving heights vary by 1.67x
    global_heights = heights / alignment.scale * alignment.scale.mean()
    assert global_heights.max() / global_heights.min() > 1.5

    # a target seen at two depths: the driving near position maps to the target's near one
    target = [standing(50 + 40 * k, 100 + 80 * k, 120) for k in np.linspace(0, 1, 30)]
    aligned = apply_alignment(driving, fit_alignment(driving, target, window=1))
    assert abs(head_to_ankle(aligned[0]) / (50 * HEAD_TO_ANKLE) - 1) < 0.05
    assert abs(head_to_ankle(aligned[-1]) / (90 * HEAD_TO_ANKLE) - 1) < 0.05
    after, tgt = sequence_stats(aligned, window=1), sequence_stats(target, window=1)
    assert abs(after['far'] - tgt['far']) < 0.03 * 90 and abs(after['near'] - tgt['near']) < 0.03 * 90


def test_jumps_are_not_depth_and_stay_jumps():
    frames = 60
    lift = np.where(np.arange(frames) % 20 < 5, 12.0, 0.0)                    # 5-frame jumps of 12 px
    driving = [standing(80, 150 - h, 60) for h in lift]
    target = [standing(120, 200, 100) for _ in range(20)]
    alignment = fit_alignment(driving, target)
    assert alignment.mode == 'global'
    assert abs(alignment.scale[0] - 1.5) < 1e-6
    aligned = apply_alignment(driving, alignment)
    ankles = np.array([p['body'][14, 1] for p in aligned])
    floor = 200 - 120 * 0.05
    assert np.abs(ankles[lift == 0] - floor).max() < 1e-3
    assert np.abs(ankles[lift > 0] - (floor - 1.5 * 12)).max() < 1e-3


def test_upper_body_only_falls_back_to_the_torso():
    driving = [standing(80, 150, 60) for _ in range(10)]
    for pose in driving:
        pose['body'][[10, 11, 13, 14, 19, 20, 21, 22, 23, 24], 2] = 0           # no legs below the knees
    target = [standing(120, 200, 100) for _ in range(10)]
    alignment = fit_alignment(driving, target)
    assert alignment.mode == 'torso'
    aligned = apply_alignment(driving, alignment)
    assert abs(alignment.scale[0] - 1.5) < 1e-6
    assert abs(aligned[0]['body'][1, 1] - target[0]['body'][1, 1]) < 1e-3     # neck heights matched
    assert abs(aligned[0]['body'][8, 0] - target[0]['body'][8, 0]) < 1e-3


def test_unmeasurable_sequence_raises():
    empty = standing(80, 150, 60)
    empty['body'][:, 2] = 0
    empty['body'][4, 2] = 0.9                                                  # a wrist only
    with pytest.raises(ValueError, match='cannot place the person'):
        fit_alignment([empty] * 5, [standing(120, 200, 100)] * 5)
    with pytest.raises(ValueError, match='none of the'):
        clean_sequence([[], []])
    with pytest.raises(ValueError, match='alignment of 3 frames'):
        apply_alignment([empty] * 2, identity_alignment(3))
    assert isinstance(identity_alignment(2), Alignment)
