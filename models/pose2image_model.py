"""The pose2image baseline (``--model pose2image``): direct pose -> frame translation in the manner of
Everybody Dance Now / pix2pixHD, with no texture, UV map or background.

A pix2pixHD global generator (--ngf, --n_downsample_global, --n_blocks_global) maps the pose image
(+ 3D label channels) to the whole RGB frame. Trained with the render model's spatial and temporal
discriminators (models/video_gan.py), feature matching, VGG (unless --no_vgg_loss), L1
(--lambda_l1) and the flow-warped temporal L1 weighted by flow consistency (--lambda_temporal).
No static stage: every epoch is a full GAN epoch (--static_epochs is ignored).

It offers the render model's API, so train.py and test.py drive it unchanged; with nothing learned
beside the generator, ``save_appearance`` writes nothing, and ``infer`` returns only 'output' (no
person / background split, so test.py refuses --bg_path and --save_mask for it).
"""
import torch
import torch.nn as nn

from models.base_model import BaseModel
from models.networks import losses as L
from models.networks.generators import GlobalGenerator
from models.video_gan import (adversarial_criteria, discriminate, discriminator_losses, generator_adversarial_losses,
                              loss_weights, no_sync, pose_channels, temporal_terms, unpack_clips, weighted_total)
from util.image import tensor_to_image

BATCH_KEYS = ('pose', 'image', 'flow', 'flow_inv')       # what the baseline reads of a clip batch


class Pose2ImageGenerator(nn.Module):
    """forward(pose: [N, Cp, H, W] in [-1, 1]) -> {'output': [N, 3, H, W] in [-1, 1] (tanh)}."""

    def __init__(self, opt):
        super().__init__()
        self.net = GlobalGenerator(pose_channels(opt), 3, opt.ngf, opt.n_downsample_global, opt.n_blocks_global,
                                   opt.norm, max_channels=getattr(opt, 'max_channels_global', 0))

    def forward(self, pose):
        return {'output': torch.tanh(self.net(pose))}


class Pose2ImageModel(BaseModel):
    network_names = ('generator', 'discriminators')

    def __init__(self, opt, working_size=None):
        """working_size: (H, W) the model is trained / runs at; stored in the checkpoint so that
        test.py can rebuild the model without the dataset."""
        super().__init__(opt)
        self.working_size = None if working_size is None else tuple(int(v) for v in working_size)
        self.generator = Pose2ImageGenerator(opt).to(self.device)
        self.is_train = opt.is_train
        self.full_stage = True          # no static stage
        self.visual_cache = {}
        if not self.is_train:
            self.generator.eval()
            return
        self.discriminators, self.gan_loss, self.vgg_loss = adversarial_criteria(opt, self.device)
        self.weights = loss_weights(opt)
        self.generator_ddp = self.wrap_distributed(self.generator)
        self.discriminators_ddp = self.wrap_distributed(self.discriminators)
        self.optimizers = {'G': self.make_adam([(self.generator, opt.lr)]),
                           'D': self.make_adam([(self.discriminators, opt.lr_D)])}

    def networks(self):
        return {name: getattr(self, name) for name in self.network_names if hasattr(self, name)}

    def checkpoint_state(self, progress):
        state = super().checkpoint_state(progress)
        if self.working_size is not None:
            state['working_size'] = list(self.working_size)
        return state

    def load_pretrained_trans(self, run_dir, label):
        raise SystemExit(f'--load_pretrain_TransG {run_dir}: the pose2image baseline has no UV generator to start '
                         'from; drop the flag (or train --model render)')

    # ---------------------------------------------------------------- losses
    def _generator_losses(self, data, result):
        real, output = data['image'], result['output']
        losses = {'l1': torch.mean((output.float() - real).abs())}
        if self.vgg_loss is not None:
            with torch.no_grad():
                real_vgg = self.vgg_loss.features(real)
            losses['vgg'] = self.vgg_loss.loss(self.vgg_loss.features(output), real_vgg)
        current, warped_previous, confidence = temporal_terms(output.float(), data, self.clip_shape)
        losses['temporal'] = L.temporal_l1(current, warped_previous, confidence)
        self.visual_cache['warped_previous'] = warped_previous.detach()
        with no_sync(self.discriminators_ddp):
            predictions = self._discriminate(data, output)
        losses.update(generator_adversarial_losses(self.gan_loss, predictions))
        return losses

    def _discriminate(self, data, fake):
        return discriminate(self.discriminators, self.discriminators_ddp, data['pose'], fake, data['image'],
                            data['flow'], self.clip_shape)

    # ---------------------------------------------------------------- steps
    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        self.full_stage = True

    def train_step(self, batch):
        """One generator and one discriminator update.

        Returns (losses dict of floats, finite flag); a non-finite loss skips the update."""
        data, self.clip_shape = unpack_clips(batch, self.device, BATCH_KEYS)
        self.generator.train()
        for p in self.discriminators.parameters():
            p.requires_grad_(False)
        with self.autocast():
            result = self.generator_ddp(data['pose'])
            g_losses = self._generator_losses(data, result)
            g_total = weighted_total(g_losses, self.weights)
        finite = self.guarded_step('G', g_total)
        for p in self.discriminators.parameters():
            p.requires_grad_(True)
        with self.autocast():
            d_losses = discriminator_losses(self.gan_loss, self._discriminate(data, result['output'].detach()))
            d_total = 0.5 * sum(d_losses.values())
        d_finite = self.guarded_step('D', d_total, allowed=finite)
        self.scaler.update()
        self.visual_cache.update(data=data, result={k: v.detach() for k, v in result.items()})
        losses = {f'G_{k}': v.detach() for k, v in g_losses.items()}
        losses.update({k: v.detach() for k, v in d_losses.items()})
        return {k: float(v) for k, v in losses.items()}, finite and d_finite

    @torch.no_grad()
    def validation_losses(self, batch):
        """l1 and l2 (the render model's val l2, for comparison) of the output against the frames."""
        data, _ = unpack_clips(batch, self.device, ('pose', 'image'))
        self.generator.eval()
        with self.autocast():
            output = self.generator(data['pose'])['output'].float()
        self.generator.train()
        return {'l1': float(torch.mean((output - data['image']).abs())),
                'l2': float(torch.mean((output - data['image']) ** 2))}

    @torch.no_grad()
    def infer(self, pose):
        """Pose images [N, Cp, H, W] -> {'output': [N, 3, H, W] in [-1, 1]} (eval mode)."""
        self.generator.eval()
        with self.autocast():
            return self.generator(pose.to(self.device))

    # ---------------------------------------------------------------- visuals
    def visuals(self):
        """Images of the first frame of the last batch, named for the HTML page and TensorBoard."""
        data, result = self.visual_cache['data'], self.visual_cache['result']
        visuals = {'real': tensor_to_image(data['image'][0]),
                   'output': tensor_to_image(result['output'][0].float()),
                   'pose': tensor_to_image(data['pose'][0, :3])}
        if 'warped_previous' in self.visual_cache:
            visuals['warped_previous'] = tensor_to_image(self.visual_cache['warped_previous'][0].float())
        return visuals

    def save_appearance(self, label):
        """Nothing to write: the baseline learns no texture or background."""
