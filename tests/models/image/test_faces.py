"""Face cropping, equalisation, area-weighted combination and Haar detection."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.image.faces import FaceDetector, combine_by_area, crop_faces


def test_crop_equalises_and_resizes_each_box() -> None:
    generator = np.random.default_rng(0)
    image = np.zeros((100, 200), dtype=np.uint8)
    # Left box: a dim, low-contrast patch; equalisation must stretch it to the full range.
    image[10:70, 20:80] = generator.integers(40, 60, (60, 60), dtype=np.uint8)
    image[20:44, 120:144] = generator.integers(0, 256, (24, 24), dtype=np.uint8)
    crops = crop_faces(image, [(20, 10, 60, 60), (120, 20, 24, 24)], size=48)
    assert crops.shape == (2, 48, 48) and crops.dtype == np.uint8
    assert crops[0].min() <= 10 and crops[0].max() >= 245
    expected = cv2.resize(cv2.equalizeHist(image[10:70, 20:80].copy()), (48, 48), interpolation=cv2.INTER_AREA)
    assert np.array_equal(crops[0], expected)


def test_crop_clips_boxes_at_the_border_and_rejects_boxes_outside() -> None:
    image = np.full((50, 50), 100, dtype=np.uint8)
    assert crop_faces(image, [(40, 40, 30, 30)]).shape == (1, 48, 48)
    with pytest.raises(ValueError, match="outside"):
        crop_faces(image, [(60, 60, 10, 10)])


def test_combine_by_area_weights_the_bigger_face() -> None:
    probabilities = np.array([[1.0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1.0, 0, 0, 0]])
    combined = combine_by_area(probabilities, [(0, 0, 30, 30), (50, 50, 10, 10)])
    assert combined.shape == (7,)
    assert combined[0] == pytest.approx(900 / 1000)
    assert combined[3] == pytest.approx(100 / 1000)
    assert combined.sum() == pytest.approx(1.0)


def test_combine_by_area_validates_inputs() -> None:
    with pytest.raises(ValueError):
        combine_by_area(np.ones((2, 7)), [(0, 0, 5, 5)])
    with pytest.raises(ValueError, match="positive area"):
        combine_by_area(np.ones((1, 7)), [(0, 0, 0, 5)])


def test_blank_and_tiny_images_have_no_face() -> None:
    detector = FaceDetector()
    assert detector.detect(np.full((480, 640), 200, dtype=np.uint8)) == []
    assert detector.detect(np.zeros((10, 10), dtype=np.uint8)) == []


def test_detector_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="scale_factor"):
        FaceDetector(scale_factor=1.0)
    with pytest.raises(FileNotFoundError):
        FaceDetector(cascade_file="/nonexistent/cascade.xml")
    with pytest.raises(ValueError):
        FaceDetector().detect(np.zeros((50, 50, 3), dtype=np.uint8))


def test_detector_finds_real_faces_pasted_into_a_larger_picture(shared_data) -> None:
    """Real FER2013 faces, upscaled and pasted at a known place: most must be found there."""
    with np.load(shared_data / "fer2013" / "train_48x48.npz") as archive:
        faces = archive["images"][:20]
    detector = FaceDetector()
    found_in_place = 0
    for face in faces:
        canvas = np.full((320, 400), 128, dtype=np.uint8)
        canvas[60:252, 100:292] = cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC)
        boxes = detector.detect(canvas)
        centre_inside = [60 <= y + h / 2 <= 252 and 100 <= x + w / 2 <= 292 for x, y, w, h in boxes]
        found_in_place += bool(boxes) and centre_inside[0]
    assert found_in_place >= 12, f"only {found_in_place}/20 pasted faces were found"


def test_boxes_of_downscaled_detection_map_back_to_original_pixels(shared_data) -> None:
    with np.load(shared_data / "fer2013" / "train_48x48.npz") as archive:
        face = archive["images"][0]
    canvas = np.full((640, 800), 128, dtype=np.uint8)
    canvas[120:504, 200:584] = cv2.resize(face, (384, 384), interpolation=cv2.INTER_CUBIC)
    full = FaceDetector(max_side=2000).detect(canvas)
    halved = FaceDetector(max_side=400).detect(canvas)  # detects on a half-size copy
    assert full and halved
    assert np.abs(np.array(full[0]) - np.array(halved[0])).max() <= 0.15 * full[0][2]


def test_crop_without_equalisation_keeps_the_pixels() -> None:
    image = np.full((60, 60), 50, dtype=np.uint8)
    image[10:58, 5:53] = np.arange(48, dtype=np.uint8)[None, :] + 40
    crop = crop_faces(image, [(5, 10, 48, 48)], size=48, equalize=False)[0]
    assert np.array_equal(crop, image[10:58, 5:53])


def test_detector_options_are_checked() -> None:
    with pytest.raises(ValueError, match="work_short_side"):
        FaceDetector(work_short_side=10)
    with pytest.raises(FileNotFoundError):
        FaceDetector(confirm_cascade="no_such_cascade.xml")
