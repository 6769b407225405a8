"""What every single-day stage's ``main`` shares: argument parsing, the session, error output."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

from jobs.lake import parse_date
from jobs.settings import Settings


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
) -> int:
    """Parse ``argv``, build the session if needed, call ``run(spark, settings, date)`` (or
    ``run(settings, date)``), print its result and turn expected errors into exit code 1."""
    args = build_parser(f"emodrift {name}", description).parse_args(argv)
    try:
        settings = Settings.from_args(args)
        run_date: dt.date = parse_date(args.date)
    except ValueError as error:
        print(f"emodrift {name}: {error}", file=sys.stderr)
        return 2
    spark = None
    try:
        if uses_spark:
            from jobs.spark import build_session

            spark = build_session(settings, f"emodrift-{name}")
            result = run(spark, settings, run_date)
        else:
            result = run(settings, run_date)
    except (FileNotFoundError, ValueError) as error:
        print(f"emodrift {name}: {error}", file=sys.stderr)
        return 1
    finally:
        if spark is not None:
            spark.stop()
    print(f"{name} {run_date}: {result}")
    return 0
