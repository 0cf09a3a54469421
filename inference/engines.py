"""Ways of running a trained model's frame generator (models.video_gan.FrameGenerator: only what test.py
writes) for test.py --engine and benchmark.py --parts infer.

    eager          the PyTorch modules as they are (with --amp bf16: under autocast)
    channels_last  the same with weights and inputs in channels-last memory order
    compile        torch.compile (inductor, frozen weights); the CPU needs a C++ compiler
    onnxruntime    the ONNX export (inference/export.py) run by ONNX Runtime, fp32
    auto           the fastest of them on the CPU measurements (docs/RESULTS.md) that is available here

Every engine gives the frames of eager fp32 within float rounding (benchmark.py reports the largest
difference). One that cannot run here (no onnxruntime, no C++ compiler, a compiler error) falls back to
the next in line, eager last, saying so in one line.
"""
import os
import shutil
import sys
import tempfile
import time

import torch

from inference.export import export_onnx, file_sha256

ENGINES = ('eager', 'channels_last', 'compile', 'onnxruntime')
# what auto tries, fastest first. Measured at 256 px, default configuration, 2 threads (docs/RESULTS.md,
# inference engines), on a 2-core AMD EPYC and on a CPU with native bf16: channels_last 0.90-1.07x eager,
# compile 1.00-1.07x after about 2 minutes of compiling, onnxruntime 0.68-0.75x (within 2e-5 of eager's
# frames); so auto runs eager. Under --amp bf16 (eager) a CPU with native bf16 ran 2.55x fp32, 40 dB from it
AUTO_ORDER = ('eager',)


class EngineUnavailable(Exception):
    """This engine cannot run here; the message says why."""


def log_line(message):
    print(message, file=sys.stderr, flush=True)


class Engine:
    """engine(pose [N, Cp, H, W] in [-1, 1]) -> {name: float32 tensor [N, C, H, W] on the model's device}, the
    names of ``frame_names`` (output, person, alpha for the render model; output for pose2image).
    ``name``: the engine that runs (after any fallback); ``setup_s``: seconds spent preparing it."""

    def __init__(self, name, run, frame_names, device, setup_s=0.0):
        self.name, self.run, self.frame_names, self.device = name, run, tuple(frame_names), device
        self.setup_s = setup_s

    def __call__(self, pose):
        outputs = self.run(pose)
        return {name: tensor.to(self.device).float() for name, tensor in zip(self.frame_names, outputs)}


def run_eager(model, **_):
    module = model.frame_generator()

    def run(pose):
        with torch.inference_mode(), model.autocast():
            return module(pose.to(model.device))
    return run


def run_channels_last(model, **_):
    """Converts the model's weights to channels-last order in place (the model serves this engine only)."""
    module = model.frame_generator().to(memory_format=torch.channels_last)

    def run(pose):
        with torch.inference_mode(), model.autocast():
            return module(pose.to(model.device).contiguous(memory_format=torch.channels_last))
    return run


def cxx_compiler():
    """The C++ compiler inductor would use on the CPU, or None."""
    for name in (os.environ.get('CXX'), 'g++', 'clang++', 'c++'):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def run_compiled(model, batch_size=1, log=log_line, **_):
    """torch.compile with frozen weights, for one batch shape: a short last batch is padded to batch_size
    (frames are independent), so nothing is compiled twice. A compiler error on the first batch falls back
    to eager."""
    if model.device.type == 'cpu' and cxx_compiler() is None:
        raise EngineUnavailable('torch.compile needs a C++ compiler on the CPU (g++ or clang++; none found, '
                                'CXX not set)')
    module = model.frame_generator()
    compiled = torch.compile(module, dynamic=False, options={'freezing': True})
    fallback = run_eager(model)
    state = {'run': None}

    def padded(pose):
        count = pose.shape[0]
        if count < batch_size:
            pose = torch.cat([pose, pose[-1:].expand(batch_size - count, -1, -1, -1)])
        with torch.no_grad(), model.autocast():
            return tuple(t[:count] for t in compiled(pose.to(model.device)))

    def run(pose):
        if state['run'] is None:
            try:
                outputs = padded(pose)
                state['run'] = padded
                return outputs
            except Exception as error:     # inductor's compiler errors have no common base class
                log(f'--engine compile failed ({type(error).__name__}: {str(error).splitlines()[0][:200]}); '
                    'using eager')
                state['run'] = fallback
        return state['run'](pose)
    return run


def run_onnxruntime(model, working=None, checkpoint=None, onnx_file=None, log=log_line, **_):
    """ONNX Runtime on the export at onnx_file (default: a temporary file), exported first when it is missing
    or was made from another checkpoint (its metadata names the checkpoint's sha256). fp32: --amp does not
    apply."""
    try:
        import onnxruntime as ort
        import onnx  # noqa: F401 (the export writes its metadata with it)
    except ImportError as error:
        raise EngineUnavailable(f'{error.name} is not installed (pip install onnx onnxruntime)') from error
    sha = file_sha256(checkpoint) if checkpoint else ''
    if onnx_file is None:
        onnx_file = os.path.join(tempfile.mkdtemp(prefix='generator_onnx_'), 'generator.onnx')
    session = _session(ort, onnx_file) if os.path.isfile(onnx_file) else None
    if session is None or not sha or session.get_modelmeta().custom_metadata_map.get('checkpoint_sha256') != sha:
        start = time.perf_counter()
        export_onnx(model, onnx_file, working, sha)
        log(f'exported the generator to {onnx_file} ({time.perf_counter() - start:.0f} s)')
        session = _session(ort, onnx_file)
    input_name = session.get_inputs()[0].name

    def run(pose):
        outputs = session.run(None, {input_name: pose.detach().float().cpu().numpy()})
        return [torch.from_numpy(o) for o in outputs]
    return run


def _session(ort, path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    providers = [p for p in ('CUDAExecutionProvider', 'CPUExecutionProvider') if p in ort.get_available_providers()]
    return ort.InferenceSession(path, options, providers=providers)


BUILDERS = {'eager': run_eager, 'channels_last': run_channels_last, 'compile': run_compiled,
            'onnxruntime': run_onnxruntime}


def load_engine(name, model, working, batch_size=1, checkpoint=None, onnx_file=None, log=log_line):
    """The engine ``name`` (one of ENGINES or 'auto') for a model in inference mode at the working size (H, W).

    checkpoint: the model's checkpoint file, whose sha256 an ONNX export must carry; onnx_file: where the
    onnxruntime engine keeps its export. An engine unavailable here falls back (auto: along AUTO_ORDER;
    otherwise to eager), with one line through log."""
    if name == 'auto':
        candidates = AUTO_ORDER if model.amp_dtype is None else ('eager',)    # --amp: autocast runs in eager
    else:
        candidates = (name, 'eager') if name != 'eager' else ('eager',)
    if 'onnxruntime' in candidates[:1] and model.amp_dtype is not None:
        log(f'--engine onnxruntime runs in fp32: --amp {model.opt.amp} does not apply to it')
    for candidate in candidates:
        start = time.perf_counter()
        try:
            run = BUILDERS[candidate](model, working=working, batch_size=batch_size, checkpoint=checkpoint,
                                      onnx_file=onnx_file, log=log)
        except EngineUnavailable as why:
            log(f'--engine {candidate} unavailable: {why}; using {candidates[candidates.index(candidate) + 1]}')
            continue
        except Exception as error:          # auto never fails where eager works: an engine that breaks is skipped
            if name != 'auto' or candidate == 'eager':
                raise
            log(f'--engine {candidate} failed ({type(error).__name__}: {str(error).splitlines()[0][:200]}); '
                f'using {candidates[candidates.index(candidate) + 1]}')
            continue
        return Engine(candidate, run, model.frame_generator().frame_names, model.device,
                      time.perf_counter() - start)
    raise AssertionError('eager is always available')
