"""The ground-truth benchmark's scoring rules: matching, delay, false alarms, calibration, PELT."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from drift.evaluation import (
    Planted,
    calibration_table,
    detection_delays,
    match,
    pelt_change_points,
    planted_from_truth,
    snapshot_quality,
)

D = dt.date(2026, 1, 1)


def day(offset: int) -> dt.date:
    return D + dt.timedelta(days=offset)


def test_matching_counts_the_span_plus_margin_one_to_one() -> None:
    gradual = Planted("u", day(10), day(16))
    assert gradual.middle == day(13) and gradual.distance(day(12)) == 0 and gradual.distance(day(19)) == 3
    assert match([gradual], [day(7), day(19), day(20)], margin_days=3) == [(0, 0)]  # nearest first, used once
    assert match([gradual], [day(6), day(20)], margin_days=3) == []


def test_snapshot_quality_precision_recall_and_stable_false_alarms() -> None:
    planted = [Planted("a", day(10), day(10)), Planted("b", day(20), day(25))]
    flags = pd.DataFrame(
        {"user_id": ["a", "a", "b", "s1"], "changed_at": [day(11).isoformat(), day(12).isoformat(), day(27).isoformat(), day(5).isoformat()]}
    )
    quality = snapshot_quality(flags, planted, ["a", "b", "s1", "s2"], days=30, margin_days=3)
    assert (quality.flagged, quality.matched, quality.stable_false_alarms) == (4, 2, 1)
    assert quality.precision == pytest.approx(0.5) and quality.recall == pytest.approx(1.0)
    assert quality.f1 == pytest.approx(2 / 3)
    assert quality.false_alarms_per_100_stable_user_months == pytest.approx(50.0)  # 1 flag in 2 user-months
    empty = snapshot_quality(flags.iloc[0:0], planted, ["a", "b"], days=30)
    assert (empty.precision, empty.recall, empty.f1) == (0.0, 0.0, 0.0)


def test_delay_is_counted_from_the_middle_of_the_span_to_the_first_flagging_snapshot() -> None:
    planted = [Planted("a", day(10), day(10)), Planted("b", day(20), day(24)), Planted("c", day(5), day(5))]
    snapshots = pd.DataFrame(
        {
            "dt": [day(12).isoformat(), day(13).isoformat(), day(25).isoformat(), day(26).isoformat()],
            "user_id": ["a", "a", "b", "b"],
            "changed_at": [day(10).isoformat(), day(11).isoformat(), day(21).isoformat(), day(22).isoformat()],
        }
    )
    assert detection_delays(snapshots, planted) == [2, 3, None]


def test_calibration_bins_and_truth_file_reading() -> None:
    table = calibration_table(np.array([0.1, 0.6, 0.97, 0.99, 1.0]), np.array([0, 0, 1, 1, 0]), (0.0, 0.5, 0.95, 1.0))
    assert table["proposals"].tolist() == [1, 1, 3]
    assert table["share_true"].iloc[2] == pytest.approx(2 / 3)
    truth = {"changes": [{"user_id": "a", "changed_at": "2026-01-05"}, {"user_id": "b", "changed_at": "2026-01-07", "ended_at": "2026-01-10"}]}
    assert planted_from_truth(truth) == [Planted("a", day(4), day(4)), Planted("b", day(6), day(9))]


def test_pelt_finds_planted_shifts_and_leaves_noise_alone() -> None:
    rng = np.random.default_rng(0)
    shifted = np.concatenate([rng.normal(0, 1, 30), rng.normal(4, 1, 25), rng.normal(-1, 1, 30)])
    assert pelt_change_points(shifted, 3 * np.log(len(shifted)), 2) == [30, 55]
    flat = rng.normal(0, 1, (60, 3))
    assert pelt_change_points(flat, 3 * np.log(60) * 3, 2) == []
