"""Data-quality gate: a day whose counts do not reconcile fails the run.

Checks read only manifests and Parquet metadata (no Spark), so the gate is cheap enough to run
after every stage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pyarrow.dataset as pads

from jobs.lake import parse_date, read_manifest, retry_vanished
from jobs.settings import Settings

STAGES = ("ingest", "score")


class DataQualityError(ValueError):
    """Raised by :func:`run` when a check fails; the message lists every failed check."""


def count_rows(table_path: Path, **partition_values: str) -> int:
    """Rows of a hive-partitioned Parquet table whose partition columns equal the given values."""
    if not table_path.exists():
        return 0

    def count() -> int:
        dataset = pads.dataset(str(table_path), format="parquet", partitioning="hive")
        names = set(dataset.schema.names)
        expression = None
        for column, value in partition_values.items():
            if column not in names:
                return 0
            term = pads.field(column) == value
            expression = term if expression is None else expression & term
        return dataset.count_rows(filter=expression)

    return retry_vanished(count)  # a partition swapped in while counting: count again


def ingest_problems(manifest: dict, posts_rows: int, quarantine_rows: int) -> list[str]:
    """Why an ingest manifest does not reconcile with itself and with the tables (pure)."""
    problems = []
    read, accepted = manifest["read"], manifest["accepted"]
    quarantined, duplicates = manifest["quarantined"], manifest["duplicates"]
    opted_out = manifest.get("opted_out", 0)  # lines of opted-out users, dropped at ingest
    if read != accepted + quarantined + duplicates + opted_out:
        problems.append(
            f"read {read} != accepted {accepted} + quarantined {quarantined} + duplicates {duplicates}"
            + (f" + opted out {opted_out}" if opted_out else "")
        )
    # rows erased later for opted-out users leave the tables, and their manifest says so
    expected_posts = accepted - manifest.get("erased_posts", 0)
    expected_quarantine = quarantined - manifest.get("erased_quarantine", 0)
    if posts_rows != expected_posts:
        problems.append(f"table posts holds {posts_rows} rows for this landing day, manifest says {expected_posts}")
    if quarantine_rows != expected_quarantine:
        problems.append(f"table quarantine holds {quarantine_rows} rows, manifest says {expected_quarantine}")
    if sum(manifest.get("quarantine_reasons", {}).values()) != quarantined:
        problems.append("quarantine reasons do not add up to the quarantined count")
    return problems


def score_problems(manifest: dict, posts_rows: int, scores_rows: int) -> list[str]:
    """Why a score manifest does not match the posts it scored (pure)."""
    problems = []
    if scores_rows != posts_rows:
        problems.append(f"table scores holds {scores_rows} rows for this landing day, posts holds {posts_rows}")
    if manifest["scored"] != manifest["posts"]:
        problems.append(f"scored {manifest['scored']} of {manifest['posts']} posts")
    return problems


def run(settings: Settings, run_date: dt.date, stages: tuple[str, ...] = STAGES) -> dict[str, object]:
    """Check the given stages for landing day ``run_date``.

    Raises:
        DataQualityError: when any check fails.
    """
    key = f"landing_dt={run_date.isoformat()}"
    day = run_date.isoformat()
    problems: list[str] = []
    posts_rows = count_rows(settings.table_path("posts"), landing_dt=day)
    if "ingest" in stages:
        manifest = read_manifest(settings, "ingest", key)
        quarantine_rows = count_rows(settings.table_path("quarantine"), landing_dt=day)
        problems += [f"ingest: {problem}" for problem in ingest_problems(manifest, posts_rows, quarantine_rows)]
    if "score" in stages:
        manifest = read_manifest(settings, "score", key)
        scores_rows = count_rows(settings.table_path("scores"), landing_dt=day)
        problems += [f"score: {problem}" for problem in score_problems(manifest, posts_rows, scores_rows)]
    if problems:
        raise DataQualityError(f"data-quality check failed for {day}:\n  " + "\n  ".join(problems))
    return {"date": day, "stages": list(stages), "posts": posts_rows, "status": "ok"}


def run_ingest(settings: Settings, run_date: dt.date) -> dict[str, object]:
    """The gate after ingest (the DAG's and the backfill's ``check-ingest`` step)."""
    return run(settings, run_date, ("ingest",))


def run_score(settings: Settings, run_date: dt.date) -> dict[str, object]:
    """The gate after scoring."""
    return run(settings, run_date, ("score",))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="emodrift check",
        description="Fail (exit 1) when a landing day's counts do not reconcile: "
        "read = accepted + quarantined + duplicates, tables match manifests, every post scored.",
    )
    parser.add_argument("--date", required=True, help="landing day, YYYY-MM-DD")
    parser.add_argument("--stage", choices=[*STAGES, "all"], default="all", help="which stage's counts to check")
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings.from_args(args)
    stages = STAGES if args.stage == "all" else (args.stage,)
    try:
        result = run(settings, parse_date(args.date), stages)
    except (FileNotFoundError, ValueError) as error:  # DataQualityError is a ValueError
        print(f"emodrift check: {error}", file=sys.stderr)
        return 1
    print(f"check {result['date']}: {', '.join(stages)} ok ({result['posts']} posts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
