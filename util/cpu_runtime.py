"""Process-wide CPU settings that make training and inference faster without changing any result."""
import ctypes
import os
import sys

import torch

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
HEAP_MAX_BLOCK = 64 << 20
HEAP_TRIM_THRESHOLD = 1 << 30
OPT_OUT_ENV = 'NHR_DEFAULT_MALLOC'
# CPU feature flags (Linux /proc/cpuinfo) of bf16 arithmetic in hardware: x86 AVX-512 BF16 or AMX, Arm BF16
NATIVE_BF16_FLAGS = ('avx512_bf16', 'amx_bf16', 'bf16')


def tune_cpu_runtime():
    """Flush denormals to zero and keep freed buffers mapped; returns whether the latter applied."""
    # GAN training drives many activations and gradients into the denormal range, where x86 CPUs
    # run 10x slower; flushing them to zero changes no result that matters.
    torch.set_flush_denormal(True)
    return keep_freed_buffers()


def keep_freed_buffers():
    """Serve buffers up to 64 MiB from glibc's heap and return freed heap memory only above 1 GiB.

    By default glibc maps every buffer above its mmap threshold (at most 32 MiB) afresh and unmaps it
    when freed, so each activation, gradient or sampling buffer of a step page-faults on new zeroed
    pages. Keeping them made CPU training steps at 256 px 15-19% faster for 1-4% more peak memory
    (benchmark.py). Larger buffers stay mapped per use: a 256 MiB limit was no faster at 256 px and
    cost 1.6 GB more peak memory at 512 px (heap fragmentation). Returns whether the setting was
    applied: not off glibc, not when the user tuned malloc through MALLOC_* or GLIBC_TUNABLES, not with
    NHR_DEFAULT_MALLOC=1.
    """
    user_tuned = any(key.startswith('MALLOC_') for key in os.environ) or 'GLIBC_TUNABLES' in os.environ
    if not sys.platform.startswith('linux') or user_tuned or os.environ.get(OPT_OUT_ENV) == '1':
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, HEAP_MAX_BLOCK)) and bool(mallopt(_M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD))


def cpu_feature_flags(cpuinfo='/proc/cpuinfo'):
    """The CPU's feature flags ('flags' on x86, 'Features' on Arm) from the first processor listed; an empty
    set where the file does not exist (not Linux)."""
    try:
        with open(cpuinfo, encoding='utf-8', errors='replace') as handle:
            for line in handle:
                key, _, value = line.partition(':')
                if key.strip() in ('flags', 'Features'):
                    return set(value.split())
    except OSError:
        pass
    return set()


def native_bf16(flags=None):
    """Whether this CPU computes bf16 in hardware; without, torch emulates it and --amp bf16 runs slower
    than fp32 (more than 4x on an AMD EPYC without AVX-512: issue 14). None when the flags are unknown."""
    flags = cpu_feature_flags() if flags is None else flags
    if not flags:
        return None
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


def bf16_warning(flags=None):
    """The warning for --amp bf16 on this CPU, or None when bf16 is native (or the flags are unknown)."""
    if native_bf16(flags) is False:
        return ('--amp bf16 on a CPU without bf16 instructions (no avx512_bf16 / amx_bf16 / bf16 flag): torch '
                'emulates it, which is slower than fp32 here; use --amp none on this machine')
    return None
