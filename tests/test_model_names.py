"""Names a model declares are checked once at set-up: a network it lists must exist, every loss weight
must weigh a loss it produces, and a weight flag for another model's loss is refused on the command line."""

import pytest
import torch

from models import base_model, create_model
from models.pose2image_model import Pose2ImageModel
from models.render_model import RenderModel
from models.trans_model import TransModel
from options.pretrain_options import PretrainOptions
from options.upgrade import upgrade_options
from options.train_options import TrainOptions
from tests.helpers import TINY
from util.checkpoint import CheckpointError

SIZE = (32, 32)


def options(*extra):
    return TrainOptions().parse([*TINY, '--loadSize', '32', *extra], save=False)


def test_each_model_parses_only_its_own_loss_weights():
    render = options()
    baseline = options('--model', 'pose2image')
    assert {k for k in vars(render) if k.startswith('lambda_')} == {f'lambda_{n}' for n in RenderModel.loss_defaults}
    assert {k for k in vars(baseline) if k.startswith('lambda_')} == {
        f'lambda_{n}' for n in Pose2ImageModel.loss_defaults}
    assert not hasattr(render, 'lambda_l1') and not hasattr(baseline, 'lambda_l2_raw')
    assert hasattr(render, 'lr_texture') and not hasattr(baseline, 'lr_texture')
    pretrain = PretrainOptions().parse(['--dataroot', 'x', '--gpu_ids', '-1'], save=False)
    assert {k for k in vars(pretrain) if k.startswith('lambda_')} == {f'lambda_{n}' for n in TransModel.loss_defaults}


def test_unknown_loss_weight_fails_at_set_up():
    opt = options()
    opt.lambda_l1 = 10.0          # a weight for a loss the render model never produces
    with pytest.raises(ValueError, match='--lambda_l1: the render model has no such loss'):
        create_model(opt, working_size=SIZE)
    opt = options('--model', 'pose2image')
    del opt.lambda_feat
    with pytest.raises(ValueError, match=r"produces \['feat'\] but has no --lambda_ weight"):
        create_model(opt, working_size=SIZE)


def test_unknown_network_name_fails_at_set_up(monkeypatch):
    monkeypatch.setattr(RenderModel, 'network_names', RenderModel.network_names + ('texure',))
    with pytest.raises(ValueError, match="declares network 'texure'"):
        create_model(options(), working_size=SIZE)
    monkeypatch.setattr(Pose2ImageModel, 'training_network_names', ('discriminator',))
    with pytest.raises(ValueError, match="declares network 'discriminator'"):
        create_model(options('--model', 'pose2image'), working_size=SIZE)


def test_declared_networks_are_what_a_checkpoint_holds():
    model = create_model(options(), working_size=SIZE)
    assert set(model.networks()) == {'trans', 'texture', 'd2g', 'background', 'discriminators'}
    state = model.checkpoint_state({'epoch': 1})
    assert set(state['networks']) == set(model.networks())
    inference = options()
    inference.is_train = False
    assert set(create_model(inference, working_size=SIZE).networks()) == {'trans', 'texture', 'd2g', 'background'}
    assert all(isinstance(net, torch.nn.Module) for net in model.networks().values())


def test_weight_of_another_models_loss_is_refused_on_the_command_line(capsys):
    with pytest.raises(SystemExit) as refused:
        TrainOptions().parse([*TINY, '--dataroot', 'nowhere', '--lambda_l1', '3'], save=False)
    assert refused.value.code == 2 and 'unrecognized arguments: --lambda_l1 3' in capsys.readouterr().err


def test_options_of_an_old_checkpoint_are_upgraded_with_todays_defaults():
    stored = {key: value for key, value in vars(options('--model', 'pose2image')).items()
              if key not in ('max_channels_global', 'tex_min_prob', 'd2g_skips', 'trans_skips', 'size_multiple',
                             'device')}
    upgraded = upgrade_options(stored)
    assert upgraded.max_channels_global == 0 and upgraded.tex_min_prob == 0.0     # the behaviour before the flags
    assert upgraded.d2g_skips == upgraded.trans_skips == 'none'
    assert upgrade_options({**stored, 'd2g_skips': 'add'}).d2g_skips == 'add'
    assert upgraded.size_multiple == 2 ** max(stored['n_downsample_translate'], stored['n_downsample_global'])
    assert upgraded.model == 'pose2image' and upgraded.lambda_l1 == stored['lambda_l1']
    assert upgraded.ngf == stored['ngf'] == 8                                    # stored values win


def test_a_render_checkpoint_from_before_the_ssim_loss_resumes_without_it():
    stored = {key: value for key, value in vars(options('--model', 'render')).items() if key != 'lambda_ssim'}
    assert options('--model', 'render').lambda_ssim > 0                          # today's default
    assert upgrade_options(stored).lambda_ssim == 0
    assert upgrade_options({**stored, 'lambda_ssim': 3.0}).lambda_ssim == 3.0


def test_bf16_on_a_cpu_without_bf16_instructions_warns(monkeypatch):
    monkeypatch.setattr(base_model, 'bf16_warning', lambda: 'emulated bf16 is slow')
    with pytest.warns(UserWarning, match='emulated bf16 is slow'):
        create_model(options('--amp', 'bf16'), working_size=SIZE)


def test_uv_generator_skips_are_built_and_a_pretrained_one_must_match(tmp_path):
    plain = create_model(options('--trans_skips', 'none'), working_size=SIZE)
    skips = create_model(options(), working_size=SIZE)
    assert plain.trans.net.skips == 'none' and skips.trans.net.skips == 'add'
    assert plain.trans.state_dict().keys() == skips.trans.state_dict().keys()      # same parameters, other wiring
    skips.opt.checkpoints_dir, skips.opt.name = str(tmp_path), 'source'
    skips.run_dir = str(tmp_path)
    skips.save('latest', {'epoch': 1})
    skips.load_pretrained_trans(str(tmp_path), 'latest')
    with pytest.raises(CheckpointError, match='trained with --trans_skips add, this run has --trans_skips none; '
                                              'pass --trans_skips add'):
        plain.load_pretrained_trans(str(tmp_path), 'latest')
