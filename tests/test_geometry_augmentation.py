"""--uv_augment similarity: the pose image and its DensePose labels move together, and the UV generator
learns from the warped copies while the rest of the renderer sees the frames as they are."""
import pytest
import torch

from data.clip_dataset import ClipDataset
from data.loaders import collate_clips
from models import create_model
from models.networks.geometry_augmentation import random_similarities, warp_image, warp_labels
from options.train_options import TrainOptions
from tests.helpers import TINY


def shift_right(pixels, size):
    """affine_grid matrix of a shift by ``pixels`` to the right (output x reads input x - pixels)."""
    return torch.tensor([[[1.0, 0.0, -2.0 * pixels / size], [0.0, 1.0, 0.0]]])


def test_identity_keeps_the_pose_and_the_labels():
    torch.manual_seed(0)
    pose = torch.rand(1, 3, 16, 16) * 2 - 1
    parts = torch.randint(0, 25, (1, 16, 16))
    uv, mask = torch.rand(1, 2, 16, 16) * 2 - 1, (parts > 0).float()[:, None]
    identity = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    assert torch.allclose(warp_image(pose, identity, fill=-1.0), pose, atol=1e-5)
    warped_parts, warped_uv, warped_mask = warp_labels(parts, uv, mask, identity)
    assert torch.equal(warped_parts, parts) and torch.allclose(warped_uv, uv) and torch.equal(warped_mask, mask)


def test_a_shift_moves_the_skeleton_and_its_labels_alike_and_fills_with_background():
    pose = torch.full((1, 3, 16, 16), -1.0)
    pose[:, :, 5, 6] = 1.0                                  # one drawn pixel
    parts = torch.zeros(1, 16, 16, dtype=torch.long)
    parts[0, 5, 6] = 7
    uv = torch.zeros(1, 2, 16, 16)
    uv[0, :, 5, 6] = torch.tensor([0.25, -0.5])
    theta = shift_right(3, 16)
    warped_pose = warp_image(pose, theta, fill=-1.0)
    warped_parts, warped_uv, warped_mask = warp_labels(parts, uv, (parts > 0).float()[:, None], theta)
    assert torch.allclose(warped_pose[0, :, 5, 9], torch.ones(3), atol=1e-5)
    assert torch.allclose(warped_pose[0, :, :, :3], torch.full((3, 16, 3), -1.0))     # the uncovered edge
    assert warped_parts[0, 5, 9] == 7 and warped_parts.count_nonzero() == 1
    assert torch.allclose(warped_uv[0, :, 5, 9], torch.tensor([0.25, -0.5])) and warped_mask[0, 0, 5, 9] == 1


def test_random_similarities_stay_within_their_bounds():
    theta = random_similarities(500, 20.0, 0.15, 0.1, 'cpu', torch.Generator().manual_seed(0))
    linear = theta[:, :, :2]
    inverse_scale = linear.det().sqrt()                     # output -> input: 1 / scale
    assert inverse_scale.min() >= 1 / 1.15 - 1e-5 and inverse_scale.max() <= 1 / 0.85 + 1e-5
    angles = torch.rad2deg(torch.atan2(linear[:, 1, 0], linear[:, 0, 0]))
    assert angles.abs().max() <= 20.0 + 1e-4 and angles.abs().max() > 15.0
    assert theta[:, :, 2].abs().max() <= 0.1 + 1e-6 and theta[:, :, 2].abs().max() > 0.08


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    from data.synthetic import generate
    root = str(tmp_path_factory.mktemp('data') / 'synth')
    generate(root, frames=6, height=64, width=64, seed=3, tex_size=16)
    return root


def build(dataset, tmp_path, augment):
    opt = TrainOptions().parse(list(TINY) + ['--dataroot', dataset, '--checkpoints_dir', str(tmp_path),
                                            '--static_epochs', '0', '--uv_augment', augment], save=False)
    data = ClipDataset.from_options(opt, 'train')
    torch.manual_seed(0)
    model = create_model(opt, data)
    model.set_epoch(1)
    return model, collate_clips([data[0], data[1]])


def test_the_uv_generator_alone_sees_the_warped_copies(dataset, tmp_path):
    model, batch = build(dataset, tmp_path, 'similarity')
    seen = {}
    model.trans.register_forward_hook(lambda module, inputs, output: seen.update(trans=inputs[0].shape[0]))
    model.d2g.register_forward_hook(lambda module, inputs, output: seen.update(d2g=inputs[0].shape[0]))
    losses, finite = model.train_step(batch)
    frames = batch['image'].shape[0] * batch['image'].shape[1]
    assert finite and seen == {'trans': 2 * frames, 'd2g': frames}
    assert {'G_uv', 'G_part', 'G_mask', 'G_l2'} <= set(losses)
    model.generator.eval()
    plain = model.generate(model.generator, batch['pose'].flatten(0, 1))
    assert 'geometry' not in plain                          # evaluation renders the poses as given


def test_without_the_flag_the_step_is_unchanged(dataset, tmp_path):
    model, batch = build(dataset, tmp_path, 'none')
    seen = {}
    model.trans.register_forward_hook(lambda module, inputs, output: seen.update(trans=inputs[0].shape[0]))
    model.train_step(batch)
    assert seen['trans'] == batch['image'].shape[0] * batch['image'].shape[1]
