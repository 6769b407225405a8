"""A real run of emotion_drift_backfill (`airflow dags test` with params): one spark-submit
runs every stage of every day of the range, in day order, in one Spark application."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.airflow]

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FIRST, LAST = "2026-01-01", "2026-01-02"
STAGES = ["ingest", "check-ingest", "score", "check-score", "drift", "report"]


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("backfill-dag")
    env = dict(os.environ)
    env.update(
        EMODRIFT_LANDING=str(root / "landing"), EMODRIFT_LAKE=str(root / "lake"),
        EMODRIFT_SPARK_MASTER="local[2]", EMODRIFT_SHUFFLE_PARTITIONS="2",
        PATH=f"{BIN}:{env.get('PATH', '')}", PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
        AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"),
        SPARK_LOCAL_IP="127.0.0.1",
    )
    env.setdefault("AIRFLOW_HOME", str(REPO_ROOT / "airflow_home"))
    sample = subprocess.run([str(BIN / "emodrift"), "sample", "--users", "8", "--days", "2", "--seed", "5", "--start", FIRST],
                            env=env, capture_output=True, text=True, timeout=300)
    assert sample.returncode == 0, sample.stderr[-3000:]
    run = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "emotion_drift_backfill", "--conf", json.dumps({"start": FIRST, "end": LAST})],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return root / "lake"


def test_every_stage_of_every_day_ran_in_order_in_one_spark_application(backfilled):
    from jobs.lake import read_runs
    from jobs.settings import Settings

    runs = read_runs(Settings(lake=backfilled))
    succeeded = runs[runs["status"] == "succeeded"].sort_values("started_at")
    # day by day, every stage before the next day: drift never sees a later landing day
    assert list(zip(succeeded["date"], succeeded["stage"])) == [(day, stage) for day in (FIRST, LAST) for stage in STAGES]
    spark_runs = succeeded[succeeded["spark_application_id"].notna()]
    assert set(spark_runs["stage"]) == {"ingest", "score", "drift"}
    assert spark_runs["spark_application_id"].nunique() == 1


def test_the_range_is_in_the_lake(backfilled):
    for day in (FIRST, LAST):
        manifest = json.loads((backfilled / "manifests" / "ingest" / f"landing_dt={day}.json").read_text())
        assert manifest["accepted"] > 0
        assert (backfilled / "reports" / f"dt={day}" / "dashboard.html").is_file()
