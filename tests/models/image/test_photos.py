"""Synthetic photos with pasted faces: sizes, boxes, labels, and the detection match rule."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from models.image.photos import PhotoSettings, matches_face, photo_set, synthetic_photo


def _faces(count: int) -> np.ndarray:
    generator = np.random.default_rng(1)
    return generator.integers(0, 256, (count, 48, 48), dtype=np.uint8)


def test_photo_is_a_jpeg_of_the_stated_size_with_the_face_where_the_box_says() -> None:
    face = np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (48, 1))  # a ramp: easy to find again
    photo = synthetic_photo([face], np.random.default_rng(0), PhotoSettings(min_quality=95, max_quality=95))
    image = Image.open(io.BytesIO(photo.data))
    assert image.format == "JPEG" and image.size == (photo.width, photo.height)
    assert 320 <= min(image.size) and max(image.size) <= 1280
    (x, y, side, height), = photo.face_boxes
    assert side == height and 0.12 * min(image.size) - 1 <= side <= 0.40 * min(image.size) + 1
    gray = np.asarray(image.convert("L"), dtype=np.float32)[y : y + side, x : x + side]
    # left-to-right ramp survives the paste, the colour cast and JPEG (columns increase)
    columns = gray.mean(axis=0)
    assert columns[-side // 8 :].mean() - columns[: side // 8].mean() > 120


def test_two_faces_never_overlap_and_more_are_refused() -> None:
    generator = np.random.default_rng(3)
    for _ in range(20):
        photo = synthetic_photo(list(_faces(2)), generator)
        (x1, y1, s1, _), (x2, y2, s2, _) = photo.face_boxes
        assert x1 + s1 <= x2 or x2 + s2 <= x1 or y1 + s1 <= y2 or y2 + s2 <= y1
    with pytest.raises(ValueError, match="at most two"):
        synthetic_photo(list(_faces(3)), generator)


def test_photo_set_is_seeded_and_labels_follow_the_faces() -> None:
    faces, labels = _faces(40), np.arange(40) % 7
    first = photo_set(faces, labels, 30, seed=5)
    second = photo_set(faces, labels, 30, seed=5)
    assert [photo.data for photo in first.photos] == [photo.data for photo in second.photos]
    for photo, label, used in zip(first.photos, first.labels, first.face_indices):
        assert len(photo.face_boxes) == len(used)
        assert label == (labels[used[0]] if used else -1)
        assert all(labels[index] == label for index in used)  # two faces share one label
    assert (first.labels == -1).any() and any(len(used) == 2 for used in first.face_indices)


def test_match_rule_needs_the_centre_inside_and_a_similar_size() -> None:
    pasted = (100, 100, 80, 80)
    assert matches_face((105, 110, 70, 70), pasted)
    assert not matches_face((300, 300, 70, 70), pasted)  # elsewhere
    assert not matches_face((130, 130, 15, 15), pasted)  # an eye, not the face
    assert not matches_face((0, 0, 300, 300), pasted)  # a box around the whole scene
