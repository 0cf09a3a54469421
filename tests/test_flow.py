"""util/flow.py: backward warping, forward-backward consistency, resizing and mirroring flows."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from util.flow import consistency_mask, flip_flow, resize_flow, warp


def smooth_image(batch=1, channels=3, height=32, width=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, channels, height // 4, width // 4, generator=g)
    return F.interpolate(coarse, size=(height, width), mode='bicubic', align_corners=False)


def constant_flow(dx, dy, batch=1, height=32, width=40):
    return torch.tensor([dx, dy], dtype=torch.float32).view(1, 2, 1, 1).expand(batch, 2, height, width).clone()


def test_warp_aligns_integer_translation():
    big = smooth_image(height=48, width=56)
    dx, dy = 3, -2
    frame_b = big[:, :, 8:40, 8:48]                      # frame B
    frame_a = big[:, :, 8 + dy:40 + dy, 8 + dx:48 + dx]  # frame A(x) = B(x + (dx, dy))
    warped = warp(frame_b, constant_flow(dx, dy))
    interior = (slice(None), slice(None), slice(2, -2), slice(0, -3))
    assert torch.allclose(warped[interior], frame_a[interior], atol=1e-5)
    assert (warp(frame_b, constant_flow(0, 0)) - frame_b).abs().max() < 1e-6
    # without the flow the frames are clearly different
    assert (frame_b[interior] - frame_a[interior]).abs().mean() > 0.02


def test_warp_subpixel_on_linear_ramp_and_padding():
    height, width = 10, 12
    ys, xs = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing='ij')
    ramp = (0.3 * xs + 0.7 * ys)[None, None]
    flow = constant_flow(0.25, -1.5, height=height, width=width)
    warped = warp(ramp, flow)
    expected = 0.3 * (xs + 0.25) + 0.7 * (ys - 1.5)
    assert torch.allclose(warped[0, 0, 2:, :-1], expected[2:, :-1], atol=1e-5)  # pixel units, centres at integers
    assert torch.all(warped[0, 0, 0] == 0)  # y - 1.5 < -1: fully outside -> zeros padding
    border = warp(ramp, flow, padding_mode='border')
    assert torch.allclose(border[0, 0, 0], 0.3 * (xs[0] + 0.25).clamp(max=width - 1), atol=1e-5)


def test_warp_gradients_reach_image_and_flow():
    image = smooth_image().requires_grad_()
    flow = (constant_flow(1.3, 0.4) + 0.1 * torch.randn(1, 2, 32, 40)).requires_grad_()
    warp(image, flow).square().sum().backward()
    assert image.grad.abs().sum() > 0 and flow.grad.abs().sum() > 0


def test_consistency_mask_of_exact_inverse_and_of_inconsistent_pair():
    height, width = 32, 40
    forward = constant_flow(3, -2, batch=2)
    backward = constant_flow(-3, 2, batch=2)
    mask = consistency_mask(forward, backward)
    assert mask.shape == (2, 1, height, width) and mask.dtype == torch.float32
    assert torch.all(mask[:, :, 2:, :-3] == 1)  # x + w inside the image
    assert torch.all(mask[:, :, :2] == 0) and torch.all(mask[:, :, :, -3:] == 0)  # x + w leaves the frame
    assert torch.all(consistency_mask(forward, forward) == 0)  # w' = w: not each other's inverse


def test_consistency_mask_smooth_flow_and_occlusion():
    """A smooth, non-constant flow and its inverse (a translation field that varies slowly): consistent;
    a corrupted patch in the backward flow (as an occlusion produces) is flagged."""
    height, width = 40, 48
    ys, xs = torch.meshgrid(torch.arange(height).float(), torch.arange(width).float(), indexing='ij')
    forward = torch.stack((2 + 0.02 * ys, 1 + 0 * xs))[None]  # x-shift depends on y, y-shift constant
    backward = torch.stack((-(2 + 0.02 * (ys - 1)), -1 + 0 * xs))[None]  # inverse on B's grid
    mask = consistency_mask(forward, backward)
    assert torch.all(mask[0, 0, 1:-2, 1:-4] == 1)
    broken = backward.clone()
    broken[:, :, 10:20, 10:20] = torch.tensor([5.0, -4.0]).view(1, 2, 1, 1)
    mask = consistency_mask(forward, broken)
    assert torch.all(mask[0, 0, 12:17, 10:15] == 0) and torch.all(mask[0, 0, 25:35, 25:35] == 1)


def test_resize_flow_scales_vectors_per_axis():
    flow = np.zeros((64, 32, 2), np.float32)  # H=64, W=32
    flow[..., 0], flow[..., 1] = 4, 2
    up = resize_flow(flow, 128, 64)
    assert up.shape == (128, 64, 2)
    np.testing.assert_allclose(up[..., 0], 8, atol=1e-5)
    np.testing.assert_allclose(up[..., 1], 4, atol=1e-5)
    wide = resize_flow(flow, 32, 64)  # half the height, twice the width
    assert wide.shape == (32, 64, 2)
    np.testing.assert_allclose(wide[..., 0], 8, atol=1e-5)
    np.testing.assert_allclose(wide[..., 1], 1, atol=1e-5)
    with pytest.raises(ValueError, match='H, W, 2'):
        resize_flow(np.zeros((2, 64, 32), np.float32), 10, 10)


def test_resize_flow_keeps_warp_alignment():
    """A translation of frames stays aligned after both frames and the flow are resized."""
    big = smooth_image(height=96, width=112, seed=3)
    dx, dy = 4, -2
    frame_b, frame_a = big[:, :, 16:80, 16:96], big[:, :, 16 + dy:80 + dy, 16 + dx:96 + dx]
    small = lambda x: F.interpolate(x, size=(32, 40), mode='bilinear', align_corners=False, antialias=True)
    flow = np.zeros((64, 80, 2), np.float32)
    flow[...] = (dx, dy)
    flow_small = torch.from_numpy(resize_flow(flow, 32, 40).transpose(2, 0, 1))[None]
    warped = warp(small(frame_b), flow_small)
    interior = (slice(None), slice(None), slice(3, -3), slice(3, -5))  # away from the crops' filtered edges
    assert torch.allclose(warped[interior], small(frame_a)[interior], atol=1e-5)


def test_flip_flow():
    flow = np.random.default_rng(0).normal(size=(6, 7, 2)).astype(np.float32)
    flipped = flip_flow(flow)
    np.testing.assert_array_equal(flip_flow(flipped), flow)
    np.testing.assert_array_equal(flipped[:, 0, 0], -flow[:, -1, 0])
    np.testing.assert_array_equal(flipped[:, 0, 1], flow[:, -1, 1])
    assert flow[0, 0, 0] != flipped[0, 0, 0]


def test_flip_flow_commutes_with_warp():
    """Warping the mirrored frame with the mirrored flow = mirroring the warped frame."""
    image = smooth_image(seed=5)
    flow = 2 * smooth_image(channels=2, seed=6) - 1 + torch.tensor([2.5, -1.0]).view(1, 2, 1, 1)
    flipped_flow = torch.from_numpy(flip_flow(flow[0].permute(1, 2, 0).numpy()).transpose(2, 0, 1).copy())[None]
    left = warp(image.flip(-1), flipped_flow)
    right = warp(image, flow).flip(-1)
    assert torch.allclose(left, right, atol=1e-5)
