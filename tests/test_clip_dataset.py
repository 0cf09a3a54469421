"""ClipDataset on synthetic videos: shapes, the working size, consistent resizing, split, flip, pose filling."""
import os
import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from data import synthetic
from data.clip_dataset import ClipDataset
from data.loaders import make_loader
from data.transforms import pose_to_working_size, working_size
from options.train_options import TrainOptions
from data.readers import (DataFileError, read_flo, read_frame, read_iuv, read_mask, read_openpose,
                          write_openpose)
from util.atlas import atlas_to_tensor
from util.flow import warp
from util.texture_sampling import render

N, H, W, SEED = 8, 48, 64, 0
# DensePose left/right symmetry, written out independently of the code under test
SWAP = {3: 4, 5: 6, 7: 8, 9: 10, 11: 12, 13: 14, 15: 16, 17: 18, 19: 20, 21: 22, 23: 24}
SWAP.update({b: a for a, b in SWAP.items()})
SWAP_TABLE = torch.tensor([SWAP.get(p, p) for p in range(25)])


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('clips') / 'dancer')
    synthetic.generate(root, N, H, W, seed=SEED)
    return root


@pytest.fixture(scope='module')
def big(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('clips_big') / 'dancer')
    synthetic.generate(root, N, 2 * H, 2 * W, seed=SEED)
    return root


def _copy(root, tmp_path):
    copy = str(tmp_path / os.path.basename(root))       # the frames folder is named after the dataset
    shutil.copytree(root, copy)
    return copy


def _frame_index(ds, path):
    return ds.files.frames.index(path)


def _drawn(pose_image):
    """[3, H, W] in [-1, 1] -> bool [H, W] where the skeleton is drawn."""
    return pose_image[:3].max(0).values > -1 + 1e-3


def _dilate(mask, pixels):
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return torch.from_numpy(cv2.dilate(mask.numpy().astype(np.uint8), kernel) > 0)


def test_working_size_rule():
    assert working_size(1080, 1920, 512, 16) == (288, 512)
    assert working_size(1920, 1080, 512, 16) == (512, 288)
    assert working_size(48, 64, 32, 8) == (24, 32)
    assert working_size(48, 64, 32, 16) == (32, 32)      # short side 24 rounds (half up) to 32
    assert working_size(40, 64, 32, 16) == (16, 32)      # short side 20 rounds to 16
    assert working_size(10, 1000, 64, 16) == (16, 64)    # never below size_multiple
    assert working_size(100, 100, 250, 16) == (256, 256)  # the long side is rounded too


@pytest.mark.parametrize('clip_length', [2, 3])
def test_sample_shapes_dtypes_and_values(small, clip_length):
    T = clip_length
    ds = ClipDataset(small, 'train', load_size=64, clip_length=T, size_multiple=16, flip=False)
    assert ds.working_size == ds.frame_size == (H, W)
    assert len(ds) == int(N * 0.9) - T + 1
    s = ds[1]
    assert s['index'] == 1 and s['flipped'] is False
    assert s['paths'] == ds.files.frames[1:1 + T]
    shapes = {'pose': (T, 3, H, W), 'image': (T, 3, H, W), 'parts': (T, H, W), 'uv': (T, 2, H, W),
              'mask': (T, 1, H, W), 'flow': (T - 1, 2, H, W), 'flow_inv': (T - 1, 2, H, W)}
    for key, shape in shapes.items():
        assert tuple(s[key].shape) == shape, key
        assert s[key].dtype == (torch.int64 if key == 'parts' else torch.float32), key
    for key in ('pose', 'image', 'uv'):
        assert s[key].min() >= -1 and s[key].max() <= 1, key
    assert 0.01 < _drawn(s['pose'][0]).float().mean() < 0.6
    assert set(s['mask'].unique().tolist()) == {0.0, 1.0}
    assert s['parts'].min() == 0 and s['parts'].max() <= 24 and len(s['parts'].unique()) > 6
    assert (s['uv'] * (s['parts'] == 0)[:, None]).abs().max() == 0

    # at the file size nothing is resampled: the tensors are the files' values
    for t in range(T):
        k = 1 + t
        frame = torch.from_numpy(read_frame(ds.files.frames[k])).permute(2, 0, 1).float() / 127.5 - 1
        assert torch.allclose(s['image'][t], frame)
        iuv = torch.from_numpy(read_iuv(ds.files.iuv[k]).astype(np.int64))
        assert torch.equal(s['parts'][t], iuv[..., 0])
        on = iuv[..., 0] > 0
        assert torch.allclose(s['uv'][t][:, on], iuv[..., 1:][on].T.float() * 2 / 255 - 1, atol=1e-6)
        assert torch.equal(s['mask'][t, 0].bool(), torch.from_numpy(read_mask(ds.files.mask[k])))
    for t in range(T - 1):
        assert torch.allclose(s['flow'][t], torch.from_numpy(read_flo(ds.files.flow[1 + t])).permute(2, 0, 1))
        assert torch.allclose(s['flow_inv'][t],
                              torch.from_numpy(read_flo(ds.files.flow_inv[1 + t])).permute(2, 0, 1))


@pytest.mark.parametrize('load_size, multiple, expected', [(64, 16, (48, 64)), (64, 32, (64, 64))])
def test_resized_inputs_stay_consistent(big, load_size, multiple, expected):
    """128x96 frames at a smaller (in the second case also anisotropically scaled) working size:
    flow vectors, keypoints, masks and images keep lining up."""
    ds = ClipDataset(big, 'all', load_size=load_size, clip_length=2, size_multiple=multiple, flip=False)
    assert ds.frame_size == (2 * H, 2 * W) and ds.working_size == expected
    errors = np.zeros(3)
    inside = inside_unscaled = joints = 0
    drawn_inside = drawn = 0
    for i in range(len(ds)):
        s = ds.load_clip(i)
        assert tuple(s['image'].shape[2:]) == expected
        # warping frame t with flow_inv aligns it to frame t+1 on the person, better than no warp and
        # better than vectors left at the file's scale (what forgetting to rescale would give)
        person = s['mask'][1:2, 0] > 0
        for j, factor in enumerate((0.0, 1.0, 2.0)):
            warped = warp(s['image'][0:1], s['flow_inv'][0:1] * factor)
            errors[j] += (warped - s['image'][1:2]).abs().mean(1)[person].mean().item()
        for t in range(2):
            k = s['index'] + t
            mask = _dilate(s['mask'][t, 0], 1)
            body = ds.poses[k]['body']
            for points, counter in ((pose_to_working_size(ds.poses[k], ds.frame_size, ds.working_size)['body'],
                                     'scaled'), (body, 'unscaled')):
                xy = np.round(points[points[:, 2] > 0, :2]).astype(int)
                ok = (xy[:, 0] >= 0) & (xy[:, 0] < expected[1]) & (xy[:, 1] >= 0) & (xy[:, 1] < expected[0])
                hits = int(mask[xy[ok, 1], xy[ok, 0]].sum())
                if counter == 'scaled':
                    inside, joints = inside + hits, joints + len(xy)
                else:
                    inside_unscaled += hits
            skeleton = _drawn(s['pose'][t])
            drawn_inside += int((skeleton & _dilate(s['mask'][t, 0], 2)).sum())
            drawn += int(skeleton.sum())
    none, scaled, doubled = errors / len(ds)
    assert scaled < 0.8 * none and scaled < doubled
    assert inside / joints > 0.9 and inside_unscaled / joints < 0.5
    assert drawn_inside / drawn > 0.85

    # frames and masks resized alike: the person found by differencing with the background plate
    s = ds.load_clip(0)
    bg = ds.load_background()
    assert tuple(bg.shape) == (3,) + expected and bg.min() >= -1 and bg.max() <= 1
    differs = (s['image'][0] - bg).abs().max(0).values > 0.2
    mask = s['mask'][0, 0] > 0
    assert (differs & mask).sum() / (differs | mask).sum() > 0.7


def test_split_is_contiguous_and_clips_stay_inside(small):
    options = dict(load_size=32, clip_length=2, size_multiple=16, data_ratio=0.75, flip=False)
    train, val = ClipDataset(small, 'train', **options), ClipDataset(small, 'val', **options)
    assert (len(train), len(val)) == (5, 1)       # frames 0..5 -> starts 0..4; frames 6..7 -> start 6
    train_frames = {_frame_index(train, p) for i in range(len(train)) for p in train[i]['paths']}
    val_frames = {_frame_index(val, p) for i in range(len(val)) for p in val[i]['paths']}
    assert train_frames == set(range(6)) and val_frames == {6, 7}
    assert [train[i]['index'] for i in range(len(train))] == list(range(5)) and val[0]['index'] == 6

    capped = ClipDataset(small, 'train', max_dataset_size=2, **options)
    assert len(capped) == 2 and [capped[i]['index'] for i in range(2)] == [0, 1]
    with pytest.raises(IndexError):
        capped[2]
    with pytest.raises(ValueError, match="phase 'val' has 2 frames.*clip_length 3"):
        ClipDataset(small, 'val', **{**options, 'clip_length': 3})
    with pytest.raises(ValueError, match="phase 'val' has 0 frames"):
        ClipDataset(small, 'val', **{**options, 'data_ratio': 1.0})


def _synthetic_truth(k, mirrored, texture):
    """IUV and exact texture colour (float UV) of the synthetic person in frame k, or doing that pose
    mirrored."""
    body = synthetic.make_body(SEED)
    stage = synthetic.make_stage(body, H, W, SEED)
    pose = synthetic.make_poses(body, stage, 'train', SEED, N)[k]
    if mirrored:
        pose = synthetic.mirror_pose(pose)
    raster = synthetic.rasterize(synthetic.body_components(pose, body, stage.scale), H, W)
    colour = torch.from_numpy(synthetic.sample_body(texture, raster)).permute(2, 0, 1).float() / 127.5 - 1
    return synthetic.make_iuv(raster), colour


def _render(texture, parts, uv):
    """Render the atlas with one frame's parts [H, W] and uv [2, H, W]."""
    per_part = torch.zeros(48, *parts.shape)
    for p in range(1, 25):
        on = parts == p
        per_part[2 * p - 2][on], per_part[2 * p - 1][on] = uv[0][on], uv[1][on]
    return render(texture, per_part[None], parts[None])[0]


def _psnr(a, b, where):
    return float(10 * torch.log10(4 / (a - b).square().mean(0)[where].mean()))


def test_flip_mirrors_every_input_consistently(small):
    ds = ClipDataset(small, 'train', load_size=64, clip_length=2, size_multiple=16, data_ratio=1.0)
    texture = atlas_to_tensor(read_frame(os.path.join(small, 'gt', 'atlas.png')))[None]
    for i in (0, 3):
        a, b = ds.load_clip(i, False), ds.load_clip(i, True)
        assert b['flipped'] and not a['flipped'] and b['paths'] == a['paths']
        assert torch.equal(b['image'], a['image'].flip(-1))
        assert torch.equal(b['mask'], a['mask'].flip(-1))
        for key in ('flow', 'flow_inv'):
            assert torch.equal(b[key][:, 0], -a[key][:, 0].flip(-1))
            assert torch.equal(b[key][:, 1], a[key][:, 1].flip(-1))
        assert torch.equal(b['parts'], SWAP_TABLE[a['parts'].flip(-1)])
        torso = (b['parts'] == 1) | (b['parts'] == 2)
        mirrored_uv = a['uv'].flip(-1)
        assert torso.any()
        assert torch.allclose(b['uv'][:, 0][torso], -mirrored_uv[:, 0][torso], atol=1e-6)     # U -> 1 - U
        assert torch.allclose(b['uv'][:, 0][~torso], mirrored_uv[:, 0][~torso])
        assert torch.allclose(b['uv'][:, 1], mirrored_uv[:, 1])
        # the drawing of the flipped keypoints is the mirrored drawing with R and B exchanged
        # (util.pose colours left limbs as the R/B swap of right ones) and lies on the flipped person
        assert (b['pose'] - a['pose'].flip(-1)[:, [2, 1, 0]]).abs().mean() < 0.01
        skeleton = _drawn(b['pose'][0])
        assert (skeleton & _dilate(b['mask'][0, 0], 2)).sum() / skeleton.sum() > 0.85

        # ground truth: the synthetic person doing the mirrored pose has exactly the flipped IUV, and
        # the true atlas rendered with the flipped parts/uv matches that person's true colours as well
        # as the unflipped labels match the unmirrored person (a flip without the part swap fails this)
        k = a['index']
        iuv, mirrored_colour = _synthetic_truth(k, True, texture)
        assert torch.equal(b['parts'][0], torch.from_numpy(iuv[..., 0].astype(np.int64)))
        on = b['parts'][0] > 0
        true_uv = torch.from_numpy(iuv[..., 1:].astype(np.float32)).permute(2, 0, 1) * 2 / 255 - 1
        assert (b['uv'][0] - true_uv)[:, on].abs().max() <= 2 / 255 + 1e-6
        _, colour = _synthetic_truth(k, False, texture)
        unflipped = _psnr(_render(texture, a['parts'][0], a['uv'][0]), colour, a['parts'][0] > 0)
        flipped = _psnr(_render(texture, b['parts'][0], b['uv'][0]), mirrored_colour, on)
        unswapped = _psnr(_render(texture, a['parts'][0].flip(-1), a['uv'][0].flip(-1)), mirrored_colour, on)
        # both at the level of the 1/255 UV quantisation (~57 dB); the unswapped flip is ~15 dB
        assert min(unflipped, flipped) > 45 and abs(flipped - unflipped) < 2.0 and unswapped < 25

    # __getitem__ draws the flip per sample; val never flips
    draws = [ds[2] for _ in range(24)]
    assert {d['flipped'] for d in draws} == {True, False}
    flipped = next(d for d in draws if d['flipped'])
    assert torch.equal(flipped['image'], ds.load_clip(2, True)['image'])
    val = ClipDataset(small, 'val', load_size=32, clip_length=2, data_ratio=0.5, flip=True)
    assert not any(val[0]['flipped'] for _ in range(8))


def test_frames_without_a_person_get_filled_poses(small, tmp_path):
    copy = _copy(small, tmp_path)
    ds = ClipDataset(copy, 'all', load_size=64, clip_length=2, size_multiple=16)
    truth = {k: read_openpose(ds.files.pose[k])[0]['body'] for k in (2, 3)}
    for k in (2, 3):
        write_openpose(ds.files.pose[k], [])
    ds = ClipDataset(copy, 'all', load_size=64, clip_length=2, size_multiple=16)
    assert ds.person_detected.tolist() == [True, True, False, False] + [True] * (N - 4)
    for k in (2, 3):
        body = ds.poses[k]['body']
        assert (body[:, 2] > 0).all()
        error = np.linalg.norm(body[:, :2] - truth[k][:, :2], axis=1).mean()
        assert error < 3.0, error          # interpolated between frames 1 and 4 (a person ~40 px tall)
    s = ds.load_clip(2)
    assert _drawn(s['pose'][0]).sum() > 50 and _drawn(s['pose'][1]).sum() > 50

    for path in ds.files.pose:
        write_openpose(path, [])
    with pytest.raises(DataFileError, match='no person detected'):
        ClipDataset(copy, 'all')


def test_missing_files_raise_one_error_naming_them(small, tmp_path):
    copy = _copy(small, tmp_path)
    ds = ClipDataset(copy, 'all', load_size=32, clip_length=2)
    files = ds.files
    shutil.rmtree(os.path.join(copy, 'mask'))
    os.remove(files.flow[2])
    os.remove(files.iuv[5])
    with pytest.raises(DataFileError) as error:
        ClipDataset(copy, 'all')
    message = str(error.value)
    assert os.path.join(copy, 'mask') in message and os.path.join(copy, 'flow') in message
    assert files.iuv[5] in message and '3 problems' in message

    # a mask folder elsewhere, no DensePose at all: parts -1, uv 0
    shutil.copytree(os.path.join(small, 'mask'), str(tmp_path / 'masks'))
    shutil.copy(os.path.join(small, 'flow', os.path.basename(files.flow[2])), files.flow[2])
    shutil.rmtree(os.path.join(copy, 'densepose'))
    with pytest.raises(DataFileError, match='densepose'):
        ClipDataset(copy, 'all', paths={'mask_path': str(tmp_path / 'masks')})
    ds = ClipDataset(copy, 'all', load_size=32, size_multiple=16, require_densepose=False,
                     paths={'mask_path': str(tmp_path / 'masks')})
    s = ds[0]
    assert (s['parts'] == -1).all() and (s['uv'] == 0).all() and s['mask'].sum() > 0


def test_label3d_channels_are_appended_and_flipped(small, tmp_path):
    copy = _copy(small, tmp_path)
    os.makedirs(os.path.join(copy, 'LaplaceProj'))
    stems = [os.path.splitext(os.path.basename(p))[0] for p in ClipDataset(copy, 'all').files.frames]
    ramp = np.broadcast_to(np.linspace(0, 1, W, dtype=np.float32), (2, H, W))
    np.save(os.path.join(copy, 'LaplaceProj', stems[0] + '.npy'), ramp)
    ClipDataset(copy, 'all')                                  # an unused, incomplete folder is ignored
    with pytest.raises(DataFileError, match='missing label3d'):
        ClipDataset(copy, 'all', use_label3d=True)
    for stem in stems[1:]:
        np.save(os.path.join(copy, 'LaplaceProj', stem + '.npy'), ramp)
    ds = ClipDataset(copy, 'train', load_size=64, size_multiple=16, use_label3d=True)
    a, b = ds.load_clip(0, False), ds.load_clip(0, True)
    assert tuple(a['pose'].shape) == (2, 5, H, W)
    assert torch.allclose(a['pose'][:, 3:], torch.from_numpy(ramp * 2 - 1)[None].expand(2, -1, -1, -1))
    assert torch.equal(b['pose'][:, 3:], a['pose'][:, 3:].flip(-1))
    opt = TrainOptions().parse(['--dataroot', copy, '--loadSize', '32', '--use_label3d', '--label3d_nc', '3'],
                               save=False)
    with pytest.raises(ValueError, match='3D label has 2 channels, --label3d_nc is 3'):
        ClipDataset.from_options(opt, 'train')


def test_from_options_background_and_texture(small):
    opt = TrainOptions().parse(['--dataroot', small, '--loadSize', '32', '--n_downsample_translate', '3',
                                '--data_ratio', '0.5', '--clip_length', '3', '--img_path', ''], save=False)
    assert opt.size_multiple == 8 and not opt.flip
    ds = ClipDataset.from_options(opt, 'train')
    assert ds.working_size == (24, 32) and not ds.flip and len(ds) == 2
    assert tuple(ds[0]['image'].shape) == (3, 3, 24, 32)

    bg = ds.load_background()
    truth = cv2.resize(read_frame(os.path.join(small, 'gt', 'bg.png')), (32, 24), interpolation=cv2.INTER_AREA)
    assert (bg - (torch.from_numpy(truth).permute(2, 0, 1).float() / 127.5 - 1)).abs().mean() < 0.05
    assert tuple(ds.load_background((48, 64)).shape) == (3, 48, 64)
    texture = ds.load_texture()
    assert tuple(texture.shape) == (72, 64, 64) and texture.min() >= -1 and texture.max() <= 1

    missing = ClipDataset(small, 'train', paths={'bg_path': os.path.join(small, 'no_bg.jpg')})
    with pytest.raises(DataFileError, match='no_bg.jpg.*background'):
        missing.load_background()


class _NumpyDraws(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        info = torch.utils.data.get_worker_info()
        return {'worker': info.id, 'draw': int(np.random.randint(1 << 30))}


def _loader_options(batch_size, workers=0, seed=0):
    return SimpleNamespace(batchSize=batch_size, nThreads=workers, seed=seed, device=torch.device('cpu'))


def test_dataloader_with_two_workers(small):
    ds = ClipDataset(small, 'train', load_size=32, clip_length=2, size_multiple=16)
    loader, sampler = make_loader(ds, _loader_options(batch_size=2, workers=2, seed=3), 0, 1, shuffle=True)
    for epoch in (1, 2):    # persistent workers survive the epoch
        sampler.set_epoch(epoch)
        seen = []
        for batch in loader:
            assert tuple(batch['image'].shape) == (2, 2, 3, 32, 32)
            assert batch['parts'].dtype == torch.int64 and batch['flipped'].dtype == torch.bool
            assert len(batch['paths']) == 2 and all(len(p) == 2 for p in batch['paths'])
            assert [_frame_index(ds, p[0]) for p in batch['paths']] == batch['index'].tolist()
            seen += batch['index'].tolist()
        assert len(seen) == len(set(seen)) == len(ds) // 2 * 2

    loader, _ = make_loader(_NumpyDraws(), _loader_options(batch_size=1, workers=2), 0, 1, shuffle=False)
    by_worker = {}
    for batch in loader:
        by_worker.setdefault(int(batch['worker']), []).append(int(batch['draw']))
    assert len(by_worker) == 2 and by_worker[0] != by_worker[1]
    with pytest.raises(ValueError, match='batchSize'):
        make_loader(ds, _loader_options(batch_size=len(ds) + 1), 0, 1, shuffle=False)
