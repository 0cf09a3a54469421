"""The networks' pose input, drawn from keypoints the same way for training, testing and evaluation."""
import torch

from data.transforms import to_unit_range
from util.bone_fields import draw_bone_fields
from util.pose import draw_pose


def pose_input(pose, height, width, bone_fields):
    """Keypoints at the working size -> (input float32 [3 (+ BONE_FIELD_CHANNELS), H, W] in [-1, 1],
    the drawn skeleton uint8 [H, W, 3]); the 3D label, where used, is appended by the caller."""
    drawn = draw_pose(pose, height, width)
    tensor = to_unit_range(drawn)
    if bone_fields:
        tensor = torch.cat([tensor, torch.from_numpy(draw_bone_fields(pose, height, width))])
    return tensor, drawn
