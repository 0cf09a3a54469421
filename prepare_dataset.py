"""Turn a raw single-person video into a dataset in the seed layout: `python prepare_dataset.py --help`
(the flags and the run: data/prepare/command.py)."""
from data.prepare.command import main
from util.errors import run_main

if __name__ == '__main__':
    run_main(main)
