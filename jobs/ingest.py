"""Ingest one landing day: validate every line, quarantine the bad ones, write table ``posts``.

    landing/dt=D/*.jsonl  ->  posts/dt=<UTC date of created_at>/landing_dt=D/
                          ->  quarantine/landing_dt=D/
                          ->  manifests/ingest/landing_dt=D.json

A post belongs to the UTC date of its ``created_at`` (late arrivals land in an earlier
``dt``), while the second partition level, ``landing_dt``, remembers which landing day wrote
it: rerunning landing day D deletes and rewrites exactly ``posts/dt=*/landing_dt=D`` and never
touches rows other landing days wrote.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from jobs.contract import UNBOUNDED, PlausibleWindow, Post, Reason, decode_line, validate_line
from jobs import privacy
from jobs.lake import replace_partitions, uri, write_manifest
from jobs.privacy import user_of_line
from jobs.settings import Settings
from jobs.stage import run_single_day

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

VALIDATED_SCHEMA = (
    "source_file string, line_number long, post_id string, user_id string, created_at timestamp, "
    "text string, image_path string, dt string, reason string, detail string, raw_line string"
)
VALIDATED_COLUMNS = [part.split()[0] for part in VALIDATED_SCHEMA.split(", ")]
OPTED_OUT = "opted_out"  # not a quarantine reason: the line is counted, then forgotten
POSTS_COLUMNS = ["post_id", "user_id", "created_at", "text", "image_path", "dt", "landing_dt"]
QUARANTINE_COLUMNS = ["source_file", "line_number", "reason", "detail", "raw_line", "landing_dt"]


def landing_day_path(settings: Settings, landing_date: dt.date) -> Path:
    return settings.landing / f"dt={landing_date.isoformat()}"


def extract(spark: SparkSession, landing_folder: Path) -> DataFrame:
    """Every line of the day's ``*.jsonl`` files with its file and position.

    Lines stay raw bytes (``raw_line`` is binary): Spark's text reader does not check UTF-8,
    and a string column holding bytes that are not UTF-8 makes Arrow fail the whole batch,
    so decoding happens per line in :func:`validate_lines`, where a bad line is quarantined.

    The position is a monotonically increasing id: within one file it grows with the byte
    offset, so ordering by (file, position) is the file's line order whatever the partitioning,
    which is what makes the duplicate rule below deterministic.
    """
    from pyspark.sql import functions as F

    files = sorted(str(path.resolve()) for path in landing_folder.glob("*.jsonl"))
    if not files:
        return spark.createDataFrame([], "source_file string, line_number long, raw_line binary")
    return spark.read.text(files).select(
        F.regexp_replace(F.input_file_name(), "^file:", "").alias("source_file"),
        F.monotonically_increasing_id().alias("line_number"),
        F.col("value").cast("binary").alias("raw_line"),
    )


def validate_lines(
    lines: pd.DataFrame,
    landing_folder: str,
    image_exists=None,
    window: PlausibleWindow = UNBOUNDED,
    opted_out: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """Validate a batch of raw lines (pure apart from the image existence check); never raises.

    Args:
        lines: columns source_file, line_number, raw_line (bytes as read, or text).
        landing_folder: absolute path of the landing day; image paths are resolved against it.
        image_exists: predicate on an absolute image path; defaults to the local file system.
        window: the plausible ``created_at`` range of this landing day.
        opted_out: user ids whose lines are dropped (reason ``opted_out``, nothing of the
            line kept), valid or not.

    Returns:
        One row per input line in :data:`VALIDATED_SCHEMA` order; ``reason`` is null for
        valid posts. ``raw_line`` is the text of a quarantined line (U+FFFD where its bytes
        were not UTF-8; those lines' details carry the exact bytes in base64) and null for a
        valid post or an opted-out line: nothing downstream reads a valid line's raw text, and
        not sending it back from Python halves what this step returns.
    """
    image_exists = image_exists or _is_file
    # column lists, not a dict per row: the batch is 10,000 lines (profile in
    # benchmarks/RESULTS.md "Nightly at scale")
    columns: dict[str, list] = {name: [] for name in VALIDATED_COLUMNS}
    for source_file, line_number, raw_line in zip(lines["source_file"], lines["line_number"], lines["raw_line"]):
        text_line, decode_error = decode_line(raw_line)
        result = validate_line(raw_line if decode_error is not None else text_line, window)
        post_id = user_id = created_at = text = image_path = day = reason = detail = kept_line = None
        if isinstance(result, Post):
            image_path = f"{landing_folder}/{result.image}" if result.image else None
            if image_path is not None and not image_exists(image_path):
                reason, detail, kept_line = Reason.IMAGE_MISSING, f"image file not found: {result.image!r}", text_line
                image_path = None
            else:
                post_id, user_id, text, day = result.post_id, result.user_id, result.text, result.dt
                # naive UTC: Spark's session time zone is UTC, so this is the same instant
                created_at = result.created_at.replace(tzinfo=None)
        else:
            reason, detail, kept_line = result.reason, result.detail, text_line
        if opted_out and (user_id or user_of_line(text_line)) in opted_out:
            post_id = user_id = created_at = text = image_path = day = detail = kept_line = None
            reason = OPTED_OUT
        for name, value in (
            ("source_file", source_file), ("line_number", line_number), ("post_id", post_id), ("user_id", user_id),
            ("created_at", created_at), ("text", text), ("image_path", image_path), ("dt", day),
            ("reason", reason), ("detail", detail), ("raw_line", kept_line),
        ):
            columns[name].append(value)
    frame = pd.DataFrame(columns, columns=VALIDATED_COLUMNS)
    frame["created_at"] = pd.to_datetime(frame["created_at"])
    frame["line_number"] = frame["line_number"].astype("int64")
    return frame


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)  # not Path(path).is_file(): a Path object per image costs more than the stat
    except (OSError, ValueError):  # a name too long for the file system, an embedded NUL
        return False


def validate(
    lines: DataFrame,
    *,
    landing_date: dt.date,
    landing_folder: str,
    earliest_created: dt.date = dt.date(2000, 1, 1),
    opted_out: frozenset[str] = frozenset(),
) -> DataFrame:
    """Every raw line through :func:`validate_lines` (one Python pass over the day), with
    ``landing_dt``: :data:`VALIDATED_SCHEMA` rows, ``reason`` null for valid posts."""
    from pyspark.sql import functions as F

    window = PlausibleWindow.for_landing_day(landing_date, earliest_created)

    def validate_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield validate_lines(batch, landing_folder, window=window, opted_out=opted_out)

    return lines.mapInPandas(validate_batches, VALIDATED_SCHEMA).withColumn("landing_dt", F.lit(landing_date.isoformat()))


def split(validated: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame, DataFrame]:
    """Split validated lines into (posts, quarantine, duplicates, opted-out lines).

    Duplicates of a ``post_id`` keep the first occurrence in (file name, line) order; the
    others are counted, not quarantined, since they are not errors.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first_occurrence = Window.partitionBy("post_id").orderBy("source_file", "line_number")
    valid = validated.where(F.col("reason").isNull()).withColumn("occurrence", F.row_number().over(first_occurrence))
    posts = valid.where(F.col("occurrence") == 1).select(*POSTS_COLUMNS)
    duplicates = valid.where(F.col("occurrence") > 1).select("post_id", "source_file", "line_number")
    rejected = validated.where(F.col("reason").isNotNull())
    quarantine = rejected.where(F.col("reason") != OPTED_OUT).select(*QUARANTINE_COLUMNS)
    opted = rejected.where(F.col("reason") == OPTED_OUT).select("source_file", "line_number")
    return posts, quarantine, duplicates, opted


def load(posts: DataFrame, quarantine: DataFrame, settings: Settings, landing_date: dt.date) -> None:
    """Replace what this landing day wrote before, in both tables."""
    day = landing_date.isoformat()
    replace_partitions(posts.repartition("dt"), settings.table_path("posts"), ["dt", "landing_dt"], f"dt=*/landing_dt={day}")
    replace_partitions(quarantine.coalesce(1), settings.table_path("quarantine"), ["landing_dt"], f"landing_dt={day}")


def run(spark: SparkSession, settings: Settings, run_date: dt.date) -> dict[str, object]:
    """Ingest landing day ``run_date``; returns (and writes) the manifest of counts."""
    folder = landing_day_path(settings, run_date)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"landing folder {folder} does not exist: check --landing / EMODRIFT_LANDING "
            f"(or create an empty folder to record a day without posts)"
        )
    privacy_manifest = privacy.run(spark, settings, run_date)  # erase opted-out users, apply retention
    lines = extract(spark, folder)
    validated = validate(
        lines, landing_date=run_date, landing_folder=uri(folder), earliest_created=settings.earliest_created_date,
        opted_out=privacy.read_opt_out(settings.opt_out_path),
    )
    # Cached so the day's lines cross into Python once: each split (and each count) would
    # otherwise run the validation again (benchmarks/RESULTS.md "Nightly at scale").
    # Unpersisted below, because Spark matches cached plans by equality and a rerun over
    # rewritten files would otherwise reuse these stale rows.
    validated = validated.cache()
    posts, quarantine, duplicates, opted = split(validated)
    posts, duplicates = posts.cache(), duplicates.cache()  # the dedup window runs once
    frames = (validated, posts, duplicates)
    try:
        load(posts, quarantine, settings, run_date)
        manifest = _manifest(folder, run_date, validated, posts, quarantine, duplicates)
        manifest["opted_out"] = opted.count()
        manifest["erased_rows_total"] = privacy_manifest["erased_rows_total"]
    finally:
        for frame in frames:
            frame.unpersist()
    write_manifest(settings, "ingest", f"landing_dt={run_date.isoformat()}", manifest)
    return manifest


def _manifest(folder: Path, run_date: dt.date, validated, posts, quarantine, duplicates) -> dict[str, object]:
    from pyspark.sql import functions as F

    reasons = {row["reason"]: row["count"] for row in quarantine.groupBy("reason").count().collect()}
    per_dt = {row["dt"]: row["count"] for row in posts.groupBy("dt").count().collect()}
    return {
        "stage": "ingest",
        "landing_dt": run_date.isoformat(),
        "files": len(list(folder.glob("*.jsonl"))),
        "read": validated.count(),  # one row per line read
        "accepted": sum(per_dt.values()),
        "quarantined": sum(reasons.values()),
        "duplicates": duplicates.count(),
        "quarantine_reasons": dict(sorted(reasons.items())),
        "accepted_by_dt": dict(sorted(per_dt.items())),
        "users": posts.select("user_id").distinct().count(),
        "posts_with_image": posts.where(F.col("image_path").isNotNull()).count(),
    }


def main(argv: list[str] | None = None) -> int:
    return run_single_day(
        argv,
        name="ingest",
        description="Validate landing/dt=DATE/*.jsonl into table posts; bad lines go to table quarantine.",
        run=run,
    )


if __name__ == "__main__":
    raise SystemExit(main())
