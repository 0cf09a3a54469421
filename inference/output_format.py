"""How test.py writes what it renders: at which size (--output_size / --output_scale), at which frame rate
and with whose audio (--fps, --driving_video).

The network renders at the working size; frames, masks and both videos are resized to the output size
(each image on its own: INTER_AREA when it shrinks, INTER_CUBIC when it grows, so a W / H other than the
working size's stretches the picture). With --driving_video the videos take its frame rate (unless --fps
is given) and its audio track: driving pose k is shown at k / fps seconds, so the audio starts at
start / fps, the first rendered pose's time, and is cut at the videos' end.
"""
import warnings
from dataclasses import dataclass

import cv2

from util.video import VideoInfo, video_info

DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class OutputFormat:
    """size (H, W) of the written images; fps; audio: the file whose audio track the videos carry (None:
    silent), from audio_offset seconds on; driving: the --driving_video's header, if one was given."""
    size: tuple
    fps: float
    audio: str = None
    audio_offset: float = 0.0
    driving: VideoInfo = None

    def summary(self):
        """The summary.json entries: output_size [H, W], fps, and the driving video with its audio."""
        entries = {'output_size': list(self.size), 'fps': self.fps}
        if self.driving is not None:
            entries['driving_video'] = {'path': self.driving.path, 'fps': self.driving.fps,
                                        'frames': self.driving.frames, 'audio': self.driving.audio,
                                        'audio_offset_s': self.audio_offset if self.audio else None}
        return entries


def output_size(working, size=None, scale=None):
    """(H, W) of the written images: --output_size W H, or --output_scale times the working size (H, W),
    else the working size."""
    if size is not None:
        return int(size[1]), int(size[0])
    if scale is not None:
        return max(1, round(working[0] * scale)), max(1, round(working[1] * scale))
    return tuple(working)


def resize_output(image, size):
    """uint8 image [h, w] or [h, w, C] -> [H, W(, C)] for size (H, W): INTER_AREA down, INTER_CUBIC up; the
    image itself when it already has that size."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    shrinking = height <= image.shape[0] and width <= image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def driving_timing(path, poses, fps=None):
    """(fps, the driving video's header) for the video the poses were detected in, at its own frame rate
    unless fps is given. Warns when the poses at that rate last more than 2 frames and 2 % longer or
    shorter than the video (its audio would drift from them), and when the video has no audio."""
    try:
        info = video_info(path)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f'--driving_video {error}') from error
    fps = fps or info.fps
    if info.duration is not None and abs(poses / fps - info.duration) * fps > max(2, 0.02 * poses):
        hint = '' if fps != info.fps else (
            f'; if the poses cover the whole clip at another rate, --fps {poses / info.duration:.4g} keeps them '
            'in step with its audio')
        warnings.warn(f'{path}: {info.duration:.2f} s (about {info.frames} frames at {info.fps:g} fps) but the '
                      f'{poses} driving OpenPose files last {poses / fps:.2f} s at {fps:g} fps: the audio drifts '
                      f'from the poses by up to {abs(poses / fps - info.duration):.2f} s{hint}')
    if info.audio is None:
        warnings.warn(f'{path}: no audio track; video.mp4 and side_by_side.mp4 are silent')
    return fps, info


def output_format(opt, working, source):
    """The OutputFormat of a test.py run (parsed TestOptions, the working size (H, W), the frame source)."""
    size = output_size(working, opt.output_size, opt.output_scale)
    if not opt.driving_video:
        return OutputFormat(size, opt.fps or DEFAULT_FPS)
    fps, info = driving_timing(opt.driving_video, len(source.poses), opt.fps)
    audio = opt.driving_video if info.audio else None
    return OutputFormat(size, fps, audio, source.frames[0] / fps if audio else 0.0, info)
