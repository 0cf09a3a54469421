"""Flags of evaluate.py: which checkpoint (or the oracle), which dataset with ground truth, where to write.

The model is rebuilt from the options stored in its checkpoint (as test.py does); its architecture and
data flags are not flags here.
"""
import argparse

from evaluation.components import COMPONENTS, parse_components
from options.base_options import resolve_device

# Dataset folders that can be overridden (names as data.clip_dataset.PATH_OPTIONS).
EVAL_PATHS = ('img_path', 'densepose_path', 'mask_path', 'pose_path', 'flow_path', 'flow_inv_path', 'label3d_path')


class EvalOptions:
    def __init__(self):
        self.parser = argparse.ArgumentParser(
            description='Measure a trained model (or the synthetic oracle) against ground-truth frames.',
            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        self.add_arguments(self.parser)

    @staticmethod
    def add_arguments(parser):
        run = parser.add_argument_group('what to evaluate')
        run.add_argument('--name', default=None, help='run name (checkpoints_dir/name); not needed with --oracle')
        run.add_argument('--checkpoints_dir', default='./checkpoints')
        run.add_argument('--which_epoch', default='latest', help='checkpoint label: latest or an epoch number')
        run.add_argument('--oracle', action='store_true',
                         help='evaluate the oracle of a synthetic dataset (ground-truth IUV rendered with the true '
                              'atlas over the true background) instead of a model; no checkpoint needed')
        run.add_argument('--substitute', default=None, metavar='COMPONENTS',
                         help='render model on a synthetic dataset: replace these learned components by their '
                              'ground truth, comma-separated: ' + '; '.join(f'{k}: {v}' for k, v in COMPONENTS.items())
                              + '; or none. iuv,texture,background,detail renders the oracle')
        run.add_argument('--gpu_ids', default='auto', help="'auto', '-1' for the CPU, or e.g. '0'")
        run.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none', help='mixed-precision inference')
        run.add_argument('--batch_size', type=int, default=4, help='frames per forward pass')

        data = parser.add_argument_group('ground truth')
        data.add_argument('--dataroot', default=None,
                          help='dataset with ground-truth frames in the seed layout (default: the checkpoint\'s '
                               'training dataset)')
        data.add_argument('--phase', choices=['val', 'all'], default=None,
                          help='val: the end of the video after --data_ratio (the split training held out); '
                               'all: every frame. Default: val on the training dataset, all on any other')
        data.add_argument('--data_ratio', type=float, default=None,
                          help='split for --phase val (default: the checkpoint\'s; 0.9 with --oracle)')
        data.add_argument('--start', type=int, default=0, help='skip this many frames of the phase')
        data.add_argument('--how_many', type=int, default=None, help='evaluate at most this many frames')
        for name in EVAL_PATHS:
            data.add_argument(f'--{name}', default=None, help=f'override the dataset\'s {name[:-5]} folder')
        data.add_argument('--train_dataroot', default=None,
                          help='where the training dataset is now, if it moved (alignment reads its poses and '
                               'frame size)')
        data.add_argument('--loadSize', type=int, default=None,
                          help='--oracle only: evaluate at this long side (default: the frame size)')

        align = parser.add_argument_group('pose alignment')
        align.add_argument('--align', choices=['auto', 'on', 'off'], default='auto',
                           help='map the dataset\'s poses onto the trained person\'s scale and place (as test.py '
                                'does) and the outputs back onto the ground-truth frames. auto: off when the '
                                'dataset\'s frames have the training frames\' size (the same camera: the val '
                                'split, or the same synthetic person doing other moves), on otherwise')
        align.add_argument('--no_align', action='store_true', help='the same as --align off')
        align.add_argument('--align_window', type=int, default=13,
                           help='frames of the sliding window that finds the ground line under jumps')
        align.add_argument('--max_gap', type=int, default=12,
                           help='target joints missing for up to this many frames are interpolated')

        out = parser.add_argument_group('results')
        out.add_argument('--results_dir', default='./results',
                         help='writes results_dir/name/eval_<phase>_<which_epoch>[_<dataset>]/ '
                              '(results_dir/oracle/eval_<phase>_<dataset>/ with --oracle)')
        out.add_argument('--lpips_weights', default=None,
                         help='LPIPS backbone weights: a torchvision alexnet or vgg16 state dict (default: '
                              'alexnet-owt-7be5be79.pth or vgg16-397923af.pth in the torch hub cache; the linear '
                              'heads ship with the lpips package); without either LPIPS is reported as unavailable')
        out.add_argument('--show_frames', type=int, default=3, help='best and worst frames shown on the page')
        out.add_argument('--save_frames', action='store_true',
                         help='also write every output, as compared (ground-truth geometry), to frames/')

    def parse(self, args=None):
        opt = self.parser.parse_args(args)
        if opt.no_align:
            if opt.align == 'on':
                self.parser.error('--no_align contradicts --align on')
            opt.align = 'off'
        if not opt.oracle and not opt.name:
            self.parser.error('--name is required (or --oracle to evaluate the synthetic oracle)')
        if opt.oracle and not opt.dataroot:
            self.parser.error('--oracle needs --dataroot (a synthetic dataset with gt/)')
        for name, low in (('batch_size', 1), ('start', 0), ('show_frames', 0), ('align_window', 1)):
            if getattr(opt, name) < low:
                self.parser.error(f'--{name} must be at least {low}')
        if opt.how_many is not None and opt.how_many < 1:
            self.parser.error('--how_many must be at least 1')
        if opt.data_ratio is not None and not 0.0 <= opt.data_ratio <= 1.0:
            self.parser.error('--data_ratio must lie in [0, 1]')
        if opt.loadSize is not None and (not opt.oracle or opt.loadSize < 16):
            self.parser.error('--loadSize applies to --oracle only (a model is evaluated at its working size) '
                              'and must be at least 16')
        if opt.substitute is not None:
            if opt.oracle:
                self.parser.error('--substitute applies to a model; --oracle already substitutes everything')
            try:
                opt.substitute = parse_components(opt.substitute)
            except ValueError as error:
                self.parser.error(f'--substitute: {error}')
        opt.device = resolve_device(opt.gpu_ids)
        return opt
