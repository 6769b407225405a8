"""Kill tests: SIGKILL a stage's driver process group at seeded random moments and while it
swaps partitions in; the lake keeps exactly the previous rows and a rerun converges.

Also here, because they need a lake with real rows: two runs of one date at once, a corrupt
model file, a full disk. Kept lean: one 6-user, 2-day sample, one kill at a random moment and
one during the final write per stage.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from jobs import ingest, lake
from jobs.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.spark]

BIN = Path(sys.executable).parent
START, DAY = "2026-01-01", "2026-01-02"
TABLES = ("posts", "quarantine", "scores", "daily_user_landing_aggregates", "sequences", "transitions")
SPARK_START_S = 15.0
STAGE_TABLES = {"ingest": ("posts", "quarantine"), "score": ("scores",), "drift": ("daily_user_landing_aggregates", "sequences", "transitions")}


def environment(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        EMODRIFT_LANDING=str(root / "landing"), EMODRIFT_LAKE=str(root / "lake"), EMODRIFT_SPARK_MASTER="local[2]",
        EMODRIFT_SHUFFLE_PARTITIONS="2", EMODRIFT_DEVICE="cpu", PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1", PATH=f"{BIN}:{env.get('PATH', '')}",
    )
    return env


def emodrift(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "emodrift"), *args], env=env, capture_output=True, text=True, timeout=900)
    if check:
        assert result.returncode == 0, f"emodrift {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def snapshot(lake_path: Path, tables=TABLES) -> dict[str, list[str]]:
    """Every row of every table as sorted JSON lines: what a reader sees, compared exactly."""
    rows = {}
    for table in tables:
        folder = lake_path / table
        if not folder.is_dir():
            rows[table] = []
            continue
        dataset = ds.dataset(str(folder), format="parquet", partitioning="hive")
        rows[table] = sorted(json.dumps(row, sort_keys=True, default=str) for row in dataset.to_table().to_pylist())
    return rows


@pytest.fixture(scope="module")
def sample_lake(tmp_path_factory) -> tuple[Path, dict[str, str], dict[str, list[str]]]:
    """Two sample days through ingest, score and drift; the rows an uninterrupted run leaves."""
    root = tmp_path_factory.mktemp("kills")
    env = environment(root)
    emodrift(env, "sample", "--users", "6", "--days", "2", "--seed", "3", "--start", START)
    emodrift(env, "backfill", "--start", START, "--end", DAY, "--stages", "ingest,score,drift")
    return root, env, snapshot(root / "lake")


def run_and_kill(env: dict[str, str], stage: str, lake_path: Path, *, after_s: float | None) -> str:
    """Start ``emodrift <stage> --date DAY``; SIGKILL its process group after ``after_s``
    seconds, or (``after_s`` None) the moment a commit record appears in the staging area,
    i.e. while partitions are being swapped in. Returns when the kill happened."""
    process = subprocess.Popen(
        [str(BIN / "emodrift"), stage, "--date", DAY], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    moment = "finished before the kill"
    while process.poll() is None:
        elapsed = time.monotonic() - started
        committing = after_s is None and any((lake_path / lake.STAGING).glob(f"*/*/{lake.COMMITTED}"))
        if committing or (after_s is not None and elapsed >= after_s):
            os.killpg(process.pid, signal.SIGKILL)
            moment = f"killed at {elapsed:.2f}s" + (" during the swap" if committing else "")
            break
        time.sleep(0.005)
    process.wait()
    return moment


@pytest.mark.parametrize("stage", ["ingest", "score", "drift"])
def test_killed_stage_leaves_previous_rows_and_rerun_converges(sample_lake, stage):
    root, env, uninterrupted = sample_lake
    lake_path = root / "lake"
    runs = lake.read_runs(Settings(lake=lake_path))
    backfilled = runs[(runs["stage"] == stage) & (runs["date"] == DAY) & (runs["status"] == "succeeded")].iloc[0]
    # the day's share of the backfill plus a Spark start: about what one CLI run takes here
    full_run_s = (backfilled["ended_at"] - backfilled["started_at"]).total_seconds() + SPARK_START_S
    rng = random.Random(f"kill-{stage}")

    kills = 0
    for after_s in (rng.uniform(0.3, 0.97) * full_run_s, None):
        moment = run_and_kill(env, stage, lake_path, after_s=after_s)
        kills += moment.startswith("killed")
        # a killed run's rows are the previous ones (those it was replacing are equal)
        assert snapshot(lake_path) == uninterrupted, moment

    emodrift(env, stage, "--date", DAY)  # the retry: leftovers recovered, nothing doubled
    assert snapshot(lake_path) == uninterrupted
    assert not any((lake_path / lake.STAGING).glob("*/*"))
    # the stage wrote rows at all (two sample days are too few for a transition, not a sequence)
    assert any(snapshot(lake_path, STAGE_TABLES[stage]).values())
    for table in ("posts", "scores"):
        ids = ds.dataset(str(lake_path / table), format="parquet", partitioning="hive").to_table().column("post_id").to_pylist()
        assert len(ids) == len(set(ids)), f"duplicate post ids in {table}"
    runs = lake.read_runs(Settings(lake=lake_path))
    statuses = runs[(runs["stage"] == stage) & (runs["date"] == DAY)]["status"].value_counts().to_dict()
    assert statuses.get("succeeded", 0) >= 2  # the backfill, the retry
    ended = statuses["succeeded"] + statuses.get("failed", 0)
    # Every end has its start, and a run without an end was killed. A kill can also land after
    # the run recorded its end (during Spark's shutdown): then it leaves both rows.
    assert ended <= statuses["started"] <= ended + kills


def test_second_run_of_the_same_date_is_refused_with_a_clear_message(sample_lake):
    root, env, uninterrupted = sample_lake
    with lake.lake_lock(root / "lake", f"stage=ingest--{DAY}"):
        result = emodrift(env, "ingest", "--date", DAY, check=False)
    assert result.returncode == 1
    assert f"stage=ingest--{DAY} is locked by another run" in result.stderr
    assert snapshot(root / "lake") == uninterrupted


def test_corrupt_or_missing_model_fails_score_before_touching_a_partition(sample_lake, tmp_path):
    root, env, uninterrupted = sample_lake
    corrupt = tmp_path / "text"
    shutil.copytree(Path(__file__).resolve().parents[2] / "models" / "weights" / "text", corrupt)
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # cut short
    result = emodrift(env, "score", "--date", DAY, "--text-model", str(corrupt), check=False)
    assert result.returncode == 1
    assert f"text model at {corrupt} cannot be loaded" in result.stderr and "nothing was scored" in result.stderr
    missing = emodrift(env, "score", "--date", DAY, "--image-model", str(tmp_path / "nowhere"), check=False)
    assert missing.returncode == 1 and "image model at" in missing.stderr
    assert snapshot(root / "lake") == uninterrupted
    runs = lake.read_runs(Settings(lake=root / "lake"))
    assert "cannot be loaded" in runs[runs["status"] == "failed"]["error"].iloc[-1]


def test_full_disk_fails_cleanly_and_keeps_previous_rows(spark, tmp_path):
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)]).returncode:
        pytest.skip("needs root and mount -t tmpfs to give the lake a small disk")
    try:
        settings = Settings(landing=tmp_path / "landing", lake=mount / "lake", spark_master="local[2]", shuffle_partitions=2)
        folder = settings.landing / f"dt={DAY}"
        folder.mkdir(parents=True)
        record = {"user_id": "u1", "created_at": f"{DAY}T10:00:00Z", "text": "fine", "image": None}
        (folder / "posts.jsonl").write_text("".join(json.dumps({**record, "post_id": f"p{n}"}) + "\n" for n in range(50)))
        day = lake.parse_date(DAY)
        ingest.run(spark, settings, day)
        before = snapshot(settings.lake, ("posts", "quarantine"))
        with open(mount / "filler", "wb") as filler:  # fill the disk to the last block
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        with pytest.raises(Exception) as failure:
            ingest.run(spark, settings, day)
        assert "No space left on device" in str(failure.value) or "ENOSPC" in str(failure.value) or isinstance(failure.value, OSError)
        assert snapshot(settings.lake, ("posts", "quarantine")) == before
        assert not any((settings.lake / lake.STAGING).glob("*/*"))  # the failed write's staging is gone
        (mount / "filler").unlink()
        ingest.run(spark, settings, day)  # space again: the rerun succeeds with the same rows
        assert snapshot(settings.lake, ("posts", "quarantine")) == before
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_opt_out_erases_a_user_everywhere_and_retention_drops_old_partitions(sample_lake, spark, tmp_path):
    from jobs import privacy, quality, report

    source, _, uninterrupted = sample_lake
    shutil.copytree(source / "lake", tmp_path / "lake")
    opt_out = tmp_path / "opt-out.txt"
    settings = Settings(landing=source / "landing", lake=tmp_path / "lake", spark_master="local[2]", shuffle_partitions=2,
                        opt_out_list=str(opt_out))
    day = lake.parse_date(DAY)
    report.run(settings, day)
    sequences = ds.dataset(str(settings.table_path("sequences")), format="parquet", partitioning="hive").to_table().to_pandas()
    user = sorted(sequences["user_id"])[0]
    opt_out.write_text(f"# erasure requests\n{user}\n\n")
    pseudonym = report.pseudonymize(user, settings.pseudonym_salt)
    before = {table: sum(json.loads(row).get("user_id") == user or f'"{user}"' in json.loads(row).get("raw_line", "")
                         for row in rows) for table, rows in snapshot(settings.lake).items()}
    assert before["posts"] and before["scores"] and before["sequences"]

    manifest = ingest.run(spark, settings, day)

    after = snapshot(settings.lake)
    for table, rows in after.items():
        assert not any(user in row for row in rows), f"{user} still in {table}"
        assert len(rows) == len(uninterrupted[table]) - before[table], table
    erased = json.loads((settings.lake / "manifests" / "privacy" / f"landing_dt={DAY}.json").read_text())
    assert erased["erased_rows"] == {table: count for table, count in before.items() if count}
    assert manifest["erased_rows_total"] == sum(before.values())
    assert manifest["opted_out"] > 0  # the landing day's own lines of the user were dropped, counted
    assert erased["reports_rebuilt"] == [DAY]
    assert pseudonym not in report.report_path(settings, day).read_text()
    for landing_day in (START, DAY):
        quality.run_ingest(settings, lake.parse_date(landing_day))  # still reconciles
    again = ingest.run(spark, settings, day)  # idempotent: nothing left to erase
    assert again["erased_rows_total"] == 0 and snapshot(settings.lake) == after

    retained = Settings(lake=settings.lake, retention_days=1)
    dropped = privacy.apply_retention(retained, lake.parse_date("2026-01-03"))  # keeps 01-02 and later
    assert dropped["posts"] == dropped["scores"] == dropped["sequences"] == dropped["quarantine"] == 1
    remaining = snapshot(settings.lake)
    assert remaining["posts"] and all('"dt": "2026-01-01"' not in row for row in remaining["posts"])
    assert all('"landing_dt": "2026-01-01"' not in row for row in remaining["quarantine"])
