"""Activation recomputation (--checkpoint_activations): a network runs in segments whose inner
activations are freed after the forward pass and recomputed during backward, which trades about one
extra forward pass of compute for most of the activation memory.

Networks that support it have a ``recompute`` flag (off by default) and call ``run`` on their segments.
"""
import torch
from torch.utils.checkpoint import checkpoint, checkpoint_sequential


def active(module, x):
    """Recompute only when asked to and when there is a backward pass to recompute for."""
    return module.recompute and torch.is_grad_enabled() and x.requires_grad


def run(segment, x, enabled):
    return checkpoint(segment, x, use_reentrant=False) if enabled else segment(x)


def run_sequential(sequential, x, enabled):
    """A long nn.Sequential in about sqrt(len) recomputed segments (the segment outputs are kept)."""
    if not enabled:
        return sequential(x)
    segments = max(1, round(len(sequential) ** 0.5))
    return checkpoint_sequential(sequential, segments, x, use_reentrant=False)


def set_recompute(root, enabled=True):
    """Set the flag on every submodule of root that has one; returns how many modules were set."""
    count = 0
    for module in root.modules():
        if hasattr(module, 'recompute'):
            module.recompute = enabled
            count += 1
    return count
