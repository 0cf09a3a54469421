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
            images give +inf (skimage.metrics.peak_signal_noise_ratio on the region's pixels).
SSIM        Wang et al. 2004 with an 11 x 11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03,
            population covariances, statistics in float64, the map over the positions where the whole
            window fits in the image (no padding), averaged over those positions (inside ``mask`` if
            given) and over channels: skimage.metrics.structural_similarity with gaussian_weights,
            use_sample_covariance=False and the map cropped by the window's radius. Images smaller than
            11 pixels use the largest odd window that fits (sigma scaled alike). Identical images give
            exactly 1.
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
import os
import warnings

import numpy as np
import torch
import torch.nn as nn
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

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


def psnr(a, b, mask=None, data_range=None):
    """Peak signal-to-noise ratio in dB of two images (scikit-image's; see the module docstring).

    a, b: [H, W] or [H, W, C]; mask: optional bool [H, W] region (e.g. the person);
    data_range: value span (default 255 for uint8). Identical -> inf; empty region -> NaN.
    """
    a, b, data_range = _pair(a, b, data_range, 'psnr')
    region = _region(mask, a.shape[:2], 'psnr')
    if region is not None:
        if not region.any():
            return float('nan')
        a, b = a[region], b[region]                 # [pixels, C]: the MSE over the region only
    with np.errstate(divide='ignore'):             # MSE 0: data_range^2 / 0 = inf, as documented
        return float(peak_signal_noise_ratio(a, b, data_range=data_range))


def ssim(a, b, mask=None, data_range=None):
    """Structural similarity (scikit-image's, set to Wang et al. 2004; see the module docstring).

    mask: optional bool [H, W]: average the SSIM map over the window centres inside it.
    Identical images -> 1.0; an empty region -> NaN.
    """
    a, b, data_range = _pair(a, b, data_range, 'ssim')
    region = _region(mask, a.shape[:2], 'ssim')
    size = min(SSIM_WINDOW, a.shape[0], a.shape[1])
    size -= 1 - size % 2                      # odd
    mean, values = structural_similarity(
        a, b, data_range=data_range, channel_axis=2, gaussian_weights=True, sigma=SSIM_SIGMA * size / SSIM_WINDOW,
        win_size=size, use_sample_covariance=False, K1=SSIM_K1, K2=SSIM_K2, full=True)
    if region is None:
        return float(mean)
    r = size // 2                             # the map counts where the whole window lies inside
    values, region = values[r:values.shape[0] - r, r:values.shape[1] - r], region[r:region.shape[0] - r,
                                                                                   r:region.shape[1] - r]
    if not region.any():
        return float('nan')
    return float(values[region].mean())


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
# The torchvision ImageNet backbones LPIPS runs on, by the name of their file in the torch hub cache
LPIPS_BACKBONES = {'alex': 'alexnet-owt-7be5be79.pth', 'vgg': 'vgg16-397923af.pth'}


def lpips_help():
    checkpoints = os.path.join(torch.hub.get_dir(), 'checkpoints')
    return (f'LPIPS needs the ImageNet weights of its backbone: put torchvision\'s {LPIPS_BACKBONES["alex"]} '
            f'(AlexNet) or {LPIPS_BACKBONES["vgg"]} (VGG16) in {checkpoints}/ (the torch hub cache), or pass '
            '--lpips_weights FILE (a torchvision alexnet or vgg16 state dict, full or its "features.<i>" keys only); '
            'the linear heads ship with the lpips package. Without them LPIPS is reported as unavailable.')


class LPIPSUnavailable(RuntimeError):
    """LPIPS cannot be computed: no backbone weights, or a file that cannot be read or does not fit."""


def lpips_backbone_file(weights_path=None):
    """The backbone weights LPIPS loads: weights_path if given, else the AlexNet (then VGG16) file in the torch
    hub cache; raises LPIPSUnavailable when there is none. Nothing is downloaded."""
    if weights_path:
        return weights_path
    checkpoints = os.path.join(torch.hub.get_dir(), 'checkpoints')
    for name in LPIPS_BACKBONES.values():
        if os.path.isfile(os.path.join(checkpoints, name)):
            return os.path.join(checkpoints, name)
    raise LPIPSUnavailable(f'no LPIPS backbone weights: no --lpips_weights FILE and none of '
                           f'{", ".join(LPIPS_BACKBONES.values())} in {checkpoints}. {lpips_help()}')


def _features(state, path):
    """torchvision features keys ('0.weight', ...) from a full, features-only or bare state dict."""
    if not isinstance(state, dict):
        raise LPIPSUnavailable(f'{path}: holds a {type(state).__name__}, not a state dict. {lpips_help()}')
    if any(key.startswith('features.') for key in state):
        state = {key[len('features.'):]: value for key, value in state.items() if key.startswith('features.')}
    return {key: value for key, value in state.items() if key.split('.')[0].isdigit()}


class LPIPS(nn.Module):
    """Learned perceptual distance (Zhang et al. 2018), the ``lpips`` package's v0.1 model on a torchvision
    AlexNet or VGG16 backbone.

    forward(a, b): images [N, 3, H, W] in [-1, 1] -> distances [N] (0 for identical images).
    The linear heads are the package's own (its weights/v0.1 files); the backbone's ImageNet weights come
    from weights_path or the torch hub cache (lpips_backbone_file), never from the network. The backbone
    kind is read from the file (the first convolution's kernel: 11 x 11 AlexNet, 3 x 3 VGG16).
    Raises LPIPSUnavailable with what is wrong and what to do. ``source`` names the backbone file.
    """

    def __init__(self, weights_path=None, device='cpu'):
        super().__init__()
        self.source = lpips_backbone_file(weights_path)
        try:
            state = torch.load(self.source, map_location='cpu', weights_only=True)
        except Exception as error:      # missing, unreadable, not a torch file
            raise LPIPSUnavailable(f'{self.source}: cannot load LPIPS backbone weights ({type(error).__name__}: '
                                   f'{error}). {lpips_help()}') from error
        features = _features(state, self.source)
        first = features.get('0.weight')
        if first is None or first.dim() != 4 or first.shape[-1] not in (11, 3):
            raise LPIPSUnavailable(f'{self.source}: no AlexNet / VGG16 backbone ("features.0.weight" '
                                   f'{None if first is None else list(first.shape)}). {lpips_help()}')
        self.kind = 'alex' if first.shape[-1] == 11 else 'vgg'
        import lpips
        with warnings.catch_warnings():     # lpips builds the random backbone with torchvision's old flags
            warnings.filterwarnings('ignore', category=UserWarning, module='torchvision')
            self.model = lpips.LPIPS(net=self.kind, pretrained=True, pnet_rand=True, verbose=False)
        # lpips names the backbone's layers slice<k>.<index in torchvision's features>.weight / .bias
        wanted = self.model.net.state_dict()
        missing = [key for key in wanted if key.split('.', 1)[1] not in features]
        if missing:
            raise LPIPSUnavailable(f'{self.source}: the {self.kind} backbone lacks features.'
                                   f'{missing[0].split(".", 1)[1]} ({len(missing)} tensors missing). {lpips_help()}')
        try:
            self.model.net.load_state_dict({key: features[key.split('.', 1)[1]].float() for key in wanted})
        except RuntimeError as error:
            raise LPIPSUnavailable(f'{self.source}: backbone does not match torchvision {self.kind}: {error}. '
                                   f'{lpips_help()}') from error
        self.requires_grad_(False)
        self.eval()
        self.to(device)

    def train(self, mode=True):
        return super().train(False)

    @torch.no_grad()
    def forward(self, a, b):
        if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 3:
            raise ValueError(f'LPIPS: need two [N, 3, H, W] images, got {list(a.shape)} and {list(b.shape)}')
        device = self.model.scaling_layer.shift.device
        return self.model(a.to(device).float(), b.to(device).float()).flatten()
