"""Tests for util/pose.py: skeleton drawing, flip/scale, tracking, gap filling and smoothing."""
import copy

import numpy as np
import pytest

from util import pose as P

# A standing person in normalised image coordinates (x, y in [0, 1]), right arm raised so that the
# pose is not left/right symmetric.
_BODY_NORM = {
    0: (.50, .15), 1: (.50, .25), 2: (.40, .25), 3: (.32, .15), 4: (.28, .05), 5: (.60, .25),
    6: (.66, .40), 7: (.70, .50), 8: (.50, .55), 9: (.44, .55), 10: (.42, .72), 11: (.41, .88),
    12: (.56, .55), 13: (.60, .72), 14: (.62, .88), 15: (.47, .13), 16: (.53, .13), 17: (.44, .14),
    18: (.56, .14), 19: (.68, .93), 20: (.71, .92), 21: (.60, .91), 22: (.35, .93), 23: (.32, .92),
    24: (.42, .91)}


def make_body(height, width, conf=0.9):
    body = np.zeros((25, 3), np.float32)
    for j, (x, y) in _BODY_NORM.items():
        body[j] = (x * (width - 1), y * (height - 1), conf)
    return body


def make_pose(height=256, width=256, face=False, hands=False):
    pose = {'body': make_body(height, width), 'face': None, 'hand_left': None, 'hand_right': None}
    if face:
        pose['face'] = symmetric_face(cx=0.5 * (width - 1), cy=0.13 * (height - 1), r=0.05 * height)
    if hands:
        for key, wrist in (('hand_right', 4), ('hand_left', 7)):
            hand = np.zeros((21, 3), np.float32)
            x0, y0 = pose['body'][wrist, :2]
            hand[0] = (x0, y0, 0.7)
            for f in range(5):
                for k in range(4):
                    hand[1 + 4 * f + k] = (x0 + (f - 2) * 0.01 * width, y0 + (k + 1) * 0.012 * height, 0.7)
            pose[key] = hand
    return pose


def _ellipse(cx, cy, a, b, degrees):
    t = np.deg2rad(np.asarray(degrees, np.float64))
    return np.stack([cx + a * np.cos(t), cy - b * np.sin(t)], axis=1)   # y down: positive angle = up


def symmetric_face(cx, cy, r):
    """A frontal 70-point face, mirror-symmetric about x = cx, built from the 68-point layout's
    geometry (independently of util.pose.FACE_MIRROR): for a frontal face, index 0 / the 'right'
    features of the subject lie on the image's left."""
    pts = np.zeros((70, 2), np.float64)
    pts[0:17] = _ellipse(cx, cy, r, 1.2 * r, np.linspace(180, 360, 17))          # jaw, left to right via chin
    pts[17:22] = np.stack([np.linspace(cx - .8 * r, cx - .2 * r, 5), np.full(5, cy - .6 * r)], 1)
    pts[22:27] = np.stack([np.linspace(cx + .2 * r, cx + .8 * r, 5), np.full(5, cy - .6 * r)], 1)
    pts[27:31] = np.stack([np.full(4, cx), np.linspace(cy - .4 * r, cy, 4)], 1)   # nose bridge
    pts[31:36] = np.stack([np.linspace(cx - .2 * r, cx + .2 * r, 5), np.full(5, cy + .1 * r)], 1)
    eye_angles = [180, 120, 60, 0, -60, -120]       # both eyes: left corner, top, right corner, bottom
    pts[36:42] = _ellipse(cx - .4 * r, cy - .4 * r, .15 * r, .06 * r, eye_angles)
    pts[42:48] = _ellipse(cx + .4 * r, cy - .4 * r, .15 * r, .06 * r, eye_angles)
    pts[48:60] = _ellipse(cx, cy + .5 * r, .35 * r, .12 * r, np.arange(180, -180, -30))
    pts[60:68] = _ellipse(cx, cy + .5 * r, .25 * r, .05 * r, np.arange(180, -180, -45))
    pts[68] = (cx - .4 * r, cy - .4 * r)
    pts[69] = (cx + .4 * r, cy - .4 * r)
    face = np.concatenate([pts, np.full((70, 1), 0.8)], axis=1)
    return face.astype(np.float32)


def nonblack(image):
    return image.max(axis=2) > 0


# ---------------------------------------------------------------------------------------------
# draw_pose
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('size', [64, 256, 512])
def test_draw_pose_limbs_are_drawn_at_midpoints(size):
    pose = make_pose(size, size)
    image = P.draw_pose(pose, size, size)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    for a, b in P.BODY_LIMB_PAIRS:
        x, y = np.round((pose['body'][a, :2] + pose['body'][b, :2]) / 2).astype(int)
        assert image[y - 1:y + 2, x - 1:x + 2].max() > 100, f'limb {a}-{b} missing at ({x}, {y})'
    assert 0.01 < nonblack(image).mean() < 0.15      # a skeleton, not a blob


def test_draw_pose_limb_colour_at_midpoint():
    pose = make_pose(512, 512)
    image = P.draw_pose(pose, 512, 512).astype(int)
    for (a, b), colour in zip(P.BODY_LIMB_PAIRS, P.BODY_LIMB_COLOURS):
        if (a, b) in ((1, 2), (2, 3), (1, 5), (5, 6), (6, 7), (9, 10), (12, 13), (1, 8)):
            x, y = np.round((pose['body'][a, :2] + pose['body'][b, :2]) / 2).astype(int)
            np.testing.assert_allclose(image[y, x], colour, atol=3)


def test_draw_pose_black_without_confident_joints():
    assert not P.draw_pose(None, 40, 60).any()
    assert P.draw_pose(None, 40, 60).shape == (40, 60, 3)
    pose = make_pose(64, 64, face=True, hands=True)
    for key in P.PARTS:
        pose[key][:, 2] = 0.04                          # below the default threshold 0.05
    assert not P.draw_pose(pose, 64, 64).any()
    assert not P.draw_pose(pose, 300, 300).any()
    assert P.draw_pose(pose, 64, 64, threshold=0.01).any()


def test_draw_pose_survives_points_outside_the_image():
    pose = make_pose(128, 128)
    pose['body'][4, :2] = (-1e9, 3e9)
    pose['body'][7, :2] = (np.inf, 5.0)               # non-finite: treated as missing
    pose['body'][11, :2] = (np.nan, np.nan)
    image = P.draw_pose(pose, 128, 128)
    assert image.any()
    # A limb from far outside into the image is clipped, not dropped or bent: the neck-right-shoulder
    # limb pointing from (64, 32) to x = -1e7 on the same row stays on that row.
    pose = {'body': np.zeros((25, 3), np.float32)}
    pose['body'][1] = (64, 32, 1)
    pose['body'][2] = (-1e7, 32, 1)
    image = P.draw_pose(pose, 128, 128)
    assert image[32, 5].max() > 100 and image[32, 60].max() > 100
    assert not image[60:].any()


def test_flipped_drawing_is_mirrored_mask_with_swapped_colours():
    size = 512
    pose = make_pose(size, size, face=True, hands=True)
    drawn = P.draw_pose(pose, size, size)
    mirrored = drawn[:, ::-1]
    flipped = P.draw_pose(P.flip_pose(pose, size), size, size)
    # Same shape as the mirror image ...
    mask_m, mask_f = nonblack(mirrored), nonblack(flipped)
    assert (mask_m != mask_f).sum() <= 0.005 * mask_m.sum()
    assert (nonblack(drawn) != mask_f).sum() > 0.2 * mask_f.sum()    # the pose is asymmetric
    # ... but left and right limbs keep their own colours, so the drawings differ in colour:
    differ = np.abs(mirrored.astype(int) - flipped.astype(int)).max(axis=2) > 60
    assert differ.sum() > 0.3 * mask_f.sum()
    x, y = np.round(0.7 * pose['body'][3, :2] + 0.3 * pose['body'][4, :2]).astype(int)  # right forearm
    right_forearm = P.BODY_LIMB_COLOURS[[tuple(l) for l in P.BODY_LIMB_PAIRS].index((3, 4))]
    left_forearm = P.BODY_LIMB_COLOURS[[tuple(l) for l in P.BODY_LIMB_PAIRS].index((6, 7))]
    np.testing.assert_allclose(mirrored[y, size - 1 - x], right_forearm, atol=3)
    np.testing.assert_allclose(flipped[y, size - 1 - x], left_forearm, atol=3)
    assert np.abs(right_forearm.astype(int) - left_forearm.astype(int)).max() > 200
    # The palette's design: a mirrored person is drawn as the mirror image with R and B exchanged.
    close = np.abs(mirrored[..., ::-1].astype(int) - flipped.astype(int)).max(axis=2) <= 30
    assert close.mean() > 0.995


def test_draw_pose_thickness_scales_with_image_size():
    ink, cover = {}, {}
    for size in (64, 512, 1024):
        image = P.draw_pose(make_pose(size, size), size, size)
        cover[size] = nonblack(image).mean()
        ink[size] = image.max(axis=2).mean() / 255.0        # covered area, anti-aliasing weighted
    assert abs(ink[64] / ink[512] - 1) < 0.15, ink
    assert abs(ink[1024] / ink[512] - 1) < 0.15, ink
    # Any pixel a 1-px line touches counts as non-black, so small images cover somewhat more.
    assert 0.67 < cover[64] / cover[512] < 2.0, cover
    assert 0.8 < cover[1024] / cover[512] < 1.25, cover
    limb_64, _, _, _ = P.line_widths(64, 64)
    limb_1024, _, _, _ = P.line_widths(1024, 1024)
    assert limb_64 == 1 and limb_1024 >= 12


def test_draw_pose_hands_and_face_optional():
    size = 256
    bare = P.draw_pose(make_pose(size, size), size, size)
    full_pose = make_pose(size, size, face=True, hands=True)
    full = P.draw_pose(full_pose, size, size)
    assert nonblack(full).sum() > nonblack(bare).sum() + 100
    # Hand pixels beyond the wrist: drawn only with hands, right hand warm, left hand cool.
    for key, warm in (('hand_right', True), ('hand_left', False)):
        x, y = np.round(full_pose[key][12, :2]).astype(int)          # middle finger tip
        assert not bare[y - 1:y + 2, x - 1:x + 2].any()
        patch = full[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).astype(int)
        pixel = patch[patch.sum(axis=1).argmax()]
        assert (pixel[0] > pixel[2] + 60) == warm, (key, pixel)
    # The face adds white pixels along the jaw, where the bare body has none.
    x, y = np.round(full_pose['face'][4, :2]).astype(int)
    assert full[y - 1:y + 2, x - 1:x + 2].min(axis=2).max() > 150
    assert not bare[y - 1:y + 2, x - 1:x + 2].any()
    only_face = {'body': np.zeros((25, 3), np.float32), 'face': full_pose['face']}
    assert P.draw_pose(only_face, size, size).any()


# ---------------------------------------------------------------------------------------------
# flip_pose / scale_pose / body_size
# ---------------------------------------------------------------------------------------------
def random_pose(rng, width=200, height=150):
    def part(n):
        arr = np.zeros((n, 3), np.float32)
        arr[:, 0] = rng.uniform(0, width - 1, n)
        arr[:, 1] = rng.uniform(0, height - 1, n)
        arr[:, 2] = rng.uniform(0, 1, n) * (rng.uniform(size=n) > 0.2)
        return arr
    return {'body': part(25), 'face': part(70), 'hand_left': part(21), 'hand_right': None, 'id': 7}


def test_flip_twice_is_identity():
    rng = np.random.default_rng(0)
    pose = random_pose(rng)
    original = copy.deepcopy(pose)
    twice = P.flip_pose(P.flip_pose(pose, 200), 200)
    for key in P.PARTS:
        if original[key] is None:
            assert twice[key] is None
        else:
            np.testing.assert_allclose(twice[key], original[key], atol=1e-4)
            np.testing.assert_array_equal(pose[key], original[key])      # input untouched
    assert twice['id'] == 7
    assert np.array_equal(P.FACE_MIRROR[P.FACE_MIRROR], np.arange(70))
    assert np.array_equal(P.BODY_MIRROR[P.BODY_MIRROR], np.arange(25))


def test_flip_mirrors_x_and_swaps_sides():
    rng = np.random.default_rng(1)
    pose = random_pose(rng)
    flipped = P.flip_pose(pose, 200)
    body, fbody = pose['body'], flipped['body']
    for right, left in [(2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14), (15, 16), (17, 18),
                        (19, 22), (20, 23), (21, 24)]:
        for a, b in ((right, left), (left, right)):
            np.testing.assert_allclose(fbody[a], [199 - body[b, 0], body[b, 1], body[b, 2]], atol=1e-4)
    for j in (0, 1, 8):
        np.testing.assert_allclose(fbody[j], [199 - body[j, 0], body[j, 1], body[j, 2]], atol=1e-4)
    assert flipped['hand_left'] is None
    np.testing.assert_allclose(flipped['hand_right'][:, 0], 199 - pose['hand_left'][:, 0], atol=1e-4)
    np.testing.assert_allclose(flipped['hand_right'][:, 1:], pose['hand_left'][:, 1:])
    face, fface = pose['face'], flipped['face']
    for a, b in ((0, 16), (8, 8), (17, 26), (21, 22), (30, 30), (31, 35), (36, 45), (39, 42),
                 (40, 47), (41, 46), (48, 54), (51, 51), (55, 59), (57, 57), (60, 64), (65, 67), (68, 69)):
        np.testing.assert_allclose(fface[a], [199 - face[b, 0], face[b, 1], face[b, 2]], atol=1e-4)


def test_flip_maps_a_symmetric_face_and_body_onto_themselves():
    width = 301
    face = symmetric_face(cx=150.0, cy=80.0, r=40.0)
    body = make_body(200, width)
    sym = {0: (.5, .1), 1: (.5, .2), 8: (.5, .5)}
    for right, left in [(2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14), (15, 16), (17, 18),
                        (22, 19), (23, 20), (24, 21)]:
        body[left, :2] = (width - 1 - body[right, 0], body[right, 1])
    for j, (x, y) in sym.items():
        body[j, :2] = (x * (width - 1), y * 199)
    pose = {'body': body, 'face': face, 'hand_left': None, 'hand_right': None}
    flipped = P.flip_pose(pose, width)
    np.testing.assert_allclose(flipped['face'], face, atol=1e-3)
    np.testing.assert_allclose(flipped['body'], body, atol=1e-3)


def test_scale_pose_arithmetic():
    rng = np.random.default_rng(2)
    pose = random_pose(rng)
    original = copy.deepcopy(pose)
    out = P.scale_pose(pose, 0.5, 2.0, dx=10, dy=-3)
    for key in ('body', 'face', 'hand_left'):
        np.testing.assert_allclose(out[key][:, 0], original[key][:, 0] * 0.5 + 10, rtol=1e-6)
        np.testing.assert_allclose(out[key][:, 1], original[key][:, 1] * 2.0 - 3, rtol=1e-6)
        np.testing.assert_array_equal(out[key][:, 2], original[key][:, 2])
        np.testing.assert_array_equal(pose[key], original[key])
        assert out[key].dtype == np.float32
    assert out['hand_right'] is None and out['id'] == 7
    assert P.scale_pose(None, 2, 2) is None


def test_body_size():
    pose = make_pose(200, 100)
    size = P.body_size(pose)
    assert 0.8 * 200 * 0.88 < size < 1.2 * 200 * 0.9
    upper = copy.deepcopy(pose)
    upper['body'][9:15, 2] = 0
    upper['body'][19:25, 2] = 0                       # legs cut off: torso term keeps it comparable
    assert P.body_size(upper) > 0.6 * size
    assert P.body_size(P.scale_pose(pose, 2, 2)) == pytest.approx(2 * size, rel=1e-4)
    empty = {'body': np.zeros((25, 3), np.float32)}
    assert P.body_size(empty) == 0.0 and P.body_size(None) == 0.0


# ---------------------------------------------------------------------------------------------
# track_person
# ---------------------------------------------------------------------------------------------
def person_at(x0, y0, scale, conf=0.9):
    body = np.zeros((25, 3), np.float32)
    for j, (x, y) in _BODY_NORM.items():
        body[j] = (x0 + x * scale, y0 + y * scale, conf)
    return {'body': body, 'face': None, 'hand_left': None, 'hand_right': None}


def test_track_person_follows_the_previous_pick():
    small = [person_at(10 + 3 * t, 50, 100) for t in range(5)]
    large = [person_at(300, 20, 200 + 10 * t) for t in range(5)]
    tiny = person_at(500, 50, 40)
    frames = [
        [tiny, small[0]],               # first frame: the larger of the two
        [large[1], small[1]],           # the larger newcomer does not steal the track
        [],                             # nobody
        [small[3], large[3]],           # order does not matter; continues across the gap
        [large[4]],                     # track lost: take who is there
        [small[4], large[0]],           # continue with the large person now
    ]
    picked = P.track_person(frames)
    assert len(picked) == 6
    assert picked[0] is small[0]
    assert picked[1] is small[1]
    assert picked[2] is None
    assert picked[3] is small[3]
    assert picked[4] is large[4]
    assert picked[5] is large[0]
    assert P.track_person([]) == [] and P.track_person([[], []]) == [None, None]


def test_track_person_first_frame_takes_the_largest():
    a, b = person_at(0, 0, 80), person_at(200, 0, 150)
    partial = person_at(400, 0, 300)
    partial['body'][2:, 2] = 0                         # biggest, but only nose and neck detected
    assert P.track_person([[a, b, partial]])[0] is b


# ---------------------------------------------------------------------------------------------
# fill_missing / smooth_poses
# ---------------------------------------------------------------------------------------------
def moving_sequence(n, with_face=False):
    poses = []
    for t in range(n):
        pose = person_at(10 + 5 * t, 20 - 2 * t, 100)
        if with_face:
            pose['face'] = symmetric_face(50 + t, 30, 10)
        poses.append(pose)
    return poses


def test_fill_missing_interpolates_a_gap_linearly():
    poses = moving_sequence(6)
    truth = copy.deepcopy(poses)
    poses[0]['body'][4, 2] = 0.8
    poses[4]['body'][4, 2] = 0.6
    for t in (1, 2, 3):
        poses[t]['body'][4] = 0                        # OpenPose writes missing joints as zeros
    before = copy.deepcopy(poses)
    filled = P.fill_missing(poses)
    for t in (1, 2, 3):
        np.testing.assert_allclose(filled[t]['body'][4, :2], truth[t]['body'][4, :2], atol=1e-4)
        assert filled[t]['body'][4, 2] == pytest.approx(0.6)
    np.testing.assert_array_equal(filled[5]['body'], truth[5]['body'])
    for t in range(6):
        np.testing.assert_array_equal(poses[t]['body'], before[t]['body'])   # input untouched


def test_fill_missing_copies_at_the_ends_and_fills_none_frames():
    poses = moving_sequence(7, with_face=True)
    truth = copy.deepcopy(poses)
    poses[0]['body'][10] = 0
    poses[1]['body'][10] = 0                            # leading gap: copy frame 2
    poses[6]['body'][3] = 0                             # trailing gap: copy frame 5
    poses[3] = None
    poses[4] = None
    poses[5]['face'] = None
    filled = P.fill_missing(poses)
    assert all(p is not None for p in filled)
    np.testing.assert_allclose(filled[0]['body'][10], truth[2]['body'][10])
    np.testing.assert_allclose(filled[6]['body'][3], truth[5]['body'][3])
    for t in (3, 4):                                   # motion is linear: exact recovery
        np.testing.assert_allclose(filled[t]['body'], truth[t]['body'], atol=1e-4)
        np.testing.assert_allclose(filled[t]['face'], truth[t]['face'], atol=1e-4)
    np.testing.assert_allclose(filled[5]['face'], truth[5]['face'], atol=1e-4)
    assert filled[3]['hand_left'] is None and filled[0]['hand_right'] is None
    assert (filled[3]['body'][:, 2] > 0).all()


def test_fill_missing_respects_max_gap():
    poses = moving_sequence(12)
    for t in (1, 2, 3):
        poses[t]['body'][4] = 0                         # gap of 3
    for t in (6, 7):
        poses[t]['body'][7] = 0                         # gap of 2
    poses[9] = None                                     # in a long gap of joint 13:
    for t in (8, 10):
        poses[t]['body'][13] = 0
    filled = P.fill_missing(poses, max_gap=2)
    assert all(filled[t]['body'][4, 2] == 0 for t in (1, 2, 3))
    assert all(filled[t]['body'][7, 2] > 0 for t in (6, 7))
    assert filled[9]['body'][13, 2] > 0                 # None frames are always filled
    assert filled[8]['body'][13, 2] == 0 and filled[10]['body'][13, 2] == 0
    assert (filled[9]['body'][:, 2] > 0).all()
    unlimited = P.fill_missing(poses)
    assert all(unlimited[t]['body'][4, 2] > 0 for t in (1, 2, 3))


def test_fill_missing_without_any_person_raises():
    with pytest.raises(ValueError, match='no.*person|none of'):
        P.fill_missing([None, None, None])
    with pytest.raises(ValueError):
        P.fill_missing([])


def test_smooth_poses_reduces_jitter_and_sigma_zero_is_identity():
    rng = np.random.default_rng(3)
    n = 200
    base = person_at(50, 40, 150)
    poses = []
    for _ in range(n):
        pose = copy.deepcopy(base)
        pose['body'][:, :2] += rng.normal(0, 2.0, (25, 2)).astype(np.float32)
        poses.append(pose)
    poses[50]['body'][5] = 0                           # a missing joint: must not pull towards 0
    poses[60] = None
    smoothed = P.smooth_poses(poses, sigma=3)
    assert smoothed[60] is None
    np.testing.assert_array_equal(smoothed[50]['body'][5], poses[50]['body'][5])   # left alone
    noisy = P.poses_to_array([p for p in poses if p is not None])
    smooth = P.poses_to_array([p for p in smoothed if p is not None])
    valid = noisy[..., 2] > 0
    err_noisy = (noisy[..., :2] - base['body'][None, :, :2])[valid]
    err_smooth = (smooth[..., :2] - base['body'][None, :, :2])[valid]
    assert err_smooth.var() < err_noisy.var() / 5
    assert np.abs(err_smooth).max() < 6.0               # nothing dragged towards (0, 0)
    np.testing.assert_array_equal(smooth[..., 2], noisy[..., 2])
    identity = P.smooth_poses(poses, sigma=0)
    for a, b in zip(identity, poses):
        if b is None:
            assert a is None
        else:
            np.testing.assert_array_equal(a['body'], b['body'])
            assert a['body'] is not b['body']


def test_poses_to_array():
    poses = [person_at(0, 0, 10), None, {'body': np.zeros((25, 3), np.float32), 'face': None}]
    arr = P.poses_to_array(poses)
    assert arr.shape == (3, 25, 3) and arr.dtype == np.float32
    assert not arr[1].any()
    assert P.poses_to_array(poses, 'face').shape == (3, 70, 3)
