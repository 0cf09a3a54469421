"""One-file checkpoints, written atomically and loaded with weights_only=True."""
import os

import torch

from util.io import atomic_open


def checkpoint_path(run_dir, epoch_label):
    return os.path.join(run_dir, f'{epoch_label}_checkpoint.pth')


def save_checkpoint(path, state):
    """Write ``state`` to a temporary file in the same folder, fsync it, then rename over ``path``.

    A crash at any moment leaves either the previous file or the new one, never a torn file.
    """
    with atomic_open(path, fsync=True) as stream:
        torch.save(state, stream)


def load_checkpoint(path, map_location='cpu'):
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: checkpoint not found')
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise RuntimeError(f'{path}: cannot load checkpoint ({error})') from error
