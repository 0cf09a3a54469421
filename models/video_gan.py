"""What the video GAN models (render_model, pose2image_model) share: the pose input's channels, the
spatial + temporal discriminators, clip batches flattened to frames and back, the flow-warped temporal
terms, the adversarial losses and the one place where named losses are weighted and summed.

Batches come from data.clip_dataset.ClipDataset: T consecutive frames per clip; generators see the
B*T frames as one batch, temporal terms compare neighbours inside each clip.
"""
import contextlib

import torch
import torch.nn as nn

from models.networks import losses as L
from models.networks.discriminators import MultiscaleDiscriminator, TemporalDiscriminator
from util.flow import consistency_mask, warp

CLIP_KEYS = ('pose', 'image', 'parts', 'uv', 'mask', 'flow', 'flow_inv')
FLOW_KEYS = ('flow', 'flow_inv')        # per clip [B, T-1, 2, H, W]; everything else is per frame


def pose_channels(opt):
    """Channels of the network's pose input: the drawn skeleton (3) + the 3D label's, if used."""
    return 3 + (opt.label3d_nc if opt.use_label3d else 0)


class VideoDiscriminators(nn.Module):
    """A multi-scale spatial D on cat(pose, image) and, unless --no_temporal_D, a temporal D on clips."""

    def __init__(self, opt):
        super().__init__()
        self.spatial = MultiscaleDiscriminator(pose_channels(opt) + 3, opt.ndf, opt.n_layers_D, opt.num_D, opt.norm)
        self.temporal = None if opt.no_temporal_D else TemporalDiscriminator(
            opt.clip_length, opt.ndf, opt.n_layers_D, opt.num_D, opt.norm)

    def forward(self, pose, images, clip_frames=None, clip_flows=None, flow_scale=1.0):
        """Spatial D on cat(pose, image) and temporal D on whole clips; each call sees fake and real
        stacked in one batch so DDP runs one forward per backward."""
        spatial = self.spatial(torch.cat([pose, images], 1))
        temporal = None
        if self.temporal is not None and clip_frames is not None:
            temporal = self.temporal(TemporalDiscriminator.build_input(clip_frames, clip_flows, flow_scale))
        return spatial, temporal


def adversarial_criteria(opt, device):
    """(discriminators, GAN loss, VGG loss or None with --no_vgg_loss) on the device."""
    vgg_loss = None if opt.no_vgg_loss else L.VGGLoss(L.VGG19Features(opt.vgg_weights)).to(device)
    return VideoDiscriminators(opt).to(device), L.GANLoss(opt.gan_mode), vgg_loss


# ---------------------------------------------------------------- clips
def unpack_clips(batch, device, keys=CLIP_KEYS):
    """Move ``keys`` of a clip batch to the device and flatten per-frame tensors [B, T, ...] to
    [B*T, ...] (flows stay [B, T-1, 2, H, W]). -> (data dict, clip shape (B, T))."""
    data = {key: batch[key].to(device, non_blocking=True) for key in keys if key in batch}
    clip_shape = data['image'].shape[:2]
    for key in data:
        if key not in FLOW_KEYS:
            data[key] = data[key].flatten(0, 1)
    return data, clip_shape


def to_clips(frames, clip_shape):
    """[B*T, ...] -> [B, T, ...]."""
    return frames.reshape(*clip_shape, *frames.shape[1:])


def temporal_terms(output, data, clip_shape):
    """Current frames, previous frames warped onto them with flow_inv, and the flow confidence.

    output: [B*T, C, H, W] -> (current [B*(T-1), C, H, W], warped previous (same), confidence
    [B*(T-1), 1, H, W] from the forward-backward consistency of data['flow'] / data['flow_inv'])."""
    clips = to_clips(output, clip_shape)
    current = clips[:, 1:].flatten(0, 1)
    previous = clips[:, :-1].flatten(0, 1)
    flow_inv = data['flow_inv'].flatten(0, 1)
    with torch.no_grad():
        confidence = consistency_mask(flow_inv.float(), data['flow'].flatten(0, 1).float())
    return current, warp(previous, flow_inv), confidence


# ---------------------------------------------------------------- discriminators and losses
def no_sync(module):
    """Skip DDP's gradient all-reduce for D during the generator step (its grads are discarded)."""
    return module.no_sync() if hasattr(module, 'no_sync') else contextlib.nullcontext()


def split_predictions(predictions, first):
    """Split [scale][layer] feature lists along the batch into the first ``first`` items and the rest."""
    if predictions is None:
        return None, None
    head = [[f[:first] for f in scale] for scale in predictions]
    tail = [[f[first:] for f in scale] for scale in predictions]
    return head, tail


def discriminate(discriminators, discriminators_ddp, pose, fake, real, flow, clip_shape):
    """Both discriminators on fake and real frames stacked in one batch.

    pose: [B*T, Cp, H, W]; fake, real: [B*T, 3, H, W]; flow: [B, T-1, 2, H, W] (temporal D input,
    scaled by 1 / width); discriminators: the bare VideoDiscriminators, discriminators_ddp: it or
    its DDP wrapper. -> dict spatial_fake, spatial_real, temporal_fake, temporal_real ([scale][layer]
    lists; the temporal ones None without a temporal D)."""
    frames = flows = None
    if discriminators.temporal is not None:
        frames = torch.cat([to_clips(fake, clip_shape), to_clips(real, clip_shape)])
        flows = torch.cat([flow, flow])
    spatial, temporal = discriminators_ddp(torch.cat([pose, pose]), torch.cat([fake, real]), frames, flows,
                                           1.0 / real.shape[-1])
    spatial_fake, spatial_real = split_predictions(spatial, real.shape[0])
    temporal_fake, temporal_real = split_predictions(temporal, clip_shape[0])
    return {'spatial_fake': spatial_fake, 'spatial_real': spatial_real,
            'temporal_fake': temporal_fake, 'temporal_real': temporal_real}


def generator_adversarial_losses(gan_loss, predictions):
    """gan, feat (feature matching against the real frames) and, with a temporal D, gan_temporal."""
    losses = {'gan': gan_loss(predictions['spatial_fake'], True, for_discriminator=False),
              'feat': L.feature_matching_loss(predictions['spatial_fake'], predictions['spatial_real'])}
    if predictions['temporal_fake'] is not None:
        losses['gan_temporal'] = gan_loss(predictions['temporal_fake'], True, for_discriminator=False)
    return losses


def discriminator_losses(gan_loss, predictions):
    """D_fake, D_real and, with a temporal D, DT_fake, DT_real (the D step sums them, times 0.5)."""
    losses = {'D_fake': gan_loss(predictions['spatial_fake'], False),
              'D_real': gan_loss(predictions['spatial_real'], True)}
    if predictions['temporal_fake'] is not None:
        losses['DT_fake'] = gan_loss(predictions['temporal_fake'], False)
        losses['DT_real'] = gan_loss(predictions['temporal_real'], True)
    return losses


def loss_weights(opt):
    """{'l2': opt.lambda_l2, ...}: every --lambda_* flag by loss name."""
    return {name[len('lambda_'):]: value for name, value in vars(opt).items() if name.startswith('lambda_')}


def weighted_total(losses, weights):
    """The one place where named losses are weighted and summed."""
    return sum(weights[name] * value for name, value in losses.items())
