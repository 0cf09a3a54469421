"""Image, video and UV-generator quality metrics (pure functions; evaluate.py drives them).

Conventions
-----------
- psnr / ssim take two numpy images of one shape, [H, W] or [H, W, C] (uint8 as read from files, or
  float), and an optional region mask [H, W] (bool). ``data_range`` is the span of the values: 255
  for uint8 (the default for uint8 input), 2 for [-1, 1] floats; float input must name it.
- warping_errors takes torch float tensors: frames [N, C, H, W] (any range;
  evaluate.py passes [0, 1]), flows in pixels as the dataset stores them (util.flow conventions).
- part_accuracy / uv_error take torch tensors or numpy arrays (part ids [N, H, W], UV in [-1, 1]
  as ClipDataset and the networks use them) and report UV errors in DensePose units ([0, 1]).
- A metric over an empty region is NaN ("not measured"), never 0.

Definitions
-----------
PSNR        10 log10(data_range^2 / MSE), MSE over the region's pixels and all channels; identical
            images give +inf.
SSIM        Wang et al. 2004 with an 11 x 11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03,
            statistics in float64, the map over the positions where the whole window fits in the image
            (no padding), averaged over those positions (inside ``mask`` if given) and over channels.
            Images smaller than 11 pixels use the largest odd window that fits (sigma scaled alike).
            Identical images give exactly 1.
Warping error
            For each t >= 1: the previous frame warped onto frame t with the backward flow
            flow_inv[t-1] (t -> t-1 on t's grid; util.flow.warp), compared where the flow pair is
            forward/backward consistent (util.flow.consistency_mask(flow_inv[t-1], flow[t-1]), which
            also drops pixels whose source leaves the frame) and, if ``valid`` is given, where frame t
            and the warped validity of frame t-1 are both valid:
                e_t = sum_x m_t(x) mean_c |f_t(x) - warp(f_{t-1})(x)| / sum_x m_t(x)
            The temporal warping error is the mean of e_t over t (pairs with an empty mask skipped;
            evaluation.measure.summarise).
Part accuracy
            share of pixels (optionally only the true person pixels, part > 0) whose predicted part id
            equals the true one (0 = background).
UV error    mean of |dU| and |dV| in [0, 1] units over the true person pixels, the prediction read from
            the channels of each pixel's true part (it measures the UV regression apart from part
            mistakes; the same definition as models/trans_model.py's uv_error).
LPIPS       Zhang et al. 2018 ("learned perceptual image patch similarity"): see ``LPIPS``.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.ndimage import convolve1d

from util.flow import consistency_mask, warp

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


# ---------------------------------------------------------------------------------------------
# PSNR and SSIM
# ---------------------------------------------------------------------------------------------
def _pair(a, b, data_range, what):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f'{what}: images differ in shape: {a.shape} vs {b.shape}')
    if a.ndim not in (2, 3):
        raise ValueError(f'{what}: images must be [H, W] or [H, W, C], got shape {a.shape}')
    if data_range is None:
        if a.dtype != np.uint8 or b.dtype != np.uint8:
            raise ValueError(f'{what}: pass data_range for {a.dtype}/{b.dtype} images (255 is assumed for '
                             'uint8 only; 2.0 for [-1, 1], 1.0 for [0, 1])')
        data_range = 255.0
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    return a.astype(np.float64), b.astype(np.float64), float(data_range)


def _region(mask, shape, what):
    if mask is None:
        return None
    mask = np.asarray(mask).astype(bool)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.shape != shape:
        raise ValueError(f'{what}: mask {mask.shape} does not match the images {shape}')
    return mask


def mse(a, b, mask=None):
    """Mean squared difference over the region (all channels), in the images' units; NaN for an
    empty region."""
    a, b, _ = _pair(a, b, 1.0, 'mse')
    region = _region(mask, a.shape[:2], 'mse')
    diff = (a - b) ** 2
    if region is not None:
        if not region.any():
            return float('nan')
        diff = diff[region]
    return float(diff.mean())


def psnr(a, b, mask=None, data_range=None):
    """Peak signal-to-noise ratio in dB of two images (see the module docstring).

    a, b: [H, W] or [H, W, C]; mask: optional bool [H, W] region (e.g. the person);
    data_range: value span (default 255 for uint8). Identical -> inf; empty region -> NaN.
    """
    _, _, data_range = _pair(a, b, data_range, 'psnr')
    return psnr_from_mse(mse(a, b, mask), data_range)


def psnr_from_mse(error, data_range=255.0):
    """PSNR of a mean squared error (inf for 0, NaN for NaN)."""
    if not np.isfinite(error):
        return float('nan')
    return float('inf') if error == 0 else 10.0 * math.log10(data_range ** 2 / error)


def gaussian_window(size=SSIM_WINDOW, sigma=SSIM_SIGMA):
    """Normalised 1-D Gaussian of `size` taps (float64)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-x * x / (2.0 * sigma * sigma))
    return g / g.sum()


def ssim_map(a, b, data_range=None):
    """Per-position SSIM [H - w + 1, W - w + 1, C] (w = window size, see ``ssim``)."""
    a, b, data_range = _pair(a, b, data_range, 'ssim')
    size = min(SSIM_WINDOW, a.shape[0], a.shape[1])
    size -= 1 - size % 2                      # odd
    window = gaussian_window(size, SSIM_SIGMA * size / SSIM_WINDOW)
    r = size // 2

    def blur(x):
        x = convolve1d(convolve1d(x, window, axis=0, mode='nearest'), window, axis=1, mode='nearest')
        return x[r:x.shape[0] - r, r:x.shape[1] - r]       # only where the window lies inside

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2))


def ssim(a, b, mask=None, data_range=None):
    """Structural similarity (Gaussian window, channels averaged; see the module docstring).

    mask: optional bool [H, W]: average the SSIM map over the window centres inside it.
    Identical images -> 1.0; an empty region -> NaN.
    """
    values = ssim_map(a, b, data_range)
    region = _region(mask, np.asarray(a).shape[:2], 'ssim')
    if region is not None:
        r_h = (region.shape[0] - values.shape[0]) // 2
        r_w = (region.shape[1] - values.shape[1]) // 2
        region = region[r_h:r_h + values.shape[0], r_w:r_w + values.shape[1]]
        if not region.any():
            return float('nan')
        values = values[region]
    return float(values.mean())


# ---------------------------------------------------------------------------------------------
# Temporal consistency
# ---------------------------------------------------------------------------------------------
def warping_errors(frames, flows_inv, flows_fw, valid=None):
    """Per-pair warping errors e_t, t = 1..N-1 (module docstring): float64 tensor [N - 1], NaN
    where a pair has no reliable pixel.

    frames: [N, C, H, W] float; flows_inv: [N-1, 2, H, W] (k-th: frame k+1 -> k on frame k+1's grid);
    flows_fw: [N-1, 2, H, W] (k-th: frame k -> k+1 on frame k's grid); valid: optional [N, 1, H, W]
    (or [N, H, W]) with 1 where a frame's pixels count (e.g. the part of the ground-truth frame a
    model's output covers).
    """
    frames = torch.as_tensor(frames)
    n = frames.shape[0]
    if frames.dim() != 4:
        raise ValueError(f'warping_errors: frames must be [N, C, H, W], got {list(frames.shape)}')
    expected = [n - 1, 2, *frames.shape[2:]]
    for name, flow in (('flows_inv', flows_inv), ('flows_fw', flows_fw)):
        if list(flow.shape) != expected:
            raise ValueError(f'warping_errors: {name} must be {expected} for {n} frames, got {list(flow.shape)}')
    if n < 2:
        return torch.zeros(0, dtype=torch.float64)
    frames = frames.float()
    flows_inv, flows_fw = torch.as_tensor(flows_inv).float(), torch.as_tensor(flows_fw).float()
    mask = consistency_mask(flows_inv, flows_fw)                       # [N-1, 1, H, W] on frame t's grid
    if valid is not None:
        valid = torch.as_tensor(valid).float()
        if valid.dim() == 3:
            valid = valid[:, None]
        moved = warp(valid[:-1], flows_inv)
        mask = mask * valid[1:] * (moved > 0.999).float()
    diff = (frames[1:] - warp(frames[:-1], flows_inv)).abs().mean(1, keepdim=True)
    count = mask.sum((1, 2, 3)).double()
    total = (diff * mask).sum((1, 2, 3)).double()
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(count, float('nan')))


# ---------------------------------------------------------------------------------------------
# UV generator: parts and UV against DensePose
# ---------------------------------------------------------------------------------------------
def _tensor(x):
    return x if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))


def part_accuracy(pred_parts, true_parts, person_only=False, valid=None):
    """Share of pixels whose predicted part id equals the true one.

    pred_parts, true_parts: int [..., H, W] (0 = background, 1..24; negative true ids = unknown,
    never counted); person_only: count only true person pixels (part > 0); valid: optional bool
    [..., H, W] region. NaN when no pixel counts.
    """
    pred, true = _tensor(pred_parts).long(), _tensor(true_parts).long()
    if pred.shape != true.shape:
        raise ValueError(f'part_accuracy: predicted {list(pred.shape)} and true {list(true.shape)} differ')
    counted = true > 0 if person_only else true >= 0
    if valid is not None:
        counted = counted & _tensor(valid).bool().reshape(counted.shape)
    total = int(counted.sum())
    return float(((pred == true) & counted).sum()) / total if total else float('nan')


def uv_error(uv48_pred, uv_true, parts_true, valid=None):
    """Mean |dU| and |dV| in [0, 1] units over the true person pixels (module docstring).

    uv48_pred: [N, 48, H, W] in [-1, 1] (channels 2(p-1), 2(p-1)+1 = (2U-1, 2V-1) of part p);
    uv_true: [N, 2, H, W] in [-1, 1]; parts_true: [N, H, W] int (0 background, 1..24);
    valid: optional bool [N, H, W]. Returns the mean over both coordinates; NaN without person pixels.
    """
    u, v = uv_errors(uv48_pred, uv_true, parts_true, valid)
    return (u + v) / 2


def uv_errors(uv48_pred, uv_true, parts_true, valid=None):
    """(mean |dU|, mean |dV|) in [0, 1] units over the true person pixels (see ``uv_error``)."""
    pred, true, parts = _tensor(uv48_pred).float(), _tensor(uv_true).float(), _tensor(parts_true).long()
    if pred.dim() != 4 or pred.shape[1] % 2 or true.shape != (pred.shape[0], 2, *pred.shape[2:]) \
            or parts.shape != (pred.shape[0], *pred.shape[2:]):
        raise ValueError(f'uv_error: need uv48_pred [N, 2P, H, W], uv_true [N, 2, H, W], parts_true [N, H, W]; '
                         f'got {list(pred.shape)}, {list(true.shape)}, {list(parts.shape)}')
    person = parts > 0
    if valid is not None:
        person = person & _tensor(valid).bool().reshape(person.shape)
    count = int(person.sum())
    if not count:
        return float('nan'), float('nan')
    channel = (parts.clamp(1, pred.shape[1] // 2) - 1) * 2
    picked = pred.gather(1, torch.stack([channel, channel + 1], 1))
    error = (picked - true).abs() / 2                   # [-1, 1] -> [0, 1] units
    return float(error[:, 0][person].double().mean()), float(error[:, 1][person].double().mean())


# ---------------------------------------------------------------------------------------------
# LPIPS
# ---------------------------------------------------------------------------------------------
# Backbone layers whose ReLU outputs LPIPS compares: (end index into torchvision's features, channels)
LPIPS_TAPS = {
    'alex': ((2, 64), (5, 192), (8, 384), (10, 256), (12, 256)),            # relu1 .. relu5
    'vgg': ((4, 64), (9, 128), (16, 256), (23, 512), (30, 512)),            # relu1_2, 2_2, 3_3, 4_3, 5_3
}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LPIPS_HELP = (
    'LPIPS needs one weights file (--lpips_weights FILE): a torch.save\'d state dict holding the backbone '
    '(torchvision alexnet or vgg16 keys "features.<i>.weight/bias") and the five linear heads '
    '("lin<k>.weight" [1, C, 1, 1], k = 0..4; the LPIPS v0.1 release names them "lin<k>.model.1.weight"). '
    'Build it from files you have with `python -m evaluation.metrics lpips_weights --backbone alexnet.pth '
    '--heads alex.pth --out lpips_alex.pth`; without it LPIPS is reported as unavailable.')


class LPIPSUnavailable(RuntimeError):
    """LPIPS cannot be computed: no weights file, or one that cannot be read or does not fit."""


def _backbone(kind):
    import torchvision
    with torch.device('meta'):
        model = torchvision.models.alexnet(weights=None) if kind == 'alex' else torchvision.models.vgg16(weights=None)
    return model.features[:LPIPS_TAPS[kind][-1][0]]


def combine_lpips_weights(backbone_state, heads_state):
    """One LPIPS state dict from a torchvision backbone state dict (full or features only) and a head
    state dict ('lin<k>.weight' or 'lin<k>.model.1.weight')."""
    state = {}
    for key, value in backbone_state.items():
        if key.startswith('features.'):
            state[key] = value
        elif key.split('.')[0].isdigit():
            state['features.' + key] = value
    for key, value in heads_state.items():
        name = key.split('.')[0]
        if name.startswith('lin') and key.endswith('weight'):
            state[f'{name}.weight'] = value
    return state


class LPIPS(nn.Module):
    """Learned perceptual distance (Zhang et al. 2018) on a torchvision AlexNet or VGG16 backbone.

    forward(a, b): images [N, 3, H, W] in [-1, 1] -> distances [N] (0 for identical images).
    For each of five ReLU layers l (LPIPS_TAPS) the features are normalised to unit length over
    channels at every position, their squared difference is weighted per channel by the layer's
    non-negative linear head w_l (a 1 x 1 convolution without bias) and averaged over positions:
        d(a, b) = sum_l mean_{h,w} sum_c w_{l,c} (f_l(a) / |f_l(a)| - f_l(b) / |f_l(b)|)^2_{c,h,w}
    Inputs are normalised with the ImageNet mean and std first. The backbone kind is read from the
    file (the first convolution's kernel: 11 x 11 AlexNet, 3 x 3 VGG16).

    weights_path: the one file everything is loaded from (see LPIPS_HELP); there is no download and
    no default. Raises LPIPSUnavailable with what is wrong and what to do.
    """

    def __init__(self, weights_path, device='cpu'):
        super().__init__()
        if not weights_path:
            raise LPIPSUnavailable(f'no LPIPS weights file given. {LPIPS_HELP}')
        try:
            state = torch.load(weights_path, map_location='cpu', weights_only=True)
        except Exception as error:      # missing, unreadable, not a torch file
            raise LPIPSUnavailable(f'{weights_path}: cannot load LPIPS weights ({type(error).__name__}: '
                                   f'{error}). {LPIPS_HELP}') from error
        if not isinstance(state, dict):
            raise LPIPSUnavailable(f'{weights_path}: holds a {type(state).__name__}, not a state dict. {LPIPS_HELP}')
        state = combine_lpips_weights(state, state)
        first = state.get('features.0.weight')
        if first is None or first.dim() != 4 or first.shape[-1] not in (11, 3):
            raise LPIPSUnavailable(f'{weights_path}: no AlexNet / VGG16 backbone ("features.0.weight" '
                                   f'{None if first is None else list(first.shape)}). {LPIPS_HELP}')
        self.kind = 'alex' if first.shape[-1] == 11 else 'vgg'
        features = _backbone(self.kind)
        backbone = {k[len('features.'):]: v.float() for k, v in state.items() if k.startswith('features.')
                    and int(k.split('.')[1]) < LPIPS_TAPS[self.kind][-1][0]}
        heads = []
        for k, (_, channels) in enumerate(LPIPS_TAPS[self.kind]):
            weight = state.get(f'lin{k}.weight')
            if weight is None or weight.numel() != channels:
                raise LPIPSUnavailable(f'{weights_path}: linear head lin{k} must hold {channels} weights for '
                                       f'{self.kind}, found {None if weight is None else list(weight.shape)}. '
                                       f'{LPIPS_HELP}')
            heads.append(weight.float().reshape(1, channels, 1, 1))
        try:
            features.load_state_dict(backbone, strict=True, assign=True)
        except RuntimeError as error:
            raise LPIPSUnavailable(f'{weights_path}: backbone does not match torchvision {self.kind}: {error}. '
                                   f'{LPIPS_HELP}') from error
        starts = (0,) + tuple(end for end, _ in LPIPS_TAPS[self.kind][:-1])
        self.slices = nn.ModuleList(features[a:end] for a, (end, _) in zip(starts, LPIPS_TAPS[self.kind]))
        self.heads = nn.ParameterList(nn.Parameter(h, requires_grad=False) for h in heads)
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        # [-1, 1] input: (x + 1) / 2 normalised by ImageNet statistics = (x - (2 mean - 1)) / (2 std)
        self.register_buffer('shift', (2 * mean - 1).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('scale', (2 * std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()
        self.to(device)

    def train(self, mode=True):
        return super().train(False)

    @staticmethod
    def _unit(x, eps=1e-10):
        return x / (x.square().sum(1, keepdim=True).sqrt() + eps)

    @torch.no_grad()
    def forward(self, a, b):
        if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 3:
            raise ValueError(f'LPIPS: need two [N, 3, H, W] images, got {list(a.shape)} and {list(b.shape)}')
        device = self.shift.device
        x = (a.to(device).float() - self.shift) / self.scale
        y = (b.to(device).float() - self.shift) / self.scale
        total = torch.zeros(a.shape[0], device=device)
        for block, head in zip(self.slices, self.heads):
            x, y = block(x), block(y)
            total = total + F.conv2d((self._unit(x) - self._unit(y)).square(), head).mean((1, 2, 3))
        return total


def _main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(description='Build the one-file LPIPS weights evaluate.py reads.')
    sub = parser.add_subparsers(dest='command', required=True)
    build = sub.add_parser('lpips_weights', help='combine a torchvision backbone and LPIPS linear heads')
    build.add_argument('--backbone', required=True, help='torchvision alexnet or vgg16 state dict (.pth)')
    build.add_argument('--heads', required=True, help='LPIPS linear heads (.pth: lin0..lin4)')
    build.add_argument('--out', required=True)
    args = parser.parse_args(argv)
    state = combine_lpips_weights(torch.load(args.backbone, map_location='cpu', weights_only=True),
                                  torch.load(args.heads, map_location='cpu', weights_only=True))
    torch.save(state, args.out)
    LPIPS(args.out)                        # check that it loads
    print(f'{args.out}: LPIPS weights ({len(state)} tensors) written and checked')


if __name__ == '__main__':
    _main()
