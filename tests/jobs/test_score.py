import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from jobs import score
from jobs.settings import Settings
from models.labels import LABELS

DAY = dt.date(2026, 1, 15)


def blank_png(path) -> str:
    image = Image.fromarray(np.full((96, 96, 3), 200, dtype=np.uint8))
    image.save(path)
    return f"file://{path}"


def posts_frame(tmp_path) -> pd.DataFrame:
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n-not-really")
    return pd.DataFrame(
        {
            "post_id": ["p1", "p2", "p3", "p4"],
            "user_id": ["u1", "u1", "u2", "u2"],
            "created_at": pd.to_datetime(["2026-01-15 10:00"] * 4),
            "text": ["I am so happy and grateful today, this is wonderful!", "This is disgusting and makes me furious", None, "   "],
            "image_path": [None, blank_png(tmp_path / "blank.png"), f"file://{tmp_path / 'corrupt.png'}", f"file://{tmp_path / 'gone.png'}"],
            "dt": ["2026-01-15"] * 4,
            "landing_dt": ["2026-01-15"] * 4,
        }
    )


def test_read_image_statuses(tmp_path):
    assert score.read_image(None) == (None, "no_image")
    assert score.read_image(str(tmp_path / "nope.png")) == (None, "unreadable")
    (tmp_path / "big.bin").write_bytes(b"0" * 2048)
    assert score.read_image(str(tmp_path / "big.bin"), max_bytes=1024) == (None, "too_large")
    content, status = score.read_image(f"file://{tmp_path / 'big.bin'}")
    assert status is None and len(content) == 2048


def test_score_batch_with_the_committed_models(tmp_path):
    options = score.scoring_options(Settings())
    result = score.score_batch(posts_frame(tmp_path), options)
    assert list(result.columns) == score.SCORES_COLUMNS
    assert result["post_id"].tolist() == ["p1", "p2", "p3", "p4"]
    first = np.asarray(result.loc[0, "text_probs"])
    assert first.shape == (len(LABELS),) and first.sum() == pytest.approx(1.0, abs=1e-4)
    assert result.loc[0, "fused_label"] == "joy"
    assert "joy" in result.loc[0, "text_labels"] and result.loc[3, "text_labels"] is None
    assert result.loc[1, "fused_label"] in {"anger", "disgust"}
    assert result.loc[0, "image_status"] == "no_image"
    assert result.loc[1, "face_count"] == 0 and result.loc[1, "image_probs"] is None  # no face: no guess
    assert result.loc[2, "image_status"] not in {"ok", "no_face", "no_image"}  # corrupt file has its own code
    assert result.loc[3, "image_status"] == "unreadable"
    assert result.loc[2, "fused_probs"] is None and result.loc[2, "fused_label"] is None  # nothing scorable
    assert result.loc[3, "text_status"] == "no_text"
    assert result["text_model_version"].nunique() == 1 and result["image_model_version"].nunique() == 1


def test_image_files_are_read_a_chunk_at_a_time_with_the_same_rows(tmp_path):
    from models.image.inference import load_image_scorer

    image_scorer = load_image_scorer(Settings().image_model, "cpu")
    paths = list(posts_frame(tmp_path)["image_path"]) * 3
    whole = score.score_image_files(image_scorer, paths, batch_size=len(paths))
    chunked = score.score_image_files(image_scorer, paths, batch_size=5)  # chunks of 5, 5, 2
    pd.testing.assert_frame_equal(chunked, whole)
    assert whole["image_status"].tolist()[:4] == ["no_image", "no_face", whole.loc[2, "image_status"], "unreadable"]
    assert len(score.score_image_files(image_scorer, [], batch_size=5)) == 0


@pytest.mark.spark
def test_spark_score_job_matches_the_in_process_path(spark, tmp_settings, tmp_path):
    frame = posts_frame(tmp_path)
    spark.createDataFrame(frame).write.partitionBy("dt", "landing_dt").parquet(str(tmp_settings.table_path("posts")))
    empty = score.run(spark, tmp_settings, DAY + dt.timedelta(days=1))  # no posts landed, no scores table yet
    assert (empty["posts"], empty["scored"], empty["fused"], empty["text_status"]) == (0, 0, 0, {})
    manifest = score.run(spark, tmp_settings, DAY)
    assert manifest["fused"] == 2 and manifest["with_face"] == 0
    assert manifest["text_status"] == {"no_text": 2, "ok": 2}
    assert manifest["posts"] == manifest["scored"] == 4
    written = pd.read_parquet(tmp_settings.table_path("scores")).sort_values("post_id").reset_index(drop=True)
    expected = score.score_batch(frame, score.scoring_options(tmp_settings))
    assert manifest["model_versions"] == {
        "text": written["text_model_version"].iloc[0], "image": written["image_model_version"].iloc[0]
    }
    assert written["post_id"].tolist() == expected["post_id"].tolist()
    assert written["fused_label"].tolist() == expected["fused_label"].tolist()
    assert [None if labels is None else list(labels) for labels in written["text_labels"]] == expected["text_labels"].tolist()
    np.testing.assert_allclose(np.stack(written.loc[:1, "fused_probs"]), np.stack(expected.loc[:1, "fused_probs"]), atol=1e-5)
    score.run(spark, tmp_settings, DAY)  # rerun replaces, never appends
    assert len(pd.read_parquet(tmp_settings.table_path("scores"))) == 4


@pytest.mark.spark
def test_a_night_in_one_input_partition_is_spread_over_every_core(spark):
    """Two input partitions, every row in one (a one-row-group file cut in byte ranges): the
    score job must not take the partition count at its word."""
    rows = spark.sparkContext.parallelize([0, 1], 2).flatMap(lambda part: [(f"post-{i}",) for i in range(2000)] if part == 0 else [])
    skewed = spark.createDataFrame(rows, "post_id string")
    assert skewed.rdd.glom().map(len).collect() == [2000, 0]
    sizes = score.spread(skewed, 2).rdd.glom().map(len).collect()
    assert len(sizes) == 2 and sum(sizes) == 2000 and min(sizes) >= 900, sizes
    assert score.spread(skewed, 1).rdd.glom().map(len).collect() == [2000]


def test_the_manifest_names_the_versions_the_rows_were_scored_with():
    checked = {"text": "text-v1+aa", "image": "image-v1+bb-read11"}  # the driver's CPU preflight
    gpu_rows = [{"text_model_version": "text-v1+aa", "image_model_version": "image-v1+bb-read22"}]
    assert score.written_versions(gpu_rows, checked) == {"text": "text-v1+aa", "image": "image-v1+bb-read22"}
    mixed = gpu_rows + [{"text_model_version": "text-v1+aa", "image_model_version": "image-v1+bb-read11"}]
    assert score.written_versions(mixed, checked)["image"] == "image-v1+bb-read11, image-v1+bb-read22"
    assert score.written_versions([], checked) == checked
