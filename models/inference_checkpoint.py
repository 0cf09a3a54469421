"""A checkpoint cut down to what test.py and evaluate.py read: the networks inference runs, the training
options and progress; no optimizer state and no discriminators (about a third of a training checkpoint).

    python -m models.inference_checkpoint RUN_DIR OUT_DIR [--which_epoch latest] [--fp16]

--fp16 stores the weights as float16 (half the size; loading casts them back to float32).

writes OUT_DIR/latest_checkpoint.pth, which ``models.loading.load_model`` reads like any other.
"""
import argparse
import os

from models import model_class
from util.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from util.errors import run_main


def inference_state(state, fp16=False):
    """The part of a train.py checkpoint state that inference needs (weights as float16 with fp16)."""
    options = state.get('options')
    if not options or 'networks' not in state:
        raise ValueError('not a checkpoint of train.py (no options or no networks)')
    names = model_class(options['model']).network_names
    missing = [name for name in names if name not in state['networks']]
    if missing:
        raise ValueError(f'holds no weights for {", ".join(missing)}')
    networks = {name: state['networks'][name] for name in names}
    if fp16:
        networks = {name: {key: value.half() if value.is_floating_point() else value for key, value in weights.items()}
                    for name, weights in networks.items()}
    kept = {'networks': networks, 'options': options,
            'progress': state.get('progress', {})}
    if 'working_size' in state:
        kept['working_size'] = state['working_size']
    return kept


def main(argv=None):
    """Exit status 0; a missing or unreadable checkpoint ends in a message (util.errors)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('run_dir', help='checkpoints_dir/name of a train.py run')
    parser.add_argument('out_dir', help='folder for latest_checkpoint.pth (created)')
    parser.add_argument('--which_epoch', default='latest')
    parser.add_argument('--fp16', action='store_true', help='store the weights as float16 (half the size)')
    args = parser.parse_args(argv)
    source = checkpoint_path(args.run_dir, args.which_epoch)
    target = checkpoint_path(args.out_dir, 'latest')
    if os.path.realpath(source) == os.path.realpath(target):
        raise SystemExit(f'{target}: would overwrite the training checkpoint; choose another OUT_DIR')
    try:
        state = inference_state(load_checkpoint(source), args.fp16)
    except (FileNotFoundError, RuntimeError, ValueError) as error:
        raise SystemExit(f'{source}: {error}') from error
    os.makedirs(args.out_dir, exist_ok=True)
    save_checkpoint(target, state)
    print(f'wrote {target} ({os.path.getsize(target) / 1e6:.1f} MB)')
    return 0


if __name__ == '__main__':
    run_main(main)
