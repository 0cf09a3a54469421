"""Flags of test.py: which checkpoint, which driving poses, where the results go.

The architecture and data flags (--loadSize, --ngf, --tex_size, --use_label3d, ...) are read from the
checkpoint's stored training options; given here they are ignored with a warning. The shared flags that only
training reads (--batchSize, --nThreads, ...) are refused, each naming what test.py uses instead.
"""
import argparse
import os

from inference.engines import ENGINES
from options.base_options import BaseOptions, resolve_device

ENGINE_CHOICES = ENGINES + ('auto',)

# Flags the checkpoint decides (the model must be rebuilt exactly as it was trained).
TRAINING_FLAGS = ('model', 'norm', 'ngf_translate', 'n_downsample_translate', 'n_blocks_translate', 'trans_skips',
                  'bone_fields', 'ngf',
                  'n_downsample_global', 'n_blocks_global', 'max_channels_global', 'd2g_use_pose', 'd2g_skips',
                  'tex_size', 'tex_feat', 'tex_min_prob', 'use_label3d', 'label3d_nc', 'loadSize', 'data_ratio')
# Shared flags that only training reads: test.py refuses them rather than ignore them.
TRAINING_ONLY = {
    'batchSize': 'test.py batches with --batch_size',
    'nThreads': 'test.py reads its frames in the main process, with no DataLoader workers',
    'max_dataset_size': 'test.py picks its frames with --start and --how_many',
    'clip_length': 'test.py renders single frames',
    'checkpoint_activations': 'it saves memory in the backward pass, and test.py runs none',
    'seed': 'test.py draws no random numbers (the same inputs give the same frames)',
    'flip': 'test.py renders the poses as they are (the checkpoint decides how the person looks)',
}
HELP = {
    'dataroot': 'training dataset (default: the one stored in the checkpoint; pass it when the dataset moved)',
    'pose_path': 'driving OpenPose JSON folder (files in frame-number order, _9_ before _10_); phase test',
    'bg_path': 'replace the learned background with this image (any size; stretched to the working size)',
    'label3d_path': "driving 3D labels (one file per driving JSON, sorted), for a model trained with "
                    '--use_label3d',
}


# Training-dataset folders that --phase val reads; given here they replace the checkpoint's.
DATASET_PATHS = ('img_path', 'densepose_path', 'mask_path', 'flow_path', 'flow_inv_path', 'texture_path')


class TestOptions(BaseOptions):
    is_train = False

    def add_arguments(self, parser):
        for action in parser._actions:       # reuse the shared flags with test-time meanings
            if action.dest in HELP:
                action.help = HELP[action.dest]
            if action.dest in TRAINING_FLAGS:
                action.help = '(read from the checkpoint)'
            if action.dest in DATASET_PATHS:
                action.help = f'(phase val) the training dataset\'s {action.dest[:-5]} folder, if it moved'
            if action.dest in TRAINING_ONLY:
                action.help = argparse.SUPPRESS
        for name in set(TRAINING_ONLY) - {action.dest for action in parser._actions}:
            parser.add_argument(f'--{name}', help=argparse.SUPPRESS)     # train.py's own: refused alike
        # None marks "not given": no value typed on the command line parses to None
        parser.set_defaults(dataroot=None, **{name: None for name in TRAINING_FLAGS + tuple(TRAINING_ONLY)})

        test = parser.add_argument_group('test')
        test.add_argument('--which_epoch', default='latest', help='checkpoint label: latest or an epoch number')
        test.add_argument('--phase', choices=['test', 'val'], default='test',
                          help='test: drive the person with --pose_path; val: re-render the held-out end of '
                               'the training video (the data_ratio split) from its own poses, next to the '
                               'real frames')
        test.add_argument('--results_dir', default='./results',
                          help='outputs go to results_dir/name/<phase>_<which_epoch>/')
        test.add_argument('--pose_tgt_path', default=None,
                          help="the target person's own OpenPose JSON folder, to align the driving poses to "
                               '(default: the training dataset\'s openpose_json)')
        test.add_argument('--pose_size', type=int, nargs=2, metavar=('H', 'W'), default=None,
                          help='frame size the driving keypoints were detected in (default: the training '
                               'frame size). With alignment it only matters for the unaligned panel and '
                               '3D labels; with --no_align the driving frame is resized to the working size')
        test.add_argument('--start', type=int, default=0, help='first driving frame (0-based)')
        test.add_argument('--how_many', type=int, default=None, help='render at most this many frames')
        test.add_argument('--batch_size', type=int, default=4, help='frames per forward pass')
        test.add_argument('--engine', choices=ENGINE_CHOICES, default='auto',
                          help='how the generator runs (inference/engines.py): eager PyTorch, channels_last, '
                               'compile (torch.compile; needs a C++ compiler on the CPU), onnxruntime (the ONNX '
                               'export, written next to the checkpoint on first use); auto: the fastest one '
                               'measured (eager on the CPU). Unavailable engines fall back to eager with one line')
        test.add_argument('--fps', type=float, default=None,
                          help='frame rate of the mp4 videos (default: the --driving_video\'s, else 25)')
        test.add_argument('--driving_video', default=None,
                          help='(phase test) the video the driving keypoints were detected in: the mp4 videos take '
                               'its frame rate and its audio track (from --start on); the poses still come from '
                               '--pose_path, one JSON per video frame')
        size = test.add_mutually_exclusive_group()
        size.add_argument('--output_size', type=int, nargs=2, metavar=('W', 'H'), default=None,
                          help='write frames, masks and videos at W x H instead of the working size (each image '
                               'resized, INTER_AREA down / INTER_CUBIC up; the aspect changes if W / H differs '
                               'from the working size\'s)')
        size.add_argument('--output_scale', type=float, default=None,
                          help='write frames, masks and videos at this multiple of the working size (resized)')
        test.add_argument('--smooth', type=float, default=1.0,
                          help='temporal Gaussian smoothing of the driving keypoints, std in frames (0 = off)')
        test.add_argument('--max_gap', type=int, default=12,
                          help='driving joints missing for up to this many frames are interpolated')
        test.add_argument('--no_align', action='store_true',
                          help='use the driving keypoints as they are (only resized to the working size)')
        test.add_argument('--align_window', type=int, default=13,
                          help='frames of the sliding window that finds the ground line under jumps')
        test.add_argument('--save_mask', action='store_true',
                          help="also write the person's alpha matte, 255 * (1 - bg_prob), to mask/")
        test.add_argument('--html_frames', type=int, default=24, help='frames shown on index.html')

    def model_options(self, parser, known):
        """None: the model and its flags come from the checkpoint."""

    def parse(self, args=None, save=False):
        """Parsed flags; the run's options are saved by test.py into the results folder."""
        opt = self.parse_flags(args)
        for name, instead in TRAINING_ONLY.items():
            if getattr(opt, name) is not None:
                self.parser.error(f'--{name} is a training flag; {instead}')
            delattr(opt, name)
        opt.is_train = False
        for name, low in (('batch_size', 1), ('start', 0), ('html_frames', 0), ('align_window', 1)):
            if getattr(opt, name) < low:
                self.parser.error(f'--{name} must be at least {low}')
        if opt.how_many is not None and opt.how_many < 1:
            self.parser.error('--how_many must be at least 1')
        if (opt.fps is not None and opt.fps <= 0) or opt.smooth < 0:
            self.parser.error('--fps must be positive and --smooth not negative')
        if opt.output_size is not None and min(opt.output_size) < 1:
            self.parser.error('--output_size W H must be at least 1 x 1')
        if opt.output_scale is not None and opt.output_scale <= 0:
            self.parser.error('--output_scale must be positive')
        if opt.driving_video and opt.phase != 'test':
            self.parser.error('--driving_video times the driving poses of --phase test; phase val renders the '
                              "training video's own frames")
        if opt.phase == 'test' and not opt.pose_path:
            self.parser.error('--phase test needs --pose_path (the driving OpenPose JSON folder)')
        opt.device = resolve_device(opt.gpu_ids)
        return opt


def ignored_training_flags(opt, training):
    """Names of architecture / data flags given on the command line that differ from the checkpoint's."""
    return [name for name in TRAINING_FLAGS
            if getattr(opt, name, None) is not None and getattr(opt, name) != training.get(name)]


def save_test_options(opt, folder):
    """Write every option to folder/test_opt.txt."""
    os.makedirs(folder, exist_ok=True)
    lines = ['------------ Options -------------']
    lines += [f'{key}: {value}' for key, value in sorted(vars(opt).items())]
    lines.append('-------------- End ----------------')
    with open(os.path.join(folder, 'test_opt.txt'), 'w', encoding='utf-8') as handle:
        handle.write('\n'.join(lines) + '\n')
