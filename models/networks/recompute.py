"""Activation recomputation (--checkpoint_activations): a network runs in segments whose inner
activations are freed after the forward pass and recomputed during backward, which trades about one
extra forward pass of compute for most of the activation memory.

Networks that support it have a ``recompute`` flag (off by default) and call ``run`` on their segments.
"""
import functools

import torch
from torch.utils.checkpoint import checkpoint


def active(module):
    """Recompute only when asked to and when autograd records (a backward pass may follow); the input
    need not require grad: a generator's pose input does not, its parameters do."""
    return module.recompute and torch.is_grad_enabled()


def run(segment, x, enabled):
    return checkpoint(segment, x, use_reentrant=False) if enabled else segment(x)


def run_each(segments, x, enabled):
    """x through each segment in turn; returns every segment's output (a feature pyramid)."""
    outputs = []
    for segment in segments:
        x = run(segment, x, enabled)
        outputs.append(x)
    return outputs


def segments(layers):
    """Split layers into runs of about sqrt(len) layers. A run never starts with an in-place layer
    (ReLU(True)): it would overwrite the previous run's output, which that run's recompute needs."""
    layers = list(layers)
    size = max(1, round(len(layers) ** 0.5))
    runs = [[]]
    for layer in layers:
        if len(runs[-1]) >= size and not getattr(layer, 'inplace', False):
            runs.append([])
        runs[-1].append(layer)
    return runs


def _run_layers(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def run_sequential(sequential, x, enabled):
    """A long nn.Sequential in recomputed segments (only the segments' outputs are kept)."""
    if not enabled:
        return sequential(x)
    for layers in segments(sequential):
        x = checkpoint(functools.partial(_run_layers, layers), x, use_reentrant=False)
    return x


def set_recompute(root, enabled=True):
    """Set the flag on every submodule of root that has one; returns how many modules were set."""
    count = 0
    for module in root.modules():
        if hasattr(module, 'recompute'):
            module.recompute = enabled
            count += 1
    return count
