"""Speed of data.prepare.texture.build_atlas_from_files (unfold_texture.py's work), reading the files included.

    python bench/unfold_speed.py                       # 60 synthetic frames at 512x512, T=200
    python bench/unfold_speed.py --data DIR --runs 5   # an existing dataset in the seed layout

Generates a synthetic video (data.synthetic, seed 0) unless --data names one, then unfolds the atlas
--runs times and prints the best and median wall time as frames/s, with the phases of the best run:
reading + unpacking the frames (jpg + IUV png decode, texel indices, edge weights; --workers
threads), the robust per-texel colours, and the hole filling. CPU time (all threads) is printed
too, as a check when other processes compete for the cores.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from data.layout import list_images  # noqa: E402
from data.prepare.texture import build_atlas_from_files  # noqa: E402
from data.synthetic import generate  # noqa: E402
from util.unfold import WORKERS  # noqa: E402


def dataset_files(root):
    frames_dir = os.path.join(root, os.path.basename(os.path.normpath(root)))
    names = list_images(frames_dir)
    frames = [os.path.join(frames_dir, name) for name in names]
    iuvs = [os.path.join(root, 'densepose', os.path.splitext(name)[0] + '_IUV.png') for name in names]
    return frames, iuvs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', help='dataset folder (seed layout); default: generate one')
    parser.add_argument('--frames', type=int, default=60)
    parser.add_argument('--size', type=int, default=512, help='frame height and width when generating')
    parser.add_argument('--tex_size', type=int, default=200)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--workers', type=int, default=WORKERS, help='reader threads')
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            root = os.path.join(tmp, 'bench')
            start = time.perf_counter()
            generate(root, frames=args.frames, height=args.size, width=args.size, seed=0, tex_size=args.tex_size)
            print(f'generated {args.frames} frames {args.size}x{args.size} in {time.perf_counter() - start:.1f} s')
        frames, iuvs = dataset_files(root)
        runs = []
        for _ in range(args.runs):
            stats = {}
            wall, cpu = time.perf_counter(), time.process_time()
            build_atlas_from_files(frames, iuvs, tex_size=args.tex_size, workers=args.workers, stats=stats)
            runs.append((time.perf_counter() - wall, time.process_time() - cpu, stats))
        best_wall, best_cpu, stats = min(runs, key=lambda run: run[0])
        median = statistics.median(run[0] for run in runs)
        n = len(frames)
        print(f'{n} frames, {stats["observations"] / n:.0f} person pixels per frame, T={args.tex_size}, '
              f'{args.workers} reader threads, {os.cpu_count()} CPUs')
        print(f'best of {args.runs}: {best_wall:.3f} s = {n / best_wall:.1f} frames/s (CPU {best_cpu:.2f} s); '
              f'median {median:.3f} s = {n / median:.1f} frames/s')
        print(f'phases of the best run: read + unpack {stats["seconds_read"]:.3f} s, '
              f'robust colours {stats["seconds_robust"]:.3f} s, fill {stats["seconds_fill"]:.3f} s')


if __name__ == '__main__':
    main()
