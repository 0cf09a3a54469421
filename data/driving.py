"""Inference inputs: a driving dancer's OpenPose sequence cleaned and aligned to the trained person
(phase test), or the held-out end of the training video with its own poses (phase val).

Both give ``batch(indices) -> (pose input [B, Cp, H, W] in [-1, 1], per frame the uint8 panels shown
before the output)`` and ``panel_names``.
"""
import os

import cv2
import numpy as np
import torch

from data.clip_dataset import PATH_OPTIONS, ClipDataset
from data.layout import index_dataset
from data.pairing import in_number_order
from data.pose_input import pose_input
from data.readers import DataFileError, read_frame, read_label3d, read_openpose
from data.transforms import pose_to_working_size
from util.geometry import affine_matrix, compose, resize_map, similarity
from util.pose import draw_pose
from util.pose_align import apply_alignment, clean_sequence, fit_alignment
from util.image import tensor_to_image

LABEL_EXTENSIONS = ('.npy', '.png')


def _json_files(folder, what):
    if not os.path.isdir(folder):
        raise SystemExit(f'{folder}: {what} folder not found')
    names = in_number_order(name for name in os.listdir(folder) if name.endswith('.json'))
    files = [os.path.join(folder, name) for name in names]
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


class DrivingSequence:
    """Phase test: the driving poses, cleaned and aligned to the target, as network inputs."""

    def __init__(self, opt, train_opt, working):
        self.working = working
        self.bone_fields = train_opt.bone_fields
        height, width = working
        # the training frames' size places the target's keypoints; unaligned with --pose_size, nothing needs it
        target_size = None if opt.no_align and opt.pose_size else training_frame_size(train_opt)
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
        self.frames = select_frames(len(driving), opt.start, opt.how_many, opt.pose_path)
        self.panel_names = ['driving', 'aligned']

    @staticmethod
    def _label_files(opt, train_opt, count):
        if not opt.label3d_path:
            raise SystemExit('the model was trained with 3D labels (--use_label3d): pass the driving '
                             'sequence\'s labels with --label3d_path')
        if not os.path.isdir(opt.label3d_path):
            raise SystemExit(f'{opt.label3d_path}: 3D label folder not found')
        files = [os.path.join(opt.label3d_path, n) for n in in_number_order(os.listdir(opt.label3d_path))
                 if n.lower().endswith(LABEL_EXTENSIONS)]
        if len(files) != count:
            raise SystemExit(f'{opt.label3d_path}: {len(files)} 3D label files for {count} driving OpenPose files; '
                             'they are paired in frame-number order and must be as many')
        channels = read_label3d(files[0]).shape[0]
        if channels != train_opt.label3d_nc:
            raise SystemExit(f'{files[0]}: 3D label has {channels} channels, the model expects '
                             f'{train_opt.label3d_nc}')
        return files

    def _label(self, t):
        label = read_label3d(self.labels[t])
        to_pose = resize_map(label.shape[1:], self.pose_size)
        if self.alignment is None:
            to_working = resize_map(self.pose_size, self.working)
        else:
            to_working = similarity(self.alignment.scale[t], self.alignment.dx[t], self.alignment.dy[t])
        matrix = affine_matrix(compose(to_working, to_pose))
        return torch.from_numpy(affine_label(label, matrix, *self.working)) * 2 - 1

    def __len__(self):
        return len(self.frames)

    def batch(self, indices):
        """(pose input [B, Cp, H, W] in [-1, 1], per frame the list of uint8 panels before the output)."""
        height, width = self.working
        inputs, panels = [], []
        for i in indices:
            t = self.frames[i]
            pose, drawn = pose_input(self.poses[t], height, width, self.bone_fields)
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
                use_label3d=train_opt.use_label3d, bone_fields=train_opt.bone_fields, require_densepose=False,
                paths={name: getattr(train_opt, name) for name in PATH_OPTIONS})
        except ValueError as error:     # DataFileError included
            raise SystemExit(f'--phase val: {error}') from error
        if tuple(self.dataset.working_size) != tuple(working):
            raise SystemExit(f'{train_opt.dataroot}: working size {self.dataset.working_size} differs from '
                             f'the checkpoint\'s {working}; is this the training dataset?')
        first = self.dataset.first_frame
        count = self.dataset.end_frame - first
        self.frames = [first + i for i in select_frames(count, opt.start, opt.how_many, train_opt.dataroot)]
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


def select_frames(count, start, how_many, where):
    if start >= count:
        raise SystemExit(f'{where}: --start {start} but the sequence has {count} frames')
    end = count if how_many is None else min(count, start + how_many)
    return list(range(start, end))


def training_frame_size(train_opt):
    """(H, W) of the training video's frames (the target keypoints' coordinate frame)."""
    files = index_dataset(train_opt.dataroot, img_path=train_opt.img_path)
    if not files.frames:
        raise SystemExit(f'{train_opt.dataroot}: training frames not found (their size places the target '
                         'person\'s keypoints); pass --dataroot where the training dataset is now')
    return tuple(read_frame(files.frames[0]).shape[:2])
