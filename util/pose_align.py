"""Map a driving dancer's skeleton sequence into the target person's frame (pose normalisation).

Another dancer is filmed at another distance, zoom and place in the frame than the person the model
learned; fed as is, the model would draw the target too small, floating or off-centre. As in
Everybody Dance Now (Chan et al. 2019, section 3.3) each driving frame gets a scale and a translation
(x' = s x + dx, y' = s y + dy) computed from robust statistics of both whole sequences:

- **Person height** (pixels): per frame, the lowest confident ankle minus the topmost confident head
  joint (nose, eyes, ears), taken at the 90th percentile over frames (the upright frames; bending
  and crouching only lower it). Without head + ankle frames in either sequence, the torso length
  (neck - mid hip, 90th percentile) is the size measure instead.
- **Ground per frame**: the lowest confident ankle y, nearest-in-time filled where missing, then the
  maximum over a sliding window of ``window`` frames (about 0.5 s at 25 fps), so that a jump, which
  lifts the feet for less than that, does not count as a step away from the camera.
- **Floor line** = median of the ground; **far / near** = its 5th / 95th percentiles (the feet's
  highest and lowest place in the image: furthest from and nearest to the camera). In the far and
  near quarters of that range the 90th percentiles of ground and of height give one representative
  (ground, height) point each; where size follows the ground line (perspective) both lie on it.
- **Horizontal centre** = median mid-hip x (hips' mean, else neck, when it is missing).

Mapping: when the driving ground moves over more than ``depth_min`` x its height (the dancer walks
towards or away from the camera), each frame's place u between the driving far and near points
(linear, limited to the 5th..95th percentile lines) gives the driving height h_drv(u) and the
target height h_tgt(u) and ground line g_tgt(u), both interpolated linearly between the far and
near points (the target's far and near points when it moved in depth itself, else its one floor
line and height): s = h_tgt(u) / h_drv(u) and the frame's ground goes to g_tgt(u). Otherwise (one
depth, the usual case) one global scale s = h_tgt / h_drv puts the driving floor line on the
target's floor line, and jumps stay jumps. Horizontally the driving centre lands on the target's
centre, so a dancer moving sideways still moves sideways around the target's place. In the torso
fallback the median neck heights are matched instead of the floors.

Coordinates are pixels of whatever frame each sequence was detected in; the two frames may differ
in size (the result is in the target's coordinates). All functions are pure.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import maximum_filter1d

from util.pose import fill_missing, poses_to_array, scale_pose, smooth_poses, track_person

HEAD_JOINTS = (0, 15, 16, 17, 18)    # BODY_25 nose, eyes, ears
ANKLES = (11, 14)
NECK, MID_HIP, HIPS = 1, 8, (9, 12)

HEIGHT_PERCENTILE = 90       # upright frames
FAR_PERCENTILE, NEAR_PERCENTILE = 5, 95
BAND = 0.25                  # share of the far..near range whose frames give the far / near points


def clean_sequence(people_per_frame, max_gap=12, smooth=1.0):
    """Raw OpenPose detections -> one clean pose per frame.

    people_per_frame: list (frames) of lists of pose dicts (data.readers.read_openpose).
    Keeps the person who continues the previous frame's (util.pose.track_person), interpolates joints
    missing for up to max_gap frames, fills frames without anybody from their neighbours
    (util.pose.fill_missing) and smooths jitter with a Gaussian of std ``smooth`` frames (0 = off).
    Raises ValueError when no frame holds a person.
    """
    poses = fill_missing(track_person(people_per_frame), max_gap=max_gap)
    return smooth_poses(poses, smooth) if smooth > 0 else poses


def _fill_nearest(values):
    """1-D array with NaNs -> NaNs replaced by linear interpolation (ends: nearest value)."""
    ok = np.isfinite(values)
    if ok.all() or not ok.any():
        return values
    t = np.arange(len(values))
    return np.interp(t, t[ok], values[ok])


def _per_frame(poses, threshold):
    """Per-frame measurements of a pose sequence as float64 arrays [T] (NaN where unknown)."""
    body = poses_to_array(poses, 'body').astype(np.float64)           # [T, 25, 3]
    conf = body[..., 2] > threshold
    x, y = body[..., 0], body[..., 1]
    with np.errstate(all='ignore'):
        def masked(joints, reduce):
            values = np.where(conf[:, joints], y[:, joints], np.nan)
            out = np.full(len(body), np.nan)
            any_ = conf[:, joints].any(axis=1)
            out[any_] = reduce(values[any_], axis=1)
            return out

        top = masked(list(HEAD_JOINTS), np.nanmin)
        low = masked(list(ANKLES), np.nanmax)
        torso = np.where(conf[:, NECK] & conf[:, MID_HIP],
                         np.hypot(x[:, NECK] - x[:, MID_HIP], y[:, NECK] - y[:, MID_HIP]), np.nan)
        hips = conf[:, HIPS[0]] & conf[:, HIPS[1]]
        centre = np.where(conf[:, MID_HIP], x[:, MID_HIP],
                          np.where(hips, x[:, list(HIPS)].mean(axis=1),
                                   np.where(conf[:, NECK], x[:, NECK], np.nan)))
        neck_y = np.where(conf[:, NECK], y[:, NECK], np.nan)
    return {'height': low - top, 'low': low, 'torso': torso, 'centre': centre, 'neck_y': neck_y}


def _percentile(values, q):
    values = values[np.isfinite(values)]
    return float(np.percentile(values, q)) if len(values) else float('nan')


def _median(values):
    return _percentile(values, 50)


def sequence_stats(poses, window=13, threshold=0.05):
    """Robust size and placement statistics of one person's pose sequence (see the module docstring).

    poses: list of pose dicts or None (one per frame), pixel coordinates.
    Returns a dict of floats (NaN when the joints needed are never seen) and one array:
      frames, height (head top to lowest ankle, px), torso (neck - mid hip, px), floor (ground
      median, px), far / near (ground 5th / 95th percentile), far_ground / far_height and
      near_ground / near_height (representative points of the far / near quarter), centre_x
      (median mid-hip x), neck_y (median neck y), body_frames (frames with head and ankle),
      ground: float64 [T] per-frame ground line (NaN everywhere without ankles).
    """
    frames = _per_frame(poses, threshold)
    low = frames['low']
    if np.isfinite(low).any():
        ground = maximum_filter1d(_fill_nearest(low), size=max(1, int(window)), mode='nearest')
    else:
        ground = np.full(len(low), np.nan)
    height = frames['height']
    far, near = _percentile(ground, FAR_PERCENTILE), _percentile(ground, NEAR_PERCENTILE)
    stats = {
        'frames': len(poses),
        'body_frames': int(np.isfinite(height).sum()),
        'height': _percentile(height, HEIGHT_PERCENTILE),
        'torso': _percentile(frames['torso'], HEIGHT_PERCENTILE),
        'floor': _median(ground), 'far': far, 'near': near,
        'centre_x': _median(frames['centre']),
        'neck_y': _median(frames['neck_y']),
        'ground': ground,
    }
    # representative (ground, height) points of the far and near quarters of the ground range: the same
    # percentile of both, so that when size follows the ground (perspective) the pair lies on that line
    band = BAND * (near - far)
    has_height = np.isfinite(height)
    for key, select in (('far', ground <= far + band), ('near', ground >= near - band)):
        chosen = select & has_height if np.isfinite(band) else np.zeros(len(height), bool)
        if chosen.any():
            stats[key + '_ground'] = _percentile(ground[chosen], HEIGHT_PERCENTILE)
            stats[key + '_height'] = _percentile(height[chosen], HEIGHT_PERCENTILE)
        else:
            stats[key + '_ground'], stats[key + '_height'] = stats[key], stats['height']
    return stats


@dataclass
class Alignment:
    """Per-frame similarity transforms without rotation: x' = scale[t] * x + dx[t], y' likewise + dy[t].

    mode: 'global' (one scale and floor), 'depth' (scale interpolated between far and near),
    'torso' (no ankles: torso length and neck height matched) or 'identity'.
    """
    scale: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    mode: str = 'global'
    info: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.scale)

    def summary(self):
        """JSON-friendly description: mode, scale / dx / dy ranges and the statistics used."""
        def span(values):
            return [round(float(values.min()), 4), round(float(values.max()), 4)] if len(values) else []
        return {'mode': self.mode, 'scale': span(self.scale), 'dx': span(self.dx), 'dy': span(self.dy),
                **self.info}


def _lerp(a, b, u):
    return (1 - u) * a + u * b


def identity_alignment(frames):
    return Alignment(np.ones(frames), np.zeros(frames), np.zeros(frames), 'identity')


def _plain(stats):
    return {k: round(float(v), 3) for k, v in stats.items() if np.ndim(v) == 0}


def fit_alignment(driving, target, window=13, depth_min=0.1, threshold=0.05):
    """Transform putting the driving sequence into the target's frame (see the module docstring).

    driving, target: lists of pose dicts or None (clean them first: clean_sequence). The result has
    one transform per driving frame. Raises ValueError when either sequence lacks the joints needed
    (neither head + ankle nor neck + mid hip ever confident).
    """
    src = sequence_stats(driving, window, threshold)
    dst = sequence_stats(target, window, threshold)
    frames = len(driving)
    info = {'driving': _plain(src), 'target': _plain(dst)}
    for name, stats in (('driving', src), ('target', dst)):
        if not np.isfinite(stats['centre_x']):
            raise ValueError(f'{name} poses: no frame has a confident mid hip, hip or neck joint; '
                             'cannot place the person (check the OpenPose files)')

    if src['body_frames'] and dst['body_frames'] and src['height'] > 0 and dst['height'] > 0:
        depth_span = src['near_ground'] - src['far_ground']
        if src['near'] - src['far'] > depth_min * src['height'] and depth_span > 0:
            mode = 'depth'
            # where each frame's ground lies between the driving far and near points (linear outside
            # them, up to the 5th / 95th percentile lines)
            u = (np.clip(src['ground'], src['far'], src['near']) - src['far_ground']) / depth_span
            src_height = _lerp(src['far_height'], src['near_height'], u)
            src_height = np.maximum(src_height, 0.25 * min(src['far_height'], src['near_height']))
            if dst['near'] - dst['far'] > depth_min * dst['height'] and dst['near_ground'] > dst['far_ground']:
                dst_height = _lerp(dst['far_height'], dst['near_height'], u)
                dst_ground = _lerp(dst['far_ground'], dst['near_ground'], u)
            else:           # the target was filmed at one depth: every driving depth lands on it
                dst_height, dst_ground = dst['height'], dst['floor']
            scale = dst_height / src_height
            dy = dst_ground - scale * src['ground']
        else:
            mode = 'global'
            scale = np.full(frames, dst['height'] / src['height'])
            dy = dst['floor'] - scale * src['floor']
    elif np.isfinite(src['torso']) and np.isfinite(dst['torso']) and src['torso'] > 0 and dst['torso'] > 0 \
            and np.isfinite(src['neck_y']) and np.isfinite(dst['neck_y']):
        mode = 'torso'
        scale = np.full(frames, dst['torso'] / src['torso'])
        dy = dst['neck_y'] - scale * src['neck_y']
    else:
        raise ValueError('cannot measure the person: neither head + ankle nor neck + mid hip joints are '
                         f'confident in any frame of the {"driving" if not src["body_frames"] else "target"} '
                         'poses; pass --no_align to use the driving poses as they are')
    dx = dst['centre_x'] - scale * src['centre_x']
    return Alignment(np.asarray(scale, np.float64), np.asarray(dx, np.float64),
                     np.broadcast_to(np.asarray(dy, np.float64), (frames,)).copy(), mode, info)


def apply_alignment(poses, alignment):
    """New poses with frame t mapped by alignment's t-th transform (None stays None)."""
    if len(poses) != len(alignment):
        raise ValueError(f'{len(poses)} poses but an alignment of {len(alignment)} frames')
    return [scale_pose(pose, s, s, dx, dy)
            for pose, s, dx, dy in zip(poses, alignment.scale, alignment.dx, alignment.dy)]
