"""Background plate: per-pixel median over the frames where the person is not, holes inpainted.

With masks: each pixel's median over the frames in which it is free (mask dilated by a margin,
since DensePose misses hair, loose clothes and edges). The median is taken over up to ``max_frames``
evenly spaced frames (memory: max_frames * H * W * 4 bytes); pixels covered in all of them are
filled from a second pass over every other frame (up to HOLE_SAMPLES free samples each), and the
pixels the person never uncovers are inpainted (cv2.inpaint, Telea) from their surroundings.
Without masks: the plain per-pixel temporal median (the person leaves a ghost wherever it stays long).
"""
import cv2
import numpy as np
from tqdm import tqdm

from data.prepare.errors import PrepareError
from data.readers import DataFileError, read_frame, read_mask

MAX_FRAMES = 120
MEMORY_BUDGET = 1 << 30     # bytes for the frame stack; fewer frames are used for large frames
HOLE_SAMPLES = 15           # free samples gathered per pixel in the second pass
STRIP_BYTES = 64 << 20      # sorting works in row strips of about this size
_COVERED = np.uint16(65535)


def margin_size(height, width):
    """Dilation of the person mask before it is trusted as 'free': about 2% of the shorter side."""
    return max(3, round(0.02 * min(height, width))) | 1


def evenly_spaced(count, wanted):
    return sorted(set(np.linspace(0, count - 1, min(count, wanted)).round().astype(int).tolist()))


def _load(path, reader):
    try:
        return reader(path)
    except DataFileError as error:
        raise PrepareError(f'{error}; the background plate needs every selected frame and mask') from error


def _covered(mask_path, dilation, size):
    mask = _load(mask_path, read_mask)
    if mask.shape != size:
        raise PrepareError(f'{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, the frames are {size[1]}x{size[0]}')
    return cv2.dilate(mask.astype(np.uint8), dilation) > 0


def masked_median(stack, free):
    """stack uint8 [N, H, W, 3], free bool [N, H, W] -> (median float32 [H, W, 3], free count int [H, W]).

    The median of a pixel is over its free samples only (mean of the two middle ones for an even
    count); pixels with no free sample get 0.
    """
    count, height, width, _ = stack.shape
    median = np.zeros((height, width, 3), np.float32)
    counts = free.sum(0)
    rows = max(1, int(STRIP_BYTES // max(1, count * width * 3 * 2)))
    for top in range(0, height, rows):
        values = stack[:, top:top + rows].astype(np.uint16)
        values[~free[:, top:top + rows]] = _COVERED
        values.sort(axis=0)
        c = counts[top:top + rows][None, :, :, None]
        low = np.take_along_axis(values, np.maximum(c - 1, 0) // 2 * np.ones_like(values[:1]), 0)[0]
        high = np.take_along_axis(values, c // 2 * np.ones_like(values[:1]), 0)[0]
        part = np.where(c[0] % 2 == 1, low, (low.astype(np.float32) + np.minimum(high, 255)) / 2)
        median[top:top + rows] = np.where(c[0] > 0, part, 0)
    return median, counts


def _fill_holes(frame_paths, mask_paths, skip, holes, dilation, size, progress):
    """Median of up to HOLE_SAMPLES free samples per hole pixel from the frames not in skip."""
    ys, xs = np.nonzero(holes)
    samples = np.zeros((HOLE_SAMPLES, len(ys), 3), np.uint8)
    filled = np.zeros(len(ys), np.int64)
    others = [k for k in range(len(frame_paths)) if k not in skip and mask_paths[k] is not None]
    for k in tqdm(others, desc='background (holes)', unit='frame', disable=not progress):
        free = ~_covered(mask_paths[k], dilation, size)[ys, xs] & (filled < HOLE_SAMPLES)
        if not free.any():
            continue
        frame = _load(frame_paths[k], read_frame)
        index = np.flatnonzero(free)
        samples[filled[index], index] = frame[ys[index], xs[index]]
        filled[index] += 1
        if filled.min() >= HOLE_SAMPLES:
            break
    got = filled > 0
    values = np.zeros((len(ys), 3), np.float32)
    if got.any():
        stack = samples[:, got][:, :, None]                        # [S, n, 1, 3]
        free = np.arange(HOLE_SAMPLES)[:, None, None] < filled[got][None, :, None]
        values[got] = masked_median(stack, free)[0][:, 0]
    return ys[got], xs[got], values[got]


def background_plate(frame_paths, mask_paths=None, max_frames=MAX_FRAMES, progress=True):
    """Background plate from frames (and person masks, None where a frame has none).

    frame_paths: frame files in order; mask_paths: list of mask files or None (no masks at all).
    -> (plate uint8 RGB [H, W, 3], info dict: frames_used, masked (bool), free_share (pixels seen free
    in the sampled frames), filled_share (found in other frames), inpainted_share (never seen free)).
    """
    first = _load(frame_paths[0], read_frame)
    size = first.shape[:2]
    height, width = size
    per_frame = height * width * 4
    wanted = max(1, min(max_frames, MEMORY_BUDGET // per_frame))
    masked = mask_paths is not None and any(path is not None for path in mask_paths)
    usable = [k for k in range(len(frame_paths)) if not masked or mask_paths[k] is not None]
    chosen = [usable[i] for i in evenly_spaced(len(usable), wanted)]
    stack = np.zeros((len(chosen), height, width, 3), np.uint8)
    free = np.ones((len(chosen), height, width), bool)
    margin = margin_size(height, width)
    dilation = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (margin, margin))
    for i, k in enumerate(tqdm(chosen, desc='background', unit='frame', disable=not progress)):
        frame = _load(frame_paths[k], read_frame)
        if frame.shape[:2] != size:
            raise PrepareError(f'{frame_paths[k]}: frame is {frame.shape[1]}x{frame.shape[0]}, '
                               f'{frame_paths[0]} is {width}x{height}')
        stack[i] = frame
        if masked:
            free[i] = ~_covered(mask_paths[k], dilation, size)
    median, counts = masked_median(stack, free)
    info = {'frames_used': len(chosen), 'masked': masked, 'free_share': float((counts > 0).mean()),
            'filled_share': 0.0, 'inpainted_share': 0.0}
    holes = counts == 0
    if masked and holes.any():
        ys, xs, values = _fill_holes(frame_paths, mask_paths, set(chosen), holes, dilation, size, progress)
        median[ys, xs] = values
        holes[ys, xs] = False
        info['filled_share'] = len(ys) / holes.size
    plate = np.clip(np.rint(median), 0, 255).astype(np.uint8)
    if holes.any():
        radius = max(3, round(0.01 * min(height, width)))
        bgr = cv2.cvtColor(plate, cv2.COLOR_RGB2BGR)
        plate = cv2.cvtColor(cv2.inpaint(bgr, holes.astype(np.uint8), radius, cv2.INPAINT_TELEA), cv2.COLOR_BGR2RGB)
        info['inpainted_share'] = float(holes.mean())
    return plate, info
