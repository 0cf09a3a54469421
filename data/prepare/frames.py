"""Frame sources (a video, a folder of images, or the frames already in the dataset), resizing and
extraction into the seed layout: DATA/<DATA's name>/frame00001.jpg, frame00002.jpg, ...

Videos are decoded with the ffmpeg of imageio-ffmpeg (any format ffmpeg reads; rotation metadata is
applied). Frames are RGB uint8 [H, W, 3] throughout.
"""
import hashlib
import logging
import os
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from data.layout import list_images
from data.prepare.errors import PrepareError
from data.prepare.files import image_ok, write_image

FRAME_PREFIX = 'frame'
EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)     # EXIF orientations that swap width and height


def _size_text(height_width):
    return f'{height_width[1]}x{height_width[0]}'


# ---------------------------------------------------------------------------------------------
# Resizing
# ---------------------------------------------------------------------------------------------
class Resizer:
    """Brings frames of size src (H, W) to the output size.

    size (H, W): scale to cover, then crop the centre (aspect ratio kept, nothing stretched);
    long_side N: scale so the longer side is N (aspect ratio kept); neither: unchanged.
    """

    def __init__(self, src, size=None, long_side=None):
        height, width = src
        self.src = (height, width)
        if size is not None:
            out_h, out_w = size
            scale = max(out_h / height, out_w / width)
        elif long_side is not None:
            scale = long_side / max(height, width)
            out_h, out_w = max(1, round(height * scale)), max(1, round(width * scale))
        else:
            scale, out_h, out_w = 1.0, height, width
        self.scaled = (max(out_h, round(height * scale)), max(out_w, round(width * scale)))
        self.out = (out_h, out_w)
        self.crop = ((self.scaled[0] - out_h) // 2, (self.scaled[1] - out_w) // 2)

    def __call__(self, frame):
        if frame.shape[:2] != self.src:
            raise ValueError(f'frame is {_size_text(frame.shape[:2])}, expected {_size_text(self.src)}')
        if self.scaled != self.src:
            shrink = self.scaled[0] < self.src[0]
            frame = cv2.resize(frame, (self.scaled[1], self.scaled[0]),
                               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        top, left = self.crop
        return np.ascontiguousarray(frame[top:top + self.out[0], left:left + self.out[1]])


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------
@dataclass
class Source:
    """Where frames come from. signature identifies the source and its selection (for resuming)."""
    kind: str                   # 'video' | 'folder' | 'existing'
    path: str
    size: tuple                 # (H, W) of the decoded frames, before resizing
    estimate: int               # expected frame count (exact for folders)
    signature: dict
    paths: list = field(default_factory=list)      # folder / existing: image paths in order
    _video_args: dict = field(default_factory=dict)

    def count(self):
        """Exact number of frames (decodes a video once, at a tiny size)."""
        if self.kind != 'video':
            return len(self.paths)
        return sum(1 for _ in _video_frames(self.path, tiny=True, **self._video_args))

    def frames(self, wanted=lambda k: True):
        """Yield (k, RGB frame or None) for k = 0, 1, ...; None where wanted(k) is False
        (folders skip reading those; a video decodes every frame anyway)."""
        if self.kind == 'video':
            for k, frame in enumerate(_video_frames(self.path, **self._video_args)):
                yield k, frame if wanted(k) else None
            return
        for k, path in enumerate(self.paths):
            yield k, read_image(path) if wanted(k) else None


def read_image(path):
    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise PrepareError(f'{path}: cannot decode image (corrupt, truncated or not an image); '
                           'replace or remove it and run again (frames written so far are kept)')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _ffmpeg_params(fps, start, end):
    input_params = ['-ss', f'{start:.6f}'] if start else []
    filters = [f'fps={fps:g}'] if fps else []
    output_params = ['-map', '0:v:0', '-an', '-sn']
    if end is not None:
        output_params += ['-t', f'{end - (start or 0):.6f}']
    return input_params, filters, output_params


def _ffmpeg_problem(error):
    """The last meaningful line of ffmpeg's error output."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(('=== stderr', 'lib', 'configuration', 'built with', 'ffmpeg version')):
            return line
    return lines[-1] if lines else type(error).__name__


def _open_ffmpeg(path, fps, start, end, tiny=False):
    import imageio_ffmpeg
    input_params, filters, output_params = _ffmpeg_params(fps, start, end)
    if tiny:
        filters.append('scale=16:16')
    if filters:
        output_params += ['-vf', ','.join(filters)]
    reader = imageio_ffmpeg.read_frames(path, pix_fmt='gray' if tiny else 'rgb24', bits_per_pixel=8 if tiny else 24,
                                        input_params=input_params, output_params=output_params)
    logger = logging.getLogger('imageio_ffmpeg')
    level = logger.level
    if tiny:
        logger.setLevel(logging.ERROR)      # it warns that 16x16 is not the video's size
    try:
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration, ValueError, KeyError, IndexError) as error:
        reader.close()
        raise PrepareError(f'{path}: cannot read as a video (ffmpeg: {_ffmpeg_problem(error)}); is it a complete '
                           'video file? Nothing was written.') from error
    finally:
        logger.setLevel(level)
    return reader, meta


def _video_frames(path, fps=None, start=None, end=None, tiny=False):
    reader, meta = _open_ffmpeg(path, fps, start, end, tiny)
    width, height = meta['size']
    k = 0
    try:
        for k, chunk in enumerate(reader):
            yield None if tiny else np.frombuffer(chunk, np.uint8).reshape(height, width, 3)
    except RuntimeError as error:
        raise PrepareError(f'{path}: the video breaks off after {k} frames ({error}); frames written so far '
                           'are kept; repair the file or pass --end before the damage') from error
    finally:
        reader.close()


def _ends_digest(path, span=1 << 20):
    """SHA-1 of the first and last MiB of a file: tells videos apart without reading them whole
    (copying or touching a video keeps it, re-encoding or editing it changes it)."""
    digest = hashlib.sha1()
    with open(path, 'rb') as handle:
        digest.update(handle.read(span))
        handle.seek(max(0, os.path.getsize(path) - span))
        digest.update(handle.read(span))
    return digest.hexdigest()


def open_video(path, fps=None, start=None, end=None):
    if not os.path.exists(path):
        raise PrepareError(f'{path}: video not found (nothing was written)')
    if os.path.isdir(path):
        raise PrepareError(f'{path}: is a folder, not a video; pass a folder of frames with --frames_dir')
    if os.path.getsize(path) == 0:
        raise PrepareError(f'{path}: empty file, not a video (nothing was written)')
    reader, meta = _open_ffmpeg(path, fps, start, end)
    reader.close()
    width, height = meta['size']
    rate = fps or meta.get('fps') or 25.0
    duration = meta.get('duration') or 0.0
    stop = duration if end is None or (duration and end > duration) else end
    span = max(0.0, stop - (start or 0.0))
    signature = {'kind': 'video', 'path': os.path.abspath(path), 'bytes': os.path.getsize(path),
                 'sha1_ends': _ends_digest(path), 'fps': fps, 'start': start, 'end': end}
    return Source('video', path, (height, width), max(1, round(span * rate)), signature,
                  _video_args={'fps': fps, 'start': start, 'end': end})


def image_size(path):
    """(H, W) as cv2 decodes the image (EXIF orientation applied), from the header only."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.getexif().get(EXIF_ORIENTATION) in _TRANSPOSING_ORIENTATIONS:
                width, height = height, width
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise PrepareError(f'{path}: cannot read image header ({error}); replace or remove the file') from error
    return height, width


def check_one_size(folder, paths):
    """(H, W) shared by all images; a PrepareError naming the sizes and example files otherwise."""
    by_size = {}
    for path in paths:
        by_size.setdefault(image_size(path), []).append(path)
    if len(by_size) > 1:
        groups = sorted(by_size.items(), key=lambda item: -len(item[1]))
        parts = [f'{len(files)} are {_size_text(size)} (e.g. {os.path.basename(files[0])})' for size, files in groups]
        raise PrepareError(f'{folder}: frames of different sizes: {"; ".join(parts)}. All frames of one video need '
                           'one size: move the odd frames out of the folder (nothing was written)')
    return next(iter(by_size))


def open_folder(folder, start=None, end=None):
    """Images of folder in frame-number order; start/end select 1-based frame numbers (inclusive)."""
    if not os.path.isdir(folder):
        raise PrepareError(f'{folder}: frames folder not found (nothing was written)')
    names = list_images(folder)
    if not names:
        raise PrepareError(f'{folder}: no images (jpg/png/bmp) in the frames folder (nothing was written)')
    first = int(start) if start else 1
    last = int(end) if end is not None else len(names)
    selected = names[first - 1:last]
    if not selected:
        raise PrepareError(f'{folder}: --start {first} --end {last} selects none of its {len(names)} frames')
    paths = [os.path.join(folder, name) for name in selected]
    size = check_one_size(folder, paths)
    signature = {'kind': 'folder', 'path': os.path.abspath(folder), 'names': [selected[0], selected[-1]],
                 'count': len(selected)}
    return Source('folder', folder, size, len(paths), signature, paths=paths)


def open_existing(frames_dir):
    """The frames already in DATA/<name>/, used in place."""
    names = list_images(frames_dir) if os.path.isdir(frames_dir) else []
    if not names:
        raise PrepareError(f'{frames_dir}: no frames there; pass --video IN.mp4 or --frames_dir DIR')
    paths = [os.path.join(frames_dir, name) for name in names]
    size = check_one_size(frames_dir, paths)
    return Source('existing', frames_dir, size, len(paths), {'kind': 'existing'}, paths=paths)


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------
def frame_name(index, digits, extension='.jpg'):
    return f'{FRAME_PREFIX}{index + 1:0{digits}d}{extension}'


def name_digits(count):
    return max(5, len(str(int(count * 1.2) + 1)))


def extract(source, frames_dir, resizer, digits, quality, progress=True, on_skip=None):
    """Write the source's frames as frames_dir/frame00001.jpg ...; valid files already there are kept.

    -> (names of all frames in order, number written, number kept).
    """
    os.makedirs(frames_dir, exist_ok=True)
    names, written, kept = [], 0, 0

    def missing(k):
        return not image_ok(os.path.join(frames_dir, frame_name(k, digits)))

    bar = tqdm(total=source.estimate, desc='frames', unit='frame', disable=not progress)
    try:
        for k, frame in source.frames(wanted=missing):
            name = frame_name(k, digits)
            names.append(name)
            if frame is None:
                kept += 1
            else:
                write_image(os.path.join(frames_dir, name), resizer(frame), quality)
                written += 1
            bar.update(1)
    finally:
        bar.close()
    if not names:
        raise PrepareError(f'{source.path}: no frames decoded (check --start/--end against the video length)')
    return names, written, kept
