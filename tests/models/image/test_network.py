"""Shape contract of the face CNN and its input preparation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.image.network import FaceEmotionCNN, faces_to_input


@pytest.mark.parametrize("size", [40, 48])
def test_forward_shapes(size: int) -> None:
    network = FaceEmotionCNN(num_labels=7, base_width=8, feature_dim=32).eval()
    inputs = torch.zeros(3, 1, size, size)
    logits, features = network.forward_with_features(inputs)
    assert logits.shape == (3, 7) and features.shape == (3, 32)
    assert torch.allclose(network(inputs), logits)
    assert torch.allclose(network.features(inputs), features)


def test_invalid_arguments_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="num_labels"):
        FaceEmotionCNN(num_labels=1)
    with pytest.raises(ValueError, match="dropout"):
        FaceEmotionCNN(dropout=1.0)


def test_faces_to_input_crops_the_centre_and_standardises() -> None:
    faces = np.zeros((2, 48, 48), dtype=np.uint8)
    faces[:, 4:44, 4:44] = 255  # exactly the 40x40 centre
    inputs = faces_to_input(faces, crop_size=40, mean=0.5, std=0.25)
    assert inputs.shape == (2, 1, 40, 40) and inputs.dtype == np.float32
    assert np.allclose(inputs, (1.0 - 0.5) / 0.25)
    with pytest.raises(ValueError, match="crop_size"):
        faces_to_input(faces, crop_size=50, mean=0.5, std=0.25)


def test_faces_to_input_moves_the_crop_window_by_the_offset() -> None:
    faces = np.arange(48 * 48, dtype=np.float64).reshape(1, 48, 48) % 256
    faces = faces.astype(np.uint8)
    moved = faces_to_input(faces, crop_size=40, mean=0.0, std=1.0, offset=(-2, 3))
    assert np.allclose(moved[0, 0], faces[0, 2:42, 7:47] / 255.0)
    with pytest.raises(ValueError, match="outside"):
        faces_to_input(faces, crop_size=40, mean=0.0, std=1.0, offset=(0, 5))
