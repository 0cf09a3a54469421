"""Inference engines and the ONNX export on the tiny trained models: test.py's path computes what the full
forward pass computes, every engine gives eager fp32's frames (max |difference| <= 1e-3 on [-1, 1] outputs),
the export round trip (export.py -> ONNX Runtime, any batch size) and test.py --engine onnxruntime give the
same frames, and an engine that cannot run here falls back to eager saying so. The ONNX tests skip without
onnxruntime."""
import glob
import json
import os
import sys

import numpy as np
import pytest
import torch

from data.readers import read_frame
from inference import engines
from inference.drive import drive
from inference.engines import load_engine
from inference.export import file_sha256, onnx_path
from models.loading import load_model
from options.test_options import TestOptions
from tests.helpers import SIZE, TINY, run_script
from util.checkpoint import checkpoint_path
from util.texture_sampling import render, render_plain

PARITY = 1e-3        # the bound on [-1, 1] outputs


def tiny_flags():
    """TINY as (flag, value or '') pairs."""
    pairs = []
    for word in TINY:
        if word.startswith('--'):
            pairs.append([word, ''])
        else:
            pairs[-1][1] = word
    return pairs


def poses(count, channels=3, seed=0):
    return torch.rand(count, channels, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def largest_difference(a, b):
    return max(float((a[name] - b[name]).abs().max()) for name in a)


def eager_frames(model, pose):
    return load_engine('eager', model, (SIZE, SIZE))(pose)


@pytest.fixture(scope='module')
def render_run(tiny_render):
    return str(tiny_render.checkpoints / tiny_render.name)


@pytest.fixture(scope='module')
def pose2image_run(tiny_pose2image):
    return str(tiny_pose2image[0] / 'checkpoints' / 'edn')


@pytest.mark.parametrize('min_prob', [0.0, 0.05])
def test_plain_texture_sampling_equals_render(min_prob):
    generator = torch.Generator().manual_seed(1)
    texture = torch.randn(1, 24 * 5, 8, 8, generator=generator)
    uv = torch.rand(2, 48, 6, 7, generator=generator) * 2.2 - 1.1           # some outside [-1, 1]: border
    probs = torch.softmax(3 * torch.randn(2, 25, 6, 7, generator=generator), 1)
    with torch.no_grad():
        expected = render(texture, uv, probs, min_prob=min_prob)
        traced = torch.jit.trace(lambda t, u, p: render(t, u, p, min_prob=min_prob), (texture, uv, probs))
    assert float((render_plain(texture, uv, probs, min_prob) - expected).abs().max()) < 1e-5
    assert float((traced(texture, uv, probs) - expected).abs().max()) < 1e-5     # tracing takes the plain form


@pytest.mark.parametrize('label, full', [('latest', True), ('4', False)])
def test_frames_are_what_the_full_forward_pass_computes(render_run, label, full):
    model, _, _ = load_model(render_run, label)
    assert model.full_stage is full                 # epoch 4: static stage, the texture render alone
    pose = poses(3)
    frames = eager_frames(model, pose)
    assert set(frames) == {'output', 'person', 'alpha'}
    result = model.infer(pose)
    expected = {'output': result['output'], 'person': result['person'], 'alpha': 1 - result['bg_prob']}
    assert largest_difference(frames, expected) < 1e-5


@pytest.mark.parametrize('engine', ['channels_last', 'onnxruntime'])
def test_engines_give_the_eager_frames_at_any_batch_size(render_run, pose2image_run, engine, tmp_path):
    if engine == 'onnxruntime':
        pytest.importorskip('onnxruntime')
    for run_dir in (render_run, pose2image_run):
        model, _, working = load_model(run_dir)
        pose = poses(3)
        expected = eager_frames(model, pose)
        loaded = load_engine(engine, model, working, batch_size=2, onnx_file=str(tmp_path / 'generator.onnx'))
        assert loaded.name == engine
        frames = {name: torch.cat([a, b]) for (name, a), b in zip(loaded(pose[:2]).items(),
                                                                    loaded(pose[2:]).values())}
        assert set(frames) == set(expected)
        assert largest_difference(frames, expected) <= PARITY


@pytest.mark.skipif(engines.cxx_compiler() is None, reason='torch.compile needs a C++ compiler')
def test_compile_gives_the_eager_frames_and_pads_a_short_last_batch(pose2image_run):
    model, _, working = load_model(pose2image_run)
    pose = poses(3)
    expected = eager_frames(model, pose)
    loaded = load_engine('compile', model, working, batch_size=2, log=pytest.fail)   # no fallback allowed
    frames = {'output': torch.cat([loaded(pose[:2])['output'], loaded(pose[2:])['output']])}
    assert frames['output'].shape == expected['output'].shape
    assert largest_difference(frames, expected) <= PARITY


def test_exported_instance_norm_is_accurate_on_a_nearly_constant_full_size_channel(tmp_path):
    ort = pytest.importorskip('onnxruntime')
    from models.networks.generators import InstanceNorm
    torch.manual_seed(0)
    x = torch.randn(1, 4, 256, 256) * 0.05 + 3.0        # a pose image's background after the first conv
    norm, path = InstanceNorm(4), str(tmp_path / 'norm.onnx')
    with torch.no_grad():
        torch.onnx.export(norm, (x,), path, dynamo=False, opset_version=17, input_names=['x'], output_names=['y'])
    got = ort.InferenceSession(path, providers=['CPUExecutionProvider']).run(None, {'x': x.numpy()})[0]
    exact = torch.nn.functional.instance_norm(x.double())
    eager_error = float((norm(x).double() - exact).abs().max())
    assert float((torch.from_numpy(got).double() - exact).abs().max()) <= max(2 * eager_error, 1e-5)


def test_export_round_trip(render_run, pose2image_run, tmp_path):
    ort = pytest.importorskip('onnxruntime')
    for run_dir, outputs in ((render_run, ['output', 'person', 'alpha']), (pose2image_run, ['output'])):
        done = run_script('export.py', '--name', os.path.basename(run_dir), '--checkpoints_dir',
                          os.path.dirname(run_dir))
        path = onnx_path(run_dir)
        assert done.stdout.splitlines()[0] == path and os.path.isfile(path)
        assert f'pose [batch, 3, {SIZE}, {SIZE}] -> {", ".join(outputs)}' in done.stdout
        session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
        assert [o.name for o in session.get_outputs()] == outputs
        assert session.get_inputs()[0].shape == ['batch', 3, SIZE, SIZE]
        meta = session.get_modelmeta().custom_metadata_map
        assert meta['checkpoint_sha256'] == file_sha256(checkpoint_path(run_dir, 'latest'))
        model, _, _ = load_model(run_dir)
        for count in (1, 3):
            pose = poses(count, seed=count)
            frames = dict(zip(outputs, (torch.from_numpy(o) for o in session.run(None, {'pose': pose.numpy()}))))
            assert largest_difference(frames, eager_frames(model, pose)) <= PARITY
    other = tmp_path / 'epoch4.onnx'
    done = run_script('export.py', '--name', os.path.basename(render_run), '--checkpoints_dir',
                      os.path.dirname(render_run), '--which_epoch', '4', '--output', other)
    assert other.is_file() and 'max |difference|' in done.stdout


def test_an_export_of_another_checkpoint_is_redone(render_run, tmp_path):
    pytest.importorskip('onnxruntime')
    model, _, working = load_model(render_run)
    messages, path = [], str(tmp_path / 'generator.onnx')

    def load(label):
        return load_engine('onnxruntime', model, working, checkpoint=checkpoint_path(render_run, label),
                           onnx_file=path, log=messages.append)
    load('latest')
    load('latest')
    assert len(messages) == 1 and messages[0].startswith(f'exported the generator to {path}')
    load('4')                                   # another checkpoint's sha256: exported again
    assert len(messages) == 2


def test_unavailable_engines_fall_back_to_eager(render_run, monkeypatch):
    model, _, working = load_model(render_run)
    messages = []
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)          # import onnxruntime fails
    for name in ('onnxruntime', 'auto'):
        assert load_engine(name, model, working, log=messages.append).name == 'eager'
    assert messages == ['--engine onnxruntime unavailable: onnxruntime is not installed (pip install onnx '
                        'onnxruntime); using eager']          # auto runs eager (the measured fastest) directly
    monkeypatch.setattr(engines.shutil, 'which', lambda name: None)
    monkeypatch.delenv('CXX', raising=False)
    messages.clear()
    assert load_engine('compile', model, working, log=messages.append).name == 'eager'
    assert len(messages) == 1 and 'needs a C++ compiler' in messages[0] and messages[0].endswith('using eager')


def test_a_compiler_error_falls_back_to_eager_on_the_first_batch(render_run, monkeypatch):
    def broken(module, **options):
        def run(pose):
            raise RuntimeError('CppCompileError: no such header\nmore lines')
        return run
    monkeypatch.setattr(engines, 'cxx_compiler', lambda: '/usr/bin/g++')
    monkeypatch.setattr(engines.torch, 'compile', broken)
    model, _, working = load_model(render_run)
    messages = []
    loaded = load_engine('compile', model, working, batch_size=2, log=messages.append)
    pose = poses(2)
    assert largest_difference(loaded(pose), eager_frames(model, pose)) == 0
    assert messages == ['--engine compile failed (RuntimeError: CppCompileError: no such header); using eager']
    loaded(pose)
    assert len(messages) == 1


def test_test_py_frames_with_onnxruntime_equal_the_eager_frames(tiny_render, tmp_path):
    pytest.importorskip('onnxruntime')
    folders = {}
    for engine in ('eager', 'onnxruntime'):
        argv = ['--name', tiny_render.name, '--checkpoints_dir', tiny_render.checkpoints, '--gpu_ids', '-1',
                '--results_dir', tmp_path / engine, '--phase', 'val', '--batch_size', '2', '--save_mask',
                '--engine', engine]
        folders[engine] = drive(TestOptions().parse([str(a) for a in argv]))[0]
    assert os.path.isfile(onnx_path(str(tiny_render.checkpoints / tiny_render.name)))   # kept beside the checkpoint
    for kind in ('frames', 'mask'):
        eager = sorted(glob.glob(os.path.join(folders['eager'], kind, '*.png')))
        ort = sorted(glob.glob(os.path.join(folders['onnxruntime'], kind, '*.png')))
        assert len(eager) == 3 and [os.path.basename(p) for p in ort] == [os.path.basename(p) for p in eager]
        for a, b in zip(eager, ort):     # 1e-3 on [-1, 1] is 0.13 of a level: rounding may move a pixel one level
            assert np.abs(read_frame(a).astype(int) - read_frame(b).astype(int)).max() <= 1


def test_engine_flag_is_checked():
    with pytest.raises(SystemExit):
        TestOptions().parse(['--name', 'x', '--pose_path', 'p', '--engine', 'tensorrt'])
    assert TestOptions().parse(['--name', 'x', '--pose_path', 'p']).engine == 'auto'


def test_benchmark_reports_each_engine_against_eager(tmp_path):
    pytest.importorskip('onnxruntime')
    given = {'--gpu_ids', '--loadSize', '--nThreads', '--data_ratio'}       # benchmark.py passes these itself
    flags = ' '.join(f'{flag} {value}' if value else flag for flag, value in tiny_flags() if flag not in given)
    out = tmp_path / 'speed.json'
    run_script('benchmark.py', '--preset', 'default', '--size', '64', '--gpu_ids', '-1', '--parts', 'infer',
               '--infer_frames', '2', '--infer_batch', '2', '--engines', 'onnxruntime,full_forward',
               f'--flags={flags}', '--json', out)
    infer = json.loads(out.read_text())['infer']
    assert list(infer['engines']) == ['eager', 'onnxruntime', 'full_forward']
    assert infer['engines']['eager']['max_diff'] == 0
    for name, numbers in infer['engines'].items():
        assert numbers['ran'] == name and numbers['frames_per_s'] > 0 and numbers['max_diff'] <= PARITY
    assert infer['engine'] == 'eager' and infer['infer_frames_per_s'] == infer['engines']['eager']['frames_per_s']
