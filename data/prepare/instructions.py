"""What this tool cannot compute here, and exactly how to make it elsewhere and where to put it."""
import os


def densepose(root, frames_dir, first_stem):
    data, frames = root.rstrip('/'), frames_dir.rstrip('/')
    return f"""DensePose IUV: not computed here (needs DensePose on a GPU). Run DensePose on every frame of {frames}/:
  tool:   DensePose (github.com/facebookresearch/DensePose), e.g.
            python2 tools/infer_simple.py --cfg configs/DensePose_ResNet101_FPN_s1x-e2e.yaml \\
              --wts DensePose_ResNet101_FPN_s1x-e2e.pkl --image-ext jpg --output-dir {data}/densepose {frames}
          (it writes <frame>_IUV.png; its _INDS.png files are not needed). With detectron2's DensePose
          (projects/DensePose, apply_net.py dump), paste each frame's labels and uv * 255 into a full-frame
          image and save that with cv2.imwrite.
  format: one 8-bit 3-channel png per frame, the frame's size, written with cv2.imwrite (channel order as
          stored): channel 0 = part index I (0 background, 1..24), channel 1 = U*255, channel 2 = V*255
  where:  {data}/densepose/{first_stem}_IUV.png, ... (one per frame, named after the frame)
  then:   rerun this command: it makes mask/ and texture.jpg from them"""


def openpose(root, frames_dir, first_stem):
    data, frames = root.rstrip('/'), frames_dir.rstrip('/')
    return f"""OpenPose keypoints: not computed here (needs OpenPose). Run it on the frames:
  tool:   OpenPose (github.com/CMU-Perceptual-Computing-Lab/openpose), BODY_25 model (its default):
            ./build/examples/openpose/openpose.bin --image_dir {frames} --write_json {data}/openpose_json \\
              --model_pose BODY_25 --display 0 --render_pose 0 [--face --hand]
          (--face --hand are optional; keep pixel coordinates: no --keypoint_scale)
  format: one OpenPose JSON per frame: people[*].pose_keypoints_2d = 25 (x, y, confidence) triples
          (COCO-18 with 18 triples is accepted too)
  where:  {data}/openpose_json/{first_stem}_keypoints.json, ... (OpenPose names them so itself)"""


def missing_parts(root, frames_dir, stems):
    """Instruction blocks for the externally made folders that root lacks."""
    blocks = []
    if not os.path.isdir(os.path.join(root, 'densepose')):
        blocks.append(densepose(root, frames_dir, stems[0]))
    if not os.path.isdir(os.path.join(root, 'openpose_json')):
        blocks.append(openpose(root, frames_dir, stems[0]))
    return blocks
