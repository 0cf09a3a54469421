"""Random similarity warps of a pose image and its DensePose labels, for the UV generator only.

From one video the UV generator sees few body placements and limb angles and labels a novel motion
poorly (docs/RESULTS.md). The same warp applied to the pose image and to its part map and UV gives it
new, exactly labelled examples: a part label and a surface coordinate do not change when the image
moves, so the labels are resampled, never recomputed. The frame, the texture and the background are
not warped, which is why this serves the UV losses alone.
"""
import math

import torch
import torch.nn.functional as F


def random_similarities(count, max_degrees, max_scale, max_shift, device, generator=None):
    """count random 2D similarities as affine_grid matrices [count, 2, 3] (output -> input, normalised
    coordinates): rotation uniform in +-max_degrees, scale in [1 - max_scale, 1 + max_scale], shift in
    +-max_shift of the half-size on each axis."""
    def uniform(low, high):
        return low + (high - low) * torch.rand(count, device=device, generator=generator)

    angle = uniform(-max_degrees, max_degrees) * (math.pi / 180)
    scale = uniform(1 - max_scale, 1 + max_scale)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    shift = torch.stack([uniform(-max_shift, max_shift), uniform(-max_shift, max_shift)], 1)
    rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)   # [count, 2, 2]
    return torch.cat([rotation, shift.unsqueeze(2)], 2)


def warp_image(image, theta, fill):
    """image [N, C, H, W] resampled bilinearly through theta [N, 2, 3]; outside the frame: ``fill``."""
    grid = F.affine_grid(theta.to(image.dtype), list(image.shape), align_corners=False)
    return F.grid_sample(image - fill, grid, mode='bilinear', padding_mode='zeros', align_corners=False) + fill


def warp_labels(parts, uv, mask, theta):
    """parts [N, H, W] long, uv [N, 2, H, W], mask [N, 1, H, W] resampled through theta by nearest
    neighbour (a pixel keeps one part and that part's UV); outside the frame: background, UV 0, mask 0."""
    stacked = torch.cat([parts.unsqueeze(1).to(uv.dtype), uv, mask.to(uv.dtype)], 1)
    grid = F.affine_grid(theta.to(uv.dtype), list(stacked.shape), align_corners=False)
    warped = F.grid_sample(stacked, grid, mode='nearest', padding_mode='zeros', align_corners=False)
    return warped[:, 0].round().long(), warped[:, 1:3], warped[:, 3:]
