"""test.py's results folder: where it goes (never inside a dataset) and what a new run clears there."""
import os
import re

OWN_FILE = re.compile(r'^(frame\d+(_[a-z_]+)?|background)\.png$')      # images test.py writes (and may replace)


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def result_folder(opt, train_opt):
    """results_dir/name/<phase>_<which_epoch>; refuses any place inside a dataset (nothing is written)."""
    folder = os.path.join(opt.results_dir, opt.name, f'{opt.phase}_{opt.which_epoch}')
    protected = [train_opt.dataroot, opt.pose_tgt_path, opt.pose_path, opt.label3d_path]
    if opt.pose_path and os.path.basename(os.path.normpath(opt.pose_path)) == 'openpose_json':
        protected.append(os.path.dirname(os.path.normpath(opt.pose_path)))     # the driving dataset
    for data in protected:
        if data and _inside(folder, data):
            raise SystemExit(f'{folder}: refusing to write results inside the dataset folder {data}; '
                             'choose another --results_dir')
    return folder


def prepare_folder(folder, opt):
    """Create the result folders and drop the images test.py wrote there in a previous run."""
    for sub in ('frames', 'images', 'mask'):
        path = os.path.join(folder, sub)
        if os.path.isdir(path):
            for name in os.listdir(path):
                if OWN_FILE.match(name):
                    os.remove(os.path.join(path, name))
    os.makedirs(os.path.join(folder, 'frames'), exist_ok=True)
    if opt.save_mask:
        os.makedirs(os.path.join(folder, 'mask'), exist_ok=True)
