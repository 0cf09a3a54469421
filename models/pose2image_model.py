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

from models.networks.generators import GlobalGenerator
from models.video_gan import VideoGANModel, pose_channels, unpack_clips
from util.image import tensor_to_image


class Pose2ImageGenerator(nn.Module):
    """forward(pose: [N, Cp, H, W] in [-1, 1]) -> {'output': [N, 3, H, W] in [-1, 1] (tanh)};
    frames(pose) -> (output,), what test.py writes."""
    frame_names = ('output',)

    def __init__(self, opt):
        super().__init__()
        self.net = GlobalGenerator(pose_channels(opt), 3, opt.ngf, opt.n_downsample_global, opt.n_blocks_global,
                                   opt.norm, max_channels=opt.max_channels_global)

    def forward(self, pose):
        return {'output': torch.tanh(self.net(pose))}

    def frames(self, pose):
        return (torch.tanh(self.net(pose)),)


class Pose2ImageModel(VideoGANModel):
    network_names = ('generator',)
    reads_densepose = False      # used when the dataset has it, not required
    reads_plates = ()
    loss_defaults = {'l1': 10.0, 'vgg': 10.0, 'temporal': 5.0, 'gan': 1.0, 'feat': 10.0, 'gan_temporal': 1.0}
    batch_keys = ('pose', 'image', 'flow', 'flow_inv')

    def __init__(self, opt, working_size=None):
        """working_size: (H, W) the model is trained / runs at; stored in the checkpoint so that
        test.py can rebuild the model without the dataset."""
        super().__init__(opt)
        self.working_size = None if working_size is None else tuple(int(v) for v in working_size)
        self.generator = Pose2ImageGenerator(opt).to(self.device)
        self.setup_training()

    def optimizer_groups(self):
        return [(self.generator, self.opt.lr)]

    def checkpoint_state(self, progress):
        state = super().checkpoint_state(progress)
        if self.working_size is not None:
            state['working_size'] = list(self.working_size)
        return state

    def load_pretrained_trans(self, run_dir, label):
        raise SystemExit(f'--load_pretrain_TransG {run_dir}: the pose2image baseline has no UV generator to start '
                         'from; drop the flag (or train --model render)')

    def generate(self, network, pose):
        return network(pose)

    def frame_options(self):
        return {}

    def generator_losses(self, data, result, clip_shape):
        real, output = data['image'], result['output']
        losses = {'l1': torch.mean((output.float() - real).abs())}
        if self.vgg_loss is not None:
            losses['vgg'] = self.vgg_loss.loss(self.vgg_loss.features(output), self.vgg_features_of_real(real))
        losses['temporal'] = self.temporal_loss(output, data, clip_shape)
        losses.update(self.adversarial_losses(data, output, clip_shape))
        return losses

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

    def frame_visuals(self, data, result):
        return {'real': tensor_to_image(data['image'][0]),
                'output': tensor_to_image(result['output'][0].float()),
                'pose': tensor_to_image(data['pose'][0, :3])}
