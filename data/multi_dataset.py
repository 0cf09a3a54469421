"""Several videos as one pre-training set: a short unique name per dataset, one ClipDataset of single
frames per --dataroot entry, and the check that frames of one batch share a size."""
import copy
import os
import re

from data.clip_dataset import ClipDataset

POOLED = 'all'      # the name of the metrics pooled over every dataset (never a dataset's name)


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
        datasets.append(ClipDataset.from_options(one, phase, require_densepose=True, require_flow=False,
                                                 clip_length=1))
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
