"""The neural-texture person renderer: UV generator -> neural texture -> detail generator, over a
learnable background, trained with spatial and temporal discriminators.

Batches come from data.clip_dataset.ClipDataset: T consecutive frames per clip; generators see the
B*T frames as one batch, temporal terms compare neighbours inside each clip (models/video_gan.py holds
what this model shares with the pose2image baseline).
"""
import os

import torch
import torch.nn as nn

from models.networks import losses as L
from models.networks.geometry_augmentation import random_similarities, warp_image, warp_labels
from models.networks.generators import DetailGenerator
from models.networks.texture import LearnableBackground, NeuralTexture, composite
from models.trans_model import build_uv_generator
from models.video_gan import VideoGANModel, pose_channels, unpack_clips
from options.flag_history import trained_option
from util.atlas import tensor_to_atlas
from util.checkpoint import CheckpointError, checkpoint_path, load_checkpoint
from util.image import (part_map_to_image, part_probs_to_image, save_image, select_part_uv, tensor_to_image,
                        uv_to_images)


class RenderGenerator(nn.Module):
    """Pose image [N, Cp, H, W] -> dict of tensors (see ``forward``); ``frames``: only what test.py writes."""
    frame_names = ('output', 'person', 'alpha')

    def __init__(self, opt, texture_init=None, background_init=None):
        super().__init__()
        self.d2g_use_pose = opt.d2g_use_pose
        self.tex_min_prob = opt.tex_min_prob
        self.trans = build_uv_generator(opt)
        self.texture = NeuralTexture(opt.tex_size, opt.tex_feat, texture_init)
        d2g_input = 3 + opt.tex_feat + (pose_channels(opt) if opt.d2g_use_pose else 0)
        self.d2g = DetailGenerator(d2g_input, opt.ngf, opt.n_downsample_global, opt.n_blocks_global, opt.norm,
                                   max_channels=opt.max_channels_global, skips=opt.d2g_skips)
        if background_init is None:
            background_init = torch.zeros(3, opt.loadSize, opt.loadSize)
        self.background = LearnableBackground(background_init)

    def forward(self, pose, full=True, geometry_pose=None):
        """Returns part_logits [N,25,H,W], uv [N,48,H,W], bg_prob [N,1,H,W], background, raw (texture RGB
        composited over the background), features [N,3+F,H,W], person and output (person composited over
        the background): person is the D2G's RGB with ``full``, otherwise the texture's (output = raw).
        With geometry_pose [M, Cp, H, W] the UV generator also runs on it (in the same batch) and
        'geometry' holds its part_logits and uv, which nothing renders."""
        n, _, height, width = pose.shape
        if geometry_pose is None:
            result = self.trans(pose)
        else:
            both = self.trans(torch.cat([pose, geometry_pose]))
            result = {key: value[:n] for key, value in both.items()}
            result['geometry'] = {key: value[n:] for key, value in both.items()}
        probs = torch.softmax(result['part_logits'].float(), 1)
        sampled = self.texture(result['uv'], probs, min_prob=self.tex_min_prob)
        return self.compose(result, pose, sampled, probs[:, :1], self.background(n, height, width), full)

    def compose(self, result, pose, sampled, bg_prob, background, full):
        """``forward`` from the sampled texture on: adds bg_prob, background, features, raw, person and output
        to ``result``. evaluation.substitution calls it with ground truth in place of learned inputs."""
        result.update(bg_prob=bg_prob, background=background, features=sampled['features'],
                      raw=composite(sampled['rgb'], background, bg_prob))
        if full:
            d2g_input = sampled['features']
            if self.d2g_use_pose:
                d2g_input = torch.cat([d2g_input, pose], 1)
            result['person'] = self.d2g(d2g_input)
            result['output'] = composite(result['person'], background, bg_prob)
        else:
            result['person'] = sampled['rgb']
            result['output'] = result['raw']
        return result

    def frames(self, pose, full=True):
        """Only what test.py writes, nothing kept for the training page (no raw render, UV maps, part
        logits or expanded background): pose [N, Cp, H, W] -> (output [N, 3, H, W], person [N, 3, H, W]
        in [-1, 1], alpha = 1 - bg_prob [N, 1, H, W] in [0, 1]), as ``forward`` computes them. Traceable:
        torch.compile and the ONNX export follow it (texture sampling switches to its plain form)."""
        parts = self.trans(pose)
        probs = torch.softmax(parts['part_logits'].float(), 1)
        features = self.texture(parts['uv'], probs, min_prob=self.tex_min_prob)['features']
        bg_prob = probs[:, :1]
        if full:
            d2g_input = torch.cat([features, pose], 1) if self.d2g_use_pose else features
            person = self.d2g(d2g_input)
        else:
            person = features[:, :3]
        background = self.background(1, pose.shape[-2], pose.shape[-1])     # broadcast over the batch
        return composite(person, background, bg_prob), person, 1 - bg_prob


class RenderModel(VideoGANModel):
    network_names = ('trans', 'texture', 'd2g', 'background')
    reads_densepose = True
    reads_plates = ('bg', 'texture')      # bg.jpg and texture.jpg initialise the background and the texture
    # l2_person and vgg_raw (the full stage's L2 on the predicted person, VGG on the raw render) are terms of
    # the original research code, off by default: train_start/published.flags turns them on. Part
    # cross-entropy 10 (as the original's), not 1: at 1 the UV generator labelled 18% of the person's pixels
    # with their part on a novel motion, at 10 62%, and the person gained 0.5 dB. SSIM 10 (not in the
    # original) gained 0.02 SSIM at equal epochs, and needs no downloaded weights (docs/RESULTS.md)
    loss_defaults = {'l2_raw': 10.0, 'vgg': 10.0, 'vgg_raw': 0.0, 'ssim': 10.0, 'uv': 10.0, 'part': 10.0, 'mask': 0.5,
                     'temporal': 5.0, 'l2': 10.0, 'l2_person': 0.0, 'gan': 1.0, 'feat': 10.0, 'gan_temporal': 1.0}
    # the published schedule's learning-rate factor, per epoch (see set_epoch)
    PUBLISHED_DECAY = 0.9
    # --uv_augment similarity: the largest rotation (degrees), relative scale change and shift (of the half-size)
    AUGMENT_DEGREES, AUGMENT_SCALE, AUGMENT_SHIFT = 20.0, 0.15, 0.15

    @classmethod
    def modify_commandline_options(cls, parser, is_train):
        """Learning rates of the texture and background, DensePose supervision (training only)."""
        super().modify_commandline_options(parser, is_train)
        if is_train:
            render = parser.add_argument_group('render model')
            render.add_argument('--lr_texture', type=float, default=1e-3)
            render.add_argument('--lr_background', type=float, default=1e-3)
            render.add_argument('--texture_holes', choices=['fill', 'keep'], default='fill',
                                help="texture.jpg's black (unseen) texels: fill them from their part's seen "
                                     'texels (pull-push) in the initial texture, or keep them black (the '
                                     'original research code)')
            render.add_argument('--use_densepose_loss', action='store_true',
                                help='UV/part supervision from DensePose when a pre-trained UV generator is '
                                     'loaded (always on when training from scratch)')
            render.add_argument('--uv_loss_mean', choices=['person', 'all'], default='person',
                                help='UV L1 averaged over the person pixels, or over all 48 channels and all '
                                     'pixels (the original research code; needs a weight about 24 / person '
                                     'fraction times larger)')
            render.add_argument('--uv_augment', choices=['none', 'similarity'], default='none',
                                help='similarity: the UV generator also learns from a randomly rotated (up to '
                                     f'{cls.AUGMENT_DEGREES:g} degrees), scaled (+-{cls.AUGMENT_SCALE:g}) and '
                                     f'shifted (+-{cls.AUGMENT_SHIFT:g} of the half-size) copy of each pose '
                                     'image with its DensePose labels warped alike; half of its UV, part and '
                                     'mask losses come from the copies')
            render.add_argument('--lr_schedule', choices=['linear', 'published'], default='linear',
                                help='linear: every learning rate constant for --niter epochs, then linear decay '
                                     'to 0; published (the original research code): the UV generator at '
                                     'lr x 0.9^(epoch-1) in every epoch, texture, D2G and background at their lr '
                                     'x 0.9^(epoch-1) in the static epochs and at their lr after; D linear')

    def __init__(self, opt, texture_init=None, background_init=None):
        super().__init__(opt)
        self.generator = RenderGenerator(opt, texture_init, background_init).to(self.device)
        self.trans, self.texture = self.generator.trans, self.generator.texture
        self.d2g, self.background = self.generator.d2g, self.generator.background
        if self.training:
            self.use_densepose = opt.use_densepose_loss or not opt.load_pretrain_TransG
        self.setup_training(find_unused_parameters=opt.static_epochs > 0)

    def optimizer_groups(self):
        return [(self.trans, self.opt.lr), (self.d2g, self.opt.lr), (self.texture, self.opt.lr_texture),
                (self.background, self.opt.lr_background)]

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        if self.training and self.opt.lr_schedule == 'published':
            decay = self.PUBLISHED_DECAY ** (epoch - 1)
            geometry = {id(p) for p in self.trans.parameters()}
            for group in self.optimizers['G'].param_groups:
                slows = id(group['params'][0]) in geometry or not self.full_stage
                group['lr'] = group['base_lr'] * (decay if slows else 1.0)

    def is_full_stage(self, epoch):
        """A checkpoint from the static stage renders without the (untrained) D2G."""
        return epoch > self.opt.static_epochs

    def load_pretrained_trans(self, run_dir, label):
        """Start from a pre-trained UV generator (pretrainTrans.py or another run's checkpoint)."""
        path = checkpoint_path(run_dir, label)
        state = load_checkpoint(path, map_location=self.device)
        if 'trans' not in state.get('networks', {}):
            raise CheckpointError(f'{path}: holds no UV generator ("trans") weights')
        trained_with = trained_option(state.get('options', {}), 'trans_skips', self.opt.trans_skips)
        if trained_with != self.opt.trans_skips:
            raise CheckpointError(f'{path}: its UV generator was trained with --trans_skips {trained_with}, this run '
                                  f'has --trans_skips {self.opt.trans_skips}; pass --trans_skips {trained_with}')
        self.trans.load_state_dict(state['networks']['trans'])

    def generate(self, network, pose):
        if not (self.generator.training and self.augments_geometry()):
            return network(pose, full=self.full_stage)
        theta = random_similarities(pose.shape[0], self.AUGMENT_DEGREES, self.AUGMENT_SCALE, self.AUGMENT_SHIFT,
                                    pose.device)
        result = network(pose, full=self.full_stage, geometry_pose=warp_image(pose, theta, fill=-1.0))
        result['geometry']['theta'] = theta
        return result

    def augments_geometry(self):
        return self.training and self.use_densepose and self.opt.uv_augment == 'similarity'

    def frame_options(self):
        return {'full': self.full_stage}

    def generator_losses(self, data, result, clip_shape):
        """Named unweighted losses; terms weighted 0 are not computed."""
        real, weights = data['image'], self.weights
        losses = {'l2_raw': torch.mean((result['raw'].float() - real) ** 2)}
        if self.vgg_loss is not None:
            real_vgg = self.vgg_features_of_real(real)
            losses['vgg'] = self.vgg_loss.loss(self.vgg_loss.features(result['output']), real_vgg)
            if self.full_stage and weights['vgg_raw']:
                losses['vgg_raw'] = self.vgg_loss.loss(self.vgg_loss.features(result['raw']), real_vgg)
        if weights['ssim']:
            losses['ssim'] = L.ssim_loss(result['output'], real)
        has_labels = self.use_densepose and 'parts' in data and (data['parts'] >= 0).all()
        if has_labels:
            losses.update(self.geometry_losses(result, data['parts'], data['uv'], data['mask']))
        else:
            losses['mask'] = L.mask_bce(result['part_logits'].float(), data['mask'])
        geometry = result.pop('geometry', None)       # the warped copies' outputs serve these losses only
        if has_labels and geometry is not None:
            warped = warp_labels(data['parts'], data['uv'], data['mask'], geometry['theta'])
            for name, value in self.geometry_losses(geometry, *warped).items():
                losses[name] = 0.5 * (losses[name] + value)
        if self.full_stage or self.opt.temporal_style == 'ours':
            losses['temporal'] = self.temporal_loss(result['output'], data, clip_shape)
        if self.full_stage:
            losses['l2'] = torch.mean((result['output'].float() - real) ** 2)
            if weights['l2_person']:
                losses['l2_person'] = L.person_weighted_l2(result['output'].float(), real, result['bg_prob'])
            losses.update(self.adversarial_losses(data, result['output'], clip_shape))
        return losses

    def geometry_losses(self, result, parts, uv, mask):
        """The UV generator's uv, part and mask terms of ``result`` against labels."""
        logits = result['part_logits'].float()
        return {'uv': L.masked_uv_l1(result['uv'].float(), uv, parts, self.opt.uv_loss_mean),
                'part': L.part_cross_entropy(logits, parts), 'mask': L.mask_bce(logits, mask)}

    @torch.no_grad()
    def validation_losses(self, batch):
        data, _ = unpack_clips(batch, self.device)
        self.generator.eval()
        with self.autocast():
            result = self.generate(self.generator, data['pose'])
        output = result['output'].float()
        losses = {'l2': torch.mean((output - data['image']) ** 2),
                  'l2_raw': torch.mean((result['raw'].float() - data['image']) ** 2),
                  'mask': L.mask_bce(result['part_logits'].float(), data['mask'])}
        if (data['parts'] >= 0).all():
            losses['uv'] = L.masked_uv_l1(result['uv'].float(), data['uv'], data['parts'])
            predicted = result['part_logits'].argmax(1)
            losses['part_accuracy'] = (predicted == data['parts']).float().mean()
        self.generator.train()
        return {k: float(v) for k, v in losses.items()}

    def frame_visuals(self, data, result):
        parts = data['parts'][0]
        predicted_parts = result['part_logits'][0].argmax(0)
        uv_true = uv_to_images(data['uv'][0], parts)
        uv_pred = uv_to_images(select_part_uv(result['uv'][0].float(), predicted_parts), predicted_parts)
        return {
            'real': tensor_to_image(data['image'][0]),
            'output': tensor_to_image(result['output'][0].float()),
            'raw_render': tensor_to_image(result['raw'][0].float()),
            'person': tensor_to_image(result['person'][0].float()),
            'background': tensor_to_image(result['background'][0].float()),
            'mask_predicted': tensor_to_image(1 - 2 * result['bg_prob'][0].float()),
            'mask_given': tensor_to_image(2 * data['mask'][0] - 1),
            'pose': tensor_to_image(data['pose'][0, :3]),
            'parts_predicted': part_probs_to_image(result['part_logits'][0].float()),
            'parts_densepose': part_map_to_image(parts),
            'U_predicted': uv_pred[0], 'U_densepose': uv_true[0],
            'V_predicted': uv_pred[1], 'V_densepose': uv_true[1],
            'texture_atlas': tensor_to_atlas(self.texture.rgb_atlas()),
        }

    def save_appearance(self, label):
        """Texture atlas and background as images beside the checkpoint."""
        save_image(os.path.join(self.run_dir, f'{label}_texture.png'), tensor_to_atlas(self.texture.rgb_atlas()))
        save_image(os.path.join(self.run_dir, f'{label}_background.png'),
                   tensor_to_image(self.background.image[0].detach()))
