"""Where one training step spends its time and FLOPs, on synthetic data (as benchmark.py --parts train).

    python bench/train_profile.py --size 128                  # the original preset, fp32
    python bench/train_profile.py --size 128 --flags='--no_temporal_D' --top 30

Prints the FLOPs of one step by network (torch FlopCounterMode), the wall time of the step's phases
(generator forward + losses, generator backward + Adam, discriminator forward, backward + Adam) and
torch.profiler's operators by self CPU time, after one warm-up step.
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


def flops_by_network(model, batch):
    """{network: TFLOPs} of one step, and the total."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False, depth=None)
    with counter:
        model.train_step(batch)
    names = {'generator': type(model.generator).__name__, 'discriminators.spatial': 'MultiscaleDiscriminator',
             'discriminators.temporal': 'TemporalDiscriminator', 'vgg': 'VGG19Features'}
    counts = counter.get_flop_counts()
    shares = {}
    for label, cls in names.items():
        keys = [key for key in counts if key.split('.')[-1] == cls or key == cls]
        if keys:
            shares[label] = sum(counts[min(keys, key=len)].values()) / 1e12
    return shares, counter.get_total_flops() / 1e12


class PhaseTimer:
    """Wall time of the step's phases, read from the optimizers' steps and the discriminators' calls."""

    def __init__(self, model):
        self.marks = []
        for name, optimizer in model.optimizers.items():
            optimizer.register_step_post_hook(lambda *_, name=name: self.marks.append((f'{name} step done', time.perf_counter())))
        model.discriminators.register_forward_hook(lambda *_: self.marks.append(('D forward', time.perf_counter())))

    def report(self, start):
        previous = start
        for label, moment in self.marks:
            print(f'  {label:16s} +{moment - previous:6.2f} s')
            previous = moment
        self.marks.clear()


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as workdir:
        model, batches = build(args, workdir)
        model.set_epoch(1)
        model.train_step(batches[0])                                  # warm-up
        shares, total = flops_by_network(model, batches[1])
        print(f'{args.preset} preset at {args.size}px, amp {args.amp}, {torch.get_num_threads()} threads: '
              f'{total:.3f} TFLOP per step')
        for label, value in shares.items():
            print(f'  {label:24s} {value:.3f} TFLOP ({100 * value / total:.0f}%)')
        timer = PhaseTimer(model)
        start = time.perf_counter()
        model.train_step(batches[0])
        print(f'step {time.perf_counter() - start:.2f} s; phases (time since the previous mark):')
        timer.report(start)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
            model.train_step(batches[1])
        print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=args.top, max_name_column_width=40))


if __name__ == '__main__':
    main()
