"""Training pieces: label mapping, split rule, weights, augmentation, metrics, a real tiny run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.image.training import (
    TrainingConfig,
    augment_batch,
    build_optimizer,
    class_weights,
    classification_metrics,
    load_face_dataset,
    map_label_indices,
    stratified_split,
    train_face_classifier,
)
from models.labels import LABELS


def test_labels_are_mapped_by_name_not_position() -> None:
    names = ["happy", "angry", "sad", "neutral", "surprise", "fear", "disgust"]
    mapped = map_label_indices(np.array([0, 1, 2, 3]), names)
    assert [LABELS[index] for index in mapped] == ["joy", "anger", "sadness", "neutral"]
    with pytest.raises(ValueError, match="contempt"):
        map_label_indices(np.array([0]), ["contempt"])


def test_stratified_split_keeps_class_shares_and_is_seeded() -> None:
    labels = np.repeat(np.arange(7), [400, 40, 400, 700, 480, 310, 500])
    train, validation = stratified_split(labels, 0.1, seed=0)
    assert len(np.intersect1d(train, validation)) == 0
    assert len(train) + len(validation) == len(labels)
    assert np.array_equal(np.bincount(labels[validation]), [40, 4, 40, 70, 48, 31, 50])
    again_train, again_validation = stratified_split(labels, 0.1, seed=0)
    assert np.array_equal(validation, again_validation)
    assert not np.array_equal(validation, stratified_split(labels, 0.1, seed=1)[1])


def test_class_weights_favour_rare_classes_with_mean_one() -> None:
    labels = np.repeat([0, 1], [900, 100])
    weights = class_weights(labels, 3, power=0.5)
    assert weights[2] == 0.0
    assert weights[1] / weights[0] == pytest.approx(3.0)
    assert weights[:2].mean() == pytest.approx(1.0)


def test_augment_batch_shapes_and_range() -> None:
    generator = np.random.default_rng(0)
    faces = generator.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    batch = augment_batch(faces, 40, TrainingConfig(), generator)
    assert batch.shape == (5, 1, 40, 40)
    assert float(batch.min()) >= 0.0 and float(batch.max()) <= 1.0
    assert not torch.allclose(batch, augment_batch(faces, 40, TrainingConfig(), generator))


def test_classification_metrics_against_hand_counts() -> None:
    true = np.array([0, 0, 1, 3, 3, 3])
    probabilities = np.full((6, 7), 0.01)
    for row, predicted in enumerate([0, 1, 1, 3, 3, 0]):
        probabilities[row, predicted] = 0.9
    metrics = classification_metrics(true, probabilities)
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    anger = metrics["per_class"]["anger"]
    assert anger["precision"] == pytest.approx(1 / 2) and anger["recall"] == pytest.approx(1 / 2)
    assert metrics["per_class"]["joy"]["recall"] == pytest.approx(2 / 3)
    assert metrics["per_class"]["fear"]["roc_auc"] is None  # absent class
    # macro-F1 over present classes anger (0.5), disgust (2/3), joy (0.8)
    assert metrics["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert metrics["confusion_matrix"][0] == [1, 1, 0, 0, 0, 0, 0]


def test_load_face_dataset_maps_labels(tmp_path) -> None:
    path = tmp_path / "faces.npz"
    np.savez(path, images=np.zeros((2, 48, 48), np.uint8), labels=np.array([0, 3]), label_names=np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]))
    images, labels = load_face_dataset(path)
    assert images.shape == (2, 48, 48)
    assert [LABELS[index] for index in labels] == ["anger", "joy"]


def synthetic_faces(count: int, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Class k shows k + 1 bright horizontal bars over noise: known truth that survives
    the training augmentation (mirroring, shifts of a few pixels)."""
    labels = generator.integers(0, 7, count)
    images = generator.integers(0, 60, (count, 48, 48)).astype(np.uint8)
    for index, label in enumerate(labels):
        first_row = 24 - 2 * (label + 1)
        for bar in range(label + 1):
            images[index, first_row + 4 * bar : first_row + 4 * bar + 2, 8:40] = 230
    return images, labels


def test_optimizer_choice_is_validated_and_built() -> None:
    from models.image.network import FaceEmotionCNN

    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainingConfig(optimizer="adam")
    network = FaceEmotionCNN(base_width=4, feature_dim=8)
    sgd = build_optimizer(network, TrainingConfig(optimizer="sgd", learning_rate=0.1, weight_decay=1e-3))
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 1e-3
    assert isinstance(build_optimizer(network, TrainingConfig(optimizer="adamw")), torch.optim.AdamW)
    # Unset learning rate and decay follow the optimizer: decoupled AdamW decay is ~100x SGD's L2.
    assert (TrainingConfig().learning_rate, TrainingConfig().weight_decay) == (3e-3, 0.05)
    assert (TrainingConfig(optimizer="sgd").learning_rate, TrainingConfig(optimizer="sgd").weight_decay) == (0.1, 5e-4)
    with pytest.raises(ValueError, match="learning_rate > 0"):
        TrainingConfig(learning_rate=0.0)


@pytest.mark.slow
@pytest.mark.parametrize(("optimizer", "learning_rate"), [("adamw", 1e-2), ("sgd", 0.1)])
def test_a_short_run_learns_a_learnable_task(optimizer: str, learning_rate: float) -> None:
    torch.set_num_threads(1)
    images, labels = synthetic_faces(1400, np.random.default_rng(0))
    config = TrainingConfig(
        epochs=3, base_width=8, feature_dim=32, batch_size=64, optimizer=optimizer,
        learning_rate=learning_rate, max_rotation_degrees=0.0, max_scale_change=0.0,
    )
    improvements: list[float] = []
    result = train_face_classifier(
        images, labels, config, device="cpu", on_improvement=lambda _, metrics: improvements.append(metrics["accuracy"]),
        progress=False,
    )
    assert improvements and improvements == sorted(improvements)
    assert max(record["validation_accuracy"] for record in result.history) >= 0.9
    expected_validation = sum(round(count * 0.1) for count in np.bincount(labels))
    assert result.best_epoch >= 1 and len(result.validation_indices) == expected_validation


def test_random_erasing_replaces_one_rectangle_per_chosen_crop() -> None:
    from models.image.training import erase_rectangles

    crops = torch.full((64, 1, 40, 40), 0.5)
    erase_rectangles(crops, 1.0, np.random.default_rng(0))
    changed = (crops != 0.5).float().mean(dim=(1, 2, 3))
    # Every crop erased; never more than the largest rectangle (25% of the area).
    assert bool((changed > 0).all()) and float(changed.max()) <= 0.26
    assert float(crops.min()) >= 0.0 and float(crops.max()) <= 1.0
    untouched = torch.full((8, 1, 40, 40), 0.5)
    erase_rectangles(untouched, 0.0, np.random.default_rng(0))
    assert bool((untouched == 0.5).all())
    with pytest.raises(ValueError, match="random_erasing"):
        TrainingConfig(random_erasing=1.5)


def test_predict_probabilities_averages_shifted_and_mirrored_views() -> None:
    from models.image.network import FaceEmotionCNN, faces_to_input
    from models.image.training import predict_probabilities

    torch.manual_seed(0)
    network = FaceEmotionCNN(base_width=4, feature_dim=8).eval()
    with torch.no_grad():  # a fresh network is near-uniform; sharpen it so views differ visibly
        network.classifier.weight.mul_(50.0)
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    arguments = {"crop_size": 40, "pixel_mean": 0.5, "pixel_std": 0.25, "device": torch.device("cpu")}

    def view(offset: tuple[int, int], mirror: bool) -> np.ndarray:
        inputs = torch.from_numpy(faces_to_input(faces, crop_size=40, mean=0.5, std=0.25, offset=offset))
        with torch.no_grad():
            return torch.softmax(network(torch.flip(inputs, dims=[3]) if mirror else inputs), dim=1).numpy()

    centre, _ = predict_probabilities(network, faces, **arguments)
    assert np.allclose(centre, (view((0, 0), False) + view((0, 0), True)) / 2, atol=1e-5)
    offsets = [(0, 0), (-2, -2), (-2, 2), (2, -2), (2, 2)]
    expected = np.mean([view(offset, mirror) for offset in offsets for mirror in (False, True)], axis=0)
    shifted, features = predict_probabilities(network, faces, **arguments, test_time_shift=2)
    assert np.allclose(shifted, expected, atol=1e-5) and not np.allclose(shifted, centre, atol=1e-4)
    assert features.shape == (5, 8)
    # Views of one face are batched together: the answer cannot depend on the batch size.
    one_at_a_time, _ = predict_probabilities(network, faces, **arguments, test_time_shift=2, batch_size=1)
    assert np.allclose(one_at_a_time, shifted, atol=1e-5)
    with pytest.raises(ValueError, match="outside"):
        predict_probabilities(network, faces, **arguments, test_time_shift=5)


def test_distillation_needs_both_teachers_and_a_weight() -> None:
    images, labels = synthetic_faces(70, np.random.default_rng(0))
    with pytest.raises(ValueError, match="go together"):
        train_face_classifier(images, labels, TrainingConfig(epochs=1), device="cpu", progress=False,
                              teacher_probabilities=np.full((70, 7), 1 / 7))
    with pytest.raises(ValueError, match="must be"):
        train_face_classifier(images, labels, TrainingConfig(epochs=1, distillation_weight=0.5), device="cpu",
                              progress=False, teacher_probabilities=np.full((69, 7), 1 / 7))


@pytest.mark.slow
def test_distillation_targets_steer_what_the_network_learns() -> None:
    torch.set_num_threads(1)
    images, labels = synthetic_faces(1400, np.random.default_rng(0))
    # A teacher that shifts every face to the next class: with full weight on the teacher,
    # the student must learn the teacher's mapping, not the labels.
    shifted = (labels + 1) % 7
    teacher = np.eye(7, dtype=np.float32)[shifted]
    config = TrainingConfig(
        epochs=3, base_width=8, feature_dim=32, batch_size=64, learning_rate=1e-2, max_rotation_degrees=0.0,
        max_scale_change=0.0, distillation_weight=1.0, label_smoothing=0.0,
    )
    result = train_face_classifier(images, labels, config, device="cpu", progress=False, teacher_probabilities=teacher)
    last = result.history[-1]
    # The loss is measured against the teacher's targets and falls low, while accuracy against
    # the labels (which the same setup learns to >= 0.9 without a teacher) collapses.
    assert last["train_loss"] < 0.3
    assert last["validation_accuracy"] <= 0.05


def test_augment_batch_shifts_faces_by_at_most_max_shift() -> None:
    import dataclasses

    face = np.zeros((1, 48, 48), dtype=np.uint8)
    face[0, 20:28, 20:28] = 255  # a bright square in the centre: its centroid tracks the shift
    config = dataclasses.replace(TrainingConfig(), max_rotation_degrees=0.0, max_scale_change=0.0, max_shift=0.1)
    generator = np.random.default_rng(0)
    offsets = []
    for _ in range(40):
        crop = augment_batch(face, 48, config, generator)[0, 0].numpy()
        rows, columns = np.nonzero(crop > 0.5)
        offsets.append((columns.mean() - 23.5, rows.mean() - 23.5))
    offsets = np.abs(np.array(offsets))
    assert offsets.max() <= 0.1 * 48 + 1.5 and offsets.max() > 2.0
    with pytest.raises(ValueError, match="max_shift"):
        TrainingConfig(max_shift=0.5)
