"""Options shared by training, testing and pre-training; each run saves them to opt.txt."""
import argparse
import os

import torch

from models import model_class
from models.networks.generators import SKIPS


class BaseOptions:
    """Builds the argument parser: the shared flags, the phase's (``add_arguments``) and, once --model is
    known, the model's own (``model_options``)."""
    is_train = False

    def __init__(self):
        self.parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                              add_help=False)
        self.add_base_arguments(self.parser)
        self.add_arguments(self.parser)
        self.model_flags_added = False

    def add_base_arguments(self, parser):
        run = parser.add_argument_group('run')
        run.add_argument('--name', default='experiment', help='run name: outputs go to checkpoints_dir/name')
        run.add_argument('--checkpoints_dir', default='./checkpoints')
        run.add_argument('--gpu_ids', default='auto',
                         help="'auto' (first GPU if any, else CPU), '-1' for CPU, or e.g. '0'; "
                              'under torchrun each rank takes its LOCAL_RANK device')
        run.add_argument('--seed', type=int, default=0)
        run.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none',
                         help='mixed precision with torch.amp (fp16 uses a gradient scaler; CUDA only)')

        data = parser.add_argument_group('data')
        data.add_argument('--dataroot', default='./datasets/synthetic', help='dataset in the seed layout')
        for kind in ('img', 'pose', 'densepose', 'mask', 'flow', 'flow_inv', 'label3d', 'bg', 'texture'):
            data.add_argument(f'--{kind}_path', default=None, help=f'override the default {kind} location')
        data.add_argument('--use_label3d', action='store_true', help='append LaplaceProj 3D label channels')
        data.add_argument('--label3d_nc', type=int, default=3, help='channels of the 3D label')
        data.add_argument('--loadSize', type=int, default=256, help='long side of the working frame size')
        data.add_argument('--batchSize', type=int, default=1, help='clips per batch (per process)')
        data.add_argument('--nThreads', type=int, default=2, help='DataLoader workers')
        data.add_argument('--max_dataset_size', type=int, default=None)
        data.add_argument('--data_ratio', type=float, default=0.9, help='share of the video used for training')
        data.add_argument('--flip', dest='flip', action='store_true',
                          help='horizontal flip augmentation, applied consistently to every input')
        data.add_argument('--no_flip', dest='flip', action='store_false', help='no flip augmentation')

        model = parser.add_argument_group('model')
        model.add_argument('--model', choices=['render', 'pose2image'], default='render',
                           help='render: the neural-texture renderer; pose2image: the Everybody-Dance-Now / '
                                'pix2pixHD baseline, pose image -> frame with one global generator (--ngf, '
                                '--n_downsample_global, --n_blocks_global), no texture, UVs or background')
        model.add_argument('--norm', choices=['instance', 'batch', 'none'], default='instance')
        model.add_argument('--ngf_translate', type=int, default=64, help='UV generator base channels')
        model.add_argument('--n_downsample_translate', type=int, default=4)
        model.add_argument('--n_blocks_translate', type=int, default=9)
        # UV generator with skips (not the original's): on a novel motion 74% of the person's pixels got their
        # part instead of 68%, +0.24 dB on the person at equal epochs (docs/RESULTS.md, "Changes screened")
        model.add_argument('--trans_skips', choices=SKIPS, default='add',
                           help="UV generator's skip connections: add (the default; U-Net style, as --d2g_skips) "
                                "or none (pix2pixHD's global generator, the original research code)")
        model.add_argument('--bone_fields', dest='bone_fields', action='store_true', default=False,
                           help="also feed each bone's local coordinates (position along it, offset to its side) "
                                'to the networks that see the pose (util/bone_fields.py)')
        model.add_argument('--no_bone_fields', dest='bone_fields', action='store_false',
                           help='the pose input is the skeleton drawing only (the original research code)')
        model.add_argument('--ngf', type=int, default=64, help='detail generator (D2G) base channels')
        model.add_argument('--n_downsample_global', type=int, default=3, help='detail generator downsamplings')
        model.add_argument('--n_blocks_global', type=int, default=9, help='detail generator residual blocks')
        model.add_argument('--max_channels_global', type=int, default=0,
                           help='cap on the channels per level of the detail generator and of the pose2image '
                                'generator (0: none, ngf * 2^level as in pix2pixHD); the original research '
                                'code\'s D2G is --ngf 64 --n_downsample_global 4 --n_blocks_global 2 '
                                '--max_channels_global 512')
        # D2G with skips and the pose (not the original's: it has neither): +0.5 dB on the person at equal
        # epochs with the filled texture (docs/RESULTS.md, "Changes screened")
        model.add_argument('--d2g_use_pose', dest='d2g_use_pose', action='store_true', default=True,
                           help='also feed the pose image to D2G (the default)')
        model.add_argument('--no_d2g_use_pose', dest='d2g_use_pose', action='store_false',
                           help='D2G sees the sampled texture only (the original research code)')
        model.add_argument('--d2g_skips', choices=SKIPS, default='add',
                           help="detail generator's skip connections: add (each decoder level plus the encoder "
                                "level of its resolution, U-Net style) or none (pix2pixHD's global generator, "
                                'the original research code)')
        model.add_argument('--tex_size', type=int, default=200)
        model.add_argument('--tex_feat', type=int, default=15, help='neural feature channels per texel')
        model.add_argument('--checkpoint_activations', action='store_true',
                           help='training keeps fewer activations and recomputes them in backward: less memory, '
                                'about a third more time per step (not with --norm batch)')
        model.add_argument('--tex_min_prob', type=float, default=0.0,
                           help='texture sampling skips (pixel, part) pairs with a smaller part probability '
                                '(e.g. 1e-3: about 4x faster sampling, approximate gradients; 0 = exact)')

    def add_arguments(self, parser):
        """Subclasses add their flags here."""

    def validate(self, opt):
        """Phase-specific checks of the parsed flags (``self.parser.error`` on a bad combination)."""

    def size_multiple(self, opt):
        """Frame sides are rounded to this multiple: 2 ^ (the most downsamplings of the model's networks)."""
        return 2 ** max(opt.n_downsample_translate, opt.n_downsample_global)

    def model_options(self, parser, known):
        """Add the flags of the model the command line names (``known``: the flags parsed so far)."""
        model_class(known.model).modify_commandline_options(parser, self.is_train)

    def parse_flags(self, args=None):
        """Parse the command line, the model's own flags included (then --help lists them too)."""
        if not self.model_flags_added:
            known, _ = self.parser.parse_known_args(args)
            self.model_options(self.parser, known)
            self.parser.add_argument('-h', '--help', action='help', help='show this message and exit')
            self.model_flags_added = True
        return self.parser.parse_args(args)

    def parse(self, args=None, save=True):
        opt = self.parse_flags(args)
        opt.is_train = self.is_train
        opt.size_multiple = self.size_multiple(opt)
        if opt.checkpoint_activations and opt.norm == 'batch':
            self.parser.error('--checkpoint_activations recomputes the forward pass and would update batch norm '
                              'statistics twice; use --norm instance or none')
        self.validate(opt)
        opt.device = resolve_device(opt.gpu_ids)
        if save:
            save_options(opt, self.parser)
        return opt


def add_training_arguments(schedule, run):
    """Flags that train.py and pretrainTrans.py share: epochs, Adam's beta1 and the non-finite-loss
    guard in the schedule group; logging, checkpoint cadence and resuming in the run group."""
    schedule.add_argument('--niter', type=int, default=10, help='epochs at the starting learning rate')
    schedule.add_argument('--niter_decay', type=int, default=10, help='epochs of linear decay to zero')
    schedule.add_argument('--beta1', type=float, default=0.5)
    schedule.add_argument('--max_nan_steps', type=int, default=5,
                          help='stop after this many non-finite losses in a row')
    run.add_argument('--print_freq', type=int, default=100, help='iterations between loss log lines')
    run.add_argument('--display_freq', type=int, default=500, help='iterations between HTML rows')
    run.add_argument('--save_latest_freq', type=int, default=1000, help='iterations between latest saves')
    run.add_argument('--save_epoch_freq', type=int, default=5, help='epochs between numbered checkpoints')
    run.add_argument('--tf_log', action='store_true', help='TensorBoard scalars and images (tensorboardX)')
    run.add_argument('--continue_train', action='store_true', help='resume from which_epoch')


def argument_group(parser, title):
    """The parser's argument group of that title (created when there is none)."""
    for group in parser._action_groups:
        if group.title == title:
            return group
    return parser.add_argument_group(title)


def resolve_device(gpu_ids):
    """Map --gpu_ids to a torch.device; torchrun ranks use their LOCAL_RANK GPU."""
    if gpu_ids == '-1' or (gpu_ids == 'auto' and not torch.cuda.is_available()):
        return torch.device('cpu')
    if not torch.cuda.is_available():
        raise SystemExit(f'--gpu_ids {gpu_ids}: no CUDA device is available; use --gpu_ids -1 for the CPU')
    ids = [0] if gpu_ids == 'auto' else [int(i) for i in gpu_ids.split(',')]
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    return torch.device('cuda', ids[local_rank % len(ids)])


def save_options(opt, parser):
    """Write opt.txt (every option, with its default when changed) under checkpoints_dir/name."""
    if int(os.environ.get('RANK', 0)) != 0:
        return
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    os.makedirs(run_dir, exist_ok=True)
    lines = ['------------ Options -------------']
    for key, value in sorted(vars(opt).items()):
        default = parser.get_default(key)
        note = f'\t[default: {default}]' if default is not None and value != default and key != 'device' else ''
        lines.append(f'{key}: {value}{note}')
    lines.append('-------------- End ----------------')
    name = 'opt.txt' if opt.is_train else 'test_opt.txt'
    with open(os.path.join(run_dir, name), 'w', encoding='utf-8') as handle:
        handle.write('\n'.join(lines) + '\n')
