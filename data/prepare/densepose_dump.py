"""IUV pngs from a detectron2 DensePose dump (``apply_net.py dump``), without detectron2 installed.

    python -m data.prepare.densepose_dump DUMP.pkl --out DATA/densepose [--frames DATA/<name>] [--overwrite]

The dump is a list with one dict per image: 'file_name', 'scores' [N], 'pred_boxes_XYXY' [N, 4] (float,
frame pixels) and 'pred_densepose', one chart result per person: labels [H, W] long and uv [2, H, W] in
[0, 1], box-sized (H, W = int box height, width). Per image, the highest-scoring person's result is pasted
into a full-frame image at (int x0, int y0), clipped to the frame, as (I, round(U*255), round(V*255)), 0 off
the body, and written as DensePose writes IUVs (data.readers.write_iuv) to OUT/<stem of file_name>_IUV.png.
The frame size comes from the frame of the same stem in --frames, else from the 'height' and 'width' the
dump records. Images without a detection are written all-zero, with one warning listing them. Existing
pngs are kept unless --overwrite. Exit status 0 on success, 2 on an error (the message names the file).
"""
import argparse
import dataclasses
import os
import pickle
import sys
import types
import zipfile
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from data.layout import list_images
from data.prepare.errors import PrepareError
from data.readers import DataFileError, read_frame, write_iuv
from util.densepose import NUM_PARTS
from util.errors import run_main


@dataclasses.dataclass
class ChartResult:
    """Stand-in for densepose.structures.chart_result.DensePoseChartResult."""
    labels: Any = None
    uv: Any = None


@dataclasses.dataclass
class ChartResultWithConfidences(ChartResult):
    """Stand-in for densepose.structures.chart_result.DensePoseChartResultWithConfidences."""
    sigma_1: Any = None
    sigma_2: Any = None
    kappa_u: Any = None
    kappa_v: Any = None
    fine_segm_confidence: Any = None
    coarse_segm_confidence: Any = None


STAND_INS = {'DensePoseChartResult': ChartResult, 'DensePoseChartResultWithConfidences': ChartResultWithConfidences}


class _Unpickler(pickle.Unpickler):
    """Maps densepose's chart result classes to the stand-ins; refuses other densepose/detectron2 classes."""

    def find_class(self, module, name):
        parts = module.split('.')
        if 'densepose' in parts and name in STAND_INS:
            return STAND_INS[name]
        if 'densepose' in parts or parts[0] == 'detectron2':
            raise pickle.UnpicklingError(f'{module}.{name} is not a chart result (only IUV models, '
                                         f'not CSE embeddings, can be converted)')
        return super().find_class(module, name)


_PICKLE_MODULE = types.ModuleType('densepose_dump_pickle')  # torch.load unpickles with its Unpickler
_PICKLE_MODULE.Unpickler = _Unpickler


def load_dump(path):
    """The dump's list of per-image dicts (torch.save zip or a plain pickle); PrepareError names the file."""
    if not os.path.isfile(path):
        raise PrepareError(f'{path}: file not found')
    try:
        if zipfile.is_zipfile(path):
            entries = torch.load(path, map_location='cpu', pickle_module=_PICKLE_MODULE, weights_only=False)
        else:
            with open(path, 'rb') as handle:
                entries = _Unpickler(handle).load()
    except Exception as error:  # any failure to unpickle is the same problem for the user
        raise PrepareError(f'{path}: cannot read the DensePose dump ({type(error).__name__}: {error})') from error
    if not isinstance(entries, list) or not all(isinstance(e, dict) and 'file_name' in e for e in entries):
        raise PrepareError(f'{path}: not an apply_net.py dump (expected a list of dicts with a \'file_name\')')
    return entries


def best_person(entry, dump):
    """(chart result, XYXY box) of the highest-scoring person, or None when the image has no detection."""
    results = entry.get('pred_densepose', [])
    if not isinstance(results, (list, tuple)):
        raise PrepareError(f'{dump}: {entry["file_name"]}: pred_densepose must be a list of chart results')
    if not results:
        return None
    scores, boxes = entry.get('scores'), entry.get('pred_boxes_XYXY')
    if scores is None or boxes is None or len(scores) != len(results) or len(boxes) != len(results):
        raise PrepareError(f'{dump}: {entry["file_name"]}: scores, pred_boxes_XYXY and pred_densepose '
                           f'must list the same persons')
    best = int(np.argmax(np.asarray(scores, dtype=np.float64)))
    result = results[best]
    if not isinstance(result, ChartResult):
        raise PrepareError(f'{dump}: {entry["file_name"]}: pred_densepose holds {type(result).__name__}, '
                           f'not a DensePose chart result')
    return result, np.asarray(boxes[best], dtype=np.float64)


def paste_iuv(height, width, person, where):
    """uint8 [height, width, 3] IUV with the person's box-sized chart result pasted at its box."""
    iuv = np.zeros((height, width, 3), np.uint8)
    if person is None:
        return iuv
    result, box = person
    labels, uv = np.asarray(result.labels), np.asarray(result.uv, dtype=np.float64)
    if labels.ndim != 2 or uv.shape != (2,) + labels.shape:
        raise PrepareError(f'{where}: labels {labels.shape} and uv {uv.shape} must be [H, W] and [2, H, W]')
    if labels.size and not 0 <= labels.min() <= labels.max() <= NUM_PARTS:
        raise PrepareError(f'{where}: part labels must be 0..{NUM_PARTS}')
    x0, y0 = int(box[0]), int(box[1])
    top, left = max(y0, 0), max(x0, 0)
    bottom, right = min(y0 + labels.shape[0], height), min(x0 + labels.shape[1], width)
    if bottom <= top or right <= left:
        return iuv
    part = labels[top - y0:bottom - y0, left - x0:right - x0]
    coords = np.clip(np.rint(uv[:, top - y0:bottom - y0, left - x0:right - x0] * 255), 0, 255)
    iuv[top:bottom, left:right, 0] = part
    iuv[top:bottom, left:right, 1:] = np.where(part[..., None] > 0, coords.transpose(1, 2, 0), 0)
    return iuv


def frame_size_reader(entries, dump, frames_dir):
    """A function entry -> its frame's (height, width); checked for every entry before anything is written."""
    if frames_dir is not None:
        if not os.path.isdir(frames_dir):
            raise PrepareError(f'{frames_dir}: frames folder not found')
        by_stem = {os.path.splitext(name)[0]: os.path.join(frames_dir, name) for name in list_images(frames_dir)}
        missing = [_stem(e) for e in entries if _stem(e) not in by_stem]
        if missing:
            raise PrepareError(f'{frames_dir}: no frame for {len(missing)} dump image(s): {", ".join(missing[:10])}')
        return lambda entry: read_frame(by_stem[_stem(entry)]).shape[:2]
    unsized = [_stem(e) for e in entries if not ('height' in e and 'width' in e)]
    if unsized:
        raise PrepareError(f'{dump}: the dump does not record the image size of {unsized[0]} '
                           f'(apply_net.py dump never does); pass --frames DATA/<name>, the frames it was run on')
    return lambda entry: (int(entry['height']), int(entry['width']))


def _stem(entry):
    return os.path.splitext(os.path.basename(str(entry['file_name'])))[0]


def convert(dump, out_dir, frames_dir=None, overwrite=False, progress=True):
    """Write OUT/<stem>_IUV.png for every image of the dump; returns (written, kept, stems without detection)."""
    entries = load_dump(dump)
    people = [best_person(entry, dump) for entry in entries]
    frame_size = frame_size_reader(entries, dump, frames_dir)
    written, kept, empty = [], [], []
    for entry, person in tqdm(list(zip(entries, people)), desc='densepose', unit='frame', disable=not progress):
        path = os.path.join(out_dir, _stem(entry) + '_IUV.png')
        if os.path.exists(path) and not overwrite:
            kept.append(path)
            continue
        if person is None:
            empty.append(_stem(entry))
        write_iuv(path, paste_iuv(*frame_size(entry), person, f'{dump}: {entry["file_name"]}'))
        written.append(path)
    return written, kept, empty


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('dump', metavar='DUMP.pkl', help='output of detectron2 apply_net.py dump')
    parser.add_argument('--out', required=True, help='folder for the IUV pngs (DATA/densepose)')
    parser.add_argument('--frames', default=None, help='the frames the dump was made from (DATA/<name>), for sizes')
    parser.add_argument('--overwrite', action='store_true', help='replace existing pngs')
    parser.add_argument('--no_progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    try:
        written, kept, empty = convert(args.dump, args.out, args.frames, args.overwrite, not args.no_progress)
    except (PrepareError, DataFileError, OSError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    if empty:
        print(f'warning: no person detected in {len(empty)} frame(s), written all-zero: {", ".join(empty)}',
              file=sys.stderr)
    print(f'wrote {len(written)} IUV png(s) to {args.out}'
          + (f'; kept {len(kept)} existing (pass --overwrite to replace them)' if kept else ''))
    return 0


if __name__ == '__main__':
    run_main(main)
