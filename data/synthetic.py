"""Synthetic dancer videos with exact ground truth: the toolkit's test and demo data.

    python -m data.synthetic --out DIR --frames N --size H W [--motion train|novel] [--seed S] [--tex_size T]

A procedural 2D person made of the 24 DensePose parts dances in front of a static background. The
seed fixes the person (proportions, true texture atlas, skirt) and the background; ``--motion``
picks the moves (``novel``: the same person doing other moves at another speed, for evaluation).
Everything is deterministic: the same arguments give byte-identical files.

Written in the seed layout (1-based frame numbers, the names the real tools write):

    DIR/bg.jpg, DIR/texture.jpg (incomplete atlas unfolded from a few frames, unseen texels black)
    DIR/<basename(DIR)>/frame00001.jpg     DIR/densepose/frame00001_IUV.png   DIR/mask/frame00001.png
    DIR/flow/frame00001.flo (N-1)          DIR/flow_inv/frame00001.flo (N-1)
    DIR/openpose_json/frame00001_keypoints.json
    DIR/gt/atlas.png (true atlas), gt/bg.png (true background), gt/render/frame00001.png (true atlas at
    the exact float UV over the true background: no shading, no skirt), gt/dynamic/frame00001.png
    (skirt and pose-dependent shading: what a static texture cannot explain), gt/meta.json

Coordinates: pixel centres at integers, x right, y down. Internally x is measured from the frame's
centre column, xc = x - (W - 1) / 2, so that a horizontal mirror is the exact negation xc -> -xc.

Charts (how each body part's (U, V) is defined; the IUV of a frame is exactly these charts):
  Every part belongs to a component with an axis from point a to point b, local coordinates
  t = (p - a).(b - a) / |b - a|^2 (0 at a, 1 at b) and signed lateral offset s = d x (p - a)
  (d = unit axis; for an axis pointing down s > 0 is image-left), half-width w(t) linear from wa to wb.
  - Limbs are capsules along the skeleton segment, split lengthwise into two halves (two parts):
    U = |s| / w(t) (0 on the centre line, 1 at the edge), V = 1 - clip(t, 0, 1) (1 at the proximal
    joint). The "outer" half is sigma * s > 0 with sigma = +1 for the person's right side, -1 for
    the left (outer = away from the body when the limb hangs down):
        upper leg  right 7 outer / 9 inner,   left 8 / 10        (hip -> knee)
        lower leg  right 11 / 13,             left 12 / 14       (knee -> ankle)
        upper arm  right 16 / 18,             left 15 / 17       (shoulder -> elbow)
        lower arm  right 20 / 22,             left 19 / 21       (elbow -> wrist)
  - Hands (3 right, 4 left; wrist -> hand tip) and feet (6 right, 5 left; ankle -> toe) are single
    parts: U = 0.5 + 0.5 * sigma * s / w(t) (mirror-symmetric), V = 1 - clip(t, 0, 1).
  - Torso (neck -> mid hip, a tapered quad, no caps): U = 0.5 - 0.5 * s / w(t) (U = 0 at the
    image-left edge of a person facing the camera); part 2 upper half (t < 0.5, V = 1 - 2t),
    part 1 lower half (V = 2 - 2t).
  - Head: an ellipse around the head centre, axis towards the chin, t in [-1, 1] (units of the
    vertical radius): U = |s| / rx, V = 0.5 - 0.5 t (1 at the top); part 23 where s > 0 (the person's
    right = image left), 24 on the other half.
  Mirroring the frame swaps 3<->4, 5<->6, 7<->8, ..., 23<->24 with (U, V) unchanged and keeps parts
  1, 2 with U -> 1 - U (util.densepose.FLIP_PARTS); ``mirror_pose`` + ``rasterize`` reproduce this exactly.
  Painter order (front to back): arms and hands, head, torso, legs and feet; inside one layer the
  component whose axis is nearest (in units of its half-width) wins, which is mirror-symmetric.

Atlas: 6 rows x 4 columns of T x T tiles, part p in column (p-1)//6, row (p-1)%6; texel (row r,
col c) of a tile holds U = c / (T-1), V = 1 - r / (T-1). The body in the frames and in gt/render is
util.texture_sampling.render of the true atlas with hard part ids at the exact float (U, V); the IUV png holds
the same (U, V) rounded to 1/255.
Dynamic details (what a static texture cannot explain; gt/dynamic marks them): multiplicative
shading on the torso that follows the lean, creases near elbows and knees whose depth grows with the
bend, and a skirt attached at the hips whose hem swings like a damped pendulum driven by the hip
velocity. The skirt is a bilinear patch (u across 0..1 from the person's right, v waist 0 -> hem 1)
drawn over legs and torso, under arms and hands; DensePose labels the body under it (IUV part 0
where only the skirt is), the mask is body | skirt.
Flow: exact, from the local coordinates of every visible surface point (body part or skirt) mapped
into the neighbouring frame's geometry; the static background has flow 0.
"""
import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from tqdm import tqdm

from data.readers import read_frame, read_iuv, write_flo, write_frame, write_iuv, write_mask, write_openpose
from util.atlas import atlas_to_tensor
from util.densepose import NUM_PARTS
from util.texture_sampling import render
from util.unfold import unfold_atlas

GENERATOR = 'data.synthetic'
GENERATOR_VERSION = 1
FPS = 25.0
MOTIONS = ('train', 'novel')
UNFOLD_FRAMES = 6               # texture.jpg is unfolded from this many evenly spaced frames
DYNAMIC_THRESHOLD = 10          # shading that changes a channel by more than this is "dynamic"
PROGRESS_MIN_FRAMES = 100

# Painter layers, front (0) to back.
LAYER_ARMS, LAYER_HEAD, LAYER_TORSO, LAYER_LEGS = 0, 1, 2, 3
SIDES = (('r', 1.0), ('l', -1.0))     # person's right is image-left for a person facing the camera
# (name, from joint, to joint, layer, (outer part, inner part) or single part, per side)
_LIMBS = (
    ('upper_leg', 'hip', 'knee', LAYER_LEGS, {'r': (7, 9), 'l': (8, 10)}),
    ('lower_leg', 'knee', 'ankle', LAYER_LEGS, {'r': (11, 13), 'l': (12, 14)}),
    ('foot', 'ankle', 'toe', LAYER_LEGS, {'r': 6, 'l': 5}),
    ('upper_arm', 'shoulder', 'elbow', LAYER_ARMS, {'r': (16, 18), 'l': (15, 17)}),
    ('lower_arm', 'elbow', 'wrist', LAYER_ARMS, {'r': (20, 22), 'l': (19, 21)}),
    ('hand', 'wrist', 'hand', LAYER_ARMS, {'r': 3, 'l': 4}),
)
KIND_LIMB, KIND_SINGLE, KIND_TORSO, KIND_HEAD = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------
# The person: proportions (body units: standing height ~ 1) and appearance
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Body:
    head_rx: float
    head_ry: float
    neck_len: float          # neck joint (torso top) -> head centre
    torso_len: float         # neck -> mid hip
    torso_top_hw: float
    torso_bottom_hw: float
    shoulder_drop: float     # shoulder joints this far below the neck along the torso
    shoulder_hw: float
    hip_hw: float
    upper_arm: tuple         # (length, half-width at the start joint, at the end joint)
    lower_arm: tuple
    hand: tuple
    upper_leg: tuple
    lower_leg: tuple
    foot: tuple
    skirt_waist: float       # skirt waist at this fraction of the torso (neck 0, mid hip 1)
    skirt_len: float
    skirt_hem_hw: float


def make_body(seed):
    """Body proportions of the seed's person (left and right sides are symmetric)."""
    rng = np.random.default_rng([seed, 1])

    def j(value, spread=0.06):
        return float(value * (1.0 + spread * np.clip(rng.standard_normal(), -2, 2)))

    limb_width = j(1.0, 0.08)
    return Body(
        head_rx=j(0.052), head_ry=j(0.066), neck_len=j(0.062), torso_len=j(0.29),
        torso_top_hw=j(0.098), torso_bottom_hw=j(0.083), shoulder_drop=j(0.035), shoulder_hw=j(0.082),
        hip_hw=j(0.048),
        upper_arm=(j(0.16), 0.034 * limb_width, 0.027 * limb_width),
        lower_arm=(j(0.14), 0.026 * limb_width, 0.020 * limb_width),
        hand=(j(0.065), 0.022 * limb_width, 0.022 * limb_width),
        upper_leg=(j(0.235), 0.056 * limb_width, 0.041 * limb_width),
        lower_leg=(j(0.235), 0.039 * limb_width, 0.027 * limb_width),
        foot=(j(0.05), 0.023 * limb_width, 0.021 * limb_width),
        skirt_waist=j(0.8, 0.03), skirt_len=j(0.19, 0.1), skirt_hem_hw=j(0.15, 0.08))


def _hsv(h, s, v):
    """HSV in [0, 1] -> RGB float [..., 3] in [0, 255]."""
    h = np.asarray(h, np.float64) % 1.0
    k = (np.array([5.0, 3.0, 1.0]) + h[..., None] * 6.0) % 6.0
    rgb = v * (1.0 - s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0))
    return 255.0 * rgb


def _blur(image, sigma):
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


# Nominal size of each part's chart in body units (U span, V span), so that atlas patterns have a
# similar size on the body (a few percent of the body height) whatever the part's shape.
_SPANS = {1: (0.18, 0.145), 2: (0.18, 0.145), 3: (0.044, 0.065), 4: (0.044, 0.065), 5: (0.044, 0.05),
          6: (0.044, 0.05), 23: (0.052, 0.13), 24: (0.052, 0.13)}
_SPANS.update({p: (0.048, 0.235) for p in (7, 8, 9, 10)})
_SPANS.update({p: (0.033, 0.235) for p in (11, 12, 13, 14)})
_SPANS.update({p: (0.03, 0.16) for p in (15, 16, 17, 18)})
_SPANS.update({p: (0.023, 0.14) for p in (19, 20, 21, 22)})


def _atlas_tile(rng, hue, size, span):
    """One part's T x T tile: a distinct base colour and smooth patterns whose features are
    0.05-0.09 body units (several pixels in a frame, many texels in the atlas)."""
    u = (np.arange(size) / max(size - 1, 1))[None, :].repeat(size, 0)
    v = 1.0 - (np.arange(size) / max(size - 1, 1))[:, None].repeat(size, 1)
    x, y = u * span[0], v * span[1]                       # body units on the surface
    base = _hsv(hue, rng.uniform(0.45, 0.8), rng.uniform(0.55, 0.9))
    second = _hsv(hue + rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.95))
    kind = rng.integers(5)
    period = rng.uniform(0.05, 0.09)
    angle = rng.uniform(0, np.pi)
    along = x * np.cos(angle) + y * np.sin(angle)
    phase = rng.uniform(0, 2 * np.pi)
    if kind == 0:           # stripes
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * along / period + phase)
    elif kind == 1:         # soft checks
        pattern = 0.5 + 0.5 * np.tanh(2.0 * np.sin(2 * np.pi * x / period + phase) * np.sin(2 * np.pi * y / period))
    elif kind == 2:         # soft dots on a jittered grid
        pattern = np.zeros_like(u)
        step = 1.3 * period
        for cx in np.arange(-step / 2, span[0] + step, step):
            for cy in np.arange(-step / 2, span[1] + step, step):
                dx = cx + rng.uniform(-0.2, 0.2) * step - x
                dy = cy + rng.uniform(-0.2, 0.2) * step - y
                pattern += np.exp(-(dx * dx + dy * dy) / (2 * (0.22 * period) ** 2))
        pattern = np.clip(pattern, 0, 1)
    elif kind == 3:         # rings
        cx, cy = rng.uniform(0.2, 0.8) * span[0], rng.uniform(0.2, 0.8) * span[1]
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * np.hypot(x - cx, y - cy) / period + phase)
    else:                   # waves
        across = -x * np.sin(angle) + y * np.cos(angle)
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * (along + 0.2 * period * np.sin(2 * np.pi * across / (2 * period)))
                                     / period)
    gradient = rng.uniform(-0.15, 0.15) * (u - 0.5) + rng.uniform(-0.15, 0.15) * (v - 0.5)
    tile = base + (second - base) * (0.65 * pattern[..., None]) + 255.0 * gradient[..., None]
    return _blur(np.clip(tile, 0, 255).astype(np.float32), max(0.5, 0.012 * size))


def make_atlas(seed, tex_size):
    """The seed's true texture atlas: uint8 [6T, 4T, 3] RGB, every tile fully textured."""
    rng = np.random.default_rng([seed, 3])
    hues = (rng.permutation(NUM_PARTS) + rng.uniform(0, 1)) / NUM_PARTS
    atlas = np.zeros((6 * tex_size, 4 * tex_size, 3), np.float32)
    for part in range(1, NUM_PARTS + 1):
        row, col = (part - 1) % 6, (part - 1) // 6
        atlas[row * tex_size:(row + 1) * tex_size, col * tex_size:(col + 1) * tex_size] = \
            _atlas_tile(rng, hues[part - 1], tex_size, _SPANS[part])
    return np.clip(np.rint(atlas), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class SkirtLook:
    colour: np.ndarray
    band: np.ndarray
    dots: np.ndarray
    pleats: int


def make_skirt_look(seed):
    rng = np.random.default_rng([seed, 4])
    hue = rng.uniform()
    return SkirtLook(colour=_hsv(hue, rng.uniform(0.5, 0.85), rng.uniform(0.6, 0.9)),
                     band=_hsv(hue + rng.uniform(0.35, 0.65), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.9)),
                     dots=_hsv(hue + rng.uniform(-0.1, 0.1), 0.2, 0.97), pleats=int(rng.integers(4, 7)))


def skirt_colour(look, u, v):
    """Skirt pattern at its own coordinates (u across 0..1, v waist 0 -> hem 1): float RGB [..., 3]."""
    pleat = 0.84 + 0.16 * np.cos(2 * np.pi * look.pleats * u)
    band = np.exp(-((v - 0.75) / 0.09) ** 2)
    dot = np.clip(np.sin(2 * np.pi * 2.5 * u) * np.sin(2 * np.pi * 2.2 * v) - 0.45, 0, None) / 0.55
    rgb = look.colour + (look.band - look.colour) * band[..., None]
    rgb = rgb + (look.dots - rgb) * (0.7 * dot * (1 - band))[..., None]
    return np.clip(rgb * pleat[..., None], 0, 255)


def make_background(seed, height, width):
    """Static background: wall gradient, window, frames and soft discs, a tiled floor. uint8 RGB."""
    rng = np.random.default_rng([seed, 5])
    y = np.arange(height, dtype=np.float64)[:, None] / max(height - 1, 1)
    x = np.arange(width, dtype=np.float64)[None, :] / max(width - 1, 1)
    hue = rng.uniform()
    top, bottom = _hsv(hue, rng.uniform(0.1, 0.35), 0.85), _hsv(hue + 0.05, rng.uniform(0.2, 0.45), 0.6)
    image = top + (bottom - top) * y[..., None] + np.zeros((1, width, 1))
    image = image + 18.0 * np.cos(2 * np.pi * (x[..., None] * rng.uniform(0.6, 1.4) + rng.uniform()))

    def soft_box(x0, y0, x1, y1, edge=0.01):
        sx = 1 / (1 + np.exp(-(x - x0) / edge)) * 1 / (1 + np.exp((x - x1) / edge))
        sy = 1 / (1 + np.exp(-(y - y0) / edge)) * 1 / (1 + np.exp((y - y1) / edge))
        return (sx * sy)[..., None]

    wx = rng.uniform(0.05, 0.2)
    window = soft_box(wx, 0.1, wx + 0.22, 0.45)
    sky = _hsv(rng.uniform(0.5, 0.65), 0.35, 0.95) + np.zeros((height, width, 1)) - 40.0 * y[..., None]
    image = image + (sky - image) * window
    image = image * (1 - 0.5 * (soft_box(wx + 0.1, 0.1, wx + 0.12, 0.45) * window))   # window bar
    fx = rng.uniform(0.6, 0.75)
    picture = soft_box(fx, 0.15, fx + 0.2, 0.38)
    art = _hsv(rng.uniform() + 0.25 * np.sin(8 * x + 6 * y), 0.6, 0.7)
    image = image + (art - image) * picture
    for _ in range(3):
        cx, cy, r = rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.55), rng.uniform(0.04, 0.08)
        disc = np.exp(-((x - cx) ** 2 + ((y - cy) * height / max(width, 1)) ** 2) / (2 * r * r))[..., None]
        image = image + (_hsv(rng.uniform(), 0.5, 0.9) - image) * 0.7 * disc
    horizon = rng.uniform(0.6, 0.68)
    floor = 1 / (1 + np.exp(-(y - horizon) / 0.004))[..., None]
    depth = 1.0 / np.maximum(y - horizon + 0.12, 0.12)
    across = (x - 0.5) * depth
    tiles = 0.5 + 0.5 * np.tanh(1.5 * np.sin(2 * np.pi * across * 1.2) * np.sin(2 * np.pi * depth * 0.9))
    floor_a, floor_b = _hsv(hue + 0.5, 0.3, 0.55), _hsv(hue + 0.45, 0.25, 0.8)
    floor_rgb = floor_a + (floor_b - floor_a) * tiles[..., None]
    image = image + (floor_rgb - image) * floor
    image = image * (1 - 0.35 * np.exp(-((y - horizon) / 0.008) ** 2))[..., None]      # skirting board
    image = _blur(np.clip(image, 0, 255).astype(np.float32), 0.6 + 0.003 * min(height, width))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Motion: joint angles over time -> skeleton (body units) -> placement in the frame (pixels)
# ---------------------------------------------------------------------------------------------
def _dance(motion, t, seed):
    """Angles (radians) and offsets over time t [T] (seconds). Arm/leg angles are measured from
    straight down, positive rotating away from the body; elbow/knee angles add to them."""
    phase = np.random.default_rng([seed, 2, MOTIONS.index(motion)]).uniform(0, 2 * np.pi, 8)
    deg = np.deg2rad
    a = {}
    if motion == 'train':
        wave = 2 * np.pi * t / 1.0 + phase[2]
        a['lean'] = deg(7) * np.sin(2 * np.pi * t / 1.8 + phase[0])
        a['head'] = deg(6) * np.sin(2 * np.pi * t / 1.3 + phase[1]) - 0.4 * a['lean']
        a['r_shoulder'] = deg(28 + 18 * np.sin(wave))
        a['l_shoulder'] = deg(28 + 18 * np.sin(wave + 2.2))
        a['r_elbow'] = deg(10 + 100 * (0.5 + 0.5 * np.sin(wave)))
        a['l_elbow'] = deg(10 + 100 * (0.5 + 0.5 * np.sin(wave + 2.2)))
        a['r_wrist'] = deg(15 * np.sin(2 * wave + phase[3]))
        a['l_wrist'] = deg(15 * np.sin(2 * wave + phase[3] + 1.0))
        step = np.sin(2 * np.pi * t / 1.0 + phase[4])
        plie = 0.5 - 0.5 * np.cos(2 * np.pi * t / 0.5 + phase[5])
        for side, pulse in (('r', np.clip(step, 0, None) ** 2), ('l', np.clip(-step, 0, None) ** 2)):
            a[side + '_hip'] = deg(5 + 7 * plie + 18 * pulse)
            a[side + '_knee'] = -deg(16 * plie + 42 * pulse)
        a['lift'] = np.zeros_like(t)
        a['travel'] = np.sin(2 * np.pi * t / 3.6 + phase[6])
    else:
        wave = 2 * np.pi * t / 0.8 + phase[2]
        a['lean'] = deg(13) * np.sin(2 * np.pi * t / 2.4 + phase[0])
        a['head'] = deg(8) * np.sin(2 * np.pi * t / 1.5 + phase[1]) + 0.3 * a['lean']
        a['r_shoulder'] = deg(127 + 10 * np.sin(wave))
        a['l_shoulder'] = deg(127 + 10 * np.sin(wave + np.pi))
        a['r_elbow'] = deg(110 + 10 * np.sin(wave + 0.7))
        a['l_elbow'] = deg(110 + 10 * np.sin(wave + 0.7 + np.pi))
        a['r_wrist'] = deg(10 + 10 * np.sin(wave + phase[3]))
        a['l_wrist'] = deg(10 + 10 * np.sin(wave + phase[3] + np.pi))
        jump = np.sin(2 * np.pi * t / 0.7 + phase[4])
        plie = np.clip(-jump, 0, None)
        kick = np.sin(2 * np.pi * t / 1.9 + phase[5])
        for side, pulse in (('r', np.clip(kick, 0, None) ** 3), ('l', np.clip(-kick, 0, None) ** 3)):
            a[side + '_hip'] = deg(6 + 10 * plie + 32 * pulse)
            a[side + '_knee'] = -deg(30 * plie + 12 * pulse)
        a['lift'] = 0.028 * np.clip(jump, 0, None) ** 1.5
        a['travel'] = np.sin(2 * np.pi * t / 2.6 + phase[6])
    return a


def _direction(angle, sigma):
    """Unit vector [T, 2] at `angle` from straight down, turned away from the body on side sigma."""
    return np.stack([-sigma * np.sin(angle), np.cos(angle)], -1)


def skeleton(body, angles):
    """Forward kinematics in body units, mid hip at the origin, y down. dict name -> [T, 2]."""
    lean = angles['lean']
    up = np.stack([np.sin(lean), -np.cos(lean)], -1)          # mid hip -> neck
    lateral = np.stack([-np.cos(lean), -np.sin(lean)], -1)    # towards the person's right (image left)
    joints = {'midhip': np.zeros_like(up), 'neck': body.torso_len * up}
    head_angle = lean + angles['head']
    head_up = np.stack([np.sin(head_angle), -np.cos(head_angle)], -1)
    joints['head'] = joints['neck'] + body.neck_len * head_up
    joints['chin'] = joints['head'] - body.head_ry * head_up
    for side, sigma in SIDES:
        joints[side + '_shoulder'] = joints['neck'] - body.shoulder_drop * up + sigma * body.shoulder_hw * lateral
        joints[side + '_hip'] = sigma * body.hip_hw * lateral
        angle = angles[side + '_shoulder']
        joints[side + '_elbow'] = joints[side + '_shoulder'] + body.upper_arm[0] * _direction(angle, sigma)
        angle = angle + angles[side + '_elbow']
        joints[side + '_wrist'] = joints[side + '_elbow'] + body.lower_arm[0] * _direction(angle, sigma)
        angle = angle + angles[side + '_wrist']
        joints[side + '_hand'] = joints[side + '_wrist'] + body.hand[0] * _direction(angle, sigma)
        angle = angles[side + '_hip']
        joints[side + '_knee'] = joints[side + '_hip'] + body.upper_leg[0] * _direction(angle, sigma)
        angle = angle + angles[side + '_knee']
        joints[side + '_ankle'] = joints[side + '_knee'] + body.lower_leg[0] * _direction(angle, sigma)
        foot_angle = np.deg2rad(18) + 0.5 * angle
        joints[side + '_toe'] = joints[side + '_ankle'] + body.foot[0] * _direction(foot_angle, sigma)
    return joints


def _ground(body, joints):
    """Lowest sole point (y, body units) per time step."""
    soles = [np.maximum(joints[s + '_ankle'][:, 1], joints[s + '_toe'][:, 1]) + body.foot[2] for s, _ in SIDES]
    return np.maximum(*soles)


def _extent_points(body, joints):
    """(points [T, K, 2], radii [K]) that bound the person in body units, skirt included."""
    names, radii = [], []
    for side, _ in SIDES:
        for joint, radius in (('shoulder', body.upper_arm[1]), ('elbow', body.upper_arm[1]),
                              ('wrist', body.lower_arm[1]), ('hand', body.hand[2]),
                              ('knee', body.upper_leg[2]), ('ankle', body.lower_leg[2]), ('toe', body.foot[2])):
            names.append(side + '_' + joint)
            radii.append(radius)
    names += ['head', 'neck']
    radii += [max(body.head_rx, body.head_ry), body.torso_top_hw]
    points = np.stack([joints[n] for n in names], 1)
    # skirt hem at its widest swing
    hem_hw = body.skirt_hem_hw * 1.3 + body.skirt_len * np.sin(SKIRT_MAX_SWING)
    skirt = np.stack([joints['midhip'] + [hem_hw, 0], joints['midhip'] - [hem_hw, 0]], 1)
    return np.concatenate([points, skirt], 1), np.array(radii + [0.0, 0.0])


@dataclass(frozen=True)
class Stage:
    """Where the person stands in a frame of a given size (same for both motions of a seed)."""
    height: int
    width: int
    scale: float             # pixels per body unit
    floor_y: float           # sole line (pixels)
    margin_x: float
    standing_height: float   # body units, head top to sole


_FIT_TIMES = np.arange(0.0, 40.0, 0.04)
SKIRT_MAX_SWING = 0.45       # radians
TARGET_HEIGHT = 0.84         # standing person / frame height, where the moves fit


def make_stage(body, height, width, seed):
    """Scale so that the standing person is TARGET_HEIGHT of the frame height if every move of both
    motions stays in the frame (else smaller: narrow portrait frames); feet on a floor line near the
    bottom. Depends on the seed and the frame size only, so train and novel show the same person."""
    rest = skeleton(body, {k: np.zeros(1) for k in _dance('train', np.zeros(1), seed)})
    standing = float(_ground(body, rest)[0] - (rest['head'][0, 1] - body.head_ry))
    margin_top, floor_y = 0.03 * height, height - 1 - 0.035 * height
    margin_x = 0.02 * width + 1.0
    reach_up, reach_side = 0.0, 0.0
    for motion in MOTIONS:
        angles = _dance(motion, _FIT_TIMES, seed)
        joints = skeleton(body, angles)
        points, radii = _extent_points(body, joints)
        ground = _ground(body, joints)
        top = ground[:, None] - points[..., 1] + radii + angles['lift'][:, None]
        reach_up = max(reach_up, float(top.max()))
        reach_side = max(reach_side, float((np.abs(points[..., 0]) + radii).max()))
    scale = min(TARGET_HEIGHT * height / standing, (floor_y - margin_top) / reach_up,
                ((width - 1) / 2 - margin_x) / reach_side)
    return Stage(height, width, scale, floor_y, margin_x, standing)


def _skirt_swing(motion, t, stage, seed, travel_amplitude):
    """Skirt swing angle over t: a damped pendulum driven by the hip's velocity and the lean."""
    dt = 1.0 / (4 * FPS)
    times = np.arange(t[0] - 3.0, t[-1] + dt, dt)
    angles = _dance(motion, times, seed)
    hip_x = travel_amplitude / stage.scale * angles['travel']        # body units
    velocity = np.gradient(hip_x, dt)
    lean_rate = np.gradient(angles['lean'], dt)
    target = -0.9 * velocity - 0.25 * lean_rate + 0.5 * angles['lean']
    omega, zeta = 2 * np.pi / 0.8, 0.18
    swing, rate = 0.0, 0.0
    history = np.empty_like(times)
    for k, goal in enumerate(target):
        rate += dt * (omega * omega * (goal - swing) - 2 * zeta * omega * rate)
        swing += dt * rate
        history[k] = swing
    return np.clip(np.interp(t, times, history), -SKIRT_MAX_SWING, SKIRT_MAX_SWING)


def make_poses(body, stage, motion, seed, frames):
    """Per-frame poses: dict of points in centred pixel coordinates (xc, y) and shading scalars."""
    t = np.arange(frames) / FPS
    angles = _dance(motion, _FIT_TIMES, seed)
    joints = skeleton(body, angles)
    points, radii = _extent_points(body, joints)
    side_reach = float((np.abs(points[..., 0]) + radii).max()) * stage.scale
    travel_amplitude = max(0.0, 0.85 * ((stage.width - 1) / 2 - stage.margin_x - side_reach))
    angles = _dance(motion, t, seed)
    joints = skeleton(body, angles)
    ground = _ground(body, joints)
    swing = _skirt_swing(motion, t, stage, seed, travel_amplitude)
    root_x = travel_amplitude * angles['travel']
    hem_wave = 2 * np.pi * t / 0.7
    poses = []
    for k in range(frames):
        offset = np.array([root_x[k], stage.floor_y - stage.scale * (ground[k] + angles['lift'][k])])
        pose = {name: offset + stage.scale * value[k] for name, value in joints.items()}
        # skirt corners: waist on the torso, hem a pendulum from the waist centre
        waist_t = body.skirt_waist
        waist = pose['neck'] + waist_t * (pose['midhip'] - pose['neck'])
        lateral = (pose['r_hip'] - pose['l_hip']) / np.linalg.norm(pose['r_hip'] - pose['l_hip'])
        waist_hw = 1.08 * stage.scale * (body.torso_top_hw + waist_t * (body.torso_bottom_hw - body.torso_top_hw))
        down = np.array([np.sin(swing[k]), np.cos(swing[k])])
        hem_lateral = np.array([-down[1], down[0]])
        hem_hw = stage.scale * body.skirt_hem_hw * (1 + 0.3 * abs(swing[k]) / SKIRT_MAX_SWING)
        hem = waist + stage.scale * body.skirt_len * down
        pose.update({'r_waist': waist + waist_hw * lateral, 'l_waist': waist - waist_hw * lateral,
                     'r_hem': hem + hem_hw * hem_lateral, 'l_hem': hem - hem_hw * hem_lateral})
        pose['lean'] = float(angles['lean'][k])
        pose['hem_wave'] = float(hem_wave[k])
        for side, _ in SIDES:
            pose[side + '_elbow_bend'] = float(abs(angles[side + '_elbow'][k]))
            pose[side + '_knee_bend'] = float(abs(angles[side + '_knee'][k]))
        poses.append(pose)
    return poses


def _mirror_name(name):
    if name[:2] == 'r_':
        return 'l_' + name[2:]
    if name[:2] == 'l_':
        return 'r_' + name[2:]
    return name


def mirror_pose(pose):
    """The pose of the horizontally mirrored frame: xc -> -xc, left and right swapped."""
    mirrored = {}
    for name, value in pose.items():
        if isinstance(value, np.ndarray):
            value = np.array([-value[0], value[1]])
        elif name == 'lean':
            value = -value
        mirrored[_mirror_name(name)] = value
    return mirrored


# ---------------------------------------------------------------------------------------------
# Geometry: components, rasterisation, mapping local coordinates back to pixels
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Component:
    name: str
    kind: int
    layer: int
    a: np.ndarray
    b: np.ndarray
    wa: float
    wb: float
    parts: tuple             # (outer, inner) for limbs; (part,) for hands/feet; () torso and head
    sigma: float


def body_components(pose, body, scale):
    """The 14 components of a pose, always in the same order (their index is the flow's link)."""
    comps = [Component('torso', KIND_TORSO, LAYER_TORSO, pose['neck'], pose['midhip'],
                       scale * body.torso_top_hw, scale * body.torso_bottom_hw, (), 1.0),
             Component('head', KIND_HEAD, LAYER_HEAD, pose['head'], pose['chin'],
                       scale * body.head_rx, scale * body.head_rx, (), 1.0)]
    for side, sigma in SIDES:
        for name, start, end, layer, parts in _LIMBS:
            length, wa, wb = getattr(body, name)
            part = parts[side]
            kind = KIND_SINGLE if isinstance(part, int) else KIND_LIMB
            comps.append(Component(side + '_' + name, kind, layer, pose[side + '_' + start], pose[side + '_' + end],
                                   scale * wa, scale * wb, (part,) if kind == KIND_SINGLE else part, sigma))
    return comps


@dataclass
class Raster:
    """Per-pixel result of rasterising the body: comp index (-1 background), local coordinates
    (t, sn = s / w(t)), part id, U, V."""
    index: np.ndarray
    t: np.ndarray
    sn: np.ndarray
    part: np.ndarray
    u: np.ndarray
    v: np.ndarray
    layer: np.ndarray


def _grid(height, width):
    return np.arange(width, dtype=np.float64) - (width - 1) / 2.0, np.arange(height, dtype=np.float64)


def _bbox(points, radius, height, width):
    """Pixel slice (rows, cols) that contains every pixel within radius of the points."""
    points = np.asarray(points)
    x0 = int(np.floor(points[:, 0].min() - radius + (width - 1) / 2.0)) - 1
    x1 = int(np.ceil(points[:, 0].max() + radius + (width - 1) / 2.0)) + 2
    y0 = int(np.floor(points[:, 1].min() - radius)) - 1
    y1 = int(np.ceil(points[:, 1].max() + radius)) + 2
    return slice(max(y0, 0), min(max(y1, 0), height)), slice(max(x0, 0), min(max(x1, 0), width))


def _local(comp, px, py):
    """Local coordinates of pixel offsets (px, py) = p - a: (t, s, sn = s / w(t))."""
    e = comp.b - comp.a
    length2 = float(e @ e)
    d = e / np.sqrt(length2)
    t = (px * e[0] + py * e[1]) / length2
    s = d[0] * py - d[1] * px
    width = comp.wa + (comp.wb - comp.wa) * np.clip(t, 0.0, 1.0)
    return t, s, s / width


def rasterize(comps, height, width):
    """Painter-ordered rasterisation of the body components -> Raster with the chart's (part, U, V)."""
    xs, ys = _grid(height, width)
    key = np.full((height, width), np.inf)
    index = np.full((height, width), -1, np.int16)
    t_map = np.zeros((height, width))
    sn_map = np.zeros((height, width))
    for ci, comp in enumerate(comps):
        radius = max(comp.wa, comp.wb)
        rows, cols = _bbox([comp.a, comp.b], radius, height, width)
        if rows.start >= rows.stop or cols.start >= cols.stop:
            continue
        px = xs[cols][None, :] - comp.a[0]
        py = ys[rows][:, None] - comp.a[1]
        t, s, sn = _local(comp, px, py)
        if comp.kind in (KIND_LIMB, KIND_SINGLE):
            ex, ey = comp.b - comp.a
            dn = np.where(t < 0, np.hypot(px, py) / comp.wa,
                          np.where(t > 1, np.hypot(px - ex, py - ey) / comp.wb, np.abs(sn)))
        elif comp.kind == KIND_TORSO:
            dn = np.where((t >= 0) & (t <= 1), np.abs(sn), np.inf)
        else:
            dn = np.sqrt(t * t + sn * sn)
        k = np.where(dn <= 1.0, 4.0 * comp.layer + dn, np.inf)
        better = k < key[rows, cols]
        key[rows, cols] = np.where(better, k, key[rows, cols])
        index[rows, cols] = np.where(better, ci, index[rows, cols])
        t_map[rows, cols] = np.where(better, t, t_map[rows, cols])
        sn_map[rows, cols] = np.where(better, sn, sn_map[rows, cols])
    part = np.zeros((height, width), np.uint8)
    u = np.zeros((height, width))
    v = np.zeros((height, width))
    layer = np.full((height, width), -1, np.int8)
    for ci, comp in enumerate(comps):
        sel = index == ci
        if not sel.any():
            continue
        t, sn = t_map[sel], sn_map[sel]
        tc = np.clip(t, 0.0, 1.0)
        layer[sel] = comp.layer
        if comp.kind == KIND_LIMB:
            u[sel] = np.minimum(np.abs(sn), 1.0)
            v[sel] = 1.0 - tc
            part[sel] = np.where(comp.sigma * sn > 0, comp.parts[0], comp.parts[1])
        elif comp.kind == KIND_SINGLE:
            u[sel] = np.clip(0.5 + 0.5 * comp.sigma * sn, 0.0, 1.0)
            v[sel] = 1.0 - tc
            part[sel] = comp.parts[0]
        elif comp.kind == KIND_TORSO:
            u[sel] = np.clip(0.5 - 0.5 * sn, 0.0, 1.0)
            upper = t < 0.5
            v[sel] = np.where(upper, 1.0 - 2.0 * tc, 2.0 - 2.0 * tc)
            part[sel] = np.where(upper, 2, 1)
        else:
            u[sel] = np.minimum(np.abs(sn), 1.0)
            v[sel] = np.clip(0.5 - 0.5 * t, 0.0, 1.0)
            part[sel] = np.where(sn > 0, 23, 24)
    return Raster(index, t_map, sn_map, part, u, v, layer)


def map_body_points(comp, t, sn):
    """Pixel position (xc, y) [n, 2] of the surface points with local coordinates (t, sn) on comp."""
    e = comp.b - comp.a
    d = e / np.linalg.norm(e)
    normal = np.array([-d[1], d[0]])                   # s = (p - a) . normal
    width = comp.wa + (comp.wb - comp.wa) * np.clip(t, 0.0, 1.0)
    lateral = sn * width
    return comp.a + t[:, None] * e + lateral[:, None] * normal


def _skirt_corners(pose):
    """Bilinear patch corners: A (u 0, v 0), B (u 1, v 0), C (u 1, v 1), D (u 0, v 1)."""
    return pose['r_waist'], pose['l_waist'], pose['l_hem'], pose['r_hem']


def map_skirt_points(pose, u, v):
    a, b, c, d = _skirt_corners(pose)
    u, v = u[:, None], v[:, None]
    return (1 - v) * ((1 - u) * a + u * b) + v * ((1 - u) * d + u * c)


def _cross(a, b):
    return a[0] * b[1] - a[1] * b[0]


def rasterize_skirt(pose, height, width):
    """Skirt region and its coordinates: (inside bool [H, W], u [H, W], v [H, W])."""
    xs, ys = _grid(height, width)
    inside = np.zeros((height, width), bool)
    u_map = np.zeros((height, width))
    v_map = np.zeros((height, width))
    a, b, c, d = _skirt_corners(pose)
    rows, cols = _bbox([a, b, c, d], 0.0, height, width)
    if rows.start >= rows.stop or cols.start >= cols.stop:
        return inside, u_map, v_map
    hx = xs[cols][None, :] - a[0]
    hy = ys[rows][:, None] - a[1]
    e, f, g = b - a, d - a, a - b + c - d
    k2 = _cross(g, f)
    k1 = _cross(e, f) + (hx * g[1] - hy * g[0])
    k0 = hx * e[1] - hy * e[0]
    if abs(k2) < 1e-9 * max(abs(_cross(e, f)), 1e-12):
        v = -k0 / k1
    else:
        root = np.sqrt(np.maximum(k1 * k1 - 4 * k0 * k2, 0.0))
        v1, v2 = (-k1 - root) / (2 * k2), (-k1 + root) / (2 * k2)
        v = np.where((v1 >= -0.01) & (v1 <= 1.01), v1, v2)
    ux, uy = e[0] + g[0] * v, e[1] + g[1] * v
    u = ((hx - f[0] * v) * ux + (hy - f[1] * v) * uy) / np.maximum(ux * ux + uy * uy, 1e-12)
    hem = 1.0 - 0.05 * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * u + pose['hem_wave']))
    ok = (u >= 0) & (u <= 1) & (v >= 0) & (v <= hem)
    inside[rows, cols] = ok
    u_map[rows, cols] = np.where(ok, u, 0.0)
    v_map[rows, cols] = np.where(ok, v, 0.0)
    return inside, u_map, v_map


# ---------------------------------------------------------------------------------------------
# Frame synthesis
# ---------------------------------------------------------------------------------------------
def shading(raster, comps, pose, body):
    """Pose-dependent multiplicative shading [H, W] (1 where nothing changes): torso shading that
    follows the lean, creases near the elbows and knees whose depth grows with the bend."""
    factor = np.ones(raster.index.shape)
    for ci, comp in enumerate(comps):
        sel = raster.index == ci
        if not sel.any():
            continue
        if comp.kind == KIND_TORSO:
            lean = np.clip(pose['lean'] / np.deg2rad(13), -1.5, 1.5)
            factor[sel] = 1.0 - 0.3 * lean * (2.0 * raster.u[sel] - 1.0) - 0.08 * abs(lean)
            continue
        side, limb = comp.name[0], comp.name[2:]
        if limb in ('upper_arm', 'lower_arm'):
            bend = pose[side + '_elbow_bend'] / np.deg2rad(80)
        elif limb in ('upper_leg', 'lower_leg'):
            bend = pose[side + '_knee_bend'] / np.deg2rad(45)
        else:
            continue
        length = getattr(body, limb)[0]
        t = np.clip(raster.t[sel], 0.0, 1.0)
        along = (1.0 - t if limb.startswith('upper') else t) * length      # body units from the joint
        crease = np.exp(-(along / 0.045) ** 2) * (0.5 - 0.5 * np.cos(2 * np.pi * along / 0.016))
        factor[sel] = 1.0 - 0.6 * min(bend, 1.0) * crease * (1.0 - 0.5 * raster.u[sel] ** 2)
    return factor


def _to_uint8(image):
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def sample_body(texture, raster):
    """True atlas at the raster's exact float UV via util.texture_sampling.render.

    texture: [1, 72, T, T] in [-1, 1] -> float RGB [H, W, 3] in 0..255 (0 off the body)."""
    height, width = raster.part.shape
    body = raster.part > 0
    uv = np.zeros((2 * NUM_PARTS, height * width), np.float32)
    pix = np.flatnonzero(body)
    channel = 2 * (raster.part.ravel()[pix].astype(np.int64) - 1)
    uv[channel, pix] = 2 * raster.u.ravel()[pix] - 1
    uv[channel + 1, pix] = 2 * raster.v.ravel()[pix] - 1
    with torch.no_grad():
        out = render(texture, torch.from_numpy(uv.reshape(1, 2 * NUM_PARTS, height, width)),
                     torch.from_numpy(raster.part.astype(np.int64))[None])
    return (out[0].permute(1, 2, 0).numpy().astype(np.float64) + 1.0) * 127.5


@dataclass
class FrameData:
    """Everything written for one frame, plus what its flows need (raster, visible skirt coordinates)."""
    frame: np.ndarray        # uint8 [H, W, 3]
    render: np.ndarray       # uint8 [H, W, 3] detail-free
    iuv: np.ndarray          # uint8 [H, W, 3]
    mask: np.ndarray         # bool
    dynamic: np.ndarray      # bool
    raster: Raster
    skirt_visible: np.ndarray
    skirt_u: np.ndarray
    skirt_v: np.ndarray


def make_iuv(raster):
    """DensePose-style IUV uint8 [H, W, 3] = (part, round(255 U), round(255 V)), 0 off the body."""
    body = raster.part > 0
    iuv = np.zeros(raster.part.shape + (3,), np.uint8)
    iuv[..., 0] = raster.part
    iuv[..., 1] = np.where(body, _to_uint8(raster.u * 255.0), 0)
    iuv[..., 2] = np.where(body, _to_uint8(raster.v * 255.0), 0)
    return iuv


def synthesize_frame(pose, comps, body, texture, background, look):
    """One frame: the textured, shaded body, the skirt over it (under the arms), the background."""
    height, width = background.shape[:2]
    raster = rasterize(comps, height, width)
    body_px = raster.index >= 0
    colour = sample_body(texture, raster)
    detail_free = background.copy()
    detail_free[body_px] = _to_uint8(colour[body_px])
    shaded = colour * shading(raster, comps, pose, body)[..., None]
    inside, skirt_u, skirt_v = rasterize_skirt(pose, height, width)
    skirt_visible = inside & (raster.layer != LAYER_ARMS)
    frame = detail_free.copy()
    frame[body_px] = _to_uint8(shaded[body_px])
    frame[skirt_visible] = _to_uint8(skirt_colour(look, skirt_u[skirt_visible], skirt_v[skirt_visible]))
    changed = np.abs(frame.astype(np.int16) - detail_free.astype(np.int16)).max(-1) > DYNAMIC_THRESHOLD
    dynamic = skirt_visible | (body_px & changed)
    return FrameData(frame, detail_free, make_iuv(raster), body_px | inside, dynamic, raster,
                     skirt_visible, skirt_u, skirt_v)


def surface_flow(data, comps_to, pose_to):
    """Exact flow [H, W, 2] from data's frame to the frame whose geometry is (comps_to, pose_to)."""
    height, width = data.mask.shape
    xs, ys = _grid(height, width)
    flow = np.zeros((height, width, 2), np.float32)
    body = (data.raster.index >= 0) & ~data.skirt_visible
    rows, cols = np.nonzero(body)
    index = data.raster.index[rows, cols]
    t, sn = data.raster.t[rows, cols], data.raster.sn[rows, cols]
    for ci, comp in enumerate(comps_to):
        sel = index == ci
        if sel.any():
            target = map_body_points(comp, t[sel], sn[sel])
            flow[rows[sel], cols[sel], 0] = target[:, 0] - xs[cols[sel]]
            flow[rows[sel], cols[sel], 1] = target[:, 1] - ys[rows[sel]]
    rows, cols = np.nonzero(data.skirt_visible)
    if len(rows):
        target = map_skirt_points(pose_to, data.skirt_u[rows, cols], data.skirt_v[rows, cols])
        flow[rows, cols, 0] = target[:, 0] - xs[cols]
        flow[rows, cols, 1] = target[:, 1] - ys[rows]
    return flow


# ---------------------------------------------------------------------------------------------
# OpenPose keypoints
# ---------------------------------------------------------------------------------------------
def _face_template():
    """68 + 2 face points in head units: x image-right (of rx), y down (of ry), head centre 0."""
    points = []
    for k in range(17):                                   # jaw, person's right (image left) first
        angle = np.pi * k / 16
        points.append((-0.92 * np.cos(angle), 0.05 + 0.88 * np.sin(angle)))
    for x0, x1 in ((-0.72, -0.16), (0.16, 0.72)):         # right brow, left brow
        for x in np.linspace(x0, x1, 5):
            points.append((x, -0.36 - 0.08 * np.cos(np.pi * (x - x0) / (x1 - x0) - np.pi / 2)))
    for y in np.linspace(-0.26, 0.14, 4):                 # nose bridge
        points.append((0.0, y))
    for x in np.linspace(-0.2, 0.2, 5):                   # nose bottom
        points.append((x, 0.24 + 0.04 * (1 - abs(x) / 0.2)))
    for cx in (-0.4, 0.4):                                # right eye, left eye: corner, lids
        for angle in np.deg2rad([180, 120, 60, 0, -60, -120]):
            points.append((cx + 0.17 * np.cos(angle), -0.17 - 0.07 * np.sin(angle)))
    for angle in np.deg2rad(np.arange(180, -180, -30)):   # outer lips from the right corner
        points.append((0.34 * np.cos(angle), 0.52 - 0.13 * np.sin(angle)))
    for angle in np.deg2rad(np.arange(180, -180, -45)):   # inner lips
        points.append((0.22 * np.cos(angle), 0.52 - 0.05 * np.sin(angle)))
    points += [(-0.4, -0.17), (0.4, -0.17)]               # pupils
    return np.array(points)


FACE_TEMPLATE = _face_template()


def keypoints(pose, body, scale, width, rng):
    """OpenPose pose dict (pixel coordinates) for a pose."""
    centre = np.array([(width - 1) / 2.0, 0.0])
    head, chin = pose['head'], pose['chin']
    down = (chin - head) / np.linalg.norm(chin - head)
    right = np.array([-down[1], down[0]])                 # image-left when upright: person's right
    rx, ry = scale * body.head_rx, scale * body.head_ry

    def on_head(fx, fy):
        return head - fx * rx * right + fy * ry * down

    def foot_points(side, sigma):
        ankle, toe = pose[side + '_ankle'], pose[side + '_toe']
        d = (toe - ankle) / np.linalg.norm(toe - ankle)
        n = np.array([-d[1], d[0]]) * sigma                # outward
        hw = scale * body.foot[2]
        return toe - 0.6 * hw * n, toe + 0.6 * hw * n, ankle + 0.4 * hw * d - 0.3 * hw * n

    r_big, r_small, r_heel = foot_points('r', 1.0)
    l_big, l_small, l_heel = foot_points('l', -1.0)
    body25 = [on_head(0, 0.25), pose['neck'], pose['r_shoulder'], pose['r_elbow'], pose['r_wrist'],
              pose['l_shoulder'], pose['l_elbow'], pose['l_wrist'], pose['midhip'],
              pose['r_hip'], pose['r_knee'], pose['r_ankle'], pose['l_hip'], pose['l_knee'], pose['l_ankle'],
              on_head(-0.4, -0.17), on_head(0.4, -0.17), on_head(-0.95, 0.0), on_head(0.95, 0.0),
              l_big, l_small, l_heel, r_big, r_small, r_heel]
    face = [on_head(fx, fy) for fx, fy in FACE_TEMPLATE]

    def hand(side, sigma):
        wrist, tip = pose[side + '_wrist'], pose[side + '_hand']
        length = np.linalg.norm(tip - wrist)
        d = (tip - wrist) / length
        n = np.array([-d[1], d[0]]) * sigma
        hw = scale * body.hand[1]
        points = [wrist]
        for finger in range(5):
            if finger == 0:                                 # thumb, on the outer side
                points += [wrist + length * f * d + hw * (0.9 + 0.5 * f) * n for f in (0.15, 0.35, 0.55, 0.75)]
            else:
                lateral = (1.1 - 0.55 * finger) * hw
                reach = 1.05 - 0.07 * abs(finger - 2.2)
                points += [wrist + length * f * reach * d + lateral * n for f in (0.45, 0.65, 0.82, 1.0)]
        return points

    def block(points, low, high):
        points = np.asarray(points) + centre
        conf = rng.uniform(low, high, (len(points), 1))
        return np.concatenate([points, conf], 1).astype(np.float32)

    return {'body': block(body25, 0.7, 0.95), 'face': block(face, 0.55, 0.9),
            'hand_left': block(hand('l', -1.0), 0.5, 0.9), 'hand_right': block(hand('r', 1.0), 0.5, 0.9)}


# ---------------------------------------------------------------------------------------------
# Output folder and the generator
# ---------------------------------------------------------------------------------------------
FOLDERS = ('densepose', 'mask', 'flow', 'flow_inv', 'openpose_json', 'gt')
FILES = ('bg.jpg', 'texture.jpg')


def _frames_folder_name(out_dir):
    return os.path.basename(os.path.normpath(os.path.abspath(out_dir)))


def prepare_output(out_dir):
    """Create out_dir, or empty a previous synthetic output there; refuse anything else."""
    name = _frames_folder_name(out_dir)
    if name in FOLDERS:
        raise ValueError(f'{out_dir}: the dataset folder may not be named "{name}" (its frames folder '
                         f'DIR/{name}/ would collide with the {name}/ folder of the layout); choose another name')
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f'{out_dir}: exists and is not a folder; choose another --out')
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        meta_path = os.path.join(out_dir, 'gt', 'meta.json')
        try:
            with open(meta_path, encoding='utf-8') as handle:
                ours = json.load(handle).get('generator') == GENERATOR
        except (OSError, ValueError, AttributeError):
            ours = False
        own = set(FOLDERS) | set(FILES) | {name}
        foreign = sorted(set(os.listdir(out_dir)) - own)
        if not ours or foreign:
            what = f'it holds {foreign[0]!r}, which this generator never writes' if foreign else \
                f'it is not a previous synthetic output ({meta_path} missing or not written by {GENERATOR})'
            raise ValueError(f'{out_dir}: refusing to write into a non-empty folder: {what}. '
                             f'Pass an empty or new folder to --out (nothing was changed).')
        for entry in sorted(own):
            path = os.path.join(out_dir, entry)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    for folder in (name, 'densepose', 'mask', 'flow', 'flow_inv', 'openpose_json', 'gt',
                   os.path.join('gt', 'render'), os.path.join('gt', 'dynamic')):
        os.makedirs(os.path.join(out_dir, folder), exist_ok=True)


def _write_meta(out_dir, meta):
    with open(os.path.join(out_dir, 'gt', 'meta.json'), 'w', encoding='utf-8') as handle:
        json.dump(meta, handle, indent=1, sort_keys=True)


def generate(out_dir, frames, height, width, motion='train', seed=0, tex_size=64, progress=None):
    """Write a synthetic dataset (seed layout + gt/) to out_dir; returns a summary dict.

    progress: show a tqdm bar (default: from PROGRESS_MIN_FRAMES frames on).
    """
    if motion not in MOTIONS:
        raise ValueError(f'motion must be one of {MOTIONS}, got {motion!r}')
    if frames < 1 or height < 16 or width < 16 or tex_size < 4 or seed < 0:
        raise ValueError(f'need frames >= 1, a size of at least 16 x 16, tex_size >= 4 and seed >= 0 '
                         f'(got frames={frames}, size={height}x{width}, tex_size={tex_size}, seed={seed})')

    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # per-frame tensors are small: threads only add overhead
    try:
        return _generate(out_dir, frames, height, width, motion, seed, tex_size, progress)
    finally:
        torch.set_num_threads(threads)


def _generate(out_dir, frames, height, width, motion, seed, tex_size, progress):
    start = time.time()
    prepare_output(out_dir)
    meta = {'generator': GENERATOR, 'version': GENERATOR_VERSION, 'seed': seed, 'motion': motion,
            'height': height, 'width': width, 'tex_size': tex_size, 'frames': frames, 'fps': FPS,
            'complete': False}
    _write_meta(out_dir, meta)

    body = make_body(seed)
    stage = make_stage(body, height, width, seed)
    poses = make_poses(body, stage, motion, seed, frames)
    atlas = make_atlas(seed, tex_size)
    background = make_background(seed, height, width)
    look = make_skirt_look(seed)
    texture = atlas_to_tensor(torch.from_numpy(atlas))[None].float()
    write_frame(os.path.join(out_dir, 'gt', 'atlas.png'), atlas)
    write_frame(os.path.join(out_dir, 'gt', 'bg.png'), background)
    write_frame(os.path.join(out_dir, 'bg.jpg'), background)

    frames_dir = os.path.join(out_dir, _frames_folder_name(out_dir))
    digits = max(5, len(str(frames)))
    stems = [f'frame{k + 1:0{digits}d}' for k in range(frames)]
    unfold_ids = sorted(set(np.linspace(0, frames - 1, min(frames, UNFOLD_FRAMES)).round().astype(int).tolist()))
    rng_pose = np.random.default_rng([seed, 7, MOTIONS.index(motion)])
    show = frames >= PROGRESS_MIN_FRAMES if progress is None else progress
    steps = range(frames)
    if show:
        steps = tqdm(steps, desc=f'synthetic {os.path.basename(os.path.normpath(out_dir))}', unit='frame')
    previous, previous_comps = None, None
    mask_share, height_px = [], []
    for k in steps:
        pose = poses[k]
        comps = body_components(pose, body, stage.scale)
        data = synthesize_frame(pose, comps, body, texture, background, look)
        stem = stems[k]
        write_frame(os.path.join(frames_dir, stem + '.jpg'), data.frame)
        write_iuv(os.path.join(out_dir, 'densepose', stem + '_IUV.png'), data.iuv)
        write_mask(os.path.join(out_dir, 'mask', stem + '.png'), data.mask)
        write_frame(os.path.join(out_dir, 'gt', 'render', stem + '.png'), data.render)
        write_mask(os.path.join(out_dir, 'gt', 'dynamic', stem + '.png'), data.dynamic)
        write_openpose(os.path.join(out_dir, 'openpose_json', stem + '_keypoints.json'),
                       [keypoints(pose, body, stage.scale, width, rng_pose)])
        if previous is not None:
            write_flo(os.path.join(out_dir, 'flow', stems[k - 1] + '.flo'), surface_flow(previous, comps, pose))
            write_flo(os.path.join(out_dir, 'flow_inv', stems[k - 1] + '.flo'),
                      surface_flow(data, previous_comps, poses[k - 1]))
        mask_share.append(float(data.mask.mean()))
        rows = np.flatnonzero(data.mask.any(1))
        height_px.append(int(rows[-1] - rows[0] + 1) if len(rows) else 0)
        previous, previous_comps = data, comps

    unfold_frames = (read_frame(os.path.join(frames_dir, stems[k] + '.jpg')) for k in unfold_ids)
    unfold_iuvs = (read_iuv(os.path.join(out_dir, 'densepose', stems[k] + '_IUV.png')) for k in unfold_ids)
    unfolded, _seen = unfold_atlas(unfold_frames, unfold_iuvs, tex_size)
    write_frame(os.path.join(out_dir, 'texture.jpg'), _to_uint8(unfolded))

    standing_px = stage.scale * stage.standing_height
    meta.update({'complete': True, 'person_height_px': round(standing_px, 3),
                 'pixels_per_body_unit': round(stage.scale, 4), 'unfold_frames': [k + 1 for k in unfold_ids]})
    _write_meta(out_dir, meta)
    return {'out_dir': out_dir, 'frames': frames, 'height': height, 'width': width, 'motion': motion,
            'seed': seed, 'tex_size': tex_size, 'person_height_fraction': standing_px / height,
            'mask_share': float(np.mean(mask_share)), 'max_person_height_px': max(height_px),
            'seconds': time.time() - start}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='output folder (new, empty, or a previous synthetic output)')
    parser.add_argument('--frames', type=int, default=60, help='number of frames')
    parser.add_argument('--size', type=int, nargs=2, default=(256, 256), metavar=('H', 'W'), help='frame size')
    parser.add_argument('--motion', choices=MOTIONS, default='train',
                        help='train: the training moves; novel: other moves and speed (same person)')
    parser.add_argument('--seed', type=int, default=0, help='fixes the person, texture and background')
    parser.add_argument('--tex_size', type=int, default=64, help='atlas tile size T (atlas is 6T x 4T)')
    args = parser.parse_args(argv)
    try:
        summary = generate(args.out, args.frames, args.size[0], args.size[1], args.motion, args.seed, args.tex_size)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(f"wrote {summary['frames']} frames {summary['width']}x{summary['height']} ({summary['motion']}, "
          f"seed {summary['seed']}) to {summary['out_dir']} in {summary['seconds']:.1f} s; "
          f"person {100 * summary['person_height_fraction']:.0f}% of the frame height")
    return 0


if __name__ == '__main__':
    sys.exit(main())
