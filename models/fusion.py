"""Fusing the text and the face distributions into one emotion distribution per post."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.labels import LABELS

_FLOOR = 1e-6


def fuse(
    text_probs: Sequence[float] | None,
    image_probs: Sequence[float] | None,
    *,
    text_weight: float = 0.5,
) -> np.ndarray | None:
    """Combine two distributions over :data:`LABELS` by a weighted product of experts.

    ``p ∝ p_text ** (2 * w) * p_image ** (2 * (1 - w))``: at the default ``w = 0.5`` this is the
    plain product. Unlike an average, two modalities that agree sharpen the result and a
    confident modality outweighs a flat one; the result stays a proper distribution. A
    missing modality drops out and the other is returned as it is.

    Args:
        text_probs: 7 probabilities or None.
        image_probs: 7 probabilities or None.
        text_weight: weight of the text in [0, 1]; the image gets ``1 - text_weight``.

    Returns:
        The fused distribution, shape (7,), or None when both inputs are missing.
    """
    if not 0.0 <= text_weight <= 1.0:
        raise ValueError(f"text_weight must be in [0, 1], got {text_weight}")
    parts: list[tuple[float, np.ndarray]] = []
    for weight, probs in ((text_weight, text_probs), (1.0 - text_weight, image_probs)):
        if probs is None:
            continue
        array = np.asarray(probs, dtype=np.float64)
        if array.shape != (len(LABELS),):
            raise ValueError(f"expected {len(LABELS)} probabilities, got shape {array.shape}")
        parts.append((weight, array))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0][1] / parts[0][1].sum()
    log_pool = sum(2.0 * weight * np.log(np.clip(array, _FLOOR, None)) for weight, array in parts)
    pooled = np.exp(log_pool - log_pool.max())
    return pooled / pooled.sum()


def top_label(probs: Sequence[float] | None) -> str | None:
    """The most probable label, or None for a missing distribution."""
    return None if probs is None else LABELS[int(np.argmax(probs))]
