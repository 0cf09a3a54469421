"""Render a trained person doing another dancer's moves (or re-render the held-out training frames).

    python test.py --name NAME --pose_path DRIVING/openpose_json [--driving_video DRIVING.mp4] [--bg_path IMAGE]
                   [--output_size W H | --output_scale S] [--gpu_ids -1]
    python test.py --name NAME --phase val

The model is rebuilt from the training options stored in the checkpoint, at the working size it was
trained at (the learned background's size); architecture and data flags given here are ignored with a
warning, training-only flags (--batchSize, --nThreads, ...) are refused. Phase test reads the driving
OpenPose JSON files, keeps one person (tracked), fills missing joints and frames, smooths jitter
(--smooth) and aligns the skeletons to the target person's height, floor line and place
(util/pose_align.py; --no_align skips it). Phase val renders the end of the training video that
training held out (data_ratio) from its own poses. --driving_video (the video the driving keypoints were
detected in, one JSON per frame) gives the videos its frame rate and its audio track from --start on; a
clip much longer or shorter than the poses is named in a warning. Frames, masks and videos are written at
the working size, or resized to --output_size W H / --output_scale S (inference/output_format.py).
Written to results_dir/NAME/<phase>_<which_epoch>/:

    frames/frame00001.png ...   the rendered frames
    mask/frame00001.png ...     with --save_mask: the person's alpha matte, 255 * (1 - bg_prob)
                                (--save_mask and --bg_path need a model with a learned background:
                                --model render, not the pose2image baseline)
    video.mp4                   the rendered frames as a video (--driving_video's fps and audio, else --fps, 25)
    side_by_side.mp4            test: driving skeleton | aligned skeleton | output; val: real | output
    index.html                  a subset of frames (images/ holds the page's images), links to the videos
    summary.json, test_opt.txt  alignment statistics (test) or PSNR (val, at the working size; "inf" if exact),
                                output size, fps and the driving video; the options used
"""
import os

from inference.drive import drive
from options.test_options import TestOptions
from util.errors import run_main


def main():
    opt = TestOptions().parse()
    folder, page, frames, output = drive(opt)
    height, width = output.size
    sound = f', audio of {output.audio}' if output.audio else ''
    print(f'{frames} frames at {width}x{height}, {output.fps:g} fps{sound} -> {folder}\n  {page}\n'
          f'  {os.path.join(folder, "video.mp4")}\n  {os.path.join(folder, "side_by_side.mp4")}')


if __name__ == '__main__':
    run_main(main)
