import colorsys
import os
import re
import struct
from html.parser import HTMLParser

import cv2
import numpy as np
import pytest
import torch

from util.html import HTML
from util.image import (PART_PALETTE, flow_to_image, part_map_to_image, part_probs_to_image, save_image,
                        select_part_uv, tensor_to_image, to_image, uv_to_image, uv_to_images)
from util.visualizer import Visualizer, format_losses


class _PageParser(HTMLParser):
    """Collects the image tables of index.html: a list of rows, each a list of (src, href, caption)."""

    def __init__(self):
        super().__init__()
        self.rows, self.headers = [], []
        self._href = None
        self._in_p = self._in_h3 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'table' and attrs.get('class') == 'images':
            self.rows.append([])
        elif tag == 'a':
            self._href = attrs.get('href')
        elif tag == 'img':
            self.rows[-1].append([attrs['src'], self._href, None])
        elif tag == 'p':
            self._in_p = True
        elif tag == 'h3':
            self._in_h3 = True

    def handle_endtag(self, tag):
        if tag == 'p':
            self._in_p = False
        elif tag == 'h3':
            self._in_h3 = False

    def handle_data(self, data):
        if self._in_p:
            self.rows[-1][-1][2] = data
        elif self._in_h3:
            self.headers.append(data)


def _parse_index(run_dir):
    parser = _PageParser()
    with open(os.path.join(run_dir, 'web', 'index.html')) as f:
        parser.feed(f.read())
    return parser


def _read_events(path):
    """(tag, step, value or 'image') of every summary in a TensorBoard event file (TFRecord framing)."""
    from tensorboardX.proto import event_pb2
    found = []
    with open(path, 'rb') as f:
        data = f.read()
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack('<Q', data[offset:offset + 8])
        event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
        offset += 12 + length + 4
        for value in event.summary.value:
            found.append((value.tag, event.step, 'image' if value.HasField('image') else value.simple_value))
    return found


def _visuals(seed):
    g = torch.Generator().manual_seed(seed)
    return {
        'real_image': torch.rand(3, 8, 12, generator=g) * 2 - 1,
        'fake_image': torch.rand(1, 3, 8, 12, generator=g) * 2 - 1,   # batch of one
        'mask': torch.rand(1, 8, 12, generator=g) * 2 - 1,
        'parts': part_map_to_image(torch.randint(0, 25, (8, 12), generator=g)),  # uint8 RGB
    }


# ---- util/image.py ------------------------------------------------------------------------------

def test_tensor_to_image_range_and_layout():
    t = torch.tensor([[[-1.0, 1.0], [0.0, 3.0]], [[-5.0, 0.5], [1.0, -1.0]], [[1.0, -1.0], [-0.5, 0.0]]],
                     requires_grad=True)
    image = tensor_to_image(t)
    assert image.dtype == np.uint8 and image.shape == (2, 2, 3)
    assert image[0, 0].tolist() == [0, 0, 255]       # -1 -> 0, 1 -> 255, -5 clamped to 0
    assert image[1, 1].tolist() == [255, 0, 128]     # 3 clamped to 255, 0 -> 128
    assert image[0, 1, 1] == round(1.5 * 127.5)
    grey = tensor_to_image(torch.tensor([[[-1.0, 1.0]]]))
    assert grey.tolist() == [[[0, 0, 0], [255, 255, 255]]]
    assert tensor_to_image(torch.tensor([[1.0, -1.0]])).tolist() == [[[255] * 3, [0] * 3]]
    with pytest.raises(ValueError, match='part_probs_to_image'):
        tensor_to_image(torch.zeros(25, 4, 4))


def test_to_image_passes_uint8_through_and_reads_hwc_floats():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(to_image(rgb), rgb)
    hwc = np.full((5, 7, 3), -1.0, np.float32)
    hwc[..., 2] = 1.0
    out = to_image(hwc)
    assert out.shape == (5, 7, 3) and out[0, 0].tolist() == [0, 0, 255]


def test_part_palette_distinct_and_part_map_colours():
    assert PART_PALETTE.shape == (25, 3)
    assert PART_PALETTE[0].tolist() == [0, 0, 0]
    assert len({tuple(c) for c in PART_PALETTE.tolist()}) == 25
    # far enough apart to tell apart by eye: every pair differs by > 40 in some channel
    diffs = np.abs(PART_PALETTE[:, None].astype(int) - PART_PALETTE[None].astype(int)).max(-1)
    assert diffs[~np.eye(25, dtype=bool)].min() > 40
    assert np.abs(PART_PALETTE.astype(int) - 128).max(-1).min() > 40     # none looks like 'unknown'
    parts = np.arange(-1, 25).reshape(2, 13)
    image = part_map_to_image(parts)
    assert image[0, 0].tolist() == [128, 128, 128]          # unknown
    assert image[0, 1].tolist() == [0, 0, 0]                # background
    assert np.array_equal(image.reshape(-1, 3)[1:], PART_PALETTE)
    with pytest.raises(ValueError, match='out of range'):
        part_map_to_image(np.full((2, 2), 25))


def test_part_probs_argmax():
    parts = torch.randint(0, 25, (6, 9), generator=torch.Generator().manual_seed(1))
    logits = torch.nn.functional.one_hot(parts, 25).permute(2, 0, 1).float() * 5 - 2
    assert np.array_equal(part_probs_to_image(logits), part_map_to_image(parts))


@pytest.mark.parametrize('layout', ['interleaved', 'planar'])
def test_select_part_uv_picks_each_pixels_pair(layout):
    H, W, P = 5, 6, 24
    # channel c holds the value c everywhere, so the result tells which channel was picked
    uv48 = torch.arange(2 * P, dtype=torch.float32)[:, None, None].expand(2 * P, H, W).clone()
    parts = torch.randint(0, P + 1, (H, W), generator=torch.Generator().manual_seed(2))
    parts[0, 0], parts[0, 1], parts[0, 2] = 0, 1, 24
    uv = select_part_uv(uv48, parts, layout=layout)
    assert uv.shape == (2, H, W)
    if layout == 'interleaved':
        u_channel, v_channel = 2 * (parts - 1), 2 * (parts - 1) + 1
    else:
        u_channel, v_channel = parts - 1, parts - 1 + P
    fg = parts > 0
    assert torch.equal(uv[0][fg], u_channel[fg].float())
    assert torch.equal(uv[1][fg], v_channel[fg].float())
    assert torch.all(uv[:, ~fg] == 0)
    if layout == 'interleaved':
        assert uv[:, 0, 1].tolist() == [0.0, 1.0] and uv[:, 0, 2].tolist() == [46.0, 47.0]
    # numpy in, numpy out; batched input works too
    np_uv = select_part_uv(uv48.numpy(), parts.numpy().astype(np.uint8), layout=layout)
    assert isinstance(np_uv, np.ndarray) and np.array_equal(np_uv, uv.numpy())
    batched = select_part_uv(uv48[None].repeat(2, 1, 1, 1), parts[None].repeat(2, 1, 1), layout=layout)
    assert torch.equal(batched[1], uv)


def test_uv_to_image_background_black_and_u_v_separate():
    uv = torch.stack([torch.linspace(-1, 1, 8).expand(4, 8), torch.full((4, 8), 1.0)])
    parts = torch.ones(4, 8, dtype=torch.long)
    parts[:, 0] = 0
    u_image, v_image = uv_to_images(uv, parts)
    assert u_image.shape == v_image.shape == (4, 8, 3)
    assert u_image[:, 0].max() == 0 and v_image[:, 0].max() == 0
    assert (u_image[:, 1:].max(-1) > 0).all()
    assert len({tuple(c) for c in u_image[0, 1:].tolist()}) == 7      # U varies along x
    assert len({tuple(c) for c in v_image[:, 1:].reshape(-1, 3).tolist()}) == 1  # V constant
    both = uv_to_image(uv, parts)
    assert both.shape == (4, 16, 3) and np.array_equal(both[:, 8:], v_image)


def _hue(rgb):
    return colorsys.rgb_to_hsv(*(np.asarray(rgb) / 255.0))[0] * 360


def test_flow_to_image_colours():
    zero = flow_to_image(torch.zeros(2, 5, 6))
    assert zero.shape == (5, 6, 3) and len({tuple(c) for c in zero.reshape(-1, 3).tolist()}) == 1
    flow = np.zeros((4, 6, 2), np.float32)            # numpy .flo layout [H, W, 2]
    flow[:, :3, 0] = 3.0                              # left half moves right
    flow[:, 3:, 0] = -3.0                             # right half moves left
    image = flow_to_image(flow)
    right, left = image[0, 0], image[0, 5]
    hue_gap = abs(_hue(right) - _hue(left)) % 360
    assert min(hue_gap, 360 - hue_gap) > 150          # opposite directions: opposite hues
    assert right.min() < 60 and left.min() < 60       # fully saturated at the robust max
    assert np.array_equal(flow_to_image(torch.from_numpy(flow).permute(2, 0, 1)), image)
    flow[0, 0] = 1e10                                 # unknown vector -> black
    assert flow_to_image(flow)[0, 0].tolist() == [0, 0, 0]


def test_save_image_round_trip_atomic(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    path = tmp_path / 'sub' / 'x.png'
    save_image(str(path), rgb)
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, rgb)
    assert os.listdir(tmp_path / 'sub') == ['x.png']       # no temp file left behind
    with pytest.raises(ValueError, match='x.png'):
        save_image(str(path), rgb.astype(np.float32))


def test_html_page_images_and_table(tmp_path):
    page = HTML(str(tmp_path / 'web'), 'run <1>', refresh=5)
    page.add_header('step 1')
    page.add_images(['images/a.png', 'images/b.png'], ['A', 'B'], width=128)
    page.add_table([[1, 0.123456], ['x', 2]], header=['k', 'v'])
    path = page.save()
    text = open(path).read()
    assert 'http-equiv="refresh"' in text and 'run &lt;1&gt;' in text
    assert 'src="images/a.png"' in text and 'width: 128px' in text
    assert '<th>v</th>' in text and '<td>0.1235</td>' in text
    with pytest.raises(ValueError, match='captions'):
        page.add_images(['a.png'], ['A', 'B'])


# ---- util/visualizer.py -------------------------------------------------------------------------

def test_display_writes_images_and_index_newest_first(tmp_path):
    run_dir = str(tmp_path / 'run')
    vis = Visualizer(run_dir)
    steps = [(1, 100), (1, 200), (2, 300)]
    for seed, (epoch, iteration) in enumerate(steps):
        vis.display(_visuals(seed), epoch, iteration)
    names = list(_visuals(0))
    files = set(os.listdir(os.path.join(run_dir, 'web', 'images')))
    expected = {f'epoch{e:03d}_iter{i:08d}_{n}.png' for e, i in steps for n in names}
    assert files == expected
    # the saved pixels are the converted visuals
    saved = cv2.cvtColor(cv2.imread(os.path.join(run_dir, 'web', 'images',
                                                 'epoch002_iter00000300_real_image.png')), cv2.COLOR_BGR2RGB)
    assert np.array_equal(saved, tensor_to_image(_visuals(2)['real_image']))
    page = _parse_index(run_dir)
    assert page.headers == ['epoch 2, iteration 300', 'epoch 1, iteration 200', 'epoch 1, iteration 100']
    assert len(page.rows) == 3
    for row, (e, i) in zip(page.rows, reversed(steps)):
        assert [caption for _, _, caption in row] == names
        assert [src for src, _, _ in row] == [f'images/epoch{e:03d}_iter{i:08d}_{n}.png' for n in names]
        assert all(href == src for src, href, _ in row)
        for src, _, _ in row:
            assert os.path.isfile(os.path.join(run_dir, 'web', src))
    vis.close()


def test_display_max_rows_and_resume(tmp_path):
    run_dir = str(tmp_path / 'run')
    vis = Visualizer(run_dir, max_rows=3)
    for step in range(1, 6):
        vis.display({'out': torch.zeros(3, 4, 4)}, 1, step)
    page = _parse_index(run_dir)
    assert [row[0][0] for row in page.rows] == [f'images/epoch001_iter{i:08d}_out.png' for i in (5, 4, 3)]
    assert len(os.listdir(os.path.join(run_dir, 'web', 'images'))) == 5     # older images stay
    # displaying the same step again replaces its row instead of adding one
    vis.display({'out': torch.ones(3, 4, 4)}, 1, 4)
    assert [row[0][0] for row in _parse_index(run_dir).rows][:2] == [
        'images/epoch001_iter00000004_out.png', 'images/epoch001_iter00000005_out.png']
    # a resumed run lists the steps already on disk below its new ones
    vis2 = Visualizer(run_dir, max_rows=3)
    vis2.display({'out': torch.zeros(3, 4, 4)}, 2, 6)
    assert [h for h in _parse_index(run_dir).headers] == [
        'epoch 2, iteration 6', 'epoch 1, iteration 5', 'epoch 1, iteration 4']


def test_display_rejects_bad_names_before_writing(tmp_path):
    run_dir = str(tmp_path / 'run')
    vis = Visualizer(run_dir)
    with pytest.raises(ValueError, match='file name'):
        vis.display({'ok': torch.zeros(3, 2, 2), 'bad/name': torch.zeros(3, 2, 2)}, 0, 0)
    assert os.listdir(os.path.join(run_dir, 'web', 'images')) == []


def test_log_losses_lines_and_tensorboard(tmp_path):
    run_dir = str(tmp_path / 'run')
    vis = Visualizer(run_dir, tf_log=True)
    message = vis.log_losses({'G_GAN': 0.5124, 'G_L2': torch.tensor(0.0331), 'D_real': 2e-5},
                             epoch=3, iteration=1200, seconds_per_iter=0.5)
    assert message == '(phase: train, epoch: 3, iters: 1200, time: 0.500) G_GAN: 0.512 G_L2: 0.033 D_real: 2.000e-05'
    vis.log_losses({'PSNR': 31.25}, epoch=3, iteration=1300, phase='val')
    vis.display({'out': torch.zeros(3, 4, 4)}, 3, 1300)
    vis.close()
    vis.close()
    lines = open(os.path.join(run_dir, 'loss_log.txt')).read().splitlines()
    assert len(lines) == 3
    assert re.match(r'^=+ Run started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d =+$', lines[0])
    assert lines[1] == message
    assert lines[2] == '(phase: val, epoch: 3, iters: 1300) PSNR: 31.250'
    events = [f for f in os.listdir(os.path.join(run_dir, 'logs')) if f.startswith('events.out.tfevents')]
    assert len(events) == 1
    summaries = _read_events(os.path.join(run_dir, 'logs', events[0]))
    assert [(tag, step) for tag, step, _ in summaries] == [
        ('train/G_GAN', 1200), ('train/G_L2', 1200), ('train/D_real', 1200), ('val/PSNR', 1300),
        ('visuals/out', 1300)]
    assert summaries[0][2] == pytest.approx(0.5124) and summaries[3][2] == pytest.approx(31.25)
    assert summaries[4][2] == 'image'
    # a restart appends a new header, old lines stay
    vis2 = Visualizer(run_dir)
    vis2.log_losses({'G_GAN': 1.0}, 4, 1400)
    lines = open(os.path.join(run_dir, 'loss_log.txt')).read().splitlines()
    assert len(lines) == 5 and lines[3].startswith('=') and lines[4].endswith('G_GAN: 1.000')
    with pytest.raises(ValueError, match='G_bad'):
        vis2.log_losses({'G_bad': torch.zeros(2)}, 4, 1400)


def test_format_losses_short():
    assert format_losses({'G_GAN': torch.tensor(0.51234), 'G_L2': 0.033123}) == 'G_GAN=0.512 G_L2=0.0331'
    assert Visualizer.format_losses({'a': 1}) == 'a=1'


def test_disabled_writes_nothing(tmp_path):
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    vis = Visualizer(str(run_dir), tf_log=True, enabled=False)
    vis.display(_visuals(0), 1, 1)
    message = vis.log_losses({'G_GAN': 0.5}, 1, 1)
    vis.close()
    assert message.endswith('G_GAN: 0.500')
    assert list(run_dir.iterdir()) == []
