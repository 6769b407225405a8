"""Atomic partition publishing, leftover recovery and the lake's run locks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pandas as pd
import pyarrow.dataset as ds
import pytest

from jobs import lake


def read_partition(table, partition: str) -> list[str]:
    """What a reader sees in one partition right now (pyarrow skips hidden files)."""
    folder = table / partition
    if not folder.is_dir():
        return []
    return sorted(ds.dataset(str(folder), format="parquet").to_table().column("post_id").to_pylist())


def test_lock_refuses_a_second_process_and_is_released_when_the_holder_dies(tmp_path):
    with lake.lake_lock(tmp_path, "stage=ingest--2026-01-15"):
        with lake.lake_lock(tmp_path, "stage=ingest--2026-01-15"):  # re-entrant in one process
            pass
        script = "import sys; from jobs import lake\nwith lake.lake_lock(sys.argv[1], 'stage=ingest--2026-01-15'): pass"
        other = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True)
        assert other.returncode != 0
        assert "is locked by another run (pid" in other.stderr and "refused" in other.stderr
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from jobs import lake\n"
         "with lake.lake_lock(sys.argv[1], 'x'):\n    print('held', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(lake.LakeBusyError):
        with lake.lake_lock(tmp_path, "x"):
            pass
    holder.kill()  # SIGKILL: the kernel drops the lock with the process
    holder.wait()
    with lake.lake_lock(tmp_path, "x"):
        pass


def test_object_store_lake_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="Delta Lake or Iceberg"):
        lake.local_path("s3a://bucket/lake/posts")


@pytest.mark.spark
def test_replace_partitions_is_atomic_for_readers_and_recovers_leftovers(spark, tmp_path):
    table = tmp_path / "lake" / "posts"

    def frame(ids: list[str], dts: list[str]):
        return spark.createDataFrame(pd.DataFrame({"post_id": ids, "dt": dts, "landing_dt": "2026-01-15"}))

    versions = {
        "a": frame(["a1", "a2", "a3"], ["2026-01-15", "2026-01-15", "2026-01-14"]),
        "b": frame(["b1", "b2", "b3"], ["2026-01-15", "2026-01-15", "2026-01-15"]),
    }
    expected = {"a": ["a1", "a2"], "b": ["b1", "b2", "b3"]}
    lake.replace_partitions(versions["a"], table, ["dt", "landing_dt"], "dt=*/landing_dt=2026-01-15")
    assert read_partition(table, "dt=2026-01-14/landing_dt=2026-01-15") == ["a3"]

    partition = "dt=2026-01-15/landing_dt=2026-01-15"
    seen: list[list[str]] = []
    vanished = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(read_partition(table, partition))
            except FileNotFoundError as error:  # listed the old files, opened after the swap
                vanished.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for name in ("b", "a", "b", "a", "b"):
            lake.replace_partitions(versions[name], table, ["dt", "landing_dt"], "dt=*/landing_dt=2026-01-15")
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 10
    # never none, never a mix; a read racing a swap fails cleanly and reads again
    assert all(rows in (expected["a"], expected["b"]) for rows in seen), {tuple(rows) for rows in seen}
    assert len(vanished) < len(seen)
    assert read_partition(table, partition) == expected["b"]
    # b writes no dt=2026-01-14 rows: that partition of the landing day is gone, not stale
    assert read_partition(table, "dt=2026-01-14/landing_dt=2026-01-15") == []
    assert not (tmp_path / "lake" / lake.STAGING / "posts").exists() or not any((tmp_path / "lake" / lake.STAGING / "posts").iterdir())

    # a run killed while Spark wrote leaves uncommitted staging: the next run deletes it
    junk = tmp_path / "lake" / lake.STAGING / "posts" / "dt=all__landing_dt=2026-01-16" / "data" / "dt=x"
    junk.mkdir(parents=True)
    (junk / "part-0.parquet").write_bytes(b"half")
    # a run killed after its commit record, half-way through the swaps: rolled forward
    committed = tmp_path / "lake" / lake.STAGING / "posts" / "dt=all__landing_dt=2026-01-15"
    versions["a"].write.partitionBy("dt", "landing_dt").parquet(str(committed / "data"))
    staged = ["dt=2026-01-14/landing_dt=2026-01-15", partition]
    for name in staged:
        (committed / "data" / name / f"{lake.RUN_MARKER_PREFIX}r1").touch()
    (committed / lake.COMMITTED).write_text(json.dumps({"run_id": "r1", "staged": staged, "removed": []}))
    os.rename(committed / "data" / staged[0], table / staged[0])  # the first swap happened

    handled = lake.recover_staging(tmp_path / "lake")

    assert sorted(handled) == ["posts/dt=all__landing_dt=2026-01-15", "posts/dt=all__landing_dt=2026-01-16"]
    assert read_partition(table, partition) == expected["a"]
    assert read_partition(table, staged[0]) == ["a3"]
    assert not any((tmp_path / "lake" / lake.STAGING / "posts").iterdir())
    assert sorted(spark.read.parquet(str(table)).toPandas()["post_id"]) == ["a1", "a2", "a3"]
