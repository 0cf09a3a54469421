"""Turn a raw single-person video into a dataset in the seed layout: `python prepare_dataset.py --help`
(the flags and the run: data/prepare/command.py)."""
import sys

from data.prepare.command import main

if __name__ == '__main__':
    sys.exit(main())
