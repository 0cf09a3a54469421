"""Named flag sets written once in train_start/NAME.flags, read here for Python (benchmark.py,
bench/quality.py) and by train_start/preset.sh for the bash presets."""
import os

PRESET_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'train_start')


def preset_flags(name):
    """train_start/NAME.flags as a list of strings: flags separated by spaces or newlines, '#' starts
    a comment that runs to the end of the line."""
    with open(os.path.join(PRESET_DIR, name + '.flags'), encoding='utf-8') as handle:
        return [word for line in handle for word in line.split('#', 1)[0].split()]
