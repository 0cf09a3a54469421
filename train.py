"""Train the renderer on one person's video.

    python train.py --name NAME --dataroot DATA [--gpu_ids -1] [--loadSize 256] ...
    torchrun --nproc_per_node N train.py ...        (one process per GPU, or CPU processes with gloo)
"""
import os
import sys

import torch

from data.clip_dataset import ClipDataset
from data.loaders import make_loader
from data.sampler import batches_per_epoch
from models import create_model
from options.base_options import save_options
from options.train_options import TrainOptions
from util.distributed import average_scalars, barrier, cleanup, init_distributed
from util.training import TrainingLoop, resume_point
from util.visualizer import Visualizer


def validate(model, loader, sampler, epoch, device):
    """Mean validation losses over this rank's share of the val split, averaged over ranks."""
    sampler.set_epoch(epoch)
    totals, count = {}, 0
    for batch in loader:
        for name, value in model.validation_losses(batch).items():
            totals[name] = totals.get(name, 0.0) + value
        count += 1
    return average_scalars({name: value / count for name, value in totals.items()}, device) if count else {}


def main():
    options = TrainOptions()
    opt = options.parse(save=False)
    existing = os.path.join(opt.checkpoints_dir, opt.name, 'latest_checkpoint.pth')
    if os.path.exists(existing) and not opt.continue_train:
        raise SystemExit(f'{existing} exists: pass --continue_train to resume that run, or choose another '
                         '--name (nothing was overwritten)')
    save_options(opt, options.parser)
    rank, world_size = init_distributed(opt.device)
    torch.manual_seed(opt.seed)
    train_set = ClipDataset.from_options(opt, 'train')
    val_set = ClipDataset.from_options(opt, 'val') if opt.data_ratio < 1 else None
    iters_per_epoch = batches_per_epoch(len(train_set), opt.batchSize, world_size)
    if iters_per_epoch == 0:
        raise SystemExit(f'{opt.dataroot}: {len(train_set)} training clips are fewer than batchSize x processes '
                         f'({opt.batchSize} x {world_size}); lower --batchSize or add frames')

    model = create_model(opt, train_set)
    progress = {'epoch': 1, 'epoch_iter': 0, 'iteration': 0}
    if opt.continue_train:
        progress = model.load(opt.which_epoch)
    elif opt.load_pretrain_TransG:
        model.load_pretrained_trans(opt.load_pretrain_TransG, opt.which_epoch_TransG)
    start_epoch, start_batch = resume_point(progress, iters_per_epoch)
    if opt.continue_train and rank == 0:
        print(f'resuming at epoch {start_epoch}, iteration {progress.get("iteration", 0)} '
              f'({start_batch} of {iters_per_epoch} batches of that epoch done)')

    visualizer = Visualizer(model.run_dir, tf_log=opt.tf_log, enabled=rank == 0)
    loader, sampler = make_loader(train_set, opt, rank, world_size, shuffle=True)
    if val_set is not None and len(val_set):
        val_loader, val_sampler = make_loader(val_set, opt, rank, world_size, shuffle=False, allow_empty=True)
    else:
        val_loader = None
    total_epochs = opt.niter + opt.niter_decay
    def save(label, epoch, epoch_iter):
        if rank == 0:
            model.save(label, {'epoch': epoch, 'epoch_iter': epoch_iter, 'iteration': loop.iteration})
            model.save_appearance(label)
        barrier()

    loop = TrainingLoop(model, opt, visualizer, rank, progress.get('iteration', 0), save)

    for epoch in range(start_epoch, total_epochs + 1):
        model.set_epoch(epoch)
        sampler.set_epoch(epoch, start_batch)
        stage = 'full' if model.full_stage else 'static'
        loop.run_epoch(loader, epoch, total_epochs, iters_per_epoch, start_batch, stage)
        start_batch = 0
        loop.check_ranks_in_sync(model.generator, world_size, epoch)
        if val_loader is not None:
            val_losses = validate(model, val_loader, val_sampler, epoch, opt.device)
            if val_losses:
                visualizer.log_losses(val_losses, epoch, loop.iteration, phase='val')
        save('latest', epoch, iters_per_epoch)
        if epoch % opt.save_epoch_freq == 0 or epoch == total_epochs:
            save(str(epoch), epoch, iters_per_epoch)
    if rank == 0 and loop.iteration > 0 and 'data' in model.visual_cache:
        visualizer.display(model.visuals(), total_epochs, loop.iteration)
    visualizer.close()
    cleanup()
    return loop.iteration


if __name__ == '__main__':
    sys.exit(0 if main() is not None else 1)
