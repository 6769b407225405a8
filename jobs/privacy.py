"""Privacy operations run at the start of every ingest: erase opted-out users, apply retention.

Opt-out: ``EMODRIFT_OPT_OUT_LIST`` names a file of user ids, one a line (``#`` comments and
blank lines ignored). Every row of those users leaves every table, history included, through
the same atomic publishing as the stages; quarantined lines are matched by the ``user_id``
of their JSON or, for lines that are not JSON, by the quoted id appearing in them; every
dashboard those users were part of is rebuilt without them; the ingest manifests of the
landing days whose rows were erased record how many, so the quality gate still reconciles.
New lines of those users are dropped at ingest and counted as ``opted_out``.

Retention: ``EMODRIFT_RETENTION_DAYS`` = N > 0 drops every partition (and dashboard) dated
more than N days before the run date. Manifests and run records hold counts only and stay.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.lake import (
    STAGING, lake_lock, local_path, manifest_path, partition_folders, publish, staging_key, write_manifest,
)
from jobs.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

# table -> partition columns, in folder order
TABLES: dict[str, tuple[str, ...]] = {
    "posts": ("dt", "landing_dt"),
    "scores": ("dt", "landing_dt"),
    "quarantine": ("landing_dt",),
    "sequences": ("dt",),
    "transitions": ("dt",),
    "daily_user_aggregates": ("dt",),  # lakes written before the landing-keyed aggregates
    "daily_user_landing_aggregates": ("dt", "landing_dt"),
}


def read_opt_out(path: Path | None) -> frozenset[str]:
    """The opted-out user ids (empty when no list is configured)."""
    if path is None:
        return frozenset()
    if not path.is_file():
        raise FileNotFoundError(f"opt-out list {path} does not exist: fix EMODRIFT_OPT_OUT_LIST / --opt-out-list")
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def user_of_line(raw_line: str | None) -> str | None:
    """The ``user_id`` a landing line names, if it is a JSON object with a string one."""
    try:
        record = json.loads(raw_line) if raw_line else None
    except (ValueError, RecursionError):
        return None
    user = record.get("user_id") if isinstance(record, dict) else None
    return user.strip() if isinstance(user, str) else None


def run(spark: SparkSession, settings: Settings, run_date: dt.date) -> dict[str, Any]:
    """Erase opted-out users and apply retention; returns (and writes) the privacy manifest."""
    users = read_opt_out(settings.opt_out_path)
    erased = erase_users(spark, settings, users) if users else {"rows": {}, "reports_rebuilt": []}
    dropped = apply_retention(settings, run_date) if settings.retention_days else {}
    manifest = {
        "stage": "privacy",
        "landing_dt": run_date.isoformat(),
        "opted_out_users": len(users),
        "erased_rows": erased["rows"],
        "erased_rows_total": sum(erased["rows"].values()),
        "reports_rebuilt": erased["reports_rebuilt"],
        "retention_days": settings.retention_days,
        "retention_dropped_partitions": dropped,
    }
    write_manifest(settings, "privacy", f"landing_dt={run_date.isoformat()}", manifest)
    return manifest


def _owned_by(table: str, columns: tuple[str, ...], users: frozenset[str]) -> Column:
    from pyspark.sql import functions as F

    if table != "quarantine":
        return F.col("user_id").isin(sorted(users))
    named = F.get_json_object("raw_line", "$.user_id").isin(sorted(users))
    mentioned = [F.instr("raw_line", json.dumps(user)) > 0 for user in sorted(users)]
    condition = named
    for term in mentioned:
        condition = condition | term
    return F.coalesce(condition, F.lit(False))


def erase_users(spark: SparkSession, settings: Settings, users: frozenset[str]) -> dict[str, Any]:
    """Remove every row of ``users`` from every table and rebuild the dashboards they were in."""
    rows: dict[str, int] = {}
    erased_by_landing_day: dict[str, dict[str, int]] = defaultdict(dict)
    report_dates: set[str] = set()
    for table, columns in TABLES.items():
        folder = local_path(settings.table_path(table))
        if not any(folder.glob("*=*")):
            continue
        frame = spark.read.parquet(str(folder))
        hits = frame.where(_owned_by(table, columns, users)).groupBy(*columns).count().collect()
        if not hits:
            continue
        partitions = {"/".join(f"{column}={hit[column]}" for column in columns): hit["count"] for hit in hits}
        _rewrite_without(spark, folder, columns, sorted(partitions), table, users)
        rows[table] = sum(partitions.values())
        for hit in hits:
            if "landing_dt" in columns:
                day = hit["landing_dt"]
                erased_by_landing_day[day][table] = erased_by_landing_day[day].get(table, 0) + hit["count"]
            if table == "sequences":
                report_dates.add(hit["dt"])
    _record_in_ingest_manifests(settings, erased_by_landing_day)
    report_dates |= _reports_naming(settings, users)
    rebuilt = _rebuild_reports(settings, sorted(report_dates))
    return {"rows": dict(sorted(rows.items())), "reports_rebuilt": rebuilt}


def _rewrite_without(
    spark: SparkSession, folder: Path, columns: tuple[str, ...], partitions: list[str], table: str, users: frozenset[str]
) -> None:
    """Publish ``partitions`` again without the users' rows, under every owning stage's lock."""
    keep: DataFrame = (
        spark.read.option("basePath", str(folder)).parquet(*[str(folder / partition) for partition in partitions])
        .where(~_owned_by(table, columns, users))
    )

    def write(data: Path) -> list[str]:
        keep.write.mode("overwrite").partitionBy(*columns).parquet(str(data))
        return partition_folders(data, len(columns))

    owners = sorted({staging_key(_owner_glob(partition)) for partition in partitions})
    with contextlib.ExitStack() as locks:
        for owner in owners:  # a stage publishing the same partitions right now makes this fail
            locks.enter_context(lake_lock(folder.parent, f"publish--{folder.name}--{owner}", purpose="erasing"))
        publish(folder, "erase", write, lambda staged: [partition for partition in partitions if partition not in staged])


def _owner_glob(partition: str) -> str:
    """The ``replaced`` glob of the stage run that owns a partition."""
    parts = partition.split("/")
    return f"dt=*/{parts[1]}" if len(parts) == 2 else partition


def _record_in_ingest_manifests(settings: Settings, erased: dict[str, dict[str, int]]) -> None:
    for day, counts in erased.items():
        path = manifest_path(settings, "ingest", f"landing_dt={day}")
        if not path.is_file():
            continue
        manifest = json.loads(path.read_text())
        for table, name in (("posts", "erased_posts"), ("quarantine", "erased_quarantine")):
            manifest[name] = manifest.get(name, 0) + counts.get(table, 0)
        write_manifest(settings, "ingest", f"landing_dt={day}", manifest)


def _reports_naming(settings: Settings, users: frozenset[str]) -> set[str]:
    """Dates of dashboards that show any of ``users`` (by their pseudonym)."""
    from jobs.report import pseudonymize

    names = [pseudonymize(user, settings.pseudonym_salt) for user in users]
    dates = set()
    for page in settings.table_path("reports").glob("dt=*/dashboard.html"):
        text = page.read_text(encoding="utf-8", errors="replace")
        if any(name in text for name in names):
            dates.add(page.parent.name.split("=", 1)[1])
    return dates


def _rebuild_reports(settings: Settings, dates: list[str]) -> list[str]:
    from jobs import report

    rebuilt = []
    for day in dates:
        if report.report_path(settings, dt.date.fromisoformat(day)).is_file():
            report.run(settings, dt.date.fromisoformat(day))
            rebuilt.append(day)
    return rebuilt


def apply_retention(settings: Settings, run_date: dt.date) -> dict[str, int]:
    """Drop every partition dated before ``run_date - retention_days``; returns counts per table."""
    cutoff = (run_date - dt.timedelta(days=settings.retention_days)).isoformat()
    dropped: dict[str, int] = {}
    for table, columns in {**TABLES, "reports": ("dt",)}.items():
        folder = local_path(settings.table_path(table))
        first = columns[0]
        old = sorted(path for path in folder.glob(f"{first}=*") if path.is_dir() and path.name.split("=", 1)[1] < cutoff)
        with lake_lock(settings.lake, f"publish--{table}--retention", purpose="retention"):
            for path in old:
                trash = folder.parent / STAGING / table / "retention" / path.name
                trash.parent.mkdir(parents=True, exist_ok=True)
                shutil.rmtree(trash, ignore_errors=True)
                path.rename(trash)  # one rename: readers see the partition or nothing, never a part
                shutil.rmtree(trash)
        if old:
            dropped[table] = len(old)
    return dropped
