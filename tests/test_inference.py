"""test.py's flags and outputs without a trained model: the training-only flags it inherits are refused with
a message naming what to use instead, and summary.json stays valid JSON when a held-out frame is rendered
exactly (PSNR inf)."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from evaluation.metrics import psnr
from inference.output_format import OutputFormat
from inference.summary import write_summary
from options import test_options        # the module: pytest would try to collect a class named Test*
from options.test_options import TRAINING_FLAGS, TRAINING_ONLY
from tests.helpers import run_script

DRIVE = ['--name', 'tiny', '--pose_path', 'driving/openpose_json']
VALUES = {'batchSize': '2', 'nThreads': '0', 'max_dataset_size': '10', 'clip_length': '3', 'seed': '0'}


@pytest.mark.parametrize('name', sorted(TRAINING_ONLY))
def test_training_only_flag_is_refused(name, capsys):
    flag = [f'--{name}'] + ([VALUES[name]] if name in VALUES else [])
    with pytest.raises(SystemExit) as refused:
        test_options.TestOptions().parse(DRIVE + flag)
    assert refused.value.code == 2
    assert f'error: --{name} is a training flag; {TRAINING_ONLY[name]}' in capsys.readouterr().err


def test_script_refuses_batchSize_and_names_batch_size():
    result = run_script('test.py', *DRIVE, '--batchSize', '4', check=False)
    assert result.returncode == 2, result.stderr[-3000:]
    assert 'error: --batchSize is a training flag; test.py batches with --batch_size' in result.stderr


def test_flags_test_py_reads_still_parse():
    opt = test_options.TestOptions().parse(DRIVE + ['--batch_size', '3', '--amp', 'bf16', '--ngf', '32',
                                                    '--gpu_ids', '-1'])
    assert opt.batch_size == 3 and opt.amp == 'bf16' and opt.ngf == 32       # --ngf: warned about by test.py
    assert not any(hasattr(opt, name) for name in TRAINING_ONLY)              # test_opt.txt lists none of them
    assert not set(TRAINING_FLAGS) & set(TRAINING_ONLY)


class HeldOut(list):
    """A stand-in for data.driving.HeldOutFrames: one frame rendered exactly, one not."""

    def summary(self):
        image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
        return {'held_out_frames': [22, 23], 'psnr': float(np.mean([psnr(image, image), 30.0]))}


def test_summary_json_is_valid_with_an_infinite_psnr(tmp_path):
    opt = SimpleNamespace(phase='val', which_epoch='latest')
    summary = write_summary(str(tmp_path), opt, HeldOut([0, 1]), (64, 64), OutputFormat((128, 96), 25.0))
    assert summary['psnr'] == float('inf')                   # the page shows the number itself

    def strict(constant):
        raise ValueError(f'summary.json holds {constant}, which strict JSON readers reject')
    stored = json.loads((tmp_path / 'summary.json').read_text(), parse_constant=strict)
    assert stored['psnr'] == 'inf' and float(stored['psnr']) == float('inf')
    assert stored['frames'] == 2 and stored['working_size'] == [64, 64]
    assert stored['output_size'] == [128, 96] and stored['fps'] == 25.0 and 'driving_video' not in stored
