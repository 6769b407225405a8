"""The face emotion classifier: a compact VGG-style CNN over 48x48 grayscale face crops.

The network only maps tensors to tensors. Checkpoints are read and written by
``models.image.inference.load_image_network`` / ``save_image_network``; training lives in
``models.image.training``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

FACE_SIZE = 48


class ConvStage(nn.Sequential):
    """``convolutions`` x (3x3 conv, BatchNorm, ReLU) followed by a 2x2 max-pool.

    Shapes: (N, in_channels, H, W) -> (N, out_channels, H // 2, W // 2).
    """

    def __init__(self, in_channels: int, out_channels: int, convolutions: int) -> None:
        layers: list[nn.Module] = []
        for index in range(convolutions):
            layers += [
                nn.Conv2d(in_channels if index == 0 else out_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.MaxPool2d(2))
        super().__init__(*layers)


class FaceEmotionCNN(nn.Module):
    """Four conv stages (widths ``base_width`` x 1, 2, 4, 8), global average pool, linear head.

    The net is fully convolutional up to the pool, so it accepts any input size >= 16; it is
    trained on 40x40 crops of the 48x48 faces. The penultimate vector (after the global pool
    and a ReLU'd projection) is what the pipeline stores as ``image_features``.

    Args:
        num_labels: number of output classes (7 for ``models.labels.LABELS``).
        base_width: channels of the first stage; later stages double it.
        first_stage_convolutions: convolutions at full resolution (the most expensive ones).
        later_stage_convolutions: convolutions in each of the three later stages.
        feature_dim: size of the penultimate feature vector.
        dropout: dropout probability before the classifier layer.
    """

    def __init__(
        self,
        num_labels: int = 7,
        base_width: int = 16,
        first_stage_convolutions: int = 1,
        later_stage_convolutions: int = 2,
        feature_dim: int = 256,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, got {num_labels}")
        if base_width < 1 or feature_dim < 1:
            raise ValueError(f"base_width and feature_dim must be >= 1, got {base_width}, {feature_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        widths = [base_width, base_width * 2, base_width * 4, base_width * 8]
        convolutions = [first_stage_convolutions] + [later_stage_convolutions] * 3
        stages: list[nn.Module] = []
        in_channels = 1
        for width, count in zip(widths, convolutions):
            stages.append(ConvStage(in_channels, width, count))
            in_channels = width
        self.body = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.projection = nn.Sequential(
            nn.Linear(in_channels, feature_dim, bias=False), nn.BatchNorm1d(feature_dim), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(feature_dim, num_labels)

    def features(self, faces: torch.Tensor) -> torch.Tensor:
        """Penultimate features. Shapes: (N, 1, H, W) normalised floats -> (N, feature_dim)."""
        pooled = self.pool(self.body(faces)).flatten(1)
        return self.projection(pooled)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        """Class logits. Shapes: (N, 1, H, W) normalised floats -> (N, num_labels)."""
        return self.classifier(self.dropout(self.features(faces)))

    def forward_with_features(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and features in one pass: (N, 1, H, W) -> ((N, num_labels), (N, feature_dim))."""
        features = self.features(faces)
        return self.classifier(self.dropout(features)), features


def faces_to_input(
    faces: np.ndarray, *, crop_size: int, mean: float, std: float, offset: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Turn uint8 face crops into the network's input: crop, scale, standardise.

    Args:
        faces: (N, 48, 48) uint8 grayscale faces (histogram-equalised by the detector).
        crop_size: side of the centre crop the network was trained on (<= 48).
        mean: mean of the training pixels in [0, 1].
        std: standard deviation of the training pixels in [0, 1].
        offset: (down, right) pixels the crop window moves from the centre (test-time views).

    Returns:
        (N, 1, crop_size, crop_size) float32 array.
    """
    if faces.ndim != 3:
        raise ValueError(f"faces must have shape (N, H, W), got {faces.shape}")
    height, width = faces.shape[1:]
    if crop_size > min(height, width):
        raise ValueError(f"crop_size {crop_size} is larger than the faces ({height}x{width})")
    top = (height - crop_size) // 2 + offset[0]
    left = (width - crop_size) // 2 + offset[1]
    if not (0 <= top <= height - crop_size and 0 <= left <= width - crop_size):
        raise ValueError(f"offset {offset} moves the {crop_size}-pixel crop outside the {height}x{width} faces")
    cropped = faces[:, top : top + crop_size, left : left + crop_size].astype(np.float32) / 255.0
    return ((cropped - mean) / std)[:, None, :, :]
