"""Training and metrics for the face emotion CNN (FER2013 48x48 grayscale faces).

Pure functions around the network: load the npz, carve the stratified validation split,
augment a batch, train with early stopping, compute metrics. Writing the checkpoint is
``models.image.inference.save_image_network``'s job; the CLI (``jobs.commands.image``) wires them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models.devices import resolve_device
from models.image.network import FaceEmotionCNN, faces_to_input
from models.labels import LABEL_INDEX, LABELS

# FER2013 spells its classes differently from the pipeline; map by name, never by position.
FER_TO_PIPELINE: dict[str, str] = {
    "angry": "anger",
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "joy",
    "joy": "joy",
    "sad": "sadness",
    "sadness": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}


# (peak learning rate, weight decay) per optimizer. AdamW's decay is decoupled (weights shrink
# by lr x decay per step), so 5e-4 barely regularised it and 0.05 gained 0.4 validation points;
# SGD's decay is an L2 term in the gradient, where 5e-4 is the usual strength
# (benchmarks/RESULTS.md, fourth round).
OPTIMIZER_DEFAULTS: dict[str, tuple[float, float]] = {"adamw": (3e-3, 0.05), "sgd": (0.1, 5e-4)}
OPTIMIZERS = tuple(OPTIMIZER_DEFAULTS)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Every knob of one training run; saved in the checkpoint's config and the model card.

    Defaults are the shipped model's: 50 epochs at base width 20, 71 minutes on one CPU thread
    while another training held the second core (about 42 minutes with two idle threads).
    """

    seed: int = 0
    epochs: int = 50
    batch_size: int = 128
    # "adamw" or "sgd" (Nesterov momentum); the learning rate is the one-cycle peak. Left as
    # None, learning rate and weight decay take the optimizer's values in OPTIMIZER_DEFAULTS.
    optimizer: str = "adamw"
    learning_rate: float | None = None
    weight_decay: float | None = None
    momentum: float = 0.9
    label_smoothing: float = 0.05
    # Class weights are (1 / count) ** class_weight_power, normalised to mean 1; 0.5 is a
    # middle ground: full inverse frequency made disgust over-predicted and cost accuracy.
    class_weight_power: float = 0.5
    validation_fraction: float = 0.1
    # One-cycle keeps the learning rate high for the first third; validation accuracy wobbles
    # there for several epochs, so a short patience would stop before the annealing pays off.
    patience: int = 12
    crop_size: int = 40
    base_width: int = 20
    first_stage_convolutions: int = 1
    later_stage_convolutions: int = 2
    feature_dim: int = 256
    dropout: float = 0.3
    max_rotation_degrees: float = 12.0
    max_scale_change: float = 0.1
    # Largest random shift of the face, as a share of its side, in each direction: detector
    # boxes sit off the face's centre by about 6 % of its side (one standard deviation,
    # Haar on pasted faces), so fine-tuning for photos shifts training faces as much.
    max_shift: float = 0.0
    # Share of training faces that get one random rectangle (2-25% of the crop) replaced by
    # noise: it forces the net to read the whole face, not just the mouth or the eyes.
    random_erasing: float = 0.0
    # With teacher probabilities (knowledge distillation), each face's target is
    # (1 - weight) x its label + weight x the teachers' averaged prediction: the soft part
    # carries which emotions a face resembles, and outvotes some of FER2013's label noise.
    distillation_weight: float = 0.0
    time_limit_minutes: float | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if not 0.0 < self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in (0, 0.5), got {self.validation_fraction}")
        if not 16 <= self.crop_size <= 48:
            raise ValueError(f"crop_size must be in [16, 48], got {self.crop_size}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if not 0.0 <= self.distillation_weight <= 1.0:
            raise ValueError(f"distillation_weight must be in [0, 1], got {self.distillation_weight}")
        if not 0.0 <= self.max_shift <= 0.25:
            raise ValueError(f"max_shift must be in [0, 0.25], got {self.max_shift}")
        if not 0.0 <= self.random_erasing <= 1.0:
            raise ValueError(f"random_erasing must be in [0, 1], got {self.random_erasing}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        default_learning_rate, default_weight_decay = OPTIMIZER_DEFAULTS[self.optimizer]
        # Frozen dataclass: fill the optimizer-specific defaults once, so asdict() records them.
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", default_learning_rate)
        if self.weight_decay is None:
            object.__setattr__(self, "weight_decay", default_weight_decay)
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ValueError(f"need learning_rate > 0 and weight_decay >= 0, got {self.learning_rate}, {self.weight_decay}")

    def network_arguments(self) -> dict[str, int | float]:
        """Keyword arguments for :class:`FaceEmotionCNN`."""
        return {
            "num_labels": len(LABELS),
            "base_width": self.base_width,
            "first_stage_convolutions": self.first_stage_convolutions,
            "later_stage_convolutions": self.later_stage_convolutions,
            "feature_dim": self.feature_dim,
            "dropout": self.dropout,
        }


@dataclasses.dataclass
class TrainingResult:
    """What a run produced: the best network (by validation accuracy) and its record."""

    network: FaceEmotionCNN
    pixel_mean: float
    pixel_std: float
    best_epoch: int
    epochs_run: int
    history: list[dict[str, float]]
    training_seconds: float
    training_images_per_second: float
    train_indices: np.ndarray
    validation_indices: np.ndarray


def load_face_dataset(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a FER-style npz (``images`` (N,48,48) uint8, ``labels`` int, ``label_names``).

    Returns:
        images (N, 48, 48) uint8 and labels (N,) int64 indices into ``models.labels.LABELS``.
    """
    with np.load(path, allow_pickle=False) as archive:
        missing = {"images", "labels", "label_names"} - set(archive.files)
        if missing:
            raise ValueError(f"{path} lacks arrays {sorted(missing)}; expected images, labels, label_names")
        images = archive["images"]
        labels = archive["labels"].astype(np.int64)
        label_names = [str(name) for name in archive["label_names"]]
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{path}: images must be (N, H, W) uint8, got {images.shape} {images.dtype}")
    return images, map_label_indices(labels, label_names)


def map_label_indices(labels: np.ndarray, label_names: list[str]) -> np.ndarray:
    """Re-index dataset labels (positions in ``label_names``) to pipeline ``LABELS`` positions."""
    try:
        lookup = np.array([LABEL_INDEX[FER_TO_PIPELINE[name.lower()]] for name in label_names], dtype=np.int64)
    except KeyError as error:
        raise ValueError(
            f"unknown emotion label {error.args[0]!r}; known: {sorted(FER_TO_PIPELINE)}"
        ) from error
    return lookup[labels]


def stratified_split(labels: np.ndarray, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Carve a stratified validation split: per class, a seeded permutation's first share.

    Rule (recorded in the model card): for each class ``c`` in label order, take
    ``np.random.default_rng(seed).permutation`` of that class's indices (one generator,
    classes in order) and put the first ``round(count * validation_fraction)`` into validation.

    Returns:
        (train_indices, validation_indices), both sorted int64 arrays.
    """
    generator = np.random.default_rng(seed)
    validation: list[np.ndarray] = []
    for label in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == label))
        validation.append(members[: int(round(len(members) * validation_fraction))])
    validation_indices = np.sort(np.concatenate(validation))
    train_mask = np.ones(len(labels), dtype=bool)
    train_mask[validation_indices] = False
    return np.flatnonzero(train_mask), validation_indices


def class_weights(labels: np.ndarray, num_labels: int, power: float) -> np.ndarray:
    """Loss weights ``(1 / count) ** power`` normalised to mean 1 (absent classes get 0)."""
    counts = np.bincount(labels, minlength=num_labels).astype(np.float64)
    weights = np.where(counts > 0, 1.0 / np.maximum(counts, 1.0), 0.0) ** power
    weights[counts == 0] = 0.0
    return (weights / weights[counts > 0].mean()).astype(np.float32)


def augment_batch(faces: np.ndarray, crop_size: int, config: TrainingConfig, generator: np.random.Generator) -> torch.Tensor:
    """Random affine (rotation, scale), random crop, horizontal flip, brightness/contrast jitter,
    and (with ``config.random_erasing``) a random rectangle replaced by uniform noise.

    Args:
        faces: (N, 48, 48) uint8 faces.

    Returns:
        (N, 1, crop_size, crop_size) float tensor in [0, 1] (not yet standardised).
    """
    count, height, width = faces.shape
    images = torch.from_numpy(faces.astype(np.float32) / 255.0)[:, None]
    angles = np.deg2rad(generator.uniform(-config.max_rotation_degrees, config.max_rotation_degrees, count))
    scales = 1.0 + generator.uniform(-config.max_scale_change, config.max_scale_change, count)
    flips = np.where(generator.random(count) < 0.5, -1.0, 1.0)
    cosines, sines = np.cos(angles) / scales, np.sin(angles) / scales
    theta = np.zeros((count, 2, 3), dtype=np.float32)
    theta[:, 0, 0] = cosines * flips
    theta[:, 0, 1] = -sines
    theta[:, 1, 0] = sines * flips
    theta[:, 1, 1] = cosines
    # affine_grid spans [-1, 1] over the face, so a shift of a share f of the side is 2f
    theta[:, :, 2] = 2 * generator.uniform(-config.max_shift, config.max_shift, (count, 2)) if config.max_shift else 0.0
    grid = nn.functional.affine_grid(torch.from_numpy(theta), list(images.shape), align_corners=False)
    images = nn.functional.grid_sample(images, grid, padding_mode="border", align_corners=False)
    tops = generator.integers(0, height - crop_size + 1, count)
    lefts = generator.integers(0, width - crop_size + 1, count)
    crops = torch.stack(
        [images[index, :, top : top + crop_size, left : left + crop_size] for index, (top, left) in enumerate(zip(tops, lefts))]
    )
    contrast = torch.from_numpy(generator.uniform(0.8, 1.2, (count, 1, 1, 1)).astype(np.float32))
    brightness = torch.from_numpy(generator.uniform(-0.1, 0.1, (count, 1, 1, 1)).astype(np.float32))
    means = crops.mean(dim=(2, 3), keepdim=True)
    jittered = ((crops - means) * contrast + means + brightness).clamp(0.0, 1.0)
    if config.random_erasing > 0:
        erase_rectangles(jittered, config.random_erasing, generator)
    return jittered


def erase_rectangles(crops: torch.Tensor, probability: float, generator: np.random.Generator) -> None:
    """Random erasing (Zhong et al., 2020), in place: per crop with ``probability``, one
    rectangle covering 2-25% of the area, aspect ratio 0.3-3.3, filled with uniform noise.

    Args:
        crops: (N, 1, H, W) float tensor in [0, 1]; modified in place.
    """
    count, _, height, width = crops.shape
    chosen = np.flatnonzero(generator.random(count) < probability)
    areas = generator.uniform(0.02, 0.25, len(chosen)) * height * width
    aspects = np.exp(generator.uniform(np.log(0.3), np.log(3.3), len(chosen)))
    heights = np.clip(np.round(np.sqrt(areas * aspects)), 1, height).astype(int)
    widths = np.clip(np.round(np.sqrt(areas / aspects)), 1, width).astype(int)
    for index, rectangle_height, rectangle_width in zip(chosen, heights, widths):
        top = int(generator.integers(0, height - rectangle_height + 1))
        left = int(generator.integers(0, width - rectangle_width + 1))
        noise = generator.random((rectangle_height, rectangle_width), dtype=np.float32)
        crops[index, 0, top : top + rectangle_height, left : left + rectangle_width] = torch.from_numpy(noise)


def view_count(test_time_shift: int = 0, flip_average: bool = True, diagonals: int = 4) -> int:
    """How many test-time views :func:`view_inputs` makes of each face."""
    return len(_view_offsets(test_time_shift, diagonals)) * (2 if flip_average else 1)


def _view_offsets(shift: int, diagonals: int) -> list[tuple[int, int]]:
    """(down, right) offsets of the crop windows: the centre, then ``diagonals`` shifted ones
    (4: every diagonal; 2: up-left and down-right, whose mirrors stand for the other two)."""
    if shift < 0:
        raise ValueError(f"test_time_shift must be >= 0, got {shift}")
    if diagonals not in (2, 4):
        raise ValueError(f"diagonals must be 2 or 4, got {diagonals}")
    corners = [(-shift, -shift), (shift, shift)] if diagonals == 2 else [(-shift, -shift), (-shift, shift), (shift, -shift), (shift, shift)]
    return [(0, 0)] + (corners if shift else [])


def view_inputs(
    faces: np.ndarray,
    *,
    crop_size: int,
    pixel_mean: float,
    pixel_std: float,
    test_time_shift: int = 0,
    flip_average: bool = True,
    diagonals: int = 4,
) -> np.ndarray:
    """The network inputs of every test-time view of (N, 48, 48) uint8 faces, view-major:
    (views * N, 1, crop_size, crop_size) float32, view v of face i at row v * N + i (centre
    first, then the diagonal shifts, then the same views mirrored), so averaging over
    ``reshape(views, N, ...)`` gives each face's mean. Shared by PyTorch and ONNX Runtime
    scoring, so both see exactly the same pixels."""
    offsets = _view_offsets(test_time_shift, diagonals)
    inputs = np.concatenate(
        [faces_to_input(faces, crop_size=crop_size, mean=pixel_mean, std=pixel_std, offset=offset) for offset in offsets]
    )
    if flip_average:
        inputs = np.concatenate([inputs, inputs[..., ::-1]])
    return np.ascontiguousarray(inputs, dtype=np.float32)


@torch.no_grad()
def predict_probabilities(
    network: FaceEmotionCNN,
    faces: np.ndarray,
    *,
    crop_size: int,
    pixel_mean: float,
    pixel_std: float,
    device: torch.device,
    batch_size: int = 256,
    flip_average: bool = True,
    test_time_shift: int = 0,
    test_time_diagonals: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and penultimate features for (N, 48, 48) uint8 faces.

    With ``flip_average`` the mirrored face is scored too and both are averaged: faces are
    left-right symmetric in meaning, and it is a cheap ~1 point of accuracy. A
    ``test_time_shift`` of k > 0 adds four crops moved k pixels diagonally from the centre
    (5 views, 10 with mirrors): the detector's boxes are not pixel-exact, and averaging over
    small shifts gained 0.5 validation points at k = 2 (benchmarks/RESULTS.md).
    ``test_time_diagonals`` 2 keeps only the up-left and down-right shifts (6 views with
    mirrors: the mirrors of those two are the other diagonals' views of the mirrored face).

    Returns:
        probabilities (N, num_labels) float32 summing to 1, features (N, feature_dim) float32.
    """
    views = view_count(test_time_shift, flip_average, test_time_diagonals)
    network.eval()
    all_probabilities: list[np.ndarray] = []
    all_features: list[np.ndarray] = []
    # batch_size counts faces at one view; with more views, fewer faces per pass keep memory flat.
    faces_per_pass = max(1, batch_size // (views // (2 if flip_average else 1)))
    for start in range(0, len(faces), faces_per_pass):
        batch = view_inputs(
            faces[start : start + faces_per_pass], crop_size=crop_size, pixel_mean=pixel_mean, pixel_std=pixel_std,
            test_time_shift=test_time_shift, flip_average=flip_average, diagonals=test_time_diagonals,
        )
        # All views of the batch in one forward pass; eval-mode BatchNorm makes that exact.
        inputs = torch.from_numpy(batch).to(device).contiguous(memory_format=torch.channels_last)
        logits, features = network.forward_with_features(inputs)
        probabilities = torch.softmax(logits, dim=1).unflatten(0, (views, -1)).mean(dim=0)
        features = features.unflatten(0, (views, -1)).mean(dim=0)
        all_probabilities.append(probabilities.float().cpu().numpy())
        all_features.append(features.float().cpu().numpy())
    if not all_probabilities:
        return np.zeros((0, network.classifier.out_features), np.float32), np.zeros((0, network.classifier.in_features), np.float32)
    return np.concatenate(all_probabilities), np.concatenate(all_features)


def train_face_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    config: TrainingConfig,
    *,
    device: str = "auto",
    on_improvement: Callable[[TrainingResult, dict[str, float]], None] | None = None,
    progress: bool = True,
    teacher_probabilities: np.ndarray | None = None,
    initial_state: dict[str, torch.Tensor] | None = None,
) -> TrainingResult:
    """Train :class:`FaceEmotionCNN` (AdamW or SGD, one-cycle LR), keep the best epoch by val accuracy.

    Early stopping: training ends after ``config.patience`` epochs without a better
    validation accuracy (or at ``config.time_limit_minutes``).

    Args:
        images: (N, 48, 48) uint8 faces.
        labels: (N,) indices into ``LABELS``.
        config: the run's hyper-parameters.
        device: ``auto`` | ``cpu`` | ``cuda``.
        on_improvement: called with the result so far each time validation accuracy improves
            (the CLI uses it to write the checkpoint as soon as it exists).
        progress: show tqdm bars.
        teacher_probabilities: (N, len(LABELS)) predictions of teacher networks for ``images``,
            mixed into the targets with ``config.distillation_weight``. The teachers must not
            have trained on this run's validation faces, or validation accuracy is inflated.
        initial_state: weights to start from (fine-tuning), e.g. a checkpoint trained on the
            same split; None starts from random weights.

    Returns:
        The :class:`TrainingResult` holding the best network (on CPU, eval mode).
    """
    if (teacher_probabilities is None) != (config.distillation_weight == 0):
        raise ValueError("teacher_probabilities and a distillation_weight > 0 go together; pass both or neither")
    if teacher_probabilities is not None and teacher_probabilities.shape != (len(labels), len(LABELS)):
        raise ValueError(f"teacher_probabilities must be ({len(labels)}, {len(LABELS)}), got {teacher_probabilities.shape}")
    torch_device = resolve_device(device)
    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)
    train_indices, validation_indices = stratified_split(labels, config.validation_fraction, config.seed)
    train_images, train_labels = images[train_indices], labels[train_indices]
    train_targets = None
    if teacher_probabilities is not None:
        hard = np.eye(len(LABELS), dtype=np.float32)[train_labels]
        soft = teacher_probabilities[train_indices].astype(np.float32)
        train_targets = (1 - config.distillation_weight) * hard + config.distillation_weight * soft
    validation_images, validation_labels = images[validation_indices], labels[validation_indices]
    pixel_mean = float(train_images.mean() / 255.0)
    pixel_std = float(train_images.std() / 255.0)

    network = FaceEmotionCNN(**config.network_arguments())
    if initial_state is not None:
        network.load_state_dict(initial_state)
    network = network.to(torch_device).to(memory_format=torch.channels_last)
    weights = torch.from_numpy(class_weights(train_labels, len(LABELS), config.class_weight_power)).to(torch_device)
    loss_function = nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)
    optimizer = build_optimizer(network, config)
    steps_per_epoch = math.ceil(len(train_labels) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, epochs=config.epochs, steps_per_epoch=steps_per_epoch, pct_start=0.15
    )

    history: list[dict[str, float]] = []
    best_accuracy, best_epoch, best_state = -1.0, 0, None
    started = time.perf_counter()
    images_seen, seconds_training = 0, 0.0
    result: TrainingResult | None = None
    for epoch in range(1, config.epochs + 1):
        network.train()
        order = generator.permutation(len(train_labels))
        epoch_started = time.perf_counter()
        running_loss, batches = 0.0, 0
        bar = tqdm(range(0, len(order), config.batch_size), desc=f"epoch {epoch}/{config.epochs}", disable=not progress, leave=False)
        for start in bar:
            batch_indices = order[start : start + config.batch_size]
            if len(batch_indices) < 2:
                continue  # BatchNorm cannot train on a single example
            inputs = augment_batch(train_images[batch_indices], config.crop_size, config, generator)
            inputs = ((inputs - pixel_mean) / pixel_std).to(torch_device).contiguous(memory_format=torch.channels_last)
            batch_targets = train_labels[batch_indices] if train_targets is None else train_targets[batch_indices]
            targets = torch.from_numpy(batch_targets).to(torch_device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_function(network(inputs), targets)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running_loss += loss.item()
            batches += 1
            images_seen += len(batch_indices)
            if batches % 20 == 0:
                bar.set_postfix(loss=f"{running_loss / batches:.3f}")
        seconds_training += time.perf_counter() - epoch_started
        probabilities, _ = predict_probabilities(
            network, validation_images, crop_size=config.crop_size, pixel_mean=pixel_mean,
            pixel_std=pixel_std, device=torch_device,
        )
        metrics = classification_metrics(validation_labels, probabilities)
        record = {
            "epoch": epoch,
            "train_loss": running_loss / max(batches, 1),
            "validation_accuracy": metrics["accuracy"],
            "validation_macro_f1": metrics["macro_f1"],
            "epoch_seconds": time.perf_counter() - epoch_started,
        }
        history.append(record)
        print(
            f"epoch {epoch}: loss {record['train_loss']:.4f} val acc {metrics['accuracy']:.4f} "
            f"macro-F1 {metrics['macro_f1']:.4f} ({record['epoch_seconds']:.0f} s)",
            flush=True,
        )
        if metrics["accuracy"] > best_accuracy:
            best_accuracy, best_epoch = metrics["accuracy"], epoch
            best_state = {name: tensor.detach().cpu().clone() for name, tensor in network.state_dict().items()}
            if on_improvement is not None:
                result = _result(config, best_state, pixel_mean, pixel_std, best_epoch, epoch, history, started,
                                 images_seen, seconds_training, train_indices, validation_indices)
                on_improvement(result, metrics)
        if epoch - best_epoch >= config.patience:
            print(f"early stop: no better validation accuracy for {config.patience} epochs", flush=True)
            break
        if config.time_limit_minutes is not None and time.perf_counter() - started > config.time_limit_minutes * 60:
            print(f"stopping: time limit of {config.time_limit_minutes} minutes reached", flush=True)
            break
    assert best_state is not None
    return _result(config, best_state, pixel_mean, pixel_std, best_epoch, len(history), history, started,
                   images_seen, seconds_training, train_indices, validation_indices)


def build_optimizer(network: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW (decoupled weight decay) or SGD with Nesterov momentum (coupled L2 decay)."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            network.parameters(), lr=config.learning_rate, momentum=config.momentum,
            nesterov=True, weight_decay=config.weight_decay,
        )
    return torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)


def _result(
    config: TrainingConfig,
    state: dict[str, torch.Tensor],
    pixel_mean: float,
    pixel_std: float,
    best_epoch: int,
    epochs_run: int,
    history: list[dict[str, float]],
    started: float,
    images_seen: int,
    seconds_training: float,
    train_indices: np.ndarray,
    validation_indices: np.ndarray,
) -> TrainingResult:
    network = FaceEmotionCNN(**config.network_arguments())
    network.load_state_dict(state)
    network.eval()
    return TrainingResult(
        network=network,
        pixel_mean=pixel_mean,
        pixel_std=pixel_std,
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        history=list(history),
        training_seconds=time.perf_counter() - started,
        training_images_per_second=images_seen / max(seconds_training, 1e-9),
        train_indices=train_indices,
        validation_indices=validation_indices,
    )


def classification_metrics(true_labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, confusion matrix, one-vs-rest ROC-AUC.

    Args:
        true_labels: (N,) indices into ``LABELS``.
        probabilities: (N, len(LABELS)) predicted probabilities.

    Returns:
        A JSON-ready dict; ``confusion_matrix[i][j]`` counts true ``LABELS[i]`` predicted ``LABELS[j]``.
        ROC-AUC is ``None`` for a class absent from ``true_labels`` (or present in every row).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

    label_range = list(range(len(LABELS)))
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        true_labels, predicted, labels=label_range, zero_division=0
    )
    present = support > 0
    per_class: dict[str, dict[str, float | int | None]] = {}
    for index, name in enumerate(LABELS):
        positives = true_labels == index
        if 0 < positives.sum() < len(true_labels):
            auc: float | None = float(roc_auc_score(positives, probabilities[:, index]))
        else:
            auc = None
        per_class[name] = {
            "precision": float(precision[index]),
            "recall": float(recall[index]),
            "f1": float(f1[index]),
            "support": int(support[index]),
            "roc_auc": auc,
        }
    aucs = [entry["roc_auc"] for entry in per_class.values() if entry["roc_auc"] is not None]
    return {
        "count": int(len(true_labels)),
        "accuracy": float((predicted == true_labels).mean()) if len(true_labels) else 0.0,
        # Macro over the classes present: an absent class has no defined recall.
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "macro_roc_auc": float(np.mean(aucs)) if aucs else None,
        "per_class": per_class,
        "labels": list(LABELS),
        "confusion_matrix": confusion_matrix(true_labels, predicted, labels=label_range).tolist(),
    }
