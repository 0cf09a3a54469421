"""Optical flow helpers: backward warping, forward-backward consistency, resizing and mirroring.

Conventions: flows are in pixels, x (right) then y (down); torch flows are [..., 2, H, W], numpy
flows [H, W, 2]; pixel centres sit at integer coordinates 0..W-1, 0..H-1. A flow defined on
frame A's grid maps pixel x of A to x + flow(x) in frame B. Backward-warping frame B with that flow
aligns it to A: warp(frame_b, flow_ab)(x) = frame_b(x + flow_ab(x)). With the dataset's files,
warp(frame[t-1], flow_inv[t-1]) lines frame t-1 up with frame t.
"""
import cv2
import numpy as np
import torch
import torch.nn.functional as F


def _pixel_grid(height, width, like):
    """[1, 2, H, W] pixel coordinates (x, y) in like's device and dtype."""
    ys = torch.arange(height, device=like.device, dtype=like.dtype)
    xs = torch.arange(width, device=like.device, dtype=like.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack((grid_x, grid_y))[None]


def warp(image, flow, padding_mode='zeros'):
    """Backward warp: out(x) = image(x + flow(x)), bilinear.

    image: [B, C, H, W]; flow: [B, 2, H, W] in pixels on the output grid (x, y).
    padding_mode: 'zeros' (default: samples outside the image read 0, which also marks them as
    unknown for masked losses) or 'border' (clamp to the nearest edge pixel).
    -> [B, C, H, W]. Differentiable w.r.t. image and flow.
    """
    if image.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f'warp: need image [B, C, H, W] and flow [B, 2, H, W], got {list(image.shape)} '
                         f'and {list(flow.shape)}')
    if image.shape[0] != flow.shape[0] or image.shape[2:] != flow.shape[2:]:
        raise ValueError(f'warp: image {list(image.shape)} and flow {list(flow.shape)} differ in batch or size')
    _, _, height, width = image.shape
    flow = flow.to(image.dtype)
    pos = _pixel_grid(height, width, flow) + flow  # [B, 2, H, W] sample positions in pixels
    # align_corners=True: normalised -1 / +1 are the centres of the first / last pixel
    scale = flow.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)]).view(1, 2, 1, 1)
    grid = (pos * scale - 1).permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode='bilinear', padding_mode=padding_mode, align_corners=True)


def consistency_mask(flow_ab, flow_ba, alpha1=0.01, alpha2=0.5):
    """Forward-backward consistency of a flow pair, on A's grid.

    flow_ab: [B, 2, H, W] A -> B on A's grid; flow_ba: [B, 2, H, W] B -> A on B's grid.
    With w = flow_ab(x) and w' = flow_ba(x + w) (bilinear), x is reliable where
    |w + w'|^2 < alpha1 (|w|^2 + |w'|^2) + alpha2 and x + w lies inside the image.
    -> float [B, 1, H, W], 1 = reliable, 0 = occluded / inconsistent / leaving the frame.
    """
    if flow_ab.shape != flow_ba.shape or flow_ab.dim() != 4 or flow_ab.shape[1] != 2:
        raise ValueError(f'consistency_mask: need two flows [B, 2, H, W] of one shape, got '
                         f'{list(flow_ab.shape)} and {list(flow_ba.shape)}')
    with torch.no_grad():
        _, _, height, width = flow_ab.shape
        back = warp(flow_ba, flow_ab, padding_mode='border')
        diff = (flow_ab + back).square().sum(1, keepdim=True)
        bound = alpha1 * (flow_ab.square().sum(1, keepdim=True) + back.square().sum(1, keepdim=True)) + alpha2
        pos = _pixel_grid(height, width, flow_ab) + flow_ab
        inside = (pos[:, :1] >= 0) & (pos[:, :1] <= width - 1) & (pos[:, 1:] >= 0) & (pos[:, 1:] <= height - 1)
        return ((diff < bound) & inside).to(flow_ab.dtype)


def resize_flow(flow, height, width):
    """Bilinear resize of a flow field with its vectors rescaled.

    flow: [H, W, 2] (x, y) in pixels -> float32 [height, width, 2], x scaled by width / W and
    y by height / H (exact for cv2's pixel-centre mapping, under which a displacement d becomes
    d * scale).
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f'resize_flow: flow must be [H, W, 2], got shape {flow.shape}')
    h, w = flow.shape[:2]
    if (h, w) == (height, width):
        return flow.copy()
    out = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= width / w
    out[..., 1] *= height / h
    return out


def flip_flow(flow):
    """Flow of the horizontally mirrored frames: [H, W, 2] -> [H, W, 2], columns mirrored and x negated."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f'flip_flow: flow must be [H, W, 2], got shape {flow.shape}')
    out = flow[:, ::-1].copy()
    out[..., 0] *= -1
    return out
