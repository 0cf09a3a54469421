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
import copy
import os
import re
import sys

import torch
from torch.utils.data import ConcatDataset

from data.clip_dataset import ClipDataset
from data.loaders import make_eval_loader, make_loader
from data.sampler import batches_per_epoch
from models import apply_recompute
from models.trans_model import METRICS, TransModel, add_sums, metrics_from_sums
from options.pretrain_options import ARCHITECTURE_OPTIONS, DEFAULT_LOAD_SIZE, PretrainOptions
from util.checkpoint import checkpoint_path, load_checkpoint
from util.distributed import average_scalars, barrier, cleanup, init_distributed
from util.html import HTML, IMAGE_DIR
from util.training import TrainingLoop, resume_point
from util.visualizer import Visualizer, image_file_name

VAL_LINE = re.compile(r'^\(phase: val, epoch: (\d+), iters: (\d+)[^)]*\)(.*)$')
VAL_VALUE = re.compile(r' (\S+): (\S+)')
POOLED = 'all'


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def dataset_names(roots):
    """Short unique names (folder names, made safe for logs and file names) for the datasets."""
    names = []
    for index, root in enumerate(roots):
        name = re.sub(r'[^A-Za-z0-9_.-]', '_', os.path.basename(os.path.normpath(root))) or f'data{index}'
        names.append(f'{name}_{index}' if name in names or name == POOLED else name)
    return names


def load_datasets(opt, phase):
    """One ClipDataset of single frames per --dataroot entry."""
    datasets = []
    for root in opt.dataroots:
        one = copy.copy(opt)
        one.dataroot = root
        datasets.append(ClipDataset.from_options(one, phase))
    return datasets


def check_working_sizes(datasets, batch_size):
    """Frames of different sizes cannot share a batch: require one working size or batchSize 1."""
    sizes = {dataset.working_size for dataset in datasets}
    if len(sizes) > 1 and batch_size > 1:
        listing = '\n'.join(f'  {d.root}: {d.working_size[0]}x{d.working_size[1]} (frames '
                            f'{d.frame_size[0]}x{d.frame_size[1]})' for d in datasets)
        raise SystemExit(f'the datasets have different working sizes (H x W):\n{listing}\n'
                         f'frames of different sizes cannot share a batch: use --batchSize 1, or bring '
                         f'the videos to one aspect ratio')


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------
def evaluate(model, loader, device, world_size, with_visuals=False):
    """(metrics, sums, visuals) of one dataset: metrics pooled over every pixel of every rank's frames
    (see models/trans_model.py), the summed counts behind them, and (with_visuals, on this rank) the
    images of the first frame."""
    sums, visuals = {}, {}
    for batch in loader:
        batch_sums, data, result = model.evaluate_batch(batch)
        add_sums(sums, batch_sums)
        if with_visuals and not visuals:
            visuals = model.visuals(data, result)
    sums = sum_over_ranks(sums, device, world_size)
    return metrics_from_sums(sums), sums, visuals


def sum_over_ranks(sums, device, world_size):
    keys = ('frames', 'pixels', 'correct', 'person_pixels', 'person_correct', 'uv_abs')
    local = {key: sums.get(key, 0.0) for key in keys}
    return {key: value * world_size for key, value in average_scalars(local, device).items()}


def evaluate_all(model, loaders, names, device, world_size, with_visuals=False):
    """Metrics per dataset and pooled over all of them ('all'), plus visuals named '<dataset>_<image>'."""
    results, pooled, visuals = {}, {}, {}
    for name, loader in zip(names, loaders):
        metrics, sums, images = evaluate(model, loader, device, world_size, with_visuals)
        results[name] = metrics
        add_sums(pooled, sums)
        visuals.update({f'val_{name}_{key}': image for key, image in images.items()})
    results[POOLED] = metrics_from_sums(pooled)
    return results, visuals


def flatten_metrics(results):
    """{'all': m, 'A': m, ...} -> {'part_acc': ., ..., 'A/part_acc': ., ...} for loss_log.txt."""
    flat = {key: results[POOLED][key] for key in METRICS}
    if len(results) > 2:    # the pooled values already are the only dataset's
        for name, metrics in results.items():
            if name != POOLED:
                flat.update({f'{name}/{key}': metrics[key] for key in METRICS})
    return flat


def format_metrics(metrics):
    return (f'frames {metrics["frames"]}, part_acc {metrics["part_acc"]:.4f}, '
            f'part_acc_person {metrics["part_acc_person"]:.4f}, uv_error {metrics["uv_error"]:.4f}')


class PretrainVisualizer(Visualizer):
    """The Visualizer with a validation table (epoch x dataset -> METRICS) at the top of the page.

    The table is rebuilt from loss_log.txt's val lines, so a resumed run keeps its earlier rows."""

    def __init__(self, run_dir, names, **kwargs):
        self.names = names
        self.metric_rows = {}       # epoch -> (iteration, {dataset: {metric: value}})
        super().__init__(run_dir, **kwargs)
        if self.enabled and os.path.exists(self.log_path):
            self.metric_rows = self._rows_from_log()

    def add_metrics(self, results, epoch, iteration):
        """Log one val line and put the epoch's results on the page."""
        self.log_losses(flatten_metrics(results), epoch, iteration, phase='val')
        self.metric_rows[epoch] = (iteration, {name: dict(m) for name, m in results.items()})
        if self.enabled:
            self._write_index()

    def _rows_from_log(self):
        rows = {}
        with open(self.log_path, encoding='utf-8') as handle:
            for line in handle:
                match = VAL_LINE.match(line.strip())
                if not match:
                    continue
                table = {}
                for key, value in VAL_VALUE.findall(match.group(3)):
                    name, _, metric = key.rpartition('/')
                    table.setdefault(name or POOLED, {})[metric] = float(value)
                rows[int(match.group(1))] = (int(match.group(2)), table)
        return rows

    def _write_index(self):
        page = HTML(self.web_dir, os.path.basename(os.path.normpath(self.run_dir)))
        if self.metric_rows:
            page.add_header('validation (part accuracy over all pixels and over DensePose body pixels; '
                            'UV error: mean |U, V difference| in [0, 1] on body pixels)')
            rows = []
            for epoch, (iteration, table) in sorted(self.metric_rows.items(), reverse=True):
                if len(self.names) == 1:         # the pooled values are the one dataset's
                    labelled = [(self.names[0], table.get(POOLED))]
                else:
                    labelled = [(name, table.get(name)) for name in self.names + [POOLED]]
                rows += [[epoch, iteration, name] + [metrics.get(key, '') for key in METRICS]
                         for name, metrics in labelled if metrics]
            page.add_table(rows, header=['epoch', 'iteration', 'dataset', *METRICS])
        for epoch, iteration, names in reversed(self._steps):
            page.add_header(f'epoch {epoch}, iteration {iteration}')
            paths = [f'{IMAGE_DIR}/{image_file_name(epoch, iteration, name)}' for name in names]
            page.add_images(paths, names, width=self.image_width)
        page.save()


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------
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
        if name in saved:
            setattr(opt, name, saved[name])
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


def main(args=None):
    opt = PretrainOptions().parse(args)
    if opt.eval_only:
        return evaluate_checkpoint(opt)
    rank, world_size = init_distributed(opt.device)
    torch.manual_seed(opt.seed)
    names = dataset_names(opt.dataroots)
    train_sets = load_datasets(opt, 'train')
    check_working_sizes(train_sets, opt.batchSize)
    train_set = ConcatDataset(train_sets)
    val_sets = load_datasets(opt, 'val') if opt.data_ratio < 1 else []
    iters_per_epoch = batches_per_epoch(len(train_set), opt.batchSize, world_size)
    if iters_per_epoch == 0:
        raise SystemExit(f'{opt.dataroot}: {len(train_set)} training frames are fewer than batchSize x processes '
                         f'({opt.batchSize} x {world_size}); lower --batchSize or add frames')

    model = apply_recompute(TransModel(opt), opt)
    progress = {'epoch': 1, 'epoch_iter': 0, 'iteration': 0}
    if opt.continue_train:
        progress = model.load(opt.which_epoch)
    start_epoch, start_batch = resume_point(progress, iters_per_epoch)
    if rank == 0:
        sizes = ', '.join(f'{name} {len(d)} ({d.working_size[0]}x{d.working_size[1]})'
                          for name, d in zip(names, train_sets))
        print(f'training frames: {sizes}; {iters_per_epoch} batches per epoch')
        if opt.continue_train:
            print(f'resuming at epoch {start_epoch}, iteration {progress.get("iteration", 0)} '
                  f'({start_batch} of {iters_per_epoch} batches of that epoch done)')

    visualizer = PretrainVisualizer(model.run_dir, names, tf_log=opt.tf_log, enabled=rank == 0)
    loader, sampler = make_loader(train_set, opt, rank, world_size, shuffle=True)
    val_loaders = [make_eval_loader(dataset, opt, rank, world_size) for dataset in val_sets]
    total_epochs = opt.niter + opt.niter_decay
    def save(label, epoch, epoch_iter):
        if rank == 0:
            model.save(label, {'epoch': epoch, 'epoch_iter': epoch_iter, 'iteration': loop.iteration})
        barrier()

    loop = TrainingLoop(model, opt, visualizer, rank, progress.get('iteration', 0), save)

    for epoch in range(start_epoch, total_epochs + 1):
        model.set_epoch(epoch)
        sampler.set_epoch(epoch, start_batch)
        loop.run_epoch(loader, epoch, total_epochs, iters_per_epoch, start_batch)
        start_batch = 0
        loop.check_ranks_in_sync(model.trans, world_size, epoch)
        if val_loaders:
            results, val_visuals = evaluate_all(model, val_loaders, names, opt.device, world_size,
                                                with_visuals=rank == 0)
            visualizer.add_metrics(results, epoch, loop.iteration)
            if rank == 0:
                print(f'epoch {epoch} val: {format_metrics(results[POOLED])}')
                train_visuals = model.visuals() if model.visual_cache else {}
                visualizer.display({**train_visuals, **val_visuals}, epoch, loop.iteration)
        save('latest', epoch, iters_per_epoch)
        if epoch % opt.save_epoch_freq == 0 or epoch == total_epochs:
            save(str(epoch), epoch, iters_per_epoch)
    visualizer.close()
    cleanup()
    return loop.iteration


if __name__ == '__main__':
    sys.exit(0 if main() is not None else 1)
