"""The shipped weights keep their versions whatever folder the code lives in.

A model version is a digest over tensor contents (``models/checkpoints.py``), not over file
paths or safetensors headers, so moving modules or re-saving weights must not change it. The
expected strings are the versions recorded in the model cards and in ``scores`` rows written
before the layout move.
"""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_shipped_text_model_version_is_unchanged() -> None:
    from models.text import load_text_scorer

    assert load_text_scorer(REPO_ROOT / "models" / "weights" / "text", device="cpu").version == "text-bilstm-v1+dbac3ca5-thresholded"


@pytest.mark.slow
def test_shipped_image_model_version_is_unchanged() -> None:
    from models.image import load_image_scorer

    scorer = load_image_scorer(REPO_ROOT / "models" / "weights" / "image", device="cpu")
    assert scorer.version == "image-cnn-v1+608f5cdd-shift2d2-x3-read698a65"
