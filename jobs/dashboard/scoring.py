"""Scoring one post by hand for "try a post", with the very scorers the score stage loads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobs.dashboard.app import DashboardConfig


def score_post(text: str | None, image: bytes | None, config: DashboardConfig) -> dict[str, Any]:
    """Text and face probabilities, top tokens, face boxes and the fused result of one post.

    The scorers are loaded once per process (the models' own caches) and fused exactly as
    :func:`jobs.score.score_batch` does.
    """
    from models.fusion import fuse, top_label
    from models.image.inference import load_image_scorer
    from models.text.inference import load_text_scorer

    text_row = load_text_scorer(config.text_model, config.device).score([text]).iloc[0]
    image_row = load_image_scorer(config.image_model, config.device).score_bytes([image]).iloc[0]
    fused = fuse(text_row["text_probs"], image_row["image_probs"], text_weight=config.text_weight)
    return {
        "text_probs": text_row["text_probs"], "text_status": text_row["text_status"],
        "text_top_tokens": list(text_row["text_top_tokens"]), "image_probs": image_row["image_probs"],
        "image_status": image_row["image_status"], "face_count": int(image_row["face_count"]),
        "face_boxes": [list(map(int, box)) for box in image_row["face_boxes"]],
        "fused_probs": None if fused is None else [float(value) for value in fused], "fused_label": top_label(fused),
    }
