"""The Spark connection and the spark-submit task both DAG files use (not a DAG: listed in
``.airflowignore`` so the DAG processor does not parse it on its own)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

JOBS_FOLDER = Path(__file__).resolve().parent.parent / "jobs"
SPARK_CONN_ID = os.environ.get("EMODRIFT_SPARK_CONN_ID", "emodrift_spark")
# The embedded default: Spark in local mode. A real deployment defines the connection
# (Admin -> Connections, or AIRFLOW_CONN_EMODRIFT_SPARK) with its cluster's master instead.
os.environ.setdefault(
    f"AIRFLOW_CONN_{SPARK_CONN_ID.upper()}",
    json.dumps({"conn_type": "spark", "host": os.environ.get("EMODRIFT_SPARK_MASTER", "local[*]")}),
)


def spark_submit(task_id: str, script: str, application_args: list[str], name: str, **operator_args: Any) -> SparkSubmitOperator:
    """A spark-submit of ``jobs/<script>`` on the project's connection (``operator_args``: more
    task arguments, e.g. ``depends_on_past``)."""
    return SparkSubmitOperator(
        **operator_args,
        task_id=task_id,
        application=str(JOBS_FOLDER / script),
        application_args=application_args,
        conn_id=SPARK_CONN_ID,
        name=name,
        # the driver and the workers must be this environment's interpreter
        env_vars={"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable},
    )
