"""pretrainTrans.py on tiny synthetic videos: the UV generator learned from two bodies works on a third
it never saw, train.py starts from it, kill -9 + resume continues, torchrun keeps ranks in sync."""
import os
import re
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from data.loaders import make_eval_loader
from data.multi_dataset import check_working_sizes, load_datasets
from data.synthetic import generate
from evaluation.uv_generator import evaluate
from models.render_model import RenderModel
from models.trans_model import TransModel
from options.pretrain_options import PretrainOptions
from options.train_options import TrainOptions
from tests.helpers import ROOT, TINY, TINY_UV_GENERATOR, kill_once_saved, logged
from util.checkpoint import load_checkpoint

PRETRAIN = ['--gpu_ids', '-1', '--loadSize', '64', *TINY_UV_GENERATOR, '--batchSize', '4', '--nThreads', '0']
FIT = ['--niter', '15', '--niter_decay', '5', '--lr', '0.004', '--print_freq', '10', '--display_freq', '100']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}     # the tiny network runs fastest on one thread
METRIC_LINE = re.compile(r'frames (\d+), part_acc ([0-9.]+), part_acc_person ([0-9.]+), uv_error ([0-9.]+)')


@pytest.fixture(scope='module')
def datasets(tmp_path_factory):
    """Two bodies to train on (B without flow folders: pretraining does not need them), a third unseen."""
    base = tmp_path_factory.mktemp('bodies')
    roots = {}
    for key, seed in (('A', 11), ('B', 12), ('C', 13)):
        roots[key] = str(base / f'body{key}')
        generate(roots[key], frames=24, height=64, width=64, seed=seed, tex_size=16)
    for folder in ('flow', 'flow_inv'):
        shutil.rmtree(os.path.join(roots['B'], folder))
    return roots


def run(script, *args, expect_ok=True):
    result = subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=ENV)
    if expect_ok:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def pretrain(checkpoints, name, dataroot, *extra):
    return run('pretrainTrans.py', '--name', name, '--checkpoints_dir', str(checkpoints), '--dataroot', dataroot,
               *PRETRAIN, *extra)


@pytest.fixture(scope='module')
def pretrained(datasets, tmp_path_factory):
    """Run folder of a UV generator pre-trained on bodies A and B (200 iterations)."""
    checkpoints = tmp_path_factory.mktemp('pretrain')
    pretrain(checkpoints, 'AB', f'{datasets["A"]},{datasets["B"]}', *FIT)
    return checkpoints / 'AB'


def untrained_metrics(dataroot):
    """Metrics of a freshly initialised UV generator (seed 0, as pretrainTrans starts) on every frame."""
    opt = PretrainOptions().parse(['--dataroot', dataroot, *PRETRAIN, '--eval_only'], save=False)
    torch.manual_seed(0)
    model = TransModel(opt, training=False)
    loader = make_eval_loader(load_datasets(opt, 'all')[0], opt, 0, 1)
    return evaluate(model, loader, opt.device, 1)[0]


def test_pretrained_generator_generalises_to_an_unseen_body(datasets, pretrained):
    before = untrained_metrics(datasets['C'])
    result = run('pretrainTrans.py', '--name', 'AB', '--checkpoints_dir', str(pretrained.parent), '--eval_only',
                 '--dataroot', datasets['C'], '--gpu_ids', '-1')
    match = METRIC_LINE.search(result.stdout)
    assert match, result.stdout
    frames, after = int(match.group(1)), dict(zip(('part_acc', 'part_acc_person', 'uv_error'),
                                                  map(float, match.groups()[1:])))
    print(f'unseen body C, untrained: {before}\nunseen body C, pre-trained on A, B: {after}')
    assert frames == 24 and 'loadSize 64' in result.stdout       # every frame, at the training scale
    assert after['part_acc'] > max(before['part_acc'] + 0.05, 0.93), (before, after)
    assert after['part_acc_person'] > before['part_acc_person'] + 0.4, (before, after)
    assert after['uv_error'] < 0.5 * before['uv_error'], (before, after)


def test_validation_log_page_and_checkpoints(pretrained):
    accuracy = logged(pretrained, 'part_acc_person', phase='val')
    assert len(accuracy) == 20 and accuracy[-1] > accuracy[0] + 0.3, accuracy
    for name in ('bodyA', 'bodyB'):
        assert logged(pretrained, f'{name}/uv_error', phase='val')
    losses = logged(pretrained, 'part')
    assert losses[-1] < 0.5 * losses[0], losses
    page = (pretrained / 'web' / 'index.html').read_text()
    assert page.count('<th>part_acc_person</th>') == 1 and page.count('<td>bodyA</td>') == 20
    for name in ('pose', 'parts_predicted', 'parts_densepose', 'U_predicted', 'U_densepose', 'V_predicted',
                 'V_densepose', 'mask_predicted', 'mask_given'):
        assert f'iter00000200_{name}.png' in page and f'iter00000200_val_bodyB_{name}.png' in page, name
    state = load_checkpoint(str(pretrained / 'latest_checkpoint.pth'))
    assert set(state['networks']) == {'trans'} and set(state['optimizers']) == {'G'}
    assert state['progress'] == {'epoch': 20, 'epoch_iter': 10, 'iteration': 200}
    assert (pretrained / '20_checkpoint.pth').exists() and (pretrained / 'opt.txt').exists()


def test_train_starts_from_the_pretrained_generator(datasets, pretrained, tmp_path):
    weights = load_checkpoint(str(pretrained / 'latest_checkpoint.pth'))['networks']['trans']
    args = [*TINY, '--dataroot', datasets['C'], '--checkpoints_dir', str(tmp_path),
            '--load_pretrain_TransG', str(pretrained)]
    # in process: right after loading, the renderer's UV generator is the pre-trained one
    model = RenderModel(TrainOptions().parse([*args, '--name', 'inproc'], save=False))
    model.load_pretrained_trans(str(pretrained), 'latest')
    assert all(torch.equal(value, weights[key]) for key, value in model.trans.state_dict().items())
    # through train.py: with lr 0 the UV generator it saves after one epoch is still the pre-trained one
    run('train.py', *args, '--name', 'start', '--niter', '1', '--niter_decay', '0', '--static_epochs', '1',
        '--lr', '0', '--print_freq', '2')
    saved = load_checkpoint(str(tmp_path / 'start' / 'latest_checkpoint.pth'))['networks']['trans']
    assert saved.keys() == weights.keys() and all(torch.equal(saved[k], weights[k]) for k in weights)
    assert logged(tmp_path / 'start', 'G_mask') and not logged(tmp_path / 'start', 'G_uv')


def test_kill_and_resume_continues(datasets, tmp_path):
    def args(niter):
        return ['--name', 'resume', '--checkpoints_dir', str(tmp_path), '--dataroot', datasets['A'], *PRETRAIN,
                '--niter', str(niter), '--niter_decay', '0', '--save_latest_freq', '3', '--print_freq', '1']

    latest = tmp_path / 'resume' / 'latest_checkpoint.pth'
    kill_once_saved([sys.executable, os.path.join(ROOT, 'pretrainTrans.py'), *args(40)], latest, env=ENV)
    saved = load_checkpoint(str(latest))['progress']
    per_epoch = 5                                         # 21 training frames, batches of 4
    assert 3 <= saved['iteration'] < 3 * per_epoch and saved['iteration'] % 3 == 0, saved

    result = run('pretrainTrans.py', *args(3), '--continue_train')
    assert f'resuming at epoch {saved["epoch"]}, iteration {saved["iteration"]}' in result.stdout
    final = load_checkpoint(str(latest))['progress']
    assert final == {'epoch': 3, 'epoch_iter': per_epoch, 'iteration': 3 * per_epoch}
    iterations = [int(m) for m in re.findall(r'phase: train, epoch: \d+, iters: (\d+)',
                                             (tmp_path / 'resume' / 'loss_log.txt').read_text())]
    resumed = iterations[iterations.index(saved['iteration'] + 1, 1):]
    assert resumed == list(range(saved['iteration'] + 1, 3 * per_epoch + 1))
    page = (tmp_path / 'resume' / 'web' / 'index.html').read_text()
    assert page.count('<td>bodyA</td>') == 3            # one table row per epoch, the killed run's included


def test_torchrun_two_cpu_ranks_stay_in_sync(datasets, tmp_path):
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29531',
               os.path.join(ROOT, 'pretrainTrans.py'), '--name', 'ddp', '--checkpoints_dir', str(tmp_path),
               '--dataroot', f'{datasets["A"]},{datasets["B"]}', *PRETRAIN, '--niter', '2', '--niter_decay', '0',
               '--print_freq', '1']
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    drifts = [float(v) for v in re.findall(r'largest weight difference between ranks ([0-9.e+-]+)', result.stdout)]
    assert drifts == [0.0, 0.0]
    state = load_checkpoint(str(tmp_path / 'ddp' / 'latest_checkpoint.pth'))
    assert state['progress'] == {'epoch': 2, 'epoch_iter': 5, 'iteration': 10}     # 42 frames / (2 x 4)
    frames = [int(m) for m in re.findall(r'epoch \d val: frames (\d+)', result.stdout)]
    assert frames == [6, 6]                  # 3 val frames of each body, split over the ranks, all counted


def test_datasets_of_different_working_sizes_need_batch_size_one():
    sets = [SimpleNamespace(root='wide', working_size=(48, 64), frame_size=(480, 640)),
            SimpleNamespace(root='square', working_size=(64, 64), frame_size=(64, 64))]
    check_working_sizes(sets, batch_size=1)
    with pytest.raises(SystemExit, match=r'(?s)wide: 48x64.*square: 64x64.*--batchSize 1'):
        check_working_sizes(sets, batch_size=4)
