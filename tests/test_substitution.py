"""evaluate.py --substitute: a trained render model with learned components swapped for the synthetic dataset's
ground truth. Substituting everything the oracle uses renders the oracle exactly; substituting nothing renders
the model exactly; each component on its own moves the numbers."""
import csv
import json
import os

import pytest
import torch

from evaluation.budget import budget_table
from evaluation.components import parse_components
from evaluation.run import evaluate as run_evaluation
from options.eval_options import EvalOptions
from util.atlas import part_uv_channels

METRICS = ('psnr', 'ssim', 'psnr_person', 'psnr_background', 'psnr_dynamic', 'psnr_person_static', 'psnr_render',
           'warp_error')


def evaluate(tiny_render, results, *args):
    """(metrics.json, per_frame.csv rows) of the tiny renderer on the same person's novel moves (same frame size)."""
    page, _ = run_evaluation(EvalOptions().parse(
        ['--gpu_ids', '-1', '--results_dir', str(results), '--dataroot', str(tiny_render.novel), *args]))
    folder = os.path.dirname(page)
    with open(os.path.join(folder, 'per_frame.csv')) as handle:
        rows = list(csv.DictReader(handle))
    return json.load(open(os.path.join(folder, 'metrics.json'))), rows, folder


def model(tiny_render, results, *args):
    return evaluate(tiny_render, results, '--name', tiny_render.name, '--checkpoints_dir',
                    str(tiny_render.checkpoints), *args)


def columns(rows, names=METRICS):
    return [{name: row[name] for name in names} for row in rows]


def test_substituting_the_oracles_inputs_renders_the_oracle(tiny_render, tmp_path):
    oracle, oracle_rows, _ = evaluate(tiny_render, tmp_path / 'oracle', '--oracle')
    report, rows, folder = model(tiny_render, tmp_path, '--substitute', 'background,iuv,detail,texture')
    assert folder.endswith('eval_all_latest_novel_substitute_iuv+texture+background+detail')
    assert report['substituted'] == ['iuv', 'texture', 'background', 'detail']
    assert columns(rows) == columns(oracle_rows)             # every frame, every metric, to the printed digit
    assert report['mean']['psnr_person_render'] > 35
    assert 'part_acc' not in report['mean']                   # the UV generator was not used


def test_substituting_nothing_renders_the_model(tiny_render, tmp_path):
    plain, plain_rows, _ = model(tiny_render, tmp_path / 'plain')
    report, rows, folder = model(tiny_render, tmp_path, '--substitute', 'none')
    assert folder.endswith('_substitute_none') and report['substituted'] == []
    names = METRICS + ('part_acc', 'uv_error')
    assert columns(rows, names) == columns(plain_rows, names)


def test_each_component_changes_what_it_replaces(tiny_render, tmp_path):
    plain = model(tiny_render, tmp_path / 'plain')[0]['mean']
    means = {name: model(tiny_render, tmp_path / name, '--substitute', name)[0]['mean']
             for name in ('iuv', 'texture', 'background', 'detail')}
    for name, mean in means.items():
        assert mean['psnr'] != plain['psnr'], name
    # the background changes the background's pixels, not the geometry (where the model's person probability
    # spills onto the background, the true plate need not score higher than the learned one)
    assert means['background']['psnr_background'] != plain['psnr_background']
    for name in ('texture', 'background', 'detail'):
        assert (means[name]['part_acc'], means[name]['uv_error']) == (plain['part_acc'], plain['uv_error']), name
    assert 'part_acc' not in means['iuv']


def test_refusals(tiny_render, tiny_pose2image, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        EvalOptions().parse(['--name', 'tiny', '--substitute', 'iuv,skirt'])
    assert exit_info.value.code == 2 and 'unknown component skirt' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        EvalOptions().parse(['--oracle', '--dataroot', 'x', '--substitute', 'iuv'])
    assert exit_info.value.code == 2
    root, _, novel = tiny_pose2image
    with pytest.raises(SystemExit, match='no separate geometry'):
        run_evaluation(EvalOptions().parse(['--gpu_ids', '-1', '--name', 'edn', '--checkpoints_dir',
                                            str(root / 'checkpoints'), '--dataroot', str(novel), '--results_dir',
                                            str(tmp_path), '--substitute', 'iuv']))


def test_parse_components_keeps_one_order():
    assert parse_components('detail, iuv') == ('iuv', 'detail')
    assert parse_components('none') == () and parse_components('') == ()


def test_part_uv_channels_puts_each_pixels_uv_in_its_parts_channels():
    parts = torch.tensor([[[0, 1], [24, 3]]])
    uv = (torch.arange(8, dtype=torch.float32).reshape(1, 2, 2, 2) + 1) / 10 - 0.45
    spread = part_uv_channels(parts, uv)
    assert spread.shape == (1, 48, 2, 2)
    assert torch.equal(spread[0, 0:2, 0, 1], uv[0, :, 0, 1]) and torch.equal(spread[0, 46:48, 1, 0], uv[0, :, 1, 0])
    assert torch.equal(spread[0, 4:6, 1, 1], uv[0, :, 1, 1])
    assert spread[0, :, 0, 0].abs().sum() == 0                 # background
    assert (spread != 0).sum() == 6                           # nothing but those three pixels' two values


def test_budget_table_shows_each_substitutions_gain():
    def report(static, **extra):
        return {'mean': {'psnr_person': 17.0, 'psnr_person_static': static, 'psnr_dynamic': 15.0, 'psnr': 24.0,
                         'ssim': 0.8, **extra}}
    model = report(18.0, part_acc=0.9, part_acc_person=0.8, uv_error=0.05)
    lines = budget_table({'iuv': report(21.5), 'iuv,texture': report(23.0)}, model, report(24.3))
    assert lines[2].startswith('| nothing (the model) |') and lines[2].endswith('| +0.00 dB |')
    assert lines[3].startswith('| iuv |') and lines[3].endswith('| +3.50 dB |')
    assert lines[4].startswith('| iuv + texture |') and lines[5].startswith('| oracle |') and '+6.30 dB' in lines[5]
    assert 'part accuracy 0.900 (0.800 on person pixels)' in lines[-1]
