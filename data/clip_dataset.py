"""Clips of T consecutive frames of one video, with every per-frame input aligned, as tensors.

Working size
------------
Every input is brought to one working size (H', W') computed from the first frame's size (H, W):
the long side becomes ``load_size`` and the short side keeps the aspect ratio; then both sides are
rounded to the nearest multiple of ``size_multiple`` (halves round up), and never below
``size_multiple``. Examples: 1080x1920 at load_size 512 -> 288x512; 48x64 at load_size 32 with
size_multiple 8 -> 24x32 (with size_multiple 16 -> 32x32, the short side 24 rounds up to 32).

Coordinates follow the pixel-centre convention (x right, y down, pixel centres at integers, the
image covering [-0.5, W - 0.5]). A point x maps to x' = (x + 0.5) * sx - 0.5 with sx = W' / W
(sy = H' / H likewise); displacements (flow vectors) are multiplied by sx, sy. The same mapping is
used for every input:
  frames      cv2 INTER_AREA when shrinking, INTER_LINEAR otherwise (both pixel-centre aligned)
  IUV, mask,  nearest neighbour with source index floor((x' + 0.5) / sx) (pixel-centre aligned;
  3D label    cv2's plain INTER_NEAREST is shifted by half a pixel, so it is not used)
  flow        util.flow.resize_flow (vectors scaled by sx, sy); a flow stored at another size than
              the frames is an error naming the file, like an IUV or mask of another size
  keypoints   scale_pose(pose, sx, sy, 0.5 * sx - 0.5, 0.5 * sy - 0.5)

Split: phase 'train' uses the first floor(N * data_ratio) frames, 'val' the rest (the end of the
video), 'all' every frame. A clip never crosses the split.

Flip (phase 'train' with flip=True): drawn once per sample with probability 0.5 from torch's
generator (seeded per DataLoader worker) and applied to all T frames and every input: images,
masks and 3D labels are mirrored; IUV is mirrored with the DensePose part ids swapped
(util.densepose.FLIP_PARTS) and U -> 1 - U on the torso parts 1 and 2; flows via util.flow.flip_flow
(mirror, negate x); keypoints via util.pose.flip_pose before drawing. The labels then describe
the mirrored person exactly, but the mirrored frame still wears the person's texture mirrored: with
asymmetric clothing a flipped sample's RGB contradicts the one learned texture (on the synthetic
person the true atlas rendered with flipped labels is ~3 dB further from the flipped frame than
unflipped labels are from the frame). Person-agnostic training (pretrainTrans) is unaffected.

Without DensePose (require_densepose=False and no densepose folder) 'parts' is all -1 and 'uv'
zeros, so a model can tell "no supervision" from "background". With require_flow=False the flow
folders are neither required nor read, and samples have no 'flow' / 'flow_inv' (pretrainTrans).

With validate=True every file the dataset will read, in both splits, is checked cheaply when it is
built (data.preflight: headers, file lengths, sizes, IUV part indices, JSON), with the background
plate and texture atlas named in ``plates``; every problem found, with the missing files and folders,
is raised as one DataFileError listing them. Training builds its dataset so.
"""
import math
import os
import warnings

import numpy as np
import torch
from torch.utils.data import Dataset

from data.layout import DEFAULT_FOLDERS, index_dataset
from data.pose_input import pose_input
from data.preflight import PLATE_HINTS, file_problems
from data.readers import DataFileError, read_flo, read_frame, read_iuv, read_label3d, read_mask, read_openpose
from data.transforms import flip_iuv, pose_to_working_size, resize_image, resize_nearest, to_unit_range, working_size
from util.atlas import atlas_to_tensor, iuv_to_uv
from util.unfold import fill_dark_texels
from util.flow import flip_flow, resize_flow
from util.pose import fill_missing, flip_pose, track_person

PHASES = ('train', 'val', 'all')
MAX_LISTED_PROBLEMS = 20

# index_dataset override name -> DatasetFiles attribute / default folder key
PATH_OPTIONS = ('img_path', 'densepose_path', 'mask_path', 'pose_path', 'label3d_path', 'flow_path',
                'flow_inv_path', 'bg_path', 'texture_path')
_KIND_OPTION = {'iuv': 'densepose_path', 'mask': 'mask_path', 'pose': 'pose_path',
                'label3d': 'label3d_path', 'flow': 'flow_path', 'flow_inv': 'flow_inv_path'}


def _within(path, folder):
    path = os.path.normpath(path)
    return path == folder or path.startswith(folder + os.sep)


def _listing(problems, limit=MAX_LISTED_PROBLEMS):
    lines = [f'  - {p}' for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f'  ... and {len(problems) - limit} more')
    return '\n'.join(lines)


def _split_range(num_frames, phase, data_ratio, clip_length):
    """(first, end) frame indices of a phase's contiguous part of the video (end exclusive)."""
    if phase not in PHASES:
        raise ValueError(f'phase must be one of {PHASES}, got {phase!r}')
    if not 0.0 <= data_ratio <= 1.0:
        raise ValueError(f'data_ratio must lie in [0, 1], got {data_ratio}')
    boundary = int(math.floor(num_frames * data_ratio))
    first, end = {'train': (0, boundary), 'val': (boundary, num_frames), 'all': (0, num_frames)}[phase]
    if end - first < clip_length:
        raise ValueError(
            f"phase '{phase}' has {end - first} frames (frames {first}..{end - 1} of {num_frames}, "
            f'data_ratio {data_ratio}), fewer than clip_length {clip_length}; change data_ratio '
            f'or clip_length')
    return first, end


# ---------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------
class ClipDataset(Dataset):
    """T consecutive frames of one video per sample, all inputs at the working size.

    A sample is a dict (T = clip_length, H, W = working_size, C3d = 3D label channels):
      'pose'      float32 [T, 3 (+48) (+C3d), H, W] in [-1, 1]  drawn skeleton (+ bone fields, + 3D label
                  mapped from [0, 1])
      'image'     float32 [T, 3, H, W] in [-1, 1]         RGB frames
      'parts'     int64   [T, H, W]   0 background, 1..24 DensePose parts (-1 everywhere without DensePose)
      'uv'        float32 [T, 2, H, W] in [-1, 1]         DensePose U, V (zeros on background)
      'mask'      float32 [T, 1, H, W] 0 / 1              person mask
      'flow'      float32 [T-1, 2, H, W]  forward flow t -> t+1 on frame t's grid, working-size pixels
      'flow_inv'  float32 [T-1, 2, H, W]  backward flow t+1 -> t on frame t+1's grid (warping frame t
                                          with it aligns to frame t+1)
      'index'     int     index of the clip's first frame in the whole video
      'flipped'   bool
      'paths'     list of T frame paths
    Attributes: files (data.layout.DatasetFiles), poses (cleaned per-frame poses at the original frame
    size), person_detected (bool [N], frames where OpenPose found someone), frame_size (H, W),
    working_size (H', W'), first_frame / end_frame (the phase's frames), starts (clip start indices),
    has_densepose, label3d_channels (C3d, 0 without 3D labels).
    """

    def __init__(self, root, phase='train', load_size=256, clip_length=2, size_multiple=16, flip=True,
                 data_ratio=0.9, max_dataset_size=None, use_label3d=False, bone_fields=False, paths=None,
                 require_densepose=True, require_flow=True, validate=False, plates=()):
        if clip_length < 1:
            raise ValueError(f'clip_length must be >= 1, got {clip_length}')
        paths = dict(paths or {})
        unknown = set(paths) - set(PATH_OPTIONS)
        if unknown:
            raise ValueError(f'unknown path overrides {sorted(unknown)}; known: {PATH_OPTIONS}')
        self.root = root
        self.phase = phase
        self.clip_length = clip_length
        self.flip = bool(flip) and phase == 'train'
        self.use_label3d = use_label3d
        self.bone_fields = bone_fields
        self.files = index_dataset(root, **{k: v for k, v in paths.items() if v})
        self.load_flow = require_flow
        self._check_files(paths, require_densepose, validate, plates)
        self.has_densepose = self.files.iuv is not None

        self.frame_size = tuple(read_frame(self.files.frames[0]).shape[:2])
        self.working_size = working_size(*self.frame_size, load_size, size_multiple)
        self.poses, self.person_detected = self._read_poses()
        self.label3d_channels = read_label3d(self.files.label3d[0]).shape[0] if use_label3d else 0

        try:
            self.first_frame, self.end_frame = _split_range(len(self.files), phase, data_ratio, clip_length)
        except ValueError as error:
            raise DataFileError(root, str(error)) from error
        starts = list(range(self.first_frame, self.end_frame - clip_length + 1))
        if max_dataset_size is not None and max_dataset_size != float('inf'):
            starts = starts[:int(max_dataset_size)]
        self.starts = starts

    @classmethod
    def from_options(cls, opt, phase, require_densepose=True, require_flow=True, clip_length=None,
                     validate=False, plates=()):
        """Build from parsed options (--dataroot, --loadSize, --clip_length unless clip_length is given,
        the working-size multiple, --flip, --data_ratio, --max_dataset_size, --use_label3d with
        --label3d_nc, and the folder overrides)."""
        dataset = cls(
            opt.dataroot, phase=phase, load_size=opt.loadSize,
            clip_length=opt.clip_length if clip_length is None else clip_length,
            size_multiple=opt.size_multiple, flip=opt.flip, data_ratio=opt.data_ratio,
            max_dataset_size=opt.max_dataset_size, use_label3d=opt.use_label3d, bone_fields=opt.bone_fields,
            paths={name: getattr(opt, name) for name in PATH_OPTIONS},
            require_densepose=require_densepose, require_flow=require_flow, validate=validate, plates=plates)
        if dataset.use_label3d and dataset.label3d_channels != opt.label3d_nc:
            raise DataFileError(dataset.files.label3d[0], f'3D label has {dataset.label3d_channels} channels, '
                                                          f'--label3d_nc is {opt.label3d_nc}')
        return dataset

    # -- construction ---------------------------------------------------------------------------
    def _folder(self, kind, paths):
        return os.path.normpath(paths.get(_KIND_OPTION[kind]) or os.path.join(self.root, DEFAULT_FOLDERS[kind]))

    def _check_files(self, paths, require_densepose, validate, plates):
        """Raise one DataFileError listing the missing files and folders and, with validate, every
        problem data.preflight finds in the files this dataset reads."""
        files = self.files
        required = ['pose', 'mask'] + (['flow', 'flow_inv'] if self.load_flow else [])
        if require_densepose or files.iuv is not None:
            required.append('iuv')
        if self.use_label3d:
            required.append('label3d')
        # problems of folders this dataset does not use (e.g. an incomplete LaplaceProj/) are ignored
        unused = [self._folder(kind, paths) for kind in DEFAULT_FOLDERS if kind not in required]
        problems = [p for p in files.problems if not any(_within(p.split(': ', 1)[0], f) for f in unused)]
        for kind in required if files.frames else ():     # without frames nothing else was indexed
            if getattr(files, kind) is None and not any(p.startswith(self._folder(kind, paths)) for p in problems):
                problems.append(f'{self._folder(kind, paths)}: {DEFAULT_FOLDERS[kind]} folder not found')
        if validate:
            problems += file_problems(files, required, plates)
        if problems:
            raise DataFileError(
                self.root,
                f'dataset has {len(problems)} problem{"s" if len(problems) > 1 else ""}:\n'
                f'{_listing(problems)}\nRun `python -m data.check {self.root}` for a full report.')
        for note in files.notes:        # a repeated warning is shown once: once per process for both splits
            if not any(_within(note.split(': ', 1)[0], f) for f in unused):
                warnings.warn(note)

    def _read_poses(self):
        """Read every OpenPose JSON once, keep one tracked person, fill frames without one."""
        people, problems = [], []
        for path in self.files.pose:
            try:
                people.append(read_openpose(path))
            except DataFileError as error:
                problems.append(str(error))
                people.append([])
        if problems:
            raise DataFileError(self.root, f'unreadable OpenPose files:\n{_listing(problems)}')
        tracked = track_person(people)
        detected = np.array([p is not None for p in tracked])
        if not detected.any():
            folder = os.path.dirname(self.files.pose[0])
            raise DataFileError(folder, f'no person detected in any of the {len(tracked)} OpenPose files; '
                                        'rerun OpenPose on the frames or pass --pose_path')
        return fill_missing(tracked), detected

    # -- samples --------------------------------------------------------------------------------
    def __len__(self):
        return len(self.starts)

    def __getitem__(self, index):
        flipped = self.flip and bool(torch.rand(()) < 0.5)
        return self.load_clip(index, flipped)

    def _same_size(self, array, path, what):
        if tuple(array.shape[:2]) != self.frame_size:
            h, w = array.shape[:2]
            raise DataFileError(path, f'{what} is {w}x{h}, the frames are {self.frame_size[1]}x'
                                      f'{self.frame_size[0]}; run `python -m data.check` on the dataset')
        return array

    def load_clip(self, index, flipped=False):
        """The sample of clip `index` (0..len-1), mirrored or not (no randomness)."""
        if not 0 <= index < len(self.starts):
            raise IndexError(f'clip index {index} out of range 0..{len(self.starts) - 1}')
        start = self.starts[index]
        frames = range(start, start + self.clip_length)
        per_frame = [self._load_frame(t, flipped) for t in frames]
        sample = {key: torch.stack([item[key] for item in per_frame]) for key in per_frame[0]}
        for key in ('flow', 'flow_inv') if self.load_flow else ():
            flows = [self._load_flow(getattr(self.files, key)[t], flipped) for t in frames[:-1]]
            sample[key] = torch.stack(flows) if flows else torch.zeros(0, 2, *self.working_size)
        sample.update(index=start, flipped=flipped, paths=[self.files.frames[t] for t in frames])
        return sample

    def _load_frame(self, t, flipped):
        """Frame t's 'pose', 'image', 'parts', 'uv', 'mask' at the working size (see the class docstring)."""
        height, width = self.working_size
        files = self.files
        image = resize_image(self._same_size(read_frame(files.frames[t]), files.frames[t], 'frame'), height, width)
        mask = resize_nearest(self._same_size(read_mask(files.mask[t]), files.mask[t], 'mask'), height, width)
        pose = pose_to_working_size(self.poses[t], self.frame_size, self.working_size)
        iuv = label = None
        if self.has_densepose:
            iuv = resize_nearest(self._same_size(read_iuv(files.iuv[t]), files.iuv[t], 'IUV'), height, width)
        if self.use_label3d:
            label = resize_nearest(read_label3d(files.label3d[t]).transpose(1, 2, 0), height, width)
        if flipped:
            image, mask = image[:, ::-1], mask[:, ::-1]
            pose = flip_pose(pose, width)
            iuv = None if iuv is None else flip_iuv(iuv)
            label = None if label is None else label[:, ::-1]

        network_pose, _ = pose_input(pose, height, width, self.bone_fields)
        if label is not None:
            label = torch.from_numpy(np.ascontiguousarray(label.transpose(2, 0, 1))) * 2 - 1
            network_pose = torch.cat([network_pose, label])
        if iuv is not None:
            parts, uv = (torch.from_numpy(array) for array in iuv_to_uv(iuv))
        else:
            parts, uv = torch.full((height, width), -1, dtype=torch.int64), torch.zeros(2, height, width)
        return {'pose': network_pose, 'image': to_unit_range(image), 'parts': parts, 'uv': uv,
                'mask': torch.from_numpy(np.ascontiguousarray(mask))[None].float()}

    def _load_flow(self, path, flipped):
        """One .flo at the working size (vectors scaled), mirrored if flipped: float32 [2, H, W]."""
        flow = resize_flow(self._same_size(read_flo(path), path, 'flow'), *self.working_size)
        if flipped:
            flow = flip_flow(flow)
        return torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1)))

    # -- per-video inputs -----------------------------------------------------------------------
    def load_background(self, size=None):
        """Background plate bg.jpg as float32 [3, H, W] in [-1, 1], resized to size (H, W) (default:
        the working size)."""
        height, width = size or self.working_size
        try:
            plate = read_frame(self.files.bg)
        except DataFileError as error:
            raise DataFileError(error.path, f'{error.problem} ({PLATE_HINTS["bg"]})') from error
        return to_unit_range(resize_image(plate, height, width))

    def load_texture(self, fill_holes=False):
        """Initial texture atlas texture.jpg via util.atlas.atlas_to_tensor (values in [-1, 1]); with
        fill_holes its black (unseen) texels are filled from their part's seen ones (util.unfold)."""
        try:
            atlas = read_frame(self.files.texture)
        except DataFileError as error:
            raise DataFileError(error.path, f'{error.problem} ({PLATE_HINTS["texture"]})') from error
        return atlas_to_tensor(fill_dark_texels(atlas) if fill_holes else atlas)
