"""The one resize (and flip) that every per-frame input gets: working size, frames, labels, keypoints.

Coordinates follow the pixel-centre convention (x right, y down, pixel centres at integers, the image
covering [-0.5, W - 0.5]); see data/clip_dataset.py for how each input uses these.
"""
import math

import cv2
import numpy as np
import torch

from util.densepose import FLIP_PARTS, FLIP_U_PARTS
from util.geometry import resize_map
from util.pose import scale_pose


def _round_to_multiple(value, multiple):
    return max(multiple, int(math.floor(value / multiple + 0.5)) * multiple)


def working_size(height, width, load_size, size_multiple=16):
    """(H', W'): long side -> load_size, aspect kept, both rounded to the nearest multiple of
    size_multiple (at least size_multiple). See the module docstring."""
    if load_size <= 0 or size_multiple <= 0:
        raise ValueError(f'load_size ({load_size}) and size_multiple ({size_multiple}) must be positive')
    scale = load_size / max(height, width)
    return _round_to_multiple(height * scale, size_multiple), _round_to_multiple(width * scale, size_multiple)


def resize_image(image, height, width):
    """Frame-like image [h, w, C] -> [height, width, C]: INTER_AREA when shrinking, else LINEAR."""
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def resize_nearest(array, height, width):
    """Nearest-neighbour resize of [h, w, ...] with pixel-centre alignment (for IUV, masks, labels)."""
    h, w = array.shape[:2]
    if (h, w) == (height, width):
        return array
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return array[rows[:, None], cols[None, :]]


def pose_to_working_size(pose, src_size, dst_size):
    """Keypoints from a frame of src_size (H, W) to dst_size (H', W') with the pixel-centre mapping."""
    ax, bx, ay, by = resize_map(src_size, dst_size)
    return scale_pose(pose, ax, ay, bx, by)


def flip_iuv(iuv):
    """Mirror a DensePose IUV uint8 [H, W, 3] = (I, U*255, V*255) horizontally: columns reversed,
    left/right part ids swapped, U -> 255 - U on the torso (parts 1, 2). Returns a new array."""
    out = iuv[:, ::-1].copy()
    parts = out[:, :, 0]
    torso = np.isin(parts, FLIP_U_PARTS)
    out[:, :, 1] = np.where(torso, 255 - out[:, :, 1], out[:, :, 1])
    out[:, :, 0] = FLIP_PARTS[parts]
    return out


def to_unit_range(image_uint8):
    """uint8 [H, W, C] -> float32 tensor [C, H, W] in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image_uint8.transpose(2, 0, 1))).float() / 127.5 - 1.0
