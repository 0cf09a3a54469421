"""Optical flow between consecutive frames with OpenCV, in the dataset's convention, as .flo files.

    flow/<stem k>.flo      forward  flow frame k -> k+1 on frame k's grid:   frame_k(x) ~ frame_k+1(x + f(x))
    flow_inv/<stem k>.flo  backward flow frame k+1 -> k on frame k+1's grid: warp(frame_k, b) aligns to k+1

Methods (no compiled extension; both run on grey frames):
  dis        DIS (Kroeger et al. 2016), preset MEDIUM: patch 8, stride 3, finest scale 1, 25 gradient
             descent iterations, 5 variational refinement iterations. The default: on the synthetic
             videos it aligns frames about as well as the exact flow, at a few times Farneback's speed.
  farneback  Farneback polynomial expansion, 5 levels, window 15, Gaussian window.
Pairs run in a thread pool (OpenCV releases the GIL); each worker keeps its own estimator and runs
OpenCV single-threaded, which scales better than OpenCV's own threads on these small jobs.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

import cv2
import numpy as np
from tqdm import tqdm

from data.prepare.errors import PrepareError
from data.readers import write_flo

METHODS = ('dis', 'farneback')
FARNEBACK = dict(pyr_scale=0.5, levels=5, winsize=15, iterations=3, poly_n=7, poly_sigma=1.5,
                 flags=cv2.OPTFLOW_FARNEBACK_GAUSSIAN)


def make_estimator(method):
    """-> estimate(grey_a, grey_b): float32 [H, W, 2] flow a -> b on a's grid (uint8 [H, W] inputs)."""
    if method == 'dis':
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda a, b: dis.calc(a, b, None)
    if method == 'farneback':
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, **FARNEBACK)
    raise ValueError(f'unknown flow method {method!r}; choose one of {METHODS}')


def read_grey(path):
    data = np.fromfile(path, np.uint8) if os.path.isfile(path) else np.zeros(0, np.uint8)
    grey = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
    if grey is None:
        raise PrepareError(f'{path}: cannot read frame for optical flow (missing or corrupt); run again to '
                           're-extract it, or replace it')
    return grey


class _Worker(threading.local):
    """Per-thread estimator (OpenCV's flow objects are not thread-safe)."""

    def __init__(self, method):
        self.estimate = make_estimator(method)


def pair_flows(estimate, frame_a, frame_b, forward=True, backward=True):
    """(forward a -> b on a's grid or None, backward b -> a on b's grid or None) for two frame paths."""
    a, b = read_grey(frame_a), read_grey(frame_b)
    if a.shape != b.shape:
        raise PrepareError(f'{frame_b}: frame is {b.shape[1]}x{b.shape[0]}, {frame_a} is {a.shape[1]}x{a.shape[0]}')
    return (estimate(a, b) if forward else None), (estimate(b, a) if backward else None)


def compute_flows(frames, jobs, flow_paths, flow_inv_paths, method='dis', workers=None, progress=True):
    """Compute and write the flows of jobs [(k, need_forward, need_backward)] for pairs (k, k+1).

    frames: frame paths in order; flow_paths / flow_inv_paths: the .flo path of each pair k.
    Each .flo is written atomically as soon as it is computed. -> number of .flo files written.
    """
    if not jobs:
        return 0
    workers = max(1, workers or len(os.sched_getaffinity(0)))
    local = _Worker(method)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)

    def run(job):
        k, forward, backward = job
        flow, flow_inv = pair_flows(local.estimate, frames[k], frames[k + 1], forward, backward)
        if flow is not None:
            write_flo(flow_paths[k], flow)
        if flow_inv is not None:
            write_flo(flow_inv_paths[k], flow_inv)
        return (flow is not None) + (flow_inv is not None)

    written = 0
    executor = ThreadPoolExecutor(workers, thread_name_prefix='flow')
    bar = tqdm(total=len(jobs), desc=f'flow ({method}, {workers} threads)', unit='pair', disable=not progress)
    try:
        futures = [executor.submit(run, job) for job in jobs]
        for future in as_completed(futures):
            written += future.result()
            bar.update(1)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        bar.close()
        cv2.setNumThreads(threads)
    return written
