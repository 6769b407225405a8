"""sample -> backfill -> one real nightly DAG run, then the properties the pipeline promises:
counts reconcile with what was planted, a rerun changes no rows, planted changes are found."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.airflow]

MIN_DAYS_EACH_SIDE = 4  # a change needs days on both sides of it to be seen at all


def read_table(lake: Path, table: str, **partitions: str) -> pd.DataFrame:
    frame = pd.read_parquet(lake / table)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(str)
    for column, value in partitions.items():
        frame = frame[frame[column] == value]
    return frame


def canonical(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows sorted by key with list cells made hashable, for exact comparison."""
    frame = frame.copy()
    for column in frame.columns:
        frame[column] = frame[column].map(lambda value: json.dumps(value.tolist() if hasattr(value, "tolist") else value, default=str))
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.fixture(scope="module")
def pipeline_run(sample_pipeline):
    """The session's shared sample lake (tests/conftest.py): sample, backfill, one nightly DAG run."""
    return sample_pipeline


def test_the_dag_run_succeeded_and_wrote_the_dashboard(pipeline_run):
    dashboard = pipeline_run["lake"] / "reports" / f"dt={pipeline_run['last']}" / "dashboard.html"
    assert dashboard.exists()
    html = dashboard.read_text()
    truth = json.loads((pipeline_run["landing"] / "ground_truth.json").read_text())
    for user in truth["users"]:
        assert user["user_id"] not in html  # pseudonymous ids only


def test_every_task_of_the_nightly_run_is_recorded_in_runs(pipeline_run):
    from jobs.lake import read_runs
    from jobs.settings import Settings

    runs = read_runs(Settings(lake=pipeline_run["lake"]))
    last_day = runs[runs["date"] == pipeline_run["last"]]
    succeeded = set(last_day.loc[last_day["status"] == "succeeded", "stage"])
    # The quality gates too: run health reads them from here.
    assert {"ingest", "check-ingest", "score", "check-score", "drift", "report"} <= succeeded, last_day[["stage", "status"]]


def test_counts_reconcile_with_what_was_planted(pipeline_run):
    truth = json.loads((pipeline_run["landing"] / "ground_truth.json").read_text())
    manifests = pipeline_run["lake"] / "manifests" / "ingest"
    for planted in truth["landing_days"]:
        manifest = json.loads((manifests / f"landing_dt={planted['landing_dt']}.json").read_text())
        assert manifest["read"] == manifest["accepted"] + manifest["quarantined"] + manifest["duplicates"]
        for key in ("read", "accepted", "quarantined", "duplicates"):
            assert manifest[key] == planted[key], (planted["landing_dt"], key)
        assert manifest["quarantine_reasons"] == planted["quarantine_reasons"]
    posts = read_table(pipeline_run["lake"], "posts")
    scores = read_table(pipeline_run["lake"], "scores")
    assert len(posts) == sum(day["accepted"] for day in truth["landing_days"])
    assert sorted(scores["post_id"]) == sorted(posts["post_id"])


def test_strongest_planted_changes_are_found(pipeline_run):
    truth = json.loads((pipeline_run["landing"] / "ground_truth.json").read_text())
    start, last = pipeline_run["start"], pipeline_run["last"]
    transitions = read_table(pipeline_run["lake"], "transitions", dt=last)
    def observable(change: dict) -> bool:
        changed_at = pd.Timestamp(change["changed_at"])
        return (changed_at - pd.Timestamp(start)).days >= MIN_DAYS_EACH_SIDE and (
            pd.Timestamp(last) - changed_at
        ).days >= MIN_DAYS_EACH_SIDE - 1

    strongest = sorted(filter(observable, truth["changes"]), key=lambda change: -change["strength"])[:3]
    assert len(strongest) == 3, "the sample should plant at least three observable changes"
    found = 0
    for change in strongest:
        rows = transitions[transitions["user_id"] == change["user_id"]]
        changed_at = pd.to_datetime(rows["changed_at"])
        near = rows[(changed_at - pd.Timestamp(change["changed_at"])).abs() <= pd.Timedelta(days=1)]
        found += int(((near["from_label"] == change["from_label"]) & (near["to_label"] == change["to_label"])).any())
    assert found >= 2, (strongest, transitions.to_dict("records"))
    stable = {user["user_id"] for user in truth["users"] if not user["changed"]}
    false_alarms = transitions[transitions["user_id"].isin(stable) & (transitions["confidence"] >= 0.9)]
    assert len(false_alarms) <= max(1, len(stable) // 4)


def test_rerunning_the_last_day_changes_no_rows(pipeline_run, sample_copy):
    def tables(lake: Path) -> dict[str, pd.DataFrame]:
        return {
            "posts": canonical(read_table(lake, "posts"), ["post_id"]),
            "scores": canonical(read_table(lake, "scores"), ["post_id"]),
            "transitions": canonical(read_table(lake, "transitions"), ["dt", "user_id", "changed_at"]),
        }

    before = tables(pipeline_run["lake"])
    sample_copy["emodrift"]("backfill", "--start", sample_copy["last"], "--end", sample_copy["last"])  # on a copy: the lake is shared
    after = tables(sample_copy["lake"])
    for table in before:
        pd.testing.assert_frame_equal(after[table], before[table], obj=table)
