"""Find the per-frame files of a dataset in the seed layout and pair them frame by frame.

Frames are the images of ``DATA/<DATA's name>/`` in sorted order. Other per-frame files are paired
with a frame by its file stem, accepting the names the real tools write:

    frame00001.jpg  <->  densepose/frame00001_IUV.png   (DensePose; also frame00001.png)
                         mask/frame00001.png            (also frame00001_mask.png)
                         openpose_json/frame00001_keypoints.json   (OpenPose; also frame00001.json)
                         LaplaceProj/frame00001.npy     (also .png)

Flow files carry no frame name in FlowNet2's output, so ``flow/`` and ``flow_inv/`` are paired by
sorted order: the k-th file is the flow between frames k and k+1.
"""
import os
from dataclasses import dataclass, field

from data.readers import IMAGE_EXTENSIONS

PER_FRAME_SUFFIXES = {
    'iuv': ('_IUV.png', '_iuv.png', '_INDS.png', '.png'),
    'mask': ('.png', '_mask.png', '.jpg'),
    'pose': ('_keypoints.json', '.json'),
    'label3d': ('.npy', '.png'),
}
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

    def __len__(self):
        return len(self.frames)


def list_images(folder):
    return sorted(name for name in os.listdir(folder) if name.lower().endswith(IMAGE_EXTENSIONS))


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


def pair_by_stem(folder, stems, suffixes, kind, problems):
    names = set(os.listdir(folder))
    paired = []
    for stem in stems:
        match = next((stem + suffix for suffix in suffixes if stem + suffix in names), None)
        if match is None:
            problems.append(f'{os.path.join(folder, stem + suffixes[0])}: missing {kind} for frame {stem}')
        paired.append(os.path.join(folder, match) if match else None)
    return paired


def _flows(folder, count, problems):
    files = sorted(name for name in os.listdir(folder) if name.lower().endswith('.flo'))
    if len(files) != count:
        problems.append(f'{folder}: {len(files)} .flo files, expected {count} (one per pair of consecutive frames)')
    return [os.path.join(folder, name) for name in files]


def index_dataset(root, img_path=None, densepose_path=None, mask_path=None, pose_path=None,
                  label3d_path=None, flow_path=None, flow_inv_path=None, bg_path=None, texture_path=None):
    """Pair a dataset's files frame by frame; problems are collected in ``.problems``, not raised."""
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
        if kind in PER_FRAME_SUFFIXES:
            setattr(files, kind, pair_by_stem(folder, stems, PER_FRAME_SUFFIXES[kind], kind, files.problems))
        else:
            setattr(files, kind, _flows(folder, max(len(stems) - 1, 0), files.problems))

    files.bg = bg_path or os.path.join(root, 'bg.jpg')
    files.texture = texture_path or os.path.join(root, 'texture.jpg')
    return files
