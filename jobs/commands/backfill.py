"""Backfill: every stage over a date range, day by day, in one Spark application.

Each stage runs the very ``run(spark, settings, date)`` the nightly DAG submits; each day goes
through all its stages before the next day starts, inside one application, so a backfill
leaves the same rows as nightly runs while paying Spark's start-up and the model loading once
instead of once per day.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import sys
import time
from collections.abc import Callable
from typing import Any

from jobs.lake import LakeBusyError, date_range, parse_date
from jobs.settings import Settings
from jobs.stage import run_recorded


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    target: str  # module:function with signature run(spark, settings, date) or run(settings, date)
    uses_spark: bool

    def function(self) -> Callable[..., Any]:
        module_name, function_name = self.target.split(":")
        return getattr(importlib.import_module(module_name), function_name)


STAGES: tuple[Stage, ...] = (
    Stage("ingest", "jobs.ingest:run", uses_spark=True),
    Stage("check-ingest", "jobs.quality:run_ingest", uses_spark=False),
    Stage("score", "jobs.score:run", uses_spark=True),
    Stage("check-score", "jobs.quality:run_score", uses_spark=False),
    Stage("drift", "jobs.detect_drift:run", uses_spark=True),
    Stage("report", "jobs.report:run", uses_spark=False),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)


def run_backfill(
    settings: Settings,
    dates: list[dt.date],
    stage_names: tuple[str, ...] = STAGE_NAMES,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Run the chosen stages over ``dates``, day by day; returns each stage's result per date.

    Days go in order and each day runs all its stages before the next day starts, exactly as
    the nightly DAG does. Running stage by stage instead (every day's scores before the first
    day's drift) would let an as-of snapshot see posts that landed after its date (late
    posts), so a backfill would not leave the rows the nightly runs leave. One Spark
    application serves every stage and day, so start-up and model loading are paid once.
    """
    unknown = set(stage_names) - set(STAGE_NAMES)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; choose from {', '.join(STAGE_NAMES)}")
    chosen = [stage for stage in STAGES if stage.name in stage_names]
    functions = {stage.name: stage.function() for stage in chosen}
    results: dict[str, dict[str, Any]] = {stage.name: {} for stage in chosen}
    elapsed = {stage.name: 0.0 for stage in chosen}
    spark = None
    if any(stage.uses_spark for stage in chosen):
        from jobs.spark import build_session

        spark = build_session(settings, "emodrift-backfill")
    try:
        for position, day in enumerate(dates, start=1):
            for stage in chosen:
                started = time.perf_counter()
                stage_spark = spark if stage.uses_spark else None
                result = run_recorded(stage.name, functions[stage.name], settings, day, stage_spark)  # locked, recorded in runs
                results[stage.name][day.isoformat()] = result
                elapsed[stage.name] += time.perf_counter() - started
                log(f"[{stage.name} {position}/{len(dates)}] {day} done in {time.perf_counter() - started:.1f}s")
    finally:
        if spark is not None:
            spark.stop()
    for stage in chosen:
        log(f"[{stage.name}] {len(dates)} day(s) in {elapsed[stage.name]:.1f}s")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="emodrift backfill",
        description="Run ingest, checks, score, drift and report for every day from --start to --end "
        "(inclusive), each day through every stage before the next, in one Spark application. "
        "Safe to rerun: every stage overwrites its day.",
    )
    parser.add_argument("--start", required=True, help="first landing day, YYYY-MM-DD")
    parser.add_argument("--end", required=True, help="last landing day, YYYY-MM-DD (inclusive)")
    parser.add_argument(
        "--stages",
        default=",".join(STAGE_NAMES),
        help=f"comma-separated subset of {','.join(STAGE_NAMES)} (default: all, in that order)",
    )
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_args(args)
        dates = date_range(parse_date(args.start), parse_date(args.end))
        stage_names = tuple(name.strip() for name in args.stages.split(",") if name.strip())
        run_backfill(settings, dates, stage_names)
    except (ValueError, FileNotFoundError, LakeBusyError) as error:  # bad arguments, missing input, DataQualityError
        print(f"emodrift backfill: {error}", file=sys.stderr)
        return 1
    print(f"backfill {args.start}..{args.end}: {len(dates)} day(s), stages {', '.join(stage_names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
