"""What several test modules share: the tiny CPU configurations, reading the loss log, file snapshots and
killing a run once it has saved."""
import hashlib
import os
import re
import signal
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The tiny renderer every end-to-end test trains on the CPU (64 px, a few seconds an epoch).
TINY = ['--gpu_ids', '-1', '--loadSize', '64', '--ngf_translate', '8', '--n_downsample_translate', '2',
        '--n_blocks_translate', '1', '--ngf', '8', '--n_downsample_global', '2', '--n_blocks_global', '1',
        '--ndf', '8', '--num_D', '1', '--n_layers_D', '2', '--tex_size', '16', '--tex_feat', '4',
        '--no_vgg_loss', '--batchSize', '2', '--nThreads', '0', '--data_ratio', '0.9']


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
