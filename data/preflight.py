"""Cheap checks of every file a training run will read, made before its first step: a damaged file late
in the video stops the run at once, listed with every other problem, instead of hours in.

Per file (data.readers does the reading):
  frames, masks     size from the header, and the file whole (``image_size``: a jpg decoded at 1/8
                    scale to its end, a png's checksums); the frames must share one size
  IUV               decoded (``read_iuv``: channels, 8 bits, part indices 0..24)
  flow, flow_inv    header and exact file length (``flo_shape``; the flow itself is not read)
  OpenPose JSON     parsed (``read_openpose``)
  3D labels         header (.npy) or whole-file check (images); their size may differ
  bg, texture       whole-file check; the atlas must be 6 x 4 square tiles
IUVs, masks and flows must have the frames' size. Files are checked on a thread pool (the decoders
release the GIL). Cost for 4,000 frames at 512x512 (bench/preflight_speed.py): 20 s on one thread
of a loaded 2-core machine (5 ms a frame: two thirds decoding the IUV png, a quarter the jpg frame).
"""
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from data.readers import DataFileError, flo_shape, image_size, read_iuv, read_openpose
from util.atlas import atlas_tile_size

MAX_WORKERS = 8
PLATE_HINTS = {'bg': 'background plate; pass --bg_path',
               'texture': 'texture atlas; make it with unfold_texture.py or pass --texture_path'}
_WHAT = {'frames': 'frame', 'iuv': 'IUV', 'mask': 'mask', 'flow': 'flow', 'flow_inv': 'flow'}


def _label3d_header(path):
    if path.lower().endswith('.npy'):
        try:
            np.load(path, mmap_mode='r', allow_pickle=False)
        except (ValueError, OSError) as error:
            raise DataFileError(path, f'cannot read .npy ({error})') from error
    else:
        image_size(path)


def _texture_size(path):
    height, width = image_size(path)
    try:
        atlas_tile_size(height, width)
    except ValueError as error:
        raise DataFileError(path, str(error)) from error


_CHECKS = {'frames': image_size, 'mask': image_size, 'iuv': lambda path: read_iuv(path).shape[:2],
           'flow': flo_shape, 'flow_inv': flo_shape, 'pose': read_openpose, 'label3d': _label3d_header,
           'bg': image_size, 'texture': _texture_size}


def _check(kind, path):
    """(size (H, W) for the kinds that must match the frames, else None; problem or None) of one file."""
    try:
        result = _CHECKS[kind](path)
    except DataFileError as error:
        hint = PLATE_HINTS.get(kind)
        return None, f'{error} ({hint})' if hint else str(error)
    except (OSError, ValueError) as error:
        return None, f'{path}: {error}'
    return (tuple(result) if kind in _WHAT else None), None


def _size_text(size):
    return f'{size[1]}x{size[0]}'


def file_problems(files, kinds, plates=(), workers=None):
    """Problems (strings naming the file) of the per-frame ``kinds`` of ``files`` (data.layout.DatasetFiles;
    'frames', 'iuv', 'mask', 'pose', 'flow', 'flow_inv', 'label3d'; a kind whose folder is absent is
    skipped) and of the ``plates`` ('bg', 'texture'). Unpaired (None) paths are index problems already."""
    jobs = [(kind, path) for kind in ('frames', *kinds) for path in (getattr(files, kind) or []) if path]
    jobs += [(plate, getattr(files, plate)) for plate in plates]
    workers = workers or min(MAX_WORKERS, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda job: _check(*job), jobs))
    problems = [problem for _, problem in results if problem]
    frame_sizes = {path: size for (kind, path), (size, _) in zip(jobs, results) if kind == 'frames' and size}
    if not frame_sizes:
        return problems
    counted = Counter(frame_sizes.values())
    reference, share = counted.most_common(1)[0]
    for (kind, path), (size, _) in zip(jobs, results):
        if size is None or size == reference:
            continue
        if kind == 'frames':
            problems.append(f'{path}: frame is {_size_text(size)}, {share} other frames are '
                            f'{_size_text(reference)}; all frames need one size')
        else:
            problems.append(f'{path}: {_WHAT[kind]} is {_size_text(size)}, the frames are {_size_text(reference)}')
    return problems
