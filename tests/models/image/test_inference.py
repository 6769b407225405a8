"""The shipped face model through ``ImageScorer``: the contract the Spark score job relies on."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from models.image.inference import ImageScorer, load_image_network, load_image_scorer, save_image_network
from models.image.training import load_face_dataset, stratified_split

MODEL_DIR = Path(os.environ.get("EMODRIFT_IMAGE_MODEL", Path(__file__).resolve().parents[3] / "models" / "weights" / "image"))


@pytest.fixture(scope="module")
def scorer() -> ImageScorer:
    if not (MODEL_DIR / "model.safetensors").is_file():
        pytest.skip(f"no trained image model in {MODEL_DIR} (emodrift train image)")
    return ImageScorer.load(MODEL_DIR, device="cpu")


@pytest.fixture(scope="module")
def fer_faces(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    return load_face_dataset(shared_data / "fer2013" / "train_48x48.npz")


def encode(pixels: np.ndarray, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, image_format)
    return buffer.getvalue()


def face_photo(face: np.ndarray, colour: bool = False) -> np.ndarray:
    """A FER face upscaled and pasted into a larger grey picture (a face the cascade finds)."""
    canvas = np.full((320, 400), 128, dtype=np.uint8)
    canvas[60:252, 100:292] = cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC)
    return np.stack([canvas] * 3, axis=-1) if colour else canvas


def test_version_names_model_and_weights(scorer: ImageScorer) -> None:
    assert re.fullmatch(r"image-cnn-v1\+[0-9a-f]{8}(-shift[0-4/d]+)?(-x[2-9])?(-read[0-9a-f]{6})?", scorer.version)


def test_classify_faces_returns_probabilities_and_features(scorer: ImageScorer) -> None:
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    probabilities, features = scorer.classify_faces(faces)
    assert probabilities.shape == (5, 7) and features.shape == (5, scorer.feature_dim)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (probabilities >= 0).all()
    empty_probabilities, empty_features = scorer.classify_faces(np.zeros((0, 48, 48), np.uint8))
    assert empty_probabilities.shape == (0, 7) and empty_features.shape == (0, scorer.feature_dim)
    with pytest.raises(ValueError):
        scorer.classify_faces(np.zeros((2, 40, 40), np.uint8))


def test_the_model_beats_chance_clearly_on_its_validation_faces(scorer, fer_faces) -> None:
    images, labels = fer_faces
    _, validation = stratified_split(labels, 0.1, seed=0)  # the split rule in the model card
    sample = validation[::3]
    probabilities, _ = scorer.classify_faces(images[sample])
    accuracy = float((probabilities.argmax(axis=1) == labels[sample]).mean())
    # Majority class (joy) is 25%; a working model is far above it.
    assert accuracy >= 0.5, f"validation accuracy {accuracy:.3f}"


def test_score_bytes_keeps_order_and_reports_every_case(scorer, fer_faces) -> None:
    images, _ = fer_faces
    good = encode(face_photo(images[0], colour=True), "JPEG")
    png = encode(face_photo(images[0]))
    inputs = [
        None,
        b"",
        good,
        png[: len(png) // 2],
        b"<html>not an image</html>",
        encode(np.full((300, 300), 180, np.uint8)),
    ]
    frame = scorer.score_bytes(inputs, batch_size=2)
    assert list(frame.columns) == ["image_probs", "image_status", "face_count", "face_boxes", "image_features"]
    assert list(frame["image_status"]) == ["no_image", "empty_file", "ok", "truncated", "not_an_image", "no_face"]
    assert frame.loc[2, "face_count"] >= 1
    assert len(frame.loc[2, "image_probs"]) == 7 and sum(frame.loc[2, "image_probs"]) == pytest.approx(1.0, abs=1e-4)
    assert len(frame.loc[2, "image_features"]) == scorer.feature_dim
    x, y, width, height = frame.loc[2, "face_boxes"][0]
    assert 100 <= x + width / 2 <= 292 and 60 <= y + height / 2 <= 252
    for row in (0, 1, 3, 4, 5):
        assert frame.loc[row, "image_probs"] is None and frame.loc[row, "image_features"] is None
        assert frame.loc[row, "face_count"] == 0
    assert frame["face_count"].dtype == np.int64


def test_two_faces_are_combined_by_area(scorer, fer_faces) -> None:
    images, _ = fer_faces
    canvas = np.full((400, 700), 128, dtype=np.uint8)
    canvas[40:340, 20:320] = cv2.resize(images[0], (300, 300), interpolation=cv2.INTER_CUBIC)
    canvas[150:310, 450:610] = cv2.resize(images[4], (160, 160), interpolation=cv2.INTER_CUBIC)
    frame = scorer.score_bytes([encode(canvas)])
    row = frame.iloc[0]
    if row["face_count"] < 2:
        pytest.skip(f"the cascade found {row['face_count']} of the 2 pasted faces")
    from models.image.faces import combine_by_area, crop_faces

    probabilities, _ = scorer.classify_faces(crop_faces(canvas, row["face_boxes"], equalize=scorer.config.equalize_crops))
    expected = combine_by_area(probabilities, row["face_boxes"])
    assert np.allclose(row["image_probs"], expected, atol=1e-5)


def test_scoring_is_the_same_in_batches_or_alone(scorer, fer_faces) -> None:
    images, _ = fer_faces
    inputs = [encode(face_photo(images[index])) for index in range(4)]
    together = scorer.score_bytes(inputs, batch_size=4)
    alone = pd.concat([scorer.score_bytes([data]) for data in inputs], ignore_index=True)
    assert list(together["image_status"]) == list(alone["image_status"])
    for left, right in zip(together["image_probs"], alone["image_probs"]):
        assert (left is None and right is None) or np.allclose(left, right, atol=1e-5)


def test_save_and_load_round_trip(scorer, tmp_path) -> None:
    import dataclasses

    primary_config = dataclasses.replace(scorer.config, members=())
    save_image_network(scorer.network.cpu(), primary_config, tmp_path)
    network, config, version = load_image_network(tmp_path, device="cpu")
    _, _, shipped_primary_version = load_image_network(MODEL_DIR, device="cpu")
    assert config == primary_config and version == shipped_primary_version  # identical bytes, identical version
    faces = np.random.default_rng(1).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    reloaded = ImageScorer(network, config, version, scorer.device)
    alone = ImageScorer(scorer.network, primary_config, version, scorer.device)
    assert np.allclose(reloaded.classify_faces(faces)[0], alone.classify_faces(faces)[0], atol=1e-6)


def test_load_image_scorer_is_cached_per_path_and_device(scorer) -> None:
    first = load_image_scorer(MODEL_DIR, "cpu")
    assert load_image_scorer(MODEL_DIR.parent / "." / MODEL_DIR.name, "cpu") is first
    assert load_image_scorer(MODEL_DIR, "cpu") is first


def test_missing_model_folder_says_what_to_do(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="emodrift train image"):
        ImageScorer.load(tmp_path)


def test_the_checkpoint_decides_the_test_time_views(scorer, tmp_path) -> None:
    import dataclasses
    import json

    from models.image.inference import ImageModelConfig
    from models.image.training import predict_probabilities

    faces = np.random.default_rng(2).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    network = scorer.network.cpu()
    save_image_network(network, dataclasses.replace(scorer.config, test_time_shift=2, test_time_diagonals=4, members=()), tmp_path)
    shifted_scorer = ImageScorer.load(tmp_path, device="cpu")
    assert shifted_scorer.config.test_time_shift == 2 and "-shift2" in shifted_scorer.version
    expected, _ = predict_probabilities(
        network, faces, crop_size=scorer.config.crop_size, pixel_mean=scorer.config.pixel_mean,
        pixel_std=scorer.config.pixel_std, device=torch.device("cpu"), test_time_shift=2,
    )
    assert np.allclose(shifted_scorer.classify_faces(faces)[0], expected, atol=1e-6)
    # two diagonals: 6 views, the up-left and down-right shifts and every view's mirror
    save_image_network(network, dataclasses.replace(scorer.config, test_time_shift=2, test_time_diagonals=2, members=()), tmp_path)
    diagonal_scorer = ImageScorer.load(tmp_path, device="cpu")
    assert "-shift2d2" in diagonal_scorer.version and diagonal_scorer.version != shifted_scorer.version
    expected_diagonal, _ = predict_probabilities(
        network, faces, crop_size=scorer.config.crop_size, pixel_mean=scorer.config.pixel_mean,
        pixel_std=scorer.config.pixel_std, device=torch.device("cpu"), test_time_shift=2, test_time_diagonals=2,
    )
    assert np.allclose(diagonal_scorer.classify_faces(faces)[0], expected_diagonal, atol=1e-6)
    assert not np.allclose(expected_diagonal, expected, atol=1e-4)
    # A checkpoint written before the option existed scores the centre and mirror only.
    old = json.loads((tmp_path / "config.json").read_text())
    del old["test_time_shift"], old["test_time_diagonals"]
    assert ImageModelConfig.from_json(old).test_time_shift == 0 and ImageModelConfig.from_json(old).test_time_diagonals == 4


def test_an_ensemble_averages_its_networks_and_keeps_the_primarys_features(scorer, tmp_path) -> None:
    import dataclasses

    import torch

    from models.image.inference import load_image_ensemble
    from models.image.training import predict_probabilities

    torch.manual_seed(0)
    primary = scorer.network.cpu()
    other = type(primary)(**scorer.config.network).eval()
    with torch.no_grad():  # a different, confident network so the average visibly moves
        other.load_state_dict(primary.state_dict())
        other.classifier.bias.add_(torch.linspace(-2, 2, 7))
    root_config = dataclasses.replace(scorer.config, test_time_shift=1, test_time_diagonals=4, members=("members/other",))
    save_image_network(primary, root_config, tmp_path)
    member_config = dataclasses.replace(scorer.config, crop_size=44, test_time_shift=0, members=())
    save_image_network(other, member_config, tmp_path / "members" / "other")

    ensemble = ImageScorer.load(tmp_path, device="cpu")
    assert len(ensemble.members) == 1 and re.fullmatch(r"image-cnn-v1\+[0-9a-f]{8}-shift0/1-x2(-read[0-9a-f]{6})?", ensemble.version)
    faces = np.random.default_rng(3).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    common = {"pixel_mean": scorer.config.pixel_mean, "pixel_std": scorer.config.pixel_std, "device": torch.device("cpu")}
    first, first_features = predict_probabilities(primary, faces, crop_size=scorer.config.crop_size, test_time_shift=1, **common)
    second, _ = predict_probabilities(other, faces, crop_size=44, test_time_shift=0, **common)
    probabilities, features = ensemble.classify_faces(faces)
    assert np.allclose(probabilities, (first + second) / 2, atol=1e-6) and not np.allclose(probabilities, first, atol=1e-3)
    assert np.allclose(features, first_features, atol=1e-6)
    # Changing a member's weights changes the ensemble's version.
    with torch.no_grad():
        other.classifier.bias.add_(1.0)
    save_image_network(other, member_config, tmp_path / "members" / "other")
    assert load_image_ensemble(tmp_path, "cpu")[1] != ensemble.version
    # Members cannot nest: every network is listed in the root config.
    save_image_network(other, dataclasses.replace(member_config, members=("deeper",)), tmp_path / "members" / "other")
    with pytest.raises(ValueError, match="list them all"):
        ImageScorer.load(tmp_path, device="cpu")


@pytest.mark.gpu
def test_score_stage_on_cuda_matches_cpu(tmp_path: Path, fer_faces: tuple[np.ndarray, np.ndarray]) -> None:
    """The score stage's batch function on a CUDA worker: same faces found, same scores."""
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    from jobs.score import ScoringOptions, score_batch
    from jobs.settings import DEFAULT_TEXT_MODEL
    from models.image.photos import photo_set

    faces, labels = fer_faces
    photos = photo_set(faces[:64], labels[:64], 48, seed=2)
    paths = []
    for index, photo in enumerate(photos.photos):
        path = tmp_path / f"photo{index}.jpg"
        path.write_bytes(photo.data)
        paths.append(f"file://{path}")
    posts = pd.DataFrame({
        "post_id": [f"p{index}" for index in range(len(paths))], "user_id": ["u"] * len(paths),
        "created_at": pd.to_datetime(["2026-01-15 10:00"] * len(paths)), "text": ["so happy today"] * len(paths),
        "image_path": paths, "dt": ["2026-01-15"] * len(paths), "landing_dt": ["2026-01-15"] * len(paths),
    })
    results = {
        device: score_batch(posts, ScoringOptions(text_model=str(DEFAULT_TEXT_MODEL), image_model=str(MODEL_DIR), device=device))
        for device in ("cpu", "cuda")
    }
    cpu, cuda = results["cpu"], results["cuda"]
    assert (cpu["face_count"] > 0).sum() > len(posts) // 2
    assert cpu["face_boxes"].tolist() == cuda["face_boxes"].tolist()
    scored = cpu["image_probs"].notna()
    cpu_probabilities, cuda_probabilities = (np.array(frame.loc[scored, "image_probs"].tolist()) for frame in (cpu, cuda))
    # CPUs score through the int8 graphs (another version): close, not equal, to CUDA's float networks
    assert np.abs(cuda_probabilities - cpu_probabilities).mean() < 0.01
    assert np.mean(cuda_probabilities.argmax(axis=1) == cpu_probabilities.argmax(axis=1)) >= 0.9


def test_photo_reading_settings_change_the_version_and_keep_boxes_in_file_pixels(scorer, tmp_path, fer_faces) -> None:
    import dataclasses

    from models.image.photos import synthetic_photo

    faces, _ = fer_faces
    generator = np.random.default_rng(4)
    photos = [synthetic_photo([face], generator) for face in faces[:12]]
    plain = dataclasses.replace(scorer.config, members=(), detector={}, decode_short_side=None, equalize_crops=True)
    fast = dataclasses.replace(plain, detector={"work_short_side": 240}, decode_short_side=320)
    save_image_network(scorer.network.cpu(), plain, tmp_path / "plain")
    save_image_network(scorer.network.cpu(), fast, tmp_path / "fast")
    plain_scorer, fast_scorer = ImageScorer.load(tmp_path / "plain", "cpu"), ImageScorer.load(tmp_path / "fast", "cpu")
    assert "-read" not in plain_scorer.version and re.search(r"-read[0-9a-f]{6}$", fast_scorer.version)
    assert fast_scorer.detector.work_short_side == 240
    rows = fast_scorer.score_bytes([photo.data for photo in photos])
    matched = 0
    for photo, boxes in zip(photos, rows["face_boxes"]):
        (x, y, side, _), = photo.face_boxes
        for bx, by, bw, bh in boxes:  # a found face lies on the pasted tile in the file's pixels
            matched += x <= bx + bw / 2 <= x + side and y <= by + bh / 2 <= y + side and 0.5 * side < bw < 1.6 * side
    assert matched >= len(photos) // 2


def test_a_photo_whose_detection_fails_gets_a_status_and_the_others_their_faces(scorer, fer_faces) -> None:
    """Detection runs many photos per pass; one that raises must not cost the others theirs."""
    import copy

    class FailsOnOneShape:
        """The shipped detector, except that it raises on a 123 x 321 photo (as a corrupt one might)."""

        def __init__(self, detector) -> None:
            self.inner, self.batch_size = detector, 4

        def detect_many(self, grays):
            return [self.detect(gray) for gray in grays]

        def detect(self, gray):
            if gray.shape == (123, 321):
                raise ValueError("odd photo")
            return self.inner.detect(gray)

    faces, _ = fer_faces
    good = encode(face_photo(faces[0]), "JPEG")
    odd = encode(np.full((123, 321), 90, dtype=np.uint8), "PNG")
    fussy = copy.copy(scorer)
    fussy.detector = FailsOnOneShape(scorer.detector)
    rows = fussy.score_bytes([good, odd, good, None])
    expected = scorer.score_bytes([good])
    assert list(rows["image_status"]) == [expected["image_status"][0], "detect_error:ValueError", expected["image_status"][0], "no_image"]
    assert rows["face_boxes"][0] == rows["face_boxes"][2] == expected["face_boxes"][0] and rows["face_count"][0] > 0
    assert rows["image_probs"][1] is None and np.allclose(rows["image_probs"][0], expected["image_probs"][0], atol=1e-6)


def test_on_a_cpu_the_networks_run_as_int8_graphs_that_agree_with_pytorch(scorer, fer_faces) -> None:
    """The shipped int8 graphs (scripts/quantize_face_classifiers.py, calibrated on training
    faces) against the PyTorch networks they were made from, on validation faces."""
    pytest.importorskip("onnxruntime")
    assert scorer.int8_sessions is not None and len(scorer.int8_sessions) == 1 + len(scorer.members)
    in_pytorch = ImageScorer(scorer.network, scorer.config, scorer.version, scorer.device, scorer.members, scorer.detector)
    images, labels = fer_faces
    _, validation = stratified_split(labels, 0.1, seed=0)
    sample = validation[::10]  # 288 faces: PyTorch over 6 views x 3 networks is the slow half
    quantized, quantized_features = scorer.classify_faces(images[sample])
    reference, reference_features = in_pytorch.classify_faces(images[sample])
    assert np.allclose(quantized.sum(axis=1), 1.0, atol=1e-5)
    assert np.mean(quantized.argmax(axis=1) == reference.argmax(axis=1)) >= 0.97
    assert np.abs(quantized - reference).mean() < 0.01
    accuracies = [float(np.mean(probabilities.argmax(axis=1) == labels[sample])) for probabilities in (quantized, reference)]
    assert abs(accuracies[0] - accuracies[1]) <= 0.02, accuracies
    correlation = np.corrcoef(quantized_features.ravel(), reference_features.ravel())[0, 1]
    assert correlation > 0.98


def test_adaptive_views_score_the_other_views_only_for_unsure_faces(scorer, fer_faces) -> None:
    """``full_views_margin``: a face whose centre-and-mirror ensemble mean has a clear top label
    keeps it; the others get every view. No margin (or an infinite one) scores every view."""
    pytest.importorskip("onnxruntime")
    import dataclasses

    assert scorer.int8_sessions is not None and scorer.config.full_views_margin == 0.3

    def with_margin(margin):
        config = dataclasses.replace(scorer.config, full_views_margin=margin)
        return ImageScorer(scorer.network, config, scorer.version, scorer.device, scorer.members, scorer.detector, scorer.int8_sessions)

    images, labels = fer_faces
    _, validation = stratified_split(labels, 0.1, seed=0)
    faces = images[validation[::8]]  # 359 faces
    every_view, every_features = with_margin(None).classify_faces(faces)
    infinite, infinite_features = with_margin(float("inf")).classify_faces(faces)
    assert np.allclose(infinite, every_view, atol=1e-6) and np.allclose(infinite_features, every_features, atol=1e-5)
    two_views, _ = with_margin(0.0).classify_faces(faces)  # nobody is unsure: centre and mirror only
    adaptive, _ = scorer.classify_faces(faces)
    sorted_two = np.sort(two_views, axis=1)
    sure = sorted_two[:, -1] - sorted_two[:, -2] >= 0.3
    assert 0.3 < sure.mean() < 0.9
    assert np.allclose(adaptive[sure], two_views[sure], atol=1e-6) and np.allclose(adaptive[~sure], every_view[~sure], atol=1e-6)
    assert not np.allclose(two_views, every_view, atol=1e-3)  # the other views do change the scores
    assert np.mean(adaptive.argmax(axis=1) == every_view.argmax(axis=1)) >= 0.99


def test_int8_graphs_are_in_the_version_and_must_match_their_weights(scorer, tmp_path) -> None:
    import shutil

    pytest.importorskip("onnxruntime")
    from models.image.inference import INT8_CLASSIFIER_FILE, load_image_ensemble

    copied = tmp_path / "image"
    shutil.copytree(MODEL_DIR, copied)
    assert load_image_ensemble(copied, "cpu")[1] == scorer.version
    member = copied / scorer.config.members[0] / INT8_CLASSIFIER_FILE
    # one network without its graph: the whole ensemble scores in PyTorch, under another version
    member.unlink()
    without = ImageScorer.load(copied, "cpu")
    assert without.int8_sessions is None and without.version != scorer.version and without.version.startswith("image-cnn-v1+")
    # a graph made from other weights is refused rather than scored under this version
    shutil.copy(copied / INT8_CLASSIFIER_FILE, member)
    with pytest.raises(ValueError, match="not exported from"):
        ImageScorer.load(copied, "cpu")


def test_the_quantize_script_writes_stamped_graphs_the_scorer_uses(scorer, fer_faces, tmp_path) -> None:
    """scripts/quantize_face_classifiers.py on a one-network checkpoint: the scorer picks the
    graph up (new version), and its scores stay close to the float network's."""
    import dataclasses
    import importlib.util

    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from models.checkpoints import weights_digest
    from models.image.inference import INT8_CLASSIFIER_FILE

    script = Path(__file__).resolve().parents[3] / "scripts" / "quantize_face_classifiers.py"
    spec = importlib.util.spec_from_file_location("quantize_face_classifiers", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = dataclasses.replace(scorer.config, members=())
    save_image_network(scorer.network.cpu(), config, tmp_path)
    in_pytorch = ImageScorer.load(tmp_path, "cpu")
    assert in_pytorch.int8_sessions is None
    images, labels = fer_faces
    training, validation = stratified_split(labels, 0.1, seed=0)
    module.quantize_network(
        scorer.network, config, images[training[:256]], tmp_path / INT8_CLASSIFIER_FILE,
        weights_digest(tmp_path / "model.safetensors", length=64),
    )
    quantized = ImageScorer.load(tmp_path, "cpu")
    assert quantized.int8_sessions is not None and quantized.version != in_pytorch.version
    faces = images[validation[:300]]
    int8_probabilities, _ = quantized.classify_faces(faces)
    float_probabilities, _ = in_pytorch.classify_faces(faces)
    assert np.mean(int8_probabilities.argmax(axis=1) == float_probabilities.argmax(axis=1)) >= 0.95
    assert np.abs(int8_probabilities - float_probabilities).mean() < 0.015
