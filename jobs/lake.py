"""The Parquet lake: atomic partition publishing, locks, manifests, dates.

Spark writes; this module publishes. A stage's rows become visible only by a rename on the
lake's own file system after the write succeeded (:func:`replace_partitions`), so the lake
must be a local or mounted POSIX path (see README "Reliability" for what that guarantees on
a local disk, HDFS and object stores).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import fcntl
import functools
import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

T = TypeVar("T")

from jobs.settings import Settings


def parse_date(value: str) -> dt.date:
    """Parse a ``YYYY-MM-DD`` run date, with an error that says what to pass."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"dates are YYYY-MM-DD, e.g. 2026-01-15; got {value!r}") from error


def date_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from ``start`` to ``end`` inclusive."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + dt.timedelta(days=offset) for offset in range((end - start).days + 1)]


def uri(path: Path | str) -> str:
    """An absolute path string Spark and pyarrow both accept."""
    text = str(path)
    return text if "://" in text else str(Path(text).resolve())


class LakeBusyError(RuntimeError):
    """Another live run holds a lock this run needs (the same stage and date, say)."""


_HELD_LOCKS: dict[str, tuple[int, int]] = {}  # lock path -> (file descriptor, depth) in this process


@contextlib.contextmanager
def lake_lock(lake: Path | str, name: str, *, purpose: str = "") -> Iterator[None]:
    """Hold ``<lake>/_locks/<name>.lock`` for the block, or raise :class:`LakeBusyError` at once.

    An ``flock`` on a file in the lake: the kernel drops it when its process dies, SIGKILL
    included, so a killed run never leaves a stale lock behind. Re-entrant within a process
    (a stage holding its run lock may publish under the same name). It excludes processes on
    hosts sharing a local disk or an NFSv4 mount; not every network file system honours it.
    """
    folder = Path(lake) / "_locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = str(folder / f"{name}.lock")
    if path in _HELD_LOCKS:
        descriptor, depth = _HELD_LOCKS[path]
        _HELD_LOCKS[path] = (descriptor, depth + 1)
        try:
            yield
        finally:
            descriptor, depth = _HELD_LOCKS[path]
            _HELD_LOCKS[path] = (descriptor, depth - 1)
        return
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 400, 0).decode("utf-8", errors="replace").strip() or "unknown"
        os.close(descriptor)
        raise LakeBusyError(
            f"{name} is locked by another run ({holder}); two runs of the same stage and date at "
            f"once are refused: wait for it to finish (a killed run releases its lock)"
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"pid {os.getpid()} on {socket.gethostname()} since {_now()} {purpose}".encode(), 0)
    _HELD_LOCKS[path] = (descriptor, 1)
    try:
        yield
    finally:
        del _HELD_LOCKS[path]
        os.close(descriptor)  # releases the flock


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# --- atomic partition publishing ---------------------------------------------------------
#
# A stage never changes a table in place. It writes its partitions to
# ``<lake>/_staging/<table>/<key>/data`` (same file system as the table), marks every staged
# partition folder with ``.emodrift-run-<run id>``, writes ``_COMMITTED`` (the list of
# partitions to swap in and to remove) and only then swaps each partition folder into the
# table with one ``renameat2(RENAME_EXCHANGE)``: a reader listing the partition sees the old
# folder or the new one, never none and never a mix. Every step after the commit record is
# idempotent, so a run killed half-way is rolled forward by the next publisher of any key;
# staging without a commit record (killed while Spark wrote) is deleted. Hidden names
# (``_``/``.`` prefixes) are what Spark and pyarrow skip when they list a table.

STAGING = "_staging"
COMMITTED = "_COMMITTED"
RUN_MARKER_PREFIX = ".emodrift-run-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def replace_partitions(
    frame: DataFrame,
    table_path: Path | str,
    partition_columns: list[str],
    replaced: str,
    *,
    empty_partition: str | None = None,
) -> list[str]:
    """Atomically replace the partitions matching glob ``replaced`` with the rows of ``frame``.

    Args:
        frame: the new rows, with the partition columns.
        table_path: the table folder (a local or mounted path: see README "Reliability").
        partition_columns: e.g. ``["dt", "landing_dt"]``.
        replaced: the partitions this run owns, e.g. ``dt=*/landing_dt=2026-01-15``: those
            the new rows do not write again disappear (a corrected landing day may no
            longer reach a late ``dt``), every other partition is untouched.
        empty_partition: when ``frame`` has no rows, write this partition (e.g.
            ``dt=2026-01-15``) with no rows but the schema, so readers see "nothing", not
            yesterday's rows.

    Returns:
        The partitions now published (paths relative to the table).
    """
    table = local_path(table_path)

    def write(data: Path) -> list[str]:
        frame.write.mode("overwrite").partitionBy(*partition_columns).parquet(str(data))
        staged = partition_folders(data, len(partition_columns))
        if not staged and empty_partition is not None:
            frame.drop(*partition_columns).write.mode("overwrite").parquet(str(data / empty_partition))
            staged = [empty_partition]
        return staged

    def removed(staged: list[str]) -> list[str]:
        return sorted(
            str(path.relative_to(table)) for path in table.glob(replaced)
            if path.is_dir() and str(path.relative_to(table)) not in staged
        )

    return publish(table, staging_key(replaced), write, removed)


def staging_key(replaced: str) -> str:
    """The staging folder (and lock) name of a set of partitions, e.g. ``dt=all__landing_dt=D``."""
    return replaced.replace("*", "all").replace("/", "__")


def publish(
    table: Path,
    key: str,
    write: Callable[[Path], list[str]],
    removed: Callable[[list[str]], list[str]],
) -> list[str]:
    """The publishing protocol (see the comment above) around a writer.

    Args:
        table: the table folder.
        key: the staging folder and lock name: one publisher per key at a time.
        write: writes partition folders under the staging folder it is given and returns
            them (relative paths); runs before anything in the table changes.
        removed: given the staged partitions, the table's partitions to take away.
    """
    staging = table.parent / STAGING / table.name / key
    with _staging_lock(staging):
        _recover(staging, table)
        data = staging / "data"
        try:
            staged = write(data)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # nothing was published; free the space now
            raise
        run_id = uuid.uuid4().hex
        for partition in staged:
            (data / partition / f"{RUN_MARKER_PREFIX}{run_id}").touch()
        commit = {"run_id": run_id, "staged": staged, "removed": removed(staged)}
        _write_atomically(staging / COMMITTED, json.dumps(commit))
        _apply(staging, table)
    return staged


def recover_staging(lake: Path | str) -> list[str]:
    """Finish or discard what killed runs left in ``<lake>/_staging``; returns what was handled.

    A committed leftover is rolled forward (its rows were complete), an uncommitted one
    deleted. Staging a live run still holds (its lock is taken) is left alone.
    """
    handled = []
    root = Path(lake) / STAGING
    for staging in sorted(root.glob("*/*")) if root.is_dir() else []:
        if not staging.is_dir():
            continue
        try:
            with _staging_lock(staging):
                if staging.exists():
                    _recover(staging, Path(lake) / staging.parent.name)
                    handled.append(str(staging.relative_to(root)))
        except LakeBusyError:
            continue
    return handled


def retry_vanished(read: Callable[[], T], attempts: int = 3) -> T:
    """Run a reader again when a file it listed vanished before it opened it.

    A swap makes the listing point at the new partition at once, but a reader that listed
    the previous partition's files just before may open them just after they moved away: it
    gets FileNotFoundError (never wrong rows), and listing again sees the new partition.
    """
    for attempt in range(attempts):
        try:
            return read()
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def local_path(path: Path | str) -> Path:
    """The lake path as a local path; publishing renames folders, which needs a POSIX file system."""
    text = str(path)
    if "://" in text and not text.startswith("file:"):
        raise ValueError(
            f"the lake must be a local or mounted path for atomic publishing, got {text!r} "
            f"(see README 'Reliability': on object stores use a table format such as Delta Lake or Iceberg)"
        )
    return Path(uri(text.removeprefix("file://").removeprefix("file:")))


def _staging_lock(staging: Path) -> contextlib.AbstractContextManager[None]:
    lake = staging.parents[2]
    return lake_lock(lake, f"publish--{staging.parent.name}--{staging.name}", purpose="publishing")


def _recover(staging: Path, table: Path) -> None:
    if (staging / COMMITTED).is_file():
        _apply(staging, table)
    elif staging.exists():
        shutil.rmtree(staging)


def _apply(staging: Path, table: Path) -> None:
    """Swap every staged partition into the table and drop the removed ones (idempotent)."""
    commit = json.loads((staging / COMMITTED).read_text())
    marker = f"{RUN_MARKER_PREFIX}{commit['run_id']}"
    data, old = staging / "data", staging / "old"
    for partition in commit["staged"]:
        source, target, displaced = data / partition, table / partition, old / partition
        if not (target / marker).exists():
            if target.exists():
                _exchange(source, target, displaced)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(source, target)
        if source.exists():  # after an exchange the source holds the previous rows
            displaced.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, displaced)
    for partition in commit["removed"]:
        if (table / partition).exists():
            (old / partition).parent.mkdir(parents=True, exist_ok=True)
            os.rename(table / partition, old / partition)
    shutil.rmtree(staging)


def _exchange(source: Path, target: Path, displaced: Path) -> None:
    """Swap two folders in one step (Linux ``renameat2``); two renames where unsupported."""
    result = _libc().renameat2(_AT_FDCWD, bytes(source), _AT_FDCWD, bytes(target), _RENAME_EXCHANGE)
    if result == 0:
        return
    error = ctypes.get_errno()
    if error not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        raise OSError(error, f"cannot swap {source} into {target}: {os.strerror(error)}")
    # a file system without RENAME_EXCHANGE: the partition is absent between these renames
    displaced.parent.mkdir(parents=True, exist_ok=True)
    os.rename(target, displaced)
    os.rename(source, target)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def partition_folders(folder: Path, depth: int) -> list[str]:
    """Partition folders ``depth`` levels below ``folder`` (``dt=.../landing_dt=...``)."""
    if not folder.is_dir():
        return []
    pattern = "/".join(["*=*"] * depth)
    return sorted(str(path.relative_to(folder)) for path in folder.glob(pattern) if path.is_dir())


def _write_atomically(path: Path, text: str) -> None:
    """Write a small file whole or not at all (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_table(spark: SparkSession, settings: Settings, table: str) -> DataFrame | None:
    """Read a lake table with its partition columns as strings, or None when it does not exist."""
    path = settings.table_path(table)
    if "://" not in str(path) and not any(Path(path).glob("*=*")):
        return None
    return spark.read.parquet(uri(path))


def manifest_path(settings: Settings, stage: str, key: str) -> Path:
    """Where a stage's run manifest lives, e.g. ``lake/manifests/ingest/landing_dt=2026-01-15.json``."""
    return settings.table_path("manifests") / stage / f"{key}.json"


def write_manifest(settings: Settings, stage: str, key: str, manifest: dict[str, Any]) -> Path:
    path = manifest_path(settings, stage, key)
    _write_atomically(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")  # never half a manifest
    return path


def read_manifest(settings: Settings, stage: str, key: str) -> dict[str, Any]:
    path = manifest_path(settings, stage, key)
    if not path.exists():
        raise FileNotFoundError(f"no {stage} manifest at {path}: run `emodrift {stage} --date ...` first")
    return json.loads(path.read_text())


# --- run records -------------------------------------------------------------------------

RUNS_TABLE = "runs"
# one row per stage run event: "started", then "succeeded" or "failed" (a run killed
# outright leaves only its "started" row); partitioned by stage
RUNS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("date", pa.string()),
        ("status", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("ended_at", pa.timestamp("us", tz="UTC")),
        ("counts", pa.string()),  # the stage's manifest or counts, JSON
        ("model_versions", pa.string()),  # JSON, e.g. {"text": ..., "image": ...}
        ("spark_application_id", pa.string()),
        ("error", pa.string()),
        ("host", pa.string()),
        ("pid", pa.int64()),
    ]
)


def append_run_record(settings: Settings, record: dict[str, Any]) -> Path:
    """Append one row to table ``runs`` (partitioned by ``stage``): one small Parquet file per
    event, written under a hidden name and renamed, so appends never collide or tear."""
    import pyarrow.parquet as pq

    folder = settings.table_path(RUNS_TABLE) / f"stage={record['stage']}"
    folder.mkdir(parents=True, exist_ok=True)
    row = {name: [record.get(name)] for name in RUNS_SCHEMA.names}
    table = pa.Table.from_pydict(row, schema=RUNS_SCHEMA)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    path = folder / f"{stamp}-{record['run_id']}-{record['status']}.parquet"
    temporary = folder / f".{path.name}.tmp"
    pq.write_table(table, temporary)
    os.replace(temporary, path)
    return path


def read_runs(settings: Settings) -> Any:
    """Every run record, oldest first (empty with the right columns when none was written)."""
    import pandas as pd
    import pyarrow.dataset as pads

    folder = settings.table_path(RUNS_TABLE)
    if not folder.is_dir():
        return RUNS_SCHEMA.empty_table().to_pandas().assign(stage=pd.Series(dtype=str))  # a pandas DataFrame
    dataset = pads.dataset(str(folder), format="parquet", partitioning="hive")
    frame = retry_vanished(dataset.to_table).to_pandas()
    frame["stage"] = frame["stage"].astype(str)
    return frame.sort_values(["started_at", "ended_at"], na_position="first", ignore_index=True)
