"""The trained generator as ONNX (export.py, test.py --engine onnxruntime): pose image [+ 3D label] ->
the frames test.py writes, with a dynamic batch.

Inputs and outputs of the file (H, W: the working size the model was trained at):
    pose    [batch, Cp, H, W] in [-1, 1]: the drawn skeleton (3 channels) + the 3D label's, if trained with them
    output  [batch, 3, H, W] in [-1, 1]: the rendered frame
    person  [batch, 3, H, W] in [-1, 1], alpha [batch, 1, H, W] in [0, 1]: the render model's person and its
            matte (output = person * alpha + learned background * (1 - alpha)); the pose2image baseline has
            only output
Its metadata (onnx metadata_props) names the checkpoint's sha256, so that a stale export (training went on)
is noticed and redone.
"""
import hashlib
import os
import tempfile
import warnings

import torch

from models.video_gan import pose_channels

OPSET = 17      # GridSample (texture sampling) needs 16
INPUT_NAME = 'pose'


def onnx_path(run_dir, label='latest'):
    """Where export.py writes a checkpoint's export: run_dir/generator.onnx (latest) or generator_<label>.onnx."""
    return os.path.join(run_dir, 'generator.onnx' if label == 'latest' else f'generator_{label}.onnx')


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def export_onnx(model, path, working, checkpoint_sha256=''):
    """Write model's frame generator (models.video_gan.FrameGenerator) to path as ONNX, batch dynamic, at
    the working size (H, W); atomically (a temporary file renamed). Returns the output names."""
    import onnx   # the exporter's own dependency; optional (requirement.txt)

    module = model.frame_generator()
    names = list(module.frame_names)
    channels = pose_channels(model.opt)
    dummy = torch.zeros(2, channels, *working, device=model.device)   # 2: no batch size is baked in
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix='.onnx', dir=folder)
    os.close(handle)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore')    # tracer notes on the size checks, exporter deprecation notes
            torch.onnx.export(module, (dummy,), temporary, dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=names,
                              dynamic_axes={name: {0: 'batch'} for name in [INPUT_NAME] + names})
        exported = onnx.load(temporary)
        for key, value in (('checkpoint_sha256', checkpoint_sha256), ('frame_names', ','.join(names)),
                           ('working_size', f'{working[0]}x{working[1]}'), ('model', model.opt.model)):
            entry = exported.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(exported, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return names



def export_checkpoint(run_dir, label='latest', path=None, device=torch.device('cpu')):
    """export.py: the checkpoint run_dir/<label>_checkpoint.pth exported to path (default ``onnx_path``).
    -> {'path', 'outputs' (names), 'input' ('pose' [batch, Cp, H, W] as text), 'difference' (the largest
    |ONNX Runtime - PyTorch| on two random poses; None without onnxruntime)}."""
    from models.loading import load_model
    from util.checkpoint import checkpoint_path

    model, _, working = load_model(run_dir, label, device)
    path = path or onnx_path(run_dir, label)
    names = export_onnx(model, path, working, file_sha256(checkpoint_path(run_dir, label)))
    return {'path': path, 'outputs': names,
            'input': f'{INPUT_NAME} [batch, {pose_channels(model.opt)}, {working[0]}, {working[1]}]',
            'difference': round_trip_difference(model, path, working)}


def round_trip_difference(model, path, working, batch=2, seed=0):
    """Largest |ONNX Runtime - PyTorch fp32| over the outputs for ``batch`` random poses; None without onnxruntime."""
    try:
        import onnxruntime
    except ImportError:
        return None
    pose = torch.rand(batch, pose_channels(model.opt), *working, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    outputs = session.run(None, {INPUT_NAME: pose.numpy()})
    with torch.no_grad():
        expected = model.frame_generator()(pose.to(model.device))
    return max(float((torch.from_numpy(o) - e.float().cpu()).abs().max()) for o, e in zip(outputs, expected))
