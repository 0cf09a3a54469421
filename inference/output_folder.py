"""test.py's results folder: where it goes (never inside a dataset) and what a new run clears there."""
import os
import re

from util.output import refuse_inside, remove_own_files

OWN_FILE = re.compile(r'^(frame\d+(_[a-z_]+)?|background)\.png$')      # images test.py writes (and may replace)


def result_folder(opt, train_opt):
    """results_dir/name/<phase>_<which_epoch>; refuses any place inside a dataset (nothing is written)."""
    folder = os.path.join(opt.results_dir, opt.name, f'{opt.phase}_{opt.which_epoch}')
    protected = [train_opt.dataroot, opt.pose_tgt_path, opt.pose_path, opt.label3d_path]
    if opt.pose_path and os.path.basename(os.path.normpath(opt.pose_path)) == 'openpose_json':
        protected.append(os.path.dirname(os.path.normpath(opt.pose_path)))     # the driving dataset
    refuse_inside(folder, protected)
    return folder


def prepare_folder(folder, opt):
    """Create the result folders and drop the images test.py wrote there in a previous run."""
    remove_own_files(folder, ('frames', 'images', 'mask'), OWN_FILE)
    os.makedirs(os.path.join(folder, 'frames'), exist_ok=True)
    if opt.save_mask:
        os.makedirs(os.path.join(folder, 'mask'), exist_ok=True)
