"""Turn network tensors and dataset arrays into RGB uint8 images for logging, and save them.

Every function is pure (inputs are never modified) and returns a numpy uint8 array [H, W, 3] in RGB
order unless it says otherwise. Tensors may live on any device and may require grad: they are
detached and copied to the CPU here.

Conventions shared with the rest of the toolkit:
  image  [3, H, W] or [1, H, W] float in [-1, 1]        (network input/output)
  parts  [H, W] int, 0 = background, 1..24 = DensePose part, negative = unknown
  uv     [2, H, W] float in [-1, 1]                     (U, V of each pixel's own part)
  uv48   [2*P, H, W] float in [-1, 1], P = 24 parts     (see ``select_part_uv`` for the layout)
  flow   [2, H, W] (tensor) or [H, W, 2] (numpy .flo)   (x, y displacement in pixels)
"""
import os

import cv2
import numpy as np
import torch

from util.densepose import NUM_PARTS
from util.io import write_atomic

UNKNOWN_PART_COLOUR = (128, 128, 128)
UNKNOWN_FLOW = 1e9            # .flo convention: components above this are unknown


# Part id -> RGB. Id 0 (background) is black; ids 1..24 are picked greedily from the 4-level RGB grid
# so that every colour is at least 85 away (in its most different channel) from every other one,
# from black and from the unknown grey.
PART_PALETTE = np.array([
    (0, 0, 0),
    (0, 0, 255), (0, 170, 255), (0, 255, 0), (170, 0, 255), (170, 255, 0), (255, 0, 0),
    (170, 170, 255), (0, 85, 255), (0, 255, 85), (0, 255, 170), (0, 255, 255), (85, 0, 255),
    (85, 255, 0), (255, 0, 85), (255, 0, 170), (255, 0, 255), (255, 85, 0), (255, 170, 0),
    (255, 255, 0), (0, 0, 170), (0, 85, 170), (0, 170, 0), (0, 170, 85), (0, 170, 170),
], np.uint8)


def _to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _float_to_uint8(x):
    """Float array in [-1, 1] -> uint8 in [0, 255] (-1 -> 0, 1 -> 255); NaN becomes mid grey."""
    x = np.nan_to_num(x.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.round((np.clip(x, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def tensor_to_image(t):
    """Float image in [-1, 1] -> uint8 RGB [H, W, 3]; values outside [-1, 1] are clamped.

    t: torch tensor or numpy array, channels first: [3, H, W], [1, H, W] (grey, replicated to RGB)
    or [H, W] (grey). A leading batch dimension of size 1 ([1, C, H, W]) is dropped.
    """
    x = _to_numpy(t)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f'tensor_to_image expects [3, H, W], [1, H, W] or [H, W], got shape '
                         f'{tuple(x.shape)}; convert part maps, UV or flow with their own '
                         f'function (part_probs_to_image, uv_to_image, flow_to_image)')
    if x.shape[0] == 1:
        x = np.repeat(x, 3, axis=0)
    return np.ascontiguousarray(_float_to_uint8(x).transpose(1, 2, 0))


def to_image(x):
    """Any displayable image -> uint8 RGB [H, W, 3] (what ``Visualizer.display`` accepts).

    - uint8 arrays/tensors [H, W, 3] are taken as RGB and passed through; uint8 [H, W] is grey;
    - float tensors go through ``tensor_to_image`` (channels first, [-1, 1]);
    - float numpy arrays are channels first like tensors, except [H, W, 3] / [H, W, 1] whose first
      dimension is not 1 or 3, which are read channels last.
    """
    x = _to_numpy(x)
    if x.dtype == np.uint8:
        if x.ndim == 2:
            return np.repeat(x[:, :, None], 3, axis=2)
        if x.ndim == 3 and x.shape[2] == 3:
            return np.ascontiguousarray(x)
        if x.ndim == 3 and x.shape[2] == 1:
            return np.repeat(x, 3, axis=2)
        raise ValueError(f'uint8 image must be [H, W, 3] RGB or [H, W] grey, got shape {x.shape}')
    if x.dtype == np.bool_:
        x = x.astype(np.float32) * 2 - 1
    if x.ndim == 3 and x.shape[2] in (1, 3) and x.shape[0] not in (1, 3):
        x = x.transpose(2, 0, 1)
    return tensor_to_image(x)


def _part_ids(parts):
    p = _to_numpy(parts)
    if p.ndim != 2:
        raise ValueError(f'part map must be [H, W], got shape {p.shape}')
    if np.issubdtype(p.dtype, np.floating):
        p = np.round(p)
    p = p.astype(np.int64)
    if p.size and p.max() > NUM_PARTS:
        raise ValueError(f'part id {int(p.max())} out of range 0..{NUM_PARTS}')
    return p


def part_map_to_image(parts):
    """parts [H, W] int 0..24 (negative = unknown) -> uint8 RGB [H, W, 3] with ``PART_PALETTE``.

    Background (0) is black, unknown pixels are grey ``UNKNOWN_PART_COLOUR``.
    """
    p = _part_ids(parts)
    image = PART_PALETTE[np.clip(p, 0, None)]
    image[p < 0] = UNKNOWN_PART_COLOUR
    return image


def part_probs_to_image(probs):
    """probs or logits [25, H, W] (or [1, 25, H, W]) -> argmax part coloured by ``part_map_to_image``."""
    x = _to_numpy(probs)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3 or not 1 <= x.shape[0] <= NUM_PARTS + 1:
        raise ValueError(f'part scores must be [C, H, W] with C <= {NUM_PARTS + 1}, got shape {x.shape}')
    return part_map_to_image(np.argmax(x, axis=0))


def select_part_uv(uv48, parts, layout='interleaved'):
    """Each pixel's (U, V) for its own part, picked from the per-part UV channels.

    uv48:  [..., 2*P, H, W] (torch or numpy), P parts (24 for DensePose)
    parts: [..., H, W] int, 0 / negative = background
    layout: 'interleaved': channels 2*(p-1), 2*(p-1)+1 are U, V of part p (U1 V1 U2 V2 ...);
            'planar':      channels p-1 and P+p-1 are U, V of part p     (U1..UP V1..VP).
    returns [..., 2, H, W] of the input's type and dtype; background pixels are 0.
    """
    is_numpy = not isinstance(uv48, torch.Tensor)
    uv = torch.as_tensor(np.asarray(uv48)) if is_numpy else uv48
    p = torch.as_tensor(_to_numpy(parts) if not isinstance(parts, torch.Tensor) else parts,
                        device=uv.device)
    channels = uv.shape[-3]
    if channels % 2:
        raise ValueError(f'uv48 must have 2*P channels, got {channels}')
    num_parts = channels // 2
    if p.shape != uv.shape[:-3] + uv.shape[-2:]:
        raise ValueError(f'parts shape {tuple(p.shape)} does not match uv48 shape {tuple(uv.shape)}')
    p = p.round().long() if p.is_floating_point() else p.long()
    if p.numel() and int(p.max()) > num_parts:
        raise ValueError(f'part id {int(p.max())} exceeds the {num_parts} parts of uv48')
    index = p.clamp(1, num_parts) - 1
    if layout == 'interleaved':
        u_index, v_index = 2 * index, 2 * index + 1
    elif layout == 'planar':
        u_index, v_index = index, index + num_parts
    else:
        raise ValueError(f"layout must be 'interleaved' or 'planar', got {layout!r}")
    index = torch.stack([u_index, v_index], dim=-3)
    out = torch.gather(uv, -3, index) * (p > 0).unsqueeze(-3).to(uv.dtype)
    return out.numpy() if is_numpy else out


def uv_to_images(uv, parts=None, colormap=cv2.COLORMAP_VIRIDIS):
    """uv [2, H, W] in [-1, 1] -> (u_image, v_image), each uint8 RGB [H, W, 3].

    Each coordinate is colour-mapped (``colormap``, a cv2 COLORMAP_*); pixels whose part is
    background or unknown (parts <= 0) are black. parts=None treats every pixel as foreground.
    """
    x = _to_numpy(uv)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3 or x.shape[0] != 2:
        raise ValueError(f'uv must be [2, H, W], got shape {x.shape}; pick per-part UV with select_part_uv')
    foreground = None if parts is None else _part_ids(parts) > 0
    images = []
    for channel in _float_to_uint8(x):
        rgb = cv2.cvtColor(cv2.applyColorMap(channel, colormap), cv2.COLOR_BGR2RGB)
        if foreground is not None:
            rgb[~foreground] = 0
        images.append(rgb)
    return images[0], images[1]


def uv_to_image(uv, parts=None):
    """uv [2, H, W] in [-1, 1] -> uint8 RGB [H, 2*W, 3]: the U map (left) beside the V map (right)."""
    return np.concatenate(uv_to_images(uv, parts), axis=1)


def flow_to_image(flow, max_magnitude=None):
    """Optical flow -> uint8 RGB [H, W, 3] on the HSV colour wheel.

    flow: [2, H, W] or [H, W, 2] (x, y) in pixels; torch tensors are read as [2, H, W] unless their
          first dimension is not 2, numpy arrays as [H, W, 2] unless their last dimension is not 2.
    Hue is the direction, saturation the magnitude divided by ``max_magnitude`` (default: the 99th
    percentile of the valid magnitudes, so a few outliers do not wash out the image). Zero motion
    is white; non-finite or unknown (> 1e9, .flo convention) vectors are black.
    """
    is_tensor = isinstance(flow, torch.Tensor)
    f = _to_numpy(flow).astype(np.float32)
    if f.ndim != 3 or 2 not in (f.shape[0], f.shape[2]):
        raise ValueError(f'flow must be [2, H, W] or [H, W, 2], got shape {f.shape}')
    channels_first = f.shape[0] == 2 and (is_tensor or f.shape[2] != 2)
    if channels_first:
        f = f.transpose(1, 2, 0)
    fx, fy = f[..., 0], f[..., 1]
    valid = np.isfinite(fx) & np.isfinite(fy) & (np.abs(fx) < UNKNOWN_FLOW) & (np.abs(fy) < UNKNOWN_FLOW)
    fx, fy = np.where(valid, fx, 0), np.where(valid, fy, 0)
    magnitude = np.hypot(fx, fy)
    if max_magnitude is None:
        max_magnitude = float(np.percentile(magnitude[valid], 99)) if valid.any() else 0.0
    saturation = np.clip(magnitude / max_magnitude, 0, 1) if max_magnitude > 0 else np.zeros_like(magnitude)
    hue = (np.degrees(np.arctan2(fy, fx)) + 360.0) % 360.0
    hsv = np.stack([hue, saturation, valid.astype(np.float32)], axis=-1).astype(np.float32)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def save_image(path, rgb):
    """Write uint8 RGB [H, W, 3] (or grey [H, W]) to ``path`` atomically; format from the extension.

    The image is written to a temporary file in the same folder and renamed over ``path``, so a
    browser or a crash never sees a half-written file. Parent folders are created.
    """
    image = np.asarray(rgb)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f'{path}: save_image expects uint8 [H, W, 3] or [H, W], got '
                         f'{image.dtype} {image.shape}; convert with to_image first')
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    extension = os.path.splitext(path)[1] or '.png'
    ok, encoded = cv2.imencode(extension, image)
    if not ok:
        raise ValueError(f'{path}: cannot encode an image with extension {extension!r}')
    write_atomic(path, encoded.tobytes())
