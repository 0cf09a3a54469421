"""Flags of pretrainTrans.py: person-agnostic pre-training of the UV generator on many datasets.

The UV generator flags (--ngf_translate, --n_downsample_translate, --n_blocks_translate, --trans_skips, --norm,
--use_label3d / --label3d_nc) come from BaseOptions and must match the train.py run that starts
from the result (train.py --load_pretrain_TransG RUN_DIR). Samples are single frames. Flip
augmentation is on by default (--no_flip: off). --loadSize is 256 unless given; --eval_only takes the
checkpoint's unless given.
"""
from models.trans_model import TransModel
from options.base_options import BaseOptions, add_training_arguments, save_options

# Options that fix the UV generator's architecture; --eval_only takes them from the checkpoint.
ARCHITECTURE_OPTIONS = ('ngf_translate', 'n_downsample_translate', 'n_blocks_translate', 'trans_skips', 'bone_fields',
                        'norm', 'use_label3d', 'label3d_nc')
DEFAULT_LOAD_SIZE = 256


class PretrainOptions(BaseOptions):
    is_train = True

    def add_arguments(self, parser):
        parser.set_defaults(loadSize=None)      # resolved in parse: 256, or with --eval_only the checkpoint's
        # the labels are mirrored exactly and no texture is learned here, so flipping only adds data
        parser.set_defaults(flip=True)

        schedule = parser.add_argument_group('schedule')
        run = parser.add_argument_group('logging, checkpoints and evaluation')
        add_training_arguments(schedule, run)
        schedule.add_argument('--lr', type=float, default=2e-4)

        run.add_argument('--which_epoch', default='latest', help='checkpoint to resume from or evaluate')
        run.add_argument('--eval_only', action='store_true',
                         help='evaluate checkpoints_dir/name/<which_epoch>_checkpoint.pth on every frame of '
                              'each --dataroot, print part accuracy and UV error, and exit (the UV '
                              'generator flags are read from the checkpoint)')

    def model_options(self, parser, known):
        TransModel.modify_commandline_options(parser, self.is_train)

    def size_multiple(self, opt):
        return 2 ** opt.n_downsample_translate

    def parse(self, args=None, save=True):
        """Like BaseOptions.parse, plus dataroots split on commas. --eval_only saves no opt.txt."""
        opt = super().parse(args, save=False)
        opt.dataroots = [root for root in opt.dataroot.split(',') if root]
        if not opt.dataroots:
            self.parser.error('--dataroot: give one dataset folder or several separated by commas')
        overrides = [f'--{name}' for name in ('img_path', 'pose_path', 'densepose_path', 'mask_path',
                                              'label3d_path') if getattr(opt, name)]
        if overrides and len(opt.dataroots) > 1:
            self.parser.error(f'{" ".join(overrides)} cannot apply to {len(opt.dataroots)} datasets at once; '
                              'give each dataset the standard layout')
        if opt.loadSize is None and not opt.eval_only:
            opt.loadSize = DEFAULT_LOAD_SIZE
        if save and not opt.eval_only:
            save_options(opt, self.parser)
        return opt
