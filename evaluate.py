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
psnr, ssim                  whole frame (scikit-image); ssim Gaussian 11x11, sigma 1.5, channels averaged
lpips                       the lpips package (v0.1 heads) on AlexNet/VGG16 ImageNet weights from the torch hub
                            cache or --lpips_weights FILE; else "unavailable"
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
from evaluation.run import evaluate
from options.eval_options import EvalOptions
from util.errors import run_main


def main():
    page, summary = evaluate(EvalOptions().parse())
    print(f'{summary}\n  {page}')


if __name__ == '__main__':
    run_main(main)
