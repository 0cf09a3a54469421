"""Unfold a texture atlas from video frames and their DensePose IUVs: the robust unfolder
(unfold_texture.py's engine, ``build_atlas``) and the plain per-texel mean (``unfold_atlas``, which the
synthetic data generator uses and the tests compare against).

Atlas convention: util.atlas (DensePose's 6 rows x 4 columns of T x T tiles, part p in column
(p-1)//6, row (p-1)%6, U -> columns, V -> rows flipped); both unfolders send each person pixel to the
nearest texel of its part (util.atlas.texel_indices).

Robust method (all vectorised over whole frames; no per-pixel Python):
1. Observations. Every person pixel of every frame is one observation (texel, RGB, weight). The
   weight says how reliable the pixel is: w = min(1, (d + 1) / (edge_px + 1)) with d the distance
   (pixels) to the nearest part boundary or silhouette (distance transform of the part-label edges).
   DensePose is least accurate at part seams and silhouettes, and there colours bleed across the
   edge (JPEG chroma, anti-aliasing, grazing views); a pixel on an edge counts 1/(edge_px + 1).
2. Robust per-texel colour, by iteratively reweighted least squares over the stored observations:
   the weighted mean, then ``l1_steps`` Weiszfeld steps towards the weighted geometric median of the
   RGB vectors (weight / |x - m|: breakdown point 50%, so a minority of occluded or shaded
   observations cannot drag the estimate), then ``cauchy_steps`` redescending Cauchy steps
   (weight / (1 + |x - m|^2 / scale^2)) that lift the median's residual bias towards the outliers
   and settle on the dominant colour cluster. The observations are sorted by texel once (a counting
   sort); each step is then one pass over them in chunks: a gather of the current estimate, the
   weights, and one sparse segment-sum product. Observations are kept in memory (9 bytes each, ~37
   at the peak of the robust pass) up to ``max_observations``; beyond that an evenly spaced
   subset of frames is kept (the stride doubles, every second kept frame is dropped) and the frames
   not kept only feed a streaming weighted mean, used for texels that no kept frame saw.
3. Holes. Unseen texels of a part are filled from that part's seen texels only: pull-push (Gortler
   et al. 1996) on each tile, all 24 tiles at once: a pyramid of coverage-weighted 2x2 averages is
   pulled up to 1x1 and pushed down again with bilinear upsampling, keeping the seen texels as they
   are. A part never seen anywhere gets the mean colour of the seen atlas (``parts_never_seen``).

Observed texels that are hidden by something DensePose does not label (a skirt over the thighs) in
most frames show that occluder: no per-texel statistic can recover a colour it (almost) never sees.
"""
import os
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from tqdm import tqdm

from util.atlas import ATLAS_COLS, ATLAS_ROWS, texel_indices
from util.densepose import NUM_PARTS

EDGE_PX = 3               # pixels from a part edge at which an observation gets its full weight
L1_STEPS = 2              # Weiszfeld steps towards the weighted geometric median
CAUCHY_STEPS = 2          # redescending steps after them
CAUCHY_SCALE = 15.0       # RGB distance (0..255, Euclidean) at which a Cauchy weight halves
L1_EPS = 1.0              # residuals below this count as this in the Weiszfeld weights
MAX_OBSERVATIONS = 12_000_000   # observations kept for the robust pass: ~350 frames at 34k person
                                # pixels (512x512); ~37 bytes each at the peak (+ ~170 MB at T=200)
CHUNK = 1 << 21           # observations per chunk of a pass
DARK_UNSEEN = 32          # fill_dark_texels: a texel no channel of which is brighter is taken as unseen
WORKERS = 2               # threads reading and unpacking frames (cv2 and numpy release the GIL)


# ---------------------------------------------------------------------------------------------
# Observations of one frame
# ---------------------------------------------------------------------------------------------
def edge_weights(parts, edge_px=EDGE_PX):
    """Reliability of each pixel from its distance to the nearest part edge.

    parts: uint8/int [H, W] part ids (0 = background) -> float32 [H, W] = min(1, (d + 1) / (edge_px + 1)),
    d = distance (pixels; 5x5 chamfer, exact along rows and columns) to the nearest pixel that has
    a 4-neighbour with another label (both sides of a seam, the silhouette, the background's side
    of it); 1 everywhere when edge_px is 0. Computed on the person's bounding box only.
    """
    parts = np.asarray(parts)
    weights = np.ones(parts.shape, np.float32)
    if edge_px <= 0:
        return weights
    rows, cols = np.flatnonzero(parts.any(1)), np.flatnonzero(parts.any(0))
    if not len(rows):
        return weights
    pad = int(np.ceil(edge_px)) + 1
    r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, parts.shape[0])
    c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, parts.shape[1])
    box = parts[r0:r1, c0:c1]
    edge = np.zeros(box.shape, bool)
    change = box[1:] != box[:-1]
    edge[1:] |= change
    edge[:-1] |= change
    change = box[:, 1:] != box[:, :-1]
    edge[:, 1:] |= change
    edge[:, :-1] |= change
    dist = cv2.distanceTransform((~edge).view(np.uint8), cv2.DIST_L2, 5)
    weights[r0:r1, c0:c1] = np.minimum((dist + 1) / np.float32(edge_px + 1), 1)
    return weights


def frame_observations(frame, iuv, tex_size, edge_px=EDGE_PX):
    """The observations of one frame.

    frame: uint8 RGB [H, W, 3]; iuv: uint8 DensePose IUV [H, W, 3]
    -> (texels int32 [N] flat indices into the [6T, 4T] atlas, colours uint8 [N, 3], weights float32 [N])
    over the N person pixels (util.atlas.texel_indices: nearest texel of the pixel's part).
    """
    frame, iuv = np.asarray(frame), np.asarray(iuv)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f'frame must be uint8 RGB [H, W, 3], got {frame.dtype} {frame.shape}')
    if iuv.shape[:2] != frame.shape[:2]:
        raise ValueError(f'frame is {frame.shape[1]}x{frame.shape[0]} but its IUV is '
                         f'{iuv.shape[1] if iuv.ndim > 1 else "?"}x{iuv.shape[0]} (width x height); '
                         f'they must be the same size')
    pixels, texels = texel_indices(iuv, tex_size)
    weights = edge_weights(iuv[..., 0], edge_px).reshape(-1)[pixels]
    return texels.astype(np.int32), frame.reshape(-1, 3)[pixels], weights


# ---------------------------------------------------------------------------------------------
# Accumulation over frames (bounded memory)
# ---------------------------------------------------------------------------------------------
class _Observations:
    """Observations of every stride-th frame, kept for the robust pass; the others are summed.

    The stride starts at 1 and doubles (dropping every second kept frame) whenever the kept
    observations exceed max_observations, so the kept frames stay evenly spaced over the video.
    """

    def __init__(self, n_texels, max_observations):
        self.n_texels = n_texels
        self.max_observations = max_observations
        self.stride = 1
        self.kept = []            # (frame index, texels, colours, weights)
        self.kept_count = 0
        self.spilled = []         # observations of frames not kept, not yet summed
        self.spilled_count = 0
        self.spill_sums = None    # float64 [n, 4]: sums of weight * (R, G, B, 1)

    def add(self, index, texels, colours, weights):
        if index % self.stride:
            self._spill(texels, colours, weights)
            return
        self.kept.append((index, texels, colours, weights))
        self.kept_count += len(texels)
        while self.kept_count > self.max_observations and len(self.kept) > 1:
            self.stride *= 2
            keep = []
            for item in self.kept:
                if item[0] % self.stride:
                    self._spill(*item[1:])
                    self.kept_count -= len(item[1])
                else:
                    keep.append(item)
            self.kept = keep

    def _spill(self, texels, colours, weights):
        self.spilled.append((texels, colours, weights))
        self.spilled_count += len(texels)
        if self.spilled_count >= CHUNK:
            self._flush()

    def _flush(self):
        if not self.spilled:
            return
        texels, colours, weights = (np.concatenate(parts) for parts in zip(*self.spilled))
        self.spilled, self.spilled_count = [], 0
        sums = _weighted_sums(texels, colours, weights, self.n_texels)
        self.spill_sums = sums if self.spill_sums is None else self.spill_sums + sums

    def arrays(self):
        """Kept observations concatenated: (texels int32 [N], colours uint8 [N, 3], weights float32 [N])."""
        if not self.kept:
            return np.zeros(0, np.int32), np.zeros((0, 3), np.uint8), np.zeros(0, np.float32)
        texels, colours, weights = (np.concatenate(parts) for parts in zip(*(item[1:] for item in self.kept)))
        self.kept = []
        return texels, colours, weights

    def spill_totals(self):
        """float64 [n, 4] sums of weight * (R, G, B, 1) over the frames not kept (zeros when all were kept)."""
        self._flush()
        return np.zeros((self.n_texels, 4)) if self.spill_sums is None else self.spill_sums


def _weighted_sums(texels, colours, weights, n_texels):
    """Per-texel sums float64 [n, 4] of weights * (R, G, B, 1) (np.bincount)."""
    sums = np.zeros((n_texels, 4))
    for start in range(0, len(texels), CHUNK):
        tex, w = texels[start:start + CHUNK], weights[start:start + CHUNK]
        rgb = colours[start:start + CHUNK]
        for c in range(3):
            sums[:, c] += np.bincount(tex, rgb[:, c] * w, n_texels)
        sums[:, 3] += np.bincount(tex, w, n_texels)
    return sums


class _SortedObservations:
    """Observations sorted by texel (a counting sort: scipy's COO -> CSR conversion), in chunks of
    whole texels, with per-chunk segment-sum matrices: one pass over all observations is a gather
    of the current estimate and one sparse [texels x observations] @ [observations x 4] product."""

    def __init__(self, texels, colours, weights, n_texels):
        import scipy.sparse

        count = len(texels)
        order = scipy.sparse.csr_matrix((np.ones(count, np.int8), (texels, np.arange(count, dtype=np.int32))),
                                        shape=(n_texels, count))
        indptr = order.indptr.astype(np.int64)
        order = order.indices
        self.n_texels = n_texels
        self.texels, self.weights = texels[order], weights[order]
        self.rgb1 = np.ones((count, 4), np.uint8)                 # [N, 4] = (R, G, B, 1)
        self.rgb1[:, :3] = colours[order]
        del order
        size = min(count, CHUNK)
        ones, positions = np.ones(size, np.float32), np.arange(size + 1, dtype=np.int32)
        self.chunks = []             # (first texel, last texel + 1, first obs, last obs + 1, segment-sum matrix)
        first = 0
        while first < n_texels and indptr[first] < count:
            # whole texels, about CHUNK observations (a texel with more is a chunk of its own)
            last = min(max(int(np.searchsorted(indptr, indptr[first] + CHUNK, 'right')) - 1, first + 1), n_texels)
            lo, hi = int(indptr[first]), int(indptr[last])
            if hi - lo > len(ones):
                ones, positions = np.ones(hi - lo, np.float32), np.arange(hi - lo + 1, dtype=np.int32)
            local = (indptr[first:last + 1] - lo).astype(np.int32)
            matrix = scipy.sparse.csr_matrix((ones[:hi - lo], positions[:hi - lo], local),
                                             shape=(last - first, hi - lo))
            self.chunks.append((first, last, lo, hi, matrix))
            first = last

    def sums(self, estimate=None, kind=None, scale=CAUCHY_SCALE):
        """Per-texel sums float32 [n, 4] of w * (R, G, B, 1), w = the weights times the robust factor
        of each observation's RGB distance d to estimate [3, n] ('l1': 1 / max(d, L1_EPS), 'cauchy':
        1 / (1 + d^2 / scale^2); kind None: the plain weights)."""
        sums = np.zeros((self.n_texels, 4), np.float32)
        for first, last, lo, hi, matrix in self.chunks:
            rgb1, w = self.rgb1[lo:hi], self.weights[lo:hi]
            if kind is not None:
                tex = self.texels[lo:hi]
                r2 = np.zeros(hi - lo, np.float32)
                for c in range(3):
                    diff = rgb1[:, c] - estimate[c].take(tex)
                    r2 += diff * diff
                if kind == 'l1':
                    w = w / np.sqrt(np.maximum(r2, np.float32(L1_EPS * L1_EPS)))
                else:
                    w = w / (1 + r2 * np.float32(1 / (scale * scale)))
            sums[first:last] = matrix @ (rgb1 * w[:, None])
        return sums


def _colour_means(sums):
    """[n, 4] sums of w * (R, G, B, 1) -> float32 [3, n] weighted means (0 where no weight)."""
    inverse = 1 / np.maximum(sums[:, 3], np.float32(1e-30))
    means = np.empty((3, len(sums)), np.float32)
    for c in range(3):
        np.multiply(sums[:, c], inverse, out=means[c])
    return means


def robust_colours(texels, colours, weights, n_texels, l1_steps=L1_STEPS, cauchy_steps=CAUCHY_STEPS,
                   scale=CAUCHY_SCALE):
    """Robust weighted colour of every texel (see the module docstring, step 2).

    texels int [N], colours uint8 [N, 3], weights float32 [N] > 0
    -> (colours float32 [n, 3] (0 where unseen), float32 [n] sums of the plain weights).
    l1_steps = cauchy_steps = 0 gives the weighted mean.
    """
    if not len(texels):
        return np.zeros((n_texels, 3), np.float32), np.zeros(n_texels, np.float32)
    observations = _SortedObservations(texels, colours, weights, n_texels)
    del texels, colours, weights     # the sorted copies are all the passes need
    sums = observations.sums()
    total = sums[:, 3].copy()
    estimate = _colour_means(sums)
    for step in range(l1_steps + cauchy_steps):
        sums = observations.sums(estimate, 'l1' if step < l1_steps else 'cauchy', scale)
        estimate = _colour_means(sums)
    return estimate.T.copy(), total


# ---------------------------------------------------------------------------------------------
# Hole filling inside each part tile
# ---------------------------------------------------------------------------------------------
def _to_tiles(atlas):
    """[6T, 4T, C] -> [T, T, 24, C] (tile k = part k + 1)."""
    t = atlas.shape[0] // ATLAS_ROWS
    channels = atlas.shape[2]
    return atlas.reshape(ATLAS_ROWS, t, ATLAS_COLS, t, channels).transpose(1, 3, 2, 0, 4).reshape(
        t, t, NUM_PARTS, channels)


def _from_tiles(tiles):
    """[T, T, 24, C] -> [6T, 4T, C]."""
    t, _, _, channels = tiles.shape
    return tiles.reshape(t, t, ATLAS_COLS, ATLAS_ROWS, channels).transpose(3, 0, 2, 1, 4).reshape(
        ATLAS_ROWS * t, ATLAS_COLS * t, channels)


def fill_tiles(atlas, known, fallback):
    """Fill the unknown texels of every part tile from that tile's known texels (pull-push).

    atlas: float [6T, 4T, C]; known: bool [6T, 4T]; fallback: [C] colour of tiles with no known texel
    -> float32 [6T, 4T, C]: known texels unchanged, the rest a smooth extrapolation of the tile's
    known texels (nothing crosses a tile border).
    """
    tiles = _to_tiles(np.asarray(atlas, np.float32))             # [T, T, 24, C]
    t, _, parts, channels = tiles.shape
    alpha = _to_tiles(known[..., None].astype(np.float32))[..., 0]   # [T, T, 24]
    colour = tiles.reshape(t, t, parts * channels)
    levels = [(colour, alpha)]
    while colour.shape[0] > 1:       # pull: coverage-weighted 2x2 means, coverage clamped to 1
        size = colour.shape[0]
        half = (size + 1) // 2
        pad = 2 * half - size
        premult = (colour.reshape(size, size, parts, channels) * alpha[..., None]).reshape(size, size, -1)
        premult = np.pad(premult, ((0, pad), (0, pad), (0, 0)))
        cover = np.pad(alpha, ((0, pad), (0, pad), (0, 0)))
        premult = premult.reshape(half, 2, half, 2, -1).sum((1, 3))
        cover = cover.reshape(half, 2, half, 2, parts).sum((1, 3))
        colour = (premult.reshape(half, half, parts, channels)
                  / np.maximum(cover, 1e-12)[..., None]).reshape(half, half, -1)
        alpha = np.minimum(cover, 1)
        levels.append((colour, alpha))
    top, top_alpha = levels[-1]      # [1, 1, 24 * C]: a tile with nothing known gets the fallback
    top = np.where(top_alpha[..., None] > 0, top.reshape(1, 1, parts, channels),
                   np.asarray(fallback, np.float32)).reshape(1, 1, -1)
    filled = top.astype(np.float32)
    for colour, alpha in reversed(levels[:-1]):   # push: bilinear upsampling, known texels kept
        size = colour.shape[0]
        up = cv2.resize(filled, (2 * filled.shape[1], 2 * filled.shape[0]), interpolation=cv2.INTER_LINEAR)
        up = up.reshape(2 * filled.shape[0], 2 * filled.shape[1], -1)[:size, :size]
        a = np.repeat(alpha, channels, axis=2)
        filled = a * colour + (1 - a) * up
    return _from_tiles(filled.reshape(t, t, parts, channels))


def parts_never_seen(seen):
    """Part ids (1..24) with no seen texel; seen: bool [6T, 4T]."""
    per_part = _to_tiles(np.asarray(seen)[..., None])[..., 0].any((0, 1))
    return [p + 1 for p in range(NUM_PARTS) if not per_part[p]]


def fill_dark_texels(atlas, dark=DARK_UNSEEN):
    """An atlas whose unseen texels are black (a plain unfold, the original research code's texture.jpg)
    with them filled from their part's seen texels (``fill_tiles``). Texels whose every channel is at most
    ``dark`` count as unseen: JPEG leaves unseen black up to ~30 levels above 0 around seen texels. A dark
    texel inside a part with brighter ones is refilled from them; a part with no brighter texel (dark
    clothes) is left as it is. atlas: uint8 [6T, 4T, 3] -> uint8 [6T, 4T, 3]."""
    seen = atlas.max(2) > dark
    tiles_seen = _to_tiles(seen[..., None])[..., 0]                       # [T, T, 24]
    tiles_seen |= ~tiles_seen.any((0, 1), keepdims=True)                  # all-dark parts: every texel kept
    seen = _from_tiles(tiles_seen[..., None])[..., 0]
    filled = fill_tiles(atlas.astype(np.float32), seen, np.zeros(atlas.shape[2], np.float32))
    return np.clip(np.rint(filled), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# The atlas
# ---------------------------------------------------------------------------------------------
def build_atlas(frames, iuvs, tex_size=200, progress=False, edge_px=EDGE_PX, l1_steps=L1_STEPS,
                cauchy_steps=CAUCHY_STEPS, scale=CAUCHY_SCALE, max_observations=MAX_OBSERVATIONS,
                workers=WORKERS, stats=None):
    """Texture atlas unfolded from frames and their DensePose IUVs (method: module docstring).

    frames: iterable of uint8 RGB [H, W, 3]; iuvs: iterable of the matching DensePose IUV uint8
    [H, W, 3] (sizes may change from frame to frame, each frame must match its IUV)
    -> (atlas uint8 RGB [6T, 4T, 3]: robust colour where seen, filled from the same part elsewhere,
        the mean colour in parts never seen (parts_never_seen(seen) lists them);
        seen bool [6T, 4T]: texels some person pixel mapped to).
    ValueError when a frame and its IUV differ in size, or no IUV has a person pixel.
    stats: a dict to receive counts and timings: frames, observations, kept_frames (frames whose
    observations the robust pass used), seconds_read (reading + unpacking the frames),
    seconds_robust, seconds_fill.
    """
    total = min((len(x) for x in (frames, iuvs) if hasattr(x, '__len__')), default=None)
    return build_atlas_from_items(zip(frames, iuvs), lambda pair: pair, total, tex_size, progress, edge_px,
                                  l1_steps, cauchy_steps, scale, max_observations, workers, stats)


def build_atlas_from_items(items, load, total=None, tex_size=200, progress=False, edge_px=EDGE_PX,
                           l1_steps=L1_STEPS, cauchy_steps=CAUCHY_STEPS, scale=CAUCHY_SCALE,
                           max_observations=MAX_OBSERVATIONS, workers=WORKERS, stats=None):
    """build_atlas over items that load(item) turns into (frame, iuv), e.g. a pair of file paths;
    load runs on ``workers`` threads, so reading overlaps with unpacking. total: the number of items
    (for the progress bar), or None."""
    if tex_size < 2:
        raise ValueError(f'tex_size must be at least 2, got {tex_size}')
    n_texels = ATLAS_ROWS * tex_size * ATLAS_COLS * tex_size
    store = _Observations(n_texels, max_observations)

    def observe(item):
        return frame_observations(*load(item), tex_size, edge_px)

    start = time.perf_counter()
    frames = observations = 0
    with tqdm(total=total, desc='unfolding', unit='frame', disable=not progress) as bar:
        for frames, obs in enumerate(_ordered_map(observe, items, workers), 1):
            store.add(frames - 1, *obs)
            observations += len(obs[0])
            bar.update()
    read_done = time.perf_counter()
    if not frames:
        raise ValueError('no frames to unfold')

    kept_frames = len(store.kept)
    estimate, kept_weight = robust_colours(*store.arrays(), n_texels, l1_steps, cauchy_steps, scale)
    spill = store.spill_totals()
    only_spilled = (kept_weight == 0) & (spill[:, 3] > 0)   # texels seen only by frames not kept
    estimate[only_spilled] = spill[only_spilled, :3] / spill[only_spilled, 3:]
    seen = (kept_weight > 0) | (spill[:, 3] > 0)
    if not seen.any():
        raise ValueError(f'no person pixel in any of the {frames} IUVs (part index 0 everywhere): nothing to unfold')
    robust_done = time.perf_counter()

    shape = (ATLAS_ROWS * tex_size, ATLAS_COLS * tex_size)
    atlas = estimate.reshape(*shape, 3)
    seen = seen.reshape(shape)
    filled = fill_tiles(atlas, seen, atlas[seen].mean(0))
    atlas = np.clip(np.rint(filled), 0, 255).astype(np.uint8)
    if stats is not None:
        stats.update(frames=frames, observations=observations, kept_frames=kept_frames,
                     seconds_read=read_done - start, seconds_robust=robust_done - read_done,
                     seconds_fill=time.perf_counter() - robust_done)
    return atlas, seen


def _ordered_map(fn, items, workers):
    """fn over items in order, with up to 2 * workers calls in flight on a thread pool (workers <= 1:
    in this thread)."""
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    pending = []
    with ThreadPoolExecutor(workers) as pool:
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= 2 * workers:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()
        finally:
            for future in pending:
                future.cancel()


def default_workers():
    """Threads for reading frames: the CPUs this process may use, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


# ---------------------------------------------------------------------------------------------
# The plain mean (no weights, no outlier rejection, no hole filling)
# ---------------------------------------------------------------------------------------------
def accumulate_atlas(frames, iuvs, tex_size):
    """Per-texel colour sums and observation counts over frames.

    frames: iterable of uint8 RGB [H, W, 3]; iuvs: iterable of matching DensePose IUV uint8 [H, W, 3]
    -> (sums float64 [6T, 4T, 3], counts float64 [6T, 4T]).
    """
    n_texels = ATLAS_ROWS * tex_size * ATLAS_COLS * tex_size
    sums = np.zeros((n_texels, 3), np.float64)
    counts = np.zeros(n_texels, np.float64)
    for k, (frame, iuv) in enumerate(zip(frames, iuvs)):
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or np.asarray(iuv).shape[:2] != frame.shape[:2]:
            raise ValueError(f'unfold: frame {k} is {frame.shape} and its IUV {np.asarray(iuv).shape}; '
                             f'need an RGB frame [H, W, 3] and an IUV of the same height and width')
        pixels, texels = texel_indices(iuv, tex_size)
        colors = frame.reshape(-1, 3)[pixels].astype(np.float64)
        counts += np.bincount(texels, minlength=n_texels)
        for c in range(3):
            sums[:, c] += np.bincount(texels, weights=colors[:, c], minlength=n_texels)
    shape = (ATLAS_ROWS * tex_size, ATLAS_COLS * tex_size)
    return sums.reshape(*shape, 3), counts.reshape(shape)


def unfold_atlas(frames, iuvs, tex_size):
    """Texture atlas from frames and their DensePose IUVs: the mean colour seen at each texel.

    frames: iterable of uint8 RGB [H, W, 3]; iuvs: iterable of uint8 IUV [H, W, 3]; tex_size: T
    -> (atlas float32 [6T, 4T, 3] in 0..255, 0 where never seen; seen bool [6T, 4T]).
    Each person pixel goes to the nearest texel of its part at (U, V).
    """
    sums, counts = accumulate_atlas(frames, iuvs, tex_size)
    seen = counts > 0
    atlas = np.zeros(sums.shape, np.float32)
    atlas[seen] = sums[seen] / counts[seen, None]
    return atlas, seen
