"""Airflow as it runs in production: PostgreSQL metadata, the LocalExecutor, a running
scheduler, API server and DAG processor. `airflow backfill create` over seven sample days
(through scripts/airflow_backfill.sh, not `dags test`) leaves the rows `emodrift backfill`
leaves."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.airflow, pytest.mark.postgres]

REPO_ROOT = Path(__file__).resolve().parents[2]
FIRST_DAY, DAYS = "2026-01-01", 7


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_airflow_backfill_on_postgres_matches_the_cli(
    postgres_url: str, sample_landing: Path, reference_lake: Path, integration_root: Path, same_lake
) -> None:
    lake = integration_root / "airflow-lake"
    airflow_home = integration_root / "airflow-postgres"
    last = (dt.date.fromisoformat(FIRST_DAY) + dt.timedelta(days=DAYS - 1)).isoformat()
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres_url,
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__API__PORT=str(free_port()),
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        EMODRIFT_LANDING=str(sample_landing),
        EMODRIFT_LAKE=str(lake),
        EMODRIFT_SPARK_MASTER="local[2]",
        EMODRIFT_SHUFFLE_PARTITIONS="2",
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "airflow_backfill.sh"), FIRST_DAY, last, "3000"],
        env=env, capture_output=True, text=True, timeout=3300,
    )
    assert result.returncode == 0, f"airflow backfill failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert result.stdout.count(" success ") == DAYS, result.stdout[-3000:]

    # the runs were recorded in PostgreSQL, not in a SQLite file
    assert not (airflow_home / "airflow.db").exists()
    port = postgres_url.rsplit(":", 1)[1].split("/")[0]
    query = ("select count(*) from dag_run where dag_id = 'emotion_drift_nightly' "
             "and state = 'success' and run_id like 'backfill__%'")
    counted = subprocess.run(["psql", "-h", "127.0.0.1", "-p", port, "-U", "airflow", "-d", "airflow", "-tAc", query],
                             capture_output=True, text=True, timeout=60)
    assert counted.returncode == 0, counted.stderr
    assert int(counted.stdout.strip()) == DAYS

    counts = same_lake(reference_lake, lake)
    assert counts["posts"] > 0 and counts["scores"] == counts["posts"]
