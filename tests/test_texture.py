"""util/atlas.py (atlas <-> tensor, IUV -> UV), util/texture_sampling.py (render, against a per-part
reference loop) and util/unfold.py's plain mean unfold."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import util.texture_sampling as texture_sampling
from util.atlas import atlas_to_tensor, iuv_to_uv, tensor_to_atlas
from util.texture_sampling import render
from util.unfold import unfold_atlas

P = 24


def render_oracle(texture, uv, probs):
    """Reference: loop over the 24 parts, one grid_sample of each tile (border padding), weighted sum.

    The atlas convention spelled out: grid x = 2U-1 (columns), grid y = 1-2V (rows, V flipped).
    """
    batch, _, height, width = uv.shape
    channels, t = texture.shape[1] // P, texture.shape[-1]
    tiles = texture.expand(batch, -1, -1, -1).reshape(batch, P, channels, t, t)
    out = 0
    for k in range(P):
        grid = torch.stack((uv[:, 2 * k], -uv[:, 2 * k + 1]), dim=-1)
        sample = F.grid_sample(tiles[:, k], grid, mode='bilinear', padding_mode='border', align_corners=True)
        out = out + probs[:, k + 1:k + 2] * sample
    return out


def random_inputs(batch=2, channels=3, t=8, height=12, width=10, seed=0, sharpness=3.0):
    g = torch.Generator().manual_seed(seed)
    texture = torch.rand(1, P * channels, t, t, generator=g) * 2 - 1
    uv = torch.rand(batch, 2 * P, height, width, generator=g) * 2.2 - 1.1  # a little outside [-1, 1] too
    logits = torch.randn(batch, P + 1, height, width, generator=g) * sharpness
    return texture, uv, logits.softmax(1), logits.argmax(1)


def one_hot(ids):
    return F.one_hot(ids, P + 1).permute(0, 3, 1, 2).float()


def grads(out, *tensors, seed=1):
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    return torch.autograd.grad((out * weight).sum(), tensors, allow_unused=True)


# ---------------------------------------------------------------------------------------------- atlas
@pytest.mark.parametrize('t', [8, 200])
def test_atlas_round_trip_is_bit_exact(t):
    atlas = np.random.default_rng(t).integers(0, 256, (6 * t, 4 * t, 3), dtype=np.uint8)
    tensor = atlas_to_tensor(atlas)
    assert tensor.shape == (P * 3, t, t) and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    np.testing.assert_array_equal(tensor_to_atlas(tensor), atlas)
    np.testing.assert_array_equal(tensor_to_atlas(tensor[None]), atlas)


def test_atlas_tile_layout():
    t = 4
    atlas = np.zeros((6 * t, 4 * t, 3), np.uint8)
    for p in range(1, P + 1):  # part p: column (p-1)//6, row (p-1)%6
        row, col = (p - 1) % 6, (p - 1) // 6
        atlas[row * t:(row + 1) * t, col * t:(col + 1) * t] = (p, 2 * p, 3 * p)
    atlas[0, 1] = 200  # one marked texel in part 1: tile row 0, column 1, kept unflipped in the tensor
    tensor = atlas_to_tensor(atlas).view(P, 3, t, t)
    for p in range(2, P + 1):
        expected = torch.tensor([p, 2 * p, 3 * p]).float().view(3, 1, 1) / 127.5 - 1
        assert torch.allclose(tensor[p - 1], expected.expand(3, t, t))
    assert torch.allclose(tensor[0, :, 0, 1], torch.full((3,), 200 / 127.5 - 1))
    assert torch.allclose(tensor[0, :, 1, 1], torch.tensor([1, 2, 3]) / 127.5 - 1)


def test_atlas_bad_shape_raises():
    with pytest.raises(ValueError, match='6 rows x 4 columns'):
        atlas_to_tensor(np.zeros((60, 41, 3), np.uint8))
    with pytest.raises(ValueError, match='6 rows x 4 columns'):
        atlas_to_tensor(np.zeros((60, 36, 3), np.uint8))  # tiles 10 high, 9 wide
    with pytest.raises(ValueError, match='uint8'):
        atlas_to_tensor(np.zeros((60, 40, 3), np.float32))


def test_atlas_to_tensor_accepts_torch_uint8():
    atlas = torch.randint(0, 256, (30, 20, 3), dtype=torch.uint8)
    assert torch.equal(atlas_to_tensor(atlas), atlas_to_tensor(atlas.numpy()))


# --------------------------------------------------------------------------------------------- render
@pytest.fixture
def small_chunks(monkeypatch):
    """Force the chunked code paths: dense path in 1-row chunks, pairs path in 3 padded chunks."""
    row_chunks = texture_sampling._row_chunks
    monkeypatch.setattr(texture_sampling, '_row_chunks', lambda image: row_chunks(image, max_bytes=1))
    monkeypatch.setattr(texture_sampling, '_MIN_POINTS_PER_CHUNK', 1)
    monkeypatch.setattr(texture_sampling.torch, 'get_num_threads', lambda: 3)


@pytest.mark.parametrize('chunked', [False, True])
def test_render_matches_reference_loop_with_gradients(request, chunked):
    if chunked:
        request.getfixturevalue('small_chunks')
    texture, uv, probs, _ = random_inputs(seed=3)
    leaves = [x.clone().requires_grad_() for x in (texture, uv, probs)]
    out = render(*leaves)
    ref_leaves = [x.clone().requires_grad_() for x in (texture, uv, probs)]
    ref = render_oracle(*ref_leaves)
    assert torch.allclose(out, ref, atol=1e-5)
    for got, want in zip(grads(out, *leaves), grads(ref, *ref_leaves)):
        assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()


@pytest.mark.parametrize('sparse_share', [0.0, 1.0])  # force the dense / the sparse (pairs) path
@pytest.mark.parametrize('chunked', [False, True])
def test_render_min_prob_matches_masked_reference(monkeypatch, request, sparse_share, chunked):
    monkeypatch.setattr(texture_sampling, '_SPARSE_MAX_DENSITY', sparse_share)
    if chunked:
        request.getfixturevalue('small_chunks')
    texture, uv, probs, _ = random_inputs(seed=4, sharpness=6.0)
    min_prob = 0.02
    masked = probs * (probs > min_prob)
    assert 0.02 < (probs[:, 1:] > min_prob).float().mean() < 0.5
    leaves = [x.clone().requires_grad_() for x in (texture, uv, probs)]
    out = render(*leaves, min_prob=min_prob)
    ref_leaves = [x.clone().requires_grad_() for x in (texture, uv, masked)]
    ref = render_oracle(*ref_leaves)
    assert torch.allclose(out, ref, atol=1e-5)
    got, want = grads(out, *leaves), grads(ref, *ref_leaves)
    for a, b in zip(got[:2], want[:2]):  # texture, uv
        assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    kept = probs > min_prob  # probabilities: gradient where kept, none where dropped
    assert torch.allclose(got[2][kept], want[2][kept], atol=1e-4)
    assert torch.all(got[2][~kept] == 0)


@pytest.mark.parametrize('sparse_share', [0.0, 1.0])
def test_render_one_hot_without_grad_skips_zero_parts_exactly(monkeypatch, sparse_share):
    monkeypatch.setattr(texture_sampling, '_SPARSE_MAX_DENSITY', sparse_share)
    texture, uv, _, ids = random_inputs(seed=5)
    ids[:, :2] = 7  # at most a few parts present
    ids[:, 2:] = 0
    ids[0, 5, 5] = 24
    tex = texture.clone().requires_grad_()
    out = render(tex, uv, one_hot(ids))
    ref_tex = texture.clone().requires_grad_()
    ref = render_oracle(ref_tex, uv, one_hot(ids))
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.allclose(grads(out, tex)[0], grads(ref, ref_tex)[0], atol=1e-4)


@pytest.mark.parametrize('chunked', [False, True])
def test_render_hard_ids_equal_one_hot_probabilities(request, chunked):
    if chunked:
        request.getfixturevalue('small_chunks')
    texture, uv, _, ids = random_inputs(seed=6)
    assert (ids == 0).any() and ids.max() > 12
    leaves = [x.clone().requires_grad_() for x in (texture, uv)]
    out = render(*leaves, ids)
    probs = one_hot(ids).requires_grad_()  # needs a gradient: the dense path with all parts
    ref_leaves = [x.clone().requires_grad_() for x in (texture, uv)]
    ref = render(*ref_leaves, probs)
    assert torch.allclose(out, ref, atol=1e-5)
    assert torch.all(out.permute(1, 0, 2, 3)[:, ids == 0] == 0)
    assert torch.equal(render(texture, uv, ids.to(torch.uint8)), out.detach())  # any integer dtype
    for got, want in zip(grads(out, *leaves), grads(ref, *ref_leaves)):
        assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()


def test_render_hard_ids_at_texel_centres_and_tile_borders():
    """Exact texel values at texel centres; corners of the tile, and beyond, read the border texel."""
    t, channels = 5, 2
    tex = torch.randn(1, P * channels, t, t, generator=torch.Generator().manual_seed(7))
    tiles = tex.view(P, channels, t, t)
    rows, cols = torch.meshgrid(torch.arange(t), torch.arange(t), indexing='ij')
    for p in (1, 6, 7, 19, 24):
        uv = torch.zeros(1, 2 * P, t, t)
        uv[0, 2 * (p - 1)] = 2 * (cols / (t - 1)) - 1           # U = c / (T-1)
        uv[0, 2 * (p - 1) + 1] = 2 * (1 - rows / (t - 1)) - 1   # V = 1 - r / (T-1)
        ids = torch.full((1, t, t), p)
        out = render(tex, uv, ids)[0]
        assert torch.allclose(out, tiles[p - 1], atol=1e-5), p
        uv[0, 2 * (p - 1)] *= 3  # U far outside [0, 1]: clamps to the first / last column
        uv[0, 2 * (p - 1) + 1] *= 3
        out = render(tex, uv, ids)[0]
        clamped = tiles[p - 1][:, :, [0, 0, 2, 4, 4]][:, [0, 0, 2, 4, 4]]
        assert torch.allclose(out, clamped, atol=1e-5), p


@pytest.mark.parametrize('hard', [True, False])
def test_render_constant_tile_colour(hard):
    t = 6
    atlas = np.random.default_rng(0).integers(0, 256, (6 * t, 4 * t, 3), dtype=np.uint8)
    p, colour = 11, (250, 3, 128)
    row, col = (p - 1) % 6, (p - 1) // 6
    atlas[row * t:(row + 1) * t, col * t:(col + 1) * t] = colour
    tex = atlas_to_tensor(atlas)[None]
    _, uv, probs, ids = random_inputs(seed=8, t=t)
    ids[:, ::2] = p
    parts = ids if hard else one_hot(ids)
    out = render(tex, uv, parts)
    where = ids == p
    expected = torch.tensor(colour).float() / 127.5 - 1
    assert torch.allclose(out.permute(0, 2, 3, 1)[where], expected.expand(int(where.sum()), 3), atol=1e-5)


@pytest.mark.parametrize('hard', [True, False])
def test_render_gradient_tiles_follow_u_and_flipped_v(hard):
    t, p = 9, 14
    ramp = torch.linspace(0, 1, t)
    tex = torch.zeros(1, P * 2, t, t)
    tex[0, 2 * (p - 1)] = ramp.view(1, t)      # channel 0: horizontal gradient (left 0 -> right 1)
    tex[0, 2 * (p - 1) + 1] = ramp.view(t, 1)  # channel 1: vertical gradient (top 0 -> bottom 1)
    _, uv, _, _ = random_inputs(seed=9, t=t)
    uv = uv.clamp(-1, 1)
    ids = torch.full(uv[:, 0].shape, p)
    out = render(tex, uv, ids if hard else one_hot(ids))
    u = (uv[:, 2 * (p - 1)] + 1) / 2
    v = (uv[:, 2 * (p - 1) + 1] + 1) / 2
    assert torch.allclose(out[:, 0], u, atol=1e-5)
    assert torch.allclose(out[:, 1], 1 - v, atol=1e-5)  # V = 1 is the top row


def test_render_gradients_reach_all_inputs():
    texture, uv, probs, ids = random_inputs(seed=10)
    uv = uv.clamp(-0.9, 0.9)
    leaves = [x.clone().requires_grad_() for x in (texture, uv, probs)]
    for g in grads(render(*leaves), *leaves):
        assert torch.isfinite(g).all() and g.abs().sum() > 0
    leaves = [x.clone().requires_grad_() for x in (texture, uv)]
    for g in grads(render(*leaves, ids), *leaves):
        assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize('kind', ['ids', 'probs', 'sparse'])
def test_render_texture_batch(kind):
    texture, uv, probs, ids = random_inputs(batch=3, seed=11, sharpness=6.0)
    parts, min_prob = {'ids': (ids, 0.0), 'probs': (probs, 0.0), 'sparse': (probs, 0.05)}[kind]
    shared = texture.clone().requires_grad_()
    expanded = texture.expand(3, -1, -1, -1).clone().requires_grad_()
    out = render(shared, uv, parts, min_prob=min_prob)
    out_expanded = render(expanded, uv, parts, min_prob=min_prob)
    assert out.shape == (3, 3, 12, 10)
    assert torch.allclose(out, out_expanded, atol=1e-5)
    g_shared, g_expanded = grads(out, shared)[0], grads(out_expanded, expanded)[0]
    assert torch.allclose(g_shared[0], g_expanded.sum(0), atol=1e-4)
    # a batch of different textures: sample b uses texture b
    different = torch.rand(3, *texture.shape[1:], generator=torch.Generator().manual_seed(12))
    out = render(different, uv, parts, min_prob=min_prob)
    for b in range(3):
        single = render(different[b:b + 1], uv[b:b + 1], parts[b:b + 1], min_prob=min_prob)
        assert torch.allclose(out[b:b + 1], single, atol=1e-5)


def test_render_rejects_bad_inputs():
    texture, uv, probs, ids = random_inputs()
    with pytest.raises(ValueError, match='uv'):
        render(texture, uv[:, :47], probs)
    with pytest.raises(ValueError, match='probabilities'):
        render(texture, uv, probs[:, :24])
    with pytest.raises(ValueError, match='0..24'):
        render(texture, uv, ids + 1)
    with pytest.raises(ValueError, match='texture batch'):
        render(texture.expand(3, -1, -1, -1), uv, probs)


# ------------------------------------------------------------------------------------ IUV and unfolding
def test_iuv_to_uv():
    iuv = np.zeros((4, 5, 3), np.uint8)
    iuv[1, 2] = (3, 255, 0)
    iuv[2, 3] = (24, 51, 204)
    iuv[3, 0] = (0, 100, 100)  # background: U, V ignored
    parts, uv = iuv_to_uv(iuv)
    assert parts.dtype == np.int64 and uv.dtype == np.float32 and uv.shape == (2, 4, 5)
    assert parts[1, 2] == 3 and parts[2, 3] == 24 and parts.sum() == 27
    np.testing.assert_allclose(uv[:, 1, 2], [1, -1], atol=1e-6)
    np.testing.assert_allclose(uv[:, 2, 3], [2 * 0.2 - 1, 2 * 0.8 - 1], atol=1e-6)
    assert np.count_nonzero(uv) == 4
    with pytest.raises(ValueError, match='0..24'):
        iuv_to_uv(np.full((2, 2, 3), 25, np.uint8))


def smooth_atlas(t, seed=0):
    """A smooth uint8 atlas [6T, 4T, 3]: low-frequency colour waves across the whole image."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:6 * t, 0:4 * t] / t
    channels = [120 + 60 * np.sin(ys * rng.uniform(0.5, 1) + xs * rng.uniform(0.5, 1) + rng.uniform(0, 6))
                for _ in range(3)]
    return np.rint(np.stack(channels, -1)).astype(np.uint8)


def test_unfold_recovers_smooth_atlas_and_marks_unseen():
    t, height, width = 16, 48, 40
    atlas = smooth_atlas(t)
    tex = atlas_to_tensor(atlas)[None]
    rng = np.random.default_rng(1)
    present = np.arange(1, 13)  # parts 13..24 are never seen
    frames, iuvs = [], []
    for _ in range(30):
        iuv = np.zeros((height, width, 3), np.uint8)
        iuv[..., 0] = rng.choice(present, (height, width))
        iuv[..., 1:] = rng.integers(0, 256, (height, width, 2))
        iuv[rng.random((height, width)) < 0.2, 0] = 0  # background
        parts, uv = iuv_to_uv(iuv)
        full_uv = np.zeros((2 * P, height, width), np.float32)
        for p in present:  # every part's channels hold the pixel's (U, V); ids pick the right one
            full_uv[2 * (p - 1):2 * p] = uv
        with torch.no_grad():
            rendered = render(tex, torch.from_numpy(full_uv)[None], torch.from_numpy(parts)[None])[0]
        frames.append(np.rint((rendered.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8))
        iuvs.append(iuv)
    unfolded, seen = unfold_atlas(iter(frames), iter(iuvs), t)
    assert unfolded.shape == (6 * t, 4 * t, 3) and unfolded.dtype == np.float32 and seen.dtype == bool
    # tiles of parts 1..12 are the first two atlas columns: nearly all seen; the rest never
    assert seen[:, :2 * t].mean() > 0.95 and not seen[:, 2 * t:].any()
    assert np.all(unfolded[~seen] == 0)
    mse = np.mean((unfolded[seen] - atlas[seen].astype(np.float32)) ** 2)
    psnr = 10 * np.log10(255 ** 2 / mse)
    assert psnr > 35, psnr


def test_unfold_texel_mapping_and_mean():
    t = 10
    iuv = np.zeros((2, 3, 3), np.uint8)
    iuv[0, 0] = (7, 255, 0)    # part 7: column 1, row 0 of the atlas; U=1 -> last column, V=0 -> last row
    iuv[0, 1] = (7, 255, 0)
    iuv[1, 2] = (2, 0, 255)    # part 2: column 0, row 1; U=0 -> first column, V=1 -> first row
    frame = np.zeros((2, 3, 3), np.uint8)
    frame[0, 0], frame[0, 1], frame[1, 2] = (10, 20, 30), (30, 40, 50), (1, 2, 3)
    frame[1, 0] = 99  # background pixel: ignored
    atlas, seen = unfold_atlas([frame, frame], [iuv, iuv], t)
    assert seen.sum() == 2
    assert seen[t - 1, 2 * t - 1] and seen[t, 0]
    np.testing.assert_allclose(atlas[t - 1, 2 * t - 1], [20, 30, 40])
    np.testing.assert_allclose(atlas[t, 0], [1, 2, 3])
    with pytest.raises(ValueError, match='same height and width'):
        unfold_atlas([frame], [iuv[:1]], t)
