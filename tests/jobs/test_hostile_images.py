"""No image file can fail a scoring batch: every hostile file ends as an ``image_status``."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from jobs import score
from jobs.settings import Settings
from models.image.inference import ImageScorer

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "weights" / "image"
KNOWN_STATUSES = {
    "ok", "no_face", "no_image", "empty_file", "truncated", "corrupt", "not_an_image", "too_large",
    "unsupported_mode", "unreadable",
}


def encoded(image_format: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").convert(mode).save(buffer, image_format)
    return buffer.getvalue()


SEEDS = [encoded("PNG"), encoded("JPEG"), encoded("GIF", mode="P"), encoded("BMP"), encoded("TIFF"), encoded("WEBP")]


@st.composite
def damaged_images(draw) -> bytes:
    """A real image cut short, with bytes flipped, or with junk spliced in."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=32))


@pytest.fixture(scope="module")
def image_scorer() -> ImageScorer:
    if not (MODEL_DIR / "model.safetensors").is_file():
        pytest.skip(f"no trained image model in {MODEL_DIR}")
    return ImageScorer.load(MODEL_DIR, device="cpu")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(images=st.lists(st.one_of(st.none(), st.binary(max_size=300), damaged_images()), min_size=1, max_size=6))
def test_any_bytes_score_to_a_status_never_an_exception(image_scorer, images):
    result = image_scorer.score_bytes(images, batch_size=4)
    assert len(result) == len(images)
    assert set(result["image_status"]) <= KNOWN_STATUSES
    unscored = result["image_status"] != "ok"
    assert result.loc[unscored, "image_probs"].isna().all()


def test_hostile_files_each_get_a_status_in_one_batch(tmp_path):
    """Files on disk as the score job reads them: none fails the batch, each says why."""
    files = {
        "zero.png": b"",
        "truncated.png": encoded("PNG")[:60],
        "corrupt.jpg": encoded("JPEG")[:20] + b"\x00" * 200,
        "page.jpg": b"<html><body>404 not found</body></html>",
        "bomb.png": encoded("PNG", size=(1, 1))[:16] + (60_000).to_bytes(4, "big") + (60_000).to_bytes(4, "big"),
        "tiny.png": encoded("PNG", size=(1, 1)),
        "strip.png": encoded("PNG", size=(4000, 1)),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with open(tmp_path / "huge.png", "wb") as handle:  # sparse: larger than the cap, no disk used
        handle.truncate(score.MAX_IMAGE_BYTES + 1)
    os.mkfifo(tmp_path / "fifo.png")  # reading it would block the task forever
    (tmp_path / "folder.png").mkdir()
    names = [*files, "huge.png", "fifo.png", "folder.png", "gone.png"]
    posts = pd.DataFrame(
        {
            "post_id": [f"p{index}" for index in range(len(names))],
            "user_id": "u1",
            "created_at": pd.Timestamp("2026-01-15 10:00"),
            "text": None,
            "image_path": [f"file://{tmp_path / name}" for name in names],
            "dt": "2026-01-15",
            "landing_dt": "2026-01-15",
        }
    )

    result = score.score_batch(posts, score.scoring_options(Settings()))

    statuses = dict(zip(names, result["image_status"]))
    assert statuses["zero.png"] == "empty_file"
    assert statuses["truncated.png"] in {"truncated", "corrupt"}
    assert statuses["corrupt.jpg"] in {"truncated", "corrupt"}
    assert statuses["page.jpg"] == "not_an_image"
    assert statuses["bomb.png"] in {"too_large", "corrupt", "truncated"}
    assert statuses["tiny.png"] == statuses["strip.png"] == "no_face"
    assert statuses["huge.png"] == "too_large"
    assert statuses["fifo.png"] == statuses["folder.png"] == statuses["gone.png"] == "unreadable"
    assert result["fused_probs"].isna().all()  # no text, no face: nothing is guessed
