"""Building the SparkSession: the one place that knows Spark configuration."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.settings import Settings


def build_session(settings: Settings, app_name: str) -> SparkSession:
    """Start (or reuse) a SparkSession on ``settings.spark_master``.

    Partition overwrite is dynamic so a job replaces only the partitions it writes, which is
    what makes rerunning a day idempotent. Under spark-submit (the DAG's way) the submit
    command's master wins.
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # workers must run the interpreter that has this project installed, not whatever
    # python3 is first on PATH; a cluster sets PYSPARK_PYTHON itself
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        # not under spark-submit: this process starts the JVM, so the settings pick the master
        builder = builder.master(settings.spark_master)
    builder = (
        builder
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        # partition values such as dt=2026-01-15 stay strings, identical in every table
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.python.worker.reuse", "true")
        .config("spark.driver.memory", os.environ.get("EMODRIFT_DRIVER_MEMORY", "2g"))
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
