"""Render a trained person doing another dancer's moves (or re-render the held-out training frames).

    python test.py --name NAME --pose_path DRIVING/openpose_json [--bg_path IMAGE] [--gpu_ids -1]
    python test.py --name NAME --phase val

The model is rebuilt from the training options stored in the checkpoint, at the working size it was
trained at (the learned background's size). Phase test reads the driving OpenPose JSON files, keeps
one person (tracked), fills missing joints and frames, smooths jitter (--smooth) and aligns the
skeletons to the target person's height, floor line and place (util/pose_align.py; --no_align
skips it). Phase val renders the end of the training video that training held out (data_ratio)
from its own poses. Written to results_dir/NAME/<phase>_<which_epoch>/:

    frames/frame00001.png ...   the rendered frames
    mask/frame00001.png ...     with --save_mask: the person's alpha matte, 255 * (1 - bg_prob)
                                (--save_mask and --bg_path need a model with a learned background:
                                --model render, not the pose2image baseline)
    video.mp4                   the rendered frames as a video (--fps)
    side_by_side.mp4            test: driving skeleton | aligned skeleton | output; val: real | output
    index.html                  a subset of frames (images/ holds the page's images), links to the videos
    summary.json, test_opt.txt  alignment statistics (test) or PSNR (val); the options used
"""
import argparse
import glob
import json
import math
import os
import re
import sys
import warnings

import cv2
import numpy as np
import torch
from dominate import tags
from tqdm import tqdm

from data.clip_dataset import PATH_OPTIONS, ClipDataset, pose_to_working_size, resize_image
from data.layout import index_dataset
from data.readers import DataFileError, read_frame, read_label3d, read_openpose
from models import checkpoint_working_size, create_model
from models.networks.texture import composite
from options.test_options import DATASET_PATHS, TestOptions, ignored_training_flags, save_test_options
from util.checkpoint import checkpoint_path, load_checkpoint
from util.html import HTML
from util.image import save_image, tensor_to_image, write_atomic
from util.pose import draw_pose
from util.pose_align import apply_alignment, clean_sequence, fit_alignment
from util.video import VideoWriter

LABEL_EXTENSIONS = ('.npy', '.png')
OWN_FILE = re.compile(r'^(frame\d+(_[a-z_]+)?|background)\.png$')      # images this script writes (and may replace)


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
def load_model(opt):
    """(model, training options, working size (H, W)) from checkpoints_dir/name/<which_epoch>_checkpoint.pth."""
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    path = checkpoint_path(run_dir, opt.which_epoch)
    if not os.path.isfile(path):
        found = sorted(os.path.basename(p).replace('_checkpoint.pth', '')
                       for p in glob.glob(os.path.join(run_dir, '*_checkpoint.pth')))
        raise SystemExit(f'{path}: checkpoint not found; '
                         + (f'--which_epoch can be one of {found}' if found else f'no checkpoints in {run_dir}'))
    state = load_checkpoint(path)
    stored = state.get('options')
    working = checkpoint_working_size(state)
    if not stored or working is None:
        raise SystemExit(f'{path}: not a checkpoint of train.py (no options or no working size)')
    height, width = working
    del state
    for name in ignored_training_flags(opt, stored):
        warnings.warn(f'--{name} {getattr(opt, name)} ignored: the checkpoint was trained with '
                      f'{stored.get(name)} (architecture and data flags come from the checkpoint)')
    train_opt = argparse.Namespace(**stored)
    train_opt.is_train = False
    train_opt.device, train_opt.amp = opt.device, opt.amp
    train_opt.checkpoints_dir, train_opt.name = opt.checkpoints_dir, opt.name
    for name in ('dataroot',) + DATASET_PATHS:
        if getattr(opt, name):
            setattr(train_opt, name, getattr(opt, name))
    try:
        model = create_model(train_opt, working_size=(height, width))
    except ValueError as error:
        raise SystemExit(f'{path}: {error}') from error
    model.load(opt.which_epoch, with_optimizers=False)
    return model, train_opt, (int(height), int(width))


# ---------------------------------------------------------------------------------------------
# Inputs: driving poses (phase test) or held-out training frames (phase val)
# ---------------------------------------------------------------------------------------------
def _to_unit(image_uint8):
    """uint8 [H, W, C] -> float32 tensor [C, H, W] in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image_uint8.transpose(2, 0, 1))).float() / 127.5 - 1.0


def _json_files(folder, what):
    if not os.path.isdir(folder):
        raise SystemExit(f'{folder}: {what} folder not found')
    files = sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith('.json'))
    if not files:
        raise SystemExit(f'{folder}: no OpenPose .json files ({what})')
    return files


def read_sequence(folder, what, max_gap, smooth):
    """OpenPose JSON folder -> one clean pose per frame (tracked, gaps filled, smoothed)."""
    people = []
    for path in _json_files(folder, what):
        try:
            people.append(read_openpose(path))
        except DataFileError as error:
            raise SystemExit(f'{error} ({what})') from error
    try:
        return clean_sequence(people, max_gap=max_gap, smooth=smooth)
    except ValueError as error:
        raise SystemExit(f'{folder}: {error} ({what})') from error


def affine_label(label, matrix, height, width):
    """3D label [C, h, w] warped by the 2x3 matrix (label pixel -> working pixel, pixel centres at
    integers) to [C, height, width], nearest neighbour, 0 outside."""
    channels_last = np.ascontiguousarray(label.transpose(1, 2, 0), np.float32)
    out = np.stack([cv2.warpAffine(np.ascontiguousarray(channels_last[..., c]), matrix, (width, height),
                                   flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                    for c in range(channels_last.shape[2])])
    return out


def _pixel_map(scale, offset, src, dst):
    """Composite 1-D map: label pixel (src px across the driving frame's dst px) -> scale * x + offset."""
    ratio = dst / src
    return scale * ratio, scale * (0.5 * ratio - 0.5) + offset


class DrivingSequence:
    """Phase test: the driving poses, cleaned and aligned to the target, as network inputs."""

    def __init__(self, opt, train_opt, working):
        self.working = working
        height, width = working
        target_size = training_frame_size(train_opt)
        self.pose_size = tuple(opt.pose_size) if opt.pose_size else target_size
        driving = read_sequence(opt.pose_path, 'driving poses', opt.max_gap, opt.smooth)
        self.unaligned = [pose_to_working_size(p, self.pose_size, working) for p in driving]
        if opt.no_align:
            self.alignment = None
            self.poses = self.unaligned
        else:
            folder = opt.pose_tgt_path or train_opt.pose_path or os.path.join(train_opt.dataroot, 'openpose_json')
            target = read_sequence(folder, 'target poses', opt.max_gap, 0.0)
            target = [pose_to_working_size(p, target_size, working) for p in target]
            try:
                self.alignment = fit_alignment(driving, target, window=opt.align_window)
            except ValueError as error:
                raise SystemExit(f'{opt.pose_path}: {error}') from error
            self.poses = apply_alignment(driving, self.alignment)
        self.labels = None
        if train_opt.use_label3d:
            self.labels = self._label_files(opt, train_opt, len(driving))
        self.frames = _select(len(driving), opt.start, opt.how_many, opt.pose_path)
        self.panel_names = ['driving', 'aligned']

    @staticmethod
    def _label_files(opt, train_opt, count):
        if not opt.label3d_path:
            raise SystemExit('the model was trained with 3D labels (--use_label3d): pass the driving '
                             'sequence\'s labels with --label3d_path')
        if not os.path.isdir(opt.label3d_path):
            raise SystemExit(f'{opt.label3d_path}: 3D label folder not found')
        files = sorted(os.path.join(opt.label3d_path, n) for n in os.listdir(opt.label3d_path)
                       if n.lower().endswith(LABEL_EXTENSIONS))
        if len(files) != count:
            raise SystemExit(f'{opt.label3d_path}: {len(files)} 3D label files for {count} driving OpenPose files; '
                             'they are paired in sorted order and must be as many')
        channels = read_label3d(files[0]).shape[0]
        if channels != train_opt.label3d_nc:
            raise SystemExit(f'{files[0]}: 3D label has {channels} channels, the model expects '
                             f'{train_opt.label3d_nc}')
        return files

    def _label(self, t):
        height, width = self.working
        label = read_label3d(self.labels[t])
        src_h, src_w = label.shape[1:]
        if self.alignment is None:
            sx, ox = _pixel_map(width / self.pose_size[1], 0.5 * width / self.pose_size[1] - 0.5,
                                src_w, self.pose_size[1])
            sy, oy = _pixel_map(height / self.pose_size[0], 0.5 * height / self.pose_size[0] - 0.5,
                                src_h, self.pose_size[0])
        else:
            s, dx, dy = self.alignment.scale[t], self.alignment.dx[t], self.alignment.dy[t]
            sx, ox = _pixel_map(s, dx, src_w, self.pose_size[1])
            sy, oy = _pixel_map(s, dy, src_h, self.pose_size[0])
        matrix = np.array([[sx, 0, ox], [0, sy, oy]], np.float64)
        return torch.from_numpy(affine_label(label, matrix, height, width)) * 2 - 1

    def __len__(self):
        return len(self.frames)

    def batch(self, indices):
        """(pose input [B, Cp, H, W] in [-1, 1], per frame the list of uint8 panels before the output)."""
        height, width = self.working
        inputs, panels = [], []
        for i in indices:
            t = self.frames[i]
            drawn = draw_pose(self.poses[t], height, width)
            pose = _to_unit(drawn)
            if self.labels is not None:
                pose = torch.cat([pose, self._label(t)])
            inputs.append(pose)
            panels.append([draw_pose(self.unaligned[t], height, width), drawn])
        return torch.stack(inputs), panels

    def summary(self):
        return {'alignment': self.alignment.summary() if self.alignment is not None else {'mode': 'off'},
                'driving_frames': [int(self.frames[0]), int(self.frames[-1])]}


class HeldOutFrames:
    """Phase val: the end of the training video that training held out, with its own poses."""

    def __init__(self, opt, train_opt, working):
        try:
            self.dataset = ClipDataset(
                train_opt.dataroot, phase='val', load_size=train_opt.loadSize, clip_length=1,
                size_multiple=train_opt.size_multiple, flip=False, data_ratio=train_opt.data_ratio,
                use_label3d=train_opt.use_label3d, require_densepose=False,
                paths={name: getattr(train_opt, name, None) for name in PATH_OPTIONS})
        except ValueError as error:     # DataFileError included
            raise SystemExit(f'--phase val: {error}') from error
        if tuple(self.dataset.working_size) != tuple(working):
            raise SystemExit(f'{train_opt.dataroot}: working size {self.dataset.working_size} differs from '
                             f'the checkpoint\'s {working}; is this the training dataset?')
        first = self.dataset.first_frame
        count = self.dataset.end_frame - first
        self.frames = [first + i for i in _select(count, opt.start, opt.how_many, train_opt.dataroot)]
        self.panel_names = ['real']
        self.psnr = []

    def __len__(self):
        return len(self.frames)

    def batch(self, indices):
        inputs, panels = [], []
        for i in indices:
            sample = self.dataset.load_clip(self.frames[i] - self.dataset.first_frame)
            inputs.append(sample['pose'][0])
            panels.append([tensor_to_image(sample['image'][0])])
        return torch.stack(inputs), panels

    def summary(self):
        return {'held_out_frames': [int(self.frames[0]), int(self.frames[-1])],
                'psnr': round(float(np.mean(self.psnr)), 3) if self.psnr else None}


def _select(count, start, how_many, where):
    if start >= count:
        raise SystemExit(f'{where}: --start {start} but the sequence has {count} frames')
    end = count if how_many is None else min(count, start + how_many)
    return list(range(start, end))


def training_frame_size(train_opt):
    """(H, W) of the training video's frames (the target keypoints' coordinate frame)."""
    files = index_dataset(train_opt.dataroot, img_path=getattr(train_opt, 'img_path', None))
    if not files.frames:
        raise SystemExit(f'{train_opt.dataroot}: training frames not found (their size places the target '
                         'person\'s keypoints); pass --dataroot where the training dataset is now')
    return tuple(read_frame(files.frames[0]).shape[:2])


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


# ---------------------------------------------------------------------------------------------
# Output folder
# ---------------------------------------------------------------------------------------------
def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def result_folder(opt, train_opt):
    """results_dir/name/<phase>_<which_epoch>; refuses any place inside a dataset (nothing is written)."""
    folder = os.path.join(opt.results_dir, opt.name, f'{opt.phase}_{opt.which_epoch}')
    protected = [train_opt.dataroot, opt.pose_tgt_path, opt.pose_path, opt.label3d_path]
    if opt.pose_path and os.path.basename(os.path.normpath(opt.pose_path)) == 'openpose_json':
        protected.append(os.path.dirname(os.path.normpath(opt.pose_path)))     # the driving dataset
    for data in protected:
        if data and _inside(folder, data):
            raise SystemExit(f'{folder}: refusing to write results inside the dataset folder {data}; '
                             'choose another --results_dir')
    return folder


def prepare_folder(folder, opt):
    """Create the result folders and drop the images this script wrote there in a previous run."""
    for sub in ('frames', 'images', 'mask'):
        path = os.path.join(folder, sub)
        if os.path.isdir(path):
            for name in os.listdir(path):
                if OWN_FILE.match(name):
                    os.remove(os.path.join(path, name))
    os.makedirs(os.path.join(folder, 'frames'), exist_ok=True)
    if opt.save_mask:
        os.makedirs(os.path.join(folder, 'mask'), exist_ok=True)


def check_compositing(opt, model):
    """--bg_path and --save_mask need the person / background split of a model with a learned background."""
    flags = [flag for flag, given in (('--bg_path', opt.bg_path), ('--save_mask', opt.save_mask)) if given]
    if flags and not hasattr(model, 'background'):
        raise SystemExit(f'{" and ".join(flags)}: the {model.opt.model} model renders whole frames, with no '
                         'person / background separation to composite or mask; drop the flag, or drive a '
                         '--model render run')


def load_new_background(path, working, device):
    """--bg_path image stretched to the working size: ([1, 3, H, W] in [-1, 1], the uint8 image)."""
    try:
        image = resize_image(read_frame(path), *working)
    except DataFileError as error:
        raise SystemExit(f'{error} (--bg_path)') from error
    return _to_unit(image)[None].to(device), image


# ---------------------------------------------------------------------------------------------
# Main loop
# ---------------------------------------------------------------------------------------------
def render(model, source, folder, opt, background=None):
    """Batched inference over the source's frames; writes frames, both videos and returns the page rows."""
    digits = max(5, len(str(len(source))))
    page_frames = set(np.linspace(0, len(source) - 1, min(len(source), opt.html_frames)).round().astype(int)
                      .tolist()) if opt.html_frames else set()
    rows = []
    with VideoWriter(os.path.join(folder, 'video.mp4'), opt.fps) as video, \
            VideoWriter(os.path.join(folder, 'side_by_side.mp4'), opt.fps) as side:
        bar = tqdm(total=len(source), desc=f'{opt.phase} {opt.name}', unit='frame', dynamic_ncols=True)
        for begin in range(0, len(source), opt.batch_size):
            indices = list(range(begin, min(begin + opt.batch_size, len(source))))
            pose, panels = source.batch(indices)
            result = model.infer(pose)
            if background is None:
                output = result['output'].float()
            else:
                output = composite(result['person'].float(), background, result['bg_prob'].float())
            for k, i in enumerate(indices):
                image = tensor_to_image(output[k])
                name = f'frame{i + 1:0{digits}d}'
                save_image(os.path.join(folder, 'frames', name + '.png'), image)
                if opt.save_mask:
                    alpha = np.round(255 * (1 - result['bg_prob'][k, 0].float().clamp(0, 1)).cpu().numpy())
                    save_image(os.path.join(folder, 'mask', name + '.png'), alpha.astype(np.uint8))
                video.write(image)
                side.write(np.concatenate(panels[k] + [image], axis=1))
                if isinstance(source, HeldOutFrames):
                    source.psnr.append(psnr(image, panels[k][0]))
                if i in page_frames:
                    paths = []
                    for panel_name, panel in zip(source.panel_names, panels[k]):
                        paths.append(os.path.join('images', f'{name}_{panel_name}.png'))
                        save_image(os.path.join(folder, paths[-1]), panel)
                    rows.append((name, paths + [os.path.join('frames', name + '.png')]))
            bar.update(len(indices))
        bar.close()
    return rows


def write_page(folder, opt, source, rows, summary):
    page = HTML(folder, f'{opt.name}: {opt.phase}, checkpoint {opt.which_epoch}')
    page.doc.add(tags.p(tags.a('video.mp4', href='video.mp4'), ' | ',
                        tags.a('side_by_side.mp4', href='side_by_side.mp4'),
                        f' ({len(source)} frames, {opt.fps:g} fps)'))
    if 'alignment' in summary:
        info = summary['alignment']
        page.add_header(f'alignment: {info["mode"]}' + (f', scale {info["scale"]}, dx {info["dx"]}, dy {info["dy"]}'
                                                         if 'scale' in info else ''))
        if 'driving' in info:
            keys = ('height', 'floor', 'far', 'near', 'centre_x', 'torso')
            page.add_table([[name] + [info[name][k] for k in keys] for name in ('driving', 'target')],
                           header=['poses'] + list(keys))
    if summary.get('psnr') is not None:
        page.add_header(f'PSNR output vs real: {summary["psnr"]:.2f} dB (mean over {len(source)} frames)')
    if opt.bg_path:
        page.add_images([os.path.join('images', 'background.png')], [f'background: {opt.bg_path}'])
    captions = source.panel_names + ['output']
    for name, paths in rows:
        page.add_header(name, level=4)
        page.add_images(paths, captions)
    return page.save()


def main(argv=None):
    opt = TestOptions().parse(argv)
    model, train_opt, working = load_model(opt)
    check_compositing(opt, model)
    folder = result_folder(opt, train_opt)
    source = DrivingSequence(opt, train_opt, working) if opt.phase == 'test' else HeldOutFrames(opt, train_opt, working)
    prepare_folder(folder, opt)
    save_test_options(opt, folder)
    background = None
    if opt.bg_path:
        background, background_image = load_new_background(opt.bg_path, working, opt.device)
        save_image(os.path.join(folder, 'images', 'background.png'), background_image)
    rows = render(model, source, folder, opt, background)
    summary = {'phase': opt.phase, 'checkpoint': opt.which_epoch, 'frames': len(source),
               'working_size': list(working), **source.summary()}
    write_atomic(os.path.join(folder, 'summary.json'), json.dumps(summary, indent=1))
    page = write_page(folder, opt, source, rows, summary)
    print(f'{len(source)} frames at {working[1]}x{working[0]} -> {folder}\n  {page}\n'
          f'  {os.path.join(folder, "video.mp4")}\n  {os.path.join(folder, "side_by_side.mp4")}')
    return folder


if __name__ == '__main__':
    main()
    sys.exit(0)
