"""Cost of the check train.py makes before its first step (data.preflight) on a long video.

    python bench/preflight_speed.py                           # 4,000 frames at 512x512, threads 1 and all
    python bench/preflight_speed.py --frames 500 --size 256 --threads 2 --keep /tmp/long

The dataset is written once with numpy and OpenCV, not the synthetic renderer (minutes for 4,000 frames):
frames (jpg), DensePose IUVs and masks (png) cycle through a few encoded variants of a smooth blob
person, every frame has its OpenPose JSON, and the .flo files carry a true header and length but are
sparse (the check reads only their header and size, so no 16 GB of zeros are written). Times are wall
clock, warm page cache (the files were just written); the CPU time of all threads is printed too, as a
check when other processes compete for the cores (load average printed).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from data.layout import index_dataset  # noqa: E402
from data.preflight import file_problems  # noqa: E402
from data.readers import FLO_MAGIC, write_frame, write_openpose  # noqa: E402

VARIANTS = 8


def _variant(k, size, rng):
    """(frame RGB, IUV, mask) of variant k: a blob person on a smooth background."""
    yy, xx = np.mgrid[:size, :size] / size
    person = ((xx - 0.5 - 0.02 * k) / 0.18) ** 2 + ((yy - 0.5) / 0.4) ** 2 < 1
    frame = np.stack([120 + 80 * np.sin(6 * xx + k), 100 + 60 * yy, 140 + 50 * np.cos(5 * yy)], 2)
    frame[person] = [200, 120, 90]
    frame = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)
    iuv = np.zeros((size, size, 3), np.uint8)
    iuv[..., 0] = np.where(person, 1 + (yy * 24).astype(np.uint8) % 24, 0)
    iuv[..., 1] = np.where(person, (xx * 255).astype(np.uint8), 0)
    iuv[..., 2] = np.where(person, (yy * 255).astype(np.uint8), 0)
    return frame, iuv, np.where(person, 255, 0).astype(np.uint8)


def write_dataset(root, frames, size):
    name = os.path.basename(root)
    for folder in (name, 'densepose', 'mask', 'openpose_json', 'flow', 'flow_inv'):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    rng = np.random.default_rng(0)
    encoded = []
    for k in range(VARIANTS):
        frame, iuv, mask = _variant(k, size, rng)
        encoded.append((cv2.imencode('.jpg', frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes(),
                        cv2.imencode('.png', iuv)[1].tobytes(), cv2.imencode('.png', mask)[1].tobytes()))
    body = np.zeros((25, 3), np.float32)
    body[:, 0], body[:, 1], body[:, 2] = size / 2, np.linspace(0.1, 0.9, 25) * size, 0.9
    header = np.array([FLO_MAGIC], np.float32).tobytes() + np.array([size, size], np.int32).tobytes()
    for t in range(frames):
        stem = f'frame{t + 1:05d}'
        jpg, iuv, mask = encoded[t % VARIANTS]
        for path, data in ((os.path.join(root, name, stem + '.jpg'), jpg),
                           (os.path.join(root, 'densepose', stem + '_IUV.png'), iuv),
                           (os.path.join(root, 'mask', stem + '.png'), mask)):
            with open(path, 'wb') as handle:
                handle.write(data)
        write_openpose(os.path.join(root, 'openpose_json', stem + '_keypoints.json'), [{'body': body}])
        if t + 1 < frames:
            for folder in ('flow', 'flow_inv'):
                with open(os.path.join(root, folder, f'{t:06d}.flo'), 'wb') as handle:
                    handle.write(header)
                    handle.truncate(12 + 8 * size * size)       # sparse: no data blocks written
    frame, _, _ = _variant(0, size, rng)
    write_frame(os.path.join(root, 'bg.jpg'), frame)
    write_frame(os.path.join(root, 'texture.jpg'), np.zeros((6 * 64, 4 * 64, 3), np.uint8))


def measure(root, threads):
    """(wall seconds, CPU seconds, problems) of one pre-flight check of everything train.py reads."""
    wall, cpu = time.perf_counter(), time.process_time()
    files = index_dataset(root)
    problems = files.problems + file_problems(files, ['pose', 'mask', 'flow', 'flow_inv', 'iuv'],
                                              ('bg', 'texture'), workers=threads)
    return time.perf_counter() - wall, time.process_time() - cpu, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=4000)
    parser.add_argument('--size', type=int, default=512, help='frames are SIZE x SIZE')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, os.cpu_count()])
    parser.add_argument('--keep', default=None, help='write (or reuse) the dataset here and keep it')
    args = parser.parse_args()
    root = args.keep or os.path.join(tempfile.mkdtemp(prefix='preflight_'), 'long')
    try:
        if not os.path.isdir(root):
            start = time.perf_counter()
            write_dataset(root, args.frames, args.size)
            print(f'wrote {root}: {args.frames} frames at {args.size}x{args.size} in '
                  f'{time.perf_counter() - start:.0f} s')
        print(f'load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores')
        for threads in args.threads:
            wall, cpu, problems = measure(root, threads)
            print(f'threads {threads}: {wall:.1f} s wall, {cpu:.1f} s CPU, {len(problems)} problems '
                  f'({1000 * wall / args.frames:.2f} ms a frame)')
            if problems:
                print('  first:', problems[0])
    finally:
        if not args.keep:
            shutil.rmtree(os.path.dirname(root))


if __name__ == '__main__':
    main()
