"""The video GAN base that the render model and the pose2image baseline share: set-up, the
generator-then-discriminator training step through one weighted sum for each, inference, visuals;
and its pieces (pose input channels, spatial + temporal discriminators, clip batches flattened to
frames and back, flow-warped temporal terms, adversarial losses).

Batches come from data.clip_dataset.ClipDataset: T consecutive frames per clip; generators see the
B*T frames as one batch, temporal terms compare neighbours inside each clip.
"""
import contextlib

import torch
import torch.nn as nn

from models.base_model import BaseModel, loss_weights, weighted_total
from models.networks import losses as L
from models.networks.discriminators import MultiscaleDiscriminator, TemporalDiscriminator
from util.bone_fields import BONE_FIELD_CHANNELS
from util.flow import consistency_mask, warp
from util.image import tensor_to_image

CLIP_KEYS = ('pose', 'image', 'parts', 'uv', 'mask', 'flow', 'flow_inv')
FLOW_KEYS = ('flow', 'flow_inv')        # per clip [B, T-1, 2, H, W]; everything else is per frame


def pose_channels(opt):
    """Channels of the network's pose input: the drawn skeleton (3), the bone fields and the 3D label's,
    each if used."""
    return 3 + (BONE_FIELD_CHANNELS if opt.bone_fields else 0) + (opt.label3d_nc if opt.use_label3d else 0)


class VideoDiscriminators(nn.Module):
    """A multi-scale spatial D on cat(pose, image) and, unless --no_temporal_D, a temporal D on clips."""

    def __init__(self, opt):
        super().__init__()
        self.spatial = MultiscaleDiscriminator(pose_channels(opt) + 3, opt.ndf, opt.n_layers_D, opt.num_D, opt.norm)
        self.temporal = None if opt.no_temporal_D else TemporalDiscriminator(
            opt.clip_length, opt.ndf, opt.n_layers_D, opt.num_D, opt.norm)

    def forward(self, pose, images, clip_frames=None, clip_flows=None, flow_scale=1.0):
        """Spatial D on cat(pose, image) and temporal D on whole clips (models/video_gan.discriminate)."""
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


def temporal_terms(output, data, clip_shape, style='ours'):
    """Current frames, previous frames warped onto them with flow_inv, and the flow confidence.

    output: [B*T, C, H, W] -> (current [B*(T-1), C, H, W], warped previous (same), confidence
    [B*(T-1), 1, H, W] from the forward-backward consistency of data['flow'] / data['flow_inv']).
    style 'published' (the original research code): border padding and confidence |F + B(F)|^2 < 1."""
    clips = to_clips(output, clip_shape)
    current = clips[:, 1:].flatten(0, 1)
    previous = clips[:, :-1].flatten(0, 1)
    flow_inv = data['flow_inv'].flatten(0, 1)
    published = style == 'published'
    with torch.no_grad():
        bounds = {'alpha1': 0.0, 'alpha2': 1.0} if published else {}
        confidence = consistency_mask(flow_inv.float(), data['flow'].flatten(0, 1).float(), **bounds)
    return current, warp(previous, flow_inv, padding_mode='border' if published else 'zeros'), confidence


# ---------------------------------------------------------------- discriminators and losses
def no_sync(module):
    """Skip DDP's gradient all-reduce for D during the generator step (its grads are discarded)."""
    return module.no_sync() if hasattr(module, 'no_sync') else contextlib.nullcontext()


def discriminate(discriminators, pose, frames, flow, clip_shape):
    """Both discriminators on one set of frames (the real ones or the generator's).

    pose: [B*T, Cp, H, W]; frames: [B*T, 3, H, W]; flow: [B, T-1, 2, H, W] (temporal D input, scaled by
    1 / width); discriminators: VideoDiscriminators or its DDP wrapper. -> dict spatial, temporal
    ([scale][layer] lists; temporal None without a temporal D)."""
    clips = flows = None
    if unwrap(discriminators).temporal is not None:
        clips, flows = to_clips(frames, clip_shape), flow
    spatial, temporal = discriminators(pose, frames, clips, flows, 1.0 / frames.shape[-1])
    return {'spatial': spatial, 'temporal': temporal}


def unwrap(module):
    """The module inside a DDP wrapper (or the module itself)."""
    return getattr(module, 'module', module)


def generator_adversarial_losses(gan_loss, fake, real):
    """gan, feat (feature matching against the real frames' features) and, with a temporal D, gan_temporal;
    fake, real: ``discriminate`` results."""
    losses = {'gan': gan_loss(fake['spatial'], True, for_discriminator=False),
              'feat': L.feature_matching_loss(fake['spatial'], real['spatial'])}
    if fake['temporal'] is not None:
        losses['gan_temporal'] = gan_loss(fake['temporal'], True, for_discriminator=False)
    return losses


def discriminator_losses(gan_loss, fake, real):
    """D_fake, D_real and, with a temporal D, DT_fake, DT_real (the D step sums them, times 0.5)."""
    losses = {'D_fake': gan_loss(fake['spatial'], False),
              'D_real': gan_loss(real['spatial'], True)}
    if fake['temporal'] is not None:
        losses['DT_fake'] = gan_loss(fake['temporal'], False)
        losses['DT_real'] = gan_loss(real['temporal'], True)
    return losses


# The D step's total: 0.5 * (fake + real), temporal terms alike.
DISCRIMINATOR_WEIGHTS = {'D_fake': 0.5, 'D_real': 0.5, 'DT_fake': 0.5, 'DT_real': 0.5}


def set_requires_grad(module, flag):
    for p in module.parameters():
        p.requires_grad_(flag)


class FrameGenerator(nn.Module):
    """A generator's ``frames(pose, **options)`` as ``forward``: the module that inference engines run,
    compile and export. ``frame_names``: what each returned tensor is."""

    def __init__(self, generator, options):
        super().__init__()
        self.generator, self.options = generator, dict(options)
        self.frame_names = type(generator).frame_names

    def forward(self, pose):
        return self.generator.frames(pose, **self.options)


class VideoGANModel(BaseModel):
    """A generator trained against ``VideoDiscriminators`` on clips.

    Subclasses set ``network_names``, ``loss_defaults``, ``batch_keys`` (what they read of a clip batch),
    build ``self.generator`` after this __init__ (which sets the CPU's float modes) and call
    ``setup_training``; they implement ``generate(network, pose)`` -> dict with 'output' [N, 3, H, W] in [-1, 1],
    ``frame_options()`` -> keyword arguments of its generator's ``frames`` (the test-path outputs,
    ``frame_names``), ``generator_losses(data, result, clip_shape)`` -> named unweighted losses, ``optimizer_groups()``
    -> [(module, lr)] of the generator, ``validation_losses(batch)`` and ``frame_visuals(data, result)``.
    ``full_stage`` says whether the adversarial terms and the D step are on (``is_full_stage(epoch)``)."""
    training_network_names = ('discriminators',)
    batch_keys = CLIP_KEYS

    @classmethod
    def modify_commandline_options(cls, parser, is_train):
        """The discriminators' flags, perceptual-loss source and loss weights (training only)."""
        super().modify_commandline_options(parser, is_train)
        if not is_train:
            return
        gan = parser.add_argument_group('discriminators')
        gan.add_argument('--gan_mode', choices=['lsgan', 'hinge', 'vanilla'], default='lsgan')
        gan.add_argument('--ndf', type=int, default=64)
        gan.add_argument('--n_layers_D', type=int, default=3)
        gan.add_argument('--num_D', type=int, default=2)
        gan.add_argument('--no_temporal_D', action='store_true')
        gan.add_argument('--lr_D', type=float, default=2e-4)
        gan.add_argument('--temporal_style', choices=['ours', 'published'], default='ours',
                         help='flow-warped temporal L1. ours: every epoch, the mean over flow-consistent pixels; '
                              'published (the original research code): after the static epochs only, the mean '
                              'over all pixels with |F + B(F)|^2 < 1, border padding')
        vgg = parser.add_argument_group('perceptual loss')
        vgg.add_argument('--no_vgg_loss', action='store_true')
        vgg.add_argument('--vgg_weights', default=None,
                         help='VGG19 state dict file (otherwise torchvision weights from the local cache)')

    def __init__(self, opt):
        super().__init__(opt, training=opt.is_train)
        self.full_stage = True
        self.visual_cache = {}
        self.real_predictions = None    # D(real) of the running train_step

    def setup_training(self, find_unused_parameters=False):
        """Discriminators, criteria, loss weights, DDP wrappers and optimizers (training only), then the
        name checks."""
        if self.training:
            self.discriminators, self.gan_loss, self.vgg_loss = adversarial_criteria(self.opt, self.device)
            self.weights = loss_weights(self.opt, self.loss_names, self.opt.model)
            self.generator_ddp = self.wrap_distributed(self.generator, find_unused_parameters)
            self.discriminators_ddp = self.wrap_distributed(self.discriminators)
            self.optimizers = {'G': self.make_adam(self.optimizer_groups()),
                               'D': self.make_adam([(self.discriminators, self.opt.lr_D)])}
        else:
            self.generator.eval()
        self.check_names()

    def is_full_stage(self, epoch):
        return True

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        self.full_stage = self.is_full_stage(epoch)

    def load(self, label, run_dir=None, with_optimizers=True):
        """As BaseModel.load; the stage follows the checkpoint's epoch."""
        progress = super().load(label, run_dir, with_optimizers)
        self.full_stage = self.is_full_stage(progress.get('epoch', 1))
        return progress

    def discriminate(self, data, frames, clip_shape, discriminators=None):
        """``discriminate`` on the batch's pose and flow; discriminators: the DDP wrapper by default."""
        if discriminators is None:
            discriminators = self.discriminators_ddp
        return discriminate(discriminators, data['pose'], frames, data['flow'], clip_shape)

    def adversarial_losses(self, data, output, clip_shape):
        """The generator's gan, feat (and gan_temporal) terms on D(output), feature matching against this
        step's D(real) (``train_step``); D's gradients are not synchronised."""
        with no_sync(self.discriminators_ddp):
            fake = self.discriminate(data, output, clip_shape)
        return generator_adversarial_losses(self.gan_loss, fake, self.real_predictions)

    def train_step(self, batch):
        """One generator update, then (in the full stage) one discriminator update, each on the weighted
        sum of its named losses. Returns (losses dict of floats, finite flag); a non-finite loss skips
        the update.

        D runs on the real frames once per step, before the G step and with D's gradients on: the G step
        takes its features (detached) as the feature-matching targets, the D step backpropagates D_real
        through the same graph. That is exact because D's weights change only after both (the D step
        used to run D on the real frames again, with the same weights)."""
        data, clip_shape = unpack_clips(batch, self.device, self.batch_keys)
        self.generator.train()
        try:
            if self.full_stage:
                with self.autocast():
                    # the bare module: under DDP the D step's forward (on the fakes) prepares the one
                    # backward that all-reduces D's gradients, this graph's included
                    self.real_predictions = self.discriminate(data, data['image'], clip_shape, self.discriminators)
                set_requires_grad(self.discriminators, False)
            with self.autocast():
                result = self.generate(self.generator_ddp, data['pose'])
                g_losses = self.generator_losses(data, result, clip_shape)
                g_total = weighted_total(g_losses, self.weights)
            finite = self.guarded_step('G', g_total)
            losses = {f'G_{k}': v.detach() for k, v in g_losses.items()}
            if self.full_stage:
                set_requires_grad(self.discriminators, True)
                with self.autocast():
                    fake = self.discriminate(data, result['output'].detach(), clip_shape)
                    d_losses = discriminator_losses(self.gan_loss, fake, self.real_predictions)
                    d_total = weighted_total(d_losses, DISCRIMINATOR_WEIGHTS)
                finite = self.guarded_step('D', d_total, allowed=finite) and finite
                losses.update({k: v.detach() for k, v in d_losses.items()})
        finally:
            self.real_predictions = None    # frees D(real)'s graph when the D step did not run
        self.scaler.update()
        self.visual_cache.update(data=data, result={k: v.detach() for k, v in result.items()})
        return {k: float(v) for k, v in losses.items()}, finite

    def temporal_loss(self, output, data, clip_shape):
        """Flow-warped temporal L1 of the output (the warped previous frames are kept for the page)."""
        current, warped_previous, confidence = temporal_terms(output.float(), data, clip_shape,
                                                              self.opt.temporal_style)
        self.visual_cache['warped_previous'] = warped_previous.detach()
        if self.opt.temporal_style == 'published':
            return L.temporal_l1_all_pixels(current, warped_previous, confidence)
        return L.temporal_l1(current, warped_previous, confidence)

    def vgg_features_of_real(self, real):
        with torch.no_grad():
            return self.vgg_loss.features(real)

    @torch.no_grad()
    def infer(self, pose):
        """Pose images [N, Cp, H, W] -> dict of the generator's outputs (eval mode)."""
        self.generator.eval()
        with self.autocast():
            return self.generate(self.generator, pose.to(self.device))

    def frame_generator(self):
        """The generator on test.py's path, as a module of its own (shares the weights; eval mode):
        forward(pose [N, Cp, H, W]) -> tuple of the tensors named by ``frame_names``, nothing else."""
        return FrameGenerator(self.generator, self.frame_options()).eval()

    def visuals(self):
        """Images of the first frame of the last batch, named for the HTML page and TensorBoard."""
        visuals = self.frame_visuals(self.visual_cache['data'], self.visual_cache['result'])
        if 'warped_previous' in self.visual_cache:
            visuals['warped_previous'] = tensor_to_image(self.visual_cache['warped_previous'][0].float())
        return visuals
