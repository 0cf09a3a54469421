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
from util.flow import consistency_mask, warp
from util.image import tensor_to_image

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
        vgg = parser.add_argument_group('perceptual loss')
        vgg.add_argument('--no_vgg_loss', action='store_true')
        vgg.add_argument('--vgg_weights', default=None,
                         help='VGG19 state dict file (otherwise torchvision weights from the local cache)')

    def __init__(self, opt):
        super().__init__(opt, training=opt.is_train)
        self.full_stage = True
        self.visual_cache = {}

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

    def discriminate(self, data, fake, clip_shape):
        return discriminate(self.discriminators, self.discriminators_ddp, data['pose'], fake, data['image'],
                            data['flow'], clip_shape)

    def adversarial_losses(self, data, output, clip_shape):
        """The generator's gan, feat (and gan_temporal) terms; D's gradients are not synchronised."""
        with no_sync(self.discriminators_ddp):
            predictions = self.discriminate(data, output, clip_shape)
        return generator_adversarial_losses(self.gan_loss, predictions)

    def train_step(self, batch):
        """One generator update, then (in the full stage) one discriminator update, each on the weighted
        sum of its named losses. Returns (losses dict of floats, finite flag); a non-finite loss skips
        the update."""
        data, clip_shape = unpack_clips(batch, self.device, self.batch_keys)
        self.generator.train()
        if self.full_stage:
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
                predictions = self.discriminate(data, result['output'].detach(), clip_shape)
                d_losses = discriminator_losses(self.gan_loss, predictions)
                d_total = weighted_total(d_losses, DISCRIMINATOR_WEIGHTS)
            finite = self.guarded_step('D', d_total, allowed=finite) and finite
            losses.update({k: v.detach() for k, v in d_losses.items()})
        self.scaler.update()
        self.visual_cache.update(data=data, result={k: v.detach() for k, v in result.items()})
        return {k: float(v) for k, v in losses.items()}, finite

    def temporal_loss(self, output, data, clip_shape):
        """Flow-warped temporal L1 of the output (the warped previous frames are kept for the page)."""
        current, warped_previous, confidence = temporal_terms(output.float(), data, clip_shape)
        self.visual_cache['warped_previous'] = warped_previous.detach()
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
