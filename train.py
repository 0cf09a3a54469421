"""Train the renderer on one person's video.

    python train.py --name NAME --dataroot DATA [--gpu_ids -1] [--loadSize 256] ...
    torchrun --nproc_per_node N train.py ...        (one process per GPU, or CPU processes with gloo)
"""
import os

import torch

from data.clip_dataset import ClipDataset
from data.loaders import make_loader
from models import create_model, model_class
from options.base_options import save_options
from options.train_options import TrainOptions
from util.distributed import average_scalars, cleanup, init_distributed, process_group_summary
from util.errors import run_main
from util.training import TrainingLoop
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

    # Data: clips of the first data_ratio of the video train, the rest (the end) validates. Every file
    # of both is checked first; any problem stops the run here, all of them listed.
    model_type = model_class(opt.model)
    needs_densepose = model_type.reads_densepose
    train_set = ClipDataset.from_options(opt, 'train', require_densepose=needs_densepose, validate=True,
                                         plates=model_type.reads_plates)
    rank, world_size = init_distributed(opt.device)
    if rank == 0 and process_group_summary():
        print(f'distributed: {process_group_summary()}')
    torch.manual_seed(opt.seed)
    try:
        loader, sampler = make_loader(train_set, opt, rank, world_size, shuffle=True)
    except ValueError as error:
        raise SystemExit(f'{opt.dataroot}: training clips: {error}') from error
    validation = None
    if opt.data_ratio < 1:
        val_set = ClipDataset.from_options(opt, 'val', require_densepose=needs_densepose)
        if len(val_set):
            validation = make_loader(val_set, opt, rank, world_size, shuffle=False, allow_empty=True)

    # Model: new, resumed from its checkpoint, or started from a pre-trained UV generator. Nothing is
    # written before the data and the checkpoint have been read.
    model = create_model(opt, train_set)
    progress = {}
    if opt.continue_train:
        progress = model.load(opt.which_epoch)
    elif opt.load_pretrain_TransG:
        model.load_pretrained_trans(opt.load_pretrain_TransG, opt.which_epoch_TransG)
    save_options(opt, options.parser)
    visualizer = Visualizer(model.run_dir, tf_log=opt.tf_log, enabled=rank == 0)
    loop = TrainingLoop(model, opt, visualizer, rank, world_size, progress, len(loader))
    if opt.continue_train and rank == 0:
        print(loop.describe_resume())

    # Static epochs (texture render), then the full model; validate and save after each epoch.
    with loop.stop_cleanly():
        for epoch in loop.epochs():
            loop.run_epoch(loader, sampler, epoch, stage='full' if model.full_stage else 'static')
            loop.check_ranks_in_sync(torch.nn.ModuleList(model.networks().values()), epoch)   # G and D
            if validation is not None:
                val_losses = validate(model, *validation, epoch, opt.device)
                if val_losses:
                    visualizer.log_losses(val_losses, epoch, loop.iteration, phase='val')
            loop.end_epoch(epoch)
    if rank == 0 and loop.iteration > 0 and 'data' in model.visual_cache:
        visualizer.display(model.visuals(), loop.total_epochs, loop.iteration)
    visualizer.close()
    cleanup()


if __name__ == '__main__':
    run_main(main)
