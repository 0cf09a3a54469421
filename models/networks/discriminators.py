"""Discriminators: pix2pixHD PatchGAN, its multi-scale stack, and a vid2vid-style temporal discriminator.

Every discriminator returns features for feature matching:
- ``NLayerDiscriminator``: list of the n_layers + 2 block outputs; the last is the [B, 1, h, w]
  patch prediction (raw, no sigmoid).
- ``MultiscaleDiscriminator`` / ``TemporalDiscriminator``: list over scales (full resolution first)
  of such lists.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import recompute
from .generators import norm_layer


class NLayerDiscriminator(nn.Module):
    """PatchGAN: 4x4 convs, ``n_layers`` of them with stride 2, then two with stride 1.

    forward(x: [B, input_nc, H, W]) -> list of n_layers + 2 tensors; last = [B, 1, h, w] logits.
    """

    def __init__(self, input_nc, ndf=64, n_layers=3, norm='instance'):
        super().__init__()
        kw, pad = 4, 2
        blocks = [nn.Sequential(nn.Conv2d(input_nc, ndf, kw, stride=2, padding=pad), nn.LeakyReLU(0.2, True))]
        ch = ndf
        for n in range(1, n_layers + 1):
            out = min(ch * 2, 512)
            stride = 2 if n < n_layers else 1
            blocks.append(nn.Sequential(nn.Conv2d(ch, out, kw, stride=stride, padding=pad), norm_layer(norm, out),
                                        nn.LeakyReLU(0.2, True)))
            ch = out
        blocks.append(nn.Sequential(nn.Conv2d(ch, 1, kw, stride=1, padding=pad)))
        self.blocks = nn.ModuleList(blocks)
        self.recompute = False

    def forward(self, x):
        return recompute.run_each(self.blocks, x, recompute.active(self))


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs, scale k sees the input average-pooled k times (3x3, stride 2).

    forward(x: [B, input_nc, H, W]) -> [scale][layer] list of lists (scale 0 = full resolution).
    """

    def __init__(self, input_nc, ndf=64, n_layers=3, num_D=2, norm='instance'):
        super().__init__()
        self.input_nc = input_nc
        self.discriminators = nn.ModuleList(NLayerDiscriminator(input_nc, ndf, n_layers, norm) for _ in range(num_D))

    def forward(self, x):
        if x.shape[1] != self.input_nc:
            raise ValueError(f"{type(self).__name__}: expected {self.input_nc} input channels, got {x.shape[1]}")
        results = []
        for k, d in enumerate(self.discriminators):
            if k > 0:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            results.append(d(x))
        return results


class TemporalDiscriminator(MultiscaleDiscriminator):
    """Multi-scale PatchGAN on ``frames`` consecutive RGB frames plus the frames - 1 flows between them.

    Input channels: 3 * frames + 2 * (frames - 1), built by ``build_input``.
    forward(x) -> [scale][layer] list of lists, as MultiscaleDiscriminator.
    """

    def __init__(self, frames=2, ndf=64, n_layers=3, num_D=2, norm='instance'):
        if frames < 2:
            raise ValueError(f"TemporalDiscriminator: needs at least 2 frames, got {frames}")
        self.frames = frames
        super().__init__(self.input_channels(frames), ndf, n_layers, num_D, norm)

    @staticmethod
    def input_channels(frames):
        return 3 * frames + 2 * (frames - 1)

    @staticmethod
    def build_input(frames, flows, flow_scale=1.0):
        """frames: [B, T, 3, H, W], flows: [B, T-1, 2, H, W] (flow k relates frame k and k+1, in pixels)
        -> [B, 3T + 2(T-1), H, W]: the T frames, then the flows multiplied by ``flow_scale``
        (e.g. 1 / working width to keep them near unit range)."""
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f"TemporalDiscriminator.build_input: frames must be [B, T, 3, H, W], got {list(frames.shape)}")
        b, t, _, h, w = frames.shape
        if tuple(flows.shape) != (b, t - 1, 2, h, w):
            raise ValueError(f"TemporalDiscriminator.build_input: flows must be [B, T-1, 2, H, W] = "
                             f"{[b, t - 1, 2, h, w]} for frames {list(frames.shape)}, got {list(flows.shape)}")
        return torch.cat([frames.reshape(b, 3 * t, h, w), flows.reshape(b, 2 * (t - 1), h, w) * flow_scale], 1)
