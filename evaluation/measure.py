"""One frame's metrics (a row of per_frame.csv) from its output and ground truth, and the means over
frames; the definitions of the metrics are in evaluation/metrics.py."""
import math
import sys

import numpy as np
import torch

from evaluation.metrics import LPIPS, LPIPSUnavailable, part_accuracy, psnr, ssim, uv_error, warping_errors

IMAGE_METRICS = ('psnr', 'ssim', 'lpips', 'psnr_person', 'psnr_background', 'psnr_dynamic', 'psnr_person_static',
                 'psnr_render', 'psnr_person_render')
COLUMNS = IMAGE_METRICS + ('warp_error', 'warp_error_gt', 'part_acc', 'part_acc_person', 'uv_error', 'valid')
POOLED = {'part_acc': 'pixels', 'part_acc_person': 'person_pixels', 'uv_error': 'person_pixels'}


def open_lpips(weights, device):
    """(LPIPS metric or None, a line saying which backbone file or why it is unavailable); weights: the
    --lpips_weights file or None (the torch hub cache)."""
    try:
        lpips = LPIPS(weights, device=device)
    except LPIPSUnavailable as error:
        status = f'unavailable: {error}'
        print(f'LPIPS {status}', file=sys.stderr)
        return None, status
    return lpips, f'{lpips.kind} ({lpips.source})'


def _unit(image_uint8):
    """uint8 [H, W, 3] -> float tensor [1, 3, H, W] in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image_uint8.transpose(2, 0, 1))).float()[None] / 127.5 - 1.0


def valid_region(output, box):
    """(output with the pixels outside box blacked out, the bool [H, W] mask of box)."""
    r0, r1, c0, c1 = box
    valid = np.zeros(output.shape[:2], bool)
    valid[r0:r1, c0:c1] = True
    output = output.copy()
    output[~valid] = 0
    return output, valid


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


def part_metrics(part_logits, uv, gt, valid):
    """UV generator vs DensePose on the valid pixels: part accuracy (all / person pixels), UV error and
    the pixel counts the means pool over. part_logits [25, H, W], uv [48, H, W], valid bool [H, W]."""
    parts, keep = gt['parts'][None], torch.from_numpy(valid)[None]
    predicted = part_logits[None].argmax(1)
    return {'part_acc': part_accuracy(predicted, parts, valid=keep),
            'part_acc_person': part_accuracy(predicted, parts, person_only=True, valid=keep),
            'uv_error': uv_error(uv[None], gt['uv'][None], parts, valid=keep),
            'pixels': int(((parts >= 0) & keep).sum()),
            'person_pixels': int(((parts > 0) & keep).sum())}


class TemporalFrame:
    """One frame as the warping error reads it: output and real [3, H, W] in [0, 1], valid [1, H, W]."""

    def __init__(self, t, output, real, valid):
        self.t = t
        self.images = (torch.from_numpy(output.transpose(2, 0, 1)).float() / 255,
                       torch.from_numpy(real.transpose(2, 0, 1)).float() / 255)
        self.valid = torch.from_numpy(valid).float()[None]


def temporal_errors(previous, current, flow_inv, flow):
    """Warping error of the outputs ('warp_error') and of the ground truth ('warp_error_gt') from frame
    previous to frame current, under both frames' valid masks; flow_inv, flow [2, H, W] of that pair."""
    valids = torch.stack([previous.valid, current.valid])
    return {name: float(warping_errors(torch.stack([previous.images[index], current.images[index]]),
                                       flow_inv[None], flow[None], valids)[0])
            for name, index in (('warp_error', 0), ('warp_error_gt', 1))}


def keep_extremes(ranked, count):
    """The count lowest and count highest of [(psnr, t, ...)] (all of them when there are few)."""
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
