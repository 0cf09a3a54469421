"""Bone fields: each body bone's local coordinates around it, an input that says where a pixel lies
on a limb whatever the pose.

A skeleton drawing tells a network where the bones are; to name a pixel's part and its surface
coordinates it must still work out, from a drawing it has seen in few orientations, how far along a
bone and how far to its side the pixel lies. These fields give it that directly: for bone a -> b and
pixel p, t = (p - a).(b - a) / |b - a|^2 (0 at a, 1 at b) and the signed lateral offset
s = d x (p - a) (d the unit bone direction), in units of the person's size, so that they are the same
for the same point of the body in any rotation, scale and position of the limb.

Per bone three channels in [-1, 1]: presence (1 within reach of the bone, else -1), then t and s
rescaled to [-1, 1] over the reach (0 outside it). Bones with an unconfident joint are absent.
"""
import numpy as np

from util.pose import body_size, confident_joints

# OpenPose BODY_25 joints: torso axis, head, shoulders and arms, hips and legs, feet.
BONES = ((1, 8), (1, 0), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7),
         (8, 9), (9, 10), (10, 11), (8, 12), (12, 13), (13, 14), (11, 22), (14, 19))
BONE_FIELD_CHANNELS = 3 * len(BONES)
REACH = 0.1         # half-width of a bone's field, in units of the person's size (util.pose.body_size)
OVERHANG = 0.25     # how far the field runs past each joint, in bone lengths


def draw_bone_fields(pose, height, width, threshold=0.05):
    """Bone fields of a pose (keypoints in pixels, pixel centres at integers): float32
    [BONE_FIELD_CHANNELS, height, width] in [-1, 1]."""
    fields = np.zeros((len(BONES), 3, height, width), np.float32)
    fields[:, 0] = -1.0
    size = body_size(pose, threshold)
    if size <= 0:
        return fields.reshape(BONE_FIELD_CHANNELS, height, width)
    xy, valid = confident_joints(pose['body'], threshold)
    reach = REACH * size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for k, (a, b) in enumerate(BONES):
        axis = xy[b] - xy[a]
        length = float(np.hypot(*axis))
        if not (valid[a] and valid[b]) or length < 1e-3:
            continue
        px, py = xs - np.float32(xy[a, 0]), ys - np.float32(xy[a, 1])
        t = (px * axis[0] + py * axis[1]) / np.float32(length ** 2)
        s = (axis[0] * py - axis[1] * px) / np.float32(length)
        inside = (t >= -OVERHANG) & (t <= 1 + OVERHANG) & (np.abs(s) <= reach)
        fields[k, 0][inside] = 1.0
        fields[k, 1] = np.where(inside, (t - 0.5) / (0.5 + OVERHANG), 0.0)
        fields[k, 2] = np.where(inside, s / reach, 0.0)
    return fields.reshape(BONE_FIELD_CHANNELS, height, width)
