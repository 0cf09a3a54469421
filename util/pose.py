"""OpenPose keypoints: draw a skeleton image, transform, track, fill gaps and smooth over time.

A pose is a dict of float32 arrays whose rows are (x, y, confidence) in the frame's pixel coordinates
(x right, y down, pixel centres at integers); confidence 0 marks a missing joint:
  'body'       [25, 3]  OpenPose BODY_25 order
  'face'       [70, 3]  68-point face layout + right/left pupil, or None
  'hand_left'  [21, 3]  wrist, then 4 points per finger (thumb..pinky, base to tip), or None
  'hand_right' [21, 3]  same
Other keys are carried along unchanged. A frame holds a list of such dicts (possibly empty); a
tracked sequence is a list with one pose (or None) per frame.

All functions are pure: they never modify their inputs and return new dicts / arrays.
"""
import math

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

PARTS = ('body', 'face', 'hand_left', 'hand_right')
PART_SIZES = {'body': 25, 'face': 70, 'hand_left': 21, 'hand_right': 21}

# ---------------------------------------------------------------------------------------------
# Skeleton topology and colours
# ---------------------------------------------------------------------------------------------
# Colour scheme (RGB): limbs on the person's right side are warm (red channel 255, blue low),
# the mirror limb on the left side has the same colour with red and blue swapped (blue 255),
# and limbs on the body's midline have red == blue. Hence the drawing of a mirrored person is
# the mirrored drawing with its R and B channels exchanged, and left/right are never confused.
_RIGHT_LIMBS = [  # (joint a, joint b, RGB)
    (1, 2, (255, 0, 0)),         # neck - right shoulder
    (2, 3, (255, 90, 0)),        # right upper arm
    (3, 4, (255, 180, 0)),       # right forearm
    (8, 9, (255, 255, 0)),       # mid hip - right hip
    (9, 10, (255, 0, 110)),      # right thigh
    (10, 11, (255, 110, 110)),   # right shin
    (11, 22, (255, 200, 110)),   # right ankle - big toe
    (22, 23, (255, 230, 170)),   # right big toe - small toe
    (11, 24, (255, 150, 60)),    # right ankle - heel
    (0, 15, (255, 60, 170)),     # nose - right eye
    (15, 17, (255, 140, 200)),   # right eye - right ear
]
_BODY_MIRROR_PAIRS = [(2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14), (15, 16), (17, 18),
                      (19, 22), (20, 23), (21, 24)]


def _mirror_joint(j):
    for a, b in _BODY_MIRROR_PAIRS:
        if j == a:
            return b
        if j == b:
            return a
    return j


def _swap_rb(colour):
    r, g, b = colour
    return (b, g, r)


_CENTRE_LIMBS = [
    (1, 8, (0, 255, 0)),         # torso: neck - mid hip
    (1, 0, (170, 255, 170)),     # neck - nose
]
BODY_LIMBS = _CENTRE_LIMBS + _RIGHT_LIMBS + [
    (_mirror_joint(a), _mirror_joint(b), _swap_rb(c)) for a, b, c in _RIGHT_LIMBS]
BODY_LIMB_PAIRS = np.array([(a, b) for a, b, _ in BODY_LIMBS], np.int64)      # [24, 2]
BODY_LIMB_COLOURS = np.array([c for _, _, c in BODY_LIMBS], np.uint8)         # [24, 3]

# Joint dot colour: the colour of the limb that ends at the joint (the neck takes the torso's).
BODY_JOINT_COLOURS = np.zeros((25, 3), np.uint8)
BODY_JOINT_COLOURS[1] = BODY_LIMB_COLOURS[0]
BODY_JOINT_COLOURS[8] = BODY_LIMB_COLOURS[0]
for (_a, _b), _c in zip(BODY_LIMB_PAIRS, BODY_LIMB_COLOURS):
    if _b != 8:
        BODY_JOINT_COLOURS[_b] = _c

# Hands: 20 bones, wrist -> finger base -> ... -> tip. One colour per finger; right hand warm,
# left hand the R/B-swapped colours.
HAND_BONES = np.array([(0 if k == 0 else 4 * f + k, 4 * f + k + 1) for f in range(5) for k in range(4)],
                      np.int64)                                                # [20, 2]
_RIGHT_FINGER_COLOURS = [(255, 40, 140), (255, 90, 200), (255, 140, 140), (255, 190, 200), (255, 230, 140)]
HAND_COLOURS = {
    'hand_right': np.array([_RIGHT_FINGER_COLOURS[f] for f in range(5) for _ in range(4)], np.uint8),
    'hand_left': np.array([_swap_rb(_RIGHT_FINGER_COLOURS[f]) for f in range(5) for _ in range(4)], np.uint8),
}


def _chain(first, last, closed=False):
    bones = [(i, i + 1) for i in range(first, last)]
    return bones + [(last, first)] if closed else bones


FACE_SEGMENTS = np.array(
    _chain(0, 16) + _chain(17, 21) + _chain(22, 26) + _chain(27, 30) + _chain(31, 35)
    + _chain(36, 41, closed=True) + _chain(42, 47, closed=True)
    + _chain(48, 59, closed=True) + _chain(60, 67, closed=True), np.int64)
FACE_COLOUR = (255, 255, 255)   # midline-symmetric (R == B), like the centre limbs
FACE_SEGMENT_COLOURS = np.tile(np.array(FACE_COLOUR, np.uint8), (len(FACE_SEGMENTS), 1))

# Face point -> its mirror counterpart (68-point layout + pupils).
FACE_MIRROR = np.arange(70)
FACE_MIRROR[0:17] = 16 - np.arange(0, 17)           # jaw reversed
FACE_MIRROR[17:27] = 43 - np.arange(17, 27)         # eyebrows swapped and reversed (17<->26 ... 21<->22)
FACE_MIRROR[31:36] = 66 - np.arange(31, 36)         # nose bottom reversed (27-30 bridge stays)
FACE_MIRROR[36:48] = [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]   # eye corners / lids
FACE_MIRROR[48:60] = [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]   # outer lip: 48<->54, 55<->59
FACE_MIRROR[60:68] = [64, 63, 62, 61, 60, 67, 66, 65]                   # inner lip: 60<->64, 65<->67
FACE_MIRROR[68:70] = [69, 68]                                           # pupils

BODY_MIRROR = np.arange(25)
for _a, _b in _BODY_MIRROR_PAIRS:
    BODY_MIRROR[_a], BODY_MIRROR[_b] = _b, _a

# Limb ink width as a fraction of sqrt(height * width) (a size measure independent of orientation),
# so that 64 px and 1024 px drawings of the same pose look alike: 1.5 % is ~7.7 px at 512 x 512.
LIMB_WIDTH = 0.015
SUPERSAMPLE_TO = 512            # images smaller than this (sqrt(h * w)) are drawn supersampled
FAINT = 26                      # after downsampling, pixels below this (~10 % coverage) become black
_SHIFT = 4                      # cv2 sub-pixel bits: endpoints drawn at 1/16 px precision
_ONE = 1 << _SHIFT


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------
def _cv2_thickness(ink_width):
    """cv2 LINE_AA thickness whose drawn ink width (summed coverage across the line) is closest to
    ink_width: cv2 rounds thickness t >= 2 up to an even number and adds ~1.4 px of anti-aliasing."""
    even = 2 * int(round((ink_width - 1.4) / 2))
    return even if even >= 2 else 1


def line_widths(height, width):
    """cv2 (limb thickness, joint dot radius, hand thickness, face thickness) for an image size.
    Target ink widths: limbs LIMB_WIDTH * sqrt(height * width), hands 1/2 and face 1/3 of that,
    joint dots 1.4 x the limb width across."""
    ink = math.sqrt(height * width) * LIMB_WIDTH
    joint = max(1, int(round(0.7 * ink - 0.5)))
    return _cv2_thickness(ink), joint, _cv2_thickness(ink / 2), _cv2_thickness(ink / 3)


def _clip_segment(p, q, lo_x, lo_y, hi_x, hi_y):
    """Liang-Barsky: the part of segment p-q inside the box, or None. Keeps far-away points from
    overflowing cv2's fixed-point coordinates while preserving the visible part's direction."""
    d = q - p
    t0, t1 = 0.0, 1.0
    for delta, start, lo, hi in ((d[0], p[0], lo_x, hi_x), (d[1], p[1], lo_y, hi_y)):
        if delta == 0:
            if start < lo or start > hi:
                return None
            continue
        a, b = (lo - start) / delta, (hi - start) / delta
        if a > b:
            a, b = b, a
        t0, t1 = max(t0, a), min(t1, b)
        if t0 > t1:
            return None
    return p + t0 * d, p + t1 * d


def _fixed(point):
    return (int(round(point[0] * _ONE)), int(round(point[1] * _ONE)))


def _draw_segments(canvas, points, valid, segments, colours, thickness):
    """Anti-aliased lines between valid points; points [J, 2] float, valid [J] bool, segments [S, 2]."""
    height, width = canvas.shape[:2]
    margin = thickness + 2
    box = (-margin, -margin, width - 1 + margin, height - 1 + margin)
    keep = valid[segments[:, 0]] & valid[segments[:, 1]]
    for (a, b), colour in zip(segments[keep], colours[keep]):
        clipped = _clip_segment(points[a], points[b], *box)
        if clipped is None:
            continue
        cv2.line(canvas, _fixed(clipped[0]), _fixed(clipped[1]), tuple(int(c) for c in colour),
                 thickness, cv2.LINE_AA, _SHIFT)


def _draw_dots(canvas, points, valid, colours, radius):
    height, width = canvas.shape[:2]
    inside = (valid & (points[:, 0] > -radius - 1) & (points[:, 0] < width + radius)
              & (points[:, 1] > -radius - 1) & (points[:, 1] < height + radius))
    for j in np.flatnonzero(inside):
        cv2.circle(canvas, _fixed(points[j]), radius * _ONE, tuple(int(c) for c in colours[j]),
                   -1, cv2.LINE_AA, _SHIFT)


def confident_joints(part, threshold):
    """(xy [J, 2] float64, valid [J] bool) with non-finite coordinates treated as missing."""
    part = np.asarray(part, np.float64)
    xy = part[:, :2]
    valid = (part[:, 2] > threshold) & np.isfinite(xy).all(axis=1)
    return np.where(valid[:, None], xy, 0.0), valid


def draw_pose(pose, height, width, threshold=0.05):
    """Render a pose as an RGB skeleton on black: np.uint8 [height, width, 3].

    Body limbs are thick anti-aliased lines, one fixed colour per limb (right side warm, left side
    the same colour with R and B swapped, midline green), joints are dots; hands and face are drawn
    thinner when present. Only joints with confidence > threshold are drawn. Widths scale with
    sqrt(height * width) (see line_widths); images smaller than SUPERSAMPLE_TO are drawn larger and
    area-downsampled. Points outside the image are clipped, non-finite ones count as missing.
    None or a pose without confident joints gives black. ~1-3 ms per 256-512 px image.
    """
    if pose is None:
        return np.zeros((height, width, 3), np.uint8)
    # Small images are drawn SUPERSAMPLE_TO-sized and area-averaged down, so that widths below a few
    # pixels stay proportional (cv2 cannot draw a 0.9 px line) and 64 px drawings look like big ones.
    factor = max(1, int(math.ceil(SUPERSAMPLE_TO / math.sqrt(height * width))))
    if factor > 1:
        big = draw_pose(scale_pose(pose, factor, factor, (factor - 1) / 2, (factor - 1) / 2),
                        height * factor, width * factor, threshold)
        return _drop_faint(cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA))
    canvas = np.zeros((height, width, 3), np.uint8)
    limb, joint, hand, face = line_widths(height, width)

    body = pose.get('body')
    if body is not None:
        xy, valid = confident_joints(body, threshold)
        _draw_segments(canvas, xy, valid, BODY_LIMB_PAIRS, BODY_LIMB_COLOURS, limb)
        _draw_dots(canvas, xy, valid, BODY_JOINT_COLOURS, joint)

    if pose.get('face') is not None:     # over the body's head limbs, which it would hide otherwise
        xy, valid = confident_joints(pose['face'], threshold)
        _draw_segments(canvas, xy, valid, FACE_SEGMENTS, FACE_SEGMENT_COLOURS, face)
        _draw_dots(canvas, xy[68:], valid[68:], FACE_SEGMENT_COLOURS[:2], face)

    for key in ('hand_right', 'hand_left'):
        if pose.get(key) is not None:
            xy, valid = confident_joints(pose[key], threshold)
            _draw_segments(canvas, xy, valid, HAND_BONES, HAND_COLOURS[key], hand)
    return _drop_faint(canvas)


def _drop_faint(image):
    """Blacken pixels under ~10 % coverage: cv2's faint anti-aliasing fringe is not mirror-symmetric
    and would make the non-black mask of a flipped drawing differ from the mirrored drawing's."""
    r, g, b = cv2.split(image)
    _, keep = cv2.threshold(cv2.max(cv2.max(r, g), b), FAINT - 1, 1, cv2.THRESH_BINARY)
    return cv2.multiply(image, cv2.merge([keep, keep, keep]))


# ---------------------------------------------------------------------------------------------
# Geometric transforms
# ---------------------------------------------------------------------------------------------
def _map_parts(pose, fn):
    """New dict: fn(key, array) for every present pose part, other keys copied."""
    out = dict(pose)
    for key in PARTS:
        if pose.get(key) is not None:
            out[key] = fn(key, np.asarray(pose[key], np.float32))
    return out


def scale_pose(pose, sx, sy, dx=0.0, dy=0.0):
    """New pose with x * sx + dx, y * sy + dy for every row; confidences unchanged. None -> None."""
    if pose is None:
        return None

    def transform(_key, part):
        part = part.copy()
        part[:, 0] = part[:, 0] * sx + dx
        part[:, 1] = part[:, 1] * sy + dy
        return part
    return _map_parts(pose, transform)


def flip_pose(pose, width):
    """Horizontal mirror in an image of `width` pixels: x' = width - 1 - x, with left/right body
    joints, hands and face points exchanged for their mirror counterparts. An involution."""
    if pose is None:
        return None
    out = dict(pose)
    for key in PARTS:
        out[key] = None if pose.get(key) is None else np.asarray(pose[key], np.float32)
    out['hand_left'], out['hand_right'] = out['hand_right'], out['hand_left']
    permutation = {'body': BODY_MIRROR, 'face': FACE_MIRROR}

    def mirror(key, part):
        part = part[permutation[key]] if key in permutation else part.copy()
        part[:, 0] = (width - 1) - part[:, 0]
        return part
    return _map_parts(out, mirror)


# ---------------------------------------------------------------------------------------------
# Size and tracking
# ---------------------------------------------------------------------------------------------
def body_size(pose, threshold=0.05):
    """A robust person size in pixels: max(bbox extent of confident body joints,
    3.3 * neck-midhip length when both are confident). 0.0 when fewer than two joints are known.
    The torso term keeps the size sensible for cropped (upper body only) detections."""
    if pose is None or pose.get('body') is None:
        return 0.0
    xy, valid = confident_joints(pose['body'], threshold)
    if valid.sum() < 2:
        return 0.0
    pts = xy[valid]
    size = float((pts.max(axis=0) - pts.min(axis=0)).max())
    if valid[1] and valid[8]:
        size = max(size, 3.3 * float(np.linalg.norm(xy[1] - xy[8])))
    return size


def _prominence(pose, threshold):
    """Area of the confident body joints' bounding box times their count (bigger, fuller = larger)."""
    xy, valid = confident_joints(pose['body'], threshold)
    if not valid.any():
        return -1.0
    extent = xy[valid].max(axis=0) - xy[valid].min(axis=0)
    return float(max(extent[0], 1.0) * max(extent[1], 1.0) * valid.sum())


def _mean_distance(pose_a, pose_b, threshold):
    """Mean distance over body joints confident in both poses; inf if none is shared."""
    xy_a, valid_a = confident_joints(pose_a['body'], threshold)
    xy_b, valid_b = confident_joints(pose_b['body'], threshold)
    both = valid_a & valid_b
    if not both.any():
        return math.inf
    return float(np.linalg.norm(xy_a[both] - xy_b[both], axis=1).mean())


def track_person(people_per_frame, max_step=0.5, threshold=0.05):
    """Pick one person per frame: list[list[pose]] -> list[pose or None] (the input dicts, not copies).

    The person closest to the previously picked one (mean distance over body joints confident in
    both) continues the track if that distance is below max_step * body_size(previous pick);
    otherwise (first frame, lost track) the most prominent skeleton is taken (confident-joint bbox
    area x joint count). Empty frames give None and the track continues from the last pick.
    """
    picked, previous = [], None
    for people in people_per_frame:
        people = [p for p in (people or []) if p is not None and p.get('body') is not None]
        if not people:
            picked.append(None)
            continue
        choice = None
        if previous is not None:
            distances = [_mean_distance(previous, p, threshold) for p in people]
            best = int(np.argmin(distances))
            if distances[best] < max_step * body_size(previous, threshold):
                choice = people[best]
        if choice is None:
            choice = max(people, key=lambda p: _prominence(p, threshold))
        picked.append(choice)
        previous = choice
    return picked


# ---------------------------------------------------------------------------------------------
# Sequences: stacking, gap filling, smoothing
# ---------------------------------------------------------------------------------------------
def poses_to_array(poses, part='body'):
    """Stack one part over a sequence: [T, J, 3] float32; None poses / parts become zero rows."""
    out = np.zeros((len(poses), PART_SIZES[part], 3), np.float32)
    for t, pose in enumerate(poses):
        if pose is not None and pose.get(part) is not None:
            out[t] = pose[part]
    return out


def _rebuild(poses, arrays, keep_part):
    """Poses from stacked parts; keep_part[part][t] says whether frame t gets that part (else None)."""
    out = []
    for t, pose in enumerate(poses):
        new = dict(pose) if pose is not None else {}
        for part in PARTS:
            new[part] = arrays[part][t].copy() if keep_part[part][t] else None
        out.append(new)
    return out


def _interpolate_gaps(values, valid, max_gap, always):
    """Fill missing rows of values [T, J, 3] along time per joint.

    Missing entries between two confident frames are linearly interpolated (confidence = min of
    the two), at the ends the nearest confident frame is copied. Gaps longer than max_gap stay
    missing except in frames where always[t] is True. Returns (filled values, filled mask [T, J]).
    """
    num_frames, num_joints = valid.shape
    t = np.broadcast_to(np.arange(num_frames)[:, None], valid.shape)
    prev = np.maximum.accumulate(np.where(valid, t, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(valid, t, num_frames)[::-1], axis=0)[::-1]
    has_prev, has_next = prev >= 0, nxt < num_frames
    joints = np.arange(num_joints)[None, :]
    before = values[np.clip(prev, 0, num_frames - 1), joints]       # [T, J, 3]
    after = values[np.clip(nxt, 0, num_frames - 1), joints]

    span = np.maximum(nxt - prev, 1)
    w = ((t - prev) / span)[..., None]
    between = before + w * (after - before)
    between[..., 2] = np.minimum(before[..., 2], after[..., 2])
    estimate = np.where((has_prev & has_next)[..., None], between,
                        np.where(has_prev[..., None], before, after))

    gap = np.where(has_prev & has_next, nxt - prev - 1, np.where(has_prev, num_frames - 1 - prev, nxt))
    fill = ~valid & (has_prev | has_next)
    if max_gap is not None:
        fill &= (gap <= max_gap) | always[:, None]
    return np.where(fill[..., None], estimate, values).astype(np.float32), fill


def fill_missing(poses, max_gap=None):
    """Fill missing joints and frames of a tracked sequence: list[pose or None] -> list[pose].

    Per joint of every part (body, face, hands), coordinates missing in a frame (confidence 0, or
    the part / whole pose None) are interpolated linearly between the nearest frames where the
    joint is present; before the first / after the last such frame the nearest is copied. Filled
    joints get confidence min(neighbours' confidences) > 0. Gaps longer than max_gap frames stay
    missing, except in frames that were None, which are always filled as far as any data allows.
    A part that is None in a frame stays None only if nothing could be filled into it.
    Raises ValueError if no frame holds a person.
    """
    poses = list(poses)
    if not any(p is not None for p in poses):
        raise ValueError(f'fill_missing: none of the {len(poses)} frames has a person (all None); '
                         'check the OpenPose JSON files and the person tracking.')
    is_none = np.array([p is None for p in poses])
    arrays, keep = {}, {}
    for part in PARTS:
        values = poses_to_array(poses, part)
        present = np.array([p is not None and p.get(part) is not None for p in poses])
        if part == 'body':
            present[:] = True
        valid = values[..., 2] > 0
        if not valid.any():
            arrays[part], keep[part] = values, present
            continue
        arrays[part], filled = _interpolate_gaps(values, valid, max_gap, is_none)
        keep[part] = present | filled.any(axis=1)
    return _rebuild(poses, arrays, keep)


def smooth_poses(poses, sigma):
    """Temporal Gaussian smoothing (std sigma frames) of the coordinates of confident joints.

    Normalised convolution: each joint is averaged only over frames where it is confident (the
    kernel is renormalised over those, also at the sequence ends), so missing joints neither pull
    others towards (0, 0) nor get invented. Confidences, missing joints and None frames are kept.
    sigma 0 returns an unchanged copy.
    """
    poses = list(poses)
    arrays, keep = {}, {}
    for part in PARTS:
        present = np.array([p is not None and p.get(part) is not None for p in poses], bool)
        values = poses_to_array(poses, part)
        keep[part] = present
        arrays[part] = values
        if sigma <= 0 or not present.any():
            continue
        weight = (values[..., 2] > 0).astype(np.float64)                  # [T, J]
        num = gaussian_filter1d(values[..., :2] * weight[..., None], sigma, axis=0, mode='constant')
        den = gaussian_filter1d(weight, sigma, axis=0, mode='constant')[..., None]
        smoothed = values.copy()
        ok = (weight > 0) & (den[..., 0] > 1e-8)
        smoothed[..., :2] = np.where(ok[..., None], num / np.maximum(den, 1e-8), values[..., :2])
        arrays[part] = smoothed
    out = _rebuild(poses, arrays, keep)
    return [None if p is None else o for p, o in zip(poses, out)]
