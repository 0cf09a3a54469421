"""evaluate.py end to end: a tiny model trained on a 64 x 64 synthetic video, evaluated on its val split (the same
numbers as test.py's reconstruction), on the same person's novel moves at another frame size (80 x 64, with and
without alignment), and the synthetic oracle; plus the geometry that maps outputs onto ground-truth frames."""
import csv
import json
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from evaluation.geometry import Geometry, warp_to_eval
from evaluation.run import evaluate as run_evaluation
from inference.drive import drive
from options.eval_options import EvalOptions
from options.test_options import TestOptions as DriveOptions
from tests.test_metrics import write_lpips_weights

FILES = ('metrics.json', 'per_frame.csv', 'index.html', 'images/plot_psnr.png', 'images/plot_ssim.png',
         'images/plot_warp_error.png', 'images/best_1.png', 'images/worst_1.png')


@pytest.fixture(scope='module')
def trained(tiny_render, videos):
    """The shared tiny renderer (tests/conftest.py: 8 static + 1 full epochs on 24 frames of 64 x 64), and the same
    person's novel moves at 80 x 64 (12 frames)."""
    return SimpleNamespace(data=tiny_render.data, novel=videos.novel_80x64, checkpoints=tiny_render.checkpoints)


def run(trained, results, *args):
    """evaluate.py's work (evaluation.run) in this process: (folder, metrics.json, per_frame.csv rows)."""
    page, _ = run_evaluation(EvalOptions().parse(['--gpu_ids', '-1', '--results_dir', str(results), *map(str, args)]))
    folder = os.path.dirname(page)
    for name in FILES:
        assert os.path.isfile(os.path.join(folder, name)), name
    report = json.load(open(os.path.join(folder, 'metrics.json')))
    with open(os.path.join(folder, 'per_frame.csv')) as handle:
        rows = list(csv.DictReader(handle))
    page = open(os.path.join(folder, 'index.html')).read()
    assert 'images/plot_psnr.png' in page and 'images/worst_1.png' in page and 'per_frame.csv' in page
    return folder, report, rows


def finite(report, *names):
    for name in names:
        value = report['mean'][name]
        assert isinstance(value, float) and math.isfinite(value), (name, value)


MODEL_METRICS = ('psnr', 'ssim', 'psnr_person', 'psnr_background', 'psnr_dynamic', 'psnr_person_static',
                 'psnr_render', 'psnr_person_render', 'warp_error', 'warp_error_gt', 'part_acc', 'uv_error')


def test_val_split_matches_test_py_reconstruction(trained, tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))      # no LPIPS backbone in this torch hub cache
    monkeypatch.setattr(torch.hub, '_hub_dir', None)
    folder, report, rows = run(trained, tmp_path, '--name', 'tiny', '--checkpoints_dir', str(trained.checkpoints))
    assert folder == str(tmp_path / 'tiny' / 'eval_val_latest')
    assert report['phase'] == 'val' and report['frames'] == 3 and report['frame_range'] == [22, 24]
    assert [row['frame'] for row in rows] == ['22', '23', '24']
    assert report['geometry']['mode'] == 'resize' and report['geometry']['eval_size'] == [64, 64]
    assert report['align'] == 'off (auto)' and report['geometry']['alignment'] == {'mode': 'off'}
    finite(report, *MODEL_METRICS)
    assert report['mean']['lpips'] == 'unavailable' and 'lpips_weights' in report['lpips_status']
    assert 0 <= report['mean']['part_acc'] <= 1 and 0 <= report['mean']['uv_error'] <= 1
    assert report['measured_frames']['warp_error'] == 2 and rows[0]['warp_error'] == ''
    # test.py --phase val renders the same frames from the same poses: the same PSNR
    val = drive(DriveOptions().parse(['--name', 'tiny', '--checkpoints_dir', str(trained.checkpoints), '--gpu_ids', '-1',
                                     '--phase', 'val', '--results_dir', str(tmp_path / 'drive'), '--html_frames', '0']))[0]
    summary = json.load(open(os.path.join(val, 'summary.json')))
    assert report['mean']['psnr'] == pytest.approx(summary['psnr'], abs=2e-3)


def test_novel_motion_at_another_frame_size(trained, tmp_path):
    weights = write_lpips_weights(tmp_path / 'lpips.pth')
    base = ['--name', 'tiny', '--checkpoints_dir', str(trained.checkpoints), '--dataroot', str(trained.novel)]
    folder, report, rows = run(trained, tmp_path, *base, '--lpips_weights', weights)
    assert folder == str(tmp_path / 'tiny' / 'eval_all_latest_novel')
    assert report['phase'] == 'all' and report['frames'] == 12 and len(rows) == 12
    geometry = report['geometry']
    # 80 x 64 frames fit into the 64 x 64 model frame at 0.8: compared at 64 x 51
    assert geometry['frame_size'] == [80, 64] and geometry['eval_size'] == [64, 51] and geometry['mode'] == 'fit'
    assert report['align'] == 'on (auto)' and geometry['alignment']['mode'] == 'global'
    finite(report, *MODEL_METRICS, 'lpips')
    assert report['mean']['lpips'] > 0 and report['lpips_status'] == f'alex ({weights})'
    assert os.path.isfile(os.path.join(folder, 'images', 'plot_lpips.png'))
    # unaligned: the dataset's keypoints scaled by 0.8 and centred in the model frame (6 columns each side)
    folder, report, rows = run(trained, tmp_path / 'plain', *base, '--no_align', '--how_many', '5')
    assert report['align'] == 'off' and report['geometry']['offset_in_model_frame'] == [0, 6]
    assert report['frames'] == 5 and all(float(row['valid']) == 1.0 for row in rows)
    finite(report, *MODEL_METRICS)


def test_oracle_is_exact_against_the_detail_free_render(trained, tmp_path):
    for data, size in ((trained.data, [64, 64]), (trained.novel, [80, 64])):
        folder, report, rows = run(trained, tmp_path, '--oracle', '--dataroot', str(data))
        assert folder == str(tmp_path / 'oracle' / f'eval_all_{os.path.basename(data)}')
        assert report['geometry']['eval_size'] == size and report['checkpoint'] is None
        assert report['mean']['psnr_person_render'] > 35, report['mean']
        finite(report, 'psnr', 'psnr_person', 'psnr_dynamic', 'warp_error', 'warp_error_gt')
        # what no static texture explains: far from the real frames on the dynamic details
        assert report['mean']['psnr_dynamic'] < report['mean']['psnr_person_static'] < \
            report['mean']['psnr_person_render']
        assert 'part_acc' not in report['mean']
    folder, report, _ = run(trained, tmp_path, '--oracle', '--dataroot', str(trained.novel), '--loadSize', '40',
                            '--phase', 'val', '--data_ratio', '0.5')
    assert report['geometry']['eval_size'] == [40, 32] and report['frames'] == 6
    assert report['mean']['psnr_person_render'] > 35


def test_refuses_results_inside_the_dataset(trained):
    with pytest.raises(SystemExit, match='inside the dataset'):
        run_evaluation(EvalOptions().parse(['--oracle', '--dataroot', str(trained.novel), '--results_dir',
                                            str(trained.novel / 'results')]))


def test_geometry_crops_and_inverts_exactly():
    fit = Geometry((80, 64), (64, 64), 64, 4)
    assert fit.mode == 'fit' and fit.eval_size == (64, 51) and fit.offset == (0, 6)
    model_frame = torch.randn(2, 5, 64, 64)
    assert not fit.is_identity(0)
    assert torch.allclose(warp_to_eval(model_frame, [fit.eval_to_working(0)] * 2, fit.eval_size),
                          model_frame[..., :, 6:57], atol=1e-4)
    same = Geometry((128, 128), (64, 64), 64, 4)
    assert same.mode == 'resize' and same.eval_size == (64, 64) and same.is_identity(0)
    assert same.valid_box(0) == (0, 64, 0, 64)
    # with an alignment, ground-truth point -> model frame -> back through eval_to_working lands where the
    # evaluation frame shows it
    alignment = SimpleNamespace(scale=np.array([0.7]), dx=np.array([5.0]), dy=np.array([-3.0]),
                                summary=lambda: {'mode': 'test'})
    fit.set_alignment(alignment, (64, 64))
    point = np.array([33.0, 41.0])
    ax, bx, ay, by = fit.gt_to_working(0)
    in_model = np.array([ax * point[0] + bx, ay * point[1] + by])
    ex, fx, ey, fy = fit.gt_to_eval
    in_eval = np.array([ex * point[0] + fx, ey * point[1] + fy])
    mx, nx, my, ny = fit.eval_to_working(0)
    assert np.allclose([mx * in_eval[0] + nx, my * in_eval[1] + ny], in_model)
    r0, r1, c0, c1 = fit.valid_box(0)           # scale 0.7 x 1.25 < 1: the model frame covers part of E
    assert 0 < r1 - r0 < 64 and 0 < c1 - c0 <= 51
