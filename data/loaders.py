"""DataLoaders over clip datasets: the resumable training order, every-frame evaluation shards, batching."""
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from torch.utils.data._utils.collate import default_collate

from data.sampler import EpochSampler, batches_per_epoch


def seed_worker(worker_id):
    """DataLoader worker_init_fn: seed numpy and random from the worker's torch seed."""
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


def collate_clips(samples):
    """default_collate, except 'paths' stays a list (batch) of lists (T) of frame paths."""
    if not (isinstance(samples[0], dict) and 'paths' in samples[0]):
        return default_collate(samples)
    paths = [sample['paths'] for sample in samples]
    batch = default_collate([{k: v for k, v in sample.items() if k != 'paths'} for sample in samples])
    batch['paths'] = paths
    return batch


def make_loader(dataset, opt, rank, world_size, shuffle, allow_empty=False):
    """(loader, sampler): full batches of this rank's shard in a per-epoch order seeded by --seed that
    ``sampler.set_epoch(epoch, start_batch)`` can resume mid-epoch (data.sampler.EpochSampler).
    Without allow_empty, a dataset too small for one batch per rank is a ValueError."""
    if not allow_empty and batches_per_epoch(len(dataset), opt.batchSize, world_size) == 0:
        raise ValueError(f'{len(dataset)} samples are fewer than batchSize x processes ({opt.batchSize} x '
                         f'{world_size}): no full batch; lower --batchSize or add frames')
    sampler = EpochSampler(len(dataset), opt.batchSize, opt.seed, shuffle, rank, world_size)
    loader = DataLoader(dataset, batch_size=opt.batchSize, sampler=sampler, num_workers=opt.nThreads,
                        persistent_workers=opt.nThreads > 0, worker_init_fn=seed_worker,
                        collate_fn=collate_clips, drop_last=True, pin_memory=opt.device.type == 'cuda')
    return loader, sampler


def make_eval_loader(dataset, opt, rank, world_size):
    """Every frame of ``dataset`` once over all ranks (rank r takes frames r, r + world_size, ...)."""
    shard = Subset(dataset, range(rank, len(dataset), world_size))
    return DataLoader(shard, batch_size=opt.batchSize, shuffle=False, num_workers=opt.nThreads,
                      persistent_workers=opt.nThreads > 0, worker_init_fn=seed_worker, collate_fn=collate_clips)
