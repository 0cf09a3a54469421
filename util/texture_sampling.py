"""Texture sampling: render a per-part texture with per-part UV maps, blended by part.

Texture, UV and atlas conventions: util.atlas (the V flip is applied here, when sampling).
"""
import torch
from torch.autograd.function import once_differentiable

from util.densepose import NUM_PARTS

_BILINEAR, _BORDER = 0, 1  # aten grid_sampler interpolation_mode / padding_mode codes
_grid_sample = torch.ops.aten.grid_sampler_2d
_grid_sample_backward = torch.ops.aten.grid_sampler_2d_backward

# Pairs (pixel, part) are gathered and sampled individually (the "pairs" path) instead of densely
# part by part when at most this share of all B*24*H*W pairs carries weight. On CPU a pair costs
# about 2x more on the pairs path; both paths took equally long at ~55% density (B=4, C=18, T=200,
# 256x256, 2 threads).
_SPARSE_MAX_DENSITY = 0.5
_MIN_POINTS_PER_CHUNK = 1024  # pairs path on CPU: points per grid_sample batch entry (one per thread)


def render(texture, uv, parts, min_prob=0.0):
    """Sample a per-part texture with per-part UV maps and blend the parts.

    texture: [B or 1, 24 * C, T, T] (a batch of 1 is shared by all samples)
    uv:      [B, 48, H, W] in [-1, 1]; channels 2k, 2k+1 = (2U - 1, 2V - 1) of part k+1
    parts:   soft part probabilities float [B, 25, H, W] (channel 0 = background, contributes
             nothing) or hard part ids integer [B, H, W] in 0..24 (0 = background -> output 0)
    min_prob: soft parts only. Probabilities <= min_prob count as 0: those (pixel, part) pairs are
             not sampled and get no gradient. 0 (default) is exact. A small value (1e-3) makes
             rendering with peaked probabilities several times faster, because only the parts
             that matter at each pixel are sampled.
    -> [B, C, H, W] = sum_p parts[:, p] * bilinear sample of part p's tile at (U, V) (see
       util.atlas for the texel mapping; coordinates outside [-1, 1] clamp to the tile
       border). Differentiable w.r.t. texture, uv and soft probabilities.

    Implementation: soft probabilities are sampled part by part in a custom autograd function that
    recomputes the samples in backward instead of keeping 24 of them (memory stays a few
    [B, C, H, W] buffers); when few (pixel, part) pairs carry weight (hard ids, or peaked
    probabilities with min_prob > 0) only those pairs are sampled, gathered part by part. While
    torch.compile or an exporter traces the caller, soft probabilities go through ``render_plain``.
    """
    if parts.is_floating_point() and _tracing():
        return render_plain(texture, uv, parts, min_prob)
    texture, uv, hard = _check_render_inputs(texture, uv, parts)
    device_type = uv.device.type
    with torch.autocast(device_type, enabled=False):  # sampling runs in the texture's dtype
        uv = uv.to(texture.dtype)
        if hard:
            return _render_ids(texture, uv, parts)
        probs = parts.to(texture.dtype)
        weights = probs[:, 1:]
        weights_need_grad = torch.is_grad_enabled() and weights.requires_grad
        if min_prob > 0 or not weights_need_grad:
            # pairs with weight <= min_prob are dropped: exact for zero weights when no gradient
            # w.r.t. them is needed, otherwise an approximation the caller asked for
            keep = weights.abs() > min_prob
            if int(keep.sum()) <= _SPARSE_MAX_DENSITY * keep.numel():
                return _render_pairs(texture, uv, probs, keep)
            if min_prob > 0:
                weights = torch.where(keep, weights, torch.zeros((), dtype=weights.dtype, device=weights.device))
        return _DenseRender.apply(texture, uv, weights, not weights_need_grad)


def render_plain(texture, uv, probs, min_prob=0.0):
    """``render`` for soft probabilities in plain tensor operations: one grid_sample per part, weighted
    and summed, with no autograd function, Python-side data or data-dependent branch, so that the
    torch.compile, TorchScript and ONNX exporters can follow it (``render`` calls it while they trace).
    Same arguments and result as ``render`` (equal up to float rounding); it samples every part densely.
    """
    if texture.dim() == 3:
        texture = texture[None]
    batch = uv.shape[0]
    tiles = _tiles(texture)
    with torch.autocast(uv.device.type, enabled=False):
        uv = uv.to(texture.dtype)
        weights = probs[:, 1:].to(texture.dtype)
        if min_prob > 0:
            weights = torch.where(weights.abs() > min_prob, weights, torch.zeros_like(weights))
        out = None
        for p in range(NUM_PARTS):
            tile = tiles[:, p]
            if tile.shape[0] != batch:
                tile = tile.expand(batch, -1, -1, -1)
            sample = torch.nn.functional.grid_sample(tile, _part_grid(uv, p), mode='bilinear',
                                                     padding_mode='border', align_corners=True)
            term = sample * weights[:, p:p + 1]
            out = term if out is None else out + term
        return out


def _tracing():
    """Whether an exporter or compiler is tracing the caller (plain operations only)."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export()


def _check_render_inputs(texture, uv, parts):
    if texture.dim() == 3:
        texture = texture[None]
    texture = texture.contiguous()
    if texture.dim() != 4 or texture.shape[1] % NUM_PARTS or texture.shape[2] != texture.shape[3]:
        raise ValueError(f'render: texture must be [B or 1, 24 * C, T, T], got {list(texture.shape)}')
    if not texture.is_floating_point():
        raise ValueError(f'render: texture must be a float tensor, got {texture.dtype}')
    if uv.dim() != 4 or uv.shape[1] != 2 * NUM_PARTS:
        raise ValueError(f'render: uv must be [B, 48, H, W] (per-part (2U-1, 2V-1)), got {list(uv.shape)}')
    batch, _, height, width = uv.shape
    if texture.shape[0] not in (1, batch):
        raise ValueError(f'render: texture batch {texture.shape[0]} must be 1 or match the uv batch {batch}')
    if parts.is_floating_point():
        hard = False
        if tuple(parts.shape) != (batch, NUM_PARTS + 1, height, width):
            raise ValueError(f'render: part probabilities must be [B, 25, H, W] = {[batch, 25, height, width]}, '
                             f'got {list(parts.shape)}')
    else:
        hard = True
        if tuple(parts.shape) != (batch, height, width):
            raise ValueError(f'render: part ids must be [B, H, W] = {[batch, height, width]}, '
                             f'got {list(parts.shape)}')
        low, high = torch.aminmax(parts) if parts.numel() else (0, 0)
        if int(low) < 0 or int(high) > NUM_PARTS:
            raise ValueError(f'render: part ids must be in 0..{NUM_PARTS}, got {int(low)}..{int(high)}')
    if texture.device != uv.device or parts.device != uv.device:
        raise ValueError(f'render: texture ({texture.device}), uv ({uv.device}) and parts ({parts.device}) '
                         f'must be on one device')
    return texture, uv, hard


class _DenseRender(torch.autograd.Function):
    """out = sum_p weights[:, p] * sample(texture part p, uv part p), looping over the 24 parts.

    Only the inputs are saved; backward samples each part again (one more forward grid_sample per
    part) rather than holding 24 [B, C, H, W] samples. With skip_zero_parts, parts whose weights are
    all zero are skipped (only right when the weights need no gradient: d out / d weight_p =
    sample_p even where weight_p = 0).
    """

    @staticmethod
    def forward(ctx, texture, uv, weights, skip_zero_parts):
        batch, _, height, width = uv.shape
        tiles = _tiles(texture)
        out = uv.new_zeros(batch, tiles.shape[2], height, width)
        active = _active_parts(weights) if skip_zero_parts else list(range(NUM_PARTS))
        for p in active:
            tile, grid = _tile(tiles, p, batch), _part_grid(uv, p)
            for rows in _row_chunks(out):
                sample = _grid_sample(tile, grid[:, rows], _BILINEAR, _BORDER, True)
                out[:, :, rows].addcmul_(sample, weights[:, p:p + 1, rows])
        ctx.save_for_backward(texture, uv, weights)
        ctx.active = active
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        texture, uv, weights = ctx.saved_tensors
        need_tex, need_uv, need_w = ctx.needs_input_grad[:3]
        batch = uv.shape[0]
        tiles = _tiles(texture)
        grad_out = grad_out.contiguous()
        grad_tex = torch.zeros_like(texture) if need_tex else None
        grad_uv = torch.zeros_like(uv) if need_uv else None
        grad_w = torch.zeros_like(weights) if need_w else None
        grad_tiles = _tiles(grad_tex) if need_tex else None
        weighted = torch.empty_like(grad_out) if need_tex or need_uv else None
        for p in ctx.active:
            tile, grid = _tile(tiles, p, batch), _part_grid(uv, p)
            if need_w:  # d out / d weight_p = sample_p, dotted with grad_out over channels
                for rows in _row_chunks(grad_out):
                    sample = _grid_sample(tile, grid[:, rows], _BILINEAR, _BORDER, True)
                    torch.sum(sample.mul_(grad_out[:, :, rows]), 1, out=grad_w[:, p, rows])
            if need_tex or need_uv:
                torch.mul(grad_out, weights[:, p:p + 1], out=weighted)
                g_tile, g_grid = _grid_sample_backward(weighted, tile, grid, _BILINEAR, _BORDER, True,
                                                       [need_tex, need_uv])
                if need_tex:
                    grad_tiles[:, p] += g_tile.sum(0, keepdim=True) if tiles.shape[0] != batch else g_tile
                if need_uv:
                    grad_uv[:, 2 * p] = g_grid[..., 0]
                    torch.neg(g_grid[..., 1], out=grad_uv[:, 2 * p + 1])
        return grad_tex, grad_uv, grad_w, None


def _row_chunks(image, max_bytes=16 << 20):
    """Row slices of image [B, C, H, W] of at most ~max_bytes each (CPU; one slice on GPU).

    On CPU, buffers above glibc's mmap threshold (at most 32 MiB) are fresh pages on every
    allocation, and page faults then cost as much as the sampling: sampling in row chunks keeps
    each temporary small (2x faster forward at 512x512, B=4, C=18).
    """
    batch, channels, height, width = image.shape
    if image.device.type != 'cpu':
        return [slice(None)]
    step = max(1, max_bytes // max(1, batch * channels * width * image.element_size()))
    return [slice(r, min(r + step, height)) for r in range(0, height, step)]


def _tiles(texture):
    """[Bt, 24 * C, T, T] -> view [Bt, 24, C, T, T]."""
    bt, pc, t, _ = texture.shape
    return texture.view(bt, NUM_PARTS, pc // NUM_PARTS, t, t)


def _tile(tiles, p, batch):
    """Part p's tile [B, C, T, T] (a shared texture is expanded, not copied)."""
    tile = tiles[:, p]
    return tile.expand(batch, -1, -1, -1) if tile.shape[0] != batch else tile


def _part_grid(uv, p):
    """grid_sample grid [B, H, W, 2] of part index p (0..23): x = 2U-1, y = 1-2V (the V flip)."""
    return torch.stack((uv[:, 2 * p], uv[:, 2 * p + 1].neg()), -1)


def _active_parts(weights):
    """Indices (0..23) of the parts with a non-zero weight somewhere."""
    nonzero = torch.count_nonzero(weights, dim=(0, 2, 3))
    return torch.nonzero(nonzero).flatten().tolist()


def _render_ids(texture, uv, ids):
    """Hard part ids [B, H, W]: one sample per person pixel from its part's tile (background -> 0)."""
    if texture.shape[0] > 1:  # one texture per sample: one call per sample (unbind: one gradient buffer)
        return torch.cat([_render_ids(tex[None], uv[b:b + 1], ids[b:b + 1])
                          for b, tex in enumerate(texture.unbind(0))])
    flat = ids.reshape(-1).long()
    pixel = torch.nonzero(flat).squeeze(1)
    part, order = torch.sort(flat.index_select(0, pixel) - 1, stable=True)
    return _PairsRender.apply(texture, uv, None, _Pairs(part, pixel.index_select(0, order), uv.shape))


def _render_pairs(texture, uv, probs, keep):
    """Sample only the (pixel, part) pairs where keep [B, 24, H, W] is True, weight them by probs
    [B, 25, H, W] and sum per pixel."""
    if texture.shape[0] > 1:
        return torch.cat([_render_pairs(tex[None], uv[b:b + 1], probs[b:b + 1], keep[b:b + 1])
                          for b, tex in enumerate(texture.unbind(0))])
    batch, _, height, width = uv.shape
    pixels = batch * height * width
    flat = torch.nonzero(keep.transpose(0, 1).reshape(-1)).squeeze(1)  # into [24, B*H*W]: sorted by part
    part = torch.div(flat, pixels, rounding_mode='floor')
    return _PairsRender.apply(texture, uv, probs.contiguous(), _Pairs(part, flat - part * pixels, uv.shape))


class _Pairs:
    """(pixel, part) pairs sorted by part, and where each pair's u, v and probability live.

    part: int64 [K] in 0..23, sorted; pixel: int64 [K] flat index into B*H*W.
    u_index: into uv [B, 48, H, W] flattened (v is at u_index + H*W); w_index: into probs [B, 25, H, W].
    """

    def __init__(self, part, pixel, uv_shape):
        batch, _, height, width = uv_shape
        hw = height * width
        b = torch.div(pixel, hw, rounding_mode='floor')
        pos = pixel - b * hw
        self.pixel, self.hw = pixel, hw
        self.u_index = (b * (2 * NUM_PARTS) + 2 * part) * hw + pos
        self.w_index = (b * (NUM_PARTS + 1) + part + 1) * hw + pos
        self.counts = torch.bincount(part, minlength=NUM_PARTS).tolist()

    def per_part(self):
        """(part index, slice of the pairs) for the parts that have pairs."""
        start = 0
        for p, count in enumerate(self.counts):
            if count:
                yield p, slice(start, start + count)
            start += count


class _PairsRender(torch.autograd.Function):
    """out[pixel] += probs[pair] * sample(texture part, uv of the pair) over the pairs, part by part.

    probs None: weight 1 (hard ids). Buffers are per part ([K_p, C]); backward samples again for the
    probabilities' gradient instead of keeping the samples.
    """

    @staticmethod
    def forward(ctx, texture, uv, probs, pairs):
        batch, _, height, width = uv.shape
        tiles = _tiles(texture)
        out = uv.new_zeros(batch * height * width, tiles.shape[2])
        uv_flat = uv.reshape(-1)
        for p, pairs_p in pairs.per_part():
            grid = _pairs_grid(uv_flat, pairs.u_index[pairs_p], pairs.hw)
            samples = _sample_points(tiles[:, p], grid)
            if probs is not None:
                samples.mul_(probs.reshape(-1).index_select(0, pairs.w_index[pairs_p]).unsqueeze(1))
            out.index_add_(0, pairs.pixel[pairs_p], samples)
        ctx.save_for_backward(texture, uv, probs)
        ctx.pairs = pairs
        return out.view(batch, height, width, -1).permute(0, 3, 1, 2).contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        texture, uv, probs = ctx.saved_tensors
        pairs = ctx.pairs
        need_tex, need_uv, need_w = ctx.needs_input_grad[:3]
        tiles = _tiles(texture)
        channels = tiles.shape[2]
        grad_cl = grad_out.permute(0, 2, 3, 1).reshape(-1, channels)  # [B*H*W, C] channels-last copy
        grad_tex = torch.zeros_like(texture) if need_tex else None
        grad_uv = torch.zeros(uv.numel(), dtype=uv.dtype, device=uv.device) if need_uv else None
        grad_w = torch.zeros(probs.numel(), dtype=probs.dtype, device=probs.device) if need_w else None
        uv_flat = uv.reshape(-1)
        for p, pairs_p in pairs.per_part():
            u_index = pairs.u_index[pairs_p]
            grid = _pairs_grid(uv_flat, u_index, pairs.hw)
            grad_p = grad_cl.index_select(0, pairs.pixel[pairs_p])  # [K_p, C]
            if probs is not None:
                w_index = pairs.w_index[pairs_p]
                if need_w:  # each pair owns its probability: plain assignment
                    samples = _sample_points(tiles[:, p], grid)
                    grad_w[w_index] = (samples.mul_(grad_p)).sum(1)
                grad_p.mul_(probs.reshape(-1).index_select(0, w_index).unsqueeze(1))
            if need_tex or need_uv:
                g_tile, g_grid = _sample_points_backward(grad_p, tiles[:, p], grid, need_tex, need_uv)
                if need_tex:
                    _tiles(grad_tex)[:, p] += g_tile
                if need_uv:
                    grad_uv[u_index] = g_grid[:, 0]
                    grad_uv[u_index + pairs.hw] = g_grid[:, 1].neg()
        return (grad_tex, None if grad_uv is None else grad_uv.view_as(uv),
                None if grad_w is None else grad_w.view_as(probs), None)


def _pairs_grid(uv_flat, u_index, hw):
    """grid_sample coordinates [K, 2] = (2U-1, 1-2V) (rows are flipped V) of pairs."""
    return torch.stack((uv_flat.index_select(0, u_index), uv_flat.index_select(0, u_index + hw).neg()), 1)


def _point_chunks(k, device):
    """Split K points into equal chunks, one per CPU thread (grid_sample parallelises over the batch)."""
    chunks = max(1, min(torch.get_num_threads(), k // _MIN_POINTS_PER_CHUNK)) if device.type == 'cpu' else 1
    return chunks, -(-k // chunks)


def _sample_points(tile, grid):
    """Bilinear samples (border padding) of tile [1, C, T, T] at K points grid [K, 2] (normalised,
    align_corners=True) -> [K, C]."""
    k = grid.shape[0]
    chunks, per_chunk = _point_chunks(k, grid.device)
    if per_chunk * chunks != k:
        grid = torch.cat((grid, grid.new_zeros(per_chunk * chunks - k, 2)))
    out = _grid_sample(tile.expand(chunks, -1, -1, -1), grid.view(chunks, 1, per_chunk, 2),
                       _BILINEAR, _BORDER, True)  # [chunks, C, 1, per_chunk]
    return out.permute(0, 2, 3, 1).reshape(chunks * per_chunk, tile.shape[1])[:k]


def _sample_points_backward(grad, tile, grid, need_tile, need_grid):
    """Gradients of _sample_points: grad [K, C] -> (tile gradient [1, C, T, T], grid gradient [K, 2])."""
    k, channels = grad.shape
    chunks, per_chunk = _point_chunks(k, grid.device)
    if per_chunk * chunks != k:
        grid = torch.cat((grid, grid.new_zeros(per_chunk * chunks - k, 2)))
        grad = torch.cat((grad, grad.new_zeros(per_chunk * chunks - k, channels)))
    grad = grad.view(chunks, per_chunk, channels).permute(0, 2, 1).unsqueeze(2).contiguous()
    g_tile, g_grid = _grid_sample_backward(grad, tile.expand(chunks, -1, -1, -1),
                                           grid.view(chunks, 1, per_chunk, 2), _BILINEAR, _BORDER, True,
                                           [need_tile, need_grid])
    return (g_tile.sum(0, keepdim=True) if need_tile else None,
            g_grid.view(-1, 2)[:k] if need_grid else None)
