"""Loss terms. Each returns an unweighted scalar; the model weights and sums them in one place.

Discriminator outputs follow discriminators.py: a [scale][layer] list of lists whose last layer
is the patch prediction (raw logits).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from pytorch_msssim import ssim

from . import recompute
from .generators import NUM_PARTS


def _last_features(predictions):
    """Accept a tensor, a list of tensors (one per scale) or a [scale][layer] list of lists;
    return the list of per-scale predictions."""
    if torch.is_tensor(predictions):
        return [predictions]
    return [p[-1] if isinstance(p, (list, tuple)) else p for p in predictions]


class GANLoss(nn.Module):
    """Adversarial loss averaged over discriminator scales.

    mode: 'lsgan' (MSE to 1 / 0), 'vanilla' (BCE with logits) or 'hinge'.
    __call__(predictions, target_is_real, for_discriminator=True) -> scalar.
    Hinge: discriminator mean(relu(1 - D)) for real, mean(relu(1 + D)) for fake;
    generator -mean(D) (target_is_real must be True).
    """

    MODES = ('lsgan', 'hinge', 'vanilla')

    def __init__(self, mode='lsgan'):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"GANLoss: unknown mode {mode!r}; use one of {self.MODES}")
        self.mode = mode

    def _single(self, pred, target_is_real, for_discriminator):
        if self.mode == 'hinge':
            if not for_discriminator:
                if not target_is_real:
                    raise ValueError("GANLoss('hinge'): the generator loss needs target_is_real=True")
                return -pred.mean()
            return F.relu(1 - pred).mean() if target_is_real else F.relu(1 + pred).mean()
        target = torch.full_like(pred, 1.0 if target_is_real else 0.0)
        if self.mode == 'lsgan':
            return F.mse_loss(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target)

    def forward(self, predictions, target_is_real, for_discriminator=True):
        preds = _last_features(predictions)
        return sum(self._single(p, target_is_real, for_discriminator) for p in preds) / len(preds)


def feature_matching_loss(fake_features, real_features):
    """L1 between discriminator features of fake and real ([scale][layer] lists; real detached).

    Uses every layer but the last (the prediction); mean over layers, then over scales.
    pix2pixHD sums layers with weight 4 / (n_layers + 1), i.e. 4x this value: its
    lambda_feat = 10 corresponds to a weight of 40 here.
    """
    if len(fake_features) != len(real_features):
        raise ValueError(f"feature_matching_loss: {len(fake_features)} fake scales vs {len(real_features)} real")
    total = 0.0
    for fake, real in zip(fake_features, real_features):
        if len(fake) < 2 or len(fake) != len(real):
            raise ValueError("feature_matching_loss: each scale needs the same >= 2 feature maps in fake and real")
        total = total + sum(F.l1_loss(f, r.detach()) for f, r in zip(fake[:-1], real[:-1])) / (len(fake) - 1)
    return total / len(fake_features)


# ---------------------------------------------------------------- perceptual

VGG_SLICE_ENDS = (2, 7, 12, 21, 30)  # vgg19.features indices after relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
VGG_HELP = ("pass --vgg_weights FILE (a torchvision vgg19 state dict, full or only its features.* keys), "
            "put vgg19-dcbb9e9d.pth in $TORCH_HOME/hub/checkpoints/, or train without it: --no_vgg_loss")


def _features_state_dict(state, source):
    """Keys of vgg19.features ('0.weight', ...) from a full vgg19 / features-only state dict."""
    if not isinstance(state, dict):
        raise RuntimeError(f"VGG19Features: {source} does not hold a state dict (got {type(state).__name__}); {VGG_HELP}")
    if any(k.startswith('features.') for k in state):
        state = {k[len('features.'):]: v for k, v in state.items() if k.startswith('features.')}
    return {k: v.float() for k, v in state.items() if k.split('.')[0].isdigit() and int(k.split('.')[0]) < 30}


class VGG19Features(nn.Module):
    """Frozen torchvision VGG19 slices: forward(x: [B, 3, H, W] in [-1, 1]) -> list of 5 features
    (relu1_1, relu2_1, relu3_1, relu4_1, relu5_1). ImageNet normalisation happens inside.

    weights_path: a torch.save'd vgg19 state dict (full, or only 'features.*' keys). None: torchvision's
    VGG19_Weights.IMAGENET1K_V1 from the torch hub cache (downloaded if the machine has network).
    Any failure raises a RuntimeError that says what to do.
    """

    def __init__(self, weights_path=None):
        super().__init__()
        if weights_path is not None:
            source = f"VGG weights file {weights_path!r}"
            try:
                state = torch.load(weights_path, map_location='cpu', weights_only=True)
            except Exception as e:  # missing, unreadable, corrupt, not a tensor file
                raise RuntimeError(f"VGG19Features: cannot load {source}: {type(e).__name__}: {e}; {VGG_HELP}") from e
        else:
            weights = torchvision.models.VGG19_Weights.IMAGENET1K_V1
            source = f"torchvision's {weights} ({weights.url})"
            try:
                state = weights.get_state_dict(progress=False)
            except Exception as e:  # not cached and no network, corrupt cache
                raise RuntimeError(
                    f"VGG19Features: cannot load {source} from the torch hub cache ({torch.hub.get_dir()}) "
                    f"or download it: {type(e).__name__}: {e}; {VGG_HELP}") from e
        with torch.device('meta'):  # no allocation: the loaded tensors are assigned below
            features = torchvision.models.vgg19(weights=None).features[:VGG_SLICE_ENDS[-1]]
        try:
            features.load_state_dict(_features_state_dict(state, source), strict=True, assign=True)
        except RuntimeError as e:
            raise RuntimeError(f"VGG19Features: {source} does not match vgg19.features: {e}; {VGG_HELP}") from e
        starts = (0,) + VGG_SLICE_ENDS[:-1]
        self.slices = nn.ModuleList(features[a:b] for a, b in zip(starts, VGG_SLICE_ENDS))
        self.requires_grad_(False)
        self.recompute = False
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode=True):
        return super().train(False)  # always frozen and in eval mode

    def forward(self, x):
        x = ((x + 1) / 2 - self.mean) / self.std
        return recompute.run_each(self.slices, x, recompute.active(self))


class VGGLoss(nn.Module):
    """Perceptual L1 over VGG19Features with layer weights 1/32, 1/16, 1/8, 1/4, 1 (summed).

    Compute the real image's features once per step and reuse them:
        real_f = vgg_loss.features(real)   # builds no graph: the real image and VGG need no grad
        loss = vgg_loss.loss(vgg_loss.features(fake), real_f)
    forward(fake, real) does both.
    """

    WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(self, vgg):
        super().__init__()
        self.vgg = vgg

    def features(self, x):
        """x: [B, 3, H, W] in [-1, 1] -> list of 5 feature maps (differentiable w.r.t. x)."""
        return self.vgg(x)

    def loss(self, fake_features, real_features):
        return sum(w * F.l1_loss(f, r.detach()) for w, f, r in zip(self.WEIGHTS, fake_features, real_features))

    def forward(self, fake, real):
        return self.loss(self.features(fake), self.features(real))


# ---------------------------------------------------------------- supervision of the UV generator

def masked_uv_l1(uv_pred, uv_target, parts, mean_over='person'):
    """L1 between the UV the generator predicts for each pixel's true part and its target.

    uv_pred: [B, 48, H, W] (part p's (u, v) at channels 2(p-1), 2(p-1)+1), uv_target: [B, 2, H, W]
    in the same range, parts: [B, H, W] long in 0..24. mean_over 'person': mean over both coordinates
    and the pixels with part > 0 (0, keeping the graph, when there are none); 'all': the sum over
    all 48 channels and all pixels (the original research code's normalisation, about person
    fraction / 24 times the person mean).
    """
    fg = parts > 0
    idx = (parts.clamp(min=1) - 1).unsqueeze(1) * 2  # [B, 1, H, W] channel of u
    picked = uv_pred.gather(1, torch.cat([idx, idx + 1], 1))  # [B, 2, H, W]
    err = (picked - uv_target).abs() * fg.unsqueeze(1)
    if mean_over == 'all':
        return err.sum() / uv_pred.numel()
    return err.sum() / (2 * fg.sum()).clamp(min=1)


def part_cross_entropy(logits, parts, weight=None):
    """logits: [B, 25, H, W], parts: [B, H, W] long in 0..24 (0 = background) -> mean cross-entropy."""
    return F.cross_entropy(logits, parts, weight=weight)


def temporal_l1(current, warped_previous, confidence):
    """Confidence-weighted mean absolute difference between a frame and the previous one warped to it.

    current, warped_previous: [B, C, H, W]; confidence: [B, 1, H, W] in [0, 1] (0 = occluded /
    inconsistent flow, ignored). sum(conf * mean_c |diff|) / sum(conf); 0 when all confidence is 0.
    Detach warped_previous yourself if the previous frame should not receive gradients.
    """
    diff = (current - warped_previous).abs().mean(1, keepdim=True)
    return (diff * confidence).sum() / confidence.sum().clamp(min=1e-8)


def temporal_l1_all_pixels(current, warped_previous, confidence):
    """As temporal_l1 but the mean over all pixels (inconsistent ones count as 0), as the original
    research code averages it."""
    return ((current - warped_previous).abs().mean(1, keepdim=True) * confidence).mean()


def ssim_loss(output, real):
    """1 - SSIM(output, real) (images in [-1, 1]; 11-pixel Gaussian window): a structural loss that needs no
    downloaded weights, for training without VGG19."""
    return 1 - ssim((output.float() + 1) / 2, (real.float() + 1) / 2, data_range=1.0)


def person_weighted_l2(output, real, bg_prob):
    """mean((output - real)^2 * (1 - bg_prob)): the L2 on the pixels the model calls person."""
    return torch.mean((output - real) ** 2 * (1 - bg_prob))


def person_logit(part_logits):
    """part_logits: [B, 25, H, W] -> [B, 1, H, W] logit of P(person) = 1 - P(background),
    i.e. logsumexp(parts 1..24) - logit(background), numerically stable."""
    return torch.logsumexp(part_logits[:, 1:], 1, keepdim=True) - part_logits[:, :1]


def background_prob(part_logits):
    """part_logits: [B, 25, H, W] -> [B, 1, H, W] softmax probability of the background class."""
    return torch.softmax(part_logits, 1)[:, :1]


def mask_bce(part_logits, mask):
    """Binary cross-entropy between the predicted person probability (1 - background probability of
    the softmax over ``part_logits`` [B, 25, H, W]) and ``mask`` ([B, 1, H, W] or [B, H, W], 1 = person,
    soft values allowed). Computed from logits, so it is stable where probabilities saturate."""
    if part_logits.shape[1] != NUM_PARTS + 1:
        raise ValueError(f"mask_bce: part_logits must have {NUM_PARTS + 1} channels, got {part_logits.shape[1]}")
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    return F.binary_cross_entropy_with_logits(person_logit(part_logits), mask.to(part_logits.dtype))
