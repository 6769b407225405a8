"""The DAG folder parses cleanly, wires the stages in order, and stays light at parse time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.airflow

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"emotion_drift_nightly", "emotion_drift_backfill"} <= set(dagbag.dags)
    assert "emodrift_spark" not in {Path(dag.fileloc).stem for dag in dagbag.dags.values()}


def test_stages_are_wired_in_order(dagbag):
    dag = dagbag.dags["emotion_drift_nightly"]
    order = ["ingest", "check_ingest", "score", "check_score", "detect_drift", "report"]
    assert set(dag.task_ids) == set(order)
    for upstream, downstream in zip(order, order[1:]):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}


def test_retries_tags_docs_and_daily_intervals(dagbag):
    dag = dagbag.dags["emotion_drift_nightly"]
    assert dag.tags and dag.doc_md
    for task_id in ("ingest", "score", "detect_drift", "report"):
        assert dag.get_task(task_id).retries >= 1
    assert dag.timetable.summary in {"@daily", "0 0 * * *"}
    spark_task = dag.get_task("score")
    assert spark_task.application.endswith("jobs/score.py")
    assert spark_task.application_args == ["--date", "{{ ds }}"]


def test_days_overlap_and_only_drift_waits_for_the_day_before(dagbag):
    """Landing-keyed stages of two days may run at once; drift (last night's snapshot and
    checkpoint) runs only after the previous day's drift succeeded."""
    dag = dagbag.dags["emotion_drift_nightly"]
    assert dag.max_active_runs > 1
    waiting = {task.task_id for task in dag.tasks if task.depends_on_past}
    assert waiting == {"detect_drift"}


def test_the_backfill_dag_submits_one_range_backfill(dagbag):
    """One spark-submit of what `emodrift backfill` runs, for the params' range, on the same
    Spark connection as the nightly stages; one range at a time."""
    dag = dagbag.dags["emotion_drift_backfill"]
    nightly = dagbag.dags["emotion_drift_nightly"]
    assert type(dag.timetable).__name__ == "NullTimetable"  # triggered only, never scheduled
    assert dag.max_active_runs == 1 and dag.doc_md and dag.tags
    assert set(dag.params.keys()) == {"start", "end"}
    (task,) = dag.tasks
    assert task.application.endswith("jobs/commands/backfill.py")
    assert Path(task.application).is_file()
    assert task.application_args == ["--start", "{{ params.start }}", "--end", "{{ params.end }}"]
    assert task.retries >= 1
    assert task._conn_id == nightly.get_task("score")._conn_id


@pytest.mark.parametrize("dag_file", ["emotion_drift_nightly.py", "emotion_drift_backfill.py"])
def test_parsing_imports_nothing_heavy(dag_file):
    """Parsing a DAG must not import Spark, torch or the project's jobs."""
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "heavy = sorted(m for m in ('pyspark', 'torch', 'jobs', 'models', 'drift', 'pandas') if m in sys.modules); "
        "print('HEAVY=' + ','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(DAGS_FOLDER / dag_file)],
        capture_output=True, text=True, check=True,
    )
    assert "HEAVY=\n" in result.stdout
