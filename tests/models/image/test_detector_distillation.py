"""The distilled face detector: pruning, its training inputs and loss, loading, and the shipped weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from models.image.blazeface import BLOCKS, BlazeFaceBack, BlazeFaceDetector
from models.image.detector_distillation import (
    STUDENT_BLOCKS,
    DistillationSettings,
    distil_detector,
    distillation_inputs,
    distillation_loss,
    distractor_tile,
    network_outputs,
    pruned_detector,
)
from models.image.inference import DEFAULT_DETECTOR_DIR

TEACHER_WEIGHTS = DEFAULT_DETECTOR_DIR / "model.safetensors"
DISTILLED_DIR = DEFAULT_DETECTOR_DIR.with_name("face_detector_distilled")


@pytest.fixture(scope="module")
def teacher() -> BlazeFaceBack:
    network = BlazeFaceBack()
    network.load_state_dict(load_file(str(TEACHER_WEIGHTS)))
    return network.eval()


def test_block_layouts_are_checked() -> None:
    with pytest.raises(ValueError, match="halve the grid"):
        BlazeFaceBack([(24, 24, 1), (24, 48, 2), (48, 96, 2)])
    with pytest.raises(ValueError, match="input channels"):
        BlazeFaceBack([(24, 24, 2), (48, 48, 2), (48, 96, 2)])
    assert len(BlazeFaceBack().blocks) == len(BLOCKS) == 31


def test_the_pyramid_reading_is_the_area_reading_up_to_interpolation() -> None:
    from models.image.blazeface import network_input

    generator = np.random.default_rng(9)
    small = generator.integers(0, 256, (20, 30)).astype(np.float32)  # structures of ~11 px in the input
    import cv2

    photo = np.clip(cv2.resize(small, (1000, 667), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
    area, area_scale = network_input(photo, 224, 448, "area")
    pyramid, pyramid_scale = network_input(photo, 224, 448, "pyramid")
    assert area.shape == pyramid.shape == (224, 352) and area_scale == pyramid_scale
    assert np.abs(area.astype(int) - pyramid.astype(int))[:, :336].mean() < 4  # same picture, other filter
    with pytest.raises(ValueError, match="resize must be one of"):
        network_input(photo, 224, 448, "nearest")


def test_pruning_keeps_the_teachers_weights_and_every_block_gives_the_teacher(teacher: BlazeFaceBack) -> None:
    images = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (2, 1, 64, 96)).astype(np.float32))
    whole = pruned_detector(teacher, range(len(BLOCKS))).eval()
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(whole(images), teacher(images)))
        student = pruned_detector(teacher).eval()
        scores, regressions = student(images)
    assert len(student.blocks) == len(STUDENT_BLOCKS) < len(BLOCKS)
    assert scores.shape == teacher(images)[0].shape and regressions.shape == (2, scores.shape[1], 16)
    assert torch.equal(student.blocks[1].pointwise.weight, teacher.blocks[STUDENT_BLOCKS[1]].pointwise.weight)
    student.blocks[1].pointwise.weight.data.add_(1.0)  # a copy: training the student leaves the teacher alone
    assert not torch.equal(student.blocks[1].pointwise.weight, teacher.blocks[STUDENT_BLOCKS[1]].pointwise.weight)
    with pytest.raises(ValueError, match="increasing block indices"):
        pruned_detector(teacher, [3, 2])
    with pytest.raises(ValueError, match="halve the grid"):
        pruned_detector(teacher, [0, 1, 2])  # no block halving the grid


def test_distractor_tiles_keep_a_faces_grey_levels_but_not_its_layout() -> None:
    face = np.arange(48 * 48, dtype=np.uint32).reshape(48, 48).astype(np.uint8)
    generator = np.random.default_rng(1)
    tiles = [distractor_tile(face, generator) for _ in range(20)]
    assert all(tile.shape == (48, 48) and tile.dtype == np.uint8 for tile in tiles)
    shuffled = [tile for tile in tiles if np.array_equal(np.sort(tile, axis=None), np.sort(face, axis=None))]
    assert 3 <= len(shuffled) <= 17 and all(not np.array_equal(tile, face) for tile in tiles)
    with pytest.raises(ValueError, match="square tile"):
        distractor_tile(np.zeros((48, 40), dtype=np.uint8), generator)


def test_distillation_inputs_are_seeded_windows_of_the_scorers_reading() -> None:
    generator = np.random.default_rng(2)
    faces = generator.integers(0, 256, (10, 48, 48)).astype(np.uint8)
    settings = DistillationSettings(crop_side=96, crops_per_photo=2)
    first = distillation_inputs(faces, 3, np.random.default_rng(3), settings)
    again = distillation_inputs(faces, 3, np.random.default_rng(3), settings)
    assert first.shape == (6, 96, 96) and first.dtype == np.uint8
    assert np.array_equal(first, again) and first.std() > 5  # a scene, not a blank canvas
    with pytest.raises(ValueError, match="multiple of 32"):
        distillation_inputs(faces, 1, generator, DistillationSettings(crop_side=100))


def test_the_loss_is_smallest_at_the_teachers_outputs() -> None:
    generator = torch.Generator().manual_seed(4)
    teacher_scores = torch.randn(3, 50, generator=generator) * 4
    teacher_regressions = torch.randn(3, 50, 16, generator=generator) * 10
    at_teacher = distillation_loss(teacher_scores, teacher_regressions, teacher_scores, teacher_regressions)
    for scores, regressions in [(teacher_scores + 1.0, teacher_regressions), (teacher_scores, teacher_regressions + 5.0)]:
        assert distillation_loss(scores, regressions, teacher_scores, teacher_regressions) > at_teacher


def test_distillation_moves_a_pruned_student_towards_the_teacher(teacher: BlazeFaceBack) -> None:
    torch.manual_seed(0)
    generator = np.random.default_rng(5)
    faces = generator.integers(0, 256, (6, 48, 48)).astype(np.uint8)
    inputs = distillation_inputs(faces, 16, generator, DistillationSettings(crop_side=64, crops_per_photo=2))

    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            scores, regressions = teacher(torch.from_numpy(batch).float()[:, None] / 127.5 - 1.0)
        return scores.numpy(), regressions.numpy()

    teacher_scores, teacher_regressions = network_outputs(run, inputs, batch_size=8)
    assert teacher_scores.shape[0] == 32 and teacher_regressions.dtype == np.float16
    student = pruned_detector(teacher, [0, 7, 15, 23, 30])
    history = distil_detector(student, inputs, teacher_scores, teacher_regressions, epochs=3, batch_size=8, learning_rate=3e-3)
    assert [entry["epoch"] for entry in history] == [0, 1, 2, 3]
    assert min(entry["held_out_loss"] for entry in history[1:]) < history[0]["held_out_loss"]


def test_a_distilled_folder_loads_with_its_block_layout(tmp_path: Path, teacher: BlazeFaceBack) -> None:
    """config.json beside the weights names the layout; the ONNX graph is checked against them."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from safetensors.torch import save_file

    from jobs.commands.face_detector import export_detector_onnx
    from models.checkpoints import weights_digest
    from models.image.inference import ImageModelConfig, load_face_detector

    keep = [0, 7, 8, 15, 16, 23, 24, 30]
    student = pruned_detector(teacher, keep)
    folder = tmp_path / "detector"
    folder.mkdir()
    save_file(student.state_dict(), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"blocks": [list(block) for block in student.block_layout]}))
    export_detector_onnx(student, folder / "model.onnx", weights_digest(folder / "model.safetensors", length=64))
    config = ImageModelConfig(network={}, crop_size=40, pixel_mean=0.5, pixel_std=0.25,
                              detector={"kind": "blazeface", "weights": "detector"})
    loaded = load_face_detector(config, tmp_path, "cpu")
    assert len(loaded.network.blocks) == len(keep) and loaded.onnx_session is not None
    photo = np.random.default_rng(6).integers(0, 256, (300, 400)).astype(np.uint8)
    torch_only = BlazeFaceDetector(loaded.network)
    assert np.allclose(loaded.run_network(photo[None, :224, :288])[0], torch_only.run_network(photo[None, :224, :288])[0], atol=1e-3)


def test_the_shipped_distilled_detector_finds_what_the_teacher_finds(teacher: BlazeFaceBack, shared_data: Path) -> None:
    """On photos of training faces (the benchmark measures unseen ones), the student finds the
    pasted face about as often as MediaPipe's network and boxes nothing in empty scenes."""
    from models.image.decode import decode_image
    from models.image.photos import matches_face, synthetic_photo
    from models.image.training import load_face_dataset

    if not (DISTILLED_DIR / "model.safetensors").is_file():
        pytest.fail(f"no distilled detector at {DISTILLED_DIR} (emodrift train face-detector)")
    layout = json.loads((DISTILLED_DIR / "config.json").read_text())["blocks"]
    student = BlazeFaceBack(layout)
    student.load_state_dict(load_file(str(DISTILLED_DIR / "model.safetensors")))
    settings = {"short_side": 224, "max_long_side": 448, "min_score": 0.4, "box_scale": 1.17, "box_shift": -0.08}  # as shipped
    detectors = {
        "student": BlazeFaceDetector(student.eval(), **settings, resize="pyramid"),  # the reading it was distilled on
        "teacher": BlazeFaceDetector(teacher, **settings),
    }
    faces, _ = load_face_dataset(shared_data / "fer2013" / "train_48x48.npz")
    generator = np.random.default_rng(8)
    photos = [synthetic_photo([face], generator) for face in faces[100:140]]
    decoded = [decode_image(photo.data, min_short_side=400) for photo in photos]  # draft-decoded, as the scorer reads

    def found_by(detector: BlazeFaceDetector) -> int:
        found = 0
        for photo, image in zip(photos, decoded):
            boxes = [[value / image.scale for value in box] for box in detector.detect(image.gray)]  # file pixels
            found += any(matches_face(box, photo.face_boxes[0]) for box in boxes)
        return found

    found = {name: found_by(detector) for name, detector in detectors.items()}
    assert found["student"] >= found["teacher"] - 3 and found["student"] >= 34, found  # 39 and 36 of these 40
    empty = [decode_image(synthetic_photo([], generator).data, min_short_side=400).gray for _ in range(12)]
    assert sum(len(detectors["student"].detect(gray)) for gray in empty) <= 1


def test_the_shipped_image_model_reads_photos_with_the_distilled_detector() -> None:
    """config.json names the detector by ``shipped_weights`` (a checkpoint trained anywhere copies
    the name and still finds the folder) and the pyramid reading it was distilled on."""
    from models.image.inference import ImageModelConfig, load_face_detector, read_image_config

    from jobs.settings import DEFAULT_IMAGE_MODEL

    config = read_image_config(DEFAULT_IMAGE_MODEL)
    assert config.detector["shipped_weights"] == DISTILLED_DIR.name and config.detector["resize"] == "pyramid"
    loaded = load_face_detector(config, Path("/nonexistent/checkpoint"), "cpu")  # the folder is found without the model's
    layout = json.loads((DISTILLED_DIR / "config.json").read_text())["blocks"]
    assert [list(block) for block in loaded.network.block_layout] == layout and loaded.resize == "pyramid"
    for name in ("../face_detector", "", "a/b"):
        with pytest.raises(ValueError, match="shipped_weights names a folder"):
            load_face_detector(ImageModelConfig(network={}, crop_size=40, pixel_mean=0.5, pixel_std=0.25,
                                                detector={"kind": "blazeface", "shipped_weights": name}), None)


def test_the_train_command_writes_a_folder_the_scorer_loads(tmp_path: Path, shared_data: Path) -> None:
    """``emodrift train face-detector`` end to end on a few photos: weights, layout, stamped ONNX
    graph and metrics, loadable as an image model's detector."""
    pytest.importorskip("onnx")
    from jobs.commands.face_detector import main
    from models.image.inference import ImageModelConfig, load_face_detector

    output = tmp_path / "detector"
    assert main(["--data", str(shared_data / "fer2013" / "train_48x48.npz"), "--output", str(output),
                 "--photos", "6", "--epochs", "1", "--threads", "1", "--keep", "7,8,15,16,23,24"]) == 0
    assert {"model.safetensors", "model.onnx", "config.json", "metrics.json"} <= {path.name for path in output.iterdir()}
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["training_inputs"] == 18 and [entry["epoch"] for entry in metrics["history"]] == [0, 1]
    config = ImageModelConfig(network={}, crop_size=40, pixel_mean=0.5, pixel_std=0.25,
                              detector={"kind": "blazeface", "weights": "detector", "resize": "pyramid"})
    loaded = load_face_detector(config, tmp_path, "cpu")
    assert len(loaded.network.blocks) == 6 and loaded.onnx_session is not None
    assert main(["--data", str(tmp_path / "missing.npz"), "--output", str(output)]) == 2
