"""data.synthetic: deterministic, complete seed layout, exact ground truth (render, flow, flip charts),
a skirt that DensePose does not label, novel motion for the same person, and no clobbering."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from data import synthetic
from data.layout import index_dataset
from data.readers import read_flo, read_frame, read_iuv, read_mask, read_openpose
from util.atlas import atlas_to_tensor, iuv_to_uv
from util.densepose import FLIP_PARTS
from tests.helpers import snapshot
from util.flow import consistency_mask, warp
from util.texture_sampling import render
from util.unfold import unfold_atlas

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES, HEIGHT, WIDTH, SEED = 8, 256, 192, 5     # big enough that texture seams do not dominate warps


def _generate(root, **kwargs):
    args = dict(frames=FRAMES, height=HEIGHT, width=WIDTH, seed=SEED, tex_size=32)
    args.update(kwargs)
    synthetic.generate(str(root), **args)
    return str(root)


@pytest.fixture(scope='module')
def train(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp('train') / 'dancer')


@pytest.fixture(scope='module')
def novel(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp('novel') / 'dancer', motion='novel')


def _digests(root):
    return {path: digest for path, (digest, _mtime) in snapshot(root).items()}


def _frame_tensor(path):
    return torch.from_numpy(read_frame(path).astype(np.float32)).permute(2, 0, 1)[None]


def _flow_tensor(path):
    return torch.from_numpy(read_flo(path)).permute(2, 0, 1)[None]


def test_same_seed_gives_identical_files_and_another_seed_another_person(train, tmp_path):
    again = _generate(tmp_path / 'dancer')
    first, second = _digests(train), _digests(again)
    assert len(first) == 2 + 6 * FRAMES + 2 * (FRAMES - 1) + 3    # bg/texture, per frame, flows, gt/
    assert first == second

    other = _generate(tmp_path / 'other' / 'dancer', frames=2, seed=SEED + 1)
    assert not np.array_equal(read_frame(os.path.join(train, 'gt', 'atlas.png')),
                              read_frame(os.path.join(other, 'gt', 'atlas.png')))
    iuv_a = read_iuv(os.path.join(train, 'densepose', 'frame00001_IUV.png'))
    iuv_b = read_iuv(os.path.join(other, 'densepose', 'frame00001_IUV.png'))
    assert (iuv_a[..., 0] != iuv_b[..., 0]).mean() > 0.005             # other body proportions


def test_layout_is_indexed_without_problems(train):
    files = index_dataset(train)
    assert files.problems == []
    assert len(files) == FRAMES
    assert files.frames_dir == os.path.join(train, 'dancer')
    assert os.path.basename(files.frames[0]) == 'frame00001.jpg'
    for kind in ('iuv', 'mask', 'pose'):
        assert len(getattr(files, kind)) == FRAMES and None not in getattr(files, kind)
    assert len(files.flow) == len(files.flow_inv) == FRAMES - 1
    assert os.path.basename(files.flow[0]) == 'frame00001.flo'
    for path in (files.bg, files.texture):
        assert os.path.isfile(path)
    for name in ('atlas.png', 'bg.png', 'render/frame00001.png', f'dynamic/frame{FRAMES:05d}.png'):
        assert os.path.isfile(os.path.join(train, 'gt', name))
    with open(os.path.join(train, 'gt', 'meta.json'), encoding='utf-8') as handle:
        meta = json.load(handle)
    assert meta['complete'] and meta['seed'] == SEED and meta['frames'] == FRAMES
    assert (meta['height'], meta['width'], meta['tex_size'], meta['motion']) == (HEIGHT, WIDTH, 32, 'train')
    assert read_frame(files.frames[0]).shape == (HEIGHT, WIDTH, 3)


def test_texture_jpg_is_an_incomplete_unfolding_of_the_true_atlas(train):
    with open(os.path.join(train, 'gt', 'meta.json'), encoding='utf-8') as handle:
        used = json.load(handle)['unfold_frames']
    assert 1 < len(used) < FRAMES
    frames = [read_frame(os.path.join(train, 'dancer', f'frame{k:05d}.jpg')) for k in used]
    iuvs = [read_iuv(os.path.join(train, 'densepose', f'frame{k:05d}_IUV.png')) for k in used]
    unfolded, seen = unfold_atlas(frames, iuvs, 32)
    initial = read_frame(os.path.join(train, 'texture.jpg')).astype(np.float64)
    atlas = read_frame(os.path.join(train, 'gt', 'atlas.png')).astype(np.float64)
    assert initial.shape == atlas.shape == (6 * 32, 4 * 32, 3)
    assert 0.2 < seen.mean() < 0.95                                     # incomplete
    assert np.median(np.abs(initial - unfolded)[seen]) < 8              # texture.jpg is that unfolding
    assert initial[~seen].mean() < 25                                   # unseen texels black (up to jpg)
    # seen texels show the true colours (up to jpg, shading and the skirt over the thighs)
    assert np.median(np.abs(unfolded - atlas)[seen]) < 10


def test_render_from_written_iuv_reproduces_gt_render(train):
    texture = atlas_to_tensor(read_frame(os.path.join(train, 'gt', 'atlas.png')))[None]
    squared, count = 0.0, 0
    for k in range(1, FRAMES + 1):
        iuv = read_iuv(os.path.join(train, 'densepose', f'frame{k:05d}_IUV.png'))
        parts, uv2 = iuv_to_uv(iuv)
        uv = np.zeros((48,) + parts.shape, np.float32)
        rows, cols = np.nonzero(parts)
        channel = 2 * (parts[rows, cols] - 1)
        uv[channel, rows, cols] = uv2[0, rows, cols]
        uv[channel + 1, rows, cols] = uv2[1, rows, cols]
        with torch.no_grad():
            out = render(texture, torch.from_numpy(uv)[None], torch.from_numpy(parts)[None])
        out = (out[0].permute(1, 2, 0).numpy() + 1) * 127.5
        truth = read_frame(os.path.join(train, 'gt', 'render', f'frame{k:05d}.png')).astype(np.float64)
        body = parts > 0
        assert body.mean() > 0.05
        squared += float(((out - truth)[body] ** 2).sum())
        count += int(body.sum()) * 3
    psnr = 10 * np.log10(255 ** 2 / (squared / count))
    print(f'render(true atlas, written IUV) vs gt/render on the body: {psnr:.1f} dB')
    assert psnr >= 35


def test_flow_inv_aligns_previous_frame_and_flows_are_consistent(train):
    files = index_dataset(train)
    warped_err, plain_err, consistent = [], [], []
    for k in range(FRAMES - 1):
        before, after = _frame_tensor(files.frames[k]), _frame_tensor(files.frames[k + 1])
        person = torch.from_numpy(read_mask(files.mask[k + 1]))
        aligned = warp(before, _flow_tensor(files.flow_inv[k]), padding_mode='border')
        warped_err.append(float((aligned - after).abs().mean(1)[0][person].mean()))
        plain_err.append(float((before - after).abs().mean(1)[0][person].mean()))
        body = torch.from_numpy(read_iuv(files.iuv[k])[..., 0] > 0)
        ok = consistency_mask(_flow_tensor(files.flow[k]), _flow_tensor(files.flow_inv[k]))[0, 0]
        consistent.append(float(ok[body].mean()))
    warped, plain = np.mean(warped_err), np.mean(plain_err)
    print(f'person MAE: frame t-1 warped by flow_inv {warped:.2f}, unwarped {plain:.2f}; '
          f'forward/backward consistent body pixels {100 * np.mean(consistent):.1f}%')
    assert plain > 4                                   # the person really moves
    assert warped <= 0.5 * plain
    assert max(w / p for w, p in zip(warped_err, plain_err)) < 0.75
    assert min(consistent) > 0.9
    assert all(np.abs(read_flo(files.flow[k])[~read_mask(files.mask[k])]).max() == 0 for k in range(FRAMES - 1))


def test_flow_moves_pixels_onto_the_same_surface_point():
    """Forward flow of frame k maps each body pixel to where its (part, U, V) is in frame k+1."""
    body = synthetic.make_body(2)
    stage = synthetic.make_stage(body, 160, 128, 2)
    poses = synthetic.make_poses(body, stage, 'novel', 2, 2)
    comps = [synthetic.body_components(pose, body, stage.scale) for pose in poses]
    rasters = [synthetic.rasterize(c, 160, 128) for c in comps]
    data = synthetic.FrameData(None, None, None, rasters[0].index >= 0, None, rasters[0],
                               np.zeros((160, 128), bool), np.zeros((160, 128)), np.zeros((160, 128)))
    flow = synthetic.surface_flow(data, comps[1], poses[1])
    rows, cols = np.nonzero(rasters[0].index >= 0)
    tx = np.rint(cols + flow[rows, cols, 0]).astype(int)
    ty = np.rint(rows + flow[rows, cols, 1]).astype(int)
    inside = (tx >= 0) & (tx < 128) & (ty >= 0) & (ty < 160)
    rows, cols, tx, ty = rows[inside], cols[inside], tx[inside], ty[inside]
    same_part = rasters[1].part[ty, tx] == rasters[0].part[rows, cols]
    assert same_part.mean() > 0.9                       # the rest is occluded or at a seam
    du = np.abs(rasters[1].u[ty, tx] - rasters[0].u[rows, cols])[same_part]
    dv = np.abs(rasters[1].v[ty, tx] - rasters[0].v[rows, cols])[same_part]
    assert np.median(du) < 0.08 and np.median(dv) < 0.03     # within the rounding to a pixel


def test_mirrored_pose_gives_the_mirrored_iuv_with_the_part_swap():
    for motion, (height, width) in (('train', (128, 96)), ('novel', (97, 131))):
        body = synthetic.make_body(7)
        stage = synthetic.make_stage(body, height, width, 7)
        pose = synthetic.make_poses(body, stage, motion, 7, 5)[4]
        iuv = synthetic.make_iuv(synthetic.rasterize(synthetic.body_components(pose, body, stage.scale),
                                                     height, width))
        mirrored = synthetic.make_iuv(synthetic.rasterize(
            synthetic.body_components(synthetic.mirror_pose(pose), body, stage.scale), height, width))
        expected = iuv[:, ::-1].copy()
        expected[..., 0] = FLIP_PARTS[expected[..., 0]]
        torso = np.isin(expected[..., 0], (1, 2))
        expected[..., 1] = np.where(torso, 255 - expected[..., 1], expected[..., 1])
        assert set(np.unique(iuv[..., 0])) == set(range(25))            # all 24 parts visible
        differ = (expected != mirrored).any(-1)
        assert differ.mean() < 1e-3, f'{motion}: {differ.sum()} pixels differ'


def test_charts_follow_the_documented_conventions(train):
    iuv = read_iuv(os.path.join(train, 'densepose', 'frame00001_IUV.png')).astype(int)
    part, u = iuv[..., 0], iuv[..., 1]
    rows = np.nonzero(np.isin(part, (1, 2)).sum(1) > 10)[0]
    row = rows[len(rows) // 2]
    cols = np.nonzero(np.isin(part[row], (1, 2)))[0]
    assert np.all(np.diff(u[row, cols]) >= 0) and u[row, cols[0]] < 40 and u[row, cols[-1]] > 215
    upper = np.nonzero(part == 2)[0].mean()
    assert upper < np.nonzero(part == 1)[0].mean()                      # part 2 above part 1
    assert np.nonzero(part == 23)[1].mean() < np.nonzero(part == 24)[1].mean()   # person's right = image left
    assert np.nonzero(part == 7)[1].mean() < np.nonzero(part == 8)[1].mean()
    assert np.nonzero(part == 16)[1].mean() < np.nonzero(part == 15)[1].mean()


def test_skirt_is_in_the_mask_not_in_the_iuv_and_it_moves(train):
    files = index_dataset(train)
    skirts, dynamic = [], []
    for k in range(FRAMES):
        mask = read_mask(files.mask[k])
        labelled = read_iuv(files.iuv[k])[..., 0] > 0
        assert not (labelled & ~mask).any()                             # mask = body | skirt
        skirts.append(mask & ~labelled)
        dynamic.append(read_mask(os.path.join(train, 'gt', 'dynamic', f'frame{k + 1:05d}.png')))
        assert (dynamic[-1] & ~mask).sum() == 0
    sizes = np.array([s.sum() for s in skirts])
    assert (sizes > 0.002 * HEIGHT * WIDTH).mean() >= 0.75                # visible in most frames
    moved = [(a ^ b).sum() / max(a.sum(), 1) for a, b in zip(skirts, skirts[1:])]
    assert np.mean(moved) > 0.05
    assert all(d.sum() > 0 for d in dynamic)
    assert all((d & s).sum() >= 0.8 * s.sum() for d, s in zip(dynamic, skirts))   # skirt is dynamic


def test_novel_motion_is_the_same_person_doing_other_moves(train, novel):
    for name in ('gt/atlas.png', 'gt/bg.png', 'bg.jpg'):
        assert np.array_equal(read_frame(os.path.join(train, name)), read_frame(os.path.join(novel, name)))
    a_files, b_files = index_dataset(train), index_dataset(novel)
    assert b_files.problems == []
    a = np.stack([read_openpose(p)[0]['body'][:, :2] for p in a_files.pose])
    b = np.stack([read_openpose(p)[0]['body'][:, :2] for p in b_files.pose])
    assert np.abs(a - b).mean() > 5
    wrists_up = b[:, [4, 7], 1].mean() < b[:, 1, 1].mean()             # novel: arms overhead
    assert wrists_up and a[:, [4, 7], 1].mean() > a[:, 1, 1].mean()


def test_keypoints_sit_on_the_person(train):
    files = index_dataset(train)
    for k in (0, FRAMES - 1):
        (pose,) = read_openpose(files.pose[k])
        mask = read_mask(files.mask[k])
        iuv = read_iuv(files.iuv[k])
        assert pose['face'].shape == (70, 3) and pose['hand_left'].shape == (21, 3)
        body = pose['body']
        assert ((body[:, 2] >= 0.7) & (body[:, 2] <= 0.95)).all()
        x, y = np.rint(body[:, 0]).astype(int), np.rint(body[:, 1]).astype(int)
        assert mask[y, x].mean() >= 0.9
        for joint, parts in ((0, (23, 24)), (4, (20, 22, 3)), (7, (19, 21, 4)), (10, (7, 9, 11, 13))):
            window = iuv[y[joint] - 2:y[joint] + 3, x[joint] - 2:x[joint] + 3, 0]
            assert np.isin(window, parts).any(), (joint, np.unique(window))


@pytest.mark.parametrize('height, width', [(96, 64), (64, 96), (48, 64)])
def test_any_frame_size_keeps_the_person_in_the_frame(tmp_path, height, width):
    root = _generate(tmp_path / 'small', frames=3, height=height, width=width, tex_size=16, motion='novel')
    assert index_dataset(root).problems == []
    for k in range(1, 4):
        mask = read_mask(os.path.join(root, 'mask', f'frame{k:05d}.png'))
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        rows = np.nonzero(mask.any(1))[0]
        assert rows[-1] - rows[0] + 1 > 0.55 * height


def test_refuses_a_foreign_folder_and_reuses_its_own(tmp_path):
    foreign = tmp_path / 'mine'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('keep me')
    with pytest.raises(ValueError, match='refusing to write into a non-empty folder'):
        synthetic.generate(str(foreign), 2, 64, 48)
    assert os.listdir(foreign) == ['notes.txt']

    result = subprocess.run([sys.executable, '-m', 'data.synthetic', '--out', str(foreign), '--frames', '2',
                             '--size', '64', '48'], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and 'refusing' in result.stderr and os.listdir(foreign) == ['notes.txt']

    ours = _generate(tmp_path / 'ours', frames=4, height=64, width=48, tex_size=8)
    _generate(tmp_path / 'ours', frames=2, height=64, width=48, tex_size=8)      # replaces its own output
    files = index_dataset(ours)
    assert files.problems == [] and len(files) == 2 and len(files.flow) == 1     # no stale frames


def test_cli_writes_a_dataset(tmp_path):
    out = tmp_path / 'cli'
    result = subprocess.run([sys.executable, '-m', 'data.synthetic', '--out', str(out), '--frames', '3',
                             '--size', '72', '56', '--motion', 'novel', '--seed', '4', '--tex_size', '16'],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'wrote 3 frames 56x72' in result.stdout
    files = index_dataset(str(out))
    assert files.problems == [] and len(files) == 3
    assert read_frame(files.frames[0]).shape == (72, 56, 3)
