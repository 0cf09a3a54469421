"""Check a dataset in the seed layout before training: every file is read (never written).

    python -m data.check DATA [--img_path DIR] [--densepose_path DIR] ... [--no_densepose] [--quiet]

Reads every frame, IUV, mask, .flo, OpenPose JSON, optional LaplaceProj label, bg.jpg and
texture.jpg; prints a summary (file counts, frame size, share of frames with a person, DensePose and
mask coverage, flow magnitudes) and every problem, each naming its file. Exit status 0 when the
dataset is usable, 2 otherwise. Warnings (suspicious but usable) do not change the exit status.
Frames and plates are checked whole by data.readers.image_size (OpenCV would decode a truncated jpg).
"""
import argparse
import os
from collections import Counter

import numpy as np
from tqdm import tqdm

from data.layout import DEFAULT_FOLDERS, index_dataset
from data.readers import (DataFileError, flo_header, image_size, read_flo, read_iuv, read_label3d, read_mask,
                          read_openpose)
from util.atlas import atlas_tile_size
from util.errors import EXIT_USER_ERROR, run_main

OVERRIDES = ('img_path', 'densepose_path', 'mask_path', 'pose_path', 'label3d_path', 'flow_path',
             'flow_inv_path', 'bg_path', 'texture_path')
_KIND_OVERRIDE = {'iuv': 'densepose_path', 'mask': 'mask_path', 'pose': 'pose_path',
                  'label3d': 'label3d_path', 'flow': 'flow_path', 'flow_inv': 'flow_inv_path'}
PROGRESS_MIN_FILES = 200        # show a progress bar from this many files on
KEYPOINT_MARGIN = 0.05          # keypoints this far (fraction of the frame) outside it are suspicious
MIN_MASK_IOU = 0.5              # mean IoU(DensePose person, mask) below this is suspicious


def _size_text(size):
    return f'{size[1]}x{size[0]}'


def _flo_problem(path, message):
    """A clearer message for a .flo whose data does not match its header (usually truncated)."""
    try:
        header = flo_header(path)
    except OSError:
        return message
    if header is not None:
        width, height, file_size = header
        expected = 12 + 8 * width * height
        if 0 < width < 100000 and 0 < height < 100000 and file_size < expected:
            return (f'{path}: truncated .flo ({file_size} bytes, its {width}x{height} header needs {expected}); '
                    'recompute the flow')
    return message


class _Checker:
    def __init__(self, root, overrides, require_densepose, progress):
        self.root = root
        self.overrides = overrides
        self.require_densepose = require_densepose
        self.files = index_dataset(root, **overrides)
        self.problems = list(self.files.problems)
        self.warnings = []
        self.reference_size = None
        total = len(self.files.frames) + sum(
            len(getattr(self.files, kind) or []) for kind in DEFAULT_FOLDERS) + 2
        self.bar = tqdm(total=total, desc='checking', unit='file',
                        disable=not progress or total < PROGRESS_MIN_FILES)

    def folder(self, kind):
        return self.overrides.get(_KIND_OVERRIDE[kind]) or os.path.join(self.root, DEFAULT_FOLDERS[kind])

    def read(self, reader, path):
        """reader(path), or None with the problem recorded (unpaired paths are already reported)."""
        self.bar.update(1)
        if path is None:
            return None
        try:
            return reader(path)
        except (DataFileError, ValueError, OSError) as error:
            # readers raise DataFileError; anything else they let through still names the file here
            message = str(error) if isinstance(error, DataFileError) else f'{path}: {error}'
            self.problems.append(_flo_problem(path, message) if reader is read_flo else message)
            return None

    def check_size(self, array, path, what):
        size = tuple(array.shape[:2])
        if self.reference_size is not None and size != self.reference_size:
            self.problems.append(f'{path}: {what} is {_size_text(size)}, the frames are '
                                 f'{_size_text(self.reference_size)}')
            return False
        return True

    # -- per kind -------------------------------------------------------------------------------
    def frames(self):
        sizes = {}
        for path in self.files.frames:
            size = self.read(image_size, path)
            if size is not None:
                sizes[path] = size
        if not sizes:
            return
        counted = Counter(sizes.values())
        self.reference_size = counted.most_common(1)[0][0]
        others = len(sizes) - counted[self.reference_size]
        for path, size in sizes.items():
            if size != self.reference_size:
                self.problems.append(f'{path}: frame is {_size_text(size)}, {len(sizes) - others} other '
                                     f'frames are {_size_text(self.reference_size)}; all frames need one size')

    def densepose_and_masks(self, summary):
        files = self.files
        iuv_share, mask_share, ious = [], [], []
        for t in range(len(files.frames)):
            person_iuv = person_mask = None
            if files.iuv is not None:
                iuv = self.read(read_iuv, files.iuv[t])
                if iuv is not None and self.check_size(iuv, files.iuv[t], 'IUV'):
                    person_iuv = iuv[:, :, 0] > 0
                    iuv_share.append(person_iuv.mean())
            if files.mask is not None:
                mask = self.read(read_mask, files.mask[t])
                if mask is not None and self.check_size(mask, files.mask[t], 'mask'):
                    person_mask = mask
                    mask_share.append(mask.mean())
            if person_iuv is not None and person_mask is not None:
                union = np.logical_or(person_iuv, person_mask).sum()
                ious.append(np.logical_and(person_iuv, person_mask).sum() / union if union else 1.0)
        summary['iuv_person_share'] = float(np.mean(iuv_share)) if iuv_share else None
        summary['mask_person_share'] = float(np.mean(mask_share)) if mask_share else None
        summary['iuv_mask_iou'] = float(np.mean(ious)) if ious else None
        if iuv_share and max(iuv_share) == 0:
            self.problems.append(f'{self.folder("iuv")}: no DensePose person pixel in any IUV file')
        if mask_share and max(mask_share) == 0:
            self.problems.append(f'{self.folder("mask")}: every mask is empty (person = grey value > 127)')
        if ious and np.mean(ious) < MIN_MASK_IOU:
            self.warnings.append(f'{self.folder("mask")}: masks and DensePose overlap little '
                                 f'(mean IoU {np.mean(ious):.2f}); are they of the same frames?')

    def openpose(self, summary):
        files = self.files
        if files.pose is None:
            return
        with_person = several = read = 0
        outside, normalised = [], True
        for path in files.pose:
            people = self.read(read_openpose, path)
            if people is None:
                continue
            read += 1
            with_person += bool(people)
            several += len(people) > 1
            for pose in people:
                points = [pose[key] for key in ('body', 'face', 'hand_left', 'hand_right') if pose[key] is not None]
                points = np.concatenate(points)
                points = points[points[:, 2] > 0, :2]
                if not len(points):
                    continue
                normalised &= bool(np.all(points <= 1.0))
                if self.reference_size is not None:
                    height, width = self.reference_size
                    margin = KEYPOINT_MARGIN * max(height, width)
                    if (points.min() < -margin or points[:, 0].max() > width + margin
                            or points[:, 1].max() > height + margin):
                        outside.append(path)
        summary['person_frame_share'] = with_person / read if read else None
        summary['multi_person_frames'] = several
        if read and not with_person:
            self.problems.append(f'{self.folder("pose")}: no person detected in any frame '
                                 f'({read} OpenPose files with empty "people")')
        elif with_person and normalised and self.reference_size and max(self.reference_size) > 2:
            self.problems.append(f'{self.folder("pose")}: every keypoint lies in [0, 1]: normalised '
                                 'coordinates (OpenPose --keypoint_scale); pixel coordinates are needed')
        if outside:
            self.warnings.append(f'{outside[0]}: keypoints outside the {_size_text(self.reference_size)} frame '
                                 f'(in {len(outside)} files); were they computed on resized frames?')

    def flows(self, summary):
        stats = {}
        for kind in ('flow', 'flow_inv'):
            paths = getattr(self.files, kind)
            if paths is None:
                continue
            means, maxima = [], []
            for path in paths:
                flow = self.read(read_flo, path)
                if flow is None or not self.check_size(flow, path, 'flow'):
                    continue
                if not np.isfinite(flow).all():
                    self.problems.append(f'{path}: flow holds NaN or Inf')
                    continue
                magnitude = np.linalg.norm(flow, axis=2)
                means.append(magnitude.mean())
                maxima.append(magnitude.max())
            if means:
                stats[kind] = {'mean': float(np.mean(means)), 'max': float(np.max(maxima))}
        summary['flow_magnitude'] = stats

    def label3d(self, summary):
        paths = self.files.label3d
        if paths is None:
            return
        channels = Counter()
        for path in paths:
            label = self.read(read_label3d, path)
            if label is None:
                continue
            channels[label.shape[0]] += 1
            if self.reference_size is not None:
                ratio = (label.shape[2] / label.shape[1]) / (self.reference_size[1] / self.reference_size[0])
                if abs(ratio - 1) > 0.02:
                    self.problems.append(f'{path}: 3D label is {label.shape[2]}x{label.shape[1]}, '
                                         f'not the aspect ratio of the {_size_text(self.reference_size)} frames')
        summary['label3d_channels'] = sorted(channels)
        if len(channels) > 1:
            self.problems.append(f'{self.folder("label3d")}: 3D labels have different channel counts '
                                 f'{dict(channels)}')

    def plates(self, summary):
        bg = self.read(image_size, self.files.bg)
        if bg is not None:
            summary['bg_size'] = bg
            if self.reference_size is not None and bg != self.reference_size:
                self.warnings.append(f'{self.files.bg}: background is {_size_text(bg)}, '
                                     f'the frames are {_size_text(self.reference_size)}; it will be resized')
        texture = self.read(image_size, self.files.texture)
        if texture is not None:
            try:
                summary['texture_tile'] = atlas_tile_size(*texture)
            except ValueError as error:
                self.problems.append(f'{self.files.texture}: {error}')

    def run(self):
        files = self.files
        summary = {'root': self.root, 'frames_dir': files.frames_dir}
        required = ['pose', 'mask', 'flow', 'flow_inv'] + (['iuv'] if self.require_densepose else [])
        for kind in required if files.frames else ():     # without frames nothing else was indexed
            if getattr(files, kind) is None and not self.overrides.get(_KIND_OVERRIDE[kind]):
                self.problems.append(f'{self.folder(kind)}: {DEFAULT_FOLDERS[kind]} folder not found')
        if files.frames_dir and 0 < len(files.frames) < 2:
            self.problems.append(f'{files.frames_dir}: {len(files.frames)} frame; at least 2 are needed')
        self.frames()
        summary['frame_size'] = self.reference_size
        self.densepose_and_masks(summary)
        self.openpose(summary)
        self.flows(summary)
        self.label3d(summary)
        self.plates(summary)
        self.bar.close()
        summary['counts'] = {
            'frames': len(files.frames),
            **{DEFAULT_FOLDERS[kind]: (None if getattr(files, kind) is None
                                       else sum(p is not None for p in getattr(files, kind)))
               for kind in ('iuv', 'mask', 'pose', 'flow', 'flow_inv', 'label3d')},
            'bg': os.path.isfile(files.bg) if files.bg else False,
            'texture': os.path.isfile(files.texture) if files.texture else False,
        }
        summary['warnings'] = self.warnings
        summary['notes'] = files.notes
        return summary, self.problems


def check_dataset(root, progress=False, require_densepose=True, **overrides):
    """Read every file of a dataset; returns (summary dict, problems list of strings naming files).

    overrides: index_dataset's folder/file options (img_path, densepose_path, ...); None/'' = default.
    Nothing is written. summary keys: root, frames_dir, frame_size (H, W) (the most common one),
    counts {frames, densepose, mask, openpose_json, flow, flow_inv, LaplaceProj: readable-path counts
    or None when the folder is absent; bg, texture: bool}, person_frame_share, multi_person_frames,
    iuv_person_share, mask_person_share, iuv_mask_iou, flow_magnitude {flow / flow_inv: {mean, max}},
    texture_tile, bg_size, label3d_channels, warnings (suspicious but usable findings), notes (folders
    paired with the frames by number, not by name).
    """
    unknown = set(overrides) - set(OVERRIDES)
    if unknown:
        raise TypeError(f'unknown overrides {sorted(unknown)}; known: {OVERRIDES}')
    overrides = {key: value for key, value in overrides.items() if value}
    return _Checker(root, overrides, require_densepose, progress).run()


def _percent(value):
    return '-' if value is None else f'{100 * value:.1f}%'


def format_summary(summary):
    counts = summary['counts']
    lines = [f"Dataset {summary['root']} (frames in {summary['frames_dir'] or '?'})",
             f"  frame size: {_size_text(summary['frame_size']) if summary['frame_size'] else '?'} (W x H)",
             '  files: ' + ', '.join(f'{name} {"-" if count is None else count}' for name, count in counts.items()
                                     if not isinstance(count, bool))
             + f", bg.jpg {'yes' if counts['bg'] else 'no'}, texture.jpg {'yes' if counts['texture'] else 'no'}"]
    if summary.get('texture_tile'):
        lines.append(f"  texture atlas: 6 x 4 tiles of {summary['texture_tile']} px")
    if 'person_frame_share' in summary:
        lines.append(f"  OpenPose: a person in {_percent(summary['person_frame_share'])} of the frames, "
                     f"{summary['multi_person_frames']} frames with several persons")
    lines.append(f"  person pixels: DensePose {_percent(summary.get('iuv_person_share'))}, "
                 f"mask {_percent(summary.get('mask_person_share'))}"
                 + (f", IoU {summary['iuv_mask_iou']:.2f}" if summary.get('iuv_mask_iou') is not None else ''))
    for kind, stats in summary.get('flow_magnitude', {}).items():
        lines.append(f"  {kind}: mean |v| {stats['mean']:.2f} px, max {stats['max']:.2f} px")
    for note in summary['notes']:
        lines.append(f'  pairing: {note}')
    for warning in summary['warnings']:
        lines.append(f'  warning: {warning}')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('dataroot', metavar='DATA', help='dataset folder in the seed layout')
    for name in OVERRIDES:
        parser.add_argument(f'--{name}', default=None, help=f'override the default location ({name})')
    parser.add_argument('--no_densepose', action='store_true', help='a missing densepose/ folder is no problem')
    parser.add_argument('--quiet', action='store_true', help='print only the problems')
    args = parser.parse_args(argv)
    summary, problems = check_dataset(args.dataroot, progress=not args.quiet,
                                      require_densepose=not args.no_densepose,
                                      **{name: getattr(args, name) for name in OVERRIDES})
    if not args.quiet:
        print(format_summary(summary))
    if problems:
        print(f'{len(problems)} problem{"s" if len(problems) > 1 else ""}:')
        for problem in problems:
            print(f'  - {problem}')
        return EXIT_USER_ERROR
    if not args.quiet:
        print('OK: no problems found')
    return 0


if __name__ == '__main__':
    run_main(main)
