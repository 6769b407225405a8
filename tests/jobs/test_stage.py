"""Stage runs: the run lock, the runs table, and what a failing run records."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from jobs import lake, stage
from jobs.settings import Settings

DAY = dt.date(2026, 1, 15)


def test_runs_table_records_counts_versions_and_failures(tmp_path):
    settings = Settings(lake=tmp_path / "lake")

    def scored(settings, run_date):
        return {"scored": 3, "model_versions": {"text": "t+1", "image": "i+2"}}

    assert stage.run_recorded("score", scored, settings, DAY) == {"scored": 3, "model_versions": {"text": "t+1", "image": "i+2"}}

    def broken(settings, run_date):
        raise ValueError("no landing folder")

    with pytest.raises(ValueError):
        stage.run_recorded("ingest", broken, settings, DAY)

    runs = lake.read_runs(settings)
    assert list(runs["status"]) == ["started", "succeeded", "started", "failed"]
    succeeded = runs[runs["status"] == "succeeded"].iloc[0]
    assert json.loads(succeeded["model_versions"]) == {"text": "t+1", "image": "i+2"}
    assert json.loads(succeeded["counts"])["scored"] == 3
    assert succeeded["ended_at"] >= succeeded["started_at"] and succeeded["date"] == "2026-01-15"
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["stage"] == "ingest" and failed["error"] == "ValueError: no landing folder"


def test_cli_stage_refuses_a_second_run_of_the_same_date(tmp_path, capsys):
    settings_flags = ["--lake", str(tmp_path / "lake")]
    calls = []
    holder = subprocess.Popen(  # another process runs the same stage and date
        [sys.executable, "-c", "import sys, time; from jobs import lake\n"
         "with lake.lake_lock(sys.argv[1], 'stage=report--2026-01-15'):\n    print('held', flush=True); time.sleep(60)",
         str(tmp_path / "lake")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code = stage.run_single_day(
            ["--date", "2026-01-15", *settings_flags], name="report", description="d",
            run=lambda settings, run_date: calls.append(run_date), uses_spark=False,
        )
    finally:
        holder.kill()
        holder.wait()
    assert code == 1 and not calls
    assert "stage=report--2026-01-15 is locked by another run" in capsys.readouterr().err
    assert stage.run_single_day(
        ["--date", "2026-01-15", *settings_flags], name="report", description="d",
        run=lambda settings, run_date: calls.append(run_date), uses_spark=False,
    ) == 0
    assert calls == [DAY]
