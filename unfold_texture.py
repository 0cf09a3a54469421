"""Initial texture atlas (texture.jpg) unfolded from a video's frames and their DensePose IUVs:
`python unfold_texture.py --help` (the flags and the run: data/prepare/unfold_command.py)."""
from data.prepare.unfold_command import main
from util.errors import run_main

if __name__ == '__main__':
    run_main(main)
