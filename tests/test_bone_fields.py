"""Tests for util/bone_fields.py and the networks' pose input: the bone fields follow the limb, not the image."""
import glob
import json

import numpy as np
import torch

from data.clip_dataset import ClipDataset
from models import create_model
from models.video_gan import pose_channels
from options.train_options import TrainOptions
from tests.helpers import TINY, run_script, train_tiny
from tests.test_pose import make_pose
from util.bone_fields import BONE_FIELD_CHANNELS, BONES, OVERHANG, REACH, draw_bone_fields
from util.pose import body_size

SIZE = 96


def per_bone(fields):
    return fields.reshape(len(BONES), 3, *fields.shape[1:])


def test_a_point_beside_a_bone_reads_its_place_along_and_beside_it():
    pose = make_pose(SIZE, SIZE)
    fields = per_bone(draw_bone_fields(pose, SIZE, SIZE))
    k = BONES.index((1, 8))                                         # neck -> mid hip, vertical in this pose
    neck, hip = pose['body'][1, :2], pose['body'][8, :2]
    row, col = int(round(0.5 * (neck[1] + hip[1]))), int(round(neck[0]))
    t = (row - neck[1]) / (hip[1] - neck[1])
    assert fields[k, 0, row, col] == 1.0
    assert abs(fields[k, 1, row, col] - (t - 0.5) / (0.5 + OVERHANG)) < 1e-5
    reach = REACH * body_size(pose)
    for beside in (col, col - int(reach / 2), col + int(reach / 2)):   # image-left of a bone pointing down: s > 0
        assert abs(fields[k, 2, row, beside] - (neck[0] - beside) / reach) < 1e-5
    assert fields[k, 0, row, int(col - reach - 2)] == -1.0          # out of reach: absent, values 0
    assert fields[k, 1, row, int(col - reach - 2)] == fields[k, 2, row, int(col - reach - 2)] == 0.0


def test_fields_turn_with_the_pose():
    pose = make_pose(SIZE, SIZE)
    turned = {**pose, 'body': pose['body'].copy()}
    x, y = pose['body'][:, 0].copy(), pose['body'][:, 1].copy()
    turned['body'][:, 0], turned['body'][:, 1] = y, SIZE - 1 - x    # the keypoints of np.rot90 of the image
    upright, rotated = draw_bone_fields(pose, SIZE, SIZE), draw_bone_fields(turned, SIZE, SIZE)
    assert (upright[0::3] > 0).sum() > 0.1 * SIZE * SIZE
    assert np.abs(np.rot90(upright, 1, axes=(1, 2)) - rotated).max() < 1e-4


def test_a_bone_with_an_unconfident_joint_is_absent():
    pose = make_pose(SIZE, SIZE)
    full = per_bone(draw_bone_fields(pose, SIZE, SIZE))
    pose['body'][3, 2] = 0.0                                        # right elbow not found
    partial = per_bone(draw_bone_fields(pose, SIZE, SIZE))
    missing = [k for k, bone in enumerate(BONES) if 3 in bone]
    assert len(missing) == 2 and (full[missing, 0] > 0).any()
    assert (partial[missing, 0] == -1).all() and (partial[missing, 1:] == 0).all()
    kept = [k for k in range(len(BONES)) if k not in missing]
    assert np.array_equal(partial[kept], full[kept])
    nobody = {**pose, 'body': np.zeros((25, 3), np.float32)}
    assert (per_bone(draw_bone_fields(nobody, SIZE, SIZE))[:, 0] == -1).all()


def test_dataset_and_networks_take_the_fields(videos):
    opt = TrainOptions().parse([*TINY, '--bone_fields', '--dataroot', str(videos.data)], save=False)
    dataset = ClipDataset.from_options(opt, 'train')
    sample = dataset[0]
    assert pose_channels(opt) == 3 + BONE_FIELD_CHANNELS == sample['pose'].shape[-3]
    assert torch.equal(sample['pose'][..., :3, :, :], ClipDataset.from_options(
        TrainOptions().parse([*TINY, '--dataroot', str(videos.data)], save=False), 'train')[0]['pose'])
    model = create_model(opt, dataset)
    out = model.infer(sample['pose'].reshape(-1, *sample['pose'].shape[-3:])[:1])
    assert out['output'].shape[-2:] == sample['pose'].shape[-2:]


def test_a_model_with_bone_fields_trains_drives_and_evaluates(videos, tmp_path):
    train_tiny(videos.data, tmp_path, 'bones', '--bone_fields', '--niter', '2', '--niter_decay', '0',
               '--static_epochs', '1')
    common = ['--name', 'bones', '--checkpoints_dir', tmp_path, '--gpu_ids', '-1']
    run_script('test.py', *common, '--pose_path', videos.novel / 'openpose_json', '--results_dir', tmp_path / 'test',
               '--how_many', '3')
    assert len(glob.glob(str(tmp_path / 'test' / 'bones' / 'test_latest' / 'frames' / '*.png'))) == 3
    run_script('evaluate.py', *common, '--dataroot', videos.novel, '--phase', 'all', '--results_dir', tmp_path / 'eval')
    report, = [json.load(open(p)) for p in glob.glob(str(tmp_path / 'eval' / '**' / 'metrics.json'), recursive=True)]
    assert report['frames'] > 3 and 8 < report['mean']['psnr'] < 60
