"""What test.py writes for sharing: videos timed by a driving video and carrying its audio (--driving_video), and
frames and videos at another size than the working size (--output_size / --output_scale). The streams are read
back from ffmpeg's own report of the files (`ffmpeg -i`), the audio decoded to check which part of the clip it is."""
import glob
import json
import os
import re
import subprocess
import warnings

import numpy as np
import pytest

from data.readers import read_frame
from inference.drive import drive as run_drive
from inference.output_format import output_size, resize_output
from options.test_options import TestOptions as DriveOptions
from tests.helpers import FRAMES, SIZE
from util.video import VideoWriter, ffmpeg_exe, read_video

RATE = 16000            # audio sample rate of the clips


def make_clip(path, seconds, fps, audio=None):
    """An H.264 test-pattern mp4 of 64 x 48 at fps; audio: an ffmpeg aevalsrc expression of t (mono), or None."""
    command = [ffmpeg_exe(), '-nostdin', '-y', '-loglevel', 'error', '-f', 'lavfi', '-i', f'testsrc=size=64x48:rate={fps}']
    if audio:
        command += ['-f', 'lavfi', '-i', f'aevalsrc={audio}:s={RATE}', '-c:a', 'aac']
    command += ['-t', str(seconds), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', str(path)]
    subprocess.run(command, check=True)
    return str(path)


def streams(path):
    """(video fps, audio stream present, duration in seconds) as `ffmpeg -i` reports them."""
    report = subprocess.run([ffmpeg_exe(), '-hide_banner', '-i', str(path)], capture_output=True, text=True).stderr
    video = [line for line in report.splitlines() if re.search(r'Stream #\d+:\d+.*: Video:', line)]
    assert len(video) == 1, report
    hours, minutes, seconds = re.search(r'Duration: (\d+):(\d+):([\d.]+)', report).groups()
    fps = float(re.search(r'([\d.]+) fps', video[0]).group(1))
    return fps, bool(re.search(r'Stream #\d+:\d+.*: Audio:', report)), 3600 * int(hours) + 60 * int(minutes) + float(seconds)


def tones(path, frequencies=(440, 1760)):
    """Energy of a file's audio track (decoded to mono at RATE) within 20 Hz of each frequency."""
    raw = subprocess.run([ffmpeg_exe(), '-nostdin', '-loglevel', 'error', '-i', str(path), '-map', '0:a:0', '-ac', '1',
                          '-ar', str(RATE), '-f', 'f32le', '-'], capture_output=True, check=True).stdout
    samples = np.frombuffer(raw, np.float32)
    spectrum = np.abs(np.fft.rfft(samples))            # no taper: every part of the track counts alike
    bins = np.fft.rfftfreq(len(samples), 1 / RATE)
    return [float((spectrum[np.abs(bins - f) < 20] ** 2).sum()) for f in frequencies]


def drive(tiny_render, results, *args):
    argv = ['--name', tiny_render.name, '--checkpoints_dir', tiny_render.checkpoints, '--gpu_ids', '-1',
            '--results_dir', results, '--batch_size', '8', '--html_frames', '2',
            '--pose_path', tiny_render.novel / 'openpose_json', *args]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        folder = run_drive(DriveOptions().parse([str(a) for a in argv]))[0]
    return folder, [str(w.message) for w in caught]


def test_driven_video_has_the_driving_clips_fps_and_audio_from_start(tiny_render, tmp_path):
    # 2 s at 12 fps = one video frame per driving pose; the tone is 1760 Hz from 0.5 s to 1.5 s, 440 Hz else
    clip = make_clip(tmp_path / 'driving.mp4', 2, 12, 'sin(2*PI*if(between(t\\,0.5\\,1.5)\\,1760\\,440)*t)')
    low, high = tones(clip)
    assert 0.3 < low / high < 3, (low, high)
    folder, messages = drive(tiny_render, tmp_path / 'out', '--driving_video', clip, '--start', '6',
                             '--how_many', '12', '--output_size', '96', '80')
    assert not messages, messages
    for name, width in (('video.mp4', 96), ('side_by_side.mp4', 3 * 96)):
        fps, audio, duration = streams(os.path.join(folder, name))
        assert fps == 12 and audio, (name, fps, audio)
        assert duration == pytest.approx(12 / 12, abs=0.1), (name, duration)       # cut at the video's end
        # poses 6..17 are shown, so the audio is the clip's 0.5 s .. 1.5 s: the 1760 Hz part
        low, high = tones(os.path.join(folder, name))
        assert low < 0.05 * high, (name, low, high)
        assert read_video(os.path.join(folder, name)).shape == (12, 80, width, 3)
    frames = sorted(glob.glob(os.path.join(folder, 'frames', '*.png')))
    assert len(frames) == 12 and read_frame(frames[0]).shape == (80, 96, 3)
    summary = json.load(open(os.path.join(folder, 'summary.json')))
    assert summary['fps'] == 12 and summary['output_size'] == [80, 96] and summary['working_size'] == [SIZE, SIZE]
    assert summary['driving_video'] == {'path': clip, 'fps': 12.0, 'frames': FRAMES, 'audio': 'aac',
                                        'audio_offset_s': 0.5}
    assert 'audio of' in open(os.path.join(folder, 'index.html')).read()


def test_short_silent_driving_video_is_named_and_every_pose_still_rendered(tiny_render, tmp_path):
    clip = make_clip(tmp_path / 'short.mp4', 1, 10)               # 10 frames for 24 poses, no audio
    folder, messages = drive(tiny_render, tmp_path / 'out', '--driving_video', clip, '--how_many', '4',
                             '--output_scale', '0.5')
    assert any(f'{clip}: 1.00 s (about 10 frames at 10 fps) but the {FRAMES} driving OpenPose files last 2.40 s'
               in m and f'--fps {FRAMES} keeps them' in m for m in messages), messages
    assert any(f'{clip}: no audio track' in m for m in messages), messages
    fps, audio, _ = streams(os.path.join(folder, 'video.mp4'))
    assert fps == 10 and not audio
    assert read_video(os.path.join(folder, 'video.mp4')).shape == (4, SIZE // 2, SIZE // 2, 3)
    assert read_frame(sorted(glob.glob(os.path.join(folder, 'frames', '*.png')))[0]).shape == (SIZE // 2, SIZE // 2, 3)
    # --fps overrides the clip's rate (the poses span the whole clip at 24 fps)
    folder, messages = drive(tiny_render, tmp_path / 'override', '--driving_video', clip, '--how_many', '2',
                             '--fps', '24')
    assert streams(os.path.join(folder, 'video.mp4'))[0] == 24
    assert json.load(open(os.path.join(folder, 'summary.json')))['fps'] == 24
    assert not any('driving OpenPose files' in m for m in messages), messages      # 24 poses at 24 fps: 1 s


def test_audio_never_shortens_the_video_and_a_silent_source_gives_a_silent_video(tmp_path):
    short_audio = make_clip(tmp_path / 'half_second.mp4', 0.5, 12, 'sin(2*PI*440*t)')
    silent = make_clip(tmp_path / 'silent.mp4', 1, 12)
    frames = np.random.default_rng(0).integers(0, 256, (24, 32, 48, 3), dtype=np.uint8)
    for source, has_audio in ((short_audio, True), (silent, False)):
        path = str(tmp_path / f'out_{os.path.basename(source)}')
        with VideoWriter(path, fps=12, audio=source) as video:
            for frame in frames:
                video.write(frame)
        fps, audio, duration = streams(path)
        assert fps == 12 and audio is has_audio and duration == pytest.approx(2.0, abs=0.1)
        assert read_video(path).shape == frames.shape
    assert not [name for name in os.listdir(tmp_path) if name.startswith('.')]        # no temporaries left


def test_output_size_and_resizing():
    assert output_size((64, 48)) == (64, 48)
    assert output_size((64, 48), size=[96, 80]) == (80, 96)          # --output_size W H
    assert output_size((64, 48), scale=0.5) == (32, 24) and output_size((64, 48), scale=1.5) == (96, 72)
    y, x = np.mgrid[0:64, 0:48]
    image = np.stack([4 * x, 4 * y, np.full_like(x, 128)], -1).astype(np.uint8)
    assert resize_output(image, (64, 48)) is image
    down = resize_output(image, (32, 24))
    assert down.shape == (32, 24, 3) and down[..., 2].min() == down[..., 2].max() == 128
    assert abs(int(down[0, 0, 0]) - 2) <= 1 and abs(int(down[-1, -1, 0]) - int(image[-2:, -2:, 0].mean())) <= 1
    up = resize_output(image, (128, 96))
    assert up.shape == (128, 96, 3) and np.abs(up[::2, ::2].astype(int) - image).mean() < 3
    assert resize_output(image[..., 0], (80, 96)).shape == (80, 96)      # masks: grey images


def test_output_flags_are_checked():
    base = ['--name', 'x', '--pose_path', 'p']
    for args in (['--output_size', '96', '80', '--output_scale', '2'], ['--output_scale', '0'],
                 ['--output_size', '0', '80'], ['--phase', 'val', '--driving_video', 'in.mp4'], ['--fps', '0']):
        with pytest.raises(SystemExit):
            DriveOptions().parse(base + args)
    opt = DriveOptions().parse(base + ['--driving_video', 'in.mp4'])
    assert opt.fps is None and opt.driving_video == 'in.mp4' and opt.output_size is None
