"""The image commands end to end: eval on an npz and on class folders, score-images, train."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from jobs.cli import main as emodrift
from jobs.settings import DEFAULT_IMAGE_MODEL
from models.image.inference import read_image_config
from models.labels import LABELS

MODEL_DIR = Path(os.environ.get("EMODRIFT_IMAGE_MODEL", Path(__file__).resolve().parents[3] / "models" / "weights" / "image"))
FER_NAMES = np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"])


@pytest.fixture(scope="module")
def model_dir() -> Path:
    if not (MODEL_DIR / "model.safetensors").is_file():
        pytest.skip(f"no trained image model in {MODEL_DIR} (emodrift train image)")
    return MODEL_DIR


@pytest.fixture(scope="module")
def fer_sample(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """Two real faces per FER class (labels in FER's own order)."""
    with np.load(shared_data / "fer2013" / "train_48x48.npz") as archive:
        labels = archive["labels"]
        chosen = np.concatenate([np.flatnonzero(labels == label)[:2] for label in range(7)])
        return archive["images"][chosen], labels[chosen]


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert emodrift(argv) == 0
    return json.loads(capsys.readouterr().out)


def check_metrics(metrics: dict, count: int) -> None:
    assert metrics["count"] == count
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["macro_f1"] <= 1.0
    assert set(metrics["per_class"]) == set(LABELS)
    assert set(metrics["per_class"]["joy"]) == {"precision", "recall", "f1", "support", "roc_auc"}
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.shape == (7, 7) and confusion.sum() == count
    assert metrics["model_version"].startswith("image-cnn-v1+")


def test_eval_on_an_npz_prints_metrics_and_draws_the_confusion_png(model_dir, fer_sample, tmp_path, capsys) -> None:
    images, labels = fer_sample
    data = tmp_path / "tiny.npz"
    np.savez(data, images=images, labels=labels, label_names=FER_NAMES)
    png = tmp_path / "confusion.png"
    metrics = run_json(capsys, ["eval", "image", "--data", str(data), "--model-dir", str(model_dir), "--confusion-png", str(png), "--device", "cpu"])
    check_metrics(metrics, 14)
    assert metrics["per_class"]["joy"]["support"] == 2  # FER "happy" counted as pipeline "joy"
    with Image.open(png) as drawn:
        assert drawn.format == "PNG" and drawn.size[0] > 400


def test_eval_on_class_folders_of_any_size_and_colour(model_dir, fer_sample, tmp_path, capsys) -> None:
    images, labels = fer_sample
    for index, (face, label) in enumerate(zip(images, labels)):
        folder = tmp_path / "faces" / str(FER_NAMES[label])
        folder.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(face).resize((96 + 8 * index, 96 + 8 * index))
        if index % 2:
            picture = picture.convert("RGB")
        picture.save(folder / f"face{index}.{'jpg' if index % 3 == 0 else 'png'}")
    (tmp_path / "faces" / "happy" / "broken.png").write_bytes(b"not an image")
    metrics = run_json(capsys, ["eval", "image", "--data", str(tmp_path / "faces"), "--model-dir", str(model_dir), "--device", "cpu"])
    check_metrics(metrics, 14)  # the broken file is skipped, not counted


def test_eval_on_the_checkpoints_own_validation_split_with_a_shift_override(model_dir, fer_sample, tmp_path, capsys) -> None:
    from models.image.training import stratified_split

    images, labels = fer_sample
    data = tmp_path / "repeated.npz"
    repeated = np.repeat(np.arange(len(labels)), 10)  # 20 faces per class: 2 per class held out
    np.savez(data, images=images[repeated], labels=labels[repeated], label_names=FER_NAMES)
    base = ["eval", "image", "--data", str(data), "--model-dir", str(model_dir), "--device", "cpu", "--split", "validation"]
    centre = run_json(capsys, base + ["--test-time-shift", "0"])
    training = json.loads((model_dir / "config.json").read_text())["training"]
    expected_count = len(stratified_split(np.repeat(np.arange(7), 20), training["validation_fraction"], training["seed"])[1])
    check_metrics(centre, expected_count)
    assert centre["split"] == "validation" and centre["test_time_shift"] == 0
    members = json.loads((model_dir / "config.json").read_text()).get("members", [])
    assert centre["networks"] == 1 + len(members)
    shifted = run_json(capsys, base + ["--test-time-shift", "2"])
    assert shifted["test_time_shift"] == 2 and shifted["count"] == expected_count
    with pytest.raises(SystemExit):
        emodrift(base + ["--test-time-shift", "9"])


def test_eval_rejects_an_unknown_class_folder(model_dir, tmp_path) -> None:
    (tmp_path / "contempt").mkdir()
    assert emodrift(["eval", "image", "--data", str(tmp_path), "--model-dir", str(model_dir)]) == 2


def encode(face: np.ndarray) -> bytes:
    canvas = np.full((320, 400), 128, dtype=np.uint8)
    canvas[60:252, 100:292] = np.asarray(Image.fromarray(face).resize((192, 192), Image.BICUBIC))
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, "PNG")
    return buffer.getvalue()


def test_score_images_from_a_jsonl_of_posts(model_dir, fer_sample, tmp_path, capsys) -> None:
    images, _ = fer_sample
    face_file = tmp_path / "face.png"
    face_file.write_bytes(encode(images[6]))
    (tmp_path / "empty.jpg").write_bytes(b"")
    posts = [
        {"post_id": "p1", "image_path": face_file.resolve().as_uri()},
        {"post_id": "p2", "image_path": None},
        {"post_id": "p3", "image_path": str(tmp_path / "empty.jpg")},
        {"post_id": "p4", "image_path": str(tmp_path / "missing.png")},
    ]
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text("\n".join(json.dumps(post) for post in posts) + "\n")
    output = tmp_path / "scores.parquet"
    summary = run_json(capsys, ["score-images", "--input", str(jsonl), "--output", str(output), "--image-model", str(model_dir), "--device", "cpu"])
    assert summary["rows"] == 4
    frame = pd.read_parquet(output)
    assert list(frame["post_id"]) == ["p1", "p2", "p3", "p4"]
    statuses = list(frame["image_status"])
    assert statuses[1:] == ["no_image", "empty_file", "unreadable"]
    assert statuses[0] in {"ok", "no_face"}
    if statuses[0] == "ok":
        assert len(frame.loc[0, "image_probs"]) == 7
    assert frame["image_model_version"].str.startswith("image-cnn-v1+").all()


def test_score_images_from_a_folder(model_dir, fer_sample, tmp_path, capsys) -> None:
    images, _ = fer_sample
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(images[0]))
    (folder / "b.gif").write_bytes(b"GIF89a broken")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    output = tmp_path / "out.parquet"
    run_json(capsys, ["score-images", "--input", str(folder), "--output", str(output), "--image-model", str(model_dir), "--device", "cpu"])
    frame = pd.read_parquet(output)
    assert list(frame["post_id"]) == ["a.png", "b.gif"]
    assert frame.loc[1, "image_status"] in {"corrupt", "truncated"}
    assert set(frame.columns) >= {"image_probs", "image_status", "face_count", "face_boxes", "image_features", "path"}


@pytest.mark.slow
def test_train_writes_weights_and_a_measured_model_card(fer_sample, tmp_path, capsys) -> None:
    images, labels = fer_sample
    data = tmp_path / "train.npz"
    repeated = np.repeat(np.arange(len(labels)), 10)
    np.savez(data, images=images[repeated], labels=labels[repeated], label_names=FER_NAMES)
    output = tmp_path / "model"
    assert emodrift([
        "train", "image", "--data", str(data), "--output", str(output), "--epochs", "1", "--base-width", "8",
        "--optimizer", "sgd", "--learning-rate", "0.05", "--weight-decay", "0.001", "--no-progress", "--device", "cpu",
    ]) == 0
    training = json.loads((output / "config.json").read_text())["training"]
    assert (training["optimizer"], training["learning_rate"], training["weight_decay"]) == ("sgd", 0.05, 0.001)
    assert {"model.safetensors", "config.json", "MODEL_CARD.md", "metrics.json"} <= {path.name for path in output.iterdir()}
    card = (output / "MODEL_CARD.md").read_text()
    for needle in ("Status: **final**", "SGD with Nesterov momentum (peak lr 0.05", "--optimizer sgd --learning-rate 0.05 --weight-decay 0.001", "Accuracy:", "macro-F1", "Parameters:", "images/s", "np.random.default_rng(0)"):
        assert needle in card
    metrics = json.loads((output / "metrics.json").read_text())["validation"]
    assert metrics["count"] == 14 and "inference_images_per_second" in metrics
    # Scored with the default test-time views; the selection metric (centre and mirror) beside it.
    assert metrics["test_time_shift"] == 2 and "centre_and_mirror" in metrics
    written = json.loads((output / "config.json").read_text())
    assert written["test_time_shift"] == 2
    # A retrained network reads photos as the shipped one does (BlazeFace), not the Haar default.
    assert written["detector"]["kind"] == "blazeface"
    shipped = read_image_config(DEFAULT_IMAGE_MODEL).photo_reading()
    assert {key: written[key] for key in shipped} == shipped
    assert "four crops shifted 2 px diagonally" in card and "--test-time-shift 2" in card

    # The run above is a teacher: distilling from it records it, and a teacher that held out
    # other faces (another split seed) is refused before any training.
    student = tmp_path / "student"
    assert emodrift([
        "train", "image", "--data", str(data), "--output", str(student), "--epochs", "1", "--base-width", "8",
        "--teacher", str(output), "--random-erasing", "0.5", "--no-progress", "--device", "cpu",
    ]) == 0
    student_config = json.loads((student / "config.json").read_text())
    assert student_config["training"]["distillation_weight"] == 0.5 and student_config["training"]["random_erasing"] == 0.5
    assert student_config["teachers"][0]["path"] == str(output)
    student_card = (student / "MODEL_CARD.md").read_text()
    assert "Knowledge distillation" in student_card and f"--teacher {output}" in student_card
    assert "random erasing" in student_card
    with pytest.raises(SystemExit, match="same --seed"):
        emodrift([
            "train", "image", "--data", str(data), "--output", str(tmp_path / "refused"), "--seed", "1",
            "--epochs", "1", "--base-width", "8", "--teacher", str(output), "--no-progress", "--device", "cpu",
        ])
    assert not (tmp_path / "refused").exists()
