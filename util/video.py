"""Write RGB frames to an H.264 mp4 (imageio-ffmpeg's ffmpeg), give it another video's audio track, and
read videos back.

    with VideoWriter('out/video.mp4', fps=25) as video:
        for frame in frames:            # uint8 [H, W, 3] RGB, all the same size
            video.write(frame)

Frames with an odd width or height are padded with black on the right / bottom to even sizes
(yuv420p, which every player decodes, needs them). The file is written under a temporary name and
renamed when the writer closes, so an interrupted run never leaves a truncated video behind.
``VideoWriter(..., audio=IN.mp4, audio_offset=s)`` muxes IN.mp4's first audio track, from s seconds on
and cut to the video's length (AAC), into the file before it is moved into place; a source without
audio gives a silent video. ``video_info`` reads a video's frame rate, length and streams.
"""
import os
import subprocess
from dataclasses import dataclass

import numpy as np

from util.io import AtomicPath


def _ffmpeg():
    try:
        import imageio_ffmpeg
        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as error:
        raise RuntimeError(f'writing mp4 needs ffmpeg ({error}); install it with `pip install imageio-ffmpeg` '
                           'or put an ffmpeg binary on the PATH (or set IMAGEIO_FFMPEG_EXE)') from error
    return imageio_ffmpeg


def ffmpeg_exe():
    """Path of the ffmpeg binary imageio-ffmpeg uses (its own, or IMAGEIO_FFMPEG_EXE)."""
    return _ffmpeg().get_ffmpeg_exe()


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header says: fps, size (W, H), duration in seconds (None if unknown), audio codec
    (None: no audio track)."""
    path: str
    fps: float
    size: tuple
    duration: float = None
    audio: str = None

    @property
    def frames(self):
        """Frame count estimated from the duration and frame rate (None if the duration is unknown)."""
        return None if self.duration is None else int(round(self.duration * self.fps))


def video_info(path):
    """The header of a video file (nothing is decoded); FileNotFoundError / ValueError naming the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: video not found')
    reader = _ffmpeg().read_frames(path)
    try:
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as error:
        last = (str(error).strip().splitlines() or [type(error).__name__])[-1]      # ffmpeg's own reason
        raise ValueError(f'{path}: ffmpeg cannot read it as a video ({last})') from error
    finally:
        reader.close()
    if not meta.get('fps'):
        raise ValueError(f'{path}: no frame rate in the video header')
    duration = meta.get('duration')
    return VideoInfo(path, float(meta['fps']), tuple(meta['size']), float(duration) if duration else None,
                     meta.get('audio_codec'))


def mux_audio(video_path, audio_path, out_path, offset=0.0, duration=None):
    """Write out_path (mp4): video_path's video stream as it is and audio_path's first audio track from
    offset seconds on, re-encoded to AAC and cut at duration seconds (the video's length: the audio never
    shortens the video). A source without audio gives the video alone."""
    command = [ffmpeg_exe(), '-nostdin', '-y', '-loglevel', 'error', '-i', video_path]
    if offset > 0:
        command += ['-ss', f'{offset:.6f}']
    command += ['-i', audio_path, '-map', '0:v:0', '-map', '1:a:0?', '-c:v', 'copy', '-c:a', 'aac']
    if duration is not None:
        command += ['-t', f'{duration:.6f}']
    result = subprocess.run(command + [out_path], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f'{out_path}: ffmpeg could not add the audio of {audio_path}: '
                           f'{result.stderr.strip()[-1000:]}')


def pad_to_even(frame):
    """uint8 [H, W, 3] -> the same frame with a black row / column added where H / W is odd."""
    height, width = frame.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return frame
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)))


class VideoWriter:
    """mp4 (H.264, yuv420p) writer; ``quality`` 0..10 (imageio-ffmpeg's scale, 10 = best); ``audio``: a
    video or audio file whose first audio track, from ``audio_offset`` seconds on, goes into the file."""

    def __init__(self, path, fps=25.0, quality=8, audio=None, audio_offset=0.0):
        if fps <= 0:
            raise ValueError(f'{path}: fps must be positive, got {fps}')
        self.path, self.fps, self.quality = path, float(fps), quality
        self.audio, self.audio_offset = audio, float(audio_offset)
        self._output = AtomicPath(path, os.path.splitext(path)[1] or '.mp4')   # ffmpeg picks the format by it
        self._ffmpeg = _ffmpeg()
        self._writer = None
        self.size = None
        self.frames = 0

    def write(self, frame):
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f'{self.path}: frames must be uint8 [H, W, 3] RGB, got {frame.dtype} {frame.shape}')
        frame = pad_to_even(frame)
        size = (frame.shape[1], frame.shape[0])
        if self._writer is None:
            self.size = size
            self._writer = self._ffmpeg.write_frames(
                self._output.temp, size, fps=self.fps, codec='libx264', pix_fmt_out='yuv420p',
                quality=self.quality, macro_block_size=1, ffmpeg_log_level='error')
            self._writer.send(None)
        elif size != self.size:
            raise ValueError(f'{self.path}: frame {self.frames + 1} is {size[0]}x{size[1]}, the video is '
                             f'{self.size[0]}x{self.size[1]}')
        self._writer.send(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self, keep=True):
        """Finish the file and move it into place (keep=False discards it)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            if keep and self.audio:
                with AtomicPath(self.path, os.path.splitext(self.path)[1] or '.mp4') as muxed:
                    try:
                        mux_audio(self._output.temp, self.audio, muxed, self.audio_offset, self.frames / self.fps)
                    finally:
                        self._output.discard()
            elif keep:
                self._output.commit()
        self._output.discard()

    def __enter__(self):
        return self

    def __exit__(self, kind, _value, _traceback):
        self.close(keep=kind is None)


def read_video(path):
    """All frames of a video: uint8 [N, H, W, 3] RGB (for tests and checks)."""
    ffmpeg = _ffmpeg()
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: video not found')
    reader = ffmpeg.read_frames(path)
    meta = next(reader)
    width, height = meta['size']
    frames = [np.frombuffer(chunk, np.uint8).reshape(height, width, 3) for chunk in reader]
    return np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8)
