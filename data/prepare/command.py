"""Turn a raw single-person video into a dataset in the seed layout.

    python prepare_dataset.py --video IN.mp4 --out DATA [--size H W | --long_side N] [--fps F] [--start S --end E]
    python prepare_dataset.py --frames_dir DIR --out DATA [...]     # a folder of images instead of a video
    python prepare_dataset.py --out DATA                            # the frames already in DATA/<name>/

Writes the frames (DATA/<name>/frame00001.jpg ...), optical flow (flow/, flow_inv/: Middlebury .flo,
OpenCV DIS or Farneback), person masks from DensePose (mask/, when densepose/ exists and mask/ does
not), the background plate bg.jpg and, with DensePose, the initial texture atlas texture.jpg; then
checks the dataset (data.check) and says what other tools still have to make (DensePose IUV,
OpenPose JSON) and where to put their files. Existing DensePose / OpenPose output is paired with the
frames (by name, else by frame number: data.pairing) right after the frames step; when it does not
pair, the run stops there (exit 2), before masks and flow, naming the frames without a file.

Resumable: a rerun skips every output that is already there and readable, and redoes the rest;
each file is written under a temporary name and renamed, so a killed run leaves no broken file.
Nothing is deleted: --overwrite (redo everything) and the redoing of unreadable files first move the
old files into DATA/replaced-<time>/. Exit status: 0 done (possibly still waiting for DensePose /
OpenPose output), 1 the dataset check found problems, 2 bad input or refusal (nothing lost), 130
interrupted (rerun to continue).
"""
import argparse
import sys

from data.prepare.errors import PrepareError
from data.prepare.flow import METHODS
from data.prepare.pipeline import EXIT_REFUSED, Options, prepare


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    source = parser.add_argument_group('source (one of them; neither: the frames already in DATA/<name>/)')
    source.add_argument('--video', help='input video (any format ffmpeg reads)')
    source.add_argument('--frames_dir', help='folder of frames (jpg/png/bmp; in frame-number order: 9 before 10)')
    parser.add_argument('--out', required=True, metavar='DATA', help='dataset folder to write (created if needed)')
    size = parser.add_mutually_exclusive_group()
    size.add_argument('--size', type=int, nargs=2, metavar=('H', 'W'),
                      help='output frame size: scale to cover, then crop the centre (aspect ratio kept)')
    size.add_argument('--long_side', type=int, metavar='N', help='scale so the longer side is N pixels')
    parser.add_argument('--fps', type=float, help='resample the video to this frame rate (default: keep every frame)')
    parser.add_argument('--start', type=float, help='first frame: time in seconds for a video, 1-based number '
                                                    'for --frames_dir')
    parser.add_argument('--end', type=float, help='end: time in seconds for a video (exclusive), 1-based frame '
                                                  'number for --frames_dir (inclusive)')
    parser.add_argument('--flow', choices=METHODS, default='dis',
                        help='optical flow method: dis (DIS, preset MEDIUM, default) or farneback')
    parser.add_argument('--workers', type=int, help='threads for the flow (default: the usable CPU cores)')
    parser.add_argument('--tex_size', type=int, default=200, help='texture atlas tile size (atlas is 6T x 4T)')
    parser.add_argument('--bg_frames', type=int, default=120, help='frames sampled for the background median')
    parser.add_argument('--quality', type=int, default=95, help='jpg quality of frames, bg.jpg and texture.jpg')
    parser.add_argument('--overwrite', action='store_true',
                        help='redo every output (old files are moved to DATA/replaced-<time>/, never deleted)')
    parser.add_argument('--no_progress', action='store_true', help='no progress bars')
    args = parser.parse_args(argv)
    return Options(out=args.out, video=args.video, frames_dir=args.frames_dir,
                   size=tuple(args.size) if args.size else None, long_side=args.long_side, fps=args.fps,
                   start=args.start, end=args.end, flow=args.flow, workers=args.workers, overwrite=args.overwrite,
                   tex_size=args.tex_size, bg_frames=args.bg_frames, quality=args.quality,
                   progress=not args.no_progress)


def main(argv=None):
    opts = parse_args(argv)
    try:
        return prepare(opts)
    except PrepareError as error:
        print(f'error: {error}', file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print('\ninterrupted: every file written so far is complete; rerun the same command to continue',
              file=sys.stderr)
        return 130
