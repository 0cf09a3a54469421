import json

import numpy as np
import pytest

from data import readers
from data.readers import DataFileError


def _write_json(path, people):
    path.write_text(json.dumps({'version': 1.3, 'people': people}))
    return str(path)


def _person(n_body=25, face=False, hands=False, seed=0):
    rng = np.random.default_rng(seed)
    body = np.concatenate([rng.uniform(0, 100, (n_body, 2)), rng.uniform(0.5, 1, (n_body, 1))], 1)
    person = {'pose_keypoints_2d': body.ravel().tolist()}
    person['face_keypoints_2d'] = np.ones(70 * 3).tolist() if face else []
    if hands:
        person['hand_left_keypoints_2d'] = np.ones(21 * 3).tolist()
        person['hand_right_keypoints_2d'] = (2 * np.ones(21 * 3)).tolist()
    return person, body.astype(np.float32)


def test_flo_round_trip_is_exact(tmp_path):
    flow = np.random.default_rng(1).normal(0, 5, (7, 11, 2)).astype(np.float32)
    path = str(tmp_path / 'a.flo')
    readers.write_flo(path, flow)
    back = readers.read_flo(path)
    assert back.dtype == np.float32 and back.shape == (7, 11, 2)
    assert np.array_equal(back, flow)
    raw = open(path, 'rb').read()
    assert np.frombuffer(raw[:4], np.float32)[0] == np.float32(202021.25)
    assert tuple(np.frombuffer(raw[4:12], np.int32)) == (11, 7)


@pytest.mark.parametrize('damage, message', [
    (lambda raw: raw[:-8], 'needs'),
    (lambda raw: raw[:-3], 'truncated'),
    (lambda raw: raw[:6], 'truncated'),
    (lambda raw: b'XIEH' + raw[4:], 'magic'),
])
def test_flo_damage_names_file(tmp_path, damage, message):
    path = tmp_path / 'bad.flo'
    readers.write_flo(str(path), np.zeros((4, 5, 2), np.float32))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataFileError) as error:
        readers.read_flo(str(path))
    assert str(path) in str(error.value) and message in str(error.value)


def test_iuv_channels_kept_in_file_order(tmp_path):
    iuv = np.zeros((6, 8, 3), np.uint8)
    iuv[..., 0] = 24
    iuv[..., 1] = 100
    iuv[..., 2] = 200
    path = str(tmp_path / 'frame00001_IUV.png')
    readers.write_iuv(path, iuv)
    assert np.array_equal(readers.read_iuv(path), iuv)


def test_iuv_part_out_of_range(tmp_path):
    iuv = np.zeros((4, 4, 3), np.uint8)
    iuv[0, 0, 0] = 30
    path = str(tmp_path / 'x_IUV.png')
    readers.write_iuv(path, iuv)
    with pytest.raises(DataFileError, match='part index 30'):
        readers.read_iuv(path)


def test_frame_rgb_and_corrupt(tmp_path):
    rgb = np.zeros((5, 6, 3), np.uint8)
    rgb[..., 0] = 255
    path = str(tmp_path / 'f.png')
    readers.write_frame(path, rgb)
    assert np.array_equal(readers.read_frame(path), rgb)
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    with pytest.raises(DataFileError, match='cannot decode'):
        readers.read_frame(str(bad))
    with pytest.raises(DataFileError, match='not found'):
        readers.read_frame(str(tmp_path / 'missing.jpg'))


def test_mask_threshold(tmp_path):
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    path = str(tmp_path / 'm.png')
    readers.write_mask(path, mask)
    assert np.array_equal(readers.read_mask(path), mask)


def test_label3d_npy_and_image(tmp_path):
    label = np.random.default_rng(0).random((3, 5, 4)).astype(np.float32)
    np.save(tmp_path / 'l.npy', label)
    assert np.array_equal(readers.read_label3d(str(tmp_path / 'l.npy')), label)
    readers.write_frame(str(tmp_path / 'l.png'), np.full((5, 4, 3), 255, np.uint8))
    image_label = readers.read_label3d(str(tmp_path / 'l.png'))
    assert image_label.shape == (3, 5, 4) and np.allclose(image_label, 1.0)


def test_openpose_body25_with_face_and_hands(tmp_path):
    person, body = _person(face=True, hands=True)
    poses = readers.read_openpose(_write_json(tmp_path / 'a_keypoints.json', [person]))
    assert len(poses) == 1
    assert np.allclose(poses[0]['body'], body, atol=1e-4)
    assert poses[0]['face'].shape == (70, 3)
    assert poses[0]['hand_left'].shape == (21, 3) and poses[0]['hand_right'][0, 2] == 2


def test_openpose_empty_people_and_no_face_hands(tmp_path):
    assert readers.read_openpose(_write_json(tmp_path / 'e.json', [])) == []
    person, _ = _person()
    pose = readers.read_openpose(_write_json(tmp_path / 'b.json', [person]))[0]
    assert pose['face'] is None and pose['hand_left'] is None and pose['hand_right'] is None


def test_openpose_two_people_kept_in_order(tmp_path):
    first, body_a = _person(seed=1)
    second, body_b = _person(seed=2)
    poses = readers.read_openpose(_write_json(tmp_path / 't.json', [first, second]))
    assert len(poses) == 2
    assert np.allclose(poses[1]['body'], body_b, atol=1e-4)


def test_openpose_zero_confidence_joint_is_missing(tmp_path):
    person, body = _person()
    values = person['pose_keypoints_2d']
    values[4 * 3 + 2] = 0.0
    pose = readers.read_openpose(_write_json(tmp_path / 'z.json', [person]))[0]
    assert pose['body'][4, 2] == 0 and (pose['body'][np.arange(25) != 4, 2] > 0).all()


def test_openpose_coco18_converted_to_body25(tmp_path):
    person, coco = _person(n_body=18)
    pose = readers.read_openpose(_write_json(tmp_path / 'c.json', [person]))[0]
    body = pose['body']
    assert body.shape == (25, 3)
    assert np.allclose(body[0], coco[0], atol=1e-4)
    assert np.allclose(body[9], coco[8], atol=1e-4)
    assert np.allclose(body[14], coco[13], atol=1e-4)
    assert np.allclose(body[8, :2], (coco[8, :2] + coco[11, :2]) / 2, atol=1e-3)
    assert (body[19:25, 2] == 0).all()


@pytest.mark.parametrize('content, message', [
    ('{not json', 'invalid JSON'),
    ('{"version": 1.3}', 'no "people"'),
    ('{"people": [{"pose_keypoints_2d": [1, 2]}]}', 'triples'),
    ('{"people": [{"pose_keypoints_2d": [1, 2, 3, 4, 5, 6]}]}', 'expected one of'),
])
def test_openpose_malformed_names_file(tmp_path, content, message):
    path = tmp_path / 'bad_keypoints.json'
    path.write_text(content)
    with pytest.raises(DataFileError) as error:
        readers.read_openpose(str(path))
    assert str(path) in str(error.value) and message in str(error.value)


def test_openpose_write_read_round_trip(tmp_path):
    person, body = _person(face=True, hands=True)
    pose = readers.read_openpose(_write_json(tmp_path / 'a.json', [person]))[0]
    readers.write_openpose(str(tmp_path / 'b.json'), [pose])
    back = readers.read_openpose(str(tmp_path / 'b.json'))[0]
    for key in ('body', 'face', 'hand_left', 'hand_right'):
        assert np.allclose(back[key], pose[key], atol=1e-3)
