"""util.cpu_runtime: freed buffers stay mapped, so repeated training steps stop page-faulting; bf16 in hardware
is read from the CPU flags."""
import os
import platform
import subprocess
import sys

import pytest

from util.cpu_runtime import bf16_warning, cpu_feature_flags, native_bf16

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = '''
import resource, torch
from util.cpu_runtime import tune_cpu_runtime
applied = tune_cpu_runtime()
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1))
x = torch.randn(4, 3, 384, 384)  # activations of 36 MiB: above glibc's largest dynamic mmap threshold (32 MiB)

def step():
    net.zero_grad(set_to_none=True)
    net(x).square().mean().backward()

step(); step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
print(applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 3)
'''


def probe(**env):
    """Run PROBE with the caller's environment minus any malloc tuning of its own, plus ``env``."""
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith('MALLOC_') and k not in ('GLIBC_TUNABLES', 'NHR_DEFAULT_MALLOC')}
    done = subprocess.run([sys.executable, '-c', PROBE], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={**inherited, **env})
    applied, faults = done.stdout.split()
    return applied == 'True', int(faults)


def transparent_huge_pages_always():
    try:
        with open('/sys/kernel/mm/transparent_hugepage/enabled') as f:
            return '[always]' in f.read()
    except OSError:
        return False


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='mallopt tuning applies to glibc only')
def test_training_steps_reuse_freed_buffers():
    applied, faults = probe()
    applied_default, faults_default = probe(NHR_DEFAULT_MALLOC='1')
    assert applied and not applied_default
    if not transparent_huge_pages_always():  # huge pages would hide the default's page faults
        assert faults * 5 < faults_default, f'page faults per step: {faults} kept vs {faults_default} default'


def test_user_malloc_settings_win():
    applied, _ = probe(MALLOC_ARENA_MAX='2')
    assert not applied


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    epyc = tmp_path / 'epyc'
    epyc.write_text('processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu avx512_bf16\n')
    sapphire = tmp_path / 'sapphire'
    sapphire.write_text('processor\t: 0\nflags\t\t: avx512f avx512_bf16 amx_bf16\n')
    arm = tmp_path / 'arm'
    arm.write_text('processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n')
    assert cpu_feature_flags(str(epyc)) == {'fpu', 'sse2', 'avx2', 'fma'}          # the first processor's
    assert native_bf16(cpu_feature_flags(str(epyc))) is False
    assert native_bf16(cpu_feature_flags(str(sapphire))) is True
    assert native_bf16(cpu_feature_flags(str(arm))) is True
    assert native_bf16(cpu_feature_flags(str(tmp_path / 'absent'))) is None         # not Linux: unknown
    assert '--amp none' in bf16_warning({'fpu', 'avx2'})
    assert bf16_warning({'amx_bf16'}) is None and bf16_warning(set()) is None
