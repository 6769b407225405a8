"""Backfill: every stage over a date range, one Spark application per stage.

Each stage runs the very ``run(spark, settings, date)`` the nightly DAG submits, day by day
in date order inside one application, so a backfill leaves the same rows as nightly runs
while paying Spark's start-up and the model loading once per stage instead of once per day.
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
    """Run the chosen stages over ``dates``; returns each stage's result per date."""
    unknown = set(stage_names) - set(STAGE_NAMES)
    if unknown:
        raise ValueError(f"unknown stage(s) {sorted(unknown)}; choose from {', '.join(STAGE_NAMES)}")
    results: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        if stage.name not in stage_names:
            continue
        function = stage.function()
        spark = None
        if stage.uses_spark:
            from jobs.spark import build_session

            spark = build_session(settings, f"emodrift-backfill-{stage.name}")
        started = time.perf_counter()
        results[stage.name] = {}
        try:
            for position, day in enumerate(dates, start=1):
                day_started = time.perf_counter()
                result = run_recorded(stage.name, function, settings, day, spark)  # locked, recorded in runs
                results[stage.name][day.isoformat()] = result
                log(
                    f"[{stage.name} {position}/{len(dates)}] {day} done in "
                    f"{time.perf_counter() - day_started:.1f}s"
                )
        finally:
            if spark is not None:
                spark.stop()
        log(f"[{stage.name}] {len(dates)} day(s) in {time.perf_counter() - started:.1f}s")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="emodrift backfill",
        description="Run ingest, checks, score, drift and report for every day from --start to --end "
        "(inclusive), one Spark application per stage. Safe to rerun: every stage overwrites its day.",
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
