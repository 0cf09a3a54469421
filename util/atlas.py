"""The texture atlas format: atlas image <-> texture tensor, and DensePose IUV -> UV maps / atlas texels.

Atlas convention (DensePose's): the atlas image is 6 rows x 4 columns of T x T tiles, [6T, 4T, C].
Part p (1..24) is the tile in column (p-1)//6, row (p-1)%6. Inside a tile, U in [0, 1] indexes
columns (U=0 -> column 0, U=1 -> column T-1) and V indexes rows flipped (V=1 -> row 0 at the top,
V=0 -> row T-1):
    texel row = (1 - V) * (T - 1),   texel col = U * (T - 1)      (align_corners=True semantics)

Texture tensor: [24 * C, T, T] (or batched [B, 24 * C, T, T]) in [-1, 1], part-major: channels
[(p-1)C : pC] hold part p's tile exactly as stored in the image (rows top to bottom); the V flip
is applied when sampling (util.texture_sampling), never stored.

Per-part UV maps: uv [B, 48, H, W] in [-1, 1], channels 2k, 2k+1 = (2U - 1, 2V - 1) of part k+1.
"""
import numpy as np
import torch

from util.densepose import NUM_PARTS

ATLAS_ROWS, ATLAS_COLS = 6, 4


def atlas_tile_size(height, width):
    """Tile size T of a [6T, 4T] atlas; ValueError when the size is not 6 x 4 square tiles."""
    if height % ATLAS_ROWS or width % ATLAS_COLS or height // ATLAS_ROWS != width // ATLAS_COLS \
            or height == 0:
        raise ValueError(f'texture atlas is {width}x{height} (width x height); expected 6 rows x 4 columns '
                         f'of square tiles, i.e. height = 6T and width = 4T for some tile size T '
                         f'(height/6 = {height / ATLAS_ROWS:g}, width/4 = {width / ATLAS_COLS:g})')
    return height // ATLAS_ROWS


def atlas_to_tensor(atlas):
    """Atlas image -> texture tensor.

    atlas: uint8 [6T, 4T, C] (numpy or torch; [6T, 4T] counts as C=1)
    -> float32 [24 * C, T, T] = atlas / 127.5 - 1, channels [(p-1)C : pC] = part p's tile as stored.
    """
    if torch.is_tensor(atlas):
        atlas = atlas.detach().cpu().numpy()
    atlas = np.asarray(atlas)
    if atlas.dtype != np.uint8:
        raise ValueError(f'texture atlas must be uint8 (an image as read from texture.jpg), got {atlas.dtype}')
    if atlas.ndim == 2:
        atlas = atlas[:, :, None]
    if atlas.ndim != 3:
        raise ValueError(f'texture atlas must be [6T, 4T, C], got shape {atlas.shape}')
    height, width, channels = atlas.shape
    t = atlas_tile_size(height, width)
    # [row, y, col, x, c] -> [col, row, c, y, x]: part index (p-1) = col * 6 + row
    tiles = atlas.reshape(ATLAS_ROWS, t, ATLAS_COLS, t, channels).transpose(2, 0, 4, 1, 3)
    tiles = np.ascontiguousarray(tiles).reshape(NUM_PARTS * channels, t, t)
    return torch.from_numpy(tiles).float().div_(127.5).sub_(1.0)


def tensor_to_atlas(texture):
    """Texture tensor [24 * C, T, T] or [1, 24 * C, T, T] in [-1, 1] -> uint8 atlas [6T, 4T, C].

    Inverse of atlas_to_tensor: round((x + 1) * 127.5) clipped to 0..255 (bit-exact round trip).
    """
    if not torch.is_tensor(texture):
        texture = torch.as_tensor(np.asarray(texture))
    if texture.dim() == 4:
        if texture.shape[0] != 1:
            raise ValueError(f'tensor_to_atlas takes one texture, got a batch of {texture.shape[0]}')
        texture = texture[0]
    if texture.dim() != 3 or texture.shape[0] % NUM_PARTS or texture.shape[1] != texture.shape[2]:
        raise ValueError(f'texture must be [24 * C, T, T], got {list(texture.shape)}')
    pc, t, _ = texture.shape
    channels = pc // NUM_PARTS
    values = texture.detach().to('cpu', torch.float32).numpy()
    values = np.clip(np.rint((values + 1.0) * 127.5), 0, 255).astype(np.uint8)
    # [col, row, c, y, x] -> [row, y, col, x, c]
    tiles = values.reshape(ATLAS_COLS, ATLAS_ROWS, channels, t, t).transpose(1, 3, 0, 4, 2)
    return np.ascontiguousarray(tiles).reshape(ATLAS_ROWS * t, ATLAS_COLS * t, channels)


def _check_iuv(iuv, what='IUV'):
    iuv = np.asarray(iuv)
    if iuv.ndim != 3 or iuv.shape[2] != 3:
        raise ValueError(f'{what} must be [H, W, 3] (part index, U*255, V*255), got shape {iuv.shape}')
    if iuv.dtype != np.uint8:
        raise ValueError(f'{what} must be uint8 as DensePose writes it, got {iuv.dtype}')
    if iuv.size and iuv[..., 0].max() > NUM_PARTS:
        raise ValueError(f'{what}: part index (channel 0) must be 0..{NUM_PARTS}, got up to {iuv[..., 0].max()}; '
                         f'is the image in BGR/RGB channel order other than DensePose\'s (I, U, V)?')
    return iuv


def iuv_to_uv(iuv):
    """DensePose IUV uint8 [H, W, 3] (part, U*255, V*255) -> (parts int64 [H, W] in 0..24,
    uv float32 [2, H, W] = (2U - 1, 2V - 1) in [-1, 1], zero on the background)."""
    iuv = _check_iuv(iuv)
    parts = iuv[..., 0].astype(np.int64)
    uv = iuv[..., 1:].transpose(2, 0, 1).astype(np.float32) * np.float32(2 / 255) - np.float32(1)
    uv *= parts > 0
    return parts, uv


def texel_indices(iuv, tex_size):
    """Person pixels of a DensePose IUV and the atlas texels they show.

    iuv: uint8 [H, W, 3] -> (pixels: int64 [N] flat indices into H*W of the person pixels,
    texels: int64 [N] flat indices into the [6T, 4T] atlas of each pixel's nearest texel).
    """
    iuv = _check_iuv(iuv)
    part = iuv[..., 0].reshape(-1)
    pixels = np.flatnonzero(part)
    p = part[pixels].astype(np.int64) - 1
    u = iuv[..., 1].reshape(-1)[pixels].astype(np.float64) / 255
    v = iuv[..., 2].reshape(-1)[pixels].astype(np.float64) / 255
    col = np.floor(u * (tex_size - 1) + 0.5).astype(np.int64)
    row = np.floor((1 - v) * (tex_size - 1) + 0.5).astype(np.int64)
    atlas_row = (p % ATLAS_ROWS) * tex_size + row
    atlas_col = (p // ATLAS_ROWS) * tex_size + col
    return pixels, atlas_row * (ATLAS_COLS * tex_size) + atlas_col


def part_uv_channels(parts, uv):
    """One UV per pixel -> the per-part UV maps the texture sampler reads.

    parts: int64 [N, H, W] in 0..24; uv: [N, 2, H, W] in [-1, 1] -> [N, 48, H, W]: channels 2(p-1), 2(p-1)+1
    hold the UV of the pixels of part p, zero elsewhere (util.texture_sampling.render's layout)."""
    n, height, width = parts.shape
    spread = uv.new_zeros(n, NUM_PARTS, 2, height, width)
    index = (parts.clamp(min=1) - 1)[:, None, None].expand(n, 1, 2, height, width)
    spread.scatter_(1, index, (uv * (parts > 0)[:, None].to(uv.dtype))[:, None])
    return spread.reshape(n, 2 * NUM_PARTS, height, width)
