"""One-file checkpoints, written atomically and loaded with weights_only=True."""
import glob
import os

import torch

from util.errors import UserError
from util.io import atomic_open

SUFFIX = '_checkpoint.pth'


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing or cannot be loaded; the message names it and the ones to use instead."""


def checkpoint_path(run_dir, epoch_label):
    return os.path.join(run_dir, f'{epoch_label}{SUFFIX}')


def save_checkpoint(path, state):
    """Write ``state`` to a temporary file in the same folder, fsync it, then rename over ``path``.

    A crash at any moment leaves either the previous file or the new one, never a torn file.
    """
    with atomic_open(path, fsync=True) as stream:
        torch.save(state, stream)


def _load(path, map_location):
    return torch.load(path, map_location=map_location, weights_only=True)


def intact_epochs(run_dir, skip=None):
    """Epoch labels of run_dir's <epoch>_checkpoint.pth files that load, newest epoch first (each is loaded)."""
    epochs = []
    for path in glob.glob(os.path.join(glob.escape(run_dir), f'*{SUFFIX}')):
        label = os.path.basename(path)[:-len(SUFFIX)]
        if label.isdigit() and os.path.abspath(path) != os.path.abspath(skip or ''):
            try:
                _load(path, 'cpu')
            except Exception:       # any failure means: not intact
                continue
            epochs.append(label)
    return sorted(epochs, key=int, reverse=True)


def load_checkpoint(path, map_location='cpu'):
    """The state saved at path; CheckpointError when it is missing or damaged, naming the intact
    numbered checkpoints of its folder to use instead."""
    if not os.path.isfile(path):
        raise CheckpointError(f'{path}: checkpoint not found')
    try:
        return _load(path, map_location)
    except Exception as error:      # torch raises several kinds for a damaged file
        run_dir = os.path.dirname(path) or '.'
        epochs = intact_epochs(run_dir, skip=path)
        advice = (f'intact checkpoints in {run_dir}: {", ".join(e + SUFFIX for e in epochs)}; pass '
                  f'--which_epoch {epochs[0]} to use the newest' if epochs
                  else f'{run_dir} holds no other intact <epoch>{SUFFIX}')
        raise CheckpointError(f'{path}: cannot load checkpoint, the file is damaged (truncated by a full '
                              f'disk or an interrupted copy?) ({error}); {advice}') from error
