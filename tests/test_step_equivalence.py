"""The training step computes what the straightforward step computes: every gradient of the generator and
discriminator updates, and the losses, from the same weights and batch, to 1e-4.

The straightforward step (``naive_train_step``, written out here) runs the spatial and temporal D on the fake
and real frames stacked in one batch in the G step (feature matching) and again in the D step; the model runs
D on the real frames once per step and reuses that graph (models/video_gan.py); the reference's networks use
torch's nn.InstanceNorm2d where the model's use models/networks/generators.InstanceNorm."""
import pytest
import torch
import torch.nn as nn

from data.clip_dataset import ClipDataset
from data.loaders import collate_clips
from models import create_model
from models.networks.generators import InstanceNorm
from models.video_gan import (DISCRIMINATOR_WEIGHTS, discriminate, discriminator_losses, generator_adversarial_losses,
                              set_requires_grad, unpack_clips)
from models.base_model import weighted_total
from options.train_options import TrainOptions
from tests.helpers import TINY
from util.step_in_backward import steps_in_backward

TOLERANCE = 1e-4


def torch_instance_norms(module):
    """Swap every InstanceNorm of module for torch's nn.InstanceNorm2d (the reference's norm)."""
    for name, child in module.named_children():
        if isinstance(child, InstanceNorm):
            setattr(module, name, nn.InstanceNorm2d(child.num_features, affine=False))
        else:
            torch_instance_norms(child)


def split(features, first):
    """[scale][layer] features of a stacked batch -> (the first ``first`` items, the rest); None stays None."""
    if features is None:
        return None, None
    return [[f[:first] for f in scale] for scale in features], [[f[first:] for f in scale] for scale in features]


def stacked(model, data, fake, clip_shape):
    """D on fake and real stacked in one batch (pose and flows twice) -> (fake, real) ``discriminate`` results."""
    b, t = clip_shape
    both = discriminate(model.discriminators, torch.cat([data['pose'], data['pose']]),
                        torch.cat([fake, data['image']]), torch.cat([data['flow'], data['flow']]), (2 * b, t))
    spatial, temporal = split(both['spatial'], b * t), split(both['temporal'], b)   # frames; clips
    return ({'spatial': spatial[0], 'temporal': temporal[0]}, {'spatial': spatial[1], 'temporal': temporal[1]})


def naive_train_step(model, batch, with_d_real=True):
    """G step, then D step, with D run on the real frames in both. with_d_real=False leaves D_real and DT_real
    out of the D step (a step the comparison must tell apart)."""
    data, clip_shape = unpack_clips(batch, model.device, model.batch_keys)
    model.adversarial_losses = lambda data, output, clip_shape: generator_adversarial_losses(
        model.gan_loss, *stacked(model, data, output, clip_shape))
    model.generator.train()
    set_requires_grad(model.discriminators, False)
    result = model.generate(model.generator, data['pose'])
    g_losses = model.generator_losses(data, result, clip_shape)
    model.guarded_step('G', weighted_total(g_losses, model.weights))
    set_requires_grad(model.discriminators, True)
    d_losses = discriminator_losses(model.gan_loss, *stacked(model, data, result['output'].detach(), clip_shape))
    if not with_d_real:
        d_losses = {k: v for k, v in d_losses.items() if not k.endswith('_real')}
    model.guarded_step('D', weighted_total(d_losses, DISCRIMINATOR_WEIGHTS))
    return {f'G_{k}': float(v.detach()) for k, v in g_losses.items()} | {k: float(v.detach()) for k, v in d_losses.items()}


def recorded_gradients(model):
    """{optimizer name: {parameter index: gradient}}, each recorded as soon as a backward pass has accumulated
    it (before the model's step in backward, util/step_in_backward.py, frees it)."""
    grads = {}
    for name, optimizer in model.optimizers.items():
        params = [p for group in optimizer.param_groups for p in group['params']]
        for i, param in enumerate(params):
            param.register_post_accumulate_grad_hook(
                lambda p, name=name, i=i: grads.setdefault(name, {}).__setitem__(i, p.grad.detach().clone()))
    return grads


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    from data.synthetic import generate
    root = str(tmp_path_factory.mktemp('data') / 'synth')
    generate(root, frames=8, height=64, width=64, seed=5, tex_size=16)
    return root


def build(dataset, tmp_path, model_name, reference):
    flags = list(TINY)
    flags[flags.index('--num_D') + 1] = '2'                 # both scales of the multi-scale Ds
    opt = TrainOptions().parse(flags + ['--model', model_name, '--dataroot', dataset, '--checkpoints_dir',
                                        str(tmp_path), '--static_epochs', '0', '--data_ratio', '1.0'], save=False)
    assert opt.num_D == 2 and not opt.no_temporal_D
    data = ClipDataset.from_options(opt, 'train')
    torch.manual_seed(0)
    model = create_model(opt, data)
    if reference:
        for network in (model.generator, model.discriminators):
            torch_instance_norms(network)
    assert any(isinstance(m, InstanceNorm) for m in model.discriminators.modules()) != reference
    model.set_epoch(1)
    return model, [collate_clips([data[2 * i], data[2 * i + 1]]) for i in range(2)]


def max_difference(a, b):
    """Largest difference of two {index: gradient} dicts, relative to each gradient's largest value (or 1)."""
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max() / max(1.0, float(a[k].abs().max()))) for k in a)


@pytest.mark.parametrize('model_name', ['render', 'pose2image'])
def test_step_gives_the_straightforward_gradients(dataset, tmp_path, model_name):
    model, batches = build(dataset, tmp_path, model_name, reference=False)
    reference, _ = build(dataset, tmp_path, model_name, reference=True)
    assert model.step_in_backward
    reference.step_in_backward = False                      # backward, then the optimizers' step
    dropped, _ = build(dataset, tmp_path, model_name, reference=True)
    runs = [(model, lambda b: model.train_step(b)[0]), (reference, lambda b: naive_train_step(reference, b)),
            (dropped, lambda b: naive_train_step(dropped, b, with_d_real=False))]
    grads = [recorded_gradients(m) for m, _ in runs]
    for batch in batches:                                   # two steps: the second from updated weights
        losses = [step(batch) for _, step in runs]
        for name in losses[1]:
            assert abs(losses[0][name] - losses[1][name]) <= TOLERANCE * max(1.0, abs(losses[1][name])), name
        assert grads[0].keys() == grads[1].keys() == {'G', 'D'}
        for name in ('G', 'D'):
            assert max_difference(grads[1][name], grads[0][name]) <= TOLERANCE, name
        assert len(grads[0]['D']) == len(list(model.discriminators.parameters()))
        # the comparison can fail: D's gradients without its real-frame terms differ by far more
        assert max_difference(grads[1]['D'], grads[2]['D']) > 100 * TOLERANCE


def test_instance_norm_matches_torch_forward_and_backward():
    torch.manual_seed(0)
    x = torch.randn(3, 6, 9, 7, requires_grad=True)
    weights = torch.randn(3, 6, 9, 7)
    outputs = []
    for norm in (InstanceNorm(6), nn.InstanceNorm2d(6, affine=False)):
        y = torch.relu_(norm(x * 1.0))                       # as in the networks: an in-place ReLU after it
        (y * weights).sum().backward()
        outputs.append((y.detach(), x.grad.clone()))
        x.grad = None
    (y_ours, g_ours), (y_torch, g_torch) = outputs
    assert torch.equal(y_ours, y_torch) and torch.equal(g_ours, g_torch)
    assert InstanceNorm(6).state_dict() == {} == nn.InstanceNorm2d(6).state_dict()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert InstanceNorm(6)(x.detach().bfloat16()).dtype == torch.bfloat16


def test_steps_in_backward_update_as_the_optimizer_step():
    """Adam parameter by parameter during backward == backward then Adam.step, bit for bit, over steps with two
    param groups (a parameter used twice, one the loss never reaches); the state dicts match too."""
    def build():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 2, 1))
        optimizer = torch.optim.Adam([{'params': net[0].parameters(), 'lr': 1e-2},
                                      {'params': list(net[2].parameters()) + list(net[3].parameters()), 'lr': 1e-3}],
                                     betas=(0.5, 0.999), fused=True)
        return net, optimizer

    def loss(net, x):
        y = net[2](net[1](net[0](x)))
        return (net[2](torch.nn.functional.pad(y, (1, 1, 1, 1))) ** 2).mean()   # net[2] twice, net[3] unused

    (plain, plain_adam), (ours, our_adam) = build(), build()
    for step in range(3):
        x = torch.randn(2, 3, 12, 12)
        loss(plain, x).backward()
        plain_adam.step()
        plain_adam.zero_grad(set_to_none=True)
        with steps_in_backward(our_adam):
            loss(ours, x).backward()
        assert all(p.grad is None for p in ours.parameters())
        for a, b in zip(plain.parameters(), ours.parameters()):
            assert torch.equal(a, b)
    plain_state, our_state = plain_adam.state_dict(), our_adam.state_dict()
    assert plain_state['param_groups'] == our_state['param_groups']
    assert sorted(our_state['state']) == sorted(plain_state['state']) == [0, 1, 2, 3]   # net[3]: never stepped
    for index, state in plain_state['state'].items():
        assert all(torch.equal(value, our_state['state'][index][key]) for key, value in state.items())
