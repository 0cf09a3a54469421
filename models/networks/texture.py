"""Learnable appearance: the neural texture, the background plate, and compositing."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from util.texture_sampling import render
from .generators import NUM_PARTS


class NeuralTexture(nn.Module):
    """Per-part texture of 3 RGB + ``feat_channels`` feature channels.

    texture: parameter [1, 24 * (3 + F), T, T], part-major: part p (1..24) owns channels
    [(p-1)(3+F) : p(3+F)], the first 3 of them RGB in [-1, 1].
    init_atlas: [24 * 3, T', T'] in [-1, 1] (util.atlas.atlas_to_tensor of texture.jpg), resized
    to T when T' != T; None starts RGB at 0 (grey). Feature channels start at 0.

    forward(uv: [B, 48, H, W] in [-1, 1], parts: probs [B, 25, H, W] or ids [B, H, W] long, min_prob=0.0)
    -> {'rgb': [B, 3, H, W], 'features': [B, 3 + F, H, W]} (features include the RGB channels).
    uv / parts / min_prob follow util.texture_sampling.render (channels 2k, 2k+1 = (2U-1, 2V-1) of part k+1).
    """

    def __init__(self, tex_size=200, feat_channels=15, init_atlas=None):
        super().__init__()
        self.tex_size, self.feat_channels = tex_size, feat_channels
        self.channels = 3 + feat_channels
        tex = torch.zeros(NUM_PARTS, self.channels, tex_size, tex_size)
        if init_atlas is not None:
            if init_atlas.dim() != 3 or init_atlas.shape[0] != NUM_PARTS * 3:
                raise ValueError(f"NeuralTexture: init_atlas must be [{NUM_PARTS * 3}, T, T] (24 parts x RGB, "
                                 f"util.atlas.atlas_to_tensor), got {list(init_atlas.shape)}")
            rgb = init_atlas.detach().float()
            if rgb.shape[-2:] != (tex_size, tex_size):
                rgb = F.interpolate(rgb[None], size=(tex_size, tex_size), mode='bilinear', align_corners=False,
                                    antialias=True)[0]
            tex[:, :3] = rgb.reshape(NUM_PARTS, 3, tex_size, tex_size).clamp(-1, 1)
        self.texture = nn.Parameter(tex.reshape(1, NUM_PARTS * self.channels, tex_size, tex_size))

    def forward(self, uv, parts, min_prob=0.0):
        features = render(self.texture, uv, parts, min_prob=min_prob)
        return {'rgb': features[:, :3], 'features': features}

    def rgb_atlas(self):
        """-> [24 * 3, T, T] detached RGB channels (part-major), for visualisation and saving."""
        t = self.texture.detach().reshape(NUM_PARTS, self.channels, self.tex_size, self.tex_size)
        return t[:, :3].reshape(NUM_PARTS * 3, self.tex_size, self.tex_size).clone()


class LearnableBackground(nn.Module):
    """Background plate initialised from an image and refined by training.

    init_image: [3, H, W] in [-1, 1]. forward(batch, height, width) -> [B, 3, height, width]
    (bilinearly resized, differentiably, when the working size differs from the stored one).
    """

    def __init__(self, init_image):
        super().__init__()
        if init_image.dim() != 3 or init_image.shape[0] != 3:
            raise ValueError(f"LearnableBackground: init_image must be [3, H, W], got {list(init_image.shape)}")
        self.image = nn.Parameter(init_image.detach().float().clone()[None])

    def forward(self, batch, height, width):
        img = self.image
        if img.shape[-2:] != (height, width):
            img = F.interpolate(img, size=(height, width), mode='bilinear', align_corners=False)
        return img.expand(batch, -1, -1, -1)


def composite(person, background, bg_prob):
    """person, background: [B, 3, H, W]; bg_prob: [B, 1, H, W] in [0, 1]
    -> person * (1 - bg_prob) + background * bg_prob."""
    return person * (1 - bg_prob) + background * bg_prob
