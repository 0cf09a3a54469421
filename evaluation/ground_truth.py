"""What outputs are compared with: a dataset's frames, masks, DensePose, flows and synthetic references
(gt/dynamic, gt/render), read through the clip dataset and resized to the evaluation frame."""
import os

import numpy as np
import torch

from data.clip_dataset import ClipDataset
from data.layout import index_dataset
from data.readers import read_flo, read_frame, read_mask
from data.transforms import resize_image, resize_nearest
from options.eval_options import EVAL_PATHS
from util.flow import resize_flow
from util.image import tensor_to_image


class GroundTruth:
    """The dataset's frames and references at the evaluation size."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.size = tuple(dataset.working_size)
        gt = os.path.join(dataset.root, 'gt')
        self.stems = [os.path.splitext(os.path.basename(p))[0] for p in dataset.files.frames]
        self.dynamic_dir = os.path.join(gt, 'dynamic') if os.path.isdir(os.path.join(gt, 'dynamic')) else None
        self.render_dir = os.path.join(gt, 'render') if os.path.isdir(os.path.join(gt, 'render')) else None
        files = dataset.files
        self.has_flow = files.flow is not None and files.flow_inv is not None and \
            len(files.flow) == len(files.flow_inv) == len(files.frames) - 1

    def _gt_file(self, folder, t):
        path = os.path.join(folder, self.stems[t] + '.png')
        if not os.path.isfile(path):
            raise SystemExit(f'{path}: missing (ground truth of frame {self.stems[t]})')
        return path

    def file_name(self, t):
        return os.path.basename(self.dataset.files.frames[t])

    def frame(self, t):
        """Frame t: 'real' uint8 [H, W, 3], 'mask' bool [H, W], 'parts' [H, W], 'uv' [2, H, W]; with the
        synthetic references 'dynamic' bool [H, W] and 'render' uint8 [H, W, 3]."""
        sample = self.dataset.load_clip(t - self.dataset.first_frame)
        item = {'real': tensor_to_image(sample['image'][0]), 'mask': sample['mask'][0, 0].numpy() > 0.5,
                'parts': sample['parts'][0], 'uv': sample['uv'][0]}
        height, width = self.size
        if self.dynamic_dir:
            item['dynamic'] = resize_nearest(read_mask(self._gt_file(self.dynamic_dir, t)), height, width)
        if self.render_dir:
            item['render'] = resize_image(read_frame(self._gt_file(self.render_dir, t)), height, width)
        return item

    def flows(self, t):
        """(flow_inv, flow) of the pair (t-1, t) at the evaluation size: torch [2, H, W] each."""
        files = self.dataset.files
        return tuple(torch.from_numpy(np.ascontiguousarray(resize_flow(read_flo(path), *self.size)
                                                           .transpose(2, 0, 1)))
                     for path in (files.flow_inv[t - 1], files.flow[t - 1]))


def dataset_paths(opt):
    """The dataset folders overridden on the command line (name -> path)."""
    return {name: getattr(opt, name) for name in EVAL_PATHS if getattr(opt, name)}


def frame_size_of(root, img_path=None):
    files = index_dataset(root, img_path=img_path)
    if not files.frames:
        raise SystemExit(f'{root}: no frames found' + (f' ({files.problems[0]})' if files.problems else ''))
    return tuple(read_frame(files.frames[0]).shape[:2])


def open_ground_truth(opt, root, phase, data_ratio, geometry):
    """GroundTruth of the dataset at root, its frames resized to geometry's evaluation frame."""
    paths = dataset_paths(opt)
    files = index_dataset(root, **paths)
    has_flow = files.flow is not None and files.flow_inv is not None and not any(
        'flo' in p for p in files.problems)
    try:
        dataset = ClipDataset(root, phase=phase, load_size=geometry.load_size, clip_length=1,
                              size_multiple=geometry.size_multiple, flip=False, data_ratio=data_ratio,
                              paths=paths, require_densepose=False, require_flow=has_flow)
    except ValueError as error:        # DataFileError included
        raise SystemExit(f'{root}: {error}') from error
    return GroundTruth(dataset)
