"""Initial texture atlas (texture.jpg) unfolded from a video's frames and their DensePose IUVs.

    python unfold_texture.py FRAMES_DIR DENSEPOSE_DIR [-o texture.jpg] [--tex_size 200] [--max_frames N]
                             [--overwrite] [--workers K] [--no_progress]

Frames (jpg/png, frame-number order) are paired with their IUV by name as DensePose writes them
(frame00001.jpg <-> DENSEPOSE_DIR/frame00001_IUV.png or frame00001.png), else by frame number when
the folder holds one IUV per frame (data.pairing); frames without an IUV are skipped. The atlas is
DensePose's 6 x 4 tiles of T x T texels: a robust, edge-weighted average of every pixel that shows
a texel, holes filled from the same part (util.unfold). The output (default: texture.jpg next to
FRAMES_DIR, where the dataset layout expects it) is written atomically and never replaced without
--overwrite. Prints the coverage (share of the atlas's texels some pixel showed) and the parts never
seen (their tiles get the atlas's mean colour).
Exit status 0 on success, 2 on an error (the message names the file or folder).
"""
import argparse
import os
import sys
import time

import numpy as np

from data.layout import PER_FRAME_SUFFIXES, list_images
from data.pairing import pair_files
from data.prepare.texture import build_atlas_from_files
from data.readers import DataFileError, write_frame
from util.densepose import PART_NAMES
from util.unfold import default_workers, parts_never_seen

OUTPUT_EXTENSIONS = ('.jpg', '.jpeg', '.png')


class UnfoldError(Exception):
    """A problem with the command's inputs or output; the message says which and what to do."""


def pair_frames(frames_dir, densepose_dir):
    """(frame paths, IUV paths, frames without an IUV, how they were paired: a message or None) of the two
    folders (data.pairing)."""
    for folder, what in ((frames_dir, 'frames'), (densepose_dir, 'DensePose IUV')):
        if not os.path.isdir(folder):
            raise UnfoldError(f'{folder}: {what} folder not found')
    names = list_images(frames_dir)
    if not names:
        raise UnfoldError(f'{frames_dir}: no frames (.jpg/.jpeg/.png/.bmp) in this folder')
    frames = [os.path.join(frames_dir, name) for name in names]
    stems = [os.path.splitext(name)[0] for name in names]
    pairing = pair_files(densepose_dir, stems, os.listdir(densepose_dir), PER_FRAME_SUFFIXES['iuv'], 'iuv')
    iuvs = [os.path.join(densepose_dir, name) if name else None for name in pairing.files]
    paired = [(frame, iuv) for frame, iuv in zip(frames, iuvs) if iuv is not None]
    if not paired:
        raise UnfoldError(f'{densepose_dir}: no IUV for any of the {len(frames)} frames of {frames_dir} '
                          f'(looked for {stems[0]}_IUV.png or {stems[0]}.png, ...); run DensePose on the '
                          f'frames first')
    missing = [frame for frame, iuv in zip(frames, iuvs) if iuv is None]
    return [frame for frame, _ in paired], [iuv for _, iuv in paired], missing, pairing.note or pairing.problem


def evenly_spaced(count, limit):
    """Indices of at most limit evenly spaced items of count (first and last included)."""
    if limit is None or limit >= count:
        return list(range(count))
    return sorted(set(np.linspace(0, count - 1, limit).round().astype(int).tolist()))


def check_output(path, overwrite):
    if not path.lower().endswith(OUTPUT_EXTENSIONS):
        raise UnfoldError(f'{path}: the atlas is written as an image; name a {"/".join(OUTPUT_EXTENSIONS)} file')
    if os.path.isdir(path):
        raise UnfoldError(f'{path}: is a folder; name the image file to write')
    if os.path.exists(path) and not overwrite:
        raise UnfoldError(f'{path}: exists; pass --overwrite to replace it (or -o to write elsewhere)')
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UnfoldError(f'{folder}: output folder not found')


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], epilog=__doc__.split('\n\n', 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('frames_dir', metavar='FRAMES_DIR', help='video frames (jpg/png; frame-number order)')
    parser.add_argument('densepose_dir', metavar='DENSEPOSE_DIR', help='DensePose IUV png per frame')
    parser.add_argument('-o', '--output', help='atlas image to write (.jpg or .png; default: texture.jpg '
                                               'in the folder that holds FRAMES_DIR)')
    parser.add_argument('--tex_size', type=int, default=200, help='tile size T (the atlas is 4T wide, 6T high)')
    parser.add_argument('--max_frames', type=int, help='use at most this many frames, evenly spaced')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing output')
    parser.add_argument('--workers', type=int, default=default_workers(), help='threads reading the frames')
    parser.add_argument('--no_progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if args.tex_size < 2:
        parser.error(f'--tex_size must be at least 2, got {args.tex_size}')
    if args.max_frames is not None and args.max_frames < 1:
        parser.error(f'--max_frames must be at least 1, got {args.max_frames}')
    if args.workers < 1:
        parser.error(f'--workers must be at least 1, got {args.workers}')
    if args.output is None:
        args.output = os.path.join(os.path.dirname(os.path.abspath(args.frames_dir)), 'texture.jpg')
    return args


def run(args):
    check_output(args.output, args.overwrite)
    frames, iuvs, missing, pairing = pair_frames(args.frames_dir, args.densepose_dir)
    if missing:
        print(f'note: {len(missing)} of {len(frames) + len(missing)} frames have no IUV in {args.densepose_dir} '
              f'and are skipped ({pairing})', file=sys.stderr)
    elif pairing:
        print(f'note: {pairing}', file=sys.stderr)
    chosen = evenly_spaced(len(frames), args.max_frames)
    frames, iuvs = [frames[k] for k in chosen], [iuvs[k] for k in chosen]
    start = time.perf_counter()
    atlas, seen = build_atlas_from_files(frames, iuvs, tex_size=args.tex_size, progress=not args.no_progress,
                                         workers=args.workers)
    seconds = time.perf_counter() - start
    write_frame(args.output, atlas)
    unseen = parts_never_seen(seen)
    print(f'wrote {args.output}: {atlas.shape[1]}x{atlas.shape[0]} atlas (T={args.tex_size}) from {len(frames)} '
          f'frames in {seconds:.1f} s ({len(frames) / max(seconds, 1e-9):.0f} frames/s)')
    print(f'coverage: {100 * seen.mean():.1f}% of the texels seen')
    if unseen:
        names = ', '.join(f'{p} ({PART_NAMES[p]})' for p in unseen)
        print(f'parts never seen ({len(unseen)}; their tiles hold the mean colour of the atlas): {names}')
    else:
        print('parts never seen: none')


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except (UnfoldError, DataFileError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    return 0
