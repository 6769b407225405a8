"""The dashboard's queries recover what a synthetic lake planted, read only the partitions they
need, page and filter exactly, and degrade when the transitions lack the analyst columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.dashboard import queries
from jobs.dashboard.queries import TransitionFilters
from models.labels import LABELS

from jobs.dashboard.synthetic import SMALL as SHAPE

DAYS = SHAPE.day_list
FIRST, LAST = DAYS[0], DAYS[-1]
CHANGE_DAY = DAYS[SHAPE.change_day_index]
CHANGED_USERS = [f"u{index:07d}" for index in range(0, SHAPE.users, SHAPE.change_every)]


def sequences_by_pandas(lake: Path) -> pd.DataFrame:
    return pd.read_parquet(next((lake / "sequences" / f"dt={LAST}").glob("*.parquet")))


def test_cohort_daily_matches_an_independent_pandas_aggregate(synthetic_lake):
    daily = queries.cohort_daily(synthetic_lake, DAYS[2], DAYS[9])
    frame = sequences_by_pandas(synthetic_lake)
    frame = frame[(frame["day"] >= DAYS[2]) & (frame["day"] <= DAYS[9])]
    assert list(daily["day"]) == DAYS[2:10]
    assert list(daily["users"]) == list(frame.groupby("day")["user_id"].nunique())
    assert list(daily["posts"]) == list(frame.groupby("day")["post_count"].sum())
    probabilities = np.vstack(frame["probs"].to_numpy())
    expected = pd.DataFrame(probabilities, columns=list(LABELS)).groupby(frame["day"].to_numpy()).mean()
    np.testing.assert_allclose(daily[list(LABELS)].to_numpy(), expected.to_numpy(), atol=1e-9)
    np.testing.assert_allclose(daily[list(LABELS)].sum(axis=1), 1.0, atol=1e-6)


def test_planted_changes_are_counted_on_their_day_and_ranked(synthetic_lake):
    per_day = queries.transitions_per_day(synthetic_lake, FIRST, LAST)
    assert per_day.to_dict("records") == [{"day": CHANGE_DAY, "transitions": len(CHANGED_USERS)}]
    assert queries.transitions_per_day(synthetic_lake, DAYS[SHAPE.change_day_index + 1], LAST).empty
    strongest = queries.strongest_drifts(synthetic_lake, FIRST, LAST, limit=5)
    assert len(strongest) == 5 and set(strongest["user_id"]) <= set(CHANGED_USERS)
    assert list(strongest["score"]) == sorted(strongest["score"], reverse=True)


def test_transition_pages_are_disjoint_and_cover_every_match(synthetic_lake):
    filters = TransitionFilters(start=FIRST, end=LAST)
    seen, total = [], None
    for page in range(4):
        rows, total = queries.transitions_page(synthetic_lake, filters, page=page, page_size=4)
        seen += list(rows["user_id"])
    assert total == len(CHANGED_USERS)
    assert sorted(seen) == sorted(CHANGED_USERS)  # 12 users over pages of 4: nothing repeated, nothing lost


def test_transition_filters_and_sorting(synthetic_lake):
    everything, _ = queries.transitions_page(synthetic_lake, TransitionFilters(end=LAST), page_size=500)
    joy = TransitionFilters(end=LAST, from_label="joy", min_confidence=0.6)
    rows, total = queries.transitions_page(synthetic_lake, joy, sort_by=[("confidence", True)], page_size=500)
    expected = everything[(everything["from_label"] == "joy") & (everything["confidence"] >= 0.6)]
    assert total == len(rows) == len(expected) and total > 0
    assert list(rows["confidence"]) == sorted(rows["confidence"])
    detector, _ = queries.transitions_page(synthetic_lake, TransitionFilters(end=LAST, detector="cusum"), page_size=500)
    assert set(detector["detector"]) == {"cusum"}
    assert queries.detectors(synthetic_lake, LAST) == ["cusum", "pelt"]


def test_filter_values_are_bound_not_pasted_into_sql(synthetic_lake):
    hostile = TransitionFilters(end=LAST, detector="pelt' OR '1'='1")
    rows, total = queries.transitions_page(synthetic_lake, hostile)
    assert total == 0 and rows.empty
    with pytest.raises(ValueError, match="cannot sort by"):
        queries.transitions_page(synthetic_lake, TransitionFilters(end=LAST), sort_by=[("score; DROP TABLE x", False)])
    with pytest.raises(ValueError, match="from_label"):
        TransitionFilters(from_label="glee")


def test_only_the_needed_partitions_are_listed(synthetic_lake):
    files = queries.partition_files(synthetic_lake, "scores", DAYS[3], DAYS[5])
    assert {Path(file).parent.parent.name for file in files} == {f"dt={day}" for day in DAYS[3:6]}
    assert queries.snapshot_date(synthetic_lake, "2099-01-01") == LAST
    assert queries.snapshot_date(synthetic_lake, FIRST) == LAST  # none that old: the nearest later window


def test_one_user_drill_down_recovers_the_planted_change(synthetic_lake):
    user = CHANGED_USERS[1]  # u0000005: joy -> ... planted by index
    index = int(user[1:])
    sequence = queries.user_sequence(synthetic_lake, user, LAST)
    changes = queries.user_transitions(synthetic_lake, user, LAST)
    assert len(changes) == 1 and changes["changed_at"].iloc[0] == CHANGE_DAY
    assert "transition_id" not in changes  # an older drift stage: the optional columns are absent, not invented
    before, after = queries.before_after_means(sequence, changes.iloc[0])
    assert LABELS[int(np.argmax(before))] == LABELS[index % 7]
    assert LABELS[int(np.argmax(after))] == LABELS[(index + 3) % 7]
    first_day, last_day = queries.window_of(sequence, LAST)
    posts = queries.user_posts(synthetic_lake, user, first_day, last_day)
    assert len(posts) == int(sequence["post_count"].sum())
    before_posts, after_posts = queries.evidence_posts(posts, changes.iloc[0])
    assert (before_posts["created_at"] < pd.Timestamp(CHANGE_DAY, tz="UTC")).all()
    assert (after_posts["created_at"] >= pd.Timestamp(CHANGE_DAY, tz="UTC")).all()
    assert set(before_posts["fused_label"]) == {LABELS[index % 7]}
    inside = queries.user_posts(synthetic_lake, user, DAYS[4], DAYS[6])
    assert set(inside["dt"]) <= set(DAYS[4:7])


def test_stored_analyst_columns_are_used_when_present(analyst_lake):
    rows, _ = queries.transitions_page(analyst_lake, TransitionFilters(end=LAST), page_size=3)
    assert {"transition_id", "first_flagged_dt"} <= set(rows.columns)
    user = CHANGED_USERS[2]
    changes = queries.user_transitions(analyst_lake, user, LAST)
    stored = queries.evidence_post_ids(changes.iloc[0])
    assert stored == ([f"p{int(user[1:]):07d}d000"], [f"p{int(user[1:]):07d}d{SHAPE.change_day_index:03d}"])
    posts = queries.user_posts(analyst_lake, user, FIRST, LAST, post_ids=[*stored[0], *stored[1]])
    before_posts, after_posts = queries.evidence_posts(posts, changes.iloc[0])
    assert list(before_posts["post_id"]) == stored[0] and list(after_posts["post_id"]) == stored[1]
    before, _ = queries.before_after_means(pd.DataFrame(), changes.iloc[0])  # no sequence needed: stored means
    assert before is not None and pytest.approx(before.max()) == 0.8


def test_run_health_reconciles_and_flags_a_broken_manifest(synthetic_lake, tmp_path):
    gates = queries.quality_gates(synthetic_lake, FIRST, LAST)
    assert len(gates) == 2 * len(DAYS) and set(gates["status"]) == {"ok"}
    reasons = queries.quarantine_by_reason(synthetic_lake, FIRST, LAST)
    manifests = queries.read_stage_manifests(synthetic_lake, "ingest", FIRST, LAST)
    assert reasons["lines"].sum() == sum(manifest["quarantined"] for manifest in manifests)
    versions = queries.model_versions(synthetic_lake, FIRST, LAST)
    assert set(versions["model"]) == {"text", "image", "temporal"}
    counts = queries.stage_counts(synthetic_lake, FIRST, LAST)
    assert set(counts["stage"]) == {"ingest", "score"}

    # a manifest that claims one more accepted line than the table holds fails its gate
    import shutil

    broken = tmp_path / "lake"
    shutil.copytree(synthetic_lake, broken)
    manifest_path = broken / "manifests" / "ingest" / f"landing_dt={DAYS[3]}.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["accepted"] += 1
    manifest_path.write_text(json.dumps(manifest))
    gates = queries.quality_gates(broken, FIRST, LAST)
    failed = gates[gates["status"] == "failed"]
    assert list(failed["landing_dt"]) == [DAYS[3]] and "posts" in failed["problems"].iloc[0]


def test_an_empty_lake_reads_as_empty_frames(tmp_path):
    assert queries.cohort_daily(tmp_path, FIRST, LAST).empty
    assert queries.transitions_page(tmp_path, TransitionFilters(end=LAST)) [1] == 0
    assert queries.user_sequence(tmp_path, "u1", LAST).empty
    assert queries.quality_gates(tmp_path, FIRST, LAST).empty
    assert queries.model_versions(tmp_path, FIRST, LAST).empty


def test_evidence_days_pick_each_sides_most_telling_days(synthetic_lake):
    user = CHANGED_USERS[3]
    sequence = queries.user_sequence(synthetic_lake, user, LAST)
    change = queries.user_transitions(synthetic_lake, user, LAST).iloc[0]
    days = queries.evidence_days(sequence, change, per_side=2)
    assert len(days) == 4
    assert sum(day < CHANGE_DAY for day in days) == 2 and sum(day >= CHANGE_DAY for day in days) == 2
    probs = dict(zip(sequence["day"], sequence["probs"]))
    before_label = LABELS.index(change["from_label"])
    best_before = max((day for day in probs if day < CHANGE_DAY), key=lambda day: probs[day][before_label])
    assert best_before in days
    posts = queries.user_posts(synthetic_lake, user, FIRST, LAST, days=days)
    assert sorted(set(posts["dt"])) == days  # only those partitions were read
    assert queries.locate_posts(synthetic_lake, user, FIRST, LAST, list(posts["post_id"][:2])) == sorted(set(posts["dt"][:2]))


def test_drill_down_reads_the_forecast_which_expects_the_old_label_on_the_change_day(synthetic_lake):
    user = CHANGED_USERS[1]
    index = int(user[1:])
    sequence = queries.user_sequence(synthetic_lake, user, LAST).set_index("day")
    first = sequence["forecast"].iloc[0]
    assert (first is None or first is pd.NA) and np.isnan(sequence["surprise"].iloc[0])  # nothing precedes day one
    forecast = np.asarray(sequence.loc[CHANGE_DAY, "forecast"], dtype=float)
    assert forecast.shape == (len(LABELS),) and forecast.sum() == pytest.approx(1.0, abs=1e-5)
    assert LABELS[int(np.argmax(forecast))] == LABELS[index % 7]  # still the label before the change
    assert LABELS[int(np.argmax(sequence.loc[CHANGE_DAY, "probs"]))] == LABELS[(index + 3) % 7]
    assert sequence["surprise"].idxmax() == CHANGE_DAY  # the model is most surprised where the user changed


def test_an_older_lake_without_forecasts_still_drills_down(synthetic_lake, tmp_path):
    import pyarrow.parquet as pq
    import shutil

    lake = tmp_path / "lake"
    shutil.copytree(synthetic_lake, lake)
    path = next((lake / "sequences" / f"dt={LAST}").glob("*.parquet"))
    pq.write_table(pq.read_table(path).drop_columns(["forecast"]), path)
    sequence = queries.user_sequence(lake, CHANGED_USERS[1], LAST)
    assert "forecast" not in sequence and len(sequence) > 0 and sequence["surprise"].notna().any()


def test_stage_runs_pair_each_start_with_its_end_and_find_the_planted_failures(synthetic_lake):
    from jobs.dashboard.synthetic import RUN_STAGES

    runs = queries.stage_runs(synthetic_lake, FIRST, LAST)
    # one run per stage and day, plus the failed attempt before the planted retry
    assert len(runs) == len(RUN_STAGES) * len(DAYS) + 1 and runs["run_id"].is_unique
    failed = runs[runs["status"] == "failed"]
    assert list(zip(failed["stage"], failed["date"])) == [("score", DAYS[2])] and "planted" in failed["error"].iloc[0]
    unfinished = runs[runs["status"] == "unfinished"]
    assert list(zip(unfinished["stage"], unfinished["date"])) == [("drift", LAST)]
    assert unfinished["duration_s"].isna().all() and (runs.loc[runs["status"] != "unfinished", "duration_s"] > 0).all()
    ingest = runs[runs["stage"] == "ingest"].set_index("date")["rows"]
    manifests = {manifest["landing_dt"]: manifest["accepted"] for manifest in queries.read_stage_manifests(synthetic_lake, "ingest", FIRST, LAST)}
    assert ingest.to_dict() == manifests  # rows per run = what the ingest manifest accepted
    assert list(runs["started_at"]) == sorted(runs["started_at"], reverse=True)  # newest first
    assert set(queries.stage_runs(synthetic_lake, DAYS[3], DAYS[4])["date"]) == {DAYS[3], DAYS[4]}
    assert queries.stage_runs(Path("/nonexistent"), FIRST, LAST).empty


def test_recorded_gates_sit_beside_the_recomputed_ones(synthetic_lake):
    runs = queries.stage_runs(synthetic_lake, FIRST, LAST)
    gates = queries.with_recorded_gates(queries.quality_gates(synthetic_lake, FIRST, LAST), runs)
    assert len(gates) == 2 * len(DAYS) and set(gates["recorded"]) == {"succeeded"}
    # a gate run that failed on a day is shown as failed, whatever the recomputation says
    failing = runs.copy()
    failing.loc[(failing["stage"] == "check-score") & (failing["date"] == DAYS[5]), ["status", "error"]] = ["failed", "counts differ"]
    gates = queries.with_recorded_gates(queries.quality_gates(synthetic_lake, FIRST, LAST), failing)
    flagged = gates[gates["recorded"] == "failed"]
    assert list(zip(flagged["landing_dt"], flagged["stage"], flagged["recorded_error"])) == [(DAYS[5], "score", "counts differ")]
    no_runs = queries.with_recorded_gates(queries.quality_gates(synthetic_lake, FIRST, LAST), runs.iloc[0:0])
    assert set(no_runs["recorded"]) == {"not run"}
