"""The error budget of a render model on a synthetic dataset: the model, the model with each set of learned
components replaced by the ground truth (evaluate.py --substitute), and the oracle, as one markdown table.

    python -m evaluation.budget --name NAME --checkpoints_dir DIR --dataroot SYNTHETIC_NOVEL [--results_dir R]

bench/quality.py writes the same table into docs/RESULTS.md for its 'ours' run. The driving poses are used
as they are (--align off): the data is the training person at the training size, and an alignment would
mix its own error into the geometry's.
"""
import argparse
import json
import os

from evaluation.run import evaluate
from options.eval_options import EvalOptions
from util.errors import run_main

# Sets of components, each evaluated as one run: every component alone, then the static body piece by piece.
BUDGET = ('iuv', 'texture', 'background', 'detail', 'iuv,texture', 'iuv,texture,background',
          'iuv,texture,background,detail')
BUDGET_COLUMNS = [('psnr_person', 'person PSNR'), ('psnr_person_static', 'outside dynamic region'),
                  ('psnr_dynamic', 'dynamic region'), ('psnr', 'PSNR'), ('ssim', 'SSIM')]


def budget_table(budget, model, oracle):
    """Markdown lines: the model, each substitution with its gain in person PSNR outside the dynamic
    region, and the oracle."""
    lines = ['| with ground truth for | ' + ' | '.join(title for _, title in BUDGET_COLUMNS) +
             ' | gain outside dynamic region |', '|---' * (len(BUDGET_COLUMNS) + 2) + '|']
    base = model['mean']['psnr_person_static']
    rows = [('nothing (the model)', model)] + [(components.replace(',', ' + '), report)
                                              for components, report in budget.items()] + [('oracle', oracle)]
    for label, report in rows:
        mean = report['mean']
        cells = [f'{mean[key]:.4f}' if key == 'ssim' else f'{mean[key]:.2f}' for key, _ in BUDGET_COLUMNS]
        lines.append(f'| {label} | ' + ' | '.join(cells) + f" | {mean['psnr_person_static'] - base:+.2f} dB |")
    part = model['mean']
    lines += ['', f"The model's UV generator on the novel motion: part accuracy {part['part_acc']:.3f} "
              f"({part['part_acc_person']:.3f} on person pixels), UV error {part['uv_error']:.4f} (mean |UV - true UV| "
              'in [0, 1] units on person pixels).']
    return lines


def measured(flags):
    """metrics.json of one evaluate.py run (in this process) with these flags."""
    page, _ = evaluate(EvalOptions().parse(flags))
    with open(os.path.join(os.path.dirname(page), 'metrics.json')) as handle:
        return json.load(handle)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--name', required=True)
    parser.add_argument('--checkpoints_dir', default='./checkpoints')
    parser.add_argument('--dataroot', required=True, help='a synthetic dataset (with gt/) of the training size')
    parser.add_argument('--results_dir', default='./results')
    parser.add_argument('--gpu_ids', default='-1')
    args = parser.parse_args()
    common = ['--dataroot', args.dataroot, '--phase', 'all', '--results_dir', args.results_dir,
              '--gpu_ids', args.gpu_ids, '--show_frames', '1', '--align', 'off']
    model = ['--name', args.name, '--checkpoints_dir', args.checkpoints_dir] + common
    plain = measured(model)
    budget = {components: measured(model + ['--substitute', components]) for components in BUDGET}
    oracle = measured(['--oracle'] + common)
    print('\n'.join(budget_table(budget, plain, oracle)))
    return 0


if __name__ == '__main__':
    run_main(main)
