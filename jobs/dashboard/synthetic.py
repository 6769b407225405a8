"""A synthetic lake with the pipeline's table layout, written fast with pyarrow.

For the dashboard's latency benchmark (100,000 users x 90 days would take the real pipeline
hours on two cores), the notebook when no real lake is at hand, and the query tests. It writes
what the dashboard reads, nothing more: the latest ``sequences`` and ``transitions`` snapshot,
one post and one score per user and active day, ingest and score manifests and a few
quarantined lines per day, and the ``runs`` records of every stage and day, all consistent
with each other (the quality gate passes on it).

Known truth for tests: users whose index is a multiple of ``change_every`` switch their
dominant label from ``LABELS[i % 7]`` to ``LABELS[(i + 3) % 7]`` on the middle day, and
carry exactly one transition on that day. The ``forecast`` of a day is a stand-in for the
temporal model (the user's previous active day, shrunk towards uniform by
``FORECAST_SHRINKAGE``; null on a user's first day) and ``surprise`` is KL(actual || forecast),
so a changed user's surprise peaks on the change day, where the forecast still expects the
old label. In ``runs``, the score stage of the third day failed once before a retry
succeeded, and the drift run of the last day has no end (killed), see :data:`PLANTED_RUNS`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from models.labels import LABELS, NUM_LABELS

# bumped whenever the tables written change, so a saved lake of an older layout is rewritten
LAYOUT_VERSION = 2  # 2: sequences.forecast, KL surprise, table runs
ROW_GROUP_ROWS = 20_000  # small groups let a one-user query skip the rest by min/max user_id
WORDS = ("great", "awful", "scared", "lovely", "sad", "wow", "okay", "angry", "gross", "fine", "today", "work")
QUARANTINE_REASONS = ("bad_json", "missing_field", "bad_timestamp")
FORECAST_SHRINKAGE = 0.2  # share of the forecast spread uniformly over the labels
RUN_STAGES = ("ingest", "check-ingest", "score", "check-score", "drift", "report")
# planted run failures, by (stage, day index): a failed attempt then a retry that succeeded,
# and a run with a start but no end (index -1: the last day)
PLANTED_RUNS = {("score", 2): "failed", ("drift", -1): "unfinished"}


@dataclasses.dataclass(frozen=True)
class SyntheticLake:
    """Shape of the synthetic lake.

    Args:
        users: number of users (ids ``u0000001`` ...).
        days: number of days, ending on ``end``.
        end: the last day and the snapshot date.
        change_every: every n-th user has one planted change in the middle.
        active_share: probability a user posts on a given day.
        seed: seeds every draw.
        analyst_columns: also write the drift stage's analyst columns in ``transitions``
            (mean distributions before/after, evidence post ids, ``transition_id``,
            ``first_flagged_dt``).
        chunk_users: users generated per write (bounds memory).
    """

    users: int = 200
    days: int = 30
    end: dt.date = dt.date(2026, 3, 31)
    change_every: int = 10
    active_share: float = 0.8
    seed: int = 0
    analyst_columns: bool = False
    chunk_users: int = 20_000

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"users must be >= 1, got {self.users}")
        if self.days < 2:
            raise ValueError(f"days must be >= 2, got {self.days}")
        if not 0.0 < self.active_share <= 1.0:
            raise ValueError(f"active_share must be in (0, 1], got {self.active_share}")

    @property
    def day_list(self) -> list[str]:
        return [(self.end - dt.timedelta(days=self.days - 1 - offset)).isoformat() for offset in range(self.days)]

    @property
    def change_day_index(self) -> int:
        return self.days // 2


# the small lake the tests and the notebook use: 12 planted changes, seconds to write
SMALL = SyntheticLake(users=60, days=20, end=dt.date(2026, 3, 20), change_every=5, seed=1)


def user_id(index: int) -> str:
    return f"u{index:07d}"


def _distributions(dominant: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows of 7 probabilities peaked on ``dominant`` (shape (n,)) -> (n, 7)."""
    noise = rng.random((len(dominant), NUM_LABELS)) * 0.4
    noise[np.arange(len(dominant)), dominant] += 1.2
    return noise / noise.sum(axis=1, keepdims=True)


def _list_array(values: np.ndarray, value_type: pa.DataType, null: np.ndarray | None = None) -> pa.Array:
    """A list column from a (n, k) matrix; rows where ``null`` is True are null lists."""
    count, width = values.shape
    offsets = pa.array(np.arange(0, (count + 1) * width, width, dtype=np.int32))
    mask = None if null is None else pa.array(null, pa.bool_())
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1), type=value_type), mask=mask)


def _chunks(shape: SyntheticLake) -> Iterator[np.ndarray]:
    for first in range(0, shape.users, shape.chunk_users):
        yield np.arange(first, min(shape.users, first + shape.chunk_users))


def _dominant(users: np.ndarray, day_index: int, shape: SyntheticLake) -> np.ndarray:
    changed = (users % shape.change_every == 0) & (day_index >= shape.change_day_index)
    return np.where(changed, (users + 3) % NUM_LABELS, users % NUM_LABELS)


def _activity(users: np.ndarray, shape: SyntheticLake) -> np.ndarray:
    """(users, days) booleans: who posted when; every user posts on the first day and the change day."""
    rng = np.random.default_rng([shape.seed, int(users[0])])
    active = rng.random((len(users), shape.days)) < shape.active_share
    active[:, [0, shape.change_day_index]] = True
    return active


def _post_ids(users: np.ndarray, day_index: int) -> list[str]:
    return [f"p{user:07d}d{day_index:03d}" for user in users]


def write_synthetic_lake(lake: Path, shape: SyntheticLake = SyntheticLake()) -> dict[str, int]:
    """Write the lake under ``lake`` (replacing the tables it writes); returns row counts."""
    lake = Path(lake)
    days = shape.day_list
    snapshot = days[-1]
    counts = {"sequences": 0, "transitions": 0, "posts": 0, "quarantine": 0}
    sequence_path = lake / "sequences" / f"dt={snapshot}" / "part-00000.parquet"
    sequence_path.parent.mkdir(parents=True, exist_ok=True)
    day_files: dict[str, tuple[pq.ParquetWriter, pq.ParquetWriter]] = {}
    posts_per_day = dict.fromkeys(days, 0)
    sequence_writer: pq.ParquetWriter | None = None
    transitions: list[dict[str, object]] = []
    try:
        for users in _chunks(shape):
            rng = np.random.default_rng([shape.seed, int(users[0]), 1])
            active = _activity(users, shape)
            user_ids = np.array([user_id(index) for index in users], dtype=object)
            sequence_parts = []
            previous = np.full((len(users), NUM_LABELS), np.nan)  # each user's latest active day
            for day_index, day in enumerate(days):
                present = users[active[:, day_index]]
                probabilities = _distributions(_dominant(present, day_index, shape), rng)
                ids = user_ids[active[:, day_index]]
                forecast = (1.0 - FORECAST_SHRINKAGE) * previous[active[:, day_index]] + FORECAST_SHRINKAGE / NUM_LABELS
                previous[active[:, day_index]] = probabilities
                sequence_parts.append((ids, day_index, probabilities, forecast))
                _write_day(day_files, lake, day, day_index, present, ids, probabilities, rng)
                posts_per_day[day] += len(present)
            table = _sequence_table(sequence_parts, days)
            # one user's rows together: a drill-down reads one row group
            table = table.sort_by([("user_id", "ascending"), ("day", "ascending")])
            if sequence_writer is None:
                sequence_writer = pq.ParquetWriter(sequence_path, table.schema)
            sequence_writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            counts["sequences"] += table.num_rows
            transitions += _transitions(users[users % shape.change_every == 0], shape, rng)
    finally:
        if sequence_writer is not None:
            sequence_writer.close()
        for writers in day_files.values():
            for writer in writers:
                writer.close()
    counts["transitions"] = _write_transitions(lake, snapshot, transitions, shape)
    counts["posts"] = sum(posts_per_day.values())
    counts["quarantine"] = _write_quarantine_and_manifests(lake, posts_per_day, shape)
    counts["runs"] = _write_runs(lake, posts_per_day, counts, shape)
    return counts


def _sequence_table(parts: list[tuple[np.ndarray, int, np.ndarray, np.ndarray]], days: list[str]) -> pa.Table:
    ids = np.concatenate([part[0] for part in parts])
    probabilities = np.vstack([part[2] for part in parts]).round(6)
    forecast = np.vstack([part[3] for part in parts]).round(6)
    day_column = np.concatenate([np.full(len(part[0]), days[part[1]], dtype=object) for part in parts])
    first_day = np.isnan(forecast[:, 0])
    # KL(actual || forecast), as models.temporal.inference.step_surprise defines surprise
    with np.errstate(invalid="ignore"):
        surprise = np.sum(probabilities * np.log(np.maximum(probabilities, 1e-12) / forecast), axis=1).round(6)
    return pa.table({
        "user_id": pa.array(ids, pa.string()),
        "day": pa.array(day_column, pa.string()),
        "post_count": pa.array(np.ones(len(ids), dtype=np.int32)),
        "probs": _list_array(probabilities, pa.float64()),
        "dominant_label": pa.array(np.array(LABELS, dtype=object)[probabilities.argmax(axis=1)], pa.string()),
        "surprise": pa.array(surprise, mask=first_day),
        "forecast": _list_array(np.nan_to_num(forecast), pa.float64(), null=first_day),
    })


def _write_day(
    writers: dict[str, tuple[pq.ParquetWriter, pq.ParquetWriter]], lake: Path, day: str, day_index: int,
    users: np.ndarray, ids: np.ndarray, probabilities: np.ndarray, rng: np.random.Generator,
) -> None:
    """Append one day's posts and scores (same partitions as the pipeline: dt = landing_dt = day)."""
    count = len(users)
    post_ids = _post_ids(users, day_index)
    seconds = rng.integers(0, 86_400, count)
    created = pa.array(
        (np.datetime64(day, "s") + seconds.astype("timedelta64[s]")).astype("datetime64[us]"), pa.timestamp("us", tz="UTC")
    )
    words = np.array(WORDS, dtype=object)
    picks = rng.integers(0, len(words), (count, 3))
    texts = [f"{words[a]} {words[b]} {words[c]}" for a, b, c in picks]
    tokens = pa.ListArray.from_arrays(pa.array(np.arange(0, 3 * count + 1, 3, dtype=np.int32)), pa.array(words[picks].reshape(-1), pa.string()))
    posts = pa.table({
        "post_id": pa.array(post_ids, pa.string()), "user_id": pa.array(ids, pa.string()), "created_at": created,
        "text": pa.array(texts, pa.string()), "image_path": pa.nulls(count, pa.string()),
    })
    scores = pa.table({
        "post_id": pa.array(post_ids, pa.string()), "user_id": pa.array(ids, pa.string()), "created_at": created,
        "text_top_tokens": tokens,
        "image_status": pa.array(["no_image"] * count, pa.string()),
        "face_count": pa.array(np.zeros(count, dtype=np.int32)),
        "face_boxes": pa.array([[]] * count, pa.list_(pa.list_(pa.int32()))),
        "fused_probs": _list_array(probabilities.astype(np.float32), pa.float32()),
        "fused_label": pa.array(np.array(LABELS, dtype=object)[probabilities.argmax(axis=1)], pa.string()),
        "text_model_version": pa.array(["text-synthetic"] * count, pa.string()),
        "image_model_version": pa.array(["image-synthetic"] * count, pa.string()),
    })
    if day not in writers:
        opened = []
        for table_name, table in (("posts", posts), ("scores", scores)):
            path = lake / table_name / f"dt={day}" / f"landing_dt={day}" / "part-00000.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            opened.append(pq.ParquetWriter(path, table.schema))
        writers[day] = (opened[0], opened[1])
    writers[day][0].write_table(posts, row_group_size=ROW_GROUP_ROWS)
    writers[day][1].write_table(scores, row_group_size=ROW_GROUP_ROWS)


def _transitions(users: np.ndarray, shape: SyntheticLake, rng: np.random.Generator) -> list[dict[str, object]]:
    days = shape.day_list
    changed_at = days[shape.change_day_index]
    rows = []
    for user in users:
        before, after = int(user % NUM_LABELS), int((user + 3) % NUM_LABELS)
        row: dict[str, object] = {
            "user_id": user_id(int(user)), "changed_at": changed_at, "from_label": LABELS[before], "to_label": LABELS[after],
            "magnitude": round(float(rng.uniform(0.3, 1.2)), 6), "confidence": round(float(rng.uniform(0.5, 1.0)), 6),
            "posts_before": shape.change_day_index, "posts_after": shape.days - shape.change_day_index,
            "detector": "cusum" if user % 20 == 0 else "pelt", "model_version": "temporal-synthetic",
        }
        if shape.analyst_columns:
            row["mean_before"] = [0.8 if index == before else 0.2 / 6 for index in range(NUM_LABELS)]
            row["mean_after"] = [0.8 if index == after else 0.2 / 6 for index in range(NUM_LABELS)]
            row["evidence_before"] = [f"p{int(user):07d}d{0:03d}"]
            row["evidence_after"] = [f"p{int(user):07d}d{shape.change_day_index:03d}"]
            row["transition_id"] = hashlib.sha256(f"{user_id(int(user))}|{changed_at}".encode()).hexdigest()[:16]
            row["first_flagged_dt"] = days[min(len(days) - 1, shape.change_day_index + 3)]
        rows.append(row)
    return rows


def _write_transitions(lake: Path, snapshot: str, rows: list[dict[str, object]], shape: SyntheticLake) -> int:
    path = lake / "transitions" / f"dt={snapshot}" / "part-00000.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([
        ("user_id", pa.string()), ("changed_at", pa.string()), ("from_label", pa.string()), ("to_label", pa.string()),
        ("magnitude", pa.float64()), ("confidence", pa.float64()), ("posts_before", pa.int32()), ("posts_after", pa.int32()),
        ("detector", pa.string()), ("model_version", pa.string()),
        *([("mean_before", pa.list_(pa.float64())), ("mean_after", pa.list_(pa.float64())),
           ("evidence_before", pa.list_(pa.string())), ("evidence_after", pa.list_(pa.string())),
           ("transition_id", pa.string()), ("first_flagged_dt", pa.string())] if shape.analyst_columns else []),
    ])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=ROW_GROUP_ROWS)
    return len(rows)


def _write_quarantine_and_manifests(lake: Path, posts_per_day: dict[str, int], shape: SyntheticLake) -> int:
    rng = np.random.default_rng([shape.seed, 2])
    total = 0
    for day, accepted in posts_per_day.items():
        reasons = {reason: int(count) for reason, count in zip(QUARANTINE_REASONS, rng.integers(0, 4, len(QUARANTINE_REASONS))) if count}
        quarantined = sum(reasons.values())
        duplicates = int(rng.integers(0, 3))
        path = lake / "quarantine" / f"landing_dt={day}" / "part-00000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [reason for reason, count in reasons.items() for _ in range(count)]
        pq.write_table(pa.table({"reason": pa.array(lines, pa.string()), "raw_line": pa.array(["{"] * len(lines), pa.string())}), path)
        manifests = {
            "ingest": {"landing_dt": day, "stage": "ingest", "read": accepted + quarantined + duplicates, "accepted": accepted,
                       "quarantined": quarantined, "duplicates": duplicates, "quarantine_reasons": reasons},
            "score": {"landing_dt": day, "stage": "score", "posts": accepted, "scored": accepted},
        }
        for stage, manifest in manifests.items():
            manifest_file = lake / "manifests" / stage / f"landing_dt={day}.json"
            manifest_file.parent.mkdir(parents=True, exist_ok=True)
            manifest_file.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        total += quarantined
    return total


def _write_runs(lake: Path, posts_per_day: dict[str, int], counts: dict[str, int], shape: SyntheticLake) -> int:
    """The ``runs`` records of every stage and day (one small file per event, as the stages
    append them), with the failures of :data:`PLANTED_RUNS`; returns how many runs."""
    from jobs.lake import append_run_record
    from jobs.settings import Settings

    import shutil

    settings = Settings(lake=lake)
    shutil.rmtree(settings.table_path("runs"), ignore_errors=True)  # runs are appended: start afresh
    rng = np.random.default_rng([shape.seed, 3])
    days = shape.day_list
    planted = {(stage, index % len(days)): outcome for (stage, index), outcome in PLANTED_RUNS.items()}
    runs = 0
    for day_index, day in enumerate(days):
        clock = dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc) + dt.timedelta(days=1, hours=1)
        for stage in RUN_STAGES:
            outcome = planted.get((stage, day_index), "succeeded")
            attempts = ["failed", "succeeded"] if outcome == "failed" else [outcome]
            for attempt, status in enumerate(attempts):
                run_id = hashlib.sha256(f"{stage}|{day}|{attempt}".encode()).hexdigest()[:32]
                seconds = float(rng.uniform(5, 60))
                record = {"run_id": run_id, "stage": stage, "date": day, "started_at": clock, "host": "synthetic", "pid": 1,
                          "counts": json.dumps(_run_counts(stage, posts_per_day[day], counts)), "model_versions": "{}"}
                append_run_record(settings, {**record, "status": "started", "counts": "{}"})
                clock += dt.timedelta(seconds=seconds)
                if status != "unfinished":
                    error = "ValueError: model file unreadable (planted)" if status == "failed" else None
                    append_run_record(settings, {**record, "status": status, "ended_at": clock, "error": error})
                runs += 1
    return runs


def _run_counts(stage: str, posts: int, counts: dict[str, int]) -> dict[str, object]:
    """What each stage's run records as its counts (the keys the real stages use)."""
    return {
        "ingest": {"accepted": posts}, "check-ingest": {"posts": posts, "status": "ok"},
        "score": {"posts": posts, "scored": posts}, "check-score": {"posts": posts, "status": "ok"},
        "drift": {"sequence_rows": counts["sequences"], "transitions": counts["transitions"]},
        "report": {"result": "dashboard.html"},
    }[stage]
