"""Quality metrics of a trained model (or of a synthetic dataset's oracle) against ground-truth frames.

    python evaluate.py --name NAME [--which_epoch latest] [--dataroot DATA] [--phase val|all]
                       [--results_dir ./results] [--lpips_weights FILE] [--align auto|on|off | --no_align]
    python evaluate.py --oracle --dataroot SYNTHETIC_DATA [--phase val|all] [--loadSize N]

The model is rebuilt from its checkpoint (test.py's load_model) and driven by the dataset's own
OpenPose keypoints; its outputs are compared with the dataset's frames. DATA is any dataset in the
seed layout with frames, masks and OpenPose JSON: the training video itself (default; --phase val =
the end that training held out), or another video, e.g. the same synthetic person doing novel moves
(`python -m data.synthetic --motion novel --seed <the training seed>`), at any frame size.
--oracle evaluates, instead of a model, the ground-truth IUV rendered with the true atlas over the
true background (evaluation/oracle.py): the best a static texture can do.

Geometry (where outputs and ground truth are compared)
------------------------------------------------------
The model always renders at the working size it was trained at (H_m, W_m); the comparison happens
at that resolution in the ground truth's frame ("evaluation frame", E):
- If the dataset's frames map to the same working size as training frames would (same aspect ratio,
  any resolution), E is the frame resized exactly as ClipDataset resizes it (E = H_m x W_m) and
  the poses get ClipDataset's keypoint mapping.
- Otherwise (another aspect ratio) E is the frame scaled uniformly to fit inside H_m x W_m (aspect
  kept, INTER_AREA); without alignment E is placed centred in the model's frame (the keypoints
  mapped alike) and the model's output is cropped back to E.
- Alignment (--align on; auto: on when the dataset's frames differ in size from the training
  frames, off when they match, e.g. the val split or the same synthetic person at the same size):
  the dataset's keypoints are mapped onto the trained person's height, floor line and place exactly
  as test.py drives a person (util.pose_align, one scale/translation per frame), and each output is
  mapped back into E with the inverse transform (bilinear). Ground-truth pixels whose preimage lies
  outside the model's frame are not compared (their share is the 'valid' column; all metrics of a
  frame, warping error included, use its valid rectangle).
Outputs are quantised to uint8 first (what test.py writes), ground truth is the dataset's frames
resized as above: every image metric is on 0..255 images. The oracle is compared at the frame size
(or at --loadSize, the long side), rendered at the frame size and resized like the frames.

Metrics (per frame, then the mean over frames; definitions in evaluation/metrics.py)
------------------------------------------------------------------------------
psnr, ssim                  whole frame; ssim Gaussian 11x11, sigma 1.5, channels averaged
lpips                       with --lpips_weights FILE (AlexNet/VGG16 LPIPS); else "unavailable"
psnr_person                 inside the dataset's person mask
psnr_background             outside it
psnr_dynamic                inside gt/dynamic (synthetic: skirt and pose-dependent shading)
psnr_person_static          person mask minus gt/dynamic
psnr_render, psnr_person_render
                            against gt/render (synthetic: the detail-free render), whole / person
warp_error, warp_error_gt   temporal warping error (mean |f_t - warp(f_{t-1}, flow_inv_{t-1})| over
                            forward/backward-consistent pixels, [0, 1] intensity units) of the outputs
                            and, under the same masks, of the ground-truth frames; the first frame
                            has none
part_acc, part_acc_person,  render models (UV generator) on datasets with DensePose: predicted part
uv_error                    (argmax) vs DensePose over all / person pixels, UV error in [0, 1] units on
                            person pixels read from the true part's channels. Their means are pooled
                            over pixels (as pretrainTrans.py reports them), the others averaged over
                            frames. A mean over frames is inf when any frame is identical (PSNR inf).

Written to results_dir/NAME/eval_<phase>_<which_epoch>/ (for a dataset other than the training
dataset: eval_<phase>_<which_epoch>_<dataset name>/; with --oracle results_dir/oracle/eval_<phase>_
<dataset name>/):
    metrics.json     means, settings, geometry, alignment (non-finite values: "inf" / null)
    per_frame.csv    one row per frame (empty cell = not measured)
    images/plot_*.png   metrics over time (drawn with cv2)
    images/best_*.png, images/worst_*.png   by PSNR: real | output | error (|difference| x 4)
    index.html       all of the above
    frames/          with --save_frames: the outputs as compared (ground-truth geometry)
"""
import csv
import io
import json
import math
import os
import re
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from dominate import tags
from tqdm import tqdm

from data.clip_dataset import ClipDataset
from data.transforms import resize_image, resize_nearest, working_size
from data.driving import affine_label, read_sequence
from data.layout import index_dataset
from data.readers import read_flo, read_frame, read_label3d, read_mask
from models.loading import load_model
from options.eval_options import EVAL_PATHS, EvalOptions
from util.flow import resize_flow
from util.html import HTML
from util.image import save_image, tensor_to_image
from util.io import write_atomic
from evaluation.metrics import LPIPS, LPIPSUnavailable, part_accuracy, psnr, ssim, uv_error, warping_errors
from evaluation.oracle import oracle_frames
from util.pose import draw_pose, scale_pose
from util.pose_align import fit_alignment

OWN_FILE = re.compile(r'^((best|worst)_\d+|plot_[a-z_]+|frame\d+)\.png$')
IMAGE_METRICS = ('psnr', 'ssim', 'lpips', 'psnr_person', 'psnr_background', 'psnr_dynamic', 'psnr_person_static',
                 'psnr_render', 'psnr_person_render')
COLUMNS = IMAGE_METRICS + ('warp_error', 'warp_error_gt', 'part_acc', 'part_acc_person', 'uv_error', 'valid')
POOLED = {'part_acc': 'pixels', 'part_acc_person': 'person_pixels', 'uv_error': 'person_pixels'}
ERROR_GAIN = 4

# ---------------------------------------------------------------------------------------------
# Geometry: per-axis maps x' = a x + b, stored as (ax, bx, ay, by); pixel centres at integers
# ---------------------------------------------------------------------------------------------
IDENTITY = (1.0, 0.0, 1.0, 0.0)


def resize_map(src, dst):
    """The pixel-centre map of a resize from src (H, W) to dst (H', W') (ClipDataset's mapping)."""
    sy, sx = dst[0] / src[0], dst[1] / src[1]
    return (sx, 0.5 * sx - 0.5, sy, 0.5 * sy - 0.5)


def compose(second, first):
    """x -> second(first(x))."""
    return (second[0] * first[0], second[0] * first[1] + second[1],
            second[2] * first[2], second[2] * first[3] + second[3])


def invert(m):
    return (1.0 / m[0], -m[1] / m[0], 1.0 / m[2], -m[3] / m[2])


class Geometry:
    """Where the ground-truth frame (G, frame_size), the evaluation frame (E, eval_size) and the
    model's frame (working) lie relative to each other; see the module docstring."""

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
            return compose((1.0, float(self.offset[1]), 1.0, float(self.offset[0])), self.gt_to_eval)
        a = self.alignment
        similarity = (float(a.scale[t]), float(a.dx[t]), float(a.scale[t]), float(a.dy[t]))
        return compose(resize_map(self.train_size, self.working), similarity)

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
    n, _, hm, wm = tensor.shape
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


# ---------------------------------------------------------------------------------------------
# What is evaluated: a model or the oracle. render(ts) -> dict for frames ts (absolute indices):
#   'output' uint8 [B, He, We, 3]; optional 'part_logits' [B, 25, He, We], 'uv' [B, 48, He, We]
# ---------------------------------------------------------------------------------------------
class ModelSource:
    def __init__(self, model, train_opt, dataset, geometry):
        self.model, self.train_opt, self.dataset, self.geometry = model, train_opt, dataset, geometry
        self.labels = None
        if getattr(train_opt, 'use_label3d', False):
            if dataset.files.label3d is None:
                raise SystemExit(f'{dataset.root}: the model was trained with 3D labels (--use_label3d) but the '
                                 'dataset has no LaplaceProj/ folder (pass --label3d_path)')
            self.labels = dataset.files.label3d

    def _pose_input(self, t):
        g = self.geometry
        hm, wm = g.working
        ax, bx, ay, by = g.gt_to_working(t)
        drawn = draw_pose(scale_pose(self.dataset.poses[t], ax, ay, bx, by), hm, wm)
        pose = torch.from_numpy(np.ascontiguousarray(drawn.transpose(2, 0, 1))).float() / 127.5 - 1.0
        if self.labels is not None:
            label = read_label3d(self.labels[t])
            to_gt = resize_map(label.shape[1:], g.frame_size)
            m = compose((ax, bx, ay, by), to_gt)
            matrix = np.array([[m[0], 0, m[1]], [0, m[2], m[3]]], np.float64)
            pose = torch.cat([pose, torch.from_numpy(affine_label(label, matrix, hm, wm)) * 2 - 1])
        return pose

    def render(self, ts):
        result = self.model.infer(torch.stack([self._pose_input(t) for t in ts]))
        out = {'output': result['output'].float()}
        if 'part_logits' in result and 'uv' in result:
            out['part_logits'], out['uv'] = result['part_logits'].float(), result['uv'].float()
        out = {k: v.cpu() for k, v in out.items()}
        g = self.geometry
        if not all(g.is_identity(t) for t in ts):
            maps = [g.eval_to_working(t) for t in ts]
            out = {k: warp_to_eval(v, maps, g.eval_size) for k, v in out.items()}
        out['output'] = np.stack([tensor_to_image(o) for o in out['output']])
        return out


class OracleSource:
    def __init__(self, dataset, geometry, iuv_path=None):
        self.dataset, self.geometry, self.iuv_path = dataset, geometry, iuv_path

    def render(self, ts):
        return {'output': oracle_frames(self.dataset.root, list(ts), self.geometry.eval_size, self.iuv_path)}


# ---------------------------------------------------------------------------------------------
# Ground truth per frame
# ---------------------------------------------------------------------------------------------
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

    def frame(self, t):
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


# ---------------------------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------------------------
def _paths(opt):
    return {name: getattr(opt, name) for name in EVAL_PATHS if getattr(opt, name)}


def frame_size_of(root, img_path=None):
    files = index_dataset(root, img_path=img_path)
    if not files.frames:
        raise SystemExit(f'{root}: no frames found' + (f' ({files.problems[0]})' if files.problems else ''))
    return tuple(read_frame(files.frames[0]).shape[:2])


def open_dataset(opt, root, phase, data_ratio, geometry):
    files = index_dataset(root, **_paths(opt))
    has_flow = files.flow is not None and files.flow_inv is not None and not any(
        'flo' in p for p in files.problems)
    try:
        return ClipDataset(root, phase=phase, load_size=geometry.load_size, clip_length=1,
                           size_multiple=geometry.size_multiple, flip=False, data_ratio=data_ratio,
                           paths=_paths(opt), require_densepose=False, require_flow=has_flow)
    except ValueError as error:        # DataFileError included
        raise SystemExit(f'{root}: {error}') from error


def _same_folder(a, b):
    return bool(a and b) and os.path.realpath(a) == os.path.realpath(b)


def _dataset_name(root):
    return os.path.basename(os.path.normpath(os.path.abspath(root)))


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def result_folder(opt, phase, same_dataset, protected):
    if opt.oracle:
        folder = os.path.join(opt.results_dir, 'oracle', f'eval_{phase}_{_dataset_name(opt.dataroot)}')
    else:
        folder = os.path.join(opt.results_dir, opt.name, f'eval_{phase}_{opt.which_epoch}')
        if not same_dataset:
            folder += '_' + _dataset_name(opt.dataroot)
    for data in protected:
        if data and _inside(folder, data):
            raise SystemExit(f'{folder}: refusing to write results inside the dataset folder {data}; '
                             'choose another --results_dir')
    return folder


def load_alignment(opt, train_opt, dataset, geometry):
    """Fit the dataset's poses to the training person's (as test.py does) and set it on geometry."""
    train_root = train_opt.dataroot
    if not train_root or not os.path.isdir(train_root):
        raise SystemExit(f'alignment needs the training dataset\'s poses and frame size, but {train_root!r} '
                         'is not there: pass --train_dataroot, or --align off')
    train_size = frame_size_of(train_root, getattr(train_opt, 'img_path', None))
    folder = getattr(train_opt, 'pose_path', None) or os.path.join(train_root, 'openpose_json')
    target = read_sequence(folder, 'target poses', opt.max_gap, 0.0)
    try:
        alignment = fit_alignment(dataset.poses, target, window=opt.align_window)
    except ValueError as error:
        raise SystemExit(f'{dataset.root}: {error}') from error
    geometry.set_alignment(alignment, train_size)


def setup(opt):
    """(source, ground truth, geometry, info dict, result folder)."""
    if opt.oracle:
        root = opt.dataroot
        frame_size = frame_size_of(root, opt.img_path)
        long_side = opt.loadSize or max(frame_size)
        eval_size = working_size(*frame_size, long_side, 1)
        geometry = Geometry(frame_size, eval_size, long_side, 1)
        phase = opt.phase or 'all'
        data_ratio = 0.9 if opt.data_ratio is None else opt.data_ratio
        dataset = open_dataset(opt, root, phase, data_ratio, geometry)
        source = OracleSource(dataset, geometry, opt.densepose_path)
        info = {'evaluated': 'oracle (ground-truth IUV x true atlas over the true background)'}
        folder = result_folder(opt, phase, False, [root])
        return source, GroundTruth(dataset), geometry, phase, info, folder

    model, train_opt, working = load_model(os.path.join(opt.checkpoints_dir, opt.name), opt.which_epoch,
                                           opt.device, opt.amp, {'dataroot': opt.train_dataroot})
    if not opt.dataroot:
        opt.dataroot = train_opt.dataroot
    root = opt.dataroot
    same_dataset = _same_folder(root, train_opt.dataroot)
    frame_size = frame_size_of(root, opt.img_path)
    size_multiple = getattr(train_opt, 'size_multiple', None) or 2 ** max(train_opt.n_downsample_translate,
                                                                          train_opt.n_downsample_global)
    geometry = Geometry(frame_size, working, train_opt.loadSize, size_multiple)
    phase = opt.phase or ('val' if same_dataset else 'all')
    data_ratio = train_opt.data_ratio if opt.data_ratio is None else opt.data_ratio
    dataset = open_dataset(opt, root, phase, data_ratio, geometry)
    align = opt.align
    if align == 'auto':
        align = 'off'
        if not same_dataset:
            train_root = train_opt.dataroot
            if not train_root or not os.path.isdir(train_root):
                raise SystemExit(f'--align auto compares the frame size with the training dataset\'s, but '
                                 f'{train_root!r} is not there: pass --train_dataroot, or --align on / off')
            align = 'off' if frame_size_of(train_root, getattr(train_opt, 'img_path', None)) == frame_size else 'on'
    if align == 'on':
        load_alignment(opt, train_opt, dataset, geometry)
    info = {'evaluated': f'{opt.name} checkpoint {opt.which_epoch}', 'training_dataset': train_opt.dataroot,
            'align': align + (' (auto)' if opt.align == 'auto' else '')}
    protected = [root, train_opt.dataroot]
    folder = result_folder(opt, phase, same_dataset, protected)
    return ModelSource(model, train_opt, dataset, geometry), GroundTruth(dataset), geometry, phase, info, folder


# ---------------------------------------------------------------------------------------------
# Evaluation loop
# ---------------------------------------------------------------------------------------------
def _unit(image_uint8):
    """uint8 [H, W, 3] -> float tensor [1, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image_uint8.transpose(2, 0, 1))).float()[None] / 127.5 - 1.0


def error_image(real, output):
    """|real - output| (channel mean) x ERROR_GAIN as an inferno colour map, uint8 RGB."""
    diff = np.abs(real.astype(np.int16) - output.astype(np.int16)).mean(2) * ERROR_GAIN
    grey = np.clip(diff, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def image_metrics(real, output, gt, box, lpips):
    """Per-frame image metrics inside the valid box (dict name -> float)."""
    r0, r1, c0, c1 = box
    a, b = real[r0:r1, c0:c1], output[r0:r1, c0:c1]
    mask = gt['mask'][r0:r1, c0:c1]
    values = {'psnr': psnr(b, a), 'ssim': ssim(b, a), 'psnr_person': psnr(b, a, mask),
              'psnr_background': psnr(b, a, ~mask)}
    if lpips is not None:
        values['lpips'] = float(lpips(_unit(b), _unit(a))[0])
    if 'dynamic' in gt:
        dynamic = gt['dynamic'][r0:r1, c0:c1]
        values['psnr_dynamic'] = psnr(b, a, dynamic)
        values['psnr_person_static'] = psnr(b, a, mask & ~dynamic)
    if 'render' in gt:
        reference = gt['render'][r0:r1, c0:c1]
        values['psnr_render'] = psnr(b, reference)
        values['psnr_person_render'] = psnr(b, reference, mask)
    return values


def evaluate(source, truth, geometry, frames, opt, lpips, folder):
    """Per-frame rows (dicts) and the best/worst frames [(psnr, t, real, output)] by PSNR."""
    rows, ranked = [], []
    previous = None
    height, width = geometry.eval_size
    bar = tqdm(total=len(frames), desc=f'evaluate {opt.name}', unit='frame', dynamic_ncols=True)
    for begin in range(0, len(frames), opt.batch_size):
        ts = frames[begin:begin + opt.batch_size]
        rendered = source.render(ts)
        for k, t in enumerate(ts):
            gt = truth.frame(t)
            real, output = gt['real'], rendered['output'][k].copy()
            box = geometry.valid_box(t)
            r0, r1, c0, c1 = box
            valid = np.zeros((height, width), bool)
            valid[r0:r1, c0:c1] = True
            output[~valid] = 0
            row = {'frame': t + 1, 'file': os.path.basename(truth.dataset.files.frames[t]),
                   'valid': float(valid.mean())}
            if valid.any():
                row.update(image_metrics(real, output, gt, box, lpips))
                if 'part_logits' in rendered and truth.dataset.has_densepose:
                    parts, keep = gt['parts'][None], torch.from_numpy(valid)[None]
                    predicted = rendered['part_logits'][k:k + 1].argmax(1)
                    row['part_acc'] = part_accuracy(predicted, parts, valid=keep)
                    row['part_acc_person'] = part_accuracy(predicted, parts, person_only=True, valid=keep)
                    row['uv_error'] = uv_error(rendered['uv'][k:k + 1], gt['uv'][None], parts, valid=keep)
                    row['pixels'] = int(((parts >= 0) & keep).sum())
                    row['person_pixels'] = int(((parts > 0) & keep).sum())
            current = (torch.from_numpy(output.transpose(2, 0, 1)).float() / 255,
                       torch.from_numpy(real.transpose(2, 0, 1)).float() / 255,
                       torch.from_numpy(valid).float()[None])
            if truth.has_flow and previous is not None and previous[0] == t - 1:
                flow_inv, flow = truth.flows(t)
                valids = torch.stack([previous[3], current[2]])
                for name, index in (('warp_error', 0), ('warp_error_gt', 1)):
                    pair = torch.stack([previous[1 + index], current[index]])
                    row[name] = float(warping_errors(pair, flow_inv[None], flow[None], valids)[0])
            previous = (t,) + current
            if opt.save_frames:
                save_image(os.path.join(folder, 'frames', f'frame{t + 1:05d}.png'), output)
            if not math.isnan(row.get('psnr', float('nan'))):
                ranked.append((row['psnr'], t, real, output))
            rows.append(row)
        ranked = _keep_extremes(ranked, opt.show_frames)
        bar.update(len(ts))
    bar.close()
    return rows, ranked


def _keep_extremes(ranked, count):
    if len(ranked) <= 2 * count:
        return ranked
    ranked = sorted(ranked, key=lambda item: (item[0], item[1]))
    return ranked[:count] + ranked[-count:]


def summarise(rows):
    """Means over frames (pooled over pixels for part / UV metrics) and measured-frame counts."""
    means, counts = {}, {}
    for name in COLUMNS:
        values = [row[name] for row in rows if name in row and not math.isnan(row[name])]
        if not values:
            continue
        counts[name] = len(values)
        if name in POOLED:
            weights = [row[POOLED[name]] for row in rows if name in row and not math.isnan(row[name])]
            means[name] = float(np.sum(np.array(values) * weights) / max(np.sum(weights), 1))
        else:
            means[name] = float(np.mean(values))
    return means, counts


# ---------------------------------------------------------------------------------------------
# Outputs: JSON, CSV, plots, page
# ---------------------------------------------------------------------------------------------
def _json_value(value):
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return 'inf' if value > 0 else '-inf'
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def write_csv(path, rows, columns):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(['frame', 'file'] + list(columns))
    for row in rows:
        cells = [row['frame'], row['file']]
        for name in columns:
            value = row.get(name, float('nan'))
            cells.append('' if math.isnan(value) else ('inf' if math.isinf(value) else f'{value:.6g}'))
        writer.writerow(cells)
    write_atomic(path, buffer.getvalue())


PLOT_COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207))


def plot_series(path, title, x, series, size=(300, 900)):
    """A line plot drawn with cv2: series = [(label, values)] over x (frame numbers); NaN breaks a
    line, +inf is drawn on the top edge. Writes an RGB png."""
    height, width = size
    left, right, top, bottom = 64, 16, 30, 36
    canvas = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(canvas, title, (left, 20), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    finite = np.concatenate([np.asarray(v, np.float64)[np.isfinite(v)] for _, v in series] + [np.zeros(0)])
    x = np.asarray(x, np.float64)
    if not len(finite) or not len(x):
        cv2.putText(canvas, 'no finite values', (left, height // 2), font, 0.5, (90, 90, 90), 1, cv2.LINE_AA)
        save_image(path, canvas)
        return
    lo, hi = float(finite.min()), float(finite.max())
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1e-3)
    lo, hi = lo - pad, hi + pad
    x0, x1 = float(x.min()), float(x.max()) if x.max() > x.min() else float(x.min()) + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(xv, yv):
        return (int(round(left + (xv - x0) / (x1 - x0) * plot_w)),
                int(round(top + (hi - min(yv, hi)) / (hi - lo) * plot_h)))

    cv2.rectangle(canvas, (left, top), (left + plot_w, top + plot_h), (0, 0, 0), 1)
    for k in range(5):
        value = lo + (hi - lo) * k / 4
        _, y = px(x0, value)
        cv2.line(canvas, (left - 4, y), (left + plot_w, y), (225, 225, 225) if 0 < k < 4 else (0, 0, 0), 1)
        cv2.putText(canvas, f'{value:.4g}', (2, y + 4), font, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    for k in range(6):
        value = x0 + (x1 - x0) * k / 5
        xp, _ = px(value, lo)
        cv2.line(canvas, (xp, top + plot_h), (xp, top + plot_h + 4), (0, 0, 0), 1)
        cv2.putText(canvas, f'{value:.0f}', (xp - 10, top + plot_h + 18), font, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(canvas, 'frame', (left + plot_w // 2 - 18, height - 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for index, (label, values) in enumerate(series):
        colour = PLOT_COLOURS[index % len(PLOT_COLOURS)]
        values = np.asarray(values, np.float64)
        points = []
        for xv, yv in zip(x, values):
            if np.isnan(yv) or yv == -np.inf:
                if len(points) > 1:
                    cv2.polylines(canvas, [np.array(points, np.int32)], False, colour, 1, cv2.LINE_AA)
                elif points:
                    cv2.circle(canvas, points[0], 2, colour, -1)
                points = []
                continue
            points.append(px(xv, yv))
        if len(points) > 1:
            cv2.polylines(canvas, [np.array(points, np.int32)], False, colour, 1, cv2.LINE_AA)
        elif points:
            cv2.circle(canvas, points[0], 2, colour, -1)
        lx = left + 300 + 135 * index          # legend on the title line, outside the plot
        cv2.line(canvas, (lx, 16), (lx + 18, 16), colour, 2)
        cv2.putText(canvas, label, (lx + 22, 20), font, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    save_image(path, canvas)


PLOTS = (('psnr', 'PSNR (dB)', ('psnr', 'psnr_person', 'psnr_background', 'psnr_dynamic')),
         ('ssim', 'SSIM', ('ssim',)),
         ('lpips', 'LPIPS', ('lpips',)),
         ('warp_error', 'temporal warping error ([0, 1] units)', ('warp_error', 'warp_error_gt')),
         ('parts', 'UV generator vs DensePose', ('part_acc', 'part_acc_person', 'uv_error')))


def write_plots(folder, rows, columns):
    written = []
    x = [row['frame'] for row in rows]
    for name, title, metrics in PLOTS:
        present = [m for m in metrics if m in columns]
        if not present:
            continue
        path = os.path.join('images', f'plot_{name}.png')
        plot_series(os.path.join(folder, path), title, x,
                    [(m, [row.get(m, float('nan')) for row in rows]) for m in present])
        written.append((path, title))
    return written


def write_extremes(folder, ranked, count):
    """images/best_k.png, worst_k.png: real | output | error; returns [(path, caption)]."""
    ordered = sorted(ranked, key=lambda item: (item[0], item[1]))
    worst, best = ordered[:count], ordered[::-1][:count]
    written = []
    for kind, items in (('best', best), ('worst', worst)):
        for k, (value, t, real, output) in enumerate(items, 1):
            path = os.path.join('images', f'{kind}_{k}.png')
            save_image(os.path.join(folder, path), np.concatenate([real, output, error_image(real, output)], 1))
            caption = f'{kind} {k}: frame {t + 1}, PSNR {value:.2f} dB (real | output | error x{ERROR_GAIN})'
            written.append((path, caption))
    return written


def describe_geometry(info):
    def size(hw):
        return f'{hw[1]}x{hw[0]}'
    text = (f"frames {size(info['frame_size'])} compared at {size(info['eval_size'])} ({info['mode']}); model frame "
            f"{size(info['model_working_size'])}")
    align = info['alignment']
    if align['mode'] == 'off':
        offset = info['offset_in_model_frame']
        return text + (f', placed at row {offset[0]}, column {offset[1]}' if any(offset) else '') + '; no alignment'
    return text + f"; alignment {align['mode']}: scale {align.get('scale')}, dx {align.get('dx')}, dy {align.get('dy')}"


def write_page(folder, title, report, plots, extremes):
    page = HTML(folder, title)
    page.add_header('settings', level=4)
    settings = [['dataset', report['dataset']], ['phase', f"{report['phase']} (frames {report['frame_range'][0]}"
                                                          f"..{report['frame_range'][1]}, {report['frames']} frames)"],
                ['evaluated', report['evaluated']], ['geometry', describe_geometry(report['geometry'])],
                ['LPIPS', report['lpips_status']]]
    if 'align' in report:
        settings.append(['alignment', report['align']])
    page.add_table(settings)
    page.add_header('means over frames (part / UV metrics pooled over pixels)', level=4)
    page.add_table([[name, value, report['measured_frames'].get(name, 0)] for name, value in report['mean'].items()],
                   header=['metric', 'mean', 'frames'])
    for path, caption in plots:
        page.add_images([path], [caption], width=900)
    for path, caption in extremes:
        page.add_images([path], [caption], width=3 * 256)
    page.doc.add(tags.p(tags.a('metrics.json', href='metrics.json'), ' | ',
                        tags.a('per_frame.csv', href='per_frame.csv')))
    return page.save()


def prepare_folder(folder):
    for sub in ('images', 'frames'):
        path = os.path.join(folder, sub)
        if os.path.isdir(path):
            for name in os.listdir(path):
                if OWN_FILE.match(name):
                    os.remove(os.path.join(path, name))
    os.makedirs(os.path.join(folder, 'images'), exist_ok=True)


def main(argv=None):
    opt = EvalOptions().parse(argv)
    source, truth, geometry, phase, info, folder = setup(opt)
    dataset = truth.dataset
    frames = list(range(dataset.first_frame, dataset.end_frame))[opt.start:]
    if opt.how_many is not None:
        frames = frames[:opt.how_many]
    if not frames:
        raise SystemExit(f'{opt.dataroot}: --start {opt.start} leaves no frame of phase {phase}')
    lpips, lpips_status = None, 'unavailable'
    try:
        lpips = LPIPS(opt.lpips_weights, device=opt.device)
        lpips_status = f'{lpips.kind} ({opt.lpips_weights})'
    except LPIPSUnavailable as error:
        lpips_status = f'unavailable: {error}'
        print(f'LPIPS {lpips_status}', file=sys.stderr)
    prepare_folder(folder)
    with torch.no_grad():
        rows, ranked = evaluate(source, truth, geometry, frames, opt, lpips, folder)
    means, counts = summarise(rows)
    columns = [name for name in COLUMNS if name in counts or (name == 'lpips' and lpips is not None)]
    mean_report = dict(means)
    if lpips is None:
        mean_report['lpips'] = 'unavailable'
    report = {'name': opt.name, 'checkpoint': None if opt.oracle else opt.which_epoch,
              'dataset': os.path.abspath(opt.dataroot), 'phase': phase, 'frames': len(frames),
              'frame_range': [frames[0] + 1, frames[-1] + 1], **info, 'geometry': geometry.summary(),
              'lpips_status': lpips_status, 'mean': mean_report, 'measured_frames': counts}
    write_atomic(os.path.join(folder, 'metrics.json'), json.dumps(_json_value(report), indent=1))
    write_csv(os.path.join(folder, 'per_frame.csv'), rows, columns)
    plots = write_plots(folder, rows, columns)
    extremes = write_extremes(folder, ranked, opt.show_frames)
    page = write_page(folder, f'{opt.name}: evaluation on {_dataset_name(opt.dataroot)} ({phase})',
                      report, plots, extremes)
    shown = ', '.join(f'{k} {v:.4g}' if isinstance(v, float) else f'{k} {v}' for k, v in mean_report.items())
    print(f'{len(frames)} frames of {opt.dataroot} ({phase}) at {geometry.eval_size[1]}x{geometry.eval_size[0]}: '
          f'{shown}\n  {page}')
    return folder


if __name__ == '__main__':
    main()
    sys.exit(0)
