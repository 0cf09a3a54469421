"""torch.distributed set-up for torchrun: gloo on CPU, nccl on CUDA; rank 0 alone writes files."""
import os

import torch
import torch.distributed as dist


def init_distributed(device):
    """Join the process group when launched by torchrun (also as its only rank: torchrun --nproc_per_node 1
    runs the distributed path, DDP included); returns (rank, world_size)."""
    if 'RANK' not in os.environ or 'MASTER_ADDR' not in os.environ:
        return 0, 1
    if not dist.is_initialized():
        backend = 'nccl' if device.type == 'cuda' else 'gloo'
        if device.type == 'cuda':
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def is_distributed():
    return dist.is_available() and dist.is_initialized()


def process_group_summary():
    """'N ranks, backend B' of the process group joined (None outside torchrun)."""
    if not is_distributed():
        return None
    return f'{dist.get_world_size()} rank{"s" if dist.get_world_size() > 1 else ""}, backend {dist.get_backend()}'


def barrier():
    if is_distributed():
        dist.barrier()


def average_scalars(values, device):
    """Mean of a dict of floats over all ranks (identical dict keys on every rank)."""
    if not is_distributed() or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    tensor /= dist.get_world_size()
    return dict(zip(keys, tensor.tolist()))


def cleanup():
    """Leave the process group together: a gloo rank torn down while another still talks to it aborts."""
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()


def all_ranks_true(flag, device):
    """True only if ``flag`` holds on every rank (so all ranks skip or take a step together)."""
    if not is_distributed():
        return flag
    tensor = torch.tensor([0.0 if flag else 1.0], device=device)
    dist.all_reduce(tensor)
    return tensor.item() == 0


def max_rank_difference(module, device):
    """Largest absolute difference of any parameter between ranks (0 when they are in sync)."""
    if not is_distributed():
        return 0.0
    flat = torch.cat([p.detach().float().flatten() for p in module.parameters()]).to(device)
    high, low = flat.clone(), flat.clone()
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    return float((high - low).max())
