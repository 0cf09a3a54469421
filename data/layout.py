"""Find the per-frame files of a dataset in the seed layout and pair them frame by frame.

Frames are the images of ``DATA/<DATA's name>/`` in frame-number order (natural order: frame9.jpg
before frame10.jpg). Other per-frame files are paired with a frame by its file stem, accepting the
names the real tools write:

    frame00001.jpg  <->  densepose/frame00001_IUV.png   (DensePose; also frame00001.png)
                         mask/frame00001.png            (also frame00001_mask.png)
                         openpose_json/frame00001_keypoints.json   (OpenPose; also frame00001.json)
                         LaplaceProj/frame00001.npy     (also .png)

and, where the names do not match, by frame number when a folder holds exactly one file per frame
(data.pairing: OpenPose's <video>_000000000000_keypoints.json, outputs numbered from 0 for frames
numbered from 1); such a pairing is described in ``DatasetFiles.notes``. ``flow/`` and ``flow_inv/``
hold one .flo per pair of consecutive frames, named after the pair's first frame (as
prepare_dataset.py writes them) or numbered (FlowNet2: 000000.flo, ...): the k-th is the flow
between frames k and k+1.
"""
import os
from dataclasses import dataclass, field

from data.pairing import in_number_order, pair_files
from data.readers import IMAGE_EXTENSIONS

PER_FRAME_SUFFIXES = {
    'iuv': ('_IUV.png', '_iuv.png', '_INDS.png', '.png'),
    'mask': ('.png', '_mask.png', '.jpg'),
    'pose': ('_keypoints.json', '.json'),
    'label3d': ('.npy', '.png'),
}
FLOW_SUFFIXES = ('.flo',)
DEFAULT_FOLDERS = {
    'iuv': 'densepose', 'mask': 'mask', 'pose': 'openpose_json', 'label3d': 'LaplaceProj',
    'flow': 'flow', 'flow_inv': 'flow_inv',
}
KNOWN_FOLDERS = set(DEFAULT_FOLDERS.values()) | {'gt'}


@dataclass
class DatasetFiles:
    """Paths of one dataset; a per-frame list is None when its folder is absent."""
    root: str
    frames_dir: str = ''
    frames: list = field(default_factory=list)
    iuv: list = None
    mask: list = None
    pose: list = None
    label3d: list = None
    flow: list = None
    flow_inv: list = None
    bg: str = None
    texture: str = None
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)       # pairings made by number, not by name

    def __len__(self):
        return len(self.frames)


def list_images(folder):
    return in_number_order(name for name in os.listdir(folder) if name.lower().endswith(IMAGE_EXTENSIONS))


def _find_frames_dir(root, problems):
    named = os.path.join(root, os.path.basename(os.path.normpath(root)))
    if os.path.isdir(named):
        return named
    candidates = [os.path.join(root, name) for name in sorted(os.listdir(root))
                  if name not in KNOWN_FOLDERS and os.path.isdir(os.path.join(root, name))
                  and list_images(os.path.join(root, name))]
    if len(candidates) == 1:
        return candidates[0]
    problems.append(f'{named}: frames folder not found (the seed layout keeps the frames in '
                    f'DATA/<DATA\'s name>/; pass --img_path to name another folder)')
    return None


def _pair(files, kind, folder, stems):
    """Set files.<kind> to folder's files paired with the frames (flows: with the first frame of each pair)."""
    flows = kind not in PER_FRAME_SUFFIXES
    pairing = pair_files(folder, stems[:-1] if flows else stems, os.listdir(folder),
                         FLOW_SUFFIXES if flows else PER_FRAME_SUFFIXES[kind], kind)
    setattr(files, kind, [os.path.join(folder, name) if name else None for name in pairing.files])
    if pairing.note:
        files.notes.append(pairing.note)
    if pairing.problem:
        files.problems.append(pairing.problem)


def index_dataset(root, img_path=None, densepose_path=None, mask_path=None, pose_path=None,
                  label3d_path=None, flow_path=None, flow_inv_path=None, bg_path=None, texture_path=None):
    """Pair a dataset's files frame by frame; problems are collected in ``.problems``, not raised, and
    pairings by number described in ``.notes``, not printed."""
    files = DatasetFiles(root=root)
    if not os.path.isdir(root):
        files.problems.append(f'{root}: dataset folder not found')
        return files
    files.frames_dir = img_path or _find_frames_dir(root, files.problems)
    if files.frames_dir is None:
        return files
    if not os.path.isdir(files.frames_dir):
        files.problems.append(f'{files.frames_dir}: frames folder not found')
        return files
    frame_names = list_images(files.frames_dir)
    if not frame_names:
        files.problems.append(f'{files.frames_dir}: no frames (jpg/png) found')
    files.frames = [os.path.join(files.frames_dir, name) for name in frame_names]
    stems = [os.path.splitext(name)[0] for name in frame_names]

    overrides = {'iuv': densepose_path, 'mask': mask_path, 'pose': pose_path, 'label3d': label3d_path,
                 'flow': flow_path, 'flow_inv': flow_inv_path}
    for kind, default in DEFAULT_FOLDERS.items():
        folder = overrides[kind] or os.path.join(root, default)
        if not os.path.isdir(folder):
            if overrides[kind]:
                files.problems.append(f'{folder}: folder given for {kind} not found')
            continue
        _pair(files, kind, folder, stems)

    files.bg = bg_path or os.path.join(root, 'bg.jpg')
    files.texture = texture_path or os.path.join(root, 'texture.jpg')
    return files
