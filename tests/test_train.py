"""train.py end to end on a tiny synthetic video: losses fall, the page is written, kill -9 + resume is
exact, torchrun keeps ranks in sync (two on one node, or two nodes), a pre-trained UV generator can be started
from."""
import os
import re
import socket
import subprocess
import sys

import pytest
import torch

from data.clip_dataset import ClipDataset
from data.loaders import collate_clips
from data.synthetic import generate
from models import create_model
from options.train_options import TrainOptions
from tests.helpers import ROOT, TINY, kill_once_saved, logged
from util.checkpoint import load_checkpoint


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data') / 'synth')
    generate(root, frames=24, height=64, width=64, seed=3, tex_size=16)
    return root


def train_command(dataset, checkpoints, name, *extra):
    return [sys.executable, os.path.join(ROOT, 'train.py'), '--name', name, '--dataroot', dataset,
            '--checkpoints_dir', str(checkpoints), *TINY, *extra]


def run_train(dataset, checkpoints, name, *extra):
    result = subprocess.run(train_command(dataset, checkpoints, name, *extra), cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_training_lowers_losses_and_writes_page(dataset, tmp_path):
    run_train(dataset, tmp_path, 'fit', '--niter', '6', '--niter_decay', '0', '--static_epochs', '4',
              '--print_freq', '5', '--display_freq', '30', '--lr', '0.002')
    run_dir = tmp_path / 'fit'
    l2, uv = logged(run_dir, 'G_l2_raw'), logged(run_dir, 'G_uv')
    assert len(l2) == 12
    assert l2[-1] < 0.7 * l2[0], l2
    assert uv[-1] < uv[0], uv
    assert logged(run_dir, 'G_gan'), 'the full stage (GAN) never ran'
    assert logged(run_dir, 'l2', phase='val')
    page = (run_dir / 'web' / 'index.html').read_text()
    for name in ('real', 'output', 'raw_render', 'person', 'background', 'mask_predicted', 'mask_given', 'pose',
                 'parts_predicted', 'parts_densepose', 'U_predicted', 'U_densepose', 'V_predicted',
                 'V_densepose', 'texture_atlas', 'warped_previous'):
        assert f'_{name}.png' in page, name
    assert (run_dir / 'opt.txt').exists()
    assert (run_dir / '6_checkpoint.pth').exists() and (run_dir / 'latest_texture.png').exists()
    state = load_checkpoint(str(run_dir / 'latest_checkpoint.pth'))
    assert state['progress'] == {'epoch': 6, 'epoch_iter': 10, 'iteration': 60}
    assert set(state['networks']) == {'trans', 'texture', 'd2g', 'background', 'discriminators'}
    assert set(state['optimizers']) == {'G', 'D'}


def test_kill_and_resume_is_exact(dataset, tmp_path):
    args = ('--niter', '3', '--niter_decay', '0', '--static_epochs', '1', '--save_latest_freq', '4',
            '--print_freq', '1', '--display_freq', '1000')
    latest = tmp_path / 'resume' / 'latest_checkpoint.pth'
    kill_once_saved(train_command(dataset, tmp_path, 'resume', *args), latest)
    saved = load_checkpoint(str(latest))['progress']
    assert 4 <= saved['iteration'] < 30

    result = run_train(dataset, tmp_path, 'resume', *args, '--continue_train')
    assert f'resuming at epoch {saved["epoch"]}, iteration {saved["iteration"]}' in result.stdout
    final = load_checkpoint(str(latest))['progress']
    assert final == {'epoch': 3, 'epoch_iter': 10, 'iteration': 30}
    iterations = [int(m) for m in re.findall(r'iters: (\d+)', (tmp_path / 'resume' / 'loss_log.txt').read_text())]
    resumed = iterations[iterations.index(saved['iteration'] + 1, 1):]
    assert resumed[-1] == 30 and resumed == sorted(resumed)


def ddp_train_args(dataset, checkpoints):
    """train.py and its flags for the torchrun tests: 2 epochs (a static one, then a full one with D), 5 steps each."""
    return train_command(dataset, checkpoints, 'ddp', '--niter', '2', '--niter_decay', '0', '--static_epochs', '1',
                         '--print_freq', '1')[1:]


def assert_ranks_in_sync(stdout, checkpoints, ranks=2):
    """The run joined ``ranks`` ranks, its weights (generator and discriminators) were identical on all of them
    after each of its 2 epochs, and its checkpoint counts the 2 x 5 steps."""
    assert f'distributed: {ranks} ranks, backend gloo' in stdout
    drifts = [float(v) for v in re.findall(r'largest weight difference between ranks ([0-9.e+-]+)', stdout)]
    assert len(drifts) == 2 and max(drifts) == 0.0, drifts
    state = load_checkpoint(str(checkpoints / 'ddp' / 'latest_checkpoint.pth'))
    assert state['progress']['iteration'] == 2 * 5


def test_torchrun_two_cpu_ranks_stay_in_sync(dataset, tmp_path):
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29517',
               *ddp_train_args(dataset, tmp_path)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stderr[-3000:]
    assert_ranks_in_sync(result.stdout, tmp_path)


def test_torchrun_two_nodes_stay_in_sync(dataset, tmp_path):
    """Two torchrun launches as two "nodes" of one rank each (--nnodes 2, c10d rendezvous on a free localhost
    port), as README's multi-node launch line: they train as the two-rank run does."""
    with socket.socket() as probe:
        probe.bind(('localhost', 0))
        port = probe.getsockname()[1]
    nodes = [subprocess.Popen([sys.executable, '-m', 'torch.distributed.run', '--nnodes', '2', '--nproc_per_node', '1',
                               '--node_rank', str(rank), '--rdzv_backend', 'c10d', '--rdzv_id', 'two_nodes',
                               '--rdzv_endpoint', f'localhost:{port}', *ddp_train_args(dataset, tmp_path)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, 'OMP_NUM_THREADS': '1'}) for rank in (0, 1)]
    outputs = [node.communicate(timeout=600) for node in nodes]
    for node, (_, stderr) in zip(nodes, outputs):
        assert node.returncode == 0, stderr[-3000:]
    assert_ranks_in_sync(''.join(stdout for stdout, _ in outputs), tmp_path)


def test_start_from_pretrained_uv_generator_without_densepose_loss(dataset, tmp_path):
    run_train(dataset, tmp_path, 'source', '--niter', '1', '--niter_decay', '0', '--static_epochs', '1')
    run_train(dataset, tmp_path, 'target', '--niter', '2', '--niter_decay', '0', '--static_epochs', '1',
              '--print_freq', '5', '--load_pretrain_TransG', str(tmp_path / 'source'))
    assert logged(tmp_path / 'target', 'G_l2_raw') and not logged(tmp_path / 'target', 'G_uv')
    missing = subprocess.run(train_command(dataset, tmp_path, 'bad', '--load_pretrain_TransG',
                                           str(tmp_path / 'nowhere')), cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode != 0 and 'nowhere' in missing.stderr and 'not found' in missing.stderr


@pytest.mark.parametrize('model_name', ['render', 'pose2image'])
def test_checkpoint_activations_trains_identically(dataset, tmp_path, model_name):
    """Recomputing activations in backward changes memory, not the training: the same steps give the
    same losses (VGG on, from a weight file, so that its recompute runs too)."""
    import torchvision
    vgg = tmp_path / 'vgg.pth'
    torch.manual_seed(0)
    torch.save(torchvision.models.vgg19().features.state_dict(), vgg)
    flags = [f for f in TINY if f != '--no_vgg_loss'] + [
        '--model', model_name, '--dataroot', dataset, '--checkpoints_dir', str(tmp_path), '--vgg_weights', str(vgg),
        '--static_epochs', '0']
    histories = []
    for extra in ([], ['--checkpoint_activations']):
        opt = TrainOptions().parse(flags + extra, save=False)
        data = ClipDataset.from_options(opt, 'train')
        torch.manual_seed(0)
        model = create_model(opt, data)
        model.set_epoch(1)
        flags_set = [m.recompute for net in (model.generator, model.discriminators, model.vgg_loss)
                     for m in net.modules() if hasattr(m, 'recompute')]
        assert len(flags_set) >= 3 and all(flag == bool(extra) for flag in flags_set)
        history = []
        for step in range(3):
            losses, finite = model.train_step(collate_clips([data[2 * step], data[2 * step + 1]]))
            assert finite
            history.append(losses)
        histories.append(history)
    plain, recomputed = histories
    for a, b in zip(plain, recomputed):
        assert a.keys() == b.keys() and 'G_vgg' in a
        for name in a:
            assert abs(a[name] - b[name]) <= 1e-4 * max(1.0, abs(a[name])), (name, a[name], b[name])
