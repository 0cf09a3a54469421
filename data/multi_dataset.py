"""Several videos as one pre-training set: a short unique name per dataset, one ClipDataset of single
frames per --dataroot entry, and the check that frames of one batch share a size."""
import copy
import os
import re

from data.clip_dataset import ClipDataset
from data.readers import DataFileError

POOLED = 'all'      # the name of the metrics pooled over every dataset (never a dataset's name)


def dataset_names(roots):
    """Short unique names (folder names, made safe for logs and file names) for the datasets."""
    names = []
    for index, root in enumerate(roots):
        name = re.sub(r'[^A-Za-z0-9_.-]', '_', os.path.basename(os.path.normpath(root))) or f'data{index}'
        names.append(f'{name}_{index}' if name in names or name == POOLED else name)
    return names


def load_datasets(opt, phase, validate=False):
    """One ClipDataset of single frames per --dataroot entry; with validate, every file they read is checked
    first (data.preflight) and the problems of all datasets are raised together."""
    datasets, failures = [], []
    for root in opt.dataroots:
        one = copy.copy(opt)
        one.dataroot = root
        try:
            datasets.append(ClipDataset.from_options(one, phase, require_densepose=True, require_flow=False,
                                                     clip_length=1, validate=validate))
        except DataFileError as error:
            failures.append(error)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise DataFileError(','.join(opt.dataroots), f'{len(failures)} datasets have problems:\n'
                            + '\n'.join(str(error) for error in failures))
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
