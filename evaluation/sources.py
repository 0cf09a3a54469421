"""What is evaluated: a trained model driven by the dataset's own poses, or a synthetic dataset's oracle.

Both give ``render(ts)`` for frames ts (absolute indices) -> dict: 'output' uint8 [B, He, We, 3] in
the evaluation frame; a render model also 'part_logits' [B, 25, He, We] and 'uv' [B, 48, He, We].
"""
import numpy as np
import torch

from data.driving import affine_label
from data.pose_input import pose_input
from data.readers import read_label3d
from evaluation.geometry import warp_to_eval
from evaluation.oracle import oracle_frames
from util.geometry import affine_matrix, compose, resize_map
from util.image import tensor_to_image
from util.pose import scale_pose


class ModelSource:
    def __init__(self, model, train_opt, dataset, geometry):
        self.model, self.train_opt, self.dataset, self.geometry = model, train_opt, dataset, geometry
        self.labels = None
        if train_opt.use_label3d:
            if dataset.files.label3d is None:
                raise SystemExit(f'{dataset.root}: the model was trained with 3D labels (--use_label3d) but the '
                                 'dataset has no LaplaceProj/ folder (pass --label3d_path)')
            self.labels = dataset.files.label3d

    def _pose_input(self, t):
        g = self.geometry
        hm, wm = g.working
        to_working = g.gt_to_working(t)
        ax, bx, ay, by = to_working
        pose, _ = pose_input(scale_pose(self.dataset.poses[t], ax, ay, bx, by), hm, wm, self.train_opt.bone_fields)
        if self.labels is not None:
            label = read_label3d(self.labels[t])
            matrix = affine_matrix(compose(to_working, resize_map(label.shape[1:], g.frame_size)))
            pose = torch.cat([pose, torch.from_numpy(affine_label(label, matrix, hm, wm)) * 2 - 1])
        return pose

    def generate(self, ts, pose):
        """The model's outputs for frames ts from their pose inputs [N, Cp, H, W]."""
        return self.model.infer(pose)

    def render(self, ts):
        result = self.generate(ts, torch.stack([self._pose_input(t) for t in ts]))
        out = {'output': result['output'].float()}
        if 'part_logits' in result and 'uv' in result:
            out['part_logits'], out['uv'] = result['part_logits'].float(), result['uv'].float()
        out = {k: v.cpu() for k, v in out.items()}
        g = self.geometry
        if not all(g.is_identity(t) for t in ts):
            maps = [g.eval_to_working(t) for t in ts]
            out = {k: warp_to_eval(v, maps, g.eval_size) for k, v in out.items()}
        out['output'] = np.stack([tensor_to_image(o) for o in out['output']])
        return out


class OracleSource:
    def __init__(self, dataset, geometry, iuv_path=None):
        self.dataset, self.geometry, self.iuv_path = dataset, geometry, iuv_path

    def render(self, ts):
        return {'output': oracle_frames(self.dataset.root, list(ts), self.geometry.eval_size, self.iuv_path)}
