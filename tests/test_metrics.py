"""evaluation/metrics.py: PSNR / SSIM on hand-computable cases, the temporal warping error on shifted images and
on synthetic ground truth with its exact flow, part accuracy / UV error, LPIPS with and without weights."""
import glob
import math
import os

import numpy as np
import pytest
import torch

from data.readers import read_flo, read_frame, read_mask
from data.synthetic import generate
from util.flow import consistency_mask, warp
from evaluation.measure import summarise
from evaluation.metrics import LPIPS, LPIPSUnavailable, part_accuracy, psnr, ssim, uv_error, uv_errors, warping_errors


def random_image(seed, shape=(48, 40, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_identical_images_give_inf_psnr_and_ssim_one():
    image = random_image(0)
    assert psnr(image, image) == math.inf
    assert ssim(image, image) == 1.0
    mask = np.zeros(image.shape[:2], bool)
    mask[10:20, 5:30] = True
    assert psnr(image, image, mask) == math.inf and ssim(image, image, mask) == 1.0
    assert math.isnan(psnr(image, image, np.zeros_like(mask)))          # empty region: not measured


def test_constant_offset_gives_the_psnr_computed_by_hand():
    a = np.full((32, 32, 3), 100, np.uint8)
    b = a + 10                                       # MSE = 100 -> 10 log10(255^2 / 100)
    assert psnr(a, b) == pytest.approx(28.130803608679106, abs=1e-9)
    assert psnr(a / 255, b / 255, data_range=1.0) == pytest.approx(28.130803608679106, abs=1e-9)
    assert psnr(np.zeros((4, 4)), np.full((4, 4), 0.1), data_range=1.0) == pytest.approx(20.0)
    # offset only inside a quarter of the frame: the region's PSNR is the same 28.13 dB; over the
    # whole frame the MSE is 4x smaller, +10 log10(4) = +6.02 dB
    c = a.copy()
    c[:16, :16] += 10
    region = np.zeros((32, 32), bool)
    region[:16, :16] = True
    assert psnr(a, c, region) == pytest.approx(28.130803608679106, abs=1e-9)
    assert psnr(a, c, ~region) == math.inf
    assert psnr(a, c) == pytest.approx(28.130803608679106 + 10 * math.log10(4), abs=1e-9)
    with pytest.raises(ValueError, match='data_range'):
        psnr(a.astype(np.float32), b.astype(np.float32))


def shifted_ramp():
    """A horizontal ramp 4 x (0..63) and the same shifted right by one pixel (first column kept)."""
    a = np.repeat((4 * np.arange(64, dtype=np.uint8))[None, :], 24, axis=0)[..., None].repeat(3, axis=2)
    b = a.copy()
    b[:, 1:] = a[:, :-1]
    return a, b


def test_one_pixel_shift_gives_known_psnr_and_warping_error():
    a, b = shifted_ramp()
    # 63 of 64 columns differ by 4: MSE = 16 * 63 / 64
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / (16 * 63 / 64)), abs=1e-9)
    frames = torch.from_numpy(np.stack([a, b]).transpose(0, 3, 1, 2)).float() / 255
    shift = torch.zeros(1, 2, 24, 64)
    shift[:, 0] = -1.0                 # frame 1 at x shows frame 0 at x - 1 (backward flow 1 -> 0)
    forward = -shift                   # frame 0 at x moves to x + 1
    # the exact flow aligns the frames: zero error on every reliable pixel (the consistency mask drops
    # column 0, whose source x - 1 lies outside the image)
    assert warping_errors(frames, shift, forward)[0] == pytest.approx(0.0, abs=1e-6)
    # no flow: every pixel is "reliable" and 63 of 64 columns differ by 4 / 255
    zero = torch.zeros(1, 2, 24, 64)
    assert warping_errors(frames, zero, zero)[0] == pytest.approx(4 / 255 * 63 / 64, rel=1e-5)
    # an invalid region is excluded: only columns 0..31 valid in both frames
    valid = torch.zeros(2, 1, 24, 64)
    valid[:, :, :, :32] = 1
    assert warping_errors(frames, zero, zero, valid)[0] == pytest.approx(4 / 255 * 31 / 32, rel=1e-5)
    nothing = torch.zeros(2, 1, 24, 64)
    assert math.isnan(warping_errors(frames, zero, zero, nothing)[0])
    assert 'warp_error' not in summarise([{'warp_error': float(warping_errors(frames, zero, zero, nothing)[0])}])[0]


def test_ssim_decreases_with_noise():
    clean = read_like_image()
    rng = np.random.default_rng(1)
    values = []
    for sigma in (2, 8, 25, 60):
        noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).astype(np.uint8)
        values.append(ssim(clean, noisy))
    assert values == sorted(values, reverse=True) and len(set(values)) == 4, values
    assert values[0] < 1.0 and values[-1] < 0.5, values
    # channels are averaged: a grey image and its 3-channel copy agree
    grey = clean[..., 0]
    noisy = np.clip(grey + rng.normal(0, 8, grey.shape), 0, 255).astype(np.uint8)
    assert ssim(grey, noisy) == pytest.approx(ssim(np.dstack([grey] * 3), np.dstack([noisy] * 3)))


def direct_ssim(a, b, mask=None, size=11, sigma=1.5, data_range=255.0):
    """Wang et al. 2004 written out: every window position that fits, Gaussian-weighted means, population
    (co)variances, the SSIM formula, then the mean over positions (inside mask) and channels."""
    x = np.arange(size) - size // 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    weights = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    a, b = np.atleast_3d(a).astype(np.float64), np.atleast_3d(b).astype(np.float64)
    values = []
    for channel in range(a.shape[2]):
        wa = np.lib.stride_tricks.sliding_window_view(a[..., channel], (size, size))      # [H', W', size, size]
        wb = np.lib.stride_tricks.sliding_window_view(b[..., channel], (size, size))
        mean = lambda v: (v * weights).sum((2, 3))
        mu_a, mu_b = mean(wa), mean(wb)
        var_a, var_b = mean(wa * wa) - mu_a ** 2, mean(wb * wb) - mu_b ** 2
        cov = mean(wa * wb) - mu_a * mu_b
        values.append((2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
    values = np.stack(values, -1)
    if mask is not None:
        r = size // 2
        values = values[mask[r:mask.shape[0] - r, r:mask.shape[1] - r]]
    return float(values.mean())


def test_ssim_and_psnr_agree_with_the_direct_formulas_and_skimage():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    clean = read_like_image()
    noisy = np.clip(clean + np.random.default_rng(4).normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    ramp, shifted = shifted_ramp()
    mask = np.zeros(clean.shape[:2], bool)
    mask[8:40, 20:60] = True
    for a, b in ((clean, noisy), (ramp, shifted), (clean[..., 1], noisy[..., 1])):
        value = ssim(a, b)
        assert value < 1 and value == pytest.approx(ssim(b, a), abs=1e-12)
        assert value == pytest.approx(direct_ssim(a, b), abs=1e-9)
        assert value == pytest.approx(structural_similarity(
            a, b, channel_axis=2 if a.ndim == 3 else None, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False), abs=1e-12)
        mse = np.mean((a.astype(np.float64) - b) ** 2)
        assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / mse), abs=1e-9)
        assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b), abs=1e-12)
    assert ssim(clean, noisy, mask) == pytest.approx(direct_ssim(clean, noisy, mask), abs=1e-9)
    assert ssim(clean, noisy, mask) != pytest.approx(ssim(clean, noisy), abs=1e-3)
    # [0, 1] floats with data_range 1 are the uint8 images' numbers (SSIM scales with the range, though not
    # under an offset: the means enter it)
    assert ssim(clean / 255, noisy / 255, data_range=1.0) == pytest.approx(ssim(clean, noisy), abs=1e-9)
    assert ssim(clean / 127.5 - 1, noisy / 127.5 - 1, data_range=2.0) == pytest.approx(
        direct_ssim(clean / 127.5 - 1, noisy / 127.5 - 1, data_range=2.0), abs=1e-9)
    # an image smaller than the window: the largest odd window that fits, sigma scaled alike
    small, other = random_image(2, (7, 9, 3)), random_image(3, (7, 9, 3))
    assert ssim(small, other) == pytest.approx(direct_ssim(small, other, size=7, sigma=1.5 * 7 / 11), abs=1e-9)


def read_like_image():
    """A smooth structured test image (gradients and discs), uint8 [64, 64, 3]."""
    y, x = np.mgrid[0:64, 0:64] / 63.0
    image = np.stack([200 * x, 180 * y, 120 + 100 * np.sin(6 * x + 4 * y)], -1)
    image[((x - 0.4) ** 2 + (y - 0.5) ** 2) < 0.05] = (240, 40, 60)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('metrics') / 'synth')
    generate(root, frames=6, height=128, width=128, seed=3, tex_size=32)
    return root


def warping_figures(root, pattern):
    """(warping errors with the exact flow, plain |f_t - f_{t-1}|) per pair on the same pixels: the person
    (the static background would only add JPEG noise to both) without the dynamic details (skirt,
    shading), which no flow explains."""
    frames = torch.stack([torch.from_numpy(read_frame(p).transpose(2, 0, 1)).float() / 255
                          for p in sorted(glob.glob(os.path.join(root, pattern)))])
    flow_inv, flow = (torch.stack([torch.from_numpy(read_flo(p).transpose(2, 0, 1))
                                   for p in sorted(glob.glob(os.path.join(root, kind, '*.flo')))])
                      for kind in ('flow_inv', 'flow'))
    person = [read_mask(p) & ~read_mask(d) for p, d in
              zip(sorted(glob.glob(os.path.join(root, 'mask', '*.png'))),
                  sorted(glob.glob(os.path.join(root, 'gt', 'dynamic', '*.png'))))]
    valid = torch.from_numpy(np.stack(person)).float()[:, None]
    warped = warping_errors(frames, flow_inv, flow, valid=valid)
    mask = consistency_mask(flow_inv, flow) * valid[1:] * (warp(valid[:-1], flow_inv) > 0.999).float()
    plain = ((frames[1:] - frames[:-1]).abs().mean(1, keepdim=True) * mask).sum((1, 2, 3)) / mask.sum((1, 2, 3))
    assert len(warped) == len(frames) - 1 and torch.isfinite(warped).all()
    # evaluate.py's temporal warping error: the mean of the per-pair errors over frames
    means, _ = summarise([{'warp_error': float(e)} for e in warped])
    assert means['warp_error'] == pytest.approx(float(warped.mean()))
    return warped, plain.double()


def test_warping_error_of_synthetic_ground_truth_with_its_exact_flow_is_small(synthetic):
    # the frames (JPEG, textured person at 128 px: bilinear resampling of fine texture is what remains)
    warped, plain = warping_figures(synthetic, os.path.join(os.path.basename(synthetic), '*.jpg'))
    assert float(warped.mean()) < 0.03 and (warped < 0.55 * plain).all(), (warped, plain)
    assert float(warped.mean()) < 0.5 * float(plain.mean()), (warped, plain)
    # the detail-free renders (png): closer still
    warped, plain = warping_figures(synthetic, os.path.join('gt', 'render', '*.png'))
    assert float(warped.mean()) < 0.02 and (warped < 0.35 * plain).all(), (warped, plain)


def test_part_accuracy_and_uv_error_on_known_inputs():
    true = torch.tensor([[[0, 0, 1, 1], [2, 2, 3, -1]]])          # one frame 2 x 4, one unknown pixel
    pred = torch.tensor([[[0, 1, 1, 1], [2, 0, 3, 0]]])
    assert part_accuracy(pred, true) == pytest.approx(5 / 7)                    # 7 known pixels, 5 right
    assert part_accuracy(pred, true, person_only=True) == pytest.approx(4 / 5)  # 5 person pixels, 4 right
    valid = torch.tensor([[[True, True, True, True], [False, False, False, False]]])
    assert part_accuracy(pred, true, valid=valid) == pytest.approx(3 / 4)
    assert math.isnan(part_accuracy(pred, torch.zeros_like(true), person_only=True))

    parts = torch.tensor([[[0, 1], [2, 24]]])
    uv_true = torch.zeros(1, 2, 2, 2)
    uv_true[:, 0] = 0.5                                            # U = 0.75, V = 0.5 in [0, 1] units
    uv48 = torch.full((1, 48, 2, 2), 0.9)                          # other parts' channels: far off, ignored
    for p in (1, 2, 24):
        rows, cols = torch.nonzero(parts[0] == p, as_tuple=True)
        uv48[0, 2 * (p - 1), rows, cols] = 0.5 + 0.2               # dU = 0.2 / 2 = 0.1
        uv48[0, 2 * (p - 1) + 1, rows, cols] = -0.4                # dV = 0.4 / 2 = 0.2
    assert uv_errors(uv48, uv_true, parts) == pytest.approx((0.1, 0.2))
    assert uv_error(uv48, uv_true, parts) == pytest.approx(0.15)
    assert uv_error(uv48.numpy(), uv_true.numpy(), parts.numpy()) == pytest.approx(0.15)
    assert math.isnan(uv_error(uv48, uv_true, torch.zeros_like(parts)))


@pytest.fixture
def empty_torch_hub(tmp_path, monkeypatch):
    """A torch hub cache with nothing in it (TORCH_HOME in tmp_path): its checkpoints folder."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setattr(torch.hub, '_hub_dir', None)        # follow TORCH_HOME even if set_dir was called
    return tmp_path / 'torch' / 'hub' / 'checkpoints'


def test_lpips_without_weights_raises_a_helpful_error(tmp_path, empty_torch_hub):
    with pytest.raises(LPIPSUnavailable, match='--lpips_weights') as info:
        LPIPS(None)
    assert str(empty_torch_hub) in str(info.value) and 'alexnet-owt-7be5be79.pth' in str(info.value)
    with pytest.raises(LPIPSUnavailable, match='nowhere.pth'):
        LPIPS(str(tmp_path / 'nowhere.pth'))
    bad = tmp_path / 'bad.pth'
    torch.save({'lin0.weight': torch.ones(1, 64, 1, 1)}, bad)
    with pytest.raises(LPIPSUnavailable, match='backbone'):
        LPIPS(str(bad))
    torch.save({'features.0.weight': torch.ones(64, 3, 11, 11)}, bad)      # AlexNet's first layer only
    with pytest.raises(LPIPSUnavailable, match='lacks features.0.bias'):
        LPIPS(str(bad))


def write_lpips_weights(path, seed=0, features_only=False):
    """A randomly initialised torchvision AlexNet's state dict (the LPIPS backbone file; features_only: its
    features module's keys, '0.weight', ...): the path."""
    import torchvision
    torch.manual_seed(seed)
    model = torchvision.models.alexnet(weights=None)
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    torch.save((model.features if features_only else model).state_dict(), path)
    return str(path)


def test_lpips_loads_the_backbone_from_the_torch_hub_cache(empty_torch_hub):
    import lpips
    path = write_lpips_weights(empty_torch_hub / 'alexnet-owt-7be5be79.pth')
    metric = LPIPS()
    assert metric.kind == 'alex' and metric.source == path
    # the backbone is the cached file's; the linear heads are the lpips package's own v0.1 ones
    saved = torch.load(path, weights_only=True)
    for index, layer in ((0, metric.model.net.slice1[0]), (10, getattr(metric.model.net.slice5, '10'))):
        assert torch.equal(layer.weight, saved[f'features.{index}.weight'])
    heads = torch.load(os.path.join(os.path.dirname(lpips.__file__), 'weights', 'v0.1', 'alex.pth'),
                       map_location='cpu', weights_only=True)
    assert torch.equal(metric.model.lin0.model[1].weight, heads['lin0.model.1.weight'])
    a = torch.from_numpy(read_like_image().transpose(2, 0, 1)).float()[None] / 127.5 - 1
    noise = torch.from_numpy(np.random.default_rng(0).normal(0, 0.3, a.shape)).float()
    b = (a + noise).clamp(-1, 1)
    same, different = metric(a, a), metric(torch.cat([a, a]), torch.cat([b, (a + 2 * noise).clamp(-1, 1)]))
    assert same.shape == (1,) and float(same[0]) == 0.0
    assert different.shape == (2,) and torch.isfinite(different).all() and 0 < different[0] < different[1]
    # --lpips_weights wins over the cache: another backbone, another distance
    other = LPIPS(write_lpips_weights(empty_torch_hub.parent / 'other.pth', seed=1, features_only=True))
    assert other.source.endswith('other.pth') and float(other(a, b)[0]) != pytest.approx(float(different[0]))
