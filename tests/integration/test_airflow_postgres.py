"""Airflow as it runs in production: PostgreSQL metadata, the LocalExecutor, a running
scheduler, API server and DAG processor. Through scripts/airflow_backfill.sh (not `dags
test`): the range DAG backfills the first six sample days in one run, then `airflow backfill
create` runs the nightly DAG for the seventh; together they leave the rows `emodrift backfill`
leaves over the seven days."""

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
    range_last = (dt.date.fromisoformat(FIRST_DAY) + dt.timedelta(days=DAYS - 2)).isoformat()
    for mode, first, final in (("range", FIRST_DAY, range_last), ("daily", last, last)):
        result = subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "airflow_backfill.sh"), first, final, "2400"],
            env=env | {"BACKFILL_MODE": mode}, capture_output=True, text=True, timeout=2700,
        )
        assert result.returncode == 0, f"airflow backfill ({mode}) failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        assert result.stdout.count(" success ") == 1, result.stdout[-3000:]

    # the runs were recorded in PostgreSQL, not in a SQLite file
    assert not (airflow_home / "airflow.db").exists()
    port = postgres_url.rsplit(":", 1)[1].split("/")[0]
    query = ("select dag_id, count(*) from dag_run where state = 'success' "
             "and (run_id like 'backfill__%' or run_id like 'range__%') group by dag_id order by dag_id")
    counted = subprocess.run(["psql", "-h", "127.0.0.1", "-p", port, "-U", "airflow", "-d", "airflow", "-tAc", query],
                             capture_output=True, text=True, timeout=60)
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.split() == ["emotion_drift_backfill|1", "emotion_drift_nightly|1"]

    counts = same_lake(reference_lake, lake)
    assert counts["posts"] > 0 and counts["scores"] == counts["posts"]
