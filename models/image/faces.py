"""Find faces with OpenCV's Haar cascade, cut them into 48x48 crops, combine per-face results.

Offline by design: the cascade XML ships inside ``opencv-python-headless<5``
(``cv2.data.haarcascades``); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the decoded image

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"


class FaceDetector:
    """Haar-cascade frontal face detector over grayscale uint8 images.

    Detection runs on a downscaled copy (cheap: the cascade's cost grows with the pixels it
    scans) and boxes are mapped back to the given image, so crops can be cut at its full
    resolution.

    Args:
        cascade_file: XML file name inside ``cv2.data.haarcascades`` (or an absolute path).
        scale_factor: image pyramid step of ``detectMultiScale`` (> 1).
        min_neighbors: overlapping detections a face needs; higher = fewer false faces.
        min_face_size: smallest face side in pixels, in the downscaled copy.
        max_side: larger images are shrunk to this longest side before detection.
        work_short_side: images are also shrunk until their short side is at most this
            (None: only ``max_side`` applies). With ``min_face_size`` it sets the smallest
            face found relative to the photo: 24 / 240 finds faces of 10 % of the short side.
        confirm_cascade: a second cascade that must also find a face around each box
            (None: no check). Two differently trained cascades rarely fire on the same
            background pattern, so this removes most false faces for little time.
        confirm_neighbors: ``min_neighbors`` of the confirming cascade.
    """

    def __init__(
        self,
        cascade_file: str = DEFAULT_CASCADE,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_face_size: int = 24,
        max_side: int = 1024,
        work_short_side: int | None = None,
        confirm_cascade: str | None = None,
        confirm_neighbors: int = 1,
    ) -> None:
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        if min_neighbors < 0 or confirm_neighbors < 0:
            raise ValueError(f"neighbour counts must be >= 0, got {min_neighbors}, {confirm_neighbors}")
        if min_face_size < 8:
            raise ValueError(f"min_face_size must be >= 8, got {min_face_size}")
        if max_side < min_face_size or (work_short_side is not None and work_short_side < min_face_size):
            raise ValueError(f"max_side and work_short_side must be >= min_face_size, got {max_side}, {work_short_side}")
        self.classifier = _load_cascade(cascade_file)
        self.confirmer = _load_cascade(confirm_cascade) if confirm_cascade is not None else None
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_size = min_face_size
        self.max_side = max_side
        self.work_short_side = work_short_side
        self.confirm_neighbors = confirm_neighbors

    def detect(self, gray: np.ndarray) -> list[Box]:
        """Face boxes in ``gray`` ((H, W) uint8), largest first; empty when none is found."""
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ValueError(f"gray must be a (H, W) uint8 array, got {gray.shape} {gray.dtype}")
        height, width = gray.shape
        if min(height, width) < self.min_face_size:
            return []
        scale = min(1.0, self.max_side / max(height, width))
        if self.work_short_side is not None:
            scale = min(scale, self.work_short_side / min(height, width))
        small = cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA) if scale < 1.0 else gray
        found = np.asarray(
            self.classifier.detectMultiScale(
                small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                minSize=(self.min_face_size, self.min_face_size),
            )
        ).reshape(-1, 4)
        if self.confirmer is not None:
            found = [box for box in found if self._confirmed(small, box)]
        boxes = [tuple(int(round(value / scale)) for value in box) for box in found]
        clipped = [_clip_box(box, width, height) for box in boxes]
        return sorted((box for box in clipped if box[2] > 0 and box[3] > 0), key=lambda box: -box[2] * box[3])

    def _confirmed(self, small: np.ndarray, box: Sequence[int]) -> bool:
        """Whether the confirming cascade finds a face of about the box's size around it."""
        x, y, side = int(box[0]), int(box[1]), int(box[2])
        margin = side // 4
        x0, y0 = max(0, x - margin), max(0, y - margin)
        region = small[y0 : y + side + margin, x0 : x + side + margin]
        smallest = max(self.min_face_size, int(side * 0.7))
        if min(region.shape) < smallest:
            return False
        found = self.confirmer.detectMultiScale(
            region, scaleFactor=self.scale_factor, minNeighbors=self.confirm_neighbors,
            minSize=(smallest, smallest), maxSize=(int(side * 1.4) + 1, int(side * 1.4) + 1),
        )
        return len(found) > 0


def _load_cascade(cascade_file: str) -> cv2.CascadeClassifier:
    path = Path(cascade_file) if Path(cascade_file).is_absolute() else Path(cv2.data.haarcascades) / cascade_file
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise FileNotFoundError(f"could not load Haar cascade {path}; is opencv-python-headless<5 installed?")
    return classifier


def _clip_box(box: Sequence[int], width: int, height: int) -> Box:
    x, y, box_width, box_height = (int(value) for value in box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + box_width), min(height, y + box_height)
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def crop_faces(gray: np.ndarray, boxes: Sequence[Sequence[int]], size: int = 48, equalize: bool = True) -> np.ndarray:
    """Cut each box out of ``gray``, optionally histogram-equalise it, resize it to ``size`` x ``size``.

    Equalising each crop evens out the photo's lighting, but FER2013's faces are not
    equalised: networks trained on them lost 5.7 validation points on equalised faces
    (benchmarks/RESULTS.md, face photos), so checkpoints say which they expect.

    Args:
        gray: (H, W) uint8 image.
        boxes: [x, y, width, height] per face, inside the image.
        size: side of the output crops.
        equalize: histogram-equalise each crop before resizing.

    Returns:
        (len(boxes), size, size) uint8 array.
    """
    crops = np.zeros((len(boxes), size, size), dtype=np.uint8)
    height, width = gray.shape
    for index, box in enumerate(boxes):
        x, y, box_width, box_height = _clip_box(box, width, height)
        if box_width == 0 or box_height == 0:
            raise ValueError(f"box {list(box)} lies outside the {width}x{height} image")
        face = np.ascontiguousarray(gray[y : y + box_height, x : x + box_width])
        face = cv2.equalizeHist(face) if equalize else face
        interpolation = cv2.INTER_AREA if min(box_width, box_height) >= size else cv2.INTER_LINEAR
        crops[index] = cv2.resize(face, (size, size), interpolation=interpolation)
    return crops


def combine_by_area(values: np.ndarray, boxes: Sequence[Sequence[int]]) -> np.ndarray:
    """Area-weighted mean of per-face rows: a big (near, in focus) face counts more.

    Args:
        values: (N, K) per-face probabilities or features.
        boxes: N boxes [x, y, width, height].

    Returns:
        (K,) float32 weighted mean; for probabilities it still sums to 1.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or len(values) != len(boxes) or len(boxes) == 0:
        raise ValueError(f"need one row per box and at least one box; got values {values.shape}, {len(boxes)} boxes")
    areas = np.array([float(box[2]) * float(box[3]) for box in boxes])
    if (areas <= 0).any():
        raise ValueError(f"every box needs a positive area, got areas {areas.tolist()}")
    return (areas @ values / areas.sum()).astype(np.float32)
