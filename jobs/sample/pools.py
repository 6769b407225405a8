"""Real labelled posts and faces for the sample generator: ground truth nobody here wrote.

``emodrift sample --text-pool <GoEmotions Ekman tsv> --face-pool <FER npz>`` makes planted
emotion regimes emit real texts (single-label rows of a GoEmotions split) and real faces
(FER crops pasted into photos with random backgrounds, sizes and positions), so the whole
pipeline, face detection and fusion included, is exercised on inputs its models have not
seen:

- texts: pass the **dev** split (the text model selected its checkpoint on dev, but never
  trained on it; the test split is held out from this project);
- faces: only the faces of the shipped face model's own validation split are used
  (``models.image.inference.training_split`` names the seed and fraction it trained with,
  ``stratified_split`` rebuilds the split), so no face was seen in training.

Pure apart from reading the two files: :func:`load_text_pool` and :func:`load_face_pool` are
the edges; drawing is seeded by the caller's generator.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np

from models.labels import LABEL_INDEX, LABELS

FACE_SIDE_RANGE = (72, 160)  # pasted face side in pixels: above the detector's 24-px floor, below a selfie
PHOTO_SIDE_RANGE = (180, 360)


@dataclasses.dataclass(frozen=True)
class TextPool:
    """Single-label texts per pipeline label: ``texts[label]`` lists (comment id, text)."""

    source: str
    texts: dict[str, tuple[tuple[str, str], ...]]

    def draw(self, label: str, rng: np.random.Generator) -> tuple[str, str]:
        """A (comment id, text) pair labelled ``label``, drawn uniformly."""
        choices = self.texts[label]
        return choices[int(rng.integers(len(choices)))]


@dataclasses.dataclass(frozen=True)
class FacePool:
    """Held-out 48x48 grayscale faces per pipeline label: ``faces[label]`` is (n, 48, 48) uint8
    and ``indices[label]`` their row numbers in the npz (the ground truth names them)."""

    source: str
    faces: dict[str, np.ndarray]
    indices: dict[str, np.ndarray]

    def draw(self, label: str, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """(npz row, face) of one face labelled ``label``, drawn uniformly."""
        position = int(rng.integers(len(self.indices[label])))
        return int(self.indices[label][position]), self.faces[label][position]


def load_text_pool(path: Path) -> TextPool:
    """Single-label rows of a GoEmotions Ekman TSV (``labels.txt`` beside it), by pipeline label.

    Multi-label rows are skipped: their planted label would be ambiguous.
    """
    from models.text.training import ekman_columns, read_goemotions_tsv, read_label_names

    path = Path(path)
    labels_file = path.parent / "labels.txt"
    if not labels_file.is_file():
        raise FileNotFoundError(f"{path}: expected the Ekman label names in {labels_file}")
    column_of = ekman_columns(read_label_names(labels_file))
    texts, label_ids, comment_ids = read_goemotions_tsv(path)
    by_label: dict[str, list[tuple[str, str]]] = {label: [] for label in LABELS}
    for text, ids, comment_id in zip(texts, label_ids, comment_ids):
        if len(ids) == 1 and text.strip():
            by_label[LABELS[column_of[ids[0]]]].append((comment_id, text))
    empty = [label for label, rows in by_label.items() if not rows]
    if empty:
        raise ValueError(f"{path}: no single-label text for {empty}")
    return TextPool(str(path), {label: tuple(rows) for label, rows in by_label.items()})


def load_face_pool(path: Path, model_dir: Path) -> FacePool:
    """The faces of a FER npz that the face model in ``model_dir`` held out for validation.

    Raises:
        ValueError: when the model's config records no training split (its unseen faces are
            unknown, so none can be promised unseen).
    """
    from models.image.inference import training_split
    from models.image.training import load_face_dataset, stratified_split

    split = training_split(Path(model_dir))
    if split is None:
        raise ValueError(f"{model_dir}: its config records no training split; cannot tell which faces it never saw")
    images, labels = load_face_dataset(Path(path))
    _, validation = stratified_split(labels, split[1], split[0])
    faces: dict[str, np.ndarray] = {}
    indices: dict[str, np.ndarray] = {}
    for label in LABELS:
        rows = validation[labels[validation] == LABEL_INDEX[label]]
        if rows.size == 0:
            raise ValueError(f"{path}: no held-out face for {label!r}")
        faces[label], indices[label] = images[rows], rows
    return FacePool(str(path), faces, indices)


def render_face_photo(face: np.ndarray, seed: int, image_format: str = "JPEG") -> bytes:
    """Paste a 48x48 face, upscaled to a random size, at a random place on a random background.

    The background is a colour gradient with shapes and noise (like the generator's face-free
    pictures); the face is converted to grey-on-RGB, as FER faces are grey. Deterministic per
    ``seed``.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    side = int(rng.integers(FACE_SIDE_RANGE[0], FACE_SIDE_RANGE[1] + 1))
    width = max(side + 8, int(rng.integers(*PHOTO_SIDE_RANGE)))
    height = max(side + 8, int(rng.integers(*PHOTO_SIDE_RANGE)))
    top, bottom = rng.integers(0, 256, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    pixels = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).copy()
    photo = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(photo)
    for _ in range(int(rng.integers(1, 5))):
        x0, x1 = sorted(rng.integers(0, width, size=2).tolist())
        y0, y1 = sorted(rng.integers(0, height, size=2).tolist())
        draw.rectangle((x0, y0, x1, y1), fill=tuple(int(value) for value in rng.integers(0, 256, size=3)))
    pasted = Image.fromarray(np.asarray(face, dtype=np.uint8), "L").resize((side, side), Image.BICUBIC).convert("RGB")
    photo.paste(pasted, (int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))))
    noisy = np.asarray(photo, dtype=np.int16) + rng.integers(-6, 7, size=(height, width, 3))
    photo = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    photo.save(buffer, format=image_format, **({"quality": 90} if image_format == "JPEG" else {}))
    return buffer.getvalue()
