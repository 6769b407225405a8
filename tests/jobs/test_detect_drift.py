"""The drift job end to end on a tiny hand-built scores table in a temporary lake."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from jobs.detect_drift import run, window

pytestmark = pytest.mark.spark

JOY = [0.02, 0.02, 0.02, 0.8, 0.06, 0.04, 0.04]
JOY_ALT = [0.04, 0.02, 0.04, 0.7, 0.08, 0.06, 0.06]
SAD = [0.02, 0.02, 0.04, 0.06, 0.8, 0.02, 0.04]
SAD_ALT = [0.06, 0.02, 0.06, 0.04, 0.7, 0.04, 0.08]
NEUTRAL = [0.05, 0.05, 0.05, 0.1, 0.1, 0.05, 0.6]
NEUTRAL_ALT = [0.1, 0.05, 0.05, 0.05, 0.15, 0.05, 0.55]
START = dt.date(2026, 1, 1)
RUN_DATE = dt.date(2026, 1, 20)


def hand_built_scores() -> pd.DataFrame:
    """Three users over 20 days; 'changer' switches from joy to sadness on 2026-01-11.

    'changer' posts twice on odd days (JOY and JOY_ALT, then SAD and SAD_ALT), once on even
    days; 'steady' posts NEUTRAL / NEUTRAL_ALT alternately and skips days 5 and 6; 'once'
    posts a single time, and one row of 'steady' has no fused distribution.
    """
    rows = []
    for offset in range(20):
        day = START + dt.timedelta(days=offset)
        before = offset < 10
        first, second = (JOY, JOY_ALT) if before else (SAD, SAD_ALT)
        rows.append(("changer", day, 9, first))
        if offset % 2 == 0:  # days 1, 3, 5, ... of the month
            rows.append(("changer", day, 18, second))
        if offset not in (4, 5):
            rows.append(("steady", day, 12, NEUTRAL if offset % 2 else NEUTRAL_ALT))
    rows.append(("steady", START, 13, None))
    rows.append(("once", START + dt.timedelta(days=3), 8, JOY))
    rows.append(("changer", dt.date(2025, 12, 1), 8, SAD))  # outside the 30-day window
    return pd.DataFrame(
        {
            "post_id": [f"p{index}" for index in range(len(rows))],
            "user_id": [row[0] for row in rows],
            "created_at": [pd.Timestamp(row[1], tz="UTC") + pd.Timedelta(hours=row[2]) for row in rows],
            "fused_probs": [row[3] for row in rows],
            "dt": [row[1].isoformat() for row in rows],
            "landing_dt": [row[1].isoformat() for row in rows],
        }
    )


@pytest.fixture()
def lake_settings(spark, tmp_settings):
    import dataclasses

    settings = dataclasses.replace(tmp_settings, drift_lookback_days=30)
    frame = spark.createDataFrame(
        hand_built_scores(),
        "post_id string, user_id string, created_at timestamp, fused_probs array<float>, dt string, landing_dt string",
    )
    frame.write.partitionBy("dt", "landing_dt").parquet(str(settings.table_path("scores")))
    return settings


def read(spark, settings, table: str) -> pd.DataFrame:
    frame = spark.read.parquet(str(settings.table_path(table))).toPandas()
    return frame.sort_values(list(frame.columns[:2]), ignore_index=True)


def test_window_bounds() -> None:
    assert window(dt.date(2026, 1, 20), 30) == ("2025-12-22", "2026-01-20")


def test_run_writes_sequences_and_transitions(spark, lake_settings) -> None:
    counts = run(spark, lake_settings, RUN_DATE)
    # changer 20 days, steady 18 days (two skipped), once 1 day; the December post is outside.
    # First run on this lake: every landing day of the window gets its aggregates.
    assert counts == {"users": 3, "sequence_rows": 39, "transitions": 1, "aggregated_landings": 20, "warm_started": 0}

    sequences = read(spark, lake_settings, "sequences")
    assert set(sequences["dt"].astype(str)) == {"2026-01-20"}
    changer = sequences[sequences.user_id == "changer"].reset_index(drop=True)
    assert changer.day.tolist()[:2] == ["2026-01-01", "2026-01-02"]
    assert changer.post_count.tolist()[:2] == [2, 1]
    # Day 1: mean of JOY and JOY_ALT, by hand.
    assert list(changer.probs[0]) == pytest.approx([0.03, 0.02, 0.03, 0.75, 0.07, 0.05, 0.05], abs=1e-6)
    assert changer.dominant_label.tolist() == ["joy"] * 10 + ["sadness"] * 10
    assert pd.isna(changer.surprise[0]) and (changer.surprise[1:] >= 0).all()
    # The forecast of each day (from the days before it): null on the first, 7 shares after,
    # and the surprise is the KL divergence of the day from it.
    assert changer.forecast[0] is None and all(len(row) == 7 for row in changer.forecast[1:])
    forecast, observed = np.asarray(changer.forecast[5], dtype=float), np.asarray(changer.probs[5], dtype=float)
    assert forecast.sum() == pytest.approx(1.0, abs=1e-5)
    assert changer.surprise[5] == pytest.approx(float(np.sum(observed * np.log(observed / forecast))), abs=1e-4)
    # (Where surprise peaks is tested on a real cohort in tests/models: fitted on two users,
    # the LSTM learns the changer's own switch.)
    steady = sequences[sequences.user_id == "steady"]
    assert "2026-01-05" not in steady.day.tolist() and steady.post_count.iloc[0] == 1

    transitions = read(spark, lake_settings, "transitions")
    assert len(transitions) == 1
    record = transitions.iloc[0]
    assert (record.user_id, record.changed_at, record.from_label, record.to_label) == (
        "changer", "2026-01-11", "joy", "sadness"
    )
    assert (record.posts_before, record.posts_after) == (15, 15)
    assert 0.5 < record.magnitude <= 1.0 and 0.95 <= record.confidence <= 1.0
    assert record.detector == "permutation_segmentation" and record.model_version.startswith("temporal-lstm")
    assert str(record["dt"]) == "2026-01-20"
    assert list(record.mean_before) == pytest.approx([(2 * a + b) / 3 for a, b in zip(JOY, JOY_ALT)], abs=0.01)
    assert int(np.argmax(record.mean_after)) == 4  # sadness
    scores = hand_built_scores().set_index("post_id")
    for side, label, before in (("evidence_before", 3, True), ("evidence_after", 4, False)):
        posts = scores.loc[list(record[side])]
        assert len(posts) == 3 and (posts.user_id == "changer").all()
        assert ((posts.dt < "2026-01-11") == before).all()
        assert all(probs[label] == 0.8 for probs in posts.fused_probs)  # the clearest posts of each side
    assert len(record.transition_id) == 16 and record.first_flagged_dt == "2026-01-20"


def test_the_lstms_surprise_enters_the_confidence_when_asked(spark, lake_settings) -> None:
    """``use_surprise``: the transitions pass runs the night's fitted LSTM and combines (Fisher)
    the rank p-value of the surprise on the change's first day, the one the sequences table
    stores, with the split's own p-value; without it the confidence is the split's alone."""
    from drift.transitions import TransitionOptions, combine_p_values, surprise_p_value
    from jobs.detect_drift import DriftOptions

    run(spark, lake_settings, RUN_DATE, DriftOptions())
    plain = read(spark, lake_settings, "transitions").iloc[0]
    counts = run(spark, lake_settings, RUN_DATE, DriftOptions(transitions=TransitionOptions(use_surprise=True)))
    assert counts["transitions"] == 1
    with_surprise = read(spark, lake_settings, "transitions").iloc[0]
    assert (with_surprise.user_id, with_surprise.changed_at, with_surprise.to_label) == ("changer", "2026-01-11", "sadness")
    sequences = read(spark, lake_settings, "sequences")
    changer = sequences[sequences.user_id == "changer"].reset_index(drop=True)
    surprise = changer.surprise.to_numpy(dtype=float)
    p_surprise = surprise_p_value(surprise, changer.day.tolist().index("2026-01-11"))
    assert p_surprise is not None
    expected = 1.0 - combine_p_values([1.0 - plain.confidence, p_surprise])
    assert with_surprise.confidence == pytest.approx(expected, abs=1e-4)
    assert with_surprise.confidence != plain.confidence


def test_rerun_is_identical_and_empty_window_writes_zero(spark, lake_settings, monkeypatch) -> None:
    from pyspark.testing import assertDataFrameEqual

    run(spark, lake_settings, RUN_DATE)
    first = {table: spark.read.parquet(str(lake_settings.table_path(table))).collect() for table in ("sequences", "transitions")}
    # The rerun puts every user in a group of their own (the first run: all three in one
    # bucket): how users are grouped must not change a row.
    monkeypatch.setattr("jobs.detect_drift.USERS_PER_GROUP", 1)
    run(spark, lake_settings, RUN_DATE)
    for table, rows in first.items():
        assertDataFrameEqual(spark.read.parquet(str(lake_settings.table_path(table))), rows)

    # Ten years later nothing is in the window: zero counts, and the partition is empty.
    later = dt.date(2036, 1, 1)
    assert run(spark, lake_settings, later) == {
        "users": 0, "sequence_rows": 0, "transitions": 0, "aggregated_landings": 1, "warm_started": 0,
    }
    assert (lake_settings.table_path("sequences") / "dt=2036-01-01").is_dir()
    reread = spark.read.parquet(str(lake_settings.table_path("sequences")))
    assert reread.where("dt = '2036-01-01'").count() == 0
    assert reread.where("dt = '2026-01-20'").count() == 39


def test_nightly_runs_are_incremental_and_keep_a_changes_id(spark, lake_settings) -> None:
    night1, night2 = RUN_DATE - dt.timedelta(days=1), RUN_DATE
    counts = run(spark, lake_settings, night1)
    assert counts["aggregated_landings"] == 19 and counts["warm_started"] == 0  # 2026-01-01..19 in the window
    night1_sequences = spark.read.parquet(str(lake_settings.table_path("sequences"))).collect()
    aggregates = spark.read.parquet(str(lake_settings.table_path("daily_user_landing_aggregates")))
    assert aggregates.where("dt = '2026-01-02' and user_id = 'changer'").first().post_count == 1

    # Night 2's landing day brings 400 posts of one user-day and a late post for yesterday:
    # only that landing day is aggregated, one row per user, day and landing day.
    busy = [("busy", dt.datetime(2026, 1, 20, 10) + dt.timedelta(seconds=index), JOY, "2026-01-20") for index in range(400)]
    late = [("steady", dt.datetime(2026, 1, 19, 23), NEUTRAL, "2026-01-19")]
    extra = pd.DataFrame(
        {
            "post_id": [f"extra-{index}" for index in range(len(busy) + 1)],
            "user_id": [row[0] for row in busy + late],
            "created_at": [pd.Timestamp(row[1], tz="UTC") for row in busy + late],
            "fused_probs": [row[2] for row in busy + late],
            "dt": [row[3] for row in busy + late],
            "landing_dt": "2026-01-20",
        }
    )
    spark.createDataFrame(
        extra, "post_id string, user_id string, created_at timestamp, fused_probs array<float>, dt string, landing_dt string"
    ).write.mode("append").partitionBy("dt", "landing_dt").parquet(str(lake_settings.table_path("scores")))
    counts = run(spark, lake_settings, night2)
    # Night 2's LSTM fit starts from night 1's checkpoint in the lake, and leaves its own.
    assert counts["aggregated_landings"] == 1 and counts["warm_started"] == 1
    checkpoints = lake_settings.table_path("temporal_checkpoints")
    assert sorted(path.parent.name for path in checkpoints.glob("dt=*/*.safetensors")) == [
        f"dt={night1.isoformat()}", f"dt={night2.isoformat()}",
    ]
    assert not list(checkpoints.glob("dt=*/.*"))  # no half-written file left behind
    night2_checkpoint = next((checkpoints / f"dt={night2.isoformat()}").glob("*.safetensors"))
    transitions = read(spark, lake_settings, "transitions")
    night2_version = transitions[transitions["dt"].astype(str) == night2.isoformat()].model_version.iloc[0]
    assert night2_checkpoint.stem == night2_version
    aggregates = spark.read.parquet(str(lake_settings.table_path("daily_user_landing_aggregates"))).toPandas()
    assert aggregates.groupby(["user_id", "day", "landing_dt"]).size().max() == 1
    by_day = aggregates.groupby(["user_id", "day"]).post_count.sum()
    assert by_day[("busy", "2026-01-20")] == 400 and by_day[("steady", "2026-01-19")] == 2
    sequences = spark.read.parquet(str(lake_settings.table_path("sequences"))).toPandas()
    steady = sequences[(sequences.user_id == "steady") & (sequences.day == "2026-01-19")].set_index("dt").post_count
    assert (steady[night1.isoformat()], steady[night2.isoformat()]) == (1, 2)  # the late post counts from night 2 on

    transitions = read(spark, lake_settings, "transitions")
    changer = transitions[transitions.user_id == "changer"]
    assert len(changer) == 2 and changer.transition_id.nunique() == 1  # one change, one id, two snapshots
    assert set(changer.first_flagged_dt) == {night1.isoformat()}


def test_any_rerun_order_gives_the_same_snapshots(spark, lake_settings) -> None:
    from pyspark.testing import assertDataFrameEqual

    night1, night2 = RUN_DATE - dt.timedelta(days=1), RUN_DATE
    run(spark, lake_settings, night1)
    sequences_path = str(lake_settings.table_path("sequences"))
    first_night1 = spark.read.parquet(sequences_path).where(f"dt = '{night1}'").collect()
    late = pd.DataFrame({
        "post_id": ["late-1"], "user_id": ["steady"], "created_at": [pd.Timestamp("2026-01-19 23:00", tz="UTC")],
        "fused_probs": [SAD], "dt": ["2026-01-19"], "landing_dt": ["2026-01-20"],
    })
    spark.createDataFrame(
        late, "post_id string, user_id string, created_at timestamp, fused_probs array<float>, dt string, landing_dt string"
    ).write.mode("append").partitionBy("dt", "landing_dt").parquet(str(lake_settings.table_path("scores")))
    run(spark, lake_settings, night2)
    # A backfill of night 1 after night 2 landed a late post for the 19th: night 1's snapshot is
    # what it was (the late post landed after it), night 2's still has the post.
    run(spark, lake_settings, night1)
    reread = spark.read.parquet(sequences_path)
    # (its LSTM starts from the checkpoints before night 1 only, none here, so surprise and
    # forecast are the same too)
    assertDataFrameEqual(reread.where(f"dt = '{night1}'"), first_night1)
    steady = reread.where("user_id = 'steady' and day = '2026-01-19'").toPandas().set_index("dt").post_count
    assert (steady[night1.isoformat()], steady[night2.isoformat()]) == (1, 2)
