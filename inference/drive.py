"""What test.py does: the trained model rebuilt from its checkpoint, the driving (or held-out) poses
rendered in batches, and the frames, videos, masks, summary and page written (see test.py)."""
import os
import warnings

import numpy as np
from tqdm import tqdm

from data.driving import DrivingSequence, HeldOutFrames
from evaluation.metrics import psnr
from inference.background import check_compositing, load_new_background
from inference.engines import load_engine
from inference.export import onnx_path
from inference.output_folder import prepare_folder, result_folder
from inference.output_format import output_format, resize_output
from inference.page import write_page
from inference.summary import write_summary
from models.loading import load_model
from models.networks.texture import composite
from options.test_options import DATASET_PATHS, ignored_training_flags, save_test_options
from util.checkpoint import checkpoint_path
from util.image import save_image, tensor_to_image
from util.video import VideoWriter


def render(engine, source, folder, opt, fmt, background=None):
    """Batched inference over the source's frames with an inference.engines.Engine; writes frames, both
    videos (in the OutputFormat fmt) and returns the page rows."""
    digits = max(5, len(str(len(source))))
    page_frames = set(np.linspace(0, len(source) - 1, min(len(source), opt.html_frames)).round().astype(int)
                      .tolist()) if opt.html_frames else set()
    rows = []
    videos = {'fps': fmt.fps, 'audio': fmt.audio, 'audio_offset': fmt.audio_offset}
    with VideoWriter(os.path.join(folder, 'video.mp4'), **videos) as video, \
            VideoWriter(os.path.join(folder, 'side_by_side.mp4'), **videos) as side:
        bar = tqdm(total=len(source), desc=f'{opt.phase} {opt.name}', unit='frame', dynamic_ncols=True)
        for begin in range(0, len(source), opt.batch_size):
            indices = list(range(begin, min(begin + opt.batch_size, len(source))))
            pose, panels = source.batch(indices)
            result = engine(pose)
            if background is None:
                output = result['output']
            else:
                output = composite(result['person'], background, 1 - result['alpha'])
            for k, i in enumerate(indices):
                image = tensor_to_image(output[k])
                shown = resize_output(image, fmt.size)
                name = f'frame{i + 1:0{digits}d}'
                save_image(os.path.join(folder, 'frames', name + '.png'), shown)
                if opt.save_mask:
                    alpha = np.round(255 * result['alpha'][k, 0].clamp(0, 1).cpu().numpy())
                    save_image(os.path.join(folder, 'mask', name + '.png'),
                               resize_output(alpha.astype(np.uint8), fmt.size))
                video.write(shown)
                side.write(np.concatenate([resize_output(p, fmt.size) for p in panels[k]] + [shown], axis=1))
                if isinstance(source, HeldOutFrames):
                    source.psnr.append(psnr(image, panels[k][0]))          # at the working size
                if i in page_frames:
                    paths = []
                    for panel_name, panel in zip(source.panel_names, panels[k]):
                        paths.append(os.path.join('images', f'{name}_{panel_name}.png'))
                        save_image(os.path.join(folder, paths[-1]), panel)
                    rows.append((name, paths + [os.path.join('frames', name + '.png')]))
            bar.update(len(indices))
        bar.close()
    return rows


def engine_onnx_file(run_dir, label, folder):
    """Where --engine onnxruntime keeps its export: beside the checkpoint (as export.py writes it), or in the
    results folder when the checkpoint folder is read-only."""
    return onnx_path(run_dir if os.access(run_dir, os.W_OK) else folder, label)


def drive(opt):
    """Everything test.py does for parsed TestOptions: (results folder, page path, frames, OutputFormat)."""
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    model, train_opt, working = load_model(run_dir, opt.which_epoch, opt.device, opt.amp,
                                           {name: getattr(opt, name) for name in ('dataroot',) + DATASET_PATHS})
    for name in ignored_training_flags(opt, vars(train_opt)):
        warnings.warn(f'--{name} {getattr(opt, name)} ignored: the checkpoint was trained with '
                      f'{getattr(train_opt, name)} (architecture and data flags come from the checkpoint)')
    check_compositing(opt, model)
    folder = result_folder(opt, train_opt)
    source = DrivingSequence(opt, train_opt, working) if opt.phase == 'test' else HeldOutFrames(opt, train_opt, working)
    fmt = output_format(opt, working, source)
    prepare_folder(folder, opt)
    save_test_options(opt, folder)
    background = None
    if opt.bg_path:
        background, background_image = load_new_background(opt.bg_path, working, opt.device)
        save_image(os.path.join(folder, 'images', 'background.png'), background_image)
    engine = load_engine(opt.engine, model, working, opt.batch_size, checkpoint_path(run_dir, opt.which_epoch),
                         engine_onnx_file(run_dir, opt.which_epoch, folder))
    rows = render(engine, source, folder, opt, fmt, background)
    summary = write_summary(folder, opt, source, working, fmt)
    page = write_page(folder, opt, source, rows, summary)
    return folder, page, len(source), fmt
