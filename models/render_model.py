"""The neural-texture person renderer: UV generator -> neural texture -> detail generator, over a
learnable background, trained with spatial and temporal discriminators.

Batches come from data.clip_dataset.ClipDataset: T consecutive frames per clip; generators see the
B*T frames as one batch, temporal terms compare neighbours inside each clip (models/video_gan.py holds
what this model shares with the pose2image baseline).
"""
import torch
import torch.nn as nn

from models.base_model import BaseModel
from models.networks import losses as L
from models.networks.generators import DetailGenerator, UVGenerator
from models.networks.texture import LearnableBackground, NeuralTexture, composite
from models.video_gan import (adversarial_criteria, discriminate, discriminator_losses, generator_adversarial_losses,
                              loss_weights, no_sync, pose_channels, temporal_terms, to_clips, unpack_clips,
                              weighted_total)
from util.image import part_map_to_image, part_probs_to_image, select_part_uv, tensor_to_image, uv_to_images
from util.atlas import tensor_to_atlas


class RenderGenerator(nn.Module):
    """Pose image [N, Cp, H, W] -> dict of tensors (see ``forward``)."""

    def __init__(self, opt, texture_init=None, background_init=None):
        super().__init__()
        self.d2g_use_pose = opt.d2g_use_pose
        self.tex_min_prob = getattr(opt, 'tex_min_prob', 0.0)
        self.trans = UVGenerator(pose_channels(opt), opt.ngf_translate, opt.n_downsample_translate,
                                 opt.n_blocks_translate, opt.norm)
        self.texture = NeuralTexture(opt.tex_size, opt.tex_feat, texture_init)
        d2g_input = 3 + opt.tex_feat + (pose_channels(opt) if opt.d2g_use_pose else 0)
        self.d2g = DetailGenerator(d2g_input, opt.ngf, opt.n_downsample_global, opt.n_blocks_global, opt.norm,
                                   max_channels=getattr(opt, 'max_channels_global', 0))
        if background_init is None:
            background_init = torch.zeros(3, opt.loadSize, opt.loadSize)
        self.background = LearnableBackground(background_init)

    def forward(self, pose, full=True):
        """Returns part_logits [N,25,H,W], uv [N,48,H,W], bg_prob [N,1,H,W], background, raw (texture RGB
        composited over the background), features [N,3+F,H,W], person and output (person composited over
        the background): person is the D2G's RGB with ``full``, otherwise the texture's (output = raw)."""
        n, _, height, width = pose.shape
        result = self.trans(pose)
        probs = torch.softmax(result['part_logits'].float(), 1)
        sampled = self.texture(result['uv'], probs, min_prob=self.tex_min_prob)
        bg_prob = probs[:, :1]
        background = self.background(n, height, width)
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


class RenderModel(BaseModel):
    network_names = ('trans', 'texture', 'd2g', 'background', 'discriminators')

    def __init__(self, opt, texture_init=None, background_init=None):
        super().__init__(opt)
        self.generator = RenderGenerator(opt, texture_init, background_init).to(self.device)
        self.trans, self.texture = self.generator.trans, self.generator.texture
        self.d2g, self.background = self.generator.d2g, self.generator.background
        self.is_train = opt.is_train
        self.full_stage = True
        self.visual_cache = {}
        if not self.is_train:
            self.generator.eval()
            return
        self.discriminators, self.gan_loss, self.vgg_loss = adversarial_criteria(opt, self.device)
        self.use_densepose = opt.use_densepose_loss or not opt.load_pretrain_TransG
        self.weights = loss_weights(opt)
        self.generator_ddp = self.wrap_distributed(self.generator, find_unused_parameters=opt.static_epochs > 0)
        self.discriminators_ddp = self.wrap_distributed(self.discriminators)
        self.optimizers = {
            'G': self.make_adam([(self.trans, opt.lr), (self.d2g, opt.lr), (self.texture, opt.lr_texture),
                                 (self.background, opt.lr_background)]),
            'D': self.make_adam([(self.discriminators, opt.lr_D)]),
        }

    def networks(self):
        nets = {name: getattr(self, name) for name in self.network_names if hasattr(self, name)}
        return nets

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        self.full_stage = epoch > self.opt.static_epochs

    def load(self, label, run_dir=None, with_optimizers=True):
        """As BaseModel.load; a checkpoint from the static stage renders without the (untrained) D2G."""
        progress = super().load(label, run_dir, with_optimizers)
        self.full_stage = progress.get('epoch', 1) > self.opt.static_epochs
        return progress

    def load_pretrained_trans(self, run_dir, label):
        """Start from a pre-trained UV generator (pretrainTrans.py or another run's checkpoint)."""
        from util.checkpoint import checkpoint_path, load_checkpoint
        path = checkpoint_path(run_dir, label)
        state = load_checkpoint(path, map_location=self.device)
        if 'trans' not in state.get('networks', {}):
            raise RuntimeError(f'{path}: holds no UV generator ("trans") weights')
        self.trans.load_state_dict(state['networks']['trans'])

    # ---------------------------------------------------------------- data plumbing
    def _unpack(self, batch):
        """Move a clip batch to the device and flatten clips [B, T, ...] to frames [B*T, ...]."""
        data, self.clip_shape = unpack_clips(batch, self.device)
        return data

    def _clips(self, frames):
        return to_clips(frames, self.clip_shape)

    def _temporal_terms(self, output, data):
        """Current frames, previous frames warped onto them with flow_inv, and the flow confidence."""
        return temporal_terms(output, data, self.clip_shape)

    # ---------------------------------------------------------------- losses
    def _generator_losses(self, data, result):
        real = data['image']
        losses = {}
        with torch.no_grad():
            real_vgg = self.vgg_loss.features(real) if self.vgg_loss is not None else None
        losses['l2_raw'] = torch.mean((result['raw'].float() - real) ** 2)
        if self.vgg_loss is not None:
            losses['vgg'] = self.vgg_loss.loss(self.vgg_loss.features(result['output']), real_vgg)
        if self.use_densepose and 'parts' in data and (data['parts'] >= 0).all():
            losses['uv'] = L.masked_uv_l1(result['uv'].float(), data['uv'], data['parts'])
            losses['part'] = L.part_cross_entropy(result['part_logits'].float(), data['parts'])
        losses['mask'] = L.mask_bce(result['part_logits'].float(), data['mask'])
        current, warped_previous, confidence = self._temporal_terms(result['output'].float(), data)
        losses['temporal'] = L.temporal_l1(current, warped_previous, confidence)
        self.visual_cache['warped_previous'] = warped_previous
        if self.full_stage:
            losses['l2'] = torch.mean((result['output'].float() - real) ** 2)
            with no_sync(self.discriminators_ddp):
                predictions = self._discriminate(data, result['output'])
            losses.update(generator_adversarial_losses(self.gan_loss, predictions))
        return losses

    def _discriminate(self, data, fake):
        return discriminate(self.discriminators, self.discriminators_ddp, data['pose'], fake, data['image'],
                            data['flow'], self.clip_shape)

    def _discriminator_losses(self, data, result):
        return discriminator_losses(self.gan_loss, self._discriminate(data, result['output'].detach()))

    # ---------------------------------------------------------------- steps
    def train_step(self, batch):
        """One generator (and, in the full stage, discriminator) update.

        Returns (losses dict of floats, finite flag); a non-finite loss skips the update."""
        data = self._unpack(batch)
        self.generator.train()
        with self.autocast():
            result = self.generator_ddp(data['pose'], full=self.full_stage)
            g_losses = self._generator_losses(data, result)
            g_total = weighted_total(g_losses, self.weights)
        if self.full_stage:
            for p in self.discriminators.parameters():
                p.requires_grad_(False)
        finite = self.guarded_step('G', g_total)
        losses = {f'G_{k}': v.detach() for k, v in g_losses.items()}
        if self.full_stage:
            for p in self.discriminators.parameters():
                p.requires_grad_(True)
            with self.autocast():
                d_losses = self._discriminator_losses(data, result)
                d_total = 0.5 * sum(d_losses.values())
            finite = self.guarded_step('D', d_total, allowed=finite) and finite
            losses.update({k: v.detach() for k, v in d_losses.items()})
        self.scaler.update()
        self._remember(data, result)
        return {k: float(v) for k, v in losses.items()}, finite

    @torch.no_grad()
    def validation_losses(self, batch):
        data = self._unpack(batch)
        self.generator.eval()
        with self.autocast():
            result = self.generator(data['pose'], full=self.full_stage)
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

    @torch.no_grad()
    def infer(self, pose):
        """Pose images [N, Cp, H, W] -> dict of the generator's outputs (eval mode; with the D2G unless
        the loaded checkpoint never left the static stage)."""
        self.generator.eval()
        with self.autocast():
            return self.generator(pose.to(self.device), full=self.full_stage)

    # ---------------------------------------------------------------- visuals
    def _remember(self, data, result):
        self.visual_cache.update(data=data, result={k: v.detach() for k, v in result.items()})

    def visuals(self):
        """Images of the first frame of the last batch, named for the HTML page and TensorBoard."""
        data, result = self.visual_cache['data'], self.visual_cache['result']
        parts = data['parts'][0]
        predicted_parts = result['part_logits'][0].argmax(0)
        uv_true = uv_to_images(data['uv'][0], parts)
        uv_pred = uv_to_images(select_part_uv(result['uv'][0].float(), predicted_parts), predicted_parts)
        visuals = {
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
        if 'warped_previous' in self.visual_cache:
            visuals['warped_previous'] = tensor_to_image(self.visual_cache['warped_previous'][0].float())
        return visuals

    def save_appearance(self, label):
        """Texture atlas and background as images beside the checkpoint."""
        import os
        from util.image import save_image
        save_image(os.path.join(self.run_dir, f'{label}_texture.png'), tensor_to_atlas(self.texture.rgb_atlas()))
        save_image(os.path.join(self.run_dir, f'{label}_background.png'),
                   tensor_to_image(self.background.image[0].detach()))
