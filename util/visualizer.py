"""Training-time logging: image snapshots on a web page, a loss log file and TensorBoard.

Everything of one run lives under ``run_dir`` (= checkpoints/<name>):

    web/index.html                                  newest snapshot first, one row per display step
    web/images/epoch003_iter00001200_<name>.png     every displayed image (never deleted)
    loss_log.txt                                    one line per log_losses call, a header per start
    logs/                                           TensorBoard event files (tf_log=True)

In multi-GPU runs create the Visualizer on every rank with ``enabled=(rank == 0)``: a disabled
Visualizer writes nothing and its methods return at once (log_losses still returns its message).
"""
import datetime
import os
import re

from util.html import HTML, IMAGE_DIR
from util.image import save_image, to_image

VISUAL_NAME = re.compile(r'^[A-Za-z0-9_.\-]+$')
STEP_IMAGE = re.compile(r'^epoch(\d+)_iter(\d+)_(.+)\.png$')


def image_file_name(epoch, iteration, name):
    """File name of one displayed image inside web/images/."""
    return f'epoch{epoch:03d}_iter{iteration:08d}_{name}.png'


def _scalar(name, value):
    if hasattr(value, 'detach'):  # torch tensor
        if value.numel() != 1:
            raise ValueError(f'loss {name!r} must be a number or a one-element tensor, '
                             f'got a tensor of shape {tuple(value.shape)}')
        return float(value.detach().cpu().item())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f'loss {name!r} must be a number or a one-element tensor, got {type(value).__name__}')


def _format_value(value):
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f'{value:.3f}'
    return f'{value:.3e}'  # also 'nan', 'inf'


def format_losses(losses):
    """Short one-line form for a progress bar: 'G_gan=0.512 G_l2=0.0331' (tqdm set_postfix_str)."""
    return ' '.join(f'{name}={_scalar(name, value):.3g}' for name, value in losses.items())


class Visualizer:
    def __init__(self, run_dir, tf_log=False, enabled=True, max_rows=200, image_width=256):
        """run_dir: checkpoints/<name>. max_rows: display steps shown on the page (older images
        stay on disk). Steps already on disk from an earlier (resumed) run are shown too."""
        if max_rows < 1:
            raise ValueError(f'max_rows must be at least 1, got {max_rows}')
        self.run_dir = run_dir
        self.enabled = enabled
        self.max_rows = max_rows
        self.image_width = image_width
        self.web_dir = os.path.join(run_dir, 'web')
        self.image_dir = os.path.join(self.web_dir, IMAGE_DIR)
        self.log_path = os.path.join(run_dir, 'loss_log.txt')
        self.tensorboard_dir = os.path.join(run_dir, 'logs')
        self._steps = []          # [(epoch, iteration, [names])], oldest first, at most max_rows
        self._writer = None
        self._header_written = False
        if not enabled:
            return
        os.makedirs(self.image_dir, exist_ok=True)
        self._steps = self._steps_on_disk()
        if tf_log:
            from tensorboardX import SummaryWriter
            self._writer = SummaryWriter(logdir=self.tensorboard_dir)

    # ---- images ---------------------------------------------------------------------------------
    def display(self, visuals, epoch, iteration):
        """Save each visual as web/images/epoch{epoch:03d}_iter{iteration:08d}_{name}.png, rewrite
        web/index.html and, with tf_log, add the images to TensorBoard at step ``iteration``.

        visuals: dict name -> image in any form ``util.image.to_image`` accepts (float tensors
        [3|1, H, W] in [-1, 1], uint8 RGB [H, W, 3] arrays, ...). Names become file names and
        captions, so they may only use letters, digits, '_', '-' and '.'.
        """
        if not self.enabled or not visuals:
            return
        for name in visuals:
            if not isinstance(name, str) or not VISUAL_NAME.match(name):
                raise ValueError(f'visual name {name!r} must be made of letters, digits, _ - . '
                                 f'(it becomes a file name); rename it in the model\'s visuals')
        images = {name: to_image(value) for name, value in visuals.items()}  # fail before writing
        for name, image in images.items():
            save_image(os.path.join(self.image_dir, image_file_name(epoch, iteration, name)), image)
            if self._writer is not None:
                self._writer.add_image(f'visuals/{name}', image, iteration, dataformats='HWC')
        self._steps = [s for s in self._steps if s[:2] != (epoch, iteration)]
        self._steps.append((epoch, iteration, list(images)))
        del self._steps[:-self.max_rows]
        self._write_index()
        if self._writer is not None:
            self._writer.flush()

    def _steps_on_disk(self):
        found = {}
        for file_name in sorted(os.listdir(self.image_dir)):
            match = STEP_IMAGE.match(file_name)
            if match:
                key = (int(match.group(1)), int(match.group(2)))
                found.setdefault(key, []).append(match.group(3))
        return [(epoch, iteration, names) for (epoch, iteration), names in sorted(found.items())][-self.max_rows:]

    def _write_index(self):
        page = HTML(self.web_dir, os.path.basename(os.path.normpath(self.run_dir)))
        for epoch, iteration, names in reversed(self._steps):
            page.add_header(f'epoch {epoch}, iteration {iteration}')
            paths = [f'{IMAGE_DIR}/{image_file_name(epoch, iteration, name)}' for name in names]
            page.add_images(paths, names, width=self.image_width)
        page.save()

    # ---- losses ---------------------------------------------------------------------------------
    def log_losses(self, losses, epoch, iteration, phase='train', seconds_per_iter=None):
        """Append one line to loss_log.txt and add TensorBoard scalars '<phase>/<name>'.

        losses: dict name -> float or one-element tensor. Returns the line, e.g.
        '(phase: train, epoch: 3, iters: 1200, time: 0.512) G_gan: 0.512 G_l2: 0.033'.
        """
        values = {name: _scalar(name, value) for name, value in losses.items()}
        timing = '' if seconds_per_iter is None else f', time: {seconds_per_iter:.3f}'
        message = f'(phase: {phase}, epoch: {epoch}, iters: {iteration}{timing})'
        message += ''.join(f' {name}: {_format_value(value)}' for name, value in values.items())
        if not self.enabled:
            return message
        with open(self.log_path, 'a') as f:
            if not self._header_written:
                started = datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')
                f.write(f'================ Run started {started} ================\n')
                self._header_written = True
            f.write(message + '\n')
        if self._writer is not None:
            for name, value in values.items():
                self._writer.add_scalar(f'{phase}/{name}', value, iteration)
            self._writer.flush()
        return message

    format_losses = staticmethod(format_losses)

    # ---- lifetime -------------------------------------------------------------------------------
    def close(self):
        """Flush and close TensorBoard; safe to call twice."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
