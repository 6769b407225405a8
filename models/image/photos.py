"""Photo-sized JPEGs with known faces pasted in: the face path's stand-in for real posts.

FER2013 faces are 48x48 aligned crops; posts carry whole photos in which a detector has to
find the face first. ``synthetic_photo`` pastes one or two given faces into a varied scene
(gradients, shapes, blurred texture, colour casts), at a random place and scale, and encodes
it as a JPEG of random quality, returning where each face went so detection and
classification can be scored separately. Pure functions over arrays and a seeded generator:
nothing here reads or writes files (benchmarks and sample generators do that).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the photo


@dataclasses.dataclass(frozen=True)
class PhotoSettings:
    """Ranges the photos are drawn from (uniformly unless said otherwise).

    Defaults follow the face-path issue: 320-1280 px sides, faces 12-40 % of the short side,
    JPEG quality 60-95.
    """

    min_side: int = 320
    max_side: int = 1280
    min_face_share: float = 0.12
    max_face_share: float = 0.40
    min_quality: int = 60
    max_quality: int = 95

    def __post_init__(self) -> None:
        if not 16 <= self.min_side <= self.max_side:
            raise ValueError(f"need 16 <= min_side <= max_side, got {self.min_side}, {self.max_side}")
        if not 0.0 < self.min_face_share <= self.max_face_share <= 0.5:
            raise ValueError(f"need 0 < min_face_share <= max_face_share <= 0.5, got {self.min_face_share}, {self.max_face_share}")
        if not 1 <= self.min_quality <= self.max_quality <= 100:
            raise ValueError(f"need 1 <= min_quality <= max_quality <= 100, got {self.min_quality}, {self.max_quality}")


@dataclasses.dataclass(frozen=True)
class SyntheticPhoto:
    """An encoded JPEG and the boxes where its faces were pasted (the 48x48 tile, scaled)."""

    data: bytes
    width: int
    height: int
    face_boxes: tuple[Box, ...]


def synthetic_photo(
    faces: Sequence[np.ndarray], generator: np.random.Generator, settings: PhotoSettings = PhotoSettings()
) -> SyntheticPhoto:
    """Paste ``faces`` ((48, 48) uint8 grayscale each; zero, one or two) into a random scene.

    Two faces never overlap; each face's side is its own draw from the face-share range.
    Faces keep FER's grayscale (the scene is coloured), so a colour cast on the whole photo
    tints them like any other part of it.
    """
    if len(faces) > 2:
        raise ValueError(f"at most two faces per photo, got {len(faces)}")
    aspect = float(np.exp(generator.uniform(np.log(3 / 4), np.log(16 / 9))))
    long_side = int(generator.integers(settings.min_side, settings.max_side + 1))
    short_side = max(settings.min_side, int(round(long_side / aspect)))
    width, height = (long_side, short_side) if generator.random() < 0.7 else (short_side, long_side)
    canvas = _scene(width, height, generator)
    boxes: list[Box] = []
    for face in faces:
        face = np.asarray(face, dtype=np.uint8)
        if face.ndim != 2:
            raise ValueError(f"faces must be 2-d grayscale arrays, got shape {face.shape}")
        box = _free_box(width, height, boxes, settings, generator)
        x, y, side, _ = box
        interpolation = cv2.INTER_CUBIC if side > face.shape[0] else cv2.INTER_AREA
        resized = cv2.resize(face, (side, side), interpolation=interpolation)
        canvas[y : y + side, x : x + side] = resized[:, :, None]
        boxes.append(box)
    cast = generator.uniform(0.85, 1.15, 3)  # white balance: the whole photo, faces included
    photo = np.clip(canvas.astype(np.float32) * cast, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    quality = int(generator.integers(settings.min_quality, settings.max_quality + 1))
    Image.fromarray(photo, "RGB").save(buffer, "JPEG", quality=quality)
    return SyntheticPhoto(buffer.getvalue(), width, height, tuple(boxes))


def _free_box(width: int, height: int, taken: list[Box], settings: PhotoSettings, generator: np.random.Generator) -> Box:
    """A square face box inside the photo that overlaps none of ``taken`` (shrinks if crowded)."""
    short = min(width, height)
    for attempt in range(50):
        share = generator.uniform(settings.min_face_share, settings.max_face_share)
        side = max(16, int(round(short * share * (0.97**attempt))))
        x = int(generator.integers(0, width - side + 1))
        y = int(generator.integers(0, height - side + 1))
        if all(x + side <= tx or tx + ts <= x or y + side <= ty or ty + ts <= y for tx, ty, ts, _ in taken):
            return (x, y, side, side)
    raise ValueError(f"no room for another face in a {width}x{height} photo")


def _scene(width: int, height: int, generator: np.random.Generator) -> np.ndarray:
    """(height, width, 3) uint8 background: a gradient, blurred texture and a few shapes."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    start, end = generator.uniform(20, 235, (2, 3))
    direction = generator.uniform(-1, 1, 2)
    ramp = (columns * direction[0] + rows * direction[1]) / (abs(direction[0]) * width + abs(direction[1]) * height + 1e-6)
    ramp = ramp - ramp.min()
    ramp = ramp / max(float(ramp.max()), 1e-6)
    canvas = start + ramp[:, :, None] * (end - start)
    # texture at a random grain: foliage, walls, fabric are neither flat nor white noise
    grain = float(np.exp(generator.uniform(np.log(2.0), np.log(24.0))))
    small = generator.normal(0, 1, (max(2, int(height / grain)), max(2, int(width / grain)))).astype(np.float32)
    texture = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    canvas += texture[:, :, None] * generator.uniform(3, 20)
    canvas = np.clip(canvas, 0, 255).astype(np.uint8)
    for _ in range(int(generator.integers(0, 9))):
        colour = tuple(int(value) for value in generator.integers(0, 256, 3))
        centre = (int(generator.integers(0, width)), int(generator.integers(0, height)))
        size = int(generator.integers(8, max(9, min(width, height) // 3)))
        kind = generator.integers(0, 3)
        if kind == 0:
            cv2.rectangle(canvas, centre, (centre[0] + size, centre[1] + int(generator.integers(8, size + 9))), colour, -1)
        elif kind == 1:
            cv2.ellipse(canvas, centre, (size, max(4, size // 2)), float(generator.uniform(0, 180)), 0, 360, colour, -1)
        else:
            end_point = (int(generator.integers(0, width)), int(generator.integers(0, height)))
            cv2.line(canvas, centre, end_point, colour, int(generator.integers(1, 8)))
    return canvas


@dataclasses.dataclass(frozen=True)
class PhotoSet:
    """Photos plus, per photo, the true label index (-1 without a face) and the face indices used."""

    photos: list[SyntheticPhoto]
    labels: np.ndarray
    face_indices: list[tuple[int, ...]]


def photo_set(
    faces: np.ndarray,
    labels: np.ndarray,
    count: int,
    *,
    seed: int = 0,
    no_face_share: float = 0.12,
    two_face_share: float = 0.15,
    settings: PhotoSettings = PhotoSettings(),
) -> PhotoSet:
    """``count`` photos built from ``faces`` (N, 48, 48) with ``labels`` (N,).

    A two-face photo pastes two faces of the same label (friends smiling together), so each
    photo has one true label whichever face the scorer weights more. Faces are drawn without
    replacement while they last.
    """
    if faces.ndim != 3 or len(faces) != len(labels) or len(faces) == 0:
        raise ValueError(f"need (N, H, W) faces with N labels, got {faces.shape} and {len(labels)}")
    if not 0 <= no_face_share and 0 <= two_face_share and no_face_share + two_face_share <= 1:
        raise ValueError(f"shares must be >= 0 and sum to <= 1, got {no_face_share}, {two_face_share}")
    generator = np.random.default_rng(seed)
    order = list(generator.permutation(len(faces)))
    by_label = {int(label): list(np.flatnonzero(labels == label)) for label in np.unique(labels)}
    photos, truths, used = [], [], []
    for _ in range(count):
        draw = generator.random()
        if draw < no_face_share:
            chosen: tuple[int, ...] = ()
        else:
            first = int(order.pop()) if order else int(generator.integers(len(faces)))
            chosen = (first,)
            if draw >= 1 - two_face_share:
                same = by_label[int(labels[first])]
                chosen = (first, int(same[generator.integers(len(same))]))
        photos.append(synthetic_photo([faces[index] for index in chosen], generator, settings))
        truths.append(int(labels[chosen[0]]) if chosen else -1)
        used.append(chosen)
    return PhotoSet(photos, np.array(truths, dtype=np.int64), used)


def matches_face(detected: Sequence[int], pasted: Sequence[int]) -> bool:
    """Whether a detected box is a find of a pasted face: its centre lies inside the pasted
    tile and its side is 0.3-1.6x the tile's (a box around half the tile, or one far
    larger than it, is a different thing)."""
    x, y, width, height = (float(value) for value in detected)
    tx, ty, side, _ = (float(value) for value in pasted)
    centre_x, centre_y = x + width / 2, y + height / 2
    inside = tx <= centre_x <= tx + side and ty <= centre_y <= ty + side
    return inside and 0.3 * side <= np.sqrt(width * height) <= 1.6 * side
