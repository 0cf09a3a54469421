"""Person masks from DensePose IUV: part index > 0, cleaned with a little morphology.

DensePose leaves pin holes and ragged seams between parts and, now and then, a speck on the
background; a closing fills the seams, an opening removes specks, small enclosed holes are filled
and tiny components dropped. Large enclosed holes (the gap between an arm and the torso) stay.
"""
import os

import cv2
import numpy as np
from tqdm import tqdm

from data.prepare.files import image_ok, write_image
from data.readers import DataFileError, read_iuv

HOLE_FRACTION = 0.002       # enclosed holes smaller than this share of the frame are filled
SPECK_FRACTION = 0.0005     # components smaller than this share of the frame are dropped


def kernel_size(height, width):
    """Odd structuring-element size, about 1% of the shorter side (3 px at 256, 5 at 512, 11 at 1080)."""
    size = max(3, round(min(height, width) / 100))
    return size + 1 - size % 2


def mask_from_iuv(iuv):
    """DensePose IUV uint8 [H, W, 3] (channel 0 = part 0..24) -> person mask bool [H, W]."""
    person = (iuv[:, :, 0] > 0).astype(np.uint8)
    height, width = person.shape
    size = kernel_size(height, width)
    ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    person = cv2.morphologyEx(person, cv2.MORPH_CLOSE, ellipse)
    person = cv2.morphologyEx(person, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    area = height * width
    count, labels, stats, _ = cv2.connectedComponentsWithStats(person, connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= SPECK_FRACTION * area
    person = keep[labels]
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~person).astype(np.uint8), connectivity=4)
    touches_border = np.zeros(count, bool)
    touches_border[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    small_hole = (stats[:, cv2.CC_STAT_AREA] < HOLE_FRACTION * area) & ~touches_border
    small_hole[0] = False           # label 0 = the zero pixels of ~person, i.e. the person itself
    return person | small_hole[labels]


def make_masks(iuv_paths, mask_paths, progress=True):
    """Write mask_paths[k] from iuv_paths[k] where the mask is missing or unreadable.

    -> (written, kept, missing IUV paths skipped). Masks are png, 255 = person.
    """
    written = kept = 0
    skipped = []
    for iuv_path, mask_path in tqdm(list(zip(iuv_paths, mask_paths)), desc='masks', unit='frame',
                                    disable=not progress):
        if image_ok(mask_path):
            kept += 1
            continue
        if iuv_path is None:
            skipped.append(mask_path)
            continue
        try:
            iuv = read_iuv(iuv_path)
        except DataFileError as error:
            skipped.append(str(error))
            continue
        os.makedirs(os.path.dirname(mask_path), exist_ok=True)
        write_image(mask_path, np.where(mask_from_iuv(iuv), 255, 0).astype(np.uint8))
        written += 1
    return written, kept, skipped
