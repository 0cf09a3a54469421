"""Quality metrics of a trained model (or of a synthetic dataset's oracle) against ground-truth frames.

    python evaluate.py --name NAME [--which_epoch latest] [--dataroot DATA] [--phase val|all]
                       [--results_dir ./results] [--lpips_weights FILE] [--align auto|on|off | --no_align]
    python evaluate.py --oracle --dataroot SYNTHETIC_DATA [--phase val|all] [--loadSize N]

The model is rebuilt from its checkpoint (models/loading.py) and driven by the dataset's own
OpenPose keypoints; its outputs are compared with the dataset's frames. DATA is any dataset in the
seed layout with frames, masks and OpenPose JSON: the training video itself (default; --phase val =
the end that training held out), or another video, e.g. the same synthetic person doing novel moves
(`python -m data.synthetic --motion novel --seed <the training seed>`), at any frame size.
--oracle evaluates, instead of a model, the ground-truth IUV rendered with the true atlas over the
true background (evaluation/oracle.py): the best a static texture can do.

Geometry (where outputs and ground truth are compared; evaluation/geometry.py)
------------------------------------------------------------------------------
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
    images/plot_*.png   metrics over time (matplotlib)
    images/best_*.png, images/worst_*.png   by PSNR: real | output | error (|difference| x 4)
    index.html       all of the above
    frames/          with --save_frames: the outputs as compared (ground-truth geometry)
"""
import math
import os

import torch
from tqdm import tqdm

from evaluation.measure import (COLUMNS, TemporalFrame, image_metrics, keep_extremes, open_lpips, part_metrics,
                                summarise, temporal_errors, valid_region)
from evaluation.plan import plan_evaluation
from evaluation.report import prepare_folder, write_report
from options.eval_options import EvalOptions
from util.image import save_image


def main():
    opt = EvalOptions().parse()
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
    print(f'{len(frames)} frames of {plan.dataroot} ({plan.phase}) at {geometry.eval_size[1]}x{geometry.eval_size[0]}: '
          f'{shown}\n  {page}')


if __name__ == '__main__':
    main()
