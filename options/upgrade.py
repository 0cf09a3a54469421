"""Options stored in a checkpoint, brought up to today's flags: a flag added since the checkpoint was
written takes its default (the behaviour the code had before the flag existed), so code reads every
option directly instead of guessing a fallback at each use."""
import argparse

from options.flag_history import BEFORE_THE_FLAG
from options.train_options import TrainOptions


def upgrade_options(stored):
    """Namespace of a checkpoint's stored options (a dict), completed with the training defaults of its
    model (``BEFORE_THE_FLAG`` where the default changed with the flag) and the working-size multiple
    derived from them when it was not stored."""
    options = TrainOptions()
    defaults = vars(options.parse_flags(['--model', stored.get('model', 'render')]))
    upgraded = argparse.Namespace(**{**defaults, **BEFORE_THE_FLAG, **stored})
    if 'size_multiple' not in stored:
        upgraded.size_multiple = options.size_multiple(upgraded)
    return upgraded
