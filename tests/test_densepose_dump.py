"""data.prepare.densepose_dump on a dump pickled, as apply_net.py dump does (torch.save), with classes under
detectron2's module paths and names; those modules are gone when the converter reads it."""
import dataclasses
import pickle
import subprocess
import sys
import types
from typing import Optional

import numpy as np
import pytest
import torch

from data.prepare.densepose_dump import main
from data.readers import read_iuv, write_frame
from tests.helpers import ROOT

HEIGHT, WIDTH = 40, 50
MODULES = ('densepose', 'densepose.structures', 'densepose.structures.chart_result')


def _chart(rng, height, width):
    labels = torch.from_numpy(rng.integers(0, 25, (height, width))).long()
    uv = torch.from_numpy(rng.uniform(0, 1, (2, height, width))).float() * (labels > 0)
    return labels, uv


def _write_dump(path, entries_of, save=torch.save):
    """entries_of(DensePoseChartResultWithConfidences) -> the dump's list, saved (torch.save, as apply_net.py
    does today) while modules named as detectron2's hold the class; they are removed afterwards."""
    @dataclasses.dataclass
    class DensePoseChartResultWithConfidences:
        labels: torch.Tensor
        uv: torch.Tensor
        sigma_1: Optional[torch.Tensor] = None
        sigma_2: Optional[torch.Tensor] = None
        kappa_u: Optional[torch.Tensor] = None
        kappa_v: Optional[torch.Tensor] = None
        fine_segm_confidence: Optional[torch.Tensor] = None
        coarse_segm_confidence: Optional[torch.Tensor] = None

    cls = DensePoseChartResultWithConfidences
    cls.__module__, cls.__qualname__ = MODULES[-1], cls.__name__
    for name in MODULES:
        sys.modules[name] = types.ModuleType(name)
    sys.modules[MODULES[-1]].DensePoseChartResultWithConfidences = cls
    try:
        entries = entries_of(cls)
        with open(path, 'wb') as handle:
            save(entries, handle)
    finally:
        for name in MODULES:
            del sys.modules[name]
    return entries


@pytest.fixture(params=[torch.save, pickle.dump], ids=['torch.save', 'pickle.dump'])
def dump(tmp_path, request):
    """Two images of a 40 x 50 video: frame00001 with two persons (the second scores higher, its box runs
    past the left and bottom edges), frame00002 with none; the frames are in tmp_path/video."""
    rng = np.random.default_rng(0)
    frames = tmp_path / 'video'
    for stem in ('frame00001', 'frame00002'):
        write_frame(str(frames / f'{stem}.jpg'), np.full((HEIGHT, WIDTH, 3), 128, np.uint8))

    def entries_of(result):
        low, high = _chart(rng, 10, 12), _chart(rng, 15, 20)
        return [
            {'file_name': '/somewhere/video/frame00001.jpg', 'scores': torch.tensor([0.6, 0.9]),
             'pred_boxes_XYXY': torch.tensor([[5.2, 3.9, 17.6, 14.0], [-3.7, 30.2, 16.9, 45.8]]),
             'pred_densepose': [result(labels=low[0], uv=low[1]),
                                result(labels=high[0], uv=high[1], sigma_2=torch.ones(15, 20))]},
            {'file_name': '/somewhere/video/frame00002.jpg', 'scores': torch.zeros(0),
             'pred_boxes_XYXY': torch.zeros(0, 4), 'pred_densepose': []},
        ]
    path = tmp_path / 'results.pkl'
    entries = _write_dump(path, entries_of, request.param)
    return path, frames, entries


def test_best_person_pasted_at_its_box_and_clipped(dump, tmp_path, capsys):
    path, frames, entries = dump
    out = tmp_path / 'densepose'
    assert main([str(path), '--out', str(out), '--frames', str(frames), '--no_progress']) == 0
    assert 'densepose' not in sys.modules

    best = entries[0]['pred_densepose'][1]
    labels, uv = best.labels.numpy(), best.uv.numpy()
    expected = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    x0, y0 = int(-3.7), int(30.2)
    rows, cols = slice(0, HEIGHT - y0), slice(-x0, None)
    expected[y0:, :x0 + labels.shape[1], 0] = labels[rows, cols]
    expected[y0:, :x0 + labels.shape[1], 1:] = np.rint(uv[:, rows, cols] * 255).transpose(1, 2, 0)
    iuv = read_iuv(str(out / 'frame00001_IUV.png'))
    assert iuv.shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(iuv, expected)

    np.testing.assert_array_equal(read_iuv(str(out / 'frame00002_IUV.png')), 0)
    err = capsys.readouterr().err
    assert err.count('warning') == 1 and 'frame00002' in err and 'frame00001' not in err


def test_without_frames_names_what_to_pass(dump, tmp_path, capsys):
    path, _frames, _entries = dump
    assert main([str(path), '--out', str(tmp_path / 'densepose'), '--no_progress']) == 2
    err = capsys.readouterr().err
    assert str(path) in err and '--frames' in err and not (tmp_path / 'densepose').exists()


def test_missing_frame_exits_2_naming_it(dump, tmp_path, capsys):
    path, frames, _entries = dump
    (frames / 'frame00002.jpg').unlink()
    assert main([str(path), '--out', str(tmp_path / 'densepose'), '--frames', str(frames), '--no_progress']) == 2
    err = capsys.readouterr().err
    assert str(frames) in err and 'frame00002' in err and not (tmp_path / 'densepose').exists()


def test_existing_pngs_kept_unless_overwrite(dump, tmp_path, capsys):
    path, frames, _entries = dump
    out = tmp_path / 'densepose'
    args = [str(path), '--out', str(out), '--frames', str(frames), '--no_progress']
    assert main(args) == 0
    first = out / 'frame00001_IUV.png'
    first.write_bytes(b'mine')
    assert main(args) == 0
    assert first.read_bytes() == b'mine' and '--overwrite' in capsys.readouterr().out
    assert main(args + ['--overwrite']) == 0
    assert read_iuv(str(first)).max() > 0


@pytest.mark.parametrize('content', [b'not a pickle at all', b'\x80\x04\x95\x05\x00', None])
def test_bad_dump_exits_2_naming_it(tmp_path, content):
    path = tmp_path / 'results.pkl'
    if content is None:
        torch.save({'file_name': 'x.jpg'}, str(path))  # a dict, not a list of dicts
    else:
        path.write_bytes(content)
    run = subprocess.run([sys.executable, '-m', 'data.prepare.densepose_dump', str(path), '--out',
                          str(tmp_path / 'densepose')], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and str(path) in run.stderr and 'Traceback' not in run.stderr
