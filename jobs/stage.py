"""What every stage run shares: argument parsing, the session, the run lock, leftover
recovery, the ``runs`` record and error output."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import socket
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from jobs.lake import LakeBusyError, append_run_record, lake_lock, parse_date, recover_staging
from jobs.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclasses.dataclass
class StageRun:
    """One run of one stage for one date, as the ``runs`` table records it."""

    stage: str
    date: str
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    started_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    result: Any = None
    model_versions: dict[str, str] = dataclasses.field(default_factory=dict)
    spark_application_id: str | None = None

    def record(self, status: str, ended_at: dt.datetime | None = None, error: str | None = None) -> dict[str, Any]:
        counts = self.result if isinstance(self.result, dict) else {"result": str(self.result)} if self.result else {}
        return {
            "run_id": self.run_id, "stage": self.stage, "date": self.date, "status": status,
            "started_at": self.started_at, "ended_at": ended_at,
            "counts": json.dumps(counts, sort_keys=True, default=str),
            "model_versions": json.dumps(self.model_versions, sort_keys=True),
            "spark_application_id": self.spark_application_id, "error": error,
            "host": socket.gethostname(), "pid": os.getpid(),
        }


@contextlib.contextmanager
def stage_run(settings: Settings, stage: str, run_date: dt.date, spark: SparkSession | None = None) -> Iterator[StageRun]:
    """Run a stage for a date under its lock, after recovering killed runs' leftovers, and
    append ``started`` then ``succeeded``/``failed`` rows to table ``runs``.

    Raises:
        LakeBusyError: another live run of the same stage and date holds the lock.
    """
    run = StageRun(stage, run_date.isoformat())
    if spark is not None:
        run.spark_application_id = spark.sparkContext.applicationId
    with lake_lock(settings.lake, f"stage={stage}--{run.date}", purpose=f"emodrift {stage} --date {run.date}"):
        recover_staging(settings.lake)
        append_run_record(settings, run.record("started"))
        try:
            yield run
        except BaseException as error:
            message = "".join(traceback.format_exception_only(error)).strip()
            append_run_record(settings, run.record("failed", dt.datetime.now(dt.timezone.utc), message[-2000:]))
            raise
        append_run_record(settings, run.record("succeeded", dt.datetime.now(dt.timezone.utc)))


def run_recorded(stage: str, function: Callable[..., Any], settings: Settings, run_date: dt.date, spark: SparkSession | None = None) -> Any:
    """``function(spark, settings, date)`` (or ``function(settings, date)``) inside :func:`stage_run`."""
    with stage_run(settings, stage, run_date, spark) as run:
        run.result = function(spark, settings, run_date) if spark is not None else function(settings, run_date)
        run.model_versions = _model_versions(run.result)
        return run.result


def _model_versions(result: Any) -> dict[str, str]:
    versions = result.get("model_versions") if isinstance(result, dict) else None
    return dict(versions) if isinstance(versions, dict) else {}


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """``--date`` plus every settings flag."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--date", required=True, help="the day to process, YYYY-MM-DD")
    Settings.add_arguments(parser)
    return parser


def run_single_day(
    argv: list[str] | None,
    *,
    name: str,
    description: str,
    run: Callable[..., Any],
    uses_spark: bool = True,
    output: Callable[[dt.date, Any], str] | None = None,
) -> int:
    """Parse ``argv``, build the session if needed, call ``run(spark, settings, date)`` (or
    ``run(settings, date)``) as a recorded stage run, print its result and turn expected
    errors into exit code 1."""
    args = build_parser(f"emodrift {name}", description).parse_args(argv)
    try:
        settings = Settings.from_args(args)
        run_date: dt.date = parse_date(args.date)
    except ValueError as error:
        print(f"emodrift {name}: {error}", file=sys.stderr)
        return 2
    spark = None
    try:
        # the lock comes first: a refused run should not pay for starting Spark
        with stage_run(settings, name, run_date) as record:
            if uses_spark:
                from jobs.spark import build_session

                spark = build_session(settings, f"emodrift-{name}")
                record.spark_application_id = spark.sparkContext.applicationId
            result = record.result = run(spark, settings, run_date) if uses_spark else run(settings, run_date)
            record.model_versions = _model_versions(result)
    except (FileNotFoundError, ValueError, LakeBusyError) as error:
        print(f"emodrift {name}: {error}", file=sys.stderr)
        return 1
    finally:
        if spark is not None:
            spark.stop()
    print(output(run_date, result) if output else f"{name} {run_date}: {result}")
    return 0
