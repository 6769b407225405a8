"""BlazeFace (MediaPipe's "back camera" face detector) as a PyTorch module, with its box decoding.

A small single-shot detector (about 0.1 M parameters): a 5x5 stem, 32 residual blocks of a
3x3 depthwise and a 1x1 convolution, and two heads that score 2 anchors per cell of a
stride-16 grid and 6 per cell of a stride-32 grid, each with a box (centre offset, width,
height) and six key points, all in pixels of the network's input. The weights are the ones
MediaPipe published (Apache-2.0), converted once from the ``.tflite`` file by
``scripts/convert_blazeface.py`` into ``models/weights/face_detector``; see its model card.

The network is fully convolutional: any input whose sides are multiples of 32 works, and the
anchors follow the grid, so a photo is letterboxed into a fixed square only to batch photos
together. Photos here are grayscale, so the stem's three colour kernels are summed into one
(a convolution over three equal channels is one over their sum): same result, a third of
the stem's work.

Pure functions and modules: nothing here reads files or picks devices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional

# (input channels, output channels, stride) of the residual blocks, in order.
BLOCKS: tuple[tuple[int, int, int], ...] = (
    ((24, 24, 1),) * 7 + ((24, 24, 2),)
    + ((24, 24, 1),) * 7 + ((24, 48, 2),)
    + ((48, 48, 1),) * 7 + ((48, 96, 2),)
    + ((96, 96, 1),) * 7
)
ANCHORS_PER_CELL = (2, 6)  # stride-16 grid, stride-32 grid
GRID_STRIDES = (16, 32)
VALUES_PER_ANCHOR = 16  # box centre x, y, width, height, then six (x, y) key points
RAW_SCORE_LIMIT = 100.0  # MediaPipe clips logits to +-100 before the sigmoid


class _Block(nn.Module):
    """Depthwise 3x3 (stride 1 or 2) -> pointwise 1x1, plus the input (max-pooled when the
    block halves the grid, zero channels appended when it widens), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = out_channels - in_channels
        # TensorFlow's SAME padding: symmetric 1 at stride 1; 0 before / 1 after at stride 2
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride, padding=1 if stride == 1 else 0, groups=in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            hidden = self.depthwise(functional.pad(inputs, (0, 1, 0, 1)))
            skip = functional.max_pool2d(inputs, 2)
        else:
            hidden = self.depthwise(inputs)
            skip = inputs
        if self.extra_channels:
            skip = functional.pad(skip, (0, 0, 0, 0, 0, self.extra_channels))
        return functional.relu(self.pointwise(hidden) + skip)


class BlazeFaceBack(nn.Module):
    """BlazeFace's 256-pixel ("back camera") network on one-channel input in [-1, 1].

    ``forward`` takes (N, 1, H, W) with H and W multiples of 32 and returns
    (scores (N, A) logits, regressions (N, A, 16)) with A anchors ordered row by row of the
    stride-16 grid (2 per cell), then of the stride-32 grid (6 per cell), as MediaPipe's.

    ``blocks`` lists the residual blocks as (input channels, output channels, stride); the
    default is MediaPipe's 31. A distilled detector (``models.image.detector_distillation``)
    keeps a subset of them: same stem, heads, grids and outputs, less work at high resolution.
    """

    def __init__(self, blocks: Sequence[Sequence[int]] = BLOCKS) -> None:
        super().__init__()
        blocks = tuple(tuple(int(value) for value in block) for block in blocks)
        if not blocks or blocks[0][0] != 24 or blocks[-1][1] != 96 or sum(block[2] == 2 for block in blocks) != 3:
            raise ValueError("blocks must start at 24 channels, end at 96 and halve the grid three times (stride 16 at the end)")
        if any(next_block[0] != block[1] for block, next_block in zip(blocks, blocks[1:])):
            raise ValueError("each block's input channels must equal the previous block's output channels")
        self.block_layout = blocks
        self.stem = nn.Conv2d(1, 24, 5, stride=2)
        self.blocks = nn.Sequential(*(_Block(*block) for block in blocks))
        self.final_depthwise = nn.Conv2d(96, 96, 3, stride=2, groups=96)
        self.final_pointwise = nn.Conv2d(96, 96, 1)
        self.classifier_16 = nn.Conv2d(96, ANCHORS_PER_CELL[0], 1)
        self.regressor_16 = nn.Conv2d(96, ANCHORS_PER_CELL[0] * VALUES_PER_ANCHOR, 1)
        self.classifier_32 = nn.Conv2d(96, ANCHORS_PER_CELL[1], 1)
        self.regressor_32 = nn.Conv2d(96, ANCHORS_PER_CELL[1] * VALUES_PER_ANCHOR, 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = images.shape[0]
        hidden = functional.relu(self.stem(functional.pad(images, (1, 2, 1, 2))))  # SAME, stride 2
        grid_16 = self.blocks(hidden)
        grid_32 = functional.relu(self.final_pointwise(self.final_depthwise(functional.pad(grid_16, (0, 1, 0, 1)))))

        def flat(tensor: torch.Tensor, values: int) -> torch.Tensor:
            # NCHW -> (N, rows * columns * anchors, values): MediaPipe's NHWC anchor order
            return tensor.permute(0, 2, 3, 1).reshape(batch, -1, values)

        scores = torch.cat([flat(self.classifier_16(grid_16), 1), flat(self.classifier_32(grid_32), 1)], dim=1)[..., 0]
        regressions = torch.cat(
            [flat(self.regressor_16(grid_16), VALUES_PER_ANCHOR), flat(self.regressor_32(grid_32), VALUES_PER_ANCHOR)], dim=1
        )
        return scores, regressions


def anchor_centres(height: int, width: int) -> np.ndarray:
    """(A, 2) anchor centres (x, y) in input pixels for an input of ``height`` x ``width``,
    in the network's output order."""
    if height % 32 or width % 32 or height <= 0 or width <= 0:
        raise ValueError(f"input sides must be positive multiples of 32, got {height}x{width}")
    centres = []
    for stride, per_cell in zip(GRID_STRIDES, ANCHORS_PER_CELL):
        rows, columns = np.mgrid[0 : height // stride, 0 : width // stride].astype(np.float32)
        cells = np.stack([(columns.ravel() + 0.5) * stride, (rows.ravel() + 0.5) * stride], axis=1)
        centres.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(centres)


def decode_detections(
    scores: np.ndarray,
    regressions: np.ndarray,
    anchors: np.ndarray,
    min_score: float = 0.5,
    overlap_threshold: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of one image from the network's raw outputs, as MediaPipe decodes them.

    Anchors scoring at least ``min_score`` (after the sigmoid) are grouped greedily, best
    first, with every remaining one overlapping it by more than ``overlap_threshold`` (IoU);
    each group becomes the score-weighted mean of its boxes (MediaPipe's weighted
    non-maximum suppression, steadier than keeping the single best box).

    Args:
        scores: (A,) logits; regressions: (A, 16); anchors: (A, 2) from :func:`anchor_centres`.

    Returns:
        (boxes (K, 4) as x0, y0, x1, y1 in input pixels, scores (K,)), best first.
    """
    probabilities = 1.0 / (1.0 + np.exp(-np.clip(scores.astype(np.float64), -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
    keep = np.flatnonzero(probabilities >= min_score)
    if keep.size == 0:
        return np.zeros((0, 4), dtype=np.float32), np.zeros(0, dtype=np.float32)
    centre = anchors[keep] + regressions[keep, 0:2]
    half = np.abs(regressions[keep, 2:4]) / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1).astype(np.float64)
    probabilities = probabilities[keep]
    order = np.argsort(-probabilities, kind="stable")
    boxes, probabilities = boxes[order], probabilities[order]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    remaining = np.ones(len(boxes), dtype=bool)
    merged, merged_scores = [], []
    for index in range(len(boxes)):
        if not remaining[index]:
            continue
        top_left = np.maximum(boxes[index, :2], boxes[:, :2])
        bottom_right = np.minimum(boxes[index, 2:], boxes[:, 2:])
        intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        union = areas[index] + areas - intersection
        overlap = np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)
        group = remaining & ((overlap > overlap_threshold) | (np.arange(len(boxes)) == index))
        weights = probabilities[group]
        merged.append(weights @ boxes[group] / weights.sum())
        merged_scores.append(probabilities[index])
        remaining &= ~group
    return np.asarray(merged, dtype=np.float32), np.asarray(merged_scores, dtype=np.float32)


RESIZE_METHODS = ("area", "pyramid")


def network_input(gray: np.ndarray, short_side: int, max_long_side: int, resize: str = "area") -> tuple[np.ndarray, float]:
    """(the network's uint8 input, scale from photo to input pixels) for one (H, W) uint8 photo:
    resized so its short side is ``short_side`` (long side at most ``max_long_side``), padded
    with black to multiples of 32 at the right and bottom.

    ``resize`` ``area`` averages pixel areas (OpenCV's INTER_AREA: exact, but about 1 ms for a
    photo decoded at 400-800 px); ``pyramid`` halves with a Gaussian (``pyrDown``) while the
    photo is at least twice the target, then interpolates bilinearly: anti-aliased the same
    way, about 0.2 ms. A detector must run on the reading it was trained (or distilled) on.
    """
    import cv2

    if gray.ndim != 2 or gray.dtype != np.uint8 or min(gray.shape) < 1:
        raise ValueError(f"gray must be a non-empty (H, W) uint8 array, got {gray.shape} {gray.dtype}")
    if resize not in RESIZE_METHODS:
        raise ValueError(f"resize must be one of {RESIZE_METHODS}, got {resize!r}")
    height, width = gray.shape
    scale = min(short_side / min(height, width), max_long_side / max(height, width))
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    if scale >= 1:
        small = cv2.resize(gray, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    elif resize == "area":
        small = cv2.resize(gray, (new_width, new_height), interpolation=cv2.INTER_AREA)
    else:
        small = gray
        while small.shape[0] >= 2 * new_height and small.shape[1] >= 2 * new_width:
            small = cv2.pyrDown(small)
        small = cv2.resize(small, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((-(-new_height // 32) * 32, -(-new_width // 32) * 32), dtype=np.uint8)
    canvas[:new_height, :new_width] = small
    return canvas, scale


class BlazeFaceDetector:
    """Face boxes in grayscale photos from :class:`BlazeFaceBack`.

    Each photo is resized (area averaging) so its short side is ``short_side`` pixels (its
    long side at most ``max_long_side``, shrinking further for panoramas) and padded with
    black up to multiples of 32; the network is fully convolutional and its anchors follow the
    grid, so no letterboxing into a square is needed: faces keep the same size in the network's
    input whatever the photo's shape, and no time is spent on padding. Boxes are mapped back
    to the photo's pixels. Photos go through the network one at a time: on a CPU core a batch
    of one is fastest (the activations stay in cache); on a GPU, :meth:`detect_many` batches
    photos whose inputs share a shape (few shapes: the short side is fixed).

    With ``onnx_session`` (an ONNX Runtime session of the same network, input ``images``,
    outputs ``scores`` and ``regressions``) the network runs there instead of in PyTorch: about
    twice as fast on a CPU core. The PyTorch module stays the reference and the GPU path.

    Args:
        network: a :class:`BlazeFaceBack` with its weights, in eval mode.
        short_side: the photo's short side in the network's input.
        max_long_side: cap on the long side in the network's input.
        min_score: smallest face probability kept (MediaPipe's default 0.5).
        overlap_threshold: IoU above which boxes are merged into one face.
        box_scale: each box's side is multiplied by this around its centre, and
        box_shift: its centre moved down by this share of its side: BlazeFace boxes the
            inner face, FER's tiles show forehead to chin, so crops cut from the scaled box
            frame a face as the emotion network was trained on.
        onnx_session: optional ``onnxruntime.InferenceSession`` running the same weights.
        batch_size: photos of one input shape per network pass in :meth:`detect_many`.
        resize: how photos are shrunk to the network's input (:func:`network_input`).
    """

    def __init__(
        self,
        network: BlazeFaceBack,
        short_side: int = 224,
        max_long_side: int = 448,
        min_score: float = 0.5,
        overlap_threshold: float = 0.3,
        box_scale: float = 1.0,
        box_shift: float = 0.0,
        onnx_session=None,
        batch_size: int = 1,
        resize: str = "area",
    ) -> None:
        if short_side < 32 or max_long_side < short_side:
            raise ValueError(f"need 32 <= short_side <= max_long_side, got {short_side}, {max_long_side}")
        if not 0.0 < min_score < 1.0 or not 0.0 < overlap_threshold < 1.0:
            raise ValueError(f"min_score and overlap_threshold must lie in (0, 1), got {min_score}, {overlap_threshold}")
        if box_scale <= 0 or batch_size < 1:
            raise ValueError(f"box_scale must be > 0 and batch_size >= 1, got {box_scale}, {batch_size}")
        self.network = network
        self.short_side = short_side
        self.max_long_side = max_long_side
        self.min_score = min_score
        self.overlap_threshold = overlap_threshold
        self.box_scale = box_scale
        self.box_shift = box_shift
        self.onnx_session = onnx_session
        self.batch_size = batch_size
        if resize not in RESIZE_METHODS:
            raise ValueError(f"resize must be one of {RESIZE_METHODS}, got {resize!r}")
        self.resize = resize
        self._anchors: dict[tuple[int, ...], np.ndarray] = {}

    def detect(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Face boxes (x, y, width, height) in ``gray`` ((H, W) uint8), best first."""
        return self.detect_many([gray])[0]

    def detect_many(self, grays: Sequence[np.ndarray]) -> list[list[tuple[int, int, int, int]]]:
        """:meth:`detect` for each photo; photos whose inputs have the same shape go through the
        network ``batch_size`` at a time (a GPU wants large passes; a CPU core one photo)."""
        prepared = [self._prepare(gray) for gray in grays]
        outputs: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(prepared)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for index, (canvas, _) in enumerate(prepared):
            by_shape.setdefault(canvas.shape, []).append(index)
        for shape, indices in by_shape.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                scores, regressions = self.run_network(np.stack([prepared[index][0] for index in chunk]))
                for position, index in enumerate(chunk):
                    outputs[index] = (scores[position], regressions[position])
        results = []
        for (canvas, (scale, width, height)), (scores, regressions) in zip(prepared, outputs):
            if canvas.shape not in self._anchors:
                self._anchors[canvas.shape] = anchor_centres(*canvas.shape)
            boxes, _ = decode_detections(scores, regressions, self._anchors[canvas.shape], self.min_score, self.overlap_threshold)
            results.append(self._photo_boxes(boxes, scale, width, height))
        return results

    def _prepare(self, gray: np.ndarray) -> tuple[np.ndarray, tuple[float, int, int]]:
        """(the network's uint8 input, (scale, photo width, photo height)) for one photo."""
        canvas, scale = network_input(gray, self.short_side, self.max_long_side, self.resize)
        return canvas, (scale, gray.shape[1], gray.shape[0])

    def run_network(self, canvases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores (N, A), regressions (N, A, 16)) of the network on (N, H, W) uint8 inputs.

        The raw anchors before decoding and suppression: what `emodrift train face-detector`
        distils a smaller detector from.
        """
        if self.onnx_session is not None:
            inputs = (canvases.astype(np.float32) / np.float32(127.5) - np.float32(1.0))[:, None]
            scores, regressions = self.onnx_session.run(["scores", "regressions"], {"images": inputs})
            return scores, regressions
        device = next(self.network.parameters()).device
        inputs = torch.from_numpy(canvases).to(device=device, dtype=torch.float32)[:, None] / 127.5 - 1.0
        with torch.inference_mode():
            scores, regressions = self.network(inputs.contiguous(memory_format=torch.channels_last))
        return scores.float().cpu().numpy(), regressions.float().cpu().numpy()

    def _photo_boxes(self, boxes: np.ndarray, scale: float, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """Network boxes (x0, y0, x1, y1) -> square, framed, clipped (x, y, w, h) in the photo."""
        found = []
        for x0, y0, x1, y1 in boxes:
            side = max(x1 - x0, y1 - y0) * self.box_scale / scale
            centre_x, centre_y = (x0 + x1) / 2 / scale, (y0 + y1) / 2 / scale + self.box_shift * side
            x, y = int(round(centre_x - side / 2)), int(round(centre_y - side / 2))
            x0_clipped, y0_clipped = max(0, x), max(0, y)
            x1_clipped, y1_clipped = min(width, x + int(round(side))), min(height, y + int(round(side)))
            if x1_clipped > x0_clipped and y1_clipped > y0_clipped:
                found.append((x0_clipped, y0_clipped, x1_clipped - x0_clipped, y1_clipped - y0_clipped))
        return found
