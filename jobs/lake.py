"""Small helpers for the Parquet lake: partition paths, cleaning a partition, manifests.

The file system is reached through Hadoop (inside Spark) or pyarrow (outside it), so the lake
may live on a local disk, HDFS or object storage with no code change.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

from jobs.settings import Settings


def parse_date(value: str) -> dt.date:
    """Parse a ``YYYY-MM-DD`` run date, with an error that says what to pass."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"dates are YYYY-MM-DD, e.g. 2026-01-15; got {value!r}") from error


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from ``start`` to ``end`` inclusive."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + dt.timedelta(days=offset) for offset in range((end - start).days + 1)]


def uri(path: Path | str) -> str:
    """An absolute path string Spark and pyarrow both accept."""
    text = str(path)
    return text if "://" in text else str(Path(text).resolve())


def delete_partitions(spark: SparkSession, table_path: Path | str, pattern: str) -> int:
    """Delete every partition folder under ``table_path`` that matches a glob, e.g.
    ``dt=*/landing_dt=2026-01-15``; returns how many were deleted.

    A job that writes a landing day's rows under several ``dt`` partitions calls this before
    writing, so a rerun replaces exactly what that landing day produced last time, even
    partitions the new run no longer writes.
    """
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(f"{uri(table_path)}/{pattern}")
    file_system = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    statuses = file_system.globStatus(hadoop_path) or []
    for status in statuses:
        file_system.delete(status.getPath(), True)
    return len(statuses)


def write_partitioned(frame: DataFrame, table_path: Path | str, partition_columns: list[str]) -> None:
    """Write with dynamic partition overwrite: only the partitions present in ``frame`` change."""
    (
        frame.write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(*partition_columns)
        .parquet(uri(table_path))
    )


def read_table(spark: SparkSession, settings: Settings, table: str) -> DataFrame | None:
    """Read a lake table with its partition columns as strings, or None when it does not exist."""
    path = settings.table_path(table)
    if "://" not in str(path) and not any(Path(path).glob("*=*")):
        return None
    return spark.read.parquet(uri(path))


def manifest_path(settings: Settings, stage: str, key: str) -> Path:
    """Where a stage's run manifest lives, e.g. ``lake/manifests/ingest/landing_dt=2026-01-15.json``."""
    return settings.table_path("manifests") / stage / f"{key}.json"


def write_manifest(settings: Settings, stage: str, key: str, manifest: dict[str, Any]) -> Path:
    path = manifest_path(settings, stage, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    temporary.replace(path)  # atomic: a reader never sees half a manifest
    return path


def read_manifest(settings: Settings, stage: str, key: str) -> dict[str, Any]:
    path = manifest_path(settings, stage, key)
    if not path.exists():
        raise FileNotFoundError(f"no {stage} manifest at {path}: run `emodrift {stage} --date ...` first")
    return json.loads(path.read_text())
