"""Render a trained person doing another dancer's moves (or re-render the held-out training frames).

    python test.py --name NAME --pose_path DRIVING/openpose_json [--bg_path IMAGE] [--gpu_ids -1]
    python test.py --name NAME --phase val

The model is rebuilt from the training options stored in the checkpoint, at the working size it was
trained at (the learned background's size). Phase test reads the driving OpenPose JSON files, keeps
one person (tracked), fills missing joints and frames, smooths jitter (--smooth) and aligns the
skeletons to the target person's height, floor line and place (util/pose_align.py; --no_align
skips it). Phase val renders the end of the training video that training held out (data_ratio)
from its own poses. Written to results_dir/NAME/<phase>_<which_epoch>/:

    frames/frame00001.png ...   the rendered frames
    mask/frame00001.png ...     with --save_mask: the person's alpha matte, 255 * (1 - bg_prob)
                                (--save_mask and --bg_path need a model with a learned background:
                                --model render, not the pose2image baseline)
    video.mp4                   the rendered frames as a video (--fps)
    side_by_side.mp4            test: driving skeleton | aligned skeleton | output; val: real | output
    index.html                  a subset of frames (images/ holds the page's images), links to the videos
    summary.json, test_opt.txt  alignment statistics (test) or PSNR (val); the options used
"""
import json
import os
import re
import sys
import warnings

import numpy as np
from dominate import tags
from tqdm import tqdm

from data.driving import DrivingSequence, HeldOutFrames
from data.readers import DataFileError, read_frame
from data.transforms import resize_image, to_unit_range
from evaluation.metrics import psnr
from models.loading import load_model
from models.networks.texture import composite
from options.test_options import DATASET_PATHS, TestOptions, ignored_training_flags, save_test_options
from util.html import HTML
from util.image import save_image, tensor_to_image
from util.io import write_atomic
from util.video import VideoWriter

OWN_FILE = re.compile(r'^(frame\d+(_[a-z_]+)?|background)\.png$')      # images this script writes (and may replace)


# ---------------------------------------------------------------------------------------------
# Output folder
# ---------------------------------------------------------------------------------------------
def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def result_folder(opt, train_opt):
    """results_dir/name/<phase>_<which_epoch>; refuses any place inside a dataset (nothing is written)."""
    folder = os.path.join(opt.results_dir, opt.name, f'{opt.phase}_{opt.which_epoch}')
    protected = [train_opt.dataroot, opt.pose_tgt_path, opt.pose_path, opt.label3d_path]
    if opt.pose_path and os.path.basename(os.path.normpath(opt.pose_path)) == 'openpose_json':
        protected.append(os.path.dirname(os.path.normpath(opt.pose_path)))     # the driving dataset
    for data in protected:
        if data and _inside(folder, data):
            raise SystemExit(f'{folder}: refusing to write results inside the dataset folder {data}; '
                             'choose another --results_dir')
    return folder


def prepare_folder(folder, opt):
    """Create the result folders and drop the images this script wrote there in a previous run."""
    for sub in ('frames', 'images', 'mask'):
        path = os.path.join(folder, sub)
        if os.path.isdir(path):
            for name in os.listdir(path):
                if OWN_FILE.match(name):
                    os.remove(os.path.join(path, name))
    os.makedirs(os.path.join(folder, 'frames'), exist_ok=True)
    if opt.save_mask:
        os.makedirs(os.path.join(folder, 'mask'), exist_ok=True)


def check_compositing(opt, model):
    """--bg_path and --save_mask need the person / background split of a model with a learned background."""
    flags = [flag for flag, given in (('--bg_path', opt.bg_path), ('--save_mask', opt.save_mask)) if given]
    if flags and not hasattr(model, 'background'):
        raise SystemExit(f'{" and ".join(flags)}: the {model.opt.model} model renders whole frames, with no '
                         'person / background separation to composite or mask; drop the flag, or drive a '
                         '--model render run')


def load_new_background(path, working, device):
    """--bg_path image stretched to the working size: ([1, 3, H, W] in [-1, 1], the uint8 image)."""
    try:
        image = resize_image(read_frame(path), *working)
    except DataFileError as error:
        raise SystemExit(f'{error} (--bg_path)') from error
    return to_unit_range(image)[None].to(device), image


# ---------------------------------------------------------------------------------------------
# Main loop
# ---------------------------------------------------------------------------------------------
def render(model, source, folder, opt, background=None):
    """Batched inference over the source's frames; writes frames, both videos and returns the page rows."""
    digits = max(5, len(str(len(source))))
    page_frames = set(np.linspace(0, len(source) - 1, min(len(source), opt.html_frames)).round().astype(int)
                      .tolist()) if opt.html_frames else set()
    rows = []
    with VideoWriter(os.path.join(folder, 'video.mp4'), opt.fps) as video, \
            VideoWriter(os.path.join(folder, 'side_by_side.mp4'), opt.fps) as side:
        bar = tqdm(total=len(source), desc=f'{opt.phase} {opt.name}', unit='frame', dynamic_ncols=True)
        for begin in range(0, len(source), opt.batch_size):
            indices = list(range(begin, min(begin + opt.batch_size, len(source))))
            pose, panels = source.batch(indices)
            result = model.infer(pose)
            if background is None:
                output = result['output'].float()
            else:
                output = composite(result['person'].float(), background, result['bg_prob'].float())
            for k, i in enumerate(indices):
                image = tensor_to_image(output[k])
                name = f'frame{i + 1:0{digits}d}'
                save_image(os.path.join(folder, 'frames', name + '.png'), image)
                if opt.save_mask:
                    alpha = np.round(255 * (1 - result['bg_prob'][k, 0].float().clamp(0, 1)).cpu().numpy())
                    save_image(os.path.join(folder, 'mask', name + '.png'), alpha.astype(np.uint8))
                video.write(image)
                side.write(np.concatenate(panels[k] + [image], axis=1))
                if isinstance(source, HeldOutFrames):
                    source.psnr.append(psnr(image, panels[k][0]))
                if i in page_frames:
                    paths = []
                    for panel_name, panel in zip(source.panel_names, panels[k]):
                        paths.append(os.path.join('images', f'{name}_{panel_name}.png'))
                        save_image(os.path.join(folder, paths[-1]), panel)
                    rows.append((name, paths + [os.path.join('frames', name + '.png')]))
            bar.update(len(indices))
        bar.close()
    return rows


def write_page(folder, opt, source, rows, summary):
    page = HTML(folder, f'{opt.name}: {opt.phase}, checkpoint {opt.which_epoch}')
    page.doc.add(tags.p(tags.a('video.mp4', href='video.mp4'), ' | ',
                        tags.a('side_by_side.mp4', href='side_by_side.mp4'),
                        f' ({len(source)} frames, {opt.fps:g} fps)'))
    if 'alignment' in summary:
        info = summary['alignment']
        page.add_header(f'alignment: {info["mode"]}' + (f', scale {info["scale"]}, dx {info["dx"]}, dy {info["dy"]}'
                                                         if 'scale' in info else ''))
        if 'driving' in info:
            keys = ('height', 'floor', 'far', 'near', 'centre_x', 'torso')
            page.add_table([[name] + [info[name][k] for k in keys] for name in ('driving', 'target')],
                           header=['poses'] + list(keys))
    if summary.get('psnr') is not None:
        page.add_header(f'PSNR output vs real: {summary["psnr"]:.2f} dB (mean over {len(source)} frames)')
    if opt.bg_path:
        page.add_images([os.path.join('images', 'background.png')], [f'background: {opt.bg_path}'])
    captions = source.panel_names + ['output']
    for name, paths in rows:
        page.add_header(name, level=4)
        page.add_images(paths, captions)
    return page.save()


def main(argv=None):
    opt = TestOptions().parse(argv)
    model, train_opt, working = load_model(os.path.join(opt.checkpoints_dir, opt.name), opt.which_epoch, opt.device,
                                           opt.amp, {name: getattr(opt, name) for name in ('dataroot',) + DATASET_PATHS})
    for name in ignored_training_flags(opt, vars(train_opt)):
        warnings.warn(f'--{name} {getattr(opt, name)} ignored: the checkpoint was trained with '
                      f'{getattr(train_opt, name)} (architecture and data flags come from the checkpoint)')
    check_compositing(opt, model)
    folder = result_folder(opt, train_opt)
    source = DrivingSequence(opt, train_opt, working) if opt.phase == 'test' else HeldOutFrames(opt, train_opt, working)
    prepare_folder(folder, opt)
    save_test_options(opt, folder)
    background = None
    if opt.bg_path:
        background, background_image = load_new_background(opt.bg_path, working, opt.device)
        save_image(os.path.join(folder, 'images', 'background.png'), background_image)
    rows = render(model, source, folder, opt, background)
    summary = {'phase': opt.phase, 'checkpoint': opt.which_epoch, 'frames': len(source),
               'working_size': list(working), **source.summary()}
    write_atomic(os.path.join(folder, 'summary.json'), json.dumps(summary, indent=1))
    page = write_page(folder, opt, source, rows, summary)
    print(f'{len(source)} frames at {working[1]}x{working[0]} -> {folder}\n  {page}\n'
          f'  {os.path.join(folder, "video.mp4")}\n  {os.path.join(folder, "side_by_side.mp4")}')
    return folder


if __name__ == '__main__':
    main()
    sys.exit(0)
