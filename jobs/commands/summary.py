"""``emodrift summary``: what the lake holds after a run, in a few lines."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import pyarrow.dataset as pads

from jobs.lake import parse_date
from jobs.quality import count_rows
from jobs.settings import Settings


def summarise(settings: Settings, run_date: dt.date) -> dict[str, object]:
    """Counts over the whole lake plus the day's transitions and dashboard path."""
    posts_path = settings.table_path("posts")
    users = 0
    if posts_path.exists():
        table = pads.dataset(str(posts_path), format="parquet", partitioning="hive").to_table(columns=["user_id"])
        users = len(set(table.column("user_id").to_pylist()))
    report = settings.table_path("reports") / f"dt={run_date.isoformat()}" / "dashboard.html"
    return {
        "posts": count_rows(posts_path),
        "users": users,
        "quarantined": count_rows(settings.table_path("quarantine")),
        "scored": count_rows(settings.table_path("scores")),
        "transitions": count_rows(settings.table_path("transitions"), dt=run_date.isoformat()),
        "dashboard": str(report.resolve()) if report.exists() else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emodrift summary", description="Print what the lake holds as of a day.")
    parser.add_argument("--date", required=True, help="the as-of day whose transitions and dashboard to show")
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings.from_args(args)
    summary = summarise(settings, parse_date(args.date))
    print(f"emodrift summary as of {args.date} (lake {settings.lake.resolve()})")
    for key in ("posts", "users", "quarantined", "scored", "transitions"):
        print(f"  {key:<12} {summary[key]}")
    if summary["dashboard"] is None:
        print(f"  dashboard    missing: run `emodrift report --date {args.date}`", file=sys.stderr)
        return 1
    print(f"  dashboard    {summary['dashboard']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
