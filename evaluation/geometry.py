"""Where outputs and ground truth are compared: the ground-truth frame (G, the dataset's frame size),
the evaluation frame (E, the ground truth resized to the model's resolution) and the model's frame
(its working size), and the per-axis maps between them (util.geometry).

- Frames that map to the model's working size as training frames would (same aspect ratio, any
  resolution): E is the frame resized as the loader resizes it (E = the working size) ('resize').
- Another aspect ratio: E is the frame scaled uniformly to fit inside the working size, placed
  centred in the model's frame ('fit').
- With an alignment (util.pose_align), frame t's keypoints go to the trained person's height and
  place; the model's output goes back into E through the inverse map.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from data.transforms import working_size
from util.geometry import IDENTITY, compose, invert, resize_map, similarity


class Geometry:
    """Where the ground-truth frame (G, frame_size), the evaluation frame (E, eval_size) and the
    model's frame (working) lie relative to each other."""

    def __init__(self, frame_size, working, load_size, size_multiple):
        self.frame_size, self.working = tuple(frame_size), tuple(working)
        (hg, wg), (hm, wm) = self.frame_size, self.working
        if working_size(hg, wg, load_size, size_multiple) == self.working:
            self.mode = 'resize'
            self.load_size, self.size_multiple = load_size, size_multiple
            self.eval_size, self.offset = self.working, (0, 0)
        else:
            self.mode = 'fit'
            scale = min(hm / hg, wm / wg)
            self.load_size, self.size_multiple = max(1, int(round(max(hg, wg) * scale))), 1
            self.eval_size = working_size(hg, wg, self.load_size, 1)
            self.offset = ((hm - self.eval_size[0]) // 2, (wm - self.eval_size[1]) // 2)
        self.gt_to_eval = resize_map(self.frame_size, self.eval_size)
        self.alignment, self.train_size = None, None

    def set_alignment(self, alignment, train_size):
        """alignment: util.pose_align.Alignment of every dataset frame (G -> training frame pixels)."""
        self.alignment, self.train_size = alignment, tuple(train_size)

    def gt_to_working(self, t):
        """Map of frame t's ground-truth pixels (and keypoints) to the model's pixels."""
        if self.alignment is None:
            return compose(similarity(1.0, float(self.offset[1]), float(self.offset[0])), self.gt_to_eval)
        a = self.alignment
        return compose(resize_map(self.train_size, self.working),
                       similarity(float(a.scale[t]), float(a.dx[t]), float(a.dy[t])))

    def eval_to_working(self, t):
        return compose(self.gt_to_working(t), invert(self.gt_to_eval))

    def is_identity(self, t):
        return np.allclose(self.eval_to_working(t), IDENTITY, atol=1e-9) and self.eval_size == self.working

    def valid_box(self, t):
        """(row0, row1, col0, col1) of the evaluation pixels whose preimage lies inside the model's
        frame (within half a pixel of its border pixels); an empty box has row0 >= row1 or col0 >= col1."""
        ax, bx, ay, by = self.eval_to_working(t)
        (he, we), (hm, wm) = self.eval_size, self.working

        def span(a, b, size_out, size_in):
            lo = math.ceil((-0.5 - b) / a - 1e-6)
            hi = math.floor((size_in - 0.5 - b) / a + 1e-6)
            return max(lo, 0), min(hi + 1, size_out)
        r0, r1 = span(ay, by, he, hm)
        c0, c1 = span(ax, bx, we, wm)
        return r0, r1, c0, c1

    def summary(self):
        info = {'frame_size': list(self.frame_size), 'model_working_size': list(self.working),
                'eval_size': list(self.eval_size), 'mode': self.mode,
                'offset_in_model_frame': list(self.offset) if self.alignment is None else None}
        info['alignment'] = self.alignment.summary() if self.alignment is not None else {'mode': 'off'}
        return info


def warp_to_eval(tensor, maps, eval_size):
    """Resample model-frame tensors [N, C, Hm, Wm] into the evaluation frame [N, C, He, We]
    (bilinear, border replicated); maps[k] = eval -> model pixel map of item k."""
    _, _, hm, wm = tensor.shape
    he, we = eval_size
    ys = torch.arange(he, dtype=torch.float32)
    xs = torch.arange(we, dtype=torch.float32)
    grids = []
    for ax, bx, ay, by in maps:
        gx = (ax * xs + bx) * (2.0 / max(wm - 1, 1)) - 1.0
        gy = (ay * ys + by) * (2.0 / max(hm - 1, 1)) - 1.0
        grids.append(torch.stack(torch.broadcast_tensors(gx[None, :], gy[:, None]), -1))
    grid = torch.stack(grids).to(tensor.device, tensor.dtype)
    return F.grid_sample(tensor, grid, mode='bilinear', padding_mode='border', align_corners=True)
