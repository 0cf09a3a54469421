"""Per-epoch sample order that is reproducible, sharded across ranks and resumable mid-epoch."""
import torch
from torch.utils.data import Sampler


def batches_per_epoch(length, batch_size, world_size=1):
    return (length // world_size) // batch_size


class EpochSampler(Sampler):
    """Indices of one epoch: a permutation seeded by (seed, epoch), this rank's shard, full batches only,
    starting after ``start_batch`` batches, so a resumed run sees exactly the samples it had left.

    Iterated in the main process, so ``set_epoch`` works with persistent DataLoader workers."""

    def __init__(self, length, batch_size, seed=0, shuffle=True, rank=0, world_size=1):
        self.length, self.batch_size, self.seed, self.shuffle = length, batch_size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.indices = []
        self.set_epoch(1)

    def set_epoch(self, epoch, start_batch=0):
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100003 + epoch)
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        count = batches_per_epoch(self.length, self.batch_size, self.world_size) * self.batch_size
        self.indices = order[self.rank::self.world_size][:count][start_batch * self.batch_size:]

    def __iter__(self):
        return iter(list(self.indices))

    def __len__(self):
        return len(self.indices)
