"""sample -> backfill -> one real nightly DAG run, then the properties the pipeline promises:
counts reconcile with what was planted, a rerun changes no rows, planted changes are found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.airflow]

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
START, DAYS, LAST = "2026-01-01", 12, "2026-01-12"
BEFORE_LAST = "2026-01-11"
MIN_DAYS_EACH_SIDE = 4  # a change needs days on both sides of it to be seen at all


def environment(landing: Path, lake: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        EMODRIFT_LANDING=str(landing),
        EMODRIFT_LAKE=str(lake),
        EMODRIFT_SPARK_MASTER="local[2]",
        EMODRIFT_SHUFFLE_PARTITIONS="2",
        PATH=f"{BIN}:{env.get('PATH', '')}",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"),
        SPARK_LOCAL_IP="127.0.0.1",
    )
    env.setdefault("AIRFLOW_HOME", str(REPO_ROOT / "airflow_home"))
    return env


def emodrift(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([str(BIN / "emodrift"), *args], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"emodrift {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


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
def pipeline_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    landing, lake = root / "landing", root / "lake"
    env = environment(landing, lake)
    emodrift(env, "sample", "--users", "16", "--days", str(DAYS), "--seed", "3", "--start", START)
    emodrift(env, "backfill", "--start", START, "--end", BEFORE_LAST)
    dag_run = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "emotion_drift_nightly", LAST],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert dag_run.returncode == 0, dag_run.stdout[-4000:] + dag_run.stderr[-4000:]
    return {"env": env, "landing": landing, "lake": lake, "dag_output": dag_run.stdout + dag_run.stderr}


def test_the_dag_run_succeeded_and_wrote_the_dashboard(pipeline_run):
    dashboard = pipeline_run["lake"] / "reports" / f"dt={LAST}" / "dashboard.html"
    assert dashboard.exists()
    html = dashboard.read_text()
    truth = json.loads((pipeline_run["landing"] / "ground_truth.json").read_text())
    for user in truth["users"]:
        assert user["user_id"] not in html  # pseudonymous ids only


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
    transitions = read_table(pipeline_run["lake"], "transitions", dt=LAST)
    def observable(change: dict) -> bool:
        changed_at = pd.Timestamp(change["changed_at"])
        return (changed_at - pd.Timestamp(START)).days >= MIN_DAYS_EACH_SIDE and (
            pd.Timestamp(LAST) - changed_at
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


def test_rerunning_the_last_day_changes_no_rows(pipeline_run):
    lake = pipeline_run["lake"]
    before = {
        "posts": canonical(read_table(lake, "posts"), ["post_id"]),
        "scores": canonical(read_table(lake, "scores"), ["post_id"]),
        "transitions": canonical(read_table(lake, "transitions"), ["dt", "user_id", "changed_at"]),
    }
    emodrift(pipeline_run["env"], "backfill", "--start", LAST, "--end", LAST)
    after = {
        "posts": canonical(read_table(lake, "posts"), ["post_id"]),
        "scores": canonical(read_table(lake, "scores"), ["post_id"]),
        "transitions": canonical(read_table(lake, "transitions"), ["dt", "user_id", "changed_at"]),
    }
    for table in before:
        pd.testing.assert_frame_equal(after[table], before[table], obj=table)
