"""What the dashboard reads: DuckDB SQL over the Parquet lake, one function per question.

Every function takes the lake folder and plain values and returns a pandas DataFrame (or a
plain value); the only state is DuckDB's cache of Parquet footers, so the app, the notebook and
the tests call the same code and get the same answers.

Only the partitions a question needs are opened: the file list handed to DuckDB is built
from the partition folder names (``dt=...``), never by scanning a whole table.

Snapshots: the drift stage writes, for each as-of date ``D``, the whole look-back window of
``sequences`` and ``transitions`` into partition ``dt=D``. A view over ``[start, end]``
reads the latest snapshot on or before ``end`` (see :func:`snapshot_date`) and keeps the days
inside the range, so "as of end" is what every view shows.

Transitions written before the drift stage gained its analyst columns (mean distributions
before and after, evidence post ids, ``transition_id``, ``first_flagged_dt``) still read:
absent columns are simply not returned, and :func:`before_after_means` and
:func:`evidence_posts` derive what the page needs from the sequences and posts instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.labels import LABEL_INDEX, LABELS

SNAPSHOT_TABLES = ("sequences", "transitions")
# the temporal model's predicted distribution per user and day (absent from older snapshots)
FORECAST_COLUMN = "forecast"
# the analyst columns of drift.transitions (absent from snapshots written before they existed)
MEAN_COLUMNS = ("mean_before", "mean_after")
EVIDENCE_COLUMNS = ("evidence_before", "evidence_after")
OPTIONAL_TRANSITION_COLUMNS = ("transition_id", "first_flagged_dt")
BASE_TRANSITION_COLUMNS = (
    "user_id", "changed_at", "from_label", "to_label", "magnitude", "confidence",
    "posts_before", "posts_after", "detector", "model_version",
)
# the columns a transitions page may be sorted by (anything else is refused, never pasted into SQL)
SORTABLE_TRANSITION_COLUMNS = frozenset({*BASE_TRANSITION_COLUMNS, "score", *OPTIONAL_TRANSITION_COLUMNS})
POST_COLUMNS = (
    "post_id", "created_at", "text", "image_path", "fused_probs", "fused_label", "text_top_tokens",
    "face_boxes", "image_status", "dt", "landing_dt",
)


# ---------------------------------------------------------------------------------------------
# partitions and files


def partition_values(lake: Path, table: str, key: str = "dt") -> list[str]:
    """Sorted values of the first-level partition ``key`` of a table (``[]`` when it is absent)."""
    folder = Path(lake) / table
    if not folder.is_dir():
        return []
    prefix = f"{key}="
    with os.scandir(folder) as entries:  # scandir's is_dir needs no stat per entry
        return sorted(entry.name[len(prefix):] for entry in entries if entry.name.startswith(prefix) and entry.is_dir())


def snapshot_date(lake: Path, as_of: str | None = None, table: str = "sequences") -> str | None:
    """The latest ``dt`` of a snapshot table on or before ``as_of`` (the latest of all when None).

    When every snapshot is newer than ``as_of`` (drift ran only on later days), the oldest one
    is used: its look-back window is the nearest view of that range there is.
    """
    dates = partition_values(lake, table)
    earlier = [value for value in dates if as_of is None or value <= as_of]
    if earlier:
        return earlier[-1]
    return dates[0] if dates else None


def partition_files(lake: Path, table: str, first_day: str, last_day: str) -> list[str]:
    """Parquet files of the ``dt`` partitions in ``[first_day, last_day]`` (any sub-partitions)."""
    files: list[str] = []
    values = [first_day] if first_day == last_day else partition_values(lake, table)
    for value in values:
        if first_day <= value <= last_day and (Path(lake) / table / f"dt={value}").is_dir():
            files += sorted(str(path) for path in (Path(lake) / table / f"dt={value}").rglob("*.parquet"))
    return files


def snapshot_files(lake: Path, table: str, as_of: str | None) -> list[str]:
    """Parquet files of the latest snapshot of ``table`` on or before ``as_of``."""
    snapshot = snapshot_date(lake, as_of, table)
    return [] if snapshot is None else partition_files(lake, table, snapshot, snapshot)


def _parquet_source(files: Sequence[str]) -> str:
    """A ``read_parquet([...])`` clause; the paths come from the lake's own folder listing."""
    quoted = _quoted(files)
    # partition folders (dt=..., landing_dt=...) become string columns: autocast would make
    # dt a DATE in one table and a string in another
    return f"read_parquet([{quoted}], union_by_name = true, hive_partitioning = true, hive_types_autocast = false)"


_DATABASE: Any = None
_DATABASE_LOCK = threading.Lock()


def _database() -> Any:
    """The process's in-memory DuckDB database (holds no data, only caches)."""
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            import duckdb

            _DATABASE = duckdb.connect(":memory:")
            # Parquet footers are cached across queries: a new connection per query re-read
            # them and cost ~10x the query itself on a 90-day lake. Files are matched by path
            # and modification time, so a rewritten partition is read afresh.
            _DATABASE.execute("SET parquet_metadata_cache = true")
        return _DATABASE


def _query(sql: str, parameters: Sequence[Any] = ()) -> pd.DataFrame:
    # a cursor per call: its own connection to the shared database, safe under the server's threads
    with _database().cursor() as cursor:
        return cursor.execute(sql, list(parameters)).df()


def _columns(files: Sequence[str]) -> list[str]:
    if not files:
        return []
    return list(_query(f"DESCRIBE SELECT * FROM {_parquet_source(files)}")["column_name"])


def _label_means_sql(column: str = "probs") -> str:
    # DuckDB lists are 1-based
    return ", ".join(f"avg({column}[{index + 1}]) AS {label}" for index, label in enumerate(LABELS))


# ---------------------------------------------------------------------------------------------
# cohort overview


def cohort_daily(lake: Path, start: str, end: str) -> pd.DataFrame:
    """Per day in ``[start, end]``: active users, posts and the cohort's mean emotion mix.

    Each user counts once per day whatever their post count, so one prolific account cannot
    paint the whole cohort's mood.

    Returns:
        Columns ``day`` (``YYYY-MM-DD``), ``users``, ``posts`` and one per label, by day.
    """
    files = snapshot_files(lake, "sequences", end)
    if not files:
        return pd.DataFrame(columns=["day", "users", "posts", *LABELS])
    return _query(
        f"""
        SELECT day, count(*) AS users, sum(post_count) AS posts, {_label_means_sql()}
        FROM {_parquet_source(files)}
        WHERE day BETWEEN ? AND ?  -- day is a YYYY-MM-DD string: compared as is, the filter reaches the scan
        GROUP BY 1 ORDER BY 1
        """,
        [start, end],
    )


def transitions_per_day(lake: Path, start: str, end: str) -> pd.DataFrame:
    """Transitions by change day in ``[start, end]`` (snapshot as of ``end``): ``day``, ``transitions``."""
    files = snapshot_files(lake, "transitions", end)
    if not files:
        return pd.DataFrame(columns=["day", "transitions"])
    return _query(
        f"""
        SELECT substr(CAST(changed_at AS VARCHAR), 1, 10) AS day, count(*) AS transitions
        FROM {_parquet_source(files)}
        WHERE substr(CAST(changed_at AS VARCHAR), 1, 10) BETWEEN ? AND ?
        GROUP BY 1 ORDER BY 1
        """,
        [start, end],
    )


def strongest_drifts(lake: Path, start: str, end: str, limit: int = 10) -> pd.DataFrame:
    """The users whose strongest change in ``[start, end]`` scores highest (confidence x magnitude).

    Returns:
        One row per user: ``user_id``, ``changed_at``, ``from_label``, ``to_label``,
        ``score``, ``transitions`` (how many changes the user has in the range), best first.
    """
    files = snapshot_files(lake, "transitions", end)
    if not files:
        return pd.DataFrame(columns=["user_id", "changed_at", "from_label", "to_label", "score", "transitions"])
    return _query(
        f"""
        WITH ranged AS (
            SELECT user_id, substr(CAST(changed_at AS VARCHAR), 1, 10) AS changed_at, from_label, to_label,
                   confidence * magnitude AS score
            FROM {_parquet_source(files)}
            WHERE substr(CAST(changed_at AS VARCHAR), 1, 10) BETWEEN ? AND ?
        )
        SELECT user_id, arg_max(changed_at, score) AS changed_at, arg_max(from_label, score) AS from_label,
               arg_max(to_label, score) AS to_label, max(score) AS score, count(*) AS transitions
        FROM ranged GROUP BY user_id
        ORDER BY score DESC, user_id LIMIT ?
        """,
        [start, end, int(limit)],
    )


# ---------------------------------------------------------------------------------------------
# transitions table


@dataclasses.dataclass(frozen=True)
class TransitionFilters:
    """What the transitions table is narrowed to; every field is optional.

    Args:
        start, end: change days, ``YYYY-MM-DD``, inclusive; ``end`` also picks the snapshot.
        from_label, to_label: one label each or None for any.
        min_confidence, min_magnitude: lower bounds (inclusive).
        detector: one detector name or None for any.
        user_ids: only these raw user ids (None for any).
    """

    start: str | None = None
    end: str | None = None
    from_label: str | None = None
    to_label: str | None = None
    min_confidence: float | None = None
    min_magnitude: float | None = None
    detector: str | None = None
    user_ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("from_label", "to_label"):
            value = getattr(self, name)
            if value is not None and value not in LABEL_INDEX:
                raise ValueError(f"{name} must be one of {', '.join(LABELS)}; got {value!r}")
        for name in ("min_confidence", "min_magnitude"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= float(value) <= 10.0:
                raise ValueError(f"{name} must be between 0 and 10, got {value}")

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters (values are always bound, never pasted)."""
        clauses, parameters = ["TRUE"], []
        day = "substr(CAST(changed_at AS VARCHAR), 1, 10)"
        for sql, value in (
            (f"{day} >= ?", self.start), (f"{day} <= ?", self.end),
            ("from_label = ?", self.from_label), ("to_label = ?", self.to_label),
            ("confidence >= ?", self.min_confidence), ("magnitude >= ?", self.min_magnitude),
            ("detector = ?", self.detector),
        ):
            if value is not None and value != "":
                clauses.append(sql)
                parameters.append(value)
        if self.user_ids is not None:
            clauses.append("list_contains(?, user_id)")
            parameters.append(list(self.user_ids))
        return " AND ".join(clauses), parameters


def transition_columns(lake: Path, as_of: str | None) -> list[str]:
    """The columns the transitions snapshot as of ``as_of`` actually has."""
    return _columns(snapshot_files(lake, "transitions", as_of))


def transitions_page(
    lake: Path,
    filters: TransitionFilters,
    *,
    sort_by: Sequence[tuple[str, bool]] = (("score", False),),
    page: int = 0,
    page_size: int = 25,
) -> tuple[pd.DataFrame, int]:
    """One page of the filtered, sorted transitions and the number of matching rows.

    Args:
        lake: lake folder.
        filters: see :class:`TransitionFilters`; ``filters.end`` picks the snapshot.
        sort_by: ``(column, ascending)`` pairs; columns must be in
            :data:`SORTABLE_TRANSITION_COLUMNS` (and present), ties break by user and day.
        page: zero-based page number.
        page_size: rows per page (1 to 500).

    Returns:
        ``(rows, total)``: the base columns, ``score`` and whichever optional analyst
        columns the snapshot has; ``total`` counts every matching row.
    """
    if page < 0:
        raise ValueError(f"page must be >= 0, got {page}")
    if not 1 <= page_size <= 500:
        raise ValueError(f"page_size must be between 1 and 500, got {page_size}")
    files = snapshot_files(lake, "transitions", filters.end)
    available = _columns(files)
    wanted = [column for column in (*BASE_TRANSITION_COLUMNS, *OPTIONAL_TRANSITION_COLUMNS) if column in available]
    if not files or "user_id" not in available:
        return pd.DataFrame(columns=[*BASE_TRANSITION_COLUMNS, "score"]), 0
    order = []
    for column, ascending in sort_by:
        if column not in SORTABLE_TRANSITION_COLUMNS:
            raise ValueError(f"cannot sort by {column!r}; choose from {', '.join(sorted(SORTABLE_TRANSITION_COLUMNS))}")
        if column == "score" or column in available:
            order.append(f"{column} {'ASC' if ascending else 'DESC'}")
    order += ["changed_at ASC", "user_id ASC"]
    condition, parameters = filters.where()
    select = ", ".join(
        "substr(CAST(changed_at AS VARCHAR), 1, 10) AS changed_at" if column == "changed_at" else column for column in wanted
    )
    source = _parquet_source(files)
    rows = _query(
        f"""
        SELECT {select}, confidence * magnitude AS score FROM {source}
        WHERE {condition} ORDER BY {', '.join(order)} LIMIT ? OFFSET ?
        """,
        [*parameters, page_size, page * page_size],
    )
    total = int(_query(f"SELECT count(*) AS n FROM {source} WHERE {condition}", parameters)["n"].iloc[0])
    return rows, total


def detectors(lake: Path, as_of: str | None) -> list[str]:
    """Detector names present in the transitions snapshot as of ``as_of``."""
    files = snapshot_files(lake, "transitions", as_of)
    if not files:
        return []
    return sorted(_query(f"SELECT DISTINCT detector FROM {_parquet_source(files)} WHERE detector IS NOT NULL")["detector"])


def snapshot_user_ids(lake: Path, as_of: str | None) -> list[str]:
    """Every user id in the sequences snapshot as of ``as_of`` (to map pseudonyms back)."""
    files = snapshot_files(lake, "sequences", as_of)
    if not files:
        return []
    return list(_query(f"SELECT DISTINCT user_id FROM {_parquet_source(files)}")["user_id"])


# ---------------------------------------------------------------------------------------------
# one user


def sequence_columns(lake: Path, as_of: str | None) -> list[str]:
    """The columns the sequences snapshot as of ``as_of`` actually has."""
    return _columns(snapshot_files(lake, "sequences", as_of))


def user_sequence(lake: Path, user_id: str, as_of: str | None) -> pd.DataFrame:
    """One user's daily rows, by day.

    Returns:
        ``day``, ``post_count``, ``probs``, ``dominant_label``, ``surprise`` and, when the
        snapshot has it, ``forecast`` (the temporal model's predicted distribution for the
        day, from the user's earlier days; null on the first day or when no model was fitted).
        Snapshots written before the drift stage stored forecasts have no such column.
    """
    files = snapshot_files(lake, "sequences", as_of)
    columns = ["day", "post_count", "probs", "dominant_label", "surprise"]
    if not files:
        return pd.DataFrame(columns=columns)
    forecast = f", {FORECAST_COLUMN}" if FORECAST_COLUMN in _columns(files) else ""
    return _query(
        f"SELECT CAST(day AS VARCHAR) AS day, post_count, probs, dominant_label, surprise{forecast} "
        f"FROM {_parquet_source(files)} WHERE user_id = ? ORDER BY day",
        [user_id],
    )


def user_transitions(lake: Path, user_id: str, as_of: str | None) -> pd.DataFrame:
    """One user's transitions in the snapshot as of ``as_of`` (every column the snapshot has), by day."""
    files = snapshot_files(lake, "transitions", as_of)
    if not files:
        return pd.DataFrame(columns=[*BASE_TRANSITION_COLUMNS, "score"])
    frame = _query(
        f"SELECT *, confidence * magnitude AS score FROM {_parquet_source(files)} WHERE user_id = ? ORDER BY changed_at",
        [user_id],
    )
    frame["changed_at"] = frame["changed_at"].astype(str).str[:10]
    return frame


def user_posts(
    lake: Path, user_id: str, first_day: str, last_day: str, post_ids: Sequence[str] | None = None, *,
    days: Sequence[str] | None = None, texts: bool = True,
) -> pd.DataFrame:
    """One user's scored posts created in ``[first_day, last_day]``, with text and image path.

    Args:
        post_ids: when given, only these posts (the transition's evidence).
        days: when given, only these ``dt`` partitions are opened (see :func:`evidence_days`).
        texts: also read text and image path (:func:`with_texts`); without, both stay null
            and only ``scores`` is read.

    Returns:
        :data:`POST_COLUMNS`, oldest first; a post missing from ``posts`` keeps null text.
    """
    if days is None:
        score_files = partition_files(lake, "scores", first_day, last_day)
    else:
        score_files = [file for day in sorted(set(days)) if first_day <= day <= last_day
                       for file in partition_files(lake, "scores", day, day)]
    if not score_files:
        return pd.DataFrame(columns=list(POST_COLUMNS))
    score_columns = set(_columns(score_files))
    wanted = ("fused_probs", "fused_label", "text_top_tokens", "face_boxes", "image_status", "dt", "landing_dt")
    select = ", ".join(name if name in score_columns else f"NULL AS {name}" for name in wanted)
    condition, parameters = "user_id = ?", [user_id]
    if post_ids is not None:
        condition += " AND list_contains(?, post_id)"
        parameters.append([str(post_id) for post_id in post_ids])
    frame = _query(
        f"SELECT post_id, created_at, NULL AS text, NULL AS image_path, {select} "
        f"FROM {_parquet_source(score_files)} WHERE {condition} ORDER BY created_at, post_id",
        parameters,
    )
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    return with_texts(lake, user_id, frame)[list(POST_COLUMNS)] if texts else frame[list(POST_COLUMNS)]


def with_texts(lake: Path, user_id: str, posts: pd.DataFrame) -> pd.DataFrame:
    """``posts`` with ``text`` and ``image_path`` read from table ``posts``, opening only the
    ``dt`` partitions those posts lie in (a drill-down shows six posts, not a user's history)."""
    posts = posts.drop(columns=["text", "image_path"], errors="ignore")
    partitions = sorted({str(value) for value in posts.get("dt", pd.Series(dtype=object)).dropna()})
    files = [file for partition in partitions for file in partition_files(lake, "posts", partition, partition)]
    if posts.empty or not files:
        return posts.assign(text=None, image_path=None)
    found = _query(
        f"SELECT post_id, text, image_path FROM {_parquet_source(files)} WHERE user_id = ? AND list_contains(?, post_id)",
        [user_id, [str(post_id) for post_id in posts["post_id"]]],
    ).drop_duplicates("post_id")
    return posts.merge(found, on="post_id", how="left")  # keeps any extra column (e.g. label_probability)


def locate_posts(lake: Path, user_id: str, first_day: str, last_day: str, post_ids: Sequence[str]) -> list[str]:
    """The ``dt`` partitions holding the given posts of one user (reads two narrow columns only)."""
    files = partition_files(lake, "scores", first_day, last_day)
    if not files or not post_ids:
        return []
    found = _query(
        f"SELECT DISTINCT dt FROM {_parquet_source(files)} WHERE user_id = ? AND list_contains(?, post_id)",
        [user_id, [str(post_id) for post_id in post_ids]],
    )
    return sorted(found["dt"].astype(str)) if "dt" in found else []


def post_image(lake: Path, post_id: str, partition: str) -> dict[str, Any] | None:
    """Image path and face boxes of one post, looked up in one ``dt`` partition only."""
    score_files = partition_files(lake, "scores", partition, partition)
    post_files = partition_files(lake, "posts", partition, partition)
    if not post_files:
        return None
    found = _query(f"SELECT image_path FROM {_parquet_source(post_files)} WHERE post_id = ? LIMIT 1", [post_id])
    if found.empty or found["image_path"].iloc[0] is None:
        return None
    boxes: list[list[int]] = []
    if score_files and "face_boxes" in _columns(score_files):
        scored = _query(f"SELECT face_boxes FROM {_parquet_source(score_files)} WHERE post_id = ? LIMIT 1", [post_id])
        if not scored.empty and scored["face_boxes"].iloc[0] is not None:
            boxes = [[int(value) for value in box] for box in scored["face_boxes"].iloc[0]]
    return {"image_path": str(found["image_path"].iloc[0]), "face_boxes": boxes}


# ---------------------------------------------------------------------------------------------
# pure helpers over what the queries return


def _distribution(value: Any) -> np.ndarray | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    array = np.asarray(value, dtype=float)
    return array if array.shape == (len(LABELS),) else None


def before_after_means(sequence: pd.DataFrame, transition: pd.Series) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Mean distribution on each side of one change.

    Taken from the transition's own columns when the drift stage wrote them, else the
    post-weighted mean of the user's daily distributions before ``changed_at`` and from it on.
    """
    if all(column in transition.index for column in MEAN_COLUMNS):
        before, after = (_distribution(transition[column]) for column in MEAN_COLUMNS)
        if before is not None and after is not None:
            return before, after
    if sequence.empty:
        return None, None
    changed_at = str(transition["changed_at"])[:10]
    days = sequence["day"].astype(str).str[:10]
    probabilities = np.vstack([np.asarray(value, dtype=float) for value in sequence["probs"]])
    weights = sequence["post_count"].to_numpy(dtype=float)

    def side_mean(mask: np.ndarray) -> np.ndarray | None:
        if not mask.any() or weights[mask].sum() <= 0:
            return None
        return (probabilities[mask] * weights[mask, None]).sum(axis=0) / weights[mask].sum()

    before_mask = (days < changed_at).to_numpy()
    return side_mean(before_mask), side_mean(~before_mask)


def evidence_days(sequence: pd.DataFrame, transition: pd.Series, per_side: int = 3) -> list[str]:
    """The days whose posts can show a change: on each side, the ``per_side`` days whose mean
    distribution gives that side's label (from before, to after) the most probability.

    A drill-down then opens those days' partitions only: a post's list columns cost a whole
    row group to decode, so reading 90 days of scores for one user took seconds.
    """
    if sequence.empty:
        return []
    changed_at = str(transition["changed_at"])[:10]
    days = sequence["day"].astype(str).str[:10].to_numpy()
    probabilities = np.vstack([np.asarray(value, dtype=float) for value in sequence["probs"]])
    chosen: list[str] = []
    for label, mask in ((transition["from_label"], days < changed_at), (transition["to_label"], days >= changed_at)):
        if label not in LABEL_INDEX or not mask.any():
            continue
        share = probabilities[mask, LABEL_INDEX[label]]
        chosen += list(days[mask][np.argsort(-share, kind="stable")[:per_side]])
    return sorted(chosen)


def evidence_post_ids(transition: pd.Series) -> tuple[list[str], list[str]] | None:
    """The evidence post ids the drift stage stored with a transition, or None when it did not."""
    if not all(column in transition.index for column in EVIDENCE_COLUMNS):
        return None

    def ids(value: Any) -> list[str]:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return []
        if isinstance(value, str):  # a JSON-encoded list
            value = json.loads(value) if value.startswith("[") else [value]
        return [str(item) for item in value]

    return ids(transition["evidence_before"]), ids(transition["evidence_after"])


def evidence_posts(posts: pd.DataFrame, transition: pd.Series, limit: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The posts shown before and after one change.

    The stored evidence ids when the transition has them (in their stored order); else the
    user's posts on each side that score highest for the label of that side (the report's
    :func:`jobs.report.example_posts`).
    """
    from jobs.report import example_posts

    stored = evidence_post_ids(transition)
    if stored is not None:
        by_id = posts.set_index("post_id", drop=False)
        return tuple(  # type: ignore[return-value]
            by_id.loc[[post_id for post_id in ids if post_id in by_id.index]].head(limit).reset_index(drop=True)
            for ids in stored
        )
    mine = posts.assign(user_id=str(transition["user_id"]))
    changed_at = str(transition["changed_at"])[:10]
    before = example_posts(mine, str(transition["user_id"]), changed_at, str(transition["from_label"]), before=True, limit=limit)
    after = example_posts(mine, str(transition["user_id"]), changed_at, str(transition["to_label"]), before=False, limit=limit)
    return before.reset_index(drop=True), after.reset_index(drop=True)


def window_of(sequence: pd.DataFrame, as_of: str | None) -> tuple[str, str]:
    """First and last day a user's page needs posts for (their sequence's days)."""
    if sequence.empty:
        last = as_of or dt.date.today().isoformat()
        return last, last
    days = sequence["day"].astype(str).str[:10]
    return days.min(), max(days.max(), as_of or days.max())


# ---------------------------------------------------------------------------------------------
# run health


def read_stage_manifests(lake: Path, stage: str, start: str, end: str) -> list[dict[str, Any]]:
    """Manifests of one stage for landing days in ``[start, end]``, oldest first."""
    folder = Path(lake) / "manifests" / stage
    manifests = []
    for path in sorted(folder.glob("landing_dt=*.json")) if folder.is_dir() else []:
        day = path.stem.split("=", 1)[1]
        if start <= day <= end:
            manifest = json.loads(path.read_text())
            manifest.setdefault("landing_dt", day)
            manifests.append(manifest)
    return manifests


def manifest_stages(lake: Path) -> list[str]:
    """The stages that wrote manifests (folder names under ``manifests/``)."""
    folder = Path(lake) / "manifests"
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir()) if folder.is_dir() else []


def stage_counts(lake: Path, start: str, end: str) -> pd.DataFrame:
    """Long table of every numeric count in every stage's manifests: ``landing_dt``, ``stage``, ``count``, ``value``."""
    rows = []
    for stage in manifest_stages(lake):
        for manifest in read_stage_manifests(lake, stage, start, end):
            for name, value in manifest.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    rows.append({"landing_dt": manifest["landing_dt"], "stage": stage, "count": name, "value": value})
    return pd.DataFrame(rows, columns=["landing_dt", "stage", "count", "value"])


def quarantine_by_reason(lake: Path, start: str, end: str) -> pd.DataFrame:
    """Quarantined lines per landing day and reason code, from the ingest manifests."""
    rows = [
        {"landing_dt": manifest["landing_dt"], "reason": reason, "lines": int(count)}
        for manifest in read_stage_manifests(lake, "ingest", start, end)
        for reason, count in sorted((manifest.get("quarantine_reasons") or {}).items())
    ]
    return pd.DataFrame(rows, columns=["landing_dt", "reason", "lines"])


def rows_per_landing_day(lake: Path, table: str, start: str, end: str) -> dict[str, int]:
    """Rows per ``landing_dt`` partition in ``[start, end]``, from Parquet footers only (no data read)."""
    folder = Path(lake) / table
    # posts and scores sit under dt=*/landing_dt=*, quarantine under landing_dt=* alone
    folders = [*folder.glob("landing_dt=*"), *folder.glob("dt=*/landing_dt=*")] if folder.is_dir() else []
    files = [str(path) for day_folder in folders if start <= day_folder.name.split("=", 1)[1] <= end
             for path in day_folder.glob("*.parquet")]
    if not files:
        return {}
    counts = _query(f"SELECT file_name, num_rows FROM parquet_file_metadata([{_quoted(files)}])")
    totals: dict[str, int] = {}
    for file_name, rows in zip(counts["file_name"], counts["num_rows"]):
        day = Path(file_name).parent.name.split("=", 1)[1]
        totals[day] = totals.get(day, 0) + int(rows)
    return totals


# the count a run record names its main output by, per stage (first one present wins)
RUN_ROW_COUNTS = ("accepted", "scored", "sequence_rows", "posts", "rows")
RUN_COLUMNS = ("stage", "date", "status", "started_at", "ended_at", "duration_s", "rows", "counts", "error", "model_versions", "run_id")


def run_events(lake: Path) -> pd.DataFrame:
    """Every event of table ``runs``, as :func:`jobs.lake.read_runs` returns them."""
    from jobs.lake import read_runs
    from jobs.settings import Settings

    return read_runs(Settings(lake=Path(lake)))


def run_files(lake: Path) -> tuple[str, ...]:
    """The names of table ``runs``' files: each event is one file, written once under a new
    name, so this listing changes exactly when the table does (a cache key that costs a
    folder listing, where reading a thousand small files takes a second)."""
    folder = Path(lake) / "runs"
    if not folder.is_dir():
        return ()
    return tuple(sorted(f"{stage.name}/{entry.name}" for stage in os.scandir(folder) if stage.is_dir()
                        for entry in os.scandir(stage.path) if entry.name.endswith(".parquet")))


def stage_runs(lake: Path, start: str, end: str, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every recorded run of every stage for dates in ``[start, end]``, from table ``runs``
    (:func:`jobs.lake.read_runs`), one row per run, newest first.

    A run appends a ``started`` event and then ``succeeded`` or ``failed``; a run with no end
    event is ``unfinished`` (still running, or killed before it could record its end).

    Args:
        events: the table's events when the caller already holds them (:func:`run_events`).

    Returns:
        :data:`RUN_COLUMNS`: ``duration_s`` (None when unfinished), ``rows`` (the stage's main
        count, see :data:`RUN_ROW_COUNTS`), ``counts`` (every number the run recorded,
        ``name=value``), ``error``.
    """
    events = run_events(lake) if events is None else events
    events = events[(events["date"] >= start) & (events["date"] <= end)]
    if events.empty:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    started = events[events["status"] == "started"].drop_duplicates("run_id", keep="last").set_index("run_id")
    ended = events[events["status"] != "started"].drop_duplicates("run_id", keep="last").set_index("run_id")
    runs = started[["stage", "date", "started_at"]].join(
        ended[["status", "ended_at", "counts", "error", "model_versions"]], how="outer")
    runs["stage"] = runs["stage"].fillna(ended["stage"])  # an end whose start was lost still shows
    runs["date"] = runs["date"].fillna(ended["date"])
    runs["status"] = runs["status"].fillna("unfinished")
    runs["duration_s"] = (runs["ended_at"] - runs["started_at"]).dt.total_seconds().round(1)
    parsed = runs["counts"].map(_json_object)
    rows = parsed.map(lambda counts: next((counts[name] for name in RUN_ROW_COUNTS
                                           if isinstance(counts.get(name), (int, float))), None))
    runs["rows"] = pd.to_numeric(rows, errors="coerce").round().astype("Int64")
    # the numbers only: dates, stage names and paths a run also records say nothing new here
    runs["counts"] = parsed.map(lambda counts: ", ".join(f"{name}={value}" for name, value in sorted(counts.items())
                                                         if isinstance(value, (int, float)) and not isinstance(value, bool)))
    runs["model_versions"] = runs["model_versions"].map(
        lambda value: ", ".join(f"{name}={version}" for name, version in sorted(_json_object(value).items())))
    runs = runs.reset_index().rename(columns={"index": "run_id"})
    order = runs["started_at"].fillna(runs["ended_at"])
    return runs.assign(_order=order).sort_values(["_order", "stage"], ascending=False, ignore_index=True)[list(RUN_COLUMNS)]


def _json_object(value: Any) -> dict[str, Any]:
    """A JSON object stored as text (``{}`` for anything else: null, a list, broken text)."""
    if not isinstance(value, str):
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def with_recorded_gates(gates: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """:func:`quality_gates` output beside the gates as the pipeline ran them: the latest
    ``check-ingest`` / ``check-score`` run of each day in :func:`stage_runs` output.

    Returns:
        ``gates``' columns plus ``recorded`` (``succeeded`` / ``failed`` / ``unfinished``, or
        ``not run``) and ``recorded_error``; a day with a recorded gate but no manifest is kept.
    """
    checks = runs[runs["stage"].isin(["check-ingest", "check-score"])] if len(runs) else runs
    if checks.empty:
        return gates.assign(recorded="not run", recorded_error="")
    latest = checks.sort_values("started_at", na_position="first").drop_duplicates(["stage", "date"], keep="last")
    recorded = pd.DataFrame({"landing_dt": latest["date"].to_numpy(), "stage": latest["stage"].str.removeprefix("check-").to_numpy(),
                             "recorded": latest["status"].to_numpy(), "recorded_error": latest["error"].fillna("").to_numpy()})
    merged = gates.merge(recorded, on=["landing_dt", "stage"], how="outer")
    merged["status"] = merged["status"].fillna("missing")
    merged["problems"] = merged["problems"].fillna("no manifest")
    merged["recorded"] = merged["recorded"].fillna("not run")
    merged["recorded_error"] = merged["recorded_error"].fillna("")
    return merged.sort_values(["landing_dt", "stage"], ignore_index=True)


def _quoted(files: Sequence[str]) -> str:
    return ", ".join("'" + file.replace("'", "''") + "'" for file in files)


def quality_gates(lake: Path, start: str, end: str) -> pd.DataFrame:
    """The data-quality gate of every landing day in ``[start, end]``, recomputed from manifests and tables.

    Uses the gate's own rules (:func:`jobs.quality.ingest_problems` and
    :func:`jobs.quality.score_problems`).

    Returns:
        ``landing_dt``, ``stage``, ``status`` (``ok`` / ``failed`` / ``missing``), ``problems``.
    """
    from jobs.quality import ingest_problems, score_problems

    posts = rows_per_landing_day(lake, "posts", start, end)
    quarantine = rows_per_landing_day(lake, "quarantine", start, end)
    scores = rows_per_landing_day(lake, "scores", start, end)
    ingest = {manifest["landing_dt"]: manifest for manifest in read_stage_manifests(lake, "ingest", start, end)}
    score = {manifest["landing_dt"]: manifest for manifest in read_stage_manifests(lake, "score", start, end)}
    rows = []
    for day in sorted(set(ingest) | set(score)):
        for stage, manifests in (("ingest", ingest), ("score", score)):
            manifest = manifests.get(day)
            if manifest is None:
                rows.append({"landing_dt": day, "stage": stage, "status": "missing", "problems": "no manifest"})
                continue
            try:
                problems = (ingest_problems(manifest, posts.get(day, 0), quarantine.get(day, 0)) if stage == "ingest"
                            else score_problems(manifest, posts.get(day, 0), scores.get(day, 0)))
            except KeyError as error:
                problems = [f"manifest lacks {error}"]
            rows.append({"landing_dt": day, "stage": stage, "status": "failed" if problems else "ok",
                         "problems": "; ".join(problems)})
    return pd.DataFrame(rows, columns=["landing_dt", "stage", "status", "problems"])


def _versions_from_footers(files: Sequence[str], column: str) -> pd.DataFrame | None:
    """``dt``, version and rows per row group from the Parquet statistics, when every row group
    holds a single version (min = max); None when one does not and the data must be read."""
    if not files:
        return None
    statistics = _query(
        f"SELECT file_name, row_group_id, row_group_num_rows AS rows, stats_min_value AS low, stats_max_value AS high "
        f"FROM parquet_metadata([{_quoted(files)}]) WHERE path_in_schema = ?",
        [column],
    )
    if statistics.empty or statistics["low"].isna().any() or (statistics["low"] != statistics["high"]).any():
        return None
    day = statistics["file_name"].map(lambda name: next((part[3:] for part in Path(name).parts if part.startswith("dt=")), None))
    return pd.DataFrame({"dt": day, "version": statistics["low"], "rows": statistics["rows"]})


def model_versions(lake: Path, start: str, end: str) -> pd.DataFrame:
    """Which model versions scored the posts of ``[start, end]`` and fitted the latest drift.

    Read from the Parquet footers' statistics when each row group holds one version (the
    usual case: a day is scored by one release), so 90 days of scores cost no data read.

    Returns:
        ``model``, ``version``, ``first_day``, ``last_day``, ``rows``.
    """
    frames = []
    score_files = partition_files(lake, "scores", start, end)
    columns = _columns(score_files)
    for model, column in (("text", "text_model_version"), ("image", "image_model_version")):
        if column not in columns:
            continue
        footers = _versions_from_footers(score_files, column)
        if footers is None:
            footers = _query(f"SELECT dt, {column} AS version, count(*) AS rows FROM {_parquet_source(score_files)} GROUP BY ALL")
        frames.append(
            footers.groupby("version", dropna=False)
            .agg(first_day=("dt", "min"), last_day=("dt", "max"), rows=("rows", "sum"))
            .reset_index().assign(model=model)
        )
    transition_files = snapshot_files(lake, "transitions", end)
    if "model_version" in _columns(transition_files):
        snapshot = snapshot_date(lake, end, "transitions")
        frames.append(_query(
            f"SELECT 'temporal' AS model, model_version AS version, ? AS first_day, ? AS last_day, "
            f"count(*) AS rows FROM {_parquet_source(transition_files)} GROUP BY model_version",
            [snapshot, snapshot],
        ))
    columns = ["model", "version", "first_day", "last_day", "rows"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns].sort_values(["model", "first_day"], ignore_index=True)
