"""What evaluate.py does: the model (or the oracle) rendered over the evaluation frames, every metric
per frame and its mean, and the report (see evaluate.py and evaluation/report.py)."""
import math
import os

import torch
from tqdm import tqdm

from evaluation.measure import (COLUMNS, TemporalFrame, image_metrics, keep_extremes, open_lpips, part_metrics,
                                summarise, temporal_errors, valid_region)
from evaluation.plan import plan_evaluation
from evaluation.report import prepare_folder, write_report
from util.image import save_image


def evaluate(opt):
    """Everything evaluate.py does for parsed EvalOptions: (page path, the printed summary line)."""
    plan = plan_evaluation(opt)
    source, truth, geometry = plan.source, plan.truth, plan.geometry
    frames = plan.frames(opt.start, opt.how_many)
    lpips, lpips_status = open_lpips(opt.lpips_weights, opt.device)
    prepare_folder(plan.folder)

    rows, ranked, previous = [], [], None
    bar = tqdm(total=len(frames), desc=f'evaluate {plan.name}', unit='frame', dynamic_ncols=True)
    with torch.no_grad():
        for begin in range(0, len(frames), opt.batch_size):
            ts = frames[begin:begin + opt.batch_size]
            rendered = source.render(ts)
            for k, t in enumerate(ts):
                gt = truth.frame(t)
                box = geometry.valid_box(t)
                output, valid = valid_region(rendered['output'][k], box)
                row = {'frame': t + 1, 'file': truth.file_name(t), 'valid': float(valid.mean())}
                if valid.any():
                    row.update(image_metrics(gt['real'], output, gt, box, lpips))
                    if 'part_logits' in rendered and truth.dataset.has_densepose:
                        row.update(part_metrics(rendered['part_logits'][k], rendered['uv'][k], gt, valid))
                current = TemporalFrame(t, output, gt['real'], valid)
                if truth.has_flow and previous is not None and previous.t == t - 1:
                    row.update(temporal_errors(previous, current, *truth.flows(t)))
                previous = current
                if opt.save_frames:
                    save_image(os.path.join(plan.folder, 'frames', f'frame{t + 1:05d}.png'), output)
                if not math.isnan(row.get('psnr', float('nan'))):
                    ranked.append((row['psnr'], t, gt['real'], output))
                rows.append(row)
            ranked = keep_extremes(ranked, opt.show_frames)
            bar.update(len(ts))
    bar.close()

    means, counts = summarise(rows)
    columns = [name for name in COLUMNS if name in counts or (name == 'lpips' and lpips is not None)]
    if lpips is None:
        means['lpips'] = 'unavailable'
    report = {'name': plan.name, 'checkpoint': None if opt.oracle else opt.which_epoch,
              'dataset': os.path.abspath(plan.dataroot), 'phase': plan.phase, 'frames': len(frames),
              'frame_range': [frames[0] + 1, frames[-1] + 1], **plan.info, 'geometry': geometry.summary(),
              'lpips_status': lpips_status, 'mean': means, 'measured_frames': counts}
    page = write_report(plan.folder, f'{plan.name}: evaluation on {plan.dataset_name} ({plan.phase})', report,
                        rows, columns, ranked, opt.show_frames)
    shown = ', '.join(f'{k} {v:.4g}' if isinstance(v, float) else f'{k} {v}' for k, v in means.items())
    return page, (f'{len(frames)} frames of {plan.dataroot} ({plan.phase}) at '
                  f'{geometry.eval_size[1]}x{geometry.eval_size[0]}: {shown}')
