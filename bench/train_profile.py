"""Where one training step spends its time and FLOPs, on synthetic data (as benchmark.py --parts train).

    python bench/train_profile.py --size 128                  # the original preset, fp32
    python bench/train_profile.py --size 128 --flags='--no_temporal_D' --top 30

Prints the FLOPs of one step (torch FlopCounterMode), its wall and CPU time, and torch.profiler's operators
by self CPU time, after one warm-up step. On a shared machine small operators look slower than they are
under load (each waits for both threads); compare runs made at quiet moments.
"""
import argparse
import os
import shlex
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from options.presets import preset_flags  # noqa: E402

PRESETS = {'original': ['--batchSize', '2'] + preset_flags('original'), 'default': []}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--preset', choices=sorted(PRESETS), default='original')
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--amp', choices=['none', 'bf16'], default='none')
    parser.add_argument('--flags', default='', help='more train.py flags')
    parser.add_argument('--top', type=int, default=20, help='operators to list')
    parser.add_argument('--threads', type=int, default=None)
    return parser.parse_args()


def build(args, workdir):
    """(model, two clip batches) on synthetic frames with a random-weight VGG19."""
    import torchvision
    from data.clip_dataset import ClipDataset
    from data.loaders import collate_clips
    from data.synthetic import generate
    from models import create_model
    from options.train_options import TrainOptions
    generate(os.path.join(workdir, 'data'), frames=8, height=args.size, width=args.size, seed=0, tex_size=64)
    vgg = os.path.join(workdir, 'vgg19_random.pth')
    torch.save(torchvision.models.vgg19().features.state_dict(), vgg)
    opt = TrainOptions().parse(PRESETS[args.preset] + [
        '--name', 'profile', '--checkpoints_dir', os.path.join(workdir, 'checkpoints'),
        '--dataroot', os.path.join(workdir, 'data'), '--loadSize', str(args.size), '--gpu_ids', '-1',
        '--amp', args.amp, '--static_epochs', '0', '--nThreads', '0', '--data_ratio', '1.0',
        '--vgg_weights', vgg] + shlex.split(args.flags), save=False)
    dataset = ClipDataset.from_options(opt, 'train')
    batches = [collate_clips([dataset[(i * opt.batchSize + k) % len(dataset)] for k in range(opt.batchSize)])
               for i in range(2)]
    torch.manual_seed(0)
    return create_model(opt, dataset), batches


def step_flops(model, batch):
    """TFLOPs of one training step (torch FlopCounterMode)."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        model.train_step(batch)
    return counter.get_total_flops() / 1e12


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as workdir:
        model, batches = build(args, workdir)
        model.set_epoch(1)
        model.train_step(batches[0])                                  # warm-up
        print(f'{args.preset} preset at {args.size}px, amp {args.amp}, {torch.get_num_threads()} threads: '
              f'{step_flops(model, batches[1]):.3f} TFLOP per step')
        wall, cpu = time.perf_counter(), time.process_time()
        model.train_step(batches[0])
        print(f'step: {time.perf_counter() - wall:.2f} s wall, {time.process_time() - cpu:.2f} s CPU time')
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
            model.train_step(batches[1])
        print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=args.top, max_name_column_width=40))


if __name__ == '__main__':
    main()
