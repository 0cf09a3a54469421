"""Person-agnostic pre-training of the UV generator on (pose image -> DensePose parts + UV, mask).

    python pretrainTrans.py --name NAME --dataroot A,B,C [--gpu_ids -1] [--loadSize 256] ...
    torchrun --nproc_per_node N pretrainTrans.py ...
    python pretrainTrans.py --name NAME --eval_only --dataroot D [--which_epoch latest]

Every dataset of --dataroot (seed layout; pose JSON, densepose/ and mask/ are used, flow is not)
contributes its first --data_ratio of frames to one training set and the rest to its validation
split. Each dataset keeps its own working size (long side --loadSize, aspect kept); with
--batchSize > 1 they must all have the same one, otherwise use --batchSize 1.

Each epoch ends with part accuracy and UV error on the val split of every dataset (definitions in
models/trans_model.py), logged to loss_log.txt (phase val), shown as a table on web/index.html with
visuals of each val split. Checkpoints hold the generator as networks['trans'], so
    python train.py ... --load_pretrain_TransG checkpoints/NAME [--which_epoch_TransG latest]
starts from it (with the same --ngf_translate --n_downsample_translate --n_blocks_translate --norm).
--eval_only measures a checkpoint (this script's or train.py's) on every frame of other datasets.
"""
import os

import torch
from torch.utils.data import ConcatDataset

from data.loaders import make_eval_loader, make_loader
from data.multi_dataset import POOLED, check_working_sizes, dataset_names, load_datasets
from evaluation.uv_generator import PretrainVisualizer, evaluate_all, format_metrics
from models import apply_recompute
from models.trans_model import TransModel
from options.flag_history import trained_option
from options.pretrain_options import ARCHITECTURE_OPTIONS, DEFAULT_LOAD_SIZE, PretrainOptions
from util.checkpoint import checkpoint_path, load_checkpoint
from util.distributed import cleanup, init_distributed
from util.errors import run_main
from util.training import TrainingLoop


def evaluate_checkpoint(opt):
    """--eval_only: metrics of a checkpoint's UV generator on every frame of each --dataroot."""
    rank, world_size = init_distributed(opt.device)
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    path = checkpoint_path(run_dir, opt.which_epoch)
    try:
        state = load_checkpoint(path, map_location=opt.device)
    except (FileNotFoundError, RuntimeError) as error:
        raise SystemExit(f'{error}; check --checkpoints_dir, --name and --which_epoch')
    if 'trans' not in state.get('networks', {}):
        raise SystemExit(f'{path}: holds no UV generator ("trans") weights')
    saved = state.get('options', {})
    for name in ARCHITECTURE_OPTIONS:       # build the network the checkpoint was trained with
        setattr(opt, name, trained_option(saved, name, getattr(opt, name)))
    opt.size_multiple = 2 ** opt.n_downsample_translate
    if opt.loadSize is None:                # frames at the scale the network was trained at
        opt.loadSize = int(saved.get('loadSize', DEFAULT_LOAD_SIZE))
    model = TransModel(opt, training=False)
    model.trans.load_state_dict(state['networks']['trans'])
    datasets = load_datasets(opt, 'all')
    names = dataset_names(opt.dataroots)
    loaders = [make_eval_loader(dataset, opt, rank, world_size) for dataset in datasets]
    results, _ = evaluate_all(model, loaders, names, opt.device, world_size)
    if rank == 0:
        epoch = state.get('progress', {}).get('epoch')
        print(f'{path} (epoch {epoch}), loadSize {opt.loadSize}:')
        for name, root in zip(names, opt.dataroots):
            print(f'  {name} ({root}): {format_metrics(results[name])}')
        if len(names) > 1:
            print(f'  {POOLED}: {format_metrics(results[POOLED])}')
    cleanup()
    return results


def main():
    opt = PretrainOptions().parse()
    if opt.eval_only:
        evaluate_checkpoint(opt)
        return
    rank, world_size = init_distributed(opt.device)
    torch.manual_seed(opt.seed)

    # Data: the first data_ratio of every dataset trains, the rest of each validates.
    names = dataset_names(opt.dataroots)
    train_sets = load_datasets(opt, 'train', validate=True)
    check_working_sizes(train_sets, opt.batchSize)
    train_set = ConcatDataset(train_sets)
    try:
        loader, sampler = make_loader(train_set, opt, rank, world_size, shuffle=True)
    except ValueError as error:
        raise SystemExit(f'{opt.dataroot}: training frames: {error}') from error
    val_sets = load_datasets(opt, 'val') if opt.data_ratio < 1 else []
    val_loaders = [make_eval_loader(dataset, opt, rank, world_size) for dataset in val_sets]

    model = apply_recompute(TransModel(opt), opt)
    progress = model.load(opt.which_epoch) if opt.continue_train else {}
    visualizer = PretrainVisualizer(model.run_dir, names, tf_log=opt.tf_log, enabled=rank == 0)
    loop = TrainingLoop(model, opt, visualizer, rank, world_size, progress, len(loader))
    if rank == 0:
        sizes = ', '.join(f'{name} {len(d)} ({d.working_size[0]}x{d.working_size[1]})'
                          for name, d in zip(names, train_sets))
        print(f'training frames: {sizes}; {len(loader)} batches per epoch')
        if opt.continue_train:
            print(loop.describe_resume())

    # Epochs; after each, part accuracy and UV error on every dataset's val split, then the checkpoints.
    with loop.stop_cleanly():
        for epoch in loop.epochs():
            loop.run_epoch(loader, sampler, epoch)
            loop.check_ranks_in_sync(model.trans, epoch)
            if val_loaders:
                results, val_visuals = evaluate_all(model, val_loaders, names, opt.device, world_size,
                                                    with_visuals=rank == 0)
                visualizer.add_metrics(results, epoch, loop.iteration)
                if rank == 0:
                    print(f'epoch {epoch} val: {format_metrics(results[POOLED])}')
                    train_visuals = model.visuals() if model.visual_cache else {}
                    visualizer.display({**train_visuals, **val_visuals}, epoch, loop.iteration)
            loop.end_epoch(epoch)
    visualizer.close()
    cleanup()


if __name__ == '__main__':
    run_main(main)
