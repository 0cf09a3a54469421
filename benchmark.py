"""Time training iterations, data loading, inference and texture sampling on synthetic data.

    python benchmark.py --preset original --size 256            # the reference configuration
    python benchmark.py --preset default --size 512 --amp bf16
    python benchmark.py --preset default --size 256 --parts infer     # frames/s of each inference engine

Each measurement runs in its own process so its peak memory is its own: CPU peak RSS, and on CUDA the
maximum allocated memory. The FLOPs of one training step are counted with torch's FlopCounterMode and
compared with this machine's fp32 matmul rate (the "FLOP floor": the time the step would take at that
rate; reaching 100% would mean every FLOP ran as fast as a large matmul).

Inference (--parts infer) runs test.py's path in batches of --infer_batch frames with each engine of
--engines (inference/engines.py; eager_bf16: eager under --amp bf16; full_forward: the whole training-time
forward pass, model.infer, that test.py ran before it had engines), each in its own process, and reports
frames/s, the ratio to eager fp32 and the largest difference of its outputs (output, person, alpha) to eager
fp32's on the same poses (PSNR of the output frame too). An engine unavailable here reports what ran instead.
"""
import argparse
import json
import math
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from options.presets import preset_flags
from util.cpu_runtime import native_bf16, tune_cpu_runtime

INFER_ENGINES = ('eager', 'eager_bf16', 'channels_last', 'compile', 'onnxruntime', 'full_forward')
PRESETS = {
    # The original research code's configuration: its networks (train_start/original.flags; the
    # discriminator and clip length are the defaults), batches of 2, VGG and all losses.
    'original': ['--batchSize', '2'] + preset_flags('original'),
    'default': [],
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--preset', choices=sorted(PRESETS), default='original')
    parser.add_argument('--size', type=int, default=256, help='working size (square synthetic frames)')
    parser.add_argument('--iters', type=int, default=3, help='timed training iterations (after one warm-up)')
    parser.add_argument('--infer_frames', type=int, default=8, help='timed frames per inference engine')
    parser.add_argument('--infer_batch', type=int, default=4, help="frames per forward pass (test.py's --batch_size)")
    parser.add_argument('--engines', default=None,
                        help=f'inference engines to measure, of {",".join(INFER_ENGINES)} (default: all; eager_bf16 '
                             'only on CPUs with bf16 instructions); eager fp32, the reference, is always measured first')
    parser.add_argument('--gpu_ids', default='auto')
    parser.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none')
    parser.add_argument('--flags', default='', help='more train.py flags, e.g. "--checkpoint_activations"')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    parser.add_argument('--parts', default='sampling,data,train,infer', help='which measurements to run')
    parser.add_argument('--json', default=None, help='also write the results to this file')
    parser.add_argument('--part', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--workdir', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--engine', default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def peak_memory_gb(device):
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def synchronize(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed(function, device, repeats, warmup=1):
    for _ in range(warmup):
        function()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(device, size=2048, repeats=5):
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    seconds = timed(lambda: a @ b, device, repeats)
    return 2 * size ** 3 / seconds / 1e9


def model_options(args, workdir, amp=None):
    from options.train_options import TrainOptions
    flags = PRESETS[args.preset] + [
        '--name', 'benchmark', '--checkpoints_dir', os.path.join(workdir, 'checkpoints'),
        '--dataroot', os.path.join(workdir, 'data'), '--loadSize', str(args.size), '--gpu_ids', args.gpu_ids,
        '--amp', amp or args.amp, '--static_epochs', '0', '--nThreads', '0', '--data_ratio', '1.0',
        '--vgg_weights', os.path.join(workdir, 'vgg19_random.pth')] + shlex.split(args.flags)
    return TrainOptions().parse(flags, save=False)


def prepare(args, workdir):
    """Synthetic frames at the working size and a VGG19 weight file (random: weights do not change speed)."""
    import torchvision
    from data.synthetic import generate
    generate(os.path.join(workdir, 'data'), frames=12, height=args.size, width=args.size, seed=0, tex_size=64)
    torch.save(torchvision.models.vgg19().features.state_dict(), os.path.join(workdir, 'vgg19_random.pth'))


def measure(args, workdir):
    """One measurement in this process; returns a dict of numbers."""
    if args.threads:
        torch.set_num_threads(args.threads)
    tune_cpu_runtime()  # as the models set it up, so that sampling alone runs under training's conditions
    if args.part == 'infer':
        return measure_inference(args, workdir)
    opt = model_options(args, workdir)
    device = opt.device
    if args.part == 'sampling':
        from util.texture_sampling import render
        batch, channels, tex = 4, 18, 200
        texture = torch.randn(1, 24 * channels, tex, tex, device=device, requires_grad=True)
        uv = (torch.rand(batch, 48, args.size, args.size, device=device) * 2 - 1).requires_grad_()
        # as peaked as a trained part classifier's softmax (most pixels belong clearly to one part)
        probs = torch.softmax(10 * torch.randn(batch, 25, args.size, args.size, device=device), 1).requires_grad_()

        def step(min_prob):
            render(texture, uv, probs, min_prob=min_prob).square().mean().backward()
        return {'sampling_exact_fwd_bwd_s': timed(lambda: step(0.0), device, args.iters),
                'sampling_min_prob_1e-3_fwd_bwd_s': timed(lambda: step(1e-3), device, args.iters),
                'peak_memory_gb': peak_memory_gb(device)}

    from data.clip_dataset import ClipDataset
    from data.loaders import collate_clips
    dataset = ClipDataset.from_options(opt, 'train')
    batches = [collate_clips([dataset[(i * opt.batchSize + k) % len(dataset)] for k in range(opt.batchSize)])
               for i in range(args.iters + 1)]
    if args.part == 'data':
        counter = iter(range(10 ** 9))
        seconds = timed(lambda: collate_clips([dataset[next(counter) % len(dataset)] for _ in range(opt.batchSize)]),
                        torch.device('cpu'), args.iters)
        return {'data_s_per_batch': seconds}

    from models import create_model
    model = create_model(opt, dataset)
    if args.part == 'train':
        from torch.utils.flop_counter import FlopCounterMode
        counter = iter(range(10 ** 9))
        seconds = timed(lambda: model.train_step(batches[next(counter) % len(batches)]), device, args.iters)
        memory = peak_memory_gb(device)          # before counting: the counting step is not a training step
        with FlopCounterMode(display=False) as flops:
            model.train_step(batches[0])
        return {'train_s_per_iter': seconds, 'train_tflop_per_iter': flops.get_total_flops() / 1e12,
                'peak_memory_gb': memory,
                'parameters_M': sum(p.numel() for p in model.generator.parameters()) / 1e6}
    raise ValueError(f'unknown part {args.part}')


def measure_inference(args, workdir):
    """One inference engine (args.engine) on --infer_batch poses of the synthetic video, model weights drawn
    with seed 0 (the same in every engine's process); eager's outputs are kept in workdir as the reference."""
    from data.clip_dataset import ClipDataset
    from inference.engines import load_engine
    from models import create_model
    name = args.engine
    opt = model_options(args, workdir, amp='bf16' if name == 'eager_bf16' else 'none')
    opt.is_train = False                 # the generator alone, as test.py loads it
    dataset = ClipDataset.from_options(opt, 'train')
    poses = torch.stack([dataset[i % len(dataset)]['pose'][0] for i in range(args.infer_batch)]).to(opt.device)
    torch.manual_seed(0)
    model = create_model(opt, dataset)
    working = tuple(poses.shape[-2:])
    if name == 'full_forward':
        def engine(pose):
            result = model.infer(pose)
            return {'output': result['output'].float(), 'person': result['person'].float(),
                    'alpha': 1 - result['bg_prob'].float()}
        used, setup = name, 0.0
    else:
        loaded = load_engine(name.replace('_bf16', ''), model, working, args.infer_batch,
                             onnx_file=os.path.join(workdir, 'generator.onnx'))
        engine, used, setup = loaded, loaded.name + ('_bf16' if name == 'eager_bf16' else ''), loaded.setup_s
    start = time.perf_counter()
    outputs = engine(poses)
    first = time.perf_counter() - start
    seconds = timed(lambda: engine(poses), opt.device, max(1, -(-args.infer_frames // args.infer_batch)), warmup=0)
    numbers = {'frames_per_s': args.infer_batch / seconds, 'setup_s': setup + first,
               'peak_memory_gb': peak_memory_gb(opt.device), 'ran': used}
    outputs = {key: value.cpu() for key, value in outputs.items()}
    reference_file = os.path.join(workdir, 'infer_eager.pt')
    if name == 'eager':
        torch.save(outputs, reference_file)
    reference = torch.load(reference_file)
    numbers['max_diff'] = max(float((outputs[k] - reference[k]).abs().max()) for k in outputs)
    error = float(((outputs['output'] - reference['output']) / 2).square().mean())     # [-1, 1] -> [0, 1]
    numbers['psnr_db'] = float('inf') if error == 0 else 10 * math.log10(1 / error)
    return numbers


INFER_COLUMNS = f'  {"engine":14s} {"ran":16s} {"frames/s":>9s} {"x eager":>8s} {"max |diff|":>11s} {"PSNR dB":>8s} ' \
    f'{"setup s":>8s} {"peak GB":>8s}'


def inference_row(name, r, eager_frames_per_s):
    """One line of the engines table; the ratio is against eager fp32 measured in the same run."""
    return (f'  {name:14s} {r["ran"]:16s} {r["frames_per_s"]:9.3f} {r["frames_per_s"] / eager_frames_per_s:8.2f} '
            f'{r["max_diff"]:11.2e} {r["psnr_db"]:8.1f} {r["setup_s"]:8.1f} {r["peak_memory_gb"]:8.2f}')


def run_part(part, workdir, engine=None):
    """One measurement in a process of its own -> its numbers."""
    command = [sys.executable, os.path.abspath(__file__), '--part', part, '--workdir', workdir] + \
        (['--engine', engine] if engine else []) + sys.argv[1:]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith('RESULT ')]
    if done.returncode != 0 or not lines:
        raise SystemExit(f'{part} {engine or ""} measurement failed:\n{done.stderr[-3000:]}')
    return json.loads(lines[-1][len('RESULT '):])


def measure_engines(args, workdir):
    """Every engine of --engines, eager first: {'batch', 'engines': {name: numbers}, 'engine': what test.py's
    --engine auto runs here, 'infer_frames_per_s': its frames/s}."""
    from inference.engines import AUTO_ORDER
    if args.engines is None:
        names = list(INFER_ENGINES)
        if model_options(args, workdir).device.type == 'cpu' and native_bf16() is False:
            names.remove('eager_bf16')
            print('  infer     eager_bf16 left out: this CPU has no bf16 instructions and torch emulates them, '
                  'many times slower than fp32 (--engines eager_bf16 measures it anyway)')
    else:
        names = [name for name in args.engines.split(',') if name]
        unknown = sorted(set(names) - set(INFER_ENGINES))
        if unknown:
            raise SystemExit(f'--engines: unknown {unknown}; choose from {",".join(INFER_ENGINES)}')
    names = ['eager'] + [name for name in names if name != 'eager']
    engines = {}
    print(f'  infer     batches of {args.infer_batch} frames; ratios and differences against eager fp32\n'
          + INFER_COLUMNS, flush=True)
    for name in names:
        engines[name] = run_part('infer', workdir, name)
        print(inference_row(name, engines[name], engines['eager']['frames_per_s']), flush=True)
    auto = next((e for e in AUTO_ORDER if e in engines and engines[e]['ran'] == e), 'eager')
    return {'batch': args.infer_batch, 'engines': engines, 'engine': auto,
            'infer_frames_per_s': engines[auto]['frames_per_s']}


def main():
    args = parse_args()
    if args.part:
        print('RESULT ' + json.dumps(measure(args, args.workdir)))
        return
    with tempfile.TemporaryDirectory() as workdir:
        prepare(args, workdir)
        device = model_options(args, workdir).device
        results = {'preset': args.preset, 'size': args.size, 'amp': args.amp, 'flags': args.flags,
                   'device': str(device),
                   'threads': args.threads or torch.get_num_threads(), 'matmul_gflops': matmul_gflops(device),
                   'freed_buffers_kept': tune_cpu_runtime(), 'cpu_native_bf16': native_bf16()}
        print(f'{args.preset} preset at {args.size}px on {device} ({results["threads"]} threads, amp {args.amp}); '
              f'fp32 2048^2 matmul: {results["matmul_gflops"]:.0f} GFLOP/s; freed buffers kept mapped: '
              f'{results["freed_buffers_kept"]} (util/cpu_runtime.py); CPU bf16 in hardware: '
              f'{results["cpu_native_bf16"]}', flush=True)
        for part in args.parts.split(','):
            if part == 'infer':
                results[part] = measure_engines(args, workdir)
                continue
            numbers = run_part(part, workdir)
            results[part] = numbers
            print(f'  {part:9s} ' + '  '.join(f'{k} {v:.3f}' for k, v in numbers.items()), flush=True)
        train = results.get('train')
        if train:
            floor = train['train_tflop_per_iter'] * 1e3 / results['matmul_gflops']
            results['flop_floor_s'] = floor
            results['fraction_of_floor'] = floor / train['train_s_per_iter']
            print(f'  FLOP floor {floor:.2f} s per iteration; reached {100 * results["fraction_of_floor"]:.0f}%')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as handle:
            json.dump(results, handle, indent=2)


if __name__ == '__main__':
    main()
