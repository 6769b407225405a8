"""The DAG's tasks emit OpenLineage events through the file transport the Makefile sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.airflow]

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_task_run_writes_start_and_end_events(tmp_path):
    events = tmp_path / "openlineage-events.jsonl"
    env = dict(os.environ)
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__OPENLINEAGE__NAMESPACE="emodrift",
        AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        EMODRIFT_LAKE=str(tmp_path / "lake"),  # empty: the check fails, which is an event too
    )
    env.setdefault("AIRFLOW_HOME", str(REPO_ROOT / "airflow_home"))
    result = subprocess.run(
        ["airflow", "tasks", "test", "emotion_drift_nightly", "check_ingest", "2026-01-02"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert events.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    emitted = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    kinds = [event["eventType"] for event in emitted]
    assert kinds[0] == "START" and kinds[-1] in {"COMPLETE", "FAIL"}, kinds
    assert {event["job"]["namespace"] for event in emitted} == {"emodrift"}
    assert emitted[0]["job"]["name"] == "emotion_drift_nightly.check_ingest"
