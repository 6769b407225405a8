"""emotion_drift_backfill: every stage over a range of days, in one Spark application.

Wiring only: one task submits ``jobs/commands/backfill.py`` (what ``emodrift backfill``
runs) for the run's ``start`` and ``end`` params. It goes day by day through ingest, checks,
score, drift and report, exactly the nightly order, so it leaves the rows the nightly DAG
leaves; it pays Spark's start-up and the model loading once for the range instead of three
Spark applications and six task processes a day (the nightly DAG's cost per day, see
benchmarks/RESULTS.md "Airflow backfill").
"""

from __future__ import annotations

import sys
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling helper, however this file is loaded
from emodrift_spark import spark_submit  # noqa: E402

DOC = """
### Emotion drift, backfill of a range of days
Trigger with the first and last landing day (inclusive):

    airflow dags trigger emotion_drift_backfill --conf '{"start": "2026-01-01", "end": "2026-01-30"}'

or `scripts/airflow_backfill.sh START END`, which starts Airflow, triggers this DAG and waits.
Days run in order, each through every stage before the next (drift's as-of snapshots never
see later landing days). A retry reruns the whole range: every stage overwrites its day.
One run at a time: two ranges at once would interleave days.
"""


@dag(
    dag_id="emotion_drift_backfill",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # the nightly order holds across ranges too
    params={
        "start": Param(type="string", format="date", description="first landing day, YYYY-MM-DD"),
        "end": Param(type="string", format="date", description="last landing day, YYYY-MM-DD (inclusive)"),
    },
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=5), "owner": "emodrift"},
    tags=["emodrift", "spark", "emotion", "backfill"],
    doc_md=DOC,
)
def emotion_drift_backfill() -> None:
    spark_submit(
        "backfill",
        "commands/backfill.py",
        ["--start", "{{ params.start }}", "--end", "{{ params.end }}"],
        "emodrift-backfill-{{ params.start }}-{{ params.end }}",
    )


emotion_drift_backfill()
