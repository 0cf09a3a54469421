"""What several test modules share: the tiny CPU configurations, running a script, reading the loss log, file
snapshots and killing a run once it has saved."""
import hashlib
import os
import re
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The tiny CPU configurations every end-to-end test trains (64 px, a few seconds an epoch): the pose2image
# baseline's networks (its generator is the detail generator's size), and the renderer with its UV generator
# and neural texture on top.
TINY_POSE2IMAGE = ['--gpu_ids', '-1', '--loadSize', '64', '--ngf', '8', '--n_downsample_global', '2',
                   '--n_blocks_global', '1', '--ndf', '8', '--num_D', '1', '--n_layers_D', '2', '--no_vgg_loss',
                   '--batchSize', '2', '--nThreads', '0', '--data_ratio', '0.9']
TINY_UV_GENERATOR = ['--ngf_translate', '8', '--n_downsample_translate', '2', '--n_blocks_translate', '1']
TINY = TINY_POSE2IMAGE + TINY_UV_GENERATOR + ['--tex_size', '16', '--tex_feat', '4']
FRAMES, SIZE = 24, 64       # the synthetic training video of the shared models (tests/conftest.py): 64 x 64


def run_script(script, *args, check=True, timeout=900):
    """Run a script of the repository (train.py, test.py, ...) with this Python from ROOT: the finished
    process. With check, asserts it exited 0 and shows the end of its stderr when it did not."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, script), *map(str, args)], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f'{script} exited {result.returncode}:\n{result.stderr[-3000:]}'
    return result


def logged(run_dir, loss_name, phase='train'):
    """Values of one loss in run_dir/loss_log.txt, in order, for one phase (train or val)."""
    values = []
    for line in open(os.path.join(run_dir, 'loss_log.txt')):
        if f'phase: {phase},' in line:
            match = re.search(rf' {loss_name}: ([0-9.e+-]+)', line)
            if match:
                values.append(float(match.group(1)))
    return values


def snapshot(root):
    """{relative path: (sha256, mtime_ns)} of every file under root."""
    state = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, 'rb') as handle:
                state[os.path.relpath(path, root)] = (hashlib.sha256(handle.read()).hexdigest(),
                                                      os.stat(path).st_mtime_ns)
    return state


def kill_once_saved(command, checkpoint, env=None, timeout=300):
    """Start command, SIGKILL it as soon as the checkpoint file exists; asserts it was killed, not finished."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while not os.path.exists(checkpoint) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, 'the run ended before it could be killed'


def train_tiny(dataset, checkpoints, name, *extra):
    """train.py on the tiny renderer (TINY, learning rate 0.002, no loss log lines or page rows on the way)."""
    run_script('train.py', '--name', name, '--dataroot', dataset, '--checkpoints_dir', checkpoints, *TINY,
               '--lr', '0.002', '--print_freq', '1000', '--display_freq', '1000', *extra)
