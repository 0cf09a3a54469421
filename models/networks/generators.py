"""Image-to-image generators: the pix2pixHD global generator and the two roles it plays here.

- ``GlobalGenerator``: encoder / residual bottleneck / decoder, raw output (no activation).
- ``UVGenerator``: pose image -> 25 part logits (0 = background, 1..24 = DensePose parts) and
  24 (u, v) pairs in [-1, 1].
- ``DetailGenerator`` ("D2G"): sampled neural-texture feature image -> RGB person in [-1, 1].
"""
import torch
import torch.nn as nn

from util.densepose import NUM_PARTS

from . import recompute

SKIPS = ('none', 'add')


class InstanceNorm(nn.InstanceNorm2d):
    """nn.InstanceNorm2d(channels) (no affine, no running statistics) whose output is not a view: the same
    batch norm over a [1, N*C, H, W] reshape, so the same numbers bit for bit, and the same (empty) state dict.

    torch's instance norm returns a view of that batch norm's output, and an in-place ReLU on a view costs a
    clone of its whole gradient, a zero-filled buffer and a copy into it in every backward (CopySlices,
    AsStridedBackward). The batch norm's output is referenced by nothing else (its backward needs the input
    and the statistics), so it can be reshaped without being a view. Norm + in-place ReLU, forward and
    backward, took 0.6-0.9x the time on the CPU (2 threads, [4, 64, 256, 256] to [4, 1024, 16, 16]).
    """

    def __init__(self, channels):
        super().__init__(channels, affine=False, track_running_stats=False)

    def forward(self, x):
        if torch.onnx.is_in_onnx_export() and x.dim() == 4:
            return self.accurate_in_onnx(x)
        if x.dim() != 4 or torch.jit.is_tracing():
            return super().forward(x)
        n, c, h, w = x.shape
        out = torch.batch_norm(x.reshape(1, n * c, h, w), None, None, None, None, True, 0.0, self.eps,
                               torch.backends.cudnn.enabled)
        return torch.ops.aten._unsafe_view(out, (n, c, h, w))


    def accurate_in_onnx(self, x):
        """The same normalisation in plain operations, for the ONNX export. ONNX Runtime's InstanceNormalization
        (and a plain ReduceMean over H*W) sums in one pass: on a 256^2 channel that is nearly constant (a pose
        image's background) it was 8e-4 off and the exported generator 5e-2 off eager fp32, which is 5e-4 from
        fp64. Statistics of x minus its corner pixel, reduced over W then H, are 1e-6 off (about 2x the time of
        the fused operator, a few percent of the generator's)."""
        centred = x - x[:, :, :1, :1]
        centred = centred - centred.mean(3, keepdim=True).mean(2, keepdim=True)
        variance = centred.square().mean(3, keepdim=True).mean(2, keepdim=True)
        return centred * torch.rsqrt(variance + self.eps)


def norm_layer(norm, channels):
    """A 2D normalisation layer by name: 'instance' (no affine, as in pix2pixHD), 'batch' or 'none'."""
    if norm == 'instance':
        return InstanceNorm(channels)
    if norm == 'batch':
        return nn.BatchNorm2d(channels)
    if norm == 'none':
        return nn.Identity()
    raise ValueError(f"models/networks: unknown norm {norm!r}; use 'instance', 'batch' or 'none'")


class ResnetBlock(nn.Module):
    """x + (reflect-pad 3x3 conv, norm, ReLU, reflect-pad 3x3 conv, norm)(x)."""

    def __init__(self, channels, norm='instance'):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), norm_layer(norm, channels),
        )

    def forward(self, x):
        return x + self.body(x)


class GlobalGenerator(nn.Module):
    """pix2pixHD global generator.

    Layout: reflect-pad 7x7 conv (ngf) -> ``n_downsampling`` stride-2 3x3 convs doubling the channels
    -> ``n_blocks`` residual blocks at ngf * 2**n_downsampling channels -> ``n_downsampling``
    upsampling stages halving them -> reflect-pad 7x7 conv to ``output_nc``. The output is raw
    (no activation): callers add tanh / softmax as their role needs. ``max_channels`` > 0 caps the
    channels of every level (the original research code's detail generator stops doubling at 512).

    upsampling: 'transpose' (3x3 stride-2 transposed conv, as pix2pixHD) or 'resize'
    (nearest 2x upsample + 3x3 conv, avoids checkerboard artefacts; same parameter count).
    skips: 'none' (pix2pixHD) or 'add': each upsampling stage's output plus the encoder's output at
    that resolution (U-Net style), so detail of the input need not pass the bottleneck; same parameters.

    forward(x: [B, input_nc, H, W]) -> [B, output_nc, H, W]; H and W must be divisible by
    2**n_downsampling.
    """

    def __init__(self, input_nc, output_nc, ngf=64, n_downsampling=3, n_blocks=9, norm='instance',
                 upsampling='transpose', max_channels=0, skips='none'):
        super().__init__()
        if upsampling not in ('transpose', 'resize'):
            raise ValueError(f"GlobalGenerator: unknown upsampling {upsampling!r}; use 'transpose' or 'resize'")
        if skips not in SKIPS:
            raise ValueError(f"GlobalGenerator: unknown skips {skips!r}; use one of {', '.join(SKIPS)}")
        self.n_downsampling, self.skips = n_downsampling, skips
        act = lambda: nn.ReLU(True)  # noqa: E731
        channels = [min(ngf * 2 ** level, max_channels or ngf * 2 ** level) for level in range(n_downsampling + 1)]
        stages = [[nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), norm_layer(norm, ngf), act()]]
        for ch, deeper in zip(channels, channels[1:]):
            stages.append([nn.Conv2d(ch, deeper, 3, stride=2, padding=1), norm_layer(norm, deeper), act()])
        stages[-1] += [ResnetBlock(channels[-1], norm) for _ in range(n_blocks)]
        for ch, shallower in zip(channels[::-1], channels[-2::-1]):
            if upsampling == 'transpose':
                up = [nn.ConvTranspose2d(ch, shallower, 3, stride=2, padding=1, output_padding=1)]
            else:
                up = [nn.Upsample(scale_factor=2, mode='nearest'), nn.Conv2d(ch, shallower, 3, padding=1)]
            stages.append(up + [norm_layer(norm, shallower), act()])
        stages.append([nn.ReflectionPad2d(3), nn.Conv2d(channels[0], output_nc, 7)])
        # one Sequential (the parameter names pix2pixHD checkpoints have); the skips cut it at stage ends
        self.model = nn.Sequential(*[layer for stage in stages for layer in stage])
        self.stage_ends = [sum(map(len, stages[:k + 1])) for k in range(len(stages))]
        self.recompute = False

    def check_size(self, height, width):
        """Raise a ValueError unless height and width are divisible by 2**n_downsampling."""
        f = 2 ** self.n_downsampling
        if height % f or width % f:
            raise ValueError(
                f"{type(self).__name__}: input size {height}x{width} is not divisible by 2**n_downsampling = {f}; "
                f"choose a working size that is a multiple of {f} (e.g. {height // f * f or f}x{width // f * f or f}) "
                f"or lower n_downsampling")

    def forward(self, x):
        self.check_size(x.shape[-2], x.shape[-1])
        if self.skips == 'none':
            return recompute.run_sequential(self.model, x, recompute.active(self))
        enabled, start, encoded = recompute.active(self), 0, []
        for k, end in enumerate(self.stage_ends):
            x = recompute.run(self.model[start:end], x, enabled)
            start = end
            # stage k < n ends at level k; upsampling stage k in n+1 .. 2n ends at level 2n - k
            if k < self.n_downsampling:
                encoded.append(x)
            elif self.n_downsampling < k <= 2 * self.n_downsampling:
                x = x + encoded[2 * self.n_downsampling - k]
        return x


class UVGenerator(nn.Module):
    """Pose image -> part segmentation and per-part UV coordinates.

    forward(pose: [B, input_nc, H, W]) -> {
        'part_logits': [B, 25, H, W] raw logits, class 0 = background, 1..24 = DensePose parts,
        'uv':          [B, 48, H, W] in [-1, 1] (tanh); channels 2(p-1), 2(p-1)+1 = (u, v) of part p,
    }
    """

    def __init__(self, input_nc, ngf=64, n_downsampling=4, n_blocks=9, norm='instance', upsampling='transpose',
                 skips='none'):
        super().__init__()
        self.net = GlobalGenerator(input_nc, NUM_PARTS + 1 + 2 * NUM_PARTS, ngf, n_downsampling, n_blocks, norm,
                                   upsampling, skips=skips)

    def forward(self, pose):
        out = self.net(pose)
        return {'part_logits': out[:, :NUM_PARTS + 1], 'uv': torch.tanh(out[:, NUM_PARTS + 1:])}


class DetailGenerator(nn.Module):
    """D2G: feature image -> RGB person.

    forward(features: [B, input_nc, H, W]) -> [B, 3, H, W] in [-1, 1] (tanh).
    """

    def __init__(self, input_nc, ngf=64, n_downsampling=3, n_blocks=9, norm='instance', upsampling='transpose',
                 max_channels=0, skips='none'):
        super().__init__()
        self.net = GlobalGenerator(input_nc, 3, ngf, n_downsampling, n_blocks, norm, upsampling, max_channels,
                                   skips)

    def forward(self, features):
        return torch.tanh(self.net(features))


def count_parameters(module, trainable_only=False):
    """Number of parameters of ``module`` (works on modules built on the 'meta' device)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
