"""Per-axis pixel maps x' = a x + b, y' = c y + d, stored as (a, b, c, d); pixel centres at integers.

They carry keypoints, 3D labels and model outputs between frames of different sizes: a resize maps
pixel centres as the data loader resizes frames, an alignment is a similarity (one scale, a shift).
"""
import numpy as np

IDENTITY = (1.0, 0.0, 1.0, 0.0)


def resize_map(src, dst):
    """The pixel-centre map of a resize from src (H, W) to dst (H', W') (the loader's mapping)."""
    sy, sx = dst[0] / src[0], dst[1] / src[1]
    return (sx, 0.5 * sx - 0.5, sy, 0.5 * sy - 0.5)


def similarity(scale, dx, dy):
    """x -> scale * x + dx, y -> scale * y + dy."""
    return (scale, dx, scale, dy)


def compose(second, first):
    """x -> second(first(x))."""
    return (second[0] * first[0], second[0] * first[1] + second[1],
            second[2] * first[2], second[2] * first[3] + second[3])


def invert(m):
    return (1.0 / m[0], -m[1] / m[0], 1.0 / m[2], -m[3] / m[2])


def affine_matrix(m):
    """The 2x3 float64 matrix of map m (as cv2.warpAffine takes it)."""
    return np.array([[m[0], 0, m[1]], [0, m[2], m[3]]], np.float64)
