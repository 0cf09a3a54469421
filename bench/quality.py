"""Quality benchmark: ours, ours without the detail generator, and the pose2image baseline, each trained
for the same CPU wall-clock on one synthetic video, evaluated on the same person's novel motion next to
the synthetic oracle; writes docs/RESULTS.md (table, commands, frame strip).

    python bench/quality.py [--minutes 12] [--size 128] [--frames 200] [--novel_frames 120]

Equal wall-clock: before each training, a few steps of that variant are timed in this process (for
ours, the static and the full stage separately); the epochs that fit the budget follow, and train.py
runs them. The training time each run really took is measured and printed in the table.
Outputs: <work>/data_{train,novel}, <work>/checkpoints/<variant>, <work>/results, docs/RESULTS.md and
docs/images/quality_strip.jpg. Existing finished runs are reused (delete <work> to start over).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from data.clip_dataset import ClipDataset  # noqa: E402
from data.readers import read_frame  # noqa: E402
from data.layout import index_dataset  # noqa: E402
from data.loaders import make_loader  # noqa: E402
from evaluation.budget import BUDGET, BUDGET_COLUMNS, budget_table  # noqa: E402
from models import create_model  # noqa: E402
from options.presets import preset_flags  # noqa: E402
from options.train_options import TrainOptions  # noqa: E402
from util.image import save_image  # noqa: E402
from util.markdown_sections import replace_sections  # noqa: E402

# Shared by all variants: data, discriminators (2 scales x 3 layers x 16), no VGG (no weights offline).
COMMON = ['--gpu_ids', '-1', '--batchSize', '2', '--nThreads', '1', '--ndf', '16', '--num_D', '2',
          '--n_layers_D', '3', '--no_vgg_loss', '--lr', '0.001', '--print_freq', '50', '--display_freq', '200',
          '--save_latest_freq', '1000000', '--save_epoch_freq', '1000000']
# train_start/cpu_small.sh's renderer; the baseline is a pix2pixHD global generator of similar cost.
RENDER = ['--model', 'render'] + preset_flags('cpu_small')
BASELINE = ['--model', 'pose2image', '--ngf', '32', '--n_downsample_global', '3', '--n_blocks_global', '4']
# Our defaults before the skips, the D2G's pose input and the filled initial texture (the original's wiring).
PLAIN_D2G = ['--d2g_skips', 'none', '--no_d2g_use_pose', '--texture_holes', 'keep', '--trans_skips', 'none']
STATIC_SHARE = 0.3          # ours: share of the epochs in the static stage (cpu_small.sh: 3 of 10)
VARIANTS = {                # name: (flags, row label, stages: static then full / static only / full only)
    'ours': (RENDER, 'ours', 'two'),
    'ours_static': (RENDER, 'ours static (no detail generator)', 'static'),
    'ours_no_ssim': (RENDER + ['--lambda_ssim', '0'], 'ours without the SSIM loss (--lambda_ssim 0)', 'two'),
    'ours_no_trans_skips': (RENDER + ['--trans_skips', 'none'], "ours without the UV generator's skips "
                            '(--trans_skips none)', 'two'),
    'ours_plain': (RENDER + PLAIN_D2G, 'ours with the earlier generators and texture (no skips, no pose '
                   'into D2G, texture holes kept)', 'two'),
    'published': (RENDER + preset_flags('published'), 'published configuration (original research code\'s losses '
                  'and schedule)', 'two'),
    'baseline': (BASELINE, 'baseline (pose2image)', 'full'),
}
COLUMNS = [('psnr', 'PSNR', '{:.2f}'), ('ssim', 'SSIM', '{:.4f}'), ('psnr_person', 'person PSNR', '{:.2f}'),
           ('warp_error', 'temporal error', '{:.4f}'), ('psnr_dynamic', 'dynamic-region PSNR', '{:.2f}'),
           ('psnr_person_static', 'person PSNR outside dynamic', '{:.2f}')]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--minutes', type=float, default=12.0, help='training wall-clock per variant')
    parser.add_argument('--size', type=int, default=128, help='frame size (square)')
    parser.add_argument('--frames', type=int, default=200, help='frames of the training video')
    parser.add_argument('--novel_frames', type=int, default=120, help='frames of the novel-motion video')
    parser.add_argument('--seed', type=int, default=0, help='the synthetic person')
    parser.add_argument('--work', default=os.path.join(ROOT, 'bench_quality'), help='working folder')
    parser.add_argument('--docs', default=os.path.join(ROOT, 'docs'), help='where RESULTS.md goes')
    parser.add_argument('--variants', default=','.join(VARIANTS),
                        help='comma-separated subset of ' + ', '.join(VARIANTS))
    return parser.parse_args()


def run(command, log=None):
    print('+', ' '.join(command), flush=True)
    start = time.time()
    with open(log, 'a') if log else open(os.devnull, 'w') as sink:
        result = subprocess.run(command, cwd=ROOT, stdout=sink if log else None,
                                stderr=subprocess.STDOUT if log else None)
    if result.returncode:
        raise SystemExit(f'failed ({result.returncode}): {" ".join(command)}' + (f'; see {log}' if log else ''))
    return time.time() - start


def make_data(args):
    paths = {}
    for motion, frames in (('train', args.frames), ('novel', args.novel_frames)):
        out = os.path.join(args.work, f'data_{motion}')
        if not os.path.isfile(os.path.join(out, 'gt', 'meta.json')):
            run([sys.executable, '-m', 'data.synthetic', '--out', out, '--frames', str(frames), '--size',
                 str(args.size), str(args.size), '--motion', motion, '--seed', str(args.seed)])
        paths[motion] = out
    return paths


def seconds_per_step(flags, full_stage, repeats=10, warmup=3):
    """Mean wall-clock of one training step of this configuration (data loading included)."""
    with tempfile.TemporaryDirectory() as scratch:
        opt = TrainOptions().parse(flags + ['--checkpoints_dir', scratch, '--name', 'calibration'], save=False)
        dataset = ClipDataset.from_options(opt, 'train')
        model = create_model(opt, dataset)
        model.set_epoch(opt.static_epochs + 1 if full_stage else 1)
        loader, sampler = make_loader(dataset, opt, 0, 1, shuffle=True)
        sampler.set_epoch(1, 0)
        batches = iter(loader)
        for _ in range(warmup):
            model.train_step(next(batches))
        start = time.time()
        for _ in range(repeats):
            model.train_step(next(batches))
        return (time.time() - start) / repeats


def schedule(stages, flags, iters_per_epoch, budget_s):
    """Epoch flags that fill the budget: (flags, description)."""
    if stages == 'two':
        t_static, t_full = seconds_per_step(flags, False), seconds_per_step(flags, True)
        per_epoch = iters_per_epoch * (STATIC_SHARE * t_static + (1 - STATIC_SHARE) * t_full)
        epochs = max(2, int(budget_s / per_epoch))
        static = max(1, round(STATIC_SHARE * epochs))
        timing = f'{t_static:.3f} s/step static, {t_full:.3f} s/step full'
    else:
        t_step = seconds_per_step(flags, stages == 'full')
        epochs = max(2, int(budget_s / (iters_per_epoch * t_step)))
        static = epochs if stages == 'static' else 0
        timing = f'{t_step:.3f} s/step'
    niter = math.ceil(epochs / 2)
    epoch_flags = ['--niter', str(niter), '--niter_decay', str(epochs - niter), '--static_epochs', str(static)]
    return epoch_flags, f'{epochs} epochs x {iters_per_epoch} steps ({timing})'


def train_variants(args, data):
    budget_s = 60 * args.minutes
    checkpoints = os.path.join(args.work, 'checkpoints')
    runs = {}
    for name in args.variants:
        flags, _, stages = VARIANTS[name]
        flags = COMMON + flags + ['--loadSize', str(args.size), '--dataroot', data['train']]
        run_dir = os.path.join(checkpoints, name)
        record = os.path.join(run_dir, 'quality_bench.json')
        if os.path.isfile(record):
            runs[name] = json.load(open(record))
            print(f'{name}: reusing the finished run in {run_dir}')
            continue
        if os.path.exists(run_dir):
            raise SystemExit(f'{run_dir} exists but did not finish: delete it to retrain')
        dataset = ClipDataset.from_options(TrainOptions().parse(flags, save=False), 'train')
        iters_per_epoch = len(dataset) // 2
        epoch_flags, plan = schedule(stages, flags, iters_per_epoch, 0.95 * budget_s)
        print(f'{name}: {plan}', flush=True)
        command = [sys.executable, 'train.py', '--name', name, '--checkpoints_dir', checkpoints] + flags + epoch_flags
        os.makedirs(args.work, exist_ok=True)
        seconds = run(command, log=os.path.join(args.work, f'train_{name}.log'))
        runs[name] = {'command': command_line(command), 'seconds': seconds, 'plan': plan}
        json.dump(runs[name], open(record, 'w'), indent=1)
        print(f'{name}: trained in {seconds / 60:.1f} min')
    return runs


def evaluate(args, data, runs):
    results = os.path.join(args.work, 'results')
    common = ['--gpu_ids', '-1', '--dataroot', data['novel'], '--phase', 'all', '--results_dir', results,
              '--save_frames']
    novel = os.path.basename(data['novel'])
    jobs = [(name, [sys.executable, 'evaluate.py', '--name', name, '--checkpoints_dir',
                    os.path.join(args.work, 'checkpoints')] + common,
             os.path.join(results, name, f'eval_all_latest_{novel}'),
             os.path.join(args.work, 'checkpoints', name, 'latest_checkpoint.pth')) for name in args.variants]
    jobs.append(('oracle', [sys.executable, 'evaluate.py', '--oracle', '--loadSize', str(args.size)] + common,
                 os.path.join(results, 'oracle', f'eval_all_{novel}'), os.path.join(data['novel'], 'gt', 'meta.json')))
    reports, commands = {}, {}
    for name, command, folder, source in jobs:
        metrics = os.path.join(folder, 'metrics.json')
        if not os.path.isfile(metrics) or os.path.getmtime(metrics) < os.path.getmtime(source):
            run(command, log=os.path.join(args.work, f'evaluate_{name}.log'))
        else:
            print(f'{name}: reusing {metrics}')
        reports[name], commands[name] = json.load(open(metrics)), command
        reports[name]['folder'] = folder
    return reports, commands


def error_budget(args, data, name='ours'):
    """metrics.json of the variant with each BUDGET set of components substituted: {set: report}, commands."""
    results = os.path.join(args.work, 'results')
    novel = os.path.basename(data['novel'])
    source = os.path.join(args.work, 'checkpoints', name, 'latest_checkpoint.pth')
    reports, commands = {}, []
    for components in BUDGET:
        command = [sys.executable, 'evaluate.py', '--name', name, '--checkpoints_dir',
                   os.path.join(args.work, 'checkpoints'), '--gpu_ids', '-1', '--dataroot', data['novel'],
                   '--phase', 'all', '--results_dir', results, '--substitute', components]
        metrics = os.path.join(results, name, f'eval_all_latest_{novel}_substitute_{components.replace(",", "+")}',
                               'metrics.json')
        if not os.path.isfile(metrics) or os.path.getmtime(metrics) < os.path.getmtime(source):
            run(command, log=os.path.join(args.work, f'budget_{name}.log'))
        reports[components] = json.load(open(metrics))
        commands.append(command)
    return reports, commands


def frame_strip(reports, data, path, count=5):
    """Rows: ground truth, then each evaluated output, at `count` evenly spaced novel frames."""
    truth = index_dataset(data['novel']).frames
    outputs = {name: os.path.join(report['folder'], 'frames') for name, report in reports.items()}
    picks = sorted(os.listdir(next(iter(outputs.values()))))
    picks = [picks[i] for i in np.linspace(0, len(picks) - 1, count).round().astype(int)]
    rows = []
    for label, folder in [('ground truth', None)] + list(outputs.items()):
        tiles = []
        for pick in picks:
            if folder is None:
                tiles.append(read_frame(truth[int(pick[len('frame'):-len('.png')]) - 1]))
            else:
                tiles.append(read_frame(os.path.join(folder, pick)))
        height, width = read_frame(os.path.join(next(iter(outputs.values())), picks[0])).shape[:2]
        tiles = [cv2.resize(t, (width, height), interpolation=cv2.INTER_AREA) for t in tiles]
        margin = np.full((height, 120, 3), 255, np.uint8)
        cv2.putText(margin, label.replace('_', ' '), (4, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
        rows.append(np.concatenate([margin] + tiles, axis=1))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_image(path, np.concatenate(rows, axis=0))
    return [int(p[len('frame'):-len('.png')]) for p in picks]


def quality_table(reports, runs):
    labels = {name: label for name, (_, label, _) in VARIANTS.items()}
    labels['oracle'] = 'oracle (true IUV + atlas + background)'
    lines = ['| | ' + ' | '.join(title for _, title, _ in COLUMNS) + ' | training |',
             '|---' * (len(COLUMNS) + 2) + '|']
    for name, report in reports.items():
        cells = []
        for key, _, form in COLUMNS:
            value = report['mean'].get(key)
            cells.append(form.format(value) if isinstance(value, (int, float)) else str(value))
        trained = f"{runs[name]['seconds'] / 60:.1f} min" if name in runs else '—'
        lines.append(f'| {labels[name]} | ' + ' | '.join(cells) + f' | {trained} |')
    truth = next(iter(reports.values()))['mean'].get('warp_error_gt')
    if isinstance(truth, (int, float)):
        lines.append(f'| ground-truth frames | | | | {truth:.4f} | | | |')
    return lines


# The original research code at its own configuration on this kind of machine (2 threads): seconds per
# training iteration, peak RSS in GB, texture sampling forward + backward in seconds (issue 3).
ORIGINAL_CODE = {256: (27.5, 8.5, 4.5), 512: (119.8, 20.2, 14.3)}


def verdict(reports):
    """The issue's targets, computed from the table for each variant of ours: lines of markdown."""
    mean = {name: report['mean'] for name, report in reports.items()}
    if not {'baseline', 'oracle'} <= set(mean):
        return []
    mark = lambda ok: 'met' if ok else 'not met'  # noqa: E731
    base, oracle = mean['baseline'], mean['oracle']
    lines = ['### Against the targets', '']
    for name in (n for n in VARIANTS if n.startswith('ours') and n in mean):
        ours = mean[name]
        person = ours['psnr_person'] - base['psnr_person']
        dynamic = ours['psnr_dynamic'] - base['psnr_dynamic']
        temporal = ours['warp_error'] / base['warp_error']
        static_gap = oracle['psnr_person_static'] - ours['psnr_person_static']
        ssim_gap = oracle['ssim'] - ours['ssim']
        lines += [f'- {name}: person PSNR {person:+.2f} dB over the baseline (target +3 dB: {mark(person >= 3)}); '
                  f'dynamic-region PSNR {dynamic:+.2f} dB over the baseline (target +1 dB: {mark(dynamic >= 1)}); '
                  f'temporal error {temporal:.2f}x the baseline\'s (target <= 0.6x: {mark(temporal <= 0.6)}); '
                  f'outside the dynamic region {static_gap:.2f} dB under the oracle (target <= 2 dB: '
                  f'{mark(static_gap <= 2)}); SSIM {ssim_gap:.3f} under the oracle (target <= 0.03: '
                  f'{mark(ssim_gap <= 0.03)}).']
    ceiling = oracle['psnr_person'] - base['psnr_person']
    return lines + [
        f'- For scale: the oracle, a perfect static renderer (true geometry, texture and background), is '
        f'{ceiling:+.2f} dB above the baseline in person PSNR; its person PSNR outside the dynamic region is '
        f"{oracle['psnr_person_static']:.2f} dB but {oracle['psnr_dynamic']:.2f} dB inside it. "
        'Person PSNR on this data is dominated by the dynamic region (skirt, creases), so +3 dB over the '
        'baseline needs the detail generator to reproduce the skirt on unseen poses, not a better static '
        'render.', '']


def benchmark_results(folder):
    """{file name: record} of the benchmark.py --json files in folder, sorted by name (other JSON there, e.g. a
    before/after comparison, is skipped)."""
    names = sorted(f for f in os.listdir(folder) if f.endswith('.json')) if os.path.isdir(folder) else []
    records = {name: json.load(open(os.path.join(folder, name))) for name in names}
    return {name: r for name, r in records.items() if {'preset', 'size'} <= set(r)}


def speed_table(results):
    """The benchmark_results kept in docs/speed/, one row each; ratios against the original code."""
    lines = ['| preset | size | amp | flags | s/iter (x original) | peak memory GB (x original) | TFLOP/iter | '
             'share of FLOP floor | matmul GFLOP/s | inference frames/s | texture sampling fwd+bwd s (x original) |',
             '|---' * 11 + '|']

    def cell(value, form, reference=None):
        if value is None:
            return '—'
        text = form.format(value)
        return f'{text} ({value / reference:.2f}x)' if reference else text

    for r in results.values():
        train, infer, sampling = r.get('train', {}), r.get('infer', {}), r.get('sampling', {})
        seconds, memory, sample = ORIGINAL_CODE.get(r['size'], (None, None, None))
        if r['preset'] != 'original':
            seconds = memory = None
        note = ' (glibc default malloc)' if r.get('freed_buffers_kept') is False else ''
        lines.append(f"| {r['preset']}{note} | {r['size']} | {r['amp']} | {r.get('flags') or ''} | "
                     f"{cell(train.get('train_s_per_iter'), '{:.2f}', seconds)} | "
                     f"{cell(train.get('peak_memory_gb'), '{:.2f}', memory)} | "
                     f"{cell(train.get('train_tflop_per_iter'), '{:.2f}')} | "
                     f"{cell(r.get('fraction_of_floor'), '{:.0%}')} | {cell(r.get('matmul_gflops'), '{:.0f}')} | "
                     f"{cell(infer.get('infer_frames_per_s'), '{:.2f}')} | "
                     f"{cell(sampling.get('sampling_exact_fwd_bwd_s'), '{:.2f}', sample)} |")
    return lines


def engines_tables(results):
    """One table per benchmark.py --parts infer result with its engines (docs/speed/*.json): frames/s, the
    ratio to eager fp32 of the same run, the largest difference to its outputs, setup time, peak memory."""
    lines = []
    for name, r in results.items():
        engines = r.get('infer', {}).get('engines')
        if not engines:
            continue
        eager = engines['eager']['frames_per_s']
        lines += [f"Preset {r['preset']} at {r['size']} px on {r['device']} ({r['threads']} threads, "
                  f"CPU bf16 in hardware: {r.get('cpu_native_bf16')}), batches of {r['infer']['batch']} frames "
                  f"(docs/speed/{name}; test.py --engine auto runs {r['infer']['engine']} here):", '',
                  '| engine | ran | frames/s | x eager fp32 | max abs diff to eager fp32 | PSNR dB | setup s | '
                  'peak memory GB |', '|---' * 8 + '|']
        for engine, e in engines.items():
            lines.append(f"| {engine} | {e['ran']} | {e['frames_per_s']:.3f} | {e['frames_per_s'] / eager:.2f} | "
                         f"{e['max_diff']:.1e} | {e['psnr_db']:.1f} | {e['setup_s']:.0f} | "
                         f"{e['peak_memory_gb']:.2f} |")
        lines += ['', '```', benchmark_command(name, r), '```', '']
    return lines


def benchmark_command(name, r):
    """The benchmark.py command line that wrote record r as docs/speed/<name>."""
    flags = f" --flags='{r['flags']}'" if r.get('flags') else ''
    parts = '' if 'sampling' in r and 'infer' in r else ' --parts ' + ','.join(
        part for part in ('sampling', 'data', 'train', 'infer') if part in r)
    env = 'NHR_DEFAULT_MALLOC=1 ' if r.get('freed_buffers_kept') is False else ''
    return (f"{env}python benchmark.py --preset {r['preset']} --size {r['size']} --amp {r['amp']}{flags}{parts} "
            f"--threads {r['threads']} --json docs/speed/{name}")


def command_line(command):
    """The command as run from the project root, paths relative to it."""
    return ' '.join(['python'] + [os.path.relpath(c, ROOT) if os.path.isabs(c) else c for c in command[1:]])


RESULTS_INTRO = ['# Results', '', 'Numbers measured by the project\'s own scripts; how to reproduce each is '
                 'given below it.', '']
SPEED_HEADING = '## Speed and memory (benchmark.py)'


def quality_heading(size):
    return f'## Quality on a novel motion, {size} px (synthetic, CPU, equal training wall-clock)'


def strip_name(size):
    return 'quality_strip.jpg' if size == 128 else f'quality_strip_{size}.jpg'


def write_results(args, runs, reports, commands, strip_frames, budget=None, budget_commands=()):
    """Replace this size's quality section and the speed section of docs/RESULTS.md (other sections stay)."""
    relative = os.path.relpath(args.work, ROOT)
    lines = [quality_heading(args.size), '',
             f'Setup: one synthetic person (seed {args.seed}), a {args.frames}-frame training video and a '
             f'{args.novel_frames}-frame video of the same person doing other moves at another speed, both '
             f'{args.size}x{args.size}. Each variant trained for about {args.minutes:g} min of wall-clock on this '
             f'machine\'s CPU ({torch.get_num_threads()} threads), then was driven by the novel video\'s OpenPose '
             'keypoints and compared with its frames by evaluate.py (means over all frames; PSNR in dB on 0..255 '
             'images; temporal error = mean |output_t - warp(output_t-1)| over flow-consistent pixels, in [0, 1] '
             'units). The dynamic region is the generator\'s ground truth of what a static texture cannot show: '
             'the skirt and the pose-dependent creases and shading (gt/dynamic).', '']
    lines += quality_table(reports, runs)
    lines += [''] + verdict(reports)
    if budget:
        lines += ['### Error budget: where ours loses decibels', '',
                  'ours evaluated again with learned components replaced by the synthetic ground truth '
                  '(evaluate.py --substitute): iuv = the true part map and UV instead of the UV generator\'s, '
                  'texture = the true atlas instead of the neural texture\'s RGB, background = the true '
                  'background, detail = the texture render instead of the detail generator\'s output. '
                  'All four together are the oracle, exactly.', '']
        lines += budget_table(budget, reports['ours'], reports['oracle']) + ['']
    lines += ['', f'![novel frames: ground truth and each output](images/{strip_name(args.size)})', '',
              f'Frames {", ".join(map(str, strip_frames))} of the novel video; rows as labelled.', '',
              '### Training plans', '']
    lines += [f'- {name}: {run["plan"]}; trained {run["seconds"] / 60:.1f} min' for name, run in runs.items()]
    lines += ['', '### Reproduce', '', '```', f'python bench/quality.py --minutes {args.minutes:g} --size {args.size} '
              f'--frames {args.frames} --novel_frames {args.novel_frames} --seed {args.seed} --work {relative}', '```',
              '', 'which runs:', '', '```']
    lines += [run['command'] for run in runs.values()]
    lines += [command_line(c) for c in commands.values()]
    lines += [command_line(c) for c in budget_commands]
    lines += ['```', '']
    sections = {quality_heading(args.size): lines}
    results = benchmark_results(os.path.join(args.docs, 'speed'))
    if results:
        lines = [SPEED_HEADING, '',
                  'One training iteration (generator and discriminator step) on synthetic data; peak memory '
                  'is the process\'s peak RSS on the CPU. Preset "original" is the original research code\'s '
                  'configuration (batch 2 clips x 2 frames; UV generator ngf 64, 4 downsamplings, 9 blocks; '
                  'D2G ngf 64, 4 downsamplings capped at 512 channels, 2 blocks; texture 24 x 18 x 200^2; '
                  'discriminator 2 scales x 3 layers x ndf 64; VGG and all losses); "default" is this '
                  'toolkit\'s defaults (batch 1 clip x 2 frames, D2G with 3 downsamplings and 9 blocks). '
                  'The FLOP floor is the '
                  'FLOPs of one step (torch FlopCounterMode) at this machine\'s measured fp32 2048^2 matmul '
                  'rate (measured at the start of each run: this shared machine varied between runs); above 100% '
                  'the step beat that rate (bf16). "glibc default malloc": run with NHR_DEFAULT_MALLOC=1, '
                  'i.e. without keeping freed buffers mapped (util/cpu_runtime.py), for comparison. '
                  '"x original": against the original research '
                  'code at the same configuration on this kind of machine (27.5 s, 8.5 GB, sampling 4.5 s at 256; '
                  '119.8 s, 20.2 GB, 14.3 s at 512). Files: ' + ', '.join(f'docs/speed/{f}' for f in results) + '.',
                  '']
        lines += speed_table(results)
        lines += ['', '```'] + [benchmark_command(name, r) for name, r in results.items()] + ['```', '']
        engines = engines_tables(results)
        if engines:
            lines += ['### Inference engines (test.py --engine)', '',
                      "test.py's path (only the frames, in batches) with each engine, measured one after another in "
                      'one benchmark.py run; eager_bf16 is eager under --amp bf16, full_forward the whole '
                      'training-time forward pass (model.infer) that test.py ran before it had engines. '
                      'Differences are over output, person and alpha in [-1, 1] (alpha [0, 1]); PSNR of the '
                      'output frame. Setup: export, compilation and the first batch.', ''] + engines
        sections[SPEED_HEADING] = lines
    os.makedirs(args.docs, exist_ok=True)
    setup = f'{args.frames} training frames of {args.size}x{args.size}, {args.minutes:g} min per variant'
    summary = 'quality.json' if args.size == 128 else f'quality_{args.size}.json'
    with open(os.path.join(args.docs, summary), 'w', encoding='utf-8') as handle:
        json.dump({'setup': setup, 'means': {name: {key: report['mean'].get(key) for key, _, _ in COLUMNS}
                                             for name, report in reports.items()}}, handle, indent=1)
    path = os.path.join(args.docs, 'RESULTS.md')
    text = open(path, encoding='utf-8').read() if os.path.isfile(path) else '\n'.join(RESULTS_INTRO)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(replace_sections(text, sections))
    print(f'wrote {path}')


def main():
    args = parse_args()
    args.variants = [v for v in args.variants.split(',') if v]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f'unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}')
    args.work = os.path.abspath(args.work)
    data = make_data(args)
    runs = train_variants(args, data)
    reports, commands = evaluate(args, data, runs)
    for name, report in reports.items():
        print(name, '  '.join(f'{key} {report["mean"].get(key)}' for key, _, _ in COLUMNS))
    budget, budget_commands = error_budget(args, data) if 'ours' in reports else ({}, [])
    for components, report in budget.items():
        print(f'ours with true {components}:', '  '.join(f'{key} {report["mean"].get(key)}' for key, _ in BUDGET_COLUMNS))
    strip = frame_strip(reports, data, os.path.join(args.docs, 'images', strip_name(args.size)))
    write_results(args, runs, reports, commands, strip, budget, budget_commands)


if __name__ == '__main__':
    main()
