"""Networks and losses on tiny CPU tensors (models/networks/)."""
import urllib.error

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from models.networks.discriminators import MultiscaleDiscriminator, NLayerDiscriminator, TemporalDiscriminator
from models.networks.generators import DetailGenerator, GlobalGenerator, UVGenerator, count_parameters
from models.networks.losses import (GANLoss, VGG19Features, VGGLoss, background_prob, feature_matching_loss,
                                    mask_bce, masked_uv_l1, part_cross_entropy, ssim_loss, temporal_l1)
from models.networks.recompute import set_recompute
from models.networks.texture import LearnableBackground, NeuralTexture, composite
from util.atlas import atlas_to_tensor


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---------------------------------------------------------------- generators

@pytest.mark.parametrize('norm', ['instance', 'batch', 'none'])
@pytest.mark.parametrize('upsampling', ['transpose', 'resize'])
def test_global_generator_odd_size(norm, upsampling):
    g = GlobalGenerator(5, 7, ngf=4, n_downsampling=2, n_blocks=1, norm=norm, upsampling=upsampling)
    assert g(torch.randn(2, 5, 48, 80)).shape == (2, 7, 48, 80)


def test_generator_rejects_non_divisible_size():
    g = DetailGenerator(4, ngf=4, n_downsampling=2, n_blocks=1)
    with pytest.raises(ValueError, match=r'50x80 is not divisible by 2\*\*n_downsampling = 4'):
        g(torch.randn(1, 4, 50, 80))


def test_reference_uv_generator_parameter_count():
    with torch.device('meta'):  # no memory, no init cost
        g = GlobalGenerator(3, 73, ngf=64, n_downsampling=4, n_blocks=9)
        g_resize = GlobalGenerator(3, 73, ngf=64, n_downsampling=4, n_blocks=9, upsampling='resize')
        uv = UVGenerator(3, ngf=64, n_downsampling=4, n_blocks=9)
    n = count_parameters(g)
    assert abs(n - 182.7e6) / 182.7e6 < 0.01, n
    assert count_parameters(g_resize) == n == count_parameters(uv)


def test_channel_cap_builds_the_original_detail_generator():
    with torch.device('meta'):
        capped = DetailGenerator(18, ngf=64, n_downsampling=4, n_blocks=2, max_channels=512)
        uncapped = DetailGenerator(18, ngf=64, n_downsampling=4, n_blocks=2)
        loose_cap = DetailGenerator(18, ngf=64, n_downsampling=4, n_blocks=2, max_channels=1024)
    widths = [m.out_channels for m in capped.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    # 7x7 stem, 4 downsamplings (64, 128, 256, 512, 512), 2 blocks of 2 convs, 4 upsamplings, RGB head
    assert widths == [64, 128, 256, 512, 512, 512, 512, 512, 512, 512, 256, 128, 64, 3]
    assert count_parameters(loose_cap) == count_parameters(uncapped) > count_parameters(capped)
    out = DetailGenerator(18, ngf=4, n_downsampling=4, n_blocks=1, max_channels=16)(torch.randn(1, 18, 32, 48))
    assert out.shape == (1, 3, 32, 48)


@pytest.mark.parametrize('upsampling', ['transpose', 'resize'])
def test_skips_carry_the_input_around_a_dead_bottleneck(upsampling):
    plain = GlobalGenerator(5, 3, ngf=4, n_downsampling=2, n_blocks=1, upsampling=upsampling)
    skips = GlobalGenerator(5, 3, ngf=4, n_downsampling=2, n_blocks=1, upsampling=upsampling, skips='add')
    skips.load_state_dict(plain.state_dict())         # the same parameters, only the wiring differs
    deepest = [m for m in plain.model if isinstance(m, nn.Conv2d) and m.stride == (2, 2)][-1]
    with torch.no_grad():
        deepest.weight.zero_()                        # nothing of the input reaches the bottleneck
        skips.load_state_dict(plain.state_dict())
        a, b = torch.randn(2, 1, 5, 16, 24).unbind()
        assert torch.allclose(plain(a), plain(b), atol=1e-6)
        assert (skips(a) - skips(b)).abs().max() > 1e-2
    with pytest.raises(ValueError, match="unknown skips 'concat'"):
        GlobalGenerator(5, 3, ngf=4, n_downsampling=2, n_blocks=1, skips='concat')


def test_uv_generator_outputs():
    g = UVGenerator(3, ngf=4, n_downsampling=2, n_blocks=1)
    out = g(100 * torch.randn(2, 3, 16, 24))  # large inputs push tanh to saturation
    assert out['part_logits'].shape == (2, 25, 16, 24)
    assert out['uv'].shape == (2, 48, 16, 24)
    assert out['uv'].abs().max() <= 1
    assert out['uv'].abs().max() > 0.9
    d = DetailGenerator(18, ngf=4, n_downsampling=2, n_blocks=1)
    rgb = d(100 * torch.randn(2, 18, 16, 24))
    assert rgb.shape == (2, 3, 16, 24) and rgb.abs().max() <= 1


# ---------------------------------------------------------------- texture, background

def _tile_colours():
    return torch.linspace(-0.9, 0.9, 24 * 3).reshape(24, 3)


def _constant_atlas(size):
    return _tile_colours()[:, :, None, None].expand(24, 3, size, size).reshape(72, size, size).clone()


@pytest.mark.parametrize('init_size', [8, 16])
def test_neural_texture_init_reproduces_atlas(init_size):
    tex = NeuralTexture(tex_size=8, feat_channels=5, init_atlas=_constant_atlas(init_size))
    assert tex.texture.shape == (1, 24 * 8, 8, 8)
    assert torch.allclose(tex.rgb_atlas(), _constant_atlas(8), atol=1e-6)
    b, h, w = 2, 6, 10
    uv = torch.rand(b, 48, h, w) * 1.6 - 0.8
    for p in (1, 7, 24):
        out = tex(uv, torch.full((b, h, w), p, dtype=torch.long))
        assert out['rgb'].shape == (b, 3, h, w) and out['features'].shape == (b, 8, h, w)
        expected = _tile_colours()[p - 1].view(1, 3, 1, 1).expand(b, 3, h, w)
        assert torch.allclose(out['rgb'], expected, atol=1e-5)
        assert torch.equal(out['features'][:, :3], out['rgb'])
        assert out['features'][:, 3:].abs().max() == 0


def test_neural_texture_from_atlas_image_corners():
    t = 6
    image = torch.randint(0, 256, (6 * t, 4 * t, 3), dtype=torch.uint8)
    init = atlas_to_tensor(image)
    tex = NeuralTexture(tex_size=t, feat_channels=2, init_atlas=init)
    assert torch.equal(tex.rgb_atlas(), init)
    uv = torch.zeros(1, 48, 1, 2)
    uv[:, 0::2, :, 0], uv[:, 1::2, :, 0] = -1, 1  # (U, V) = (0, 1): top-left texel
    uv[:, 0::2, :, 1], uv[:, 1::2, :, 1] = 1, -1  # (U, V) = (1, 0): bottom-right texel
    for p in (1, 6, 7, 24):
        rgb = tex(uv, torch.full((1, 1, 2), p, dtype=torch.long))['rgb']
        col, row = (p - 1) // 6, (p - 1) % 6  # DensePose atlas: tile at column (p-1)//6, row (p-1)%6
        top_left = image[row * t, col * t].float() / 127.5 - 1
        bottom_right = image[row * t + t - 1, col * t + t - 1].float() / 127.5 - 1
        assert torch.allclose(rgb[0, :, 0, 0], top_left, atol=1e-5)
        assert torch.allclose(rgb[0, :, 0, 1], bottom_right, atol=1e-5)


def test_neural_texture_rejects_bad_atlas():
    with pytest.raises(ValueError, match='init_atlas'):
        NeuralTexture(tex_size=8, feat_channels=2, init_atlas=torch.zeros(3, 8, 8))


def test_background_and_composite():
    init = torch.rand(3, 8, 12) * 2 - 1
    bg = LearnableBackground(init)
    assert torch.equal(bg(2, 8, 12), init.expand(2, 3, 8, 12))
    assert bg(3, 16, 24).shape == (3, 3, 16, 24)
    person, back = torch.ones(2, 3, 4, 4), -torch.ones(2, 3, 4, 4)
    prob = torch.zeros(2, 1, 4, 4)
    prob[:, :, :2] = 1
    prob[:, :, 3] = 0.25
    out = composite(person, back, prob)
    assert torch.equal(out[:, :, :2], back[:, :, :2]) and torch.equal(out[:, :, 2], person[:, :, 2])
    assert torch.allclose(out[:, :, 3], torch.full_like(out[:, :, 3], 0.5))


def test_gradients_reach_texture_generators_and_background():
    h, w = 16, 16
    uv_gen = UVGenerator(3, ngf=4, n_downsampling=2, n_blocks=1)
    tex = NeuralTexture(tex_size=8, feat_channels=3, init_atlas=_constant_atlas(8))
    d2g = DetailGenerator(6, ngf=4, n_downsampling=2, n_blocks=1)
    bg = LearnableBackground(torch.zeros(3, h, w))
    out = uv_gen(torch.randn(2, 3, h, w))
    probs = torch.softmax(out['part_logits'], 1)
    person = d2g(tex(out['uv'], probs)['features'])
    image = composite(person, bg(2, h, w), probs[:, :1])
    (image - torch.rand_like(image)).abs().mean().backward()
    for name, module in [('uv_gen', uv_gen), ('texture', tex), ('d2g', d2g), ('background', bg)]:
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None for g in grads), name
        assert sum(g.abs().sum() for g in grads) > 0, name
    feat_grad = tex.texture.grad.reshape(24, 6, 8, 8)[:, 3:]
    assert feat_grad.abs().sum() > 0  # zero-initialised features still learn


# ---------------------------------------------------------------- discriminators, GAN losses

def test_multiscale_discriminator_structure():
    d = MultiscaleDiscriminator(5, ndf=4, n_layers=3, num_D=3)
    out = d(torch.randn(2, 5, 64, 48))
    assert len(out) == 3 and all(len(s) == 5 for s in out)
    assert out[0][-1].shape[:2] == (2, 1)
    assert out[1][-1].shape[-1] < out[0][-1].shape[-1]
    with pytest.raises(ValueError, match='expected 5 input channels'):
        d(torch.randn(1, 4, 32, 32))
    assert len(NLayerDiscriminator(3, ndf=4, n_layers=2)(torch.randn(1, 3, 32, 32))) == 4


def test_temporal_discriminator_input():
    t = 3
    d = TemporalDiscriminator(frames=t, ndf=4, n_layers=2, num_D=2)
    frames, flows = torch.randn(2, t, 3, 32, 32), torch.randn(2, t - 1, 2, 32, 32)
    x = TemporalDiscriminator.build_input(frames, flows, flow_scale=0.5)
    assert x.shape == (2, 3 * 3 + 2 * 2, 32, 32) == (2, TemporalDiscriminator.input_channels(t), 32, 32)
    assert torch.equal(x[:, 3:6], frames[:, 1]) and torch.equal(x[:, 11:13], 0.5 * flows[:, 1])
    out = d(x)
    assert len(out) == 2 and len(out[0]) == 4
    with pytest.raises(ValueError, match='flows must be'):
        TemporalDiscriminator.build_input(frames, flows[:, :1])


def test_gan_losses():
    ones = [[torch.zeros(2, 4, 3, 3), torch.ones(2, 1, 3, 3)], [torch.ones(2, 1, 2, 2)]]
    zeros = [[torch.zeros(2, 1, 3, 3)], [torch.zeros(2, 1, 2, 2)]]
    lsgan = GANLoss('lsgan')
    assert lsgan(ones, True) == 0 and lsgan(zeros, False) == 0
    assert torch.isclose(lsgan(zeros, True), torch.tensor(1.0))
    hinge = GANLoss('hinge')
    assert hinge([[torch.full((2, 1, 3, 3), 2.0)]], True) == 0
    assert hinge([[torch.full((2, 1, 3, 3), -2.0)]], False) == 0
    assert torch.isclose(hinge(zeros, True), torch.tensor(1.0))
    assert torch.isclose(hinge([[torch.full((1, 1, 2, 2), 3.0)]], True, for_discriminator=False), torch.tensor(-3.0))
    vanilla = GANLoss('vanilla')
    assert vanilla([[torch.full((1, 1, 2, 2), 20.0)]], True) < 1e-6
    assert torch.isclose(vanilla(zeros, False), torch.log(torch.tensor(2.0)))
    with pytest.raises(ValueError):
        GANLoss('wgan')


def test_feature_matching():
    d = MultiscaleDiscriminator(3, ndf=4, n_layers=2, num_D=2)
    x = torch.randn(1, 3, 32, 32)
    real = d(x)
    assert feature_matching_loss(d(x), real) == 0
    fake = [[f + 1 for f in s] for s in real]
    assert torch.isclose(feature_matching_loss(fake, real), torch.tensor(1.0))


# ---------------------------------------------------------------- VGG

def _random_vgg_features_state():
    return {f'features.{k}': v for k, v in torchvision.models.vgg19(weights=None).features.state_dict().items()}


def test_vgg_loads_state_dict_file(tmp_path):
    state = _random_vgg_features_state()
    path = tmp_path / 'vgg.pth'
    torch.save(state, path)  # features.* keys only
    vgg = VGG19Features(str(path))
    assert torch.equal(vgg.slices[4][-2].weight, state['features.28.weight'])
    assert not any(p.requires_grad for p in vgg.parameters()) and not vgg.train().training
    x = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    feats = vgg(x)
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512, 512] and feats[-1].shape[-1] == 2
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    relu1_1 = F.relu(F.conv2d(((x + 1) / 2 - mean) / std, state['features.0.weight'], state['features.0.bias'], padding=1))
    assert torch.allclose(feats[0], relu1_1, atol=1e-5)  # [-1, 1] input -> ImageNet normalisation inside
    # a full vgg19 state dict: classifier keys are ignored
    full = dict(state, **{'classifier.6.weight': torch.zeros(10, 4), 'classifier.6.bias': torch.zeros(10)})
    torch.save(full, path)
    assert torch.equal(VGG19Features(str(path)).slices[0][0].weight, state['features.0.weight'])
    loss = VGGLoss(vgg)
    real_f = loss.features(torch.zeros(1, 3, 32, 32))
    value = loss.loss(loss.features(x), real_f)
    assert value > 0 and loss.loss(real_f, real_f) == 0
    value.backward()
    assert x.grad.abs().sum() > 0 and all(p.grad is None for p in vgg.parameters())
    assert torch.isclose(loss(x, torch.zeros(1, 3, 32, 32)), value)


@pytest.mark.parametrize('content', [None, b'not a checkpoint', 'wrong keys'])
def test_vgg_bad_file_is_explained(tmp_path, content):
    path = tmp_path / 'vgg.pth'
    if content == 'wrong keys':
        torch.save({'features.0.weight': torch.zeros(3)}, path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(RuntimeError, match='--no_vgg_loss') as info:
        VGG19Features(str(path))
    assert '--vgg_weights' in str(info.value) and 'vgg.pth' in str(info.value)


def test_vgg_default_weights_unavailable(tmp_path, monkeypatch):
    calls = []

    def no_network(url, dst, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError('no network (test)')

    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    monkeypatch.setattr(torch.hub, '_hub_dir', None)  # follow TORCH_HOME even if set_dir was called
    monkeypatch.setattr(torch.hub, 'download_url_to_file', no_network)
    with pytest.raises(RuntimeError, match='--no_vgg_loss') as info:
        VGG19Features()
    assert calls and '--vgg_weights' in str(info.value) and str(tmp_path) in str(info.value)


# ---------------------------------------------------------------- supervision losses

def test_masked_uv_l1_perfect_prediction():
    parts = torch.randint(0, 25, (2, 6, 7))
    target = torch.rand(2, 2, 6, 7) * 2 - 1
    pred = torch.rand(2, 48, 6, 7) * 2 - 1
    for p in range(1, 25):
        sel = (parts == p).unsqueeze(1)
        pred[:, 2 * (p - 1):2 * p] = torch.where(sel, target, pred[:, 2 * (p - 1):2 * p])
    assert masked_uv_l1(pred, target, parts) == 0
    assert masked_uv_l1(pred, target + 0.1, parts) > 0.09
    pred.requires_grad_(True)
    none = masked_uv_l1(pred, target, torch.zeros(2, 6, 7, dtype=torch.long))
    assert none == 0
    none.backward()


def test_masked_uv_l1_hand_computed():
    parts = torch.tensor([[[0, 1, 2]]])
    target = torch.tensor([[[[1.0, 0.5, 0.1]], [[1.0, -0.5, 0.3]]]])  # [1, 2, 1, 3]
    pred = torch.zeros(1, 48, 1, 3)
    pred[0, 0, 0, 1], pred[0, 1, 0, 1] = 0.3, -0.5  # part 1 at pixel 1: error 0.2 + 0
    pred[0, 0, 0, 2] = 0.1  # part 1's channel at a part-2 pixel: must be ignored
    # part 2 at pixel 2 predicts (0, 0): error 0.1 + 0.3; the background pixel is ignored
    assert torch.isclose(masked_uv_l1(pred, target, parts), torch.tensor((0.2 + 0.4) / 4))


def test_part_cross_entropy():
    parts = torch.randint(0, 25, (2, 5, 6))
    logits = 20 * F.one_hot(parts, 25).permute(0, 3, 1, 2).float()
    assert part_cross_entropy(logits, parts) < 1e-3
    assert part_cross_entropy(logits, (parts + 1) % 25) > 10


def test_temporal_l1_ignores_zero_confidence():
    cur = torch.zeros(1, 3, 4, 4)
    prev = torch.full((1, 3, 4, 4), 0.5)
    conf = torch.ones(1, 1, 4, 4)
    conf[..., :2] = 0
    prev[..., :2] = 100.0
    assert torch.isclose(temporal_l1(cur, prev, conf), torch.tensor(0.5))
    assert temporal_l1(cur, prev, torch.zeros_like(conf)) == 0


def test_mask_bce_matches_person_probability():
    logits = torch.randn(2, 25, 4, 5) * 3
    mask = (torch.rand(2, 4, 5) > 0.5).float()
    person = 1 - background_prob(logits.double())  # naive reference, in double to stay accurate
    expected = F.binary_cross_entropy(person, mask.unsqueeze(1).double()).float()
    assert torch.isclose(mask_bce(logits, mask), expected, atol=1e-5)
    confident = torch.full((1, 25, 2, 2), -30.0)
    confident[:, 3] = 30  # certainly person
    assert mask_bce(confident, torch.ones(1, 2, 2)) < 1e-6
    assert mask_bce(confident, torch.zeros(1, 1, 2, 2)) > 10  # finite and large, no log(0)


def test_ssim_loss_is_zero_on_the_target_and_prefers_structure_to_brightness():
    torch.manual_seed(0)
    real = torch.rand(2, 3, 32, 32) * 2 - 1
    assert ssim_loss(real, real).abs() < 1e-6
    brighter = (real + 0.1).clamp(-1, 1)            # same structure
    blurred = F.avg_pool2d(real, 5, stride=1, padding=2, count_include_pad=False)
    assert ssim_loss(brighter, real) < ssim_loss(blurred, real)
    output = blurred.clone().requires_grad_(True)
    ssim_loss(output, real).backward()
    assert output.grad.abs().sum() > 0


def _saved_bytes_and_grads(network, x, recompute, input_grad):
    """Bytes autograd keeps for backward during network(x), and the gradients of input and parameters."""
    set_recompute(network, recompute)
    saved = []
    x = x.detach().clone().requires_grad_(input_grad)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel() * t.element_size()) or t,
                                                  lambda t: t):
        out = network(x)
    loss = sum(o.float().pow(2).mean() for o in (out if isinstance(out, list) else [out]))
    loss.backward()
    grads = ([x.grad] if input_grad else []) + [p.grad.clone() for p in network.parameters() if p.grad is not None]
    network.zero_grad(set_to_none=True)
    return sum(saved), grads


@pytest.mark.parametrize('build', ['generator', 'generator_skips', 'discriminator', 'vgg'])
def test_recompute_keeps_less_and_gives_the_same_gradients(build, tmp_path):
    torch.manual_seed(0)
    if build == 'generator':   # the UV generator's layout (39 layers): naive segments start with a ReLU(True)
        network, x = GlobalGenerator(3, 73, ngf=4, n_downsampling=4, n_blocks=9), torch.randn(2, 3, 32, 32)
    elif build == 'generator_skips':
        network = GlobalGenerator(3, 3, ngf=4, n_downsampling=3, n_blocks=3, skips='add')
        x = torch.randn(2, 3, 32, 32)
    elif build == 'discriminator':
        network, x = NLayerDiscriminator(6, ndf=8, n_layers=3), torch.randn(2, 6, 32, 32)
    else:
        torch.save(_random_vgg_features_state(), tmp_path / 'vgg.pth')
        network, x = VGG19Features(str(tmp_path / 'vgg.pth')), torch.rand(2, 3, 32, 32) * 2 - 1
    input_grad = not build.startswith('generator')     # a generator's pose input needs no grad, its weights do
    kept, expected = _saved_bytes_and_grads(network, x, False, input_grad)
    kept_recompute, grads = _saved_bytes_and_grads(network, x, True, input_grad)
    assert kept_recompute < 0.7 * kept, (kept_recompute, kept)
    assert len(grads) == len(expected)
    for grad, reference in zip(grads, expected):
        assert torch.allclose(grad, reference, rtol=1e-4, atol=1e-6)
    with torch.no_grad():
        outputs = _as_list(network(x))
        set_recompute(network, False)
        assert all(torch.equal(a, b) for a, b in zip(outputs, _as_list(network(x))))
    print(f'\n{build}: autograd keeps {kept_recompute / kept:.2f}x the bytes with recompute')


def _as_list(out):
    return out if isinstance(out, list) else [out]
