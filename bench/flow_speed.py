"""Optical flow speed of prepare_dataset.py: frames per second, both directions, .flo files written.

    python bench/flow_speed.py                          # 512x512, dis and farneback, 1 and all threads
    python bench/flow_speed.py --size 256 256 --methods dis --workers 2 --pairs 32
    python bench/flow_speed.py --frames_dir DATA/name   # your own frames (the first --pairs + 1)

One "frame" is one pair (k, k+1): forward and backward flow, with the two frames read (jpg) and the
two .flo files written atomically, exactly as data.prepare.flow.compute_flows does it. Frames are a
synthetic dancer (data.synthetic) unless --frames_dir is given. Times are wall clock, the median of
--runs after a warm-up; the CPU time of all threads is printed too, as a check when other processes
compete for the cores (load average printed). 'opencv threads' is the alternative to the thread
pool: one worker, OpenCV parallelising inside each call (frames read, flow not written).
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import cv2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from data.layout import list_images  # noqa: E402
from data.prepare.flow import METHODS, compute_flows, make_estimator, pair_flows  # noqa: E402


def synthetic_frames(folder, count, height, width):
    from data import synthetic
    root = os.path.join(folder, 'bench')
    synthetic.generate(root, count, height, width, seed=0, tex_size=16, progress=False)
    frames_dir = os.path.join(root, 'bench')
    return [os.path.join(frames_dir, name) for name in list_images(frames_dir)]


def time_pool(frames, method, workers, out, runs):
    pairs = len(frames) - 1
    jobs = [(k, True, True) for k in range(pairs)]
    flow = [os.path.join(out, f'f{k:05d}.flo') for k in range(pairs)]
    flow_inv = [os.path.join(out, f'b{k:05d}.flo') for k in range(pairs)]
    walls, cpus = [], []
    for run in range(runs + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        compute_flows(frames, jobs, flow, flow_inv, method, workers, progress=False)
        if run:             # run 0 is the warm-up
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return pairs / statistics.median(walls), statistics.median(cpus) / pairs


def time_opencv_threads(frames, method, threads, runs):
    previous = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    estimate = make_estimator(method)
    walls, cpus = [], []
    try:
        for run in range(runs + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            for k in range(len(frames) - 1):
                pair_flows(estimate, frames[k], frames[k + 1])
            if run:
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
    finally:
        cv2.setNumThreads(previous)
    pairs = len(frames) - 1
    return pairs / statistics.median(walls), statistics.median(cpus) / pairs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, nargs=2, default=(512, 512), metavar=('H', 'W'))
    parser.add_argument('--pairs', type=int, default=16, help='consecutive pairs per run')
    parser.add_argument('--methods', default=','.join(METHODS))
    parser.add_argument('--workers', type=int, nargs='+', default=None,
                        help='thread pool sizes (default: 1 and the usable cores)')
    parser.add_argument('--runs', type=int, default=2)
    parser.add_argument('--frames_dir', help='use these frames instead of synthetic ones')
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    workers = args.workers or sorted({1, cores})
    temp = tempfile.mkdtemp(prefix='flow_speed_')
    try:
        if args.frames_dir:
            names = list_images(args.frames_dir)[:args.pairs + 1]
            frames = [os.path.join(args.frames_dir, name) for name in names]
        else:
            frames = synthetic_frames(temp, args.pairs + 1, *args.size)
        size = cv2.imread(frames[0]).shape[:2]
        print(f'{len(frames) - 1} pairs of {size[1]}x{size[0]} frames, {cores} usable cores, '
              f'OpenCV {cv2.__version__}, load average {os.getloadavg()[0]:.1f}; frames/s = pairs/s, '
              'forward + backward flow, read + write included')
        out = os.path.join(temp, 'flo')
        os.makedirs(out)
        for method in args.methods.split(','):
            for count in workers:
                rate, cpu = time_pool(frames, method, count, out, args.runs)
                print(f'  {method:10s} thread pool {count}: {rate:6.2f} frames/s  (CPU {1000 * cpu:6.1f} ms per frame)')
            if cores > 1:
                rate, cpu = time_opencv_threads(frames, method, cores, args.runs)
                print(f'  {method:10s} opencv threads {cores}: {rate:6.2f} frames/s  (CPU {1000 * cpu:6.1f} ms per '
                      f'frame; no .flo written)')
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == '__main__':
    main()
