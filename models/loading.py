"""A trained model rebuilt from its checkpoint: the stored training options decide the architecture."""
import glob
import os

import torch

from models import create_model
from options.upgrade import upgrade_options
from util.checkpoint import checkpoint_path, load_checkpoint


def checkpoint_working_size(state):
    """(H, W) a checkpoint of train.py was trained at, or None when the checkpoint does not say (e.g. a
    pretrainTrans.py one): stored as 'working_size' (pose2image) or the learned background's size (render)."""
    if 'working_size' in state:
        return tuple(int(v) for v in state['working_size'])
    background = state.get('networks', {}).get('background')
    if background is not None and 'image' in background:
        return tuple(int(v) for v in background['image'].shape[-2:])
    return None


def available_labels(run_dir):
    """Checkpoint labels ('latest', '5', ...) saved in run_dir, sorted."""
    return sorted(os.path.basename(p)[:-len('_checkpoint.pth')]
                  for p in glob.glob(os.path.join(run_dir, '*_checkpoint.pth')))


def load_model(run_dir, label='latest', device=torch.device('cpu'), amp='none', overrides=None):
    """(model in inference mode, its training options, working size (H, W)) from
    run_dir/<label>_checkpoint.pth. overrides: option values that replace the stored ones (e.g. a
    dataroot that moved); the architecture always comes from the checkpoint."""
    path = checkpoint_path(run_dir, label)
    if not os.path.isfile(path):
        found = available_labels(run_dir)
        raise SystemExit(f'{path}: checkpoint not found; '
                         + (f'--which_epoch can be one of {found}' if found else f'no checkpoints in {run_dir}'))
    state = load_checkpoint(path)
    stored = state.get('options')
    working = checkpoint_working_size(state)
    if not stored or working is None:
        raise SystemExit(f'{path}: not a checkpoint of train.py (no options or no working size)')
    del state
    train_opt = upgrade_options(stored)
    train_opt.is_train = False
    train_opt.device, train_opt.amp = device, amp
    train_opt.checkpoints_dir, train_opt.name = os.path.dirname(os.path.normpath(run_dir)), os.path.basename(
        os.path.normpath(run_dir))
    for name, value in (overrides or {}).items():
        if value:
            setattr(train_opt, name, value)
    try:
        model = create_model(train_opt, working_size=working)
    except ValueError as error:
        raise SystemExit(f'{path}: {error}') from error
    model.load(label, with_optimizers=False)
    return model, train_opt, (int(working[0]), int(working[1]))
