"""A backfill through Airflow against the same backfill through ``emodrift backfill``.

    python benchmarks/airflow_backfill.py --days 30 [--modes range,daily] [--daily-days 2] [--reuse]

On one sample landing (``emodrift sample --users 40 --days D``), in Spark local[2]:
  cli    ``emodrift backfill --start A --end B``                       (no scheduler)
  range  ``scripts/airflow_backfill.sh A B`` (BACKFILL_MODE=range): a real scheduler, DAG
         processor and API server on SQLite + LocalExecutor, one run of emotion_drift_backfill
  daily  the same script with BACKFILL_MODE=daily: ``airflow backfill create`` on
         emotion_drift_nightly, one DAG run a day (slow: ``--daily-days`` days only)
and prints wall seconds (total and per day), the ratio to the CLI, and where the time of
each Airflow run went (task durations and the gaps between tasks from the metadata database).
The Airflow lakes are compared with the CLI's table by table (same rows, floats rounded to
1e-5). Wall times include Airflow's start-up (~30-60 s); the machine is shared, so read
ratios and note the load average printed beside them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# the tables a backfill writes and the columns that identify a row
TABLE_KEYS = {
    "posts": ["landing_dt", "post_id"],
    "quarantine": ["landing_dt", "source_file", "line_number"],
    "scores": ["landing_dt", "post_id"],
    "sequences": ["dt", "user_id", "day"],
    "transitions": ["dt", "user_id", "changed_at"],
}


def environment(landing: Path, lake: Path, airflow_home: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        EMODRIFT_LANDING=str(landing), EMODRIFT_LAKE=str(lake),
        EMODRIFT_SPARK_MASTER="local[2]", EMODRIFT_SHUFFLE_PARTITIONS="2",
        PATH=f"{BIN}:{env.get('PATH', '')}", PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
    )
    if airflow_home is not None:
        env.update(AIRFLOW_HOME=str(airflow_home), AIRFLOW__API__PORT="28381",
                   AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="28394")
    return env


def timed_run(command: list[str], env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as output:
        result = subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed (rc {result.returncode}); see {log}")
    return seconds


def canonical_table(lake: Path, table: str) -> pd.DataFrame:
    """A table's rows as sorted JSON strings (floats rounded), for an exact comparison."""
    path = lake / table
    if not path.exists():
        return pd.DataFrame()
    frame = pd.read_parquet(path)

    def plain(value: object) -> object:
        if hasattr(value, "tolist"):
            value = value.tolist()
        if isinstance(value, float):
            return round(value, 5)
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    rows = frame.astype({column: str for column in frame.columns if isinstance(frame[column].dtype, pd.CategoricalDtype)})
    keys = [key for key in TABLE_KEYS[table] if key in rows.columns]
    rows = rows.sort_values(keys).reset_index(drop=True)
    return rows.apply(lambda row: json.dumps({column: plain(row[column]) for column in sorted(rows.columns)}, default=str), axis=1)


def compare_lakes(expected: Path, actual: Path) -> dict[str, int]:
    """Row counts per table; raises when a table differs."""
    counts = {}
    for table in TABLE_KEYS:
        left, right = canonical_table(expected, table), canonical_table(actual, table)
        if len(left) != len(right) or not (left.to_numpy() == right.to_numpy()).all():
            raise SystemExit(f"{table}: {actual} differs from {expected} ({len(left)} vs {len(right)} rows)")
        counts[table] = len(left)
    return counts


def where_the_time_went(airflow_home: Path) -> list[str]:
    """Per task: runs, median duration, median wait from the upstream task's end (queueing,
    scheduling, process start) read from Airflow's SQLite metadata database."""
    database = airflow_home / "airflow.db"
    if not database.exists():
        return ["(no SQLite metadata database: durations not read)"]
    with sqlite3.connect(database) as connection:
        instances = pd.read_sql(
            "select dag_id, run_id, task_id, start_date, end_date, queued_dttm, duration from task_instance "
            "where state = 'success'", connection)
        runs = pd.read_sql("select run_id, start_date, end_date from dag_run where state = 'success'", connection)
    lines = []
    for column in ("start_date", "end_date", "queued_dttm"):
        instances[column] = pd.to_datetime(instances[column], format="mixed", utc=True)
    for column in ("start_date", "end_date"):
        runs[column] = pd.to_datetime(runs[column], format="mixed", utc=True)
    run_seconds = (runs["end_date"] - runs["start_date"]).dt.total_seconds()
    lines.append(f"  DAG runs: {len(runs)}, median {run_seconds.median():.1f} s from run start to run end")
    instances = instances.sort_values(["run_id", "start_date"])
    instances["gap_s"] = (instances["start_date"] - instances.groupby("run_id")["end_date"].shift()).dt.total_seconds()
    instances["queued_s"] = (instances["start_date"] - instances["queued_dttm"]).dt.total_seconds()
    busy = instances.groupby("run_id")["duration"].sum()
    for task_id, rows in instances.groupby("task_id", sort=False):
        gap = rows["gap_s"].dropna()
        lines.append(
            f"  {task_id:14s} x{len(rows):<3d} median {rows['duration'].median():6.1f} s in the task"
            f"   median {gap.median() if len(gap) else float('nan'):5.1f} s after the task before it"
            f"   ({rows['queued_s'].median():4.1f} s of it queued)"
        )
    lines.append(f"  task time {busy.median():.1f} s of a median run's {run_seconds.median():.1f} s")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30, help="landing days backfilled by cli and range")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2026-01-01")
    parser.add_argument("--modes", default="range", help="comma-separated Airflow modes: range, daily")
    parser.add_argument("--daily-days", type=int, default=2, help="days the daily mode backfills (it is ~10x slower)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/emodrift-airflow-backfill"))
    parser.add_argument("--reuse", action="store_true", help="keep the sample landing of an earlier run")
    args = parser.parse_args(argv)
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if set(modes) - {"range", "daily"}:
        parser.error(f"unknown mode(s) in {args.modes}")

    landing = args.work / "landing"
    if not (args.reuse and landing.is_dir()):
        shutil.rmtree(args.work, ignore_errors=True)
        args.work.mkdir(parents=True)
        timed_run([str(BIN / "emodrift"), "sample", "--users", str(args.users), "--days", str(args.days),
                   "--seed", str(args.seed), "--start", args.start],
                  environment(landing, args.work / "unused"), args.work / "sample.log")
    first = dt.date.fromisoformat(args.start)

    def last_of(days: int) -> str:
        return (first + dt.timedelta(days=days - 1)).isoformat()

    print(f"sample: {args.users} users, {args.days} days from {args.start}; Spark local[2]; "
          f"load average at start {os.getloadavg()[0]:.1f}", flush=True)
    figures: dict[str, tuple[int, float]] = {}
    for name in ("cli", *modes):
        days = args.daily_days if name == "daily" else args.days
        lake, home = args.work / f"lake-{name}", args.work / f"airflow-{name}"
        shutil.rmtree(lake, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        if name == "cli":
            command = [str(BIN / "emodrift"), "backfill", "--start", args.start, "--end", last_of(days)]
            env = environment(landing, lake)
        else:
            command = ["bash", str(REPO_ROOT / "scripts" / "airflow_backfill.sh"), args.start, last_of(days), "7200"]
            env = environment(landing, lake, home) | {"BACKFILL_MODE": name}
        seconds = timed_run(command, env, args.work / f"{name}.log")
        figures[name] = (days, seconds)
        cli_per_day = figures["cli"][1] / figures["cli"][0]
        print(f"{name:6s} {days:3d} days  {seconds:7.1f} s  {seconds / days:6.1f} s/day  "
              f"{seconds / days / cli_per_day:5.2f}x the CLI per day   load {os.getloadavg()[0]:.1f}", flush=True)
        if name != "cli":
            for line in where_the_time_went(home):
                print(line, flush=True)
            if days == figures["cli"][0]:
                counts = compare_lakes(args.work / "lake-cli", lake)
            else:  # fewer days: compare with a CLI lake of the same days
                reference = args.work / f"lake-cli-{days}"
                if not reference.exists():
                    timed_run([str(BIN / "emodrift"), "backfill", "--start", args.start, "--end", last_of(days)],
                              environment(landing, reference), args.work / f"cli-{days}.log")
                counts = compare_lakes(reference, lake)
            print(f"  same rows as the CLI: {counts}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
