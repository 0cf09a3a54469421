"""The oracle of a synthetic dataset: what a perfect static renderer would output.

For each frame the ground-truth IUV (DIR/densepose/, exact charts rounded to 1/255) samples the true
texture atlas (DIR/gt/atlas.png) with hard part ids (util.texture_sampling.render, bilinear), composited over
the true background (DIR/gt/bg.png) wherever the IUV is background. It has the right geometry and
the right texture but none of the dynamic details (pose-dependent shading, creases, the skirt), so
against the real frames it measures what a static texture cannot explain, and against the
detail-free renders (DIR/gt/render/) it is exact up to the IUV's 1/255 rounding.

Frames are rendered at the dataset's frame size and then resized exactly like frames are
(data.clip_dataset.resize_image: INTER_AREA when shrinking), so they line up with resized real frames.
"""
import os

import numpy as np
import torch

from data.transforms import resize_image
from data.layout import index_dataset
from data.readers import read_frame, read_iuv
from util.atlas import atlas_to_tensor, iuv_to_uv, part_uv_channels
from util.image import tensor_to_image
from util.texture_sampling import render

GT_FILES = ('atlas.png', 'bg.png')


def true_appearance(dataset_dir):
    """(atlas [1, 72, T, T] in [-1, 1], background uint8 [H, W, 3]) of a synthetic dataset: DIR/gt/."""
    missing = [os.path.join(dataset_dir, 'gt', n) for n in GT_FILES
               if not os.path.isfile(os.path.join(dataset_dir, 'gt', n))]
    if missing:
        raise FileNotFoundError(f'{missing[0]}: not found; the oracle needs a synthetic dataset\'s ground truth '
                                '(python -m data.synthetic writes gt/atlas.png and gt/bg.png)')
    atlas = read_frame(os.path.join(dataset_dir, 'gt', 'atlas.png'))
    background = read_frame(os.path.join(dataset_dir, 'gt', 'bg.png'))
    return atlas_to_tensor(atlas)[None], background


def render_iuv(texture, iuv, background):
    """One oracle frame at the IUV's size.

    texture: [1, 72, T, T] in [-1, 1] (atlas_to_tensor); iuv: uint8 [H, W, 3]; background: uint8
    [H, W, 3] -> uint8 [H, W, 3]: the texture at each person pixel's (U, V), the background elsewhere.
    """
    if background.shape[:2] != iuv.shape[:2]:
        raise ValueError(f'oracle: background {background.shape[:2]} and IUV {iuv.shape[:2]} differ in size')
    parts, uv = (torch.from_numpy(array)[None] for array in iuv_to_uv(iuv))
    with torch.no_grad():
        person = render(texture, part_uv_channels(parts, uv), parts)[0]
    return np.where((parts[0] > 0).numpy()[..., None], tensor_to_image(person), background)


def oracle_frames(dataset_dir, indices, size=None, iuv_path=None):
    """Oracle frames of a synthetic dataset.

    dataset_dir: a dataset written by data.synthetic (seed layout + gt/); indices: 0-based frame
    indices (sorted frame order); size: (H, W) to resize to (default: the frame size);
    iuv_path: another DensePose folder (default DIR/densepose).
    -> uint8 [len(indices), H, W, 3].
    """
    texture, background = true_appearance(dataset_dir)
    files = index_dataset(dataset_dir, densepose_path=iuv_path)
    if files.iuv is None:
        raise FileNotFoundError(f'{iuv_path or os.path.join(dataset_dir, "densepose")}: DensePose folder not found '
                                '(the oracle renders the ground-truth IUV)')
    height, width = size or background.shape[:2]
    out = np.empty((len(indices), height, width, 3), np.uint8)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # one small frame at a time: threads only add overhead
    try:
        for k, t in enumerate(indices):
            if not 0 <= t < len(files.iuv) or files.iuv[t] is None:
                raise IndexError(f'{dataset_dir}: frame index {t} has no IUV file ({len(files.iuv)} frames)')
            frame = render_iuv(texture, read_iuv(files.iuv[t]), background)
            out[k] = resize_image(frame, height, width)
    finally:
        torch.set_num_threads(threads)
    return out
