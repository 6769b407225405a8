"""A shallower BlazeFace distilled from MediaPipe's: the same boxes for a third of the work.

The face path's cost is the detector: MediaPipe's "back camera" BlazeFace spends most of its
time in the seven residual blocks it runs at half the input's resolution (24 channels over
112 x 150 cells for a 224 x 300 input). A student keeps the teacher's stem, heads, grids
and outputs but only some of its blocks (fewer where the grid is large), starts from the
teacher's own weights for the blocks it keeps (a residual block dropped is close to the
identity it adds to, so the pruned network is already a rough detector), and is then trained
to give the teacher's outputs on photos like the pipeline's: photo-sized JPEGs with faces
pasted in (``models.image.photos``), decoded and resized exactly as the scorer does.

The targets are the teacher's outputs, not the pasted boxes: the student learns what a face
detector that was trained on real photos says, everywhere in the photo, including "no face"
on the scene. To keep it from learning that a pasted square is a face, a share of the pasted
tiles are *distractors*, 48 x 48 tiles with a face's grey levels and a pasted tile's edges
but no face: the face cut into patches and shuffled, or blurred to a blob. The teacher says
"no face" on them, so the student must too.

Pure functions and modules: nothing here reads or writes files; the ``device`` argument is
the caller's choice (the CLI picks it).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch
from torch.nn import functional

from models.image.blazeface import RAW_SCORE_LIMIT, BlazeFaceBack, network_input
from models.image.decode import decode_image
from models.image.photos import PhotoSettings, synthetic_photo

# Which of the teacher's 31 blocks the shipped student keeps (indices into ``BLOCKS``): none of
# the 7 at stride 2 (where the grid is largest and a block costs most), 2 of 7 at stride 4,
# 3 of 7 at stride 8, 4 of 7 at stride 16, and the three blocks that halve the grid (7, 15,
# 23). About 3x cheaper than the teacher in ONNX Runtime on one core (2.4-2.7 against 8.3 ms at
# 224 x 320). Measured against two other cuts (benchmarks/RESULTS.md): keeping 1/3/4/7 blocks
# found 98.4 % at 1.8x; keeping 0/1/2/3 found 95.7 % at 4.2x.
STUDENT_BLOCKS: tuple[int, ...] = (7, 8, 9, 15, 16, 17, 18, 23, 24, 25, 26, 27)


def pruned_detector(teacher: BlazeFaceBack, keep: Sequence[int] = STUDENT_BLOCKS) -> BlazeFaceBack:
    """A :class:`BlazeFaceBack` with only the teacher's blocks ``keep`` (in order), its stem,
    final block and heads, all initialised from the teacher's weights (copies)."""
    keep = [int(index) for index in keep]
    if sorted(set(keep)) != keep or not keep or keep[0] < 0 or keep[-1] >= len(teacher.blocks):
        raise ValueError(f"keep must be increasing block indices in [0, {len(teacher.blocks)}), got {keep}")
    student = BlazeFaceBack([teacher.block_layout[index] for index in keep])
    teacher_state = teacher.state_dict()
    state = {}
    for name in student.state_dict():
        if name.startswith("blocks."):
            _, position, rest = name.split(".", 2)
            state[name] = teacher_state[f"blocks.{keep[int(position)]}.{rest}"].clone()
        else:
            state[name] = teacher_state[name].clone()
    student.load_state_dict(state)
    return student


def distractor_tile(face: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """A (48, 48) uint8 tile with a face's grey levels and no face: its 12-pixel patches
    shuffled, or the face blurred to a blob (each half the time)."""
    face = np.asarray(face, dtype=np.uint8)
    side = face.shape[0]
    if face.shape != (side, side) or side % 4:
        raise ValueError(f"face must be a square tile with a side divisible by 4, got {face.shape}")
    if generator.random() < 0.5:
        patch = side // 4
        patches = [face[row : row + patch, column : column + patch] for row in range(0, side, patch) for column in range(0, side, patch)]
        order = generator.permutation(len(patches))
        rows = [np.concatenate([patches[order[row * 4 + column]] for column in range(4)], axis=1) for row in range(4)]
        return np.ascontiguousarray(np.concatenate(rows, axis=0))
    sigma = float(generator.uniform(3.0, 8.0))
    return cv2.GaussianBlur(face, (0, 0), sigma)


@dataclasses.dataclass(frozen=True)
class DistillationSettings:
    """How the distillation photos are made and read (the scorer's reading by default)."""

    short_side: int = 224
    max_long_side: int = 448
    resize: str = "pyramid"
    decode_short_side: int | None = 400
    # training inputs are square windows of the network's input: 160 px hold the largest face
    # (40 % of a 224 px short side) and cost half a 224 px window to train on
    crop_side: int = 160
    crops_per_photo: int = 3
    no_face_share: float = 0.12
    distractor_share: float = 0.35  # photos with at least one distractor tile
    photo_settings: PhotoSettings = PhotoSettings()


def distillation_inputs(
    faces: np.ndarray, count: int, generator: np.random.Generator, settings: DistillationSettings = DistillationSettings(),
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(count * crops_per_photo, crop_side, crop_side) uint8 network inputs cut from ``count``
    synthetic photos of ``faces`` ((N, 48, 48) uint8): each photo is JPEG-encoded, decoded
    and resized as the scorer reads it, and square windows are cut from it at random places
    (every other one mirrored)."""
    if faces.ndim != 3 or len(faces) == 0:
        raise ValueError(f"need (N, H, W) faces, got {faces.shape}")
    side = settings.crop_side
    if side % 32 or side > settings.short_side:
        raise ValueError(f"crop_side must be a multiple of 32 no larger than short_side, got {side}")
    crops = np.zeros((count * settings.crops_per_photo, side, side), dtype=np.uint8)
    for photo_index in range(count):
        draw = generator.random()
        tiles: list[np.ndarray] = []
        if draw >= settings.no_face_share:
            tiles.append(faces[generator.integers(len(faces))])
            if generator.random() < 0.3:
                tiles.append(faces[generator.integers(len(faces))])
        if generator.random() < settings.distractor_share:
            tiles = tiles[:1] + [distractor_tile(faces[generator.integers(len(faces))], generator)]
            generator.shuffle(tiles)
        photo = synthetic_photo(tiles, generator, settings.photo_settings)
        decoded = decode_image(photo.data, min_short_side=settings.decode_short_side)
        canvas, _ = network_input(decoded.gray, settings.short_side, settings.max_long_side, settings.resize)
        for crop_index in range(settings.crops_per_photo):
            height, width = canvas.shape
            top = int(generator.integers(0, height - side + 1))
            left = int(generator.integers(0, width - side + 1))
            window = canvas[top : top + side, left : left + side]
            crop = crops[photo_index * settings.crops_per_photo + crop_index]
            crop[: window.shape[0], : window.shape[1]] = window[:, ::-1] if crop_index % 2 else window
        if progress is not None:
            progress(photo_index + 1, count)
    return crops


def network_outputs(
    run: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], inputs: np.ndarray, batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores (N, A) float32, regressions (N, A, 16) float16) of a detector's network on
    (N, H, W) uint8 inputs; ``run`` maps a (n, H, W) uint8 batch to its (scores, regressions)
    (``BlazeFaceDetector.run_network``: ONNX Runtime on a CPU, PyTorch on a GPU). Float16 halves the
    regressions' memory; they are pixels of a 224 px input, so its 0.1 px error is harmless."""
    scores, regressions = [], []
    for start in range(0, len(inputs), batch_size):
        batch_scores, batch_regressions = run(inputs[start : start + batch_size])
        scores.append(np.asarray(batch_scores, dtype=np.float32))
        regressions.append(np.asarray(batch_regressions, dtype=np.float16))
        if progress is not None:
            progress(min(start + batch_size, len(inputs)), len(inputs))
    return np.concatenate(scores), np.concatenate(regressions)


def distillation_loss(
    scores: torch.Tensor, regressions: torch.Tensor, teacher_scores: torch.Tensor, teacher_regressions: torch.Tensor,
    face_weight: float = 20.0,
) -> torch.Tensor:
    """Binary cross-entropy against the teacher's face probabilities, each anchor weighted by
    ``1 + face_weight * p_teacher`` (faces are a few anchors in hundreds: unweighted, the
    student would learn the background first), plus a smooth L1 on boxes and key points
    (in units of 8 input pixels) weighted by ``p_teacher`` where the teacher sees a face."""
    target = torch.sigmoid(teacher_scores.clamp(-RAW_SCORE_LIMIT, RAW_SCORE_LIMIT))
    weights = 1.0 + face_weight * target
    classification = (functional.binary_cross_entropy_with_logits(scores, target, reduction="none") * weights).sum() / weights.sum()
    box_weights = torch.where(target > 0.05, target, torch.zeros_like(target))
    box_error = functional.smooth_l1_loss(regressions / 8.0, teacher_regressions / 8.0, reduction="none").mean(dim=-1)
    boxes = (box_error * box_weights).sum() / box_weights.sum().clamp(min=1.0)
    return classification + boxes


def distil_detector(
    student: BlazeFaceBack,
    inputs: np.ndarray,
    teacher_scores: np.ndarray,
    teacher_regressions: np.ndarray,
    *,
    epochs: int = 6,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.1,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train ``student`` (in place) towards the teacher's outputs on ``inputs`` ((N, H, W)
    uint8); AdamW with a cosine schedule; a held-out share of the inputs picks the epoch whose
    weights are kept (the starting weights included). Returns one dict per epoch."""
    if not len(inputs) == len(teacher_scores) == len(teacher_regressions):
        raise ValueError("inputs and teacher outputs must have the same length")
    generator = np.random.default_rng(seed)
    order = generator.permutation(len(inputs))
    held_out_count = max(1, int(round(len(inputs) * validation_fraction)))
    held_out, fitting = order[:held_out_count], order[held_out_count:]
    # channels-last: 2.5x faster depthwise training steps on a CPU (6.8 against 11 ms per 160 px input)
    student.to(device).to(memory_format=torch.channels_last)

    def tensors(indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        images = torch.from_numpy(inputs[indices]).to(device=device, dtype=torch.float32)[:, None] / 127.5 - 1.0
        images = images.contiguous(memory_format=torch.channels_last)
        return (
            images,
            torch.from_numpy(np.asarray(teacher_scores[indices], dtype=np.float32)).to(device),
            torch.from_numpy(np.asarray(teacher_regressions[indices], dtype=np.float32)).to(device),
        )

    def held_out_loss() -> float:
        student.eval()
        total = 0.0
        with torch.inference_mode():
            for start in range(0, len(held_out), 64):
                images, target_scores, target_regressions = tensors(held_out[start : start + 64])
                scores, regressions = student(images)
                total += float(distillation_loss(scores, regressions, target_scores, target_regressions)) * len(images)
        return total / len(held_out)

    optimizer = torch.optim.AdamW(student.parameters(), lr=learning_rate, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(fitting) / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=learning_rate, total_steps=max(1, epochs * steps_per_epoch), pct_start=0.1, anneal_strategy="cos"
    )
    best_loss = held_out_loss()
    best_state = {name: value.detach().clone() for name, value in student.state_dict().items()}
    history: list[dict] = [{"epoch": 0, "train_loss": None, "held_out_loss": best_loss, "seconds": 0.0}]
    if progress is not None:
        progress(history[-1])
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        student.train()
        shuffled = generator.permutation(fitting)
        total, seen = 0.0, 0
        for start in range(0, len(shuffled), batch_size):
            images, target_scores, target_regressions = tensors(np.sort(shuffled[start : start + batch_size]))
            scores, regressions = student(images)
            loss = distillation_loss(scores, regressions, target_scores, target_regressions)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(images)
            seen += len(images)
        loss_now = held_out_loss()
        history.append({"epoch": epoch, "train_loss": total / seen, "held_out_loss": loss_now, "seconds": time.perf_counter() - started})
        if loss_now < best_loss:
            best_loss = loss_now
            best_state = {name: value.detach().clone() for name, value in student.state_dict().items()}
        if progress is not None:
            progress(history[-1])
    student.load_state_dict(best_state)
    student.eval()
    return history
