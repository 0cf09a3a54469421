"""Pure readers and writers for the per-frame files of a dataset in the seed layout.

Every function takes plain paths and arrays, never option objects, and every error names the file
and what is wrong with it (``DataFileError``). Writers write atomically (util.io): a killed run
leaves the old file or the new one, never a torn file. ``image_size`` and ``flo_shape`` are the cheap
checks (a file's size from its header, and that the file is whole) run over a dataset before training.
"""
import json
import os

import cv2
import numpy as np
from PIL import Image

from util.densepose import NUM_PARTS
from util.errors import UserError
from util.io import write_atomic

FLO_MAGIC = 202021.25
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')

# OpenPose COCO-18 joint k sits at BODY_25 index COCO18_TO_BODY25[k]; MidHip (8) is derived.
COCO18_TO_BODY25 = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
BODY25_JOINTS = 25
COCO18_JOINTS = 18
FACE_POINTS = 70
HAND_POINTS = 21


class DataFileError(UserError, ValueError):
    """A dataset file is missing, unreadable or malformed; the message names the file."""

    def __init__(self, path, problem):
        super().__init__(f'{path}: {problem}')
        self.path = path
        self.problem = problem


def _require_file(path):
    if not os.path.isfile(path):
        raise DataFileError(path, 'file not found')


def _imread(path, flags):
    _require_file(path)
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise DataFileError(path, 'cannot decode image (corrupt, truncated or not an image)')
    return image


def read_frame(path):
    """Video frame as RGB uint8 [H, W, 3] (grey and alpha inputs are converted)."""
    image = _imread(path, cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def image_size(path):
    """(H, W) of an image file from its header, after checking that the file is whole: a jpg is decoded
    at 1/8 scale to its end (OpenCV decodes a truncated jpg without an error, grey where data is
    missing), a png's chunks must pass their checksums up to IEND. About a tenth of a full decode."""
    _require_file(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.format == 'JPEG':
                image.draft(None, (max(1, width // 8), max(1, height // 8)))
                image.load()
            elif image.format == 'PNG':
                image.verify()
    except (OSError, SyntaxError, ValueError) as error:     # PIL's errors for bad or truncated files
        raise DataFileError(path, f'cannot decode image ({error}; corrupt, truncated or not an image)') from error
    return height, width


def write_frame(path, rgb, quality=95):
    """Write an RGB uint8 [H, W, 3] frame; jpg quality applies to .jpg/.jpeg."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.lower().endswith(('.jpg', '.jpeg')) else []
    _imwrite(path, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), params)


def _imwrite(path, image, params=()):
    ok, encoded = cv2.imencode(os.path.splitext(path)[1], image, list(params))
    if not ok:
        raise DataFileError(path, 'cannot encode image')
    write_atomic(path, encoded.tobytes())


def read_iuv(path):
    """DensePose IUV png as DensePose writes it with cv2: uint8 [H, W, 3] = (I, U*255, V*255).

    The channels are kept in file order (no BGR->RGB swap), so channel 0 is the part index 0..24.
    """
    iuv = _imread(path, cv2.IMREAD_UNCHANGED)
    if iuv.ndim != 3 or iuv.shape[2] < 3:
        raise DataFileError(path, f'IUV image must have 3 channels, found shape {iuv.shape}')
    if iuv.dtype != np.uint8:
        raise DataFileError(path, f'IUV image must be 8-bit, found {iuv.dtype}')
    iuv = iuv[:, :, :3]
    max_part = int(iuv[:, :, 0].max())
    if max_part > NUM_PARTS:
        raise DataFileError(path, f'part index {max_part} out of range 0..{NUM_PARTS} (channel 0 must be I)')
    return iuv


def write_iuv(path, iuv):
    """Write uint8 [H, W, 3] (I, U*255, V*255) the way DensePose does (cv2, channels as given)."""
    if not path.lower().endswith('.png'):
        raise DataFileError(path, 'IUV must be written as lossless png')
    _imwrite(path, np.ascontiguousarray(iuv, dtype=np.uint8))


def read_mask(path):
    """Person mask as bool [H, W]: grey value > 127 is the person."""
    mask = _imread(path, cv2.IMREAD_GRAYSCALE)
    return mask > 127


def write_mask(path, mask):
    _imwrite(path, np.where(mask, 255, 0).astype(np.uint8))


def flo_header(path):
    """(width, height, file size in bytes) from a .flo's header; None when the file is shorter than a
    header or its magic is wrong. Raises OSError when it cannot be read."""
    with open(path, 'rb') as handle:
        header = handle.read(12)
    if len(header) < 12 or np.frombuffer(header[:4], np.float32)[0] != np.float32(FLO_MAGIC):
        return None
    width, height = (int(v) for v in np.frombuffer(header[4:12], np.int32))
    return width, height, os.path.getsize(path)


def flo_shape(path):
    """(H, W) of a Middlebury .flo from its header, after checking the magic, that the size is plausible
    and that the file holds exactly that much data (the flow itself is not read)."""
    _require_file(path)
    with open(path, 'rb') as handle:
        header = handle.read(12)
    if len(header) < 12:
        raise DataFileError(path, f'truncated .flo header ({len(header)} of 12 bytes)')
    magic = np.frombuffer(header[:4], np.float32)[0]
    if magic != np.float32(FLO_MAGIC):
        raise DataFileError(path, f'bad .flo magic {magic!r}, expected {FLO_MAGIC}')
    width, height = (int(v) for v in np.frombuffer(header[4:12], np.int32))
    if not (0 < width < 100000 and 0 < height < 100000):
        raise DataFileError(path, f'implausible .flo size {width}x{height}')
    data_bytes, needed = os.path.getsize(path) - 12, 8 * width * height
    if data_bytes != needed:
        raise DataFileError(path, f'.flo holds {data_bytes} data bytes, header {width}x{height} needs '
                                  f'{needed} (truncated or padded file)')
    return height, width


def read_flo(path):
    """Middlebury .flo: float32 [H, W, 2] (u = x displacement, v = y displacement) in pixels."""
    height, width = flo_shape(path)
    return np.fromfile(path, np.float32, offset=12).reshape(height, width, 2)


def write_flo(path, flow):
    """Write float [H, W, 2] as Middlebury .flo (magic, int32 width, int32 height, float32 u,v)."""
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise DataFileError(path, f'flow must be [H, W, 2], got {flow.shape}')
    height, width = flow.shape[:2]
    write_atomic(path, np.array([FLO_MAGIC], np.float32).tobytes() + np.array([width, height], np.int32).tobytes()
                 + np.ascontiguousarray(flow).tobytes())


def read_label3d(path):
    """Optional 3D pose label (LaplaceProj): .npy [C, H, W] float32, or an image -> [C, H, W] in [0, 1]."""
    if path.lower().endswith('.npy'):
        _require_file(path)
        try:
            label = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise DataFileError(path, f'cannot read .npy ({error})') from error
        if label.ndim == 2:
            label = label[None]
        if label.ndim != 3:
            raise DataFileError(path, f'3D label must be [C, H, W], got shape {label.shape}')
        return label.astype(np.float32)
    image = _imread(path, cv2.IMREAD_UNCHANGED)
    if image.ndim == 2:
        image = image[:, :, None]
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return np.transpose(image, (2, 0, 1)).astype(np.float32) / scale


def _keypoint_block(path, person, key, expected_counts):
    values = person.get(key)
    if values is None or len(values) == 0:
        return None
    if not isinstance(values, list) or len(values) % 3 != 0:
        raise DataFileError(path, f'"{key}" must be a flat list of x, y, confidence triples')
    points = np.asarray(values, dtype=np.float32).reshape(-1, 3)
    if len(points) not in expected_counts:
        raise DataFileError(path, f'"{key}" has {len(points)} points, expected one of {expected_counts}')
    return points


def _body25(path, person):
    body = _keypoint_block(path, person, 'pose_keypoints_2d', (BODY25_JOINTS, COCO18_JOINTS))
    if body is None:
        return np.zeros((BODY25_JOINTS, 3), np.float32)
    if len(body) == BODY25_JOINTS:
        return body
    converted = np.zeros((BODY25_JOINTS, 3), np.float32)
    converted[COCO18_TO_BODY25] = body
    right_hip, left_hip = body[8], body[11]
    if right_hip[2] > 0 and left_hip[2] > 0:
        converted[8] = (right_hip + left_hip) / 2
        converted[8, 2] = min(right_hip[2], left_hip[2])
    return converted


def read_openpose(path):
    """All persons of one OpenPose JSON file as a list of pose dicts (possibly empty).

    A pose dict holds float32 arrays of (x, y, confidence) rows: 'body' [25, 3] in BODY_25 order
    (COCO-18 input is converted; its missing toes/heels get confidence 0), 'face' [70, 3] or None,
    'hand_left' / 'hand_right' [21, 3] or None. Confidence 0 marks a missing joint.
    """
    _require_file(path)
    try:
        with open(path, encoding='utf-8') as handle:
            content = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataFileError(path, f'invalid JSON ({error})') from error
    if not isinstance(content, dict) or not isinstance(content.get('people'), list):
        raise DataFileError(path, 'not an OpenPose file: no "people" list')
    poses = []
    for person in content['people']:
        if not isinstance(person, dict):
            raise DataFileError(path, '"people" entries must be objects')
        pose = {
            'body': _body25(path, person),
            'face': _keypoint_block(path, person, 'face_keypoints_2d', (FACE_POINTS,)),
            'hand_left': _keypoint_block(path, person, 'hand_left_keypoints_2d', (HAND_POINTS,)),
            'hand_right': _keypoint_block(path, person, 'hand_right_keypoints_2d', (HAND_POINTS,)),
        }
        if any(block is not None and not np.isfinite(block).all() for block in pose.values()):
            raise DataFileError(path, 'keypoints contain NaN or Inf')
        poses.append(pose)
    return poses


def write_openpose(path, poses):
    """Write pose dicts as an OpenPose (version 1.3) JSON file with BODY_25 keypoints."""
    people = []
    for pose in poses:
        person = {'person_id': [-1]}
        for key, name in (('body', 'pose_keypoints_2d'), ('face', 'face_keypoints_2d'),
                          ('hand_left', 'hand_left_keypoints_2d'), ('hand_right', 'hand_right_keypoints_2d')):
            block = pose.get(key)
            person[name] = [] if block is None else [round(float(v), 3) for v in np.asarray(block).ravel()]
        for name in ('pose_keypoints_3d', 'face_keypoints_3d', 'hand_left_keypoints_3d', 'hand_right_keypoints_3d'):
            person[name] = []
        people.append(person)
    write_atomic(path, json.dumps({'version': 1.3, 'people': people}))
