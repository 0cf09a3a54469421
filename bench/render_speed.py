"""Speed and memory of util.texture_sampling.render (forward + backward), with the alternatives it was chosen over.

    python bench/render_speed.py                    # B=4, C=18, T=200 at 256 and 512, torch's thread count
    python bench/render_speed.py --threads 2 --sizes 256 --cases render_soft,alt_loop
    python bench/render_speed.py --device cuda

Times are wall clock, the median of --runs after a warm-up; the CPU time of all threads is printed
too, as a check when other processes compete for the cores. Each (case, size) runs in a fresh
subprocess so that its peak RSS growth is its own (it includes the gradients of uv, logits and
texture and the softmax, about 260 MiB at 256 and 590 MiB at 512). Inputs mimic training: a person
covering a third of the frame, smooth per-part UVs, part probabilities from a softmax over smooth
logits (background certain outside the person); texture, UVs and logits require gradients.
Cases:
  render_soft          render(texture, uv, probs): exact; the dense part-by-part path
  render_soft_min1e-3  render(..., min_prob=1e-3): pairs with probability <= 1e-3 dropped (pairs path)
  render_ids           render(texture, uv, ids) with hard part ids (argmax of the probabilities)
  alt_loop             alternative: plain autograd loop of 24 grid_sample calls (keeps 24 samples)
  alt_batched          alternative: one grid_sample over B*24 part slices (plain autograd)
  alt_ids_onehot       alternative for hard ids: one-hot probabilities through the dense path

Measured on the 2-core dev machine (2 threads, quiet moments; seconds, peak RSS growth):
                        256x256            512x512
  render_soft           1.09 s  +386 MiB   4.13 s  +878 MiB
  render_soft_min1e-3   0.30 s  +372 MiB   1.08 s  +1019 MiB  (10% of the pairs kept)
  render_ids            0.12 s  +273 MiB   0.36 s  +588 MiB
  alt_loop              2.26 s  +1.8 GiB   11.9 s  +2.7 GiB
  alt_batched           1.86 s  +1.8 GiB   6.85 s  +5.8 GiB
  original research code: 4.5 s at 256, 14.3 s at 512
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from util.densepose import NUM_PARTS  # noqa: E402
from util.texture_sampling import _DenseRender, render  # noqa: E402

CASES = ('render_soft', 'render_soft_min1e-3', 'render_ids', 'alt_loop', 'alt_batched', 'alt_ids_onehot')


def make_inputs(batch, channels, tex_size, size, device, sharpness=8.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    texture = torch.rand(1, NUM_PARTS * channels, tex_size, tex_size, generator=g) * 2 - 1
    uv = F.interpolate(torch.rand(batch, 2 * NUM_PARTS, 8, 8, generator=g) * 2 - 1, size=(size, size),
                       mode='bicubic', align_corners=False).clamp(-1, 1)
    logits = F.interpolate(torch.randn(batch, NUM_PARTS + 1, 8, 8, generator=g) * sharpness, size=(size, size),
                           mode='bilinear', align_corners=False)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing='ij')
    person = (xs / 0.45) ** 2 + (ys / 0.8) ** 2 < 1  # ~28% of the frame
    logits[:, 0] = torch.where(person, logits[:, 0] - 20, logits[:, 0] + 20)
    return [x.to(device) for x in (texture, uv, logits)]


def alt_loop(texture, uv, probs):
    batch = uv.shape[0]
    tiles = texture.view(texture.shape[0], NUM_PARTS, -1, *texture.shape[2:])
    out = 0
    for p in range(NUM_PARTS):
        grid = torch.stack((uv[:, 2 * p], -uv[:, 2 * p + 1]), -1)
        sample = F.grid_sample(tiles[:, p].expand(batch, -1, -1, -1), grid, mode='bilinear',
                               padding_mode='border', align_corners=True)
        out = out + sample * probs[:, p + 1:p + 2]
    return out


def alt_batched(texture, uv, probs):
    batch, _, height, width = uv.shape
    t = texture.shape[-1]
    tiles = texture.view(texture.shape[0], NUM_PARTS, -1, t, t).expand(batch, -1, -1, -1, -1)
    channels = tiles.shape[2]
    uvs = uv.view(batch, NUM_PARTS, 2, height, width)
    grid = torch.stack((uvs[:, :, 0], -uvs[:, :, 1]), -1).reshape(batch * NUM_PARTS, height, width, 2)
    samples = F.grid_sample(tiles.reshape(batch * NUM_PARTS, channels, t, t), grid, mode='bilinear',
                            padding_mode='border', align_corners=True)
    return (samples.view(batch, NUM_PARTS, channels, height, width) * probs[:, 1:, None]).sum(1)


def rss_mib():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def run_case(case, size, args):
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    texture, uv, logits = make_inputs(args.batch, args.channels, args.tex_size, size, device)
    texture.requires_grad_()
    uv.requires_grad_()
    logits.requires_grad_()
    grad_out = torch.randn(args.batch, args.channels, size, size, generator=torch.Generator().manual_seed(1))
    grad_out = grad_out.to(device)
    with torch.no_grad():
        probs0 = logits.softmax(1)
        ids = probs0.argmax(1)
        onehot = F.one_hot(ids, NUM_PARTS + 1).permute(0, 3, 1, 2).float()
        density = float((probs0[:, 1:] > 1e-3).float().mean())
        person = float((ids > 0).float().mean())

    def step():
        texture.grad = uv.grad = logits.grad = None
        probs = logits.softmax(1)
        if case == 'render_soft':
            out = render(texture, uv, probs)
        elif case == 'render_soft_min1e-3':
            out = render(texture, uv, probs, min_prob=1e-3)
        elif case == 'render_ids':
            out = render(texture, uv, ids)
        elif case == 'alt_loop':
            out = alt_loop(texture, uv, probs)
        elif case == 'alt_batched':
            out = alt_batched(texture, uv, probs)
        elif case == 'alt_ids_onehot':  # the dense path, skipping absent parts
            out = _DenseRender.apply(texture, uv, onehot[:, 1:], True)
        out.backward(grad_out)
        if device.type == 'cuda':
            torch.cuda.synchronize()

    base = rss_mib()
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        base_gpu = torch.cuda.memory_allocated()
    step()  # warm-up
    times, cpu_times = [], []
    for _ in range(args.runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - start_cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {'case': case, 'size': size, 'time_s': statistics.median(times), 'times': times,
              'cpu_s': statistics.median(cpu_times),
              'peak_rss_growth_mib': peak - base, 'threads': torch.get_num_threads(),
              'density_1e-3': density, 'person_share': person}
    if device.type == 'cuda':
        result['peak_gpu_growth_mib'] = (torch.cuda.max_memory_allocated() - base_gpu) / 2 ** 20
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (0: torch default)')
    parser.add_argument('--sizes', default='256,512', help='comma-separated H=W')
    parser.add_argument('--cases', default=','.join(CASES), help=f'comma-separated, from {CASES}')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--channels', type=int, default=18)
    parser.add_argument('--tex_size', type=int, default=200)
    parser.add_argument('--runs', type=int, default=3, help='timed runs after one warm-up (median reported)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--skip', default='alt_batched:512',
                        help='case:size pairs not to run (alt_batched at 512 needs several GB)')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        case, size = args.child.split(':')
        print(json.dumps(run_case(case, int(size), args)))
        return
    cases = [c for c in args.cases.split(',') if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f'unknown cases {sorted(unknown)}; choose from {CASES}')
    skip = set(args.skip.split(',')) if args.skip else set()
    print(f'B={args.batch} C={args.channels} T={args.tex_size} device={args.device} '
          f'threads={args.threads or "default"} runs={args.runs} (median of forward+backward)')
    for size in (int(s) for s in args.sizes.split(',')):
        for case in cases:
            if f'{case}:{size}' in skip:
                print(f'{size:5d}  {case:22s} skipped (--skip)')
                continue
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:], '--child', f'{case}:{size}'],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(f'{size:5d}  {case:22s} FAILED: {proc.stderr.strip().splitlines()[-1:]}')
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            extra = f"  gpu +{r['peak_gpu_growth_mib']:.0f} MiB" if 'peak_gpu_growth_mib' in r else ''
            print(f"{size:5d}  {case:22s} {r['time_s']:7.3f} s (CPU {r['cpu_s']:6.2f} s)  "
                  f"peak RSS +{r['peak_rss_growth_mib']:6.0f} MiB{extra}  (threads {r['threads']}, "
                  f"person {r['person_share']:.0%}, "
                  f"pairs with p>1e-3 {r['density_1e-3']:.1%})", flush=True)


if __name__ == '__main__':
    main()
