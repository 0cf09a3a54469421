"""What one evaluate.py run compares: the source (a checkpoint or the oracle), the ground truth, the
geometry between them, the phase and where the results go, all resolved from the options."""
import os
from dataclasses import dataclass

from data.driving import read_sequence
from data.transforms import working_size
from evaluation.geometry import Geometry
from evaluation.ground_truth import GroundTruth, frame_size_of, open_ground_truth
from evaluation.sources import ModelSource, OracleSource
from evaluation.substitution import SubstitutedSource
from models.loading import load_model
from util.output import refuse_inside
from util.pose_align import fit_alignment

ORACLE_NAME = 'oracle'


@dataclass
class Plan:
    name: str              # the run name ('oracle' for the oracle)
    dataroot: str          # the dataset with ground truth (default: the checkpoint's training dataset)
    source: object         # ModelSource or OracleSource
    truth: GroundTruth
    geometry: Geometry
    phase: str
    info: dict             # what was evaluated, for the report
    folder: str            # results folder

    @property
    def dataset_name(self):
        return dataset_name(self.dataroot)

    def frames(self, start, how_many):
        """Absolute indices of the phase's frames after skipping start, at most how_many."""
        dataset = self.truth.dataset
        frames = list(range(dataset.first_frame, dataset.end_frame))[start:]
        if how_many is not None:
            frames = frames[:how_many]
        if not frames:
            raise SystemExit(f'{self.dataroot}: --start {start} leaves no frame of phase {self.phase}')
        return frames


def dataset_name(root):
    return os.path.basename(os.path.normpath(os.path.abspath(root)))


def _same_folder(a, b):
    return bool(a and b) and os.path.realpath(a) == os.path.realpath(b)


def result_folder(results_dir, name, subfolder, protected):
    """results_dir/name/subfolder, refused inside any of the protected (dataset) folders."""
    folder = os.path.join(results_dir, name, subfolder)
    refuse_inside(folder, protected)
    return folder


def load_alignment(opt, train_opt, dataset, geometry):
    """Fit the dataset's poses to the training person's (as test.py does) and set it on geometry."""
    train_root = train_opt.dataroot
    if not train_root or not os.path.isdir(train_root):
        raise SystemExit(f'alignment needs the training dataset\'s poses and frame size, but {train_root!r} '
                         'is not there: pass --train_dataroot, or --align off')
    train_size = frame_size_of(train_root, train_opt.img_path)
    folder = train_opt.pose_path or os.path.join(train_root, 'openpose_json')
    target = read_sequence(folder, 'target poses', opt.max_gap, 0.0)
    try:
        alignment = fit_alignment(dataset.poses, target, window=opt.align_window)
    except ValueError as error:
        raise SystemExit(f'{dataset.root}: {error}') from error
    geometry.set_alignment(alignment, train_size)


def resolve_align(opt, train_opt, frame_size, same_dataset):
    """'on' or 'off': --align, with auto resolved by comparing the frame size with the training frames'."""
    if opt.align != 'auto':
        return opt.align
    if same_dataset:
        return 'off'
    train_root = train_opt.dataroot
    if not train_root or not os.path.isdir(train_root):
        raise SystemExit(f'--align auto compares the frame size with the training dataset\'s, but '
                         f'{train_root!r} is not there: pass --train_dataroot, or --align on / off')
    return 'off' if frame_size_of(train_root, train_opt.img_path) == frame_size else 'on'


def oracle_plan(opt):
    root = opt.dataroot
    frame_size = frame_size_of(root, opt.img_path)
    long_side = opt.loadSize or max(frame_size)
    geometry = Geometry(frame_size, working_size(*frame_size, long_side, 1), long_side, 1)
    phase = opt.phase or 'all'
    data_ratio = 0.9 if opt.data_ratio is None else opt.data_ratio
    truth = open_ground_truth(opt, root, phase, data_ratio, geometry)
    folder = result_folder(opt.results_dir, ORACLE_NAME, f'eval_{phase}_{dataset_name(root)}', [root])
    info = {'evaluated': 'oracle (ground-truth IUV x true atlas over the true background)'}
    return Plan(ORACLE_NAME, root, OracleSource(truth.dataset, geometry, opt.densepose_path), truth, geometry,
                phase, info, folder)


def model_plan(opt):
    model, train_opt, working = load_model(os.path.join(opt.checkpoints_dir, opt.name), opt.which_epoch,
                                           opt.device, opt.amp, {'dataroot': opt.train_dataroot})
    root = opt.dataroot or train_opt.dataroot
    same_dataset = _same_folder(root, train_opt.dataroot)
    frame_size = frame_size_of(root, opt.img_path)
    geometry = Geometry(frame_size, working, train_opt.loadSize, train_opt.size_multiple)
    phase = opt.phase or ('val' if same_dataset else 'all')
    data_ratio = train_opt.data_ratio if opt.data_ratio is None else opt.data_ratio
    truth = open_ground_truth(opt, root, phase, data_ratio, geometry)
    align = resolve_align(opt, train_opt, frame_size, same_dataset)
    if align == 'on':
        load_alignment(opt, train_opt, truth.dataset, geometry)
    info = {'evaluated': f'{opt.name} checkpoint {opt.which_epoch}', 'training_dataset': train_opt.dataroot,
            'align': align + (' (auto)' if opt.align == 'auto' else '')}
    subfolder = f'eval_{phase}_{opt.which_epoch}' + ('' if same_dataset else '_' + dataset_name(root))
    if opt.substitute is None:
        source = ModelSource(model, train_opt, truth.dataset, geometry)
    else:
        source = SubstitutedSource(model, train_opt, truth.dataset, geometry, opt.substitute)
        info['substituted'] = list(opt.substitute)
        subfolder += '_substitute_' + ('+'.join(opt.substitute) or 'none')
    folder = result_folder(opt.results_dir, opt.name, subfolder, [root, train_opt.dataroot])
    return Plan(opt.name, root, source, truth, geometry, phase, info, folder)


def plan_evaluation(opt):
    """The Plan of evaluate.py's options: the oracle with --oracle, else the checkpoint."""
    return oracle_plan(opt) if opt.oracle else model_plan(opt)
