"""'Try a post' runs the pipeline's own models and fuses exactly like the score stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from jobs.dashboard.app import DashboardConfig
from jobs.dashboard.scoring import score_post
from jobs.score import ScoringOptions, score_batch
from jobs.settings import Settings


def config(tmp_path: Path) -> DashboardConfig:
    return DashboardConfig(lake=tmp_path, landing=tmp_path, salt="s", text_model=Settings.text_model, image_model=Settings.image_model)


def test_a_text_and_a_faceless_photo_score_like_the_score_stage(tmp_path):
    text = "I am so happy today, what a wonderful surprise party"
    image_path = tmp_path / "photo.png"
    Image.fromarray(np.full((64, 64, 3), 200, dtype=np.uint8)).save(image_path)
    result = score_post(text, image_path.read_bytes(), config(tmp_path))
    stage = score_batch(
        pd.DataFrame({"post_id": ["p"], "user_id": ["u"], "created_at": [pd.Timestamp("2026-01-01", tz="UTC")], "text": [text],
                      "image_path": [str(image_path)], "dt": ["2026-01-01"], "landing_dt": ["2026-01-01"]}),
        ScoringOptions(text_model=str(Settings.text_model), image_model=str(Settings.image_model), device="cpu"),
    ).iloc[0]
    assert result["text_status"] == "ok" and result["image_status"] == stage["image_status"] == "no_face"
    np.testing.assert_allclose(result["fused_probs"], stage["fused_probs"], atol=1e-6)
    assert result["fused_label"] == stage["fused_label"]
    assert result["text_top_tokens"] == list(stage["text_top_tokens"])
    assert abs(sum(result["text_probs"]) - 1.0) < 1e-5


def test_nothing_to_score_says_so(tmp_path):
    result = score_post("   ", b"not an image", config(tmp_path))
    assert result["fused_probs"] is None and result["fused_label"] is None
    assert result["text_status"] == "no_text" and result["image_status"] not in {"ok", "no_image"}
