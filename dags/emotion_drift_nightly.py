"""emotion_drift_nightly: ingest -> check -> score -> check -> drift -> report, one day a run.

Wiring only: every task submits a ``jobs/`` script or calls a ``jobs`` function imported
inside the task, for the data interval's start date (``{{ ds }}``), and every one of them
overwrites that day's partitions, so clearing and rerunning a day changes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling helper, however this file is loaded
from emodrift_spark import spark_submit  # noqa: E402

DOC = """
### Emotion drift, nightly
Scores yesterday's posts (face CNN + text LSTM, fused over anger, disgust, fear, joy,
sadness, surprise, neutral), rebuilds each user's emotion sequence, flags transitions and
writes the analysts' dashboard to `lake/reports/dt={{ ds }}/dashboard.html`.

*Rerun a day*: clear its run; every task overwrites that day's partitions.
*Backfill*: trigger `emotion_drift_backfill` with params start/end (one Spark application for
the range, the same day-by-day order; `scripts/airflow_backfill.sh A B` does it), or
`emodrift backfill --start A --end B` (no scheduler). `airflow backfill create` on this DAG
works too but pays three Spark applications and six task processes per day.
"""


def spark_stage(stage: str, **operator_args: Any) -> SparkSubmitOperator:
    """A Spark job of ``jobs/`` submitted for the run's day."""
    return spark_submit(stage, f"{stage}.py", ["--date", "{{ ds }}"], f"emodrift-{stage}-{{{{ ds }}}}", **operator_args)


@dag(
    dag_id="emotion_drift_nightly",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Two days at once: ingest, score and their checks touch only their own landing day, and the
    # drift stage reads landing days up to its own date only (landing-keyed aggregates), so a
    # day's ingest and score may run beside the previous day's drift. Drift alone keeps the
    # day order (depends_on_past below): it links to last night's snapshot and warm-starts
    # from the last earlier checkpoint.
    max_active_runs=2,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=5), "owner": "emodrift"},
    tags=["emodrift", "spark", "emotion"],
    doc_md=DOC,
)
def emotion_drift_nightly() -> None:
    @task(retries=0)  # a failed check is a finding, not a flake: do not retry it
    def check_ingest(ds: str | None = None) -> dict:
        """Fail the run when read != accepted + quarantined + duplicates, or tables disagree."""
        from jobs.lake import parse_date
        from jobs.quality import run_ingest
        from jobs.settings import Settings
        from jobs.stage import run_recorded

        # Recorded in the runs table under the backfill's stage name, so run health shows it.
        return run_recorded("check-ingest", run_ingest, Settings.from_env(), parse_date(ds))

    @task(retries=0)
    def check_score(ds: str | None = None) -> dict:
        """Fail the run when a landed post has no score row."""
        from jobs.lake import parse_date
        from jobs.quality import run_score
        from jobs.settings import Settings
        from jobs.stage import run_recorded

        # Recorded in the runs table under the backfill's stage name, so run health shows it.
        return run_recorded("check-score", run_score, Settings.from_env(), parse_date(ds))

    @task
    def report(ds: str | None = None) -> str:
        """Write the plotly dashboard for the day; returns its path."""
        from jobs.lake import parse_date
        from jobs.report import run
        from jobs.settings import Settings
        from jobs.stage import run_recorded

        return str(run_recorded("report", run, Settings.from_env(), parse_date(ds)))

    (
        spark_stage("ingest")
        >> check_ingest()
        >> spark_stage("score")
        >> check_score()
        >> spark_stage("detect_drift", depends_on_past=True)
        >> report()
    )


emotion_drift_nightly()
