"""Image writes, cheap validity checks and moving files aside (never deleting them).

Every output is written atomically (util.io: a temporary name in its folder, renamed over the final
name), so a killed run leaves either the complete old file, the complete new file or no file, plus at
most a temporary file that the next run removes (``remove_temp_files``).
"""
import os
import shutil
import time

import cv2
import numpy as np

from data.readers import flo_header
from util.io import is_temporary, write_atomic

JPEG_QUALITY = 95


def encode_image(path, image, quality=JPEG_QUALITY):
    """Encode an image for path's extension: RGB uint8 [H, W, 3] or grey uint8 [H, W] -> bytes."""
    extension = os.path.splitext(path)[1].lower()
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if extension in ('.jpg', '.jpeg') else []
    ok, encoded = cv2.imencode(extension, image, params)
    if not ok:
        raise OSError(f'{path}: cannot encode image')
    return encoded.tobytes()


def write_image(path, image, quality=JPEG_QUALITY):
    """Atomic image write; image RGB uint8 [H, W, 3] or grey uint8 [H, W]."""
    write_atomic(path, encode_image(path, image, quality))


def flo_ok(path, size=None):
    """True when path is a complete .flo (magic, header, exact data length); size (H, W) must match if given."""
    try:
        header = flo_header(path)
    except OSError:
        return False
    if header is None:
        return False
    width, height, file_size = header
    if size is not None and (height, width) != tuple(size):
        return False
    return width > 0 and height > 0 and file_size == 12 + 8 * width * height


def image_ok(path):
    """Cheap check that an image file is complete: jpg starts with SOI and ends with EOI, png ends
    with its IEND chunk; other formats are decoded. A truncated or overwritten file fails."""
    try:
        size = os.path.getsize(path)
        with open(path, 'rb') as handle:
            head = handle.read(8)
            handle.seek(max(size - 12, 0))
            tail = handle.read()
    except OSError:
        return False
    extension = os.path.splitext(path)[1].lower()
    if extension in ('.jpg', '.jpeg'):
        return head[:2] == b'\xff\xd8' and tail.rstrip(b'\x00')[-2:] == b'\xff\xd9'
    if extension == '.png':
        return head == b'\x89PNG\r\n\x1a\n' and tail[-8:-4] == b'IEND'
    data = np.fromfile(path, np.uint8)
    return data.size > 0 and cv2.imdecode(data, cv2.IMREAD_UNCHANGED) is not None


def remove_temp_files(folders):
    """Remove the temporary files a killed run of this tool left in folders; returns their count."""
    removed = 0
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if is_temporary(name):
                os.remove(os.path.join(folder, name))
                removed += 1
    return removed


class SetAside:
    """Moves files that are about to be replaced into DATA/replaced-<time>/ (same relative path).

    Nothing is deleted: a file this tool replaces (with --overwrite, or because it was unreadable, or
    a flow folder with the wrong count) can be restored from there. The folder is created on first use.
    """

    def __init__(self, root):
        self.root = root
        self.folder = os.path.join(root, 'replaced-' + time.strftime('%Y%m%d-%H%M%S'))
        self.moved = 0

    def move(self, path):
        if not os.path.lexists(path):
            return
        target = os.path.join(self.folder, os.path.relpath(path, self.root))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.move(path, target)
        self.moved += 1
