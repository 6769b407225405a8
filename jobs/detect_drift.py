"""Drift job: daily user aggregates -> user ``sequences`` -> ``transitions``, for one as-of date.

Cost does not grow with history: each run first (re)writes ``daily_user_aggregates`` for the
UTC days whose scores this landing day touched (D itself, plus the day of any late post, plus
any day of the window that has scores but no aggregates yet, e.g. on a lake from before the
table existed): one row per user and day with the post count, the mean fused distribution and,
per label, the post that showed it most. The rest of the run reads only those aggregates, so
one ``applyInPandas`` group holds at most ``drift_lookback_days`` rows whatever a user posts.

extract: the aggregates with ``dt`` in [D - drift_lookback_days + 1, D].
transform: the cohort's sequences are collected to the driver (capped, users drawn
deterministically) to fit the temporal LSTM; its weights are broadcast and each user's
surprise, then transitions, are computed with ``groupBy("user_id").applyInPandas`` around
the pure functions of :mod:`drift`. Tonight's transitions (few rows) are then linked on the
driver to last night's snapshot, so a change keeps its ``transition_id`` and
``first_flagged_dt`` while its date moves (:func:`drift.transitions.link_transitions`).
load: both tables partitioned by ``dt`` = D with dynamic partition overwrite, so rerunning a
date replaces exactly that date's rows (with identical values: seeds are fixed and floats
rounded before writing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from drift.sequences import to_user_sequence, user_sequences
from drift.transitions import TransitionOptions, detect_transitions, link_transitions
from jobs.lake import read_table, replace_partitions, uri
from jobs.settings import Settings
from models.labels import LABELS, NUM_LABELS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from models.temporal.network import TemporalLSTM

SEQUENCES_SCHEMA = (
    "user_id string, day string, post_count int, probs array<double>, dominant_label string, surprise double, "
    "forecast array<double>"
)
SEQUENCE_TABLE_COLUMNS = (*(column.split()[0] for column in SEQUENCES_SCHEMA.split(", ")), "dt")
EXEMPLAR_COLUMNS = "exemplar_post_ids array<string>, exemplar_probs array<double>"
AGGREGATES_TABLE = "daily_user_aggregates"
AGGREGATES_SCHEMA = f"user_id string, day string, post_count int, probs array<double>, {EXEMPLAR_COLUMNS}"
TRANSITIONS_SCHEMA = (
    "user_id string, changed_at string, from_label string, to_label string, magnitude double, "
    "confidence double, posts_before int, posts_after int, detector string, model_version string, "
    "mean_before array<double>, mean_after array<double>, evidence_before array<string>, "
    "evidence_after array<string>, transition_id string, first_flagged_dt string"
)
NO_MODEL = "none"
# One folder per as-of date under the lake, holding the LSTM fitted that night as
# ``<model_version>.safetensors``; the next night warm-starts from the latest earlier one.
CHECKPOINTS_FOLDER = "temporal_checkpoints"
DECIMALS = 6


@dataclasses.dataclass(frozen=True)
class DriftOptions:
    """How the drift stage fits its model and flags transitions.

    Args:
        transitions: detection and filtering of transitions per user.
        hidden_dim: temporal LSTM hidden size.
        epochs: LSTM training passes.
        max_fit_users: users collected to the driver for fitting (drawn by a hash of the id,
            so the same users are drawn on every rerun).
        max_fit_days: most recent days per user used for fitting.
        seed: seeds the LSTM fit.
        device: ``"cpu"`` or ``"cuda"`` for the fit on the driver.
    """

    transitions: TransitionOptions = TransitionOptions()
    hidden_dim: int = 16
    epochs: int = 40
    max_fit_users: int = 2000
    max_fit_days: int = 60
    seed: int = 0
    device: str = "cpu"


def window(run_date: dt.date, lookback_days: int) -> tuple[str, str]:
    """First and last ``dt`` (inclusive) of the look-back window ending on ``run_date``."""
    return (run_date - dt.timedelta(days=lookback_days - 1)).isoformat(), run_date.isoformat()


def partition_values(spark: SparkSession, table_path: str, pattern: str) -> list[str]:
    """The ``dt`` values of the partition folders under ``table_path`` matching a glob such as
    ``dt=*/landing_dt=2026-01-15`` (sorted, unique; empty when the table does not exist)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(f"{uri(table_path)}/{pattern}")
    file_system = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    statuses = file_system.globStatus(hadoop_path) or []
    values = set()
    for status in statuses:
        for part in str(status.getPath().toString()).split("/"):
            if part.startswith("dt="):
                values.add(part[len("dt="):])
    return sorted(values)


def days_to_aggregate(spark: SparkSession, settings: Settings, run_date: dt.date) -> list[str]:
    """UTC days whose aggregates tonight's run must (re)write: the days landing day D wrote
    scores under, and the days of the window with scores but no aggregates yet."""
    scores_path = str(settings.table_path("scores"))
    touched = partition_values(spark, scores_path, f"dt=*/landing_dt={run_date.isoformat()}")
    first, last = window(run_date, settings.drift_lookback_days)
    scored = {day for day in partition_values(spark, scores_path, "dt=*") if first <= day <= last}
    aggregated = set(partition_values(spark, str(settings.table_path(AGGREGATES_TABLE)), "dt=*"))
    return sorted(set(touched) | (scored - aggregated))


def daily_aggregates(scores: DataFrame) -> DataFrame:
    """Per user per UTC day: post count, mean fused distribution (renormalised, rounded) and,
    per label, the post with the highest probability of it (ties: the larger post id).

    Same means as :func:`drift.sequences.build_daily_sequences`, computed in Spark so only one
    row per user-day leaves the executors.
    """
    from pyspark.sql import functions as F

    probability = [F.col("fused_probs")[index].cast("double") for index in range(NUM_LABELS)]
    means = [F.avg(probability[index]).alias(f"mean_{index}") for index in range(NUM_LABELS)]
    strongest = [
        F.max(F.struct(probability[index].alias("p"), F.col("post_id").alias("id"))).alias(f"top_{index}")
        for index in range(NUM_LABELS)
    ]
    aggregated = (
        scores.where(F.col("fused_probs").isNotNull())
        .withColumn("day", F.date_format("created_at", "yyyy-MM-dd"))
        .groupBy("user_id", "day")
        .agg(F.count(F.lit(1)).cast("int").alias("post_count"), *means, *strongest)
    )
    total = sum((F.col(f"mean_{index}") for index in range(1, NUM_LABELS)), F.col("mean_0"))
    return aggregated.select(
        "user_id",
        "day",
        "post_count",
        F.array(*[F.round(F.col(f"mean_{index}") / total, DECIMALS) for index in range(NUM_LABELS)]).alias("probs"),
        F.array(*[F.col(f"top_{index}.id") for index in range(NUM_LABELS)]).alias("exemplar_post_ids"),
        F.array(*[F.round(F.col(f"top_{index}.p"), DECIMALS) for index in range(NUM_LABELS)]).alias("exemplar_probs"),
    )


def refresh_aggregates(spark: SparkSession, settings: Settings, run_date: dt.date) -> int:
    """(Re)write ``daily_user_aggregates`` for :func:`days_to_aggregate`; returns how many days.

    Reads only those days' scores. A day whose scores have no usable row gets an empty
    partition, so stale aggregates never outlive their scores.
    """
    from pyspark.sql import functions as F

    days = days_to_aggregate(spark, settings, run_date)
    scores = read_table(spark, settings, "scores")
    if not days or scores is None:
        return 0
    day = F.col("dt").cast("string")
    selected = scores.where(day.isin(days)).select("post_id", "user_id", "created_at", "fused_probs", day.alias("dt"))
    # a late post's created_at date is its dt, so grouping by day keeps each row in its partition
    aggregates = daily_aggregates(selected).withColumn("dt", F.col("day"))
    table_path = str(settings.table_path(AGGREGATES_TABLE))
    # Each day is published atomically on its own (a day with no usable score gets an empty
    # partition); the aggregates are computed once for all of them.
    aggregates = aggregates.cache()
    try:
        for day_value in sorted(days):
            replace_partitions(aggregates.where(F.col("dt") == day_value), table_path, ["dt"], f"dt={day_value}",
                               empty_partition=f"dt={day_value}")
    finally:
        aggregates.unpersist()
    return len(days)


def extract(spark: SparkSession, settings: Settings, run_date: dt.date) -> DataFrame:
    """The daily aggregates of the look-back window (an empty frame when there are none)."""
    from pyspark.sql import functions as F

    aggregates = read_table(spark, settings, AGGREGATES_TABLE)
    if aggregates is None:
        return spark.createDataFrame([], AGGREGATES_SCHEMA)
    first, last = window(run_date, settings.drift_lookback_days)
    day = F.col("dt").cast("string")
    return aggregates.where((day >= first) & (day <= last)).select(
        "user_id", "day", "post_count", "probs", "exemplar_post_ids", "exemplar_probs"
    )


def fit_cohort_model(daily: DataFrame, options: DriftOptions, initial: TemporalLSTM | None = None) -> TemporalLSTM | None:
    """Collect a deterministic sample of users' sequences and fit the temporal LSTM on them.

    Args:
        daily: the window's daily aggregates.
        options: model options.
        initial: last night's model to warm-start from (None: a seeded initialisation).

    Returns None when no user has two days in the window (nothing to learn dynamics from).
    """
    from pyspark.sql import functions as F

    from models.temporal.training import fit_temporal_model

    users = (
        daily.groupBy("user_id").agg(F.count(F.lit(1)).alias("days"))
        .where(F.col("days") >= 2)
        .orderBy(F.xxhash64("user_id"), "user_id")
        .limit(options.max_fit_users)
    )
    collected = daily.join(users.select("user_id"), "user_id").toPandas()
    if collected.empty:
        return None
    collected = collected.sort_values(["user_id", "day"], ignore_index=True)
    sequences = user_sequences(collected)
    return fit_temporal_model(
        [sequence.probs for sequence in sequences],
        day_gaps=[sequence.day_gaps() for sequence in sequences],
        hidden_dim=options.hidden_dim,
        epochs=options.epochs,
        max_users=options.max_fit_users,
        max_length=options.max_fit_days,
        seed=options.seed,
        device=options.device,
        initial=initial,
    )


def _file_system(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """The Hadoop file system of ``path`` and its Hadoop ``Path`` (local folders and object stores alike)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def last_checkpoint(spark: SparkSession, settings: Settings, run_date: dt.date) -> str | None:
    """The checkpoint of the latest as-of date before ``run_date``, or None.

    Strictly before: rerunning a date starts from the same weights as its first run did.
    """
    folder = str(settings.table_path(CHECKPOINTS_FOLDER))
    earlier = [day for day in partition_values(spark, folder, "dt=*") if day < run_date.isoformat()]
    for day in reversed(earlier):
        file_system, pattern = _file_system(spark, f"{uri(folder)}/dt={day}/*.safetensors")
        found = sorted(str(status.getPath().toString()) for status in (file_system.globStatus(pattern) or []))
        if found:
            return found[-1]
    return None


def load_checkpoint(spark: SparkSession, path: str) -> TemporalLSTM:
    """Read a checkpoint written by :func:`save_checkpoint` (copied to a local temporary file first)."""
    import tempfile

    from models.temporal.inference import load_temporal_model

    file_system, source = _file_system(spark, path)
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "model.safetensors"
        file_system.copyToLocalFile(False, source, spark.sparkContext._jvm.org.apache.hadoop.fs.Path(str(local)), True)
        return load_temporal_model(local)


def save_checkpoint(spark: SparkSession, settings: Settings, run_date: dt.date, model: TemporalLSTM) -> str:
    """Write tonight's model as ``temporal_checkpoints/dt=D/<version>.safetensors``, replacing
    any earlier run's for D; returns its path. The file appears under its final name by one
    rename, so a reader never sees half a checkpoint."""
    import tempfile

    from models.temporal.inference import model_version, save_temporal_model

    folder = f"{uri(settings.table_path(CHECKPOINTS_FOLDER))}/dt={run_date.isoformat()}"
    file_system, target_folder = _file_system(spark, folder)
    hadoop_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
    with tempfile.TemporaryDirectory() as local_folder:
        local = Path(local_folder) / "model.safetensors"
        save_temporal_model(model, local)
        staged = hadoop_path(f"{folder}.staging")
        file_system.delete(staged, True)
        file_system.mkdirs(staged)
        final_name = f"{model_version(model)}.safetensors"
        file_system.copyFromLocalFile(False, True, hadoop_path(str(local)), hadoop_path(f"{folder}.staging/{final_name}"))
    file_system.delete(target_folder, True)
    if not file_system.rename(staged, target_folder):
        raise OSError(f"could not publish the temporal checkpoint {folder}")
    return f"{folder}/{final_name}"


# One rebuilt model per Python worker and model version: workers are reused across tasks,
# and rebuilding per group would dominate the cost of scoring a 60-day user.
_WORKER_MODELS: dict[str, Any] = {}


def _worker_model(payload: dict[str, Any]) -> TemporalLSTM:
    version = payload["version"]
    if version not in _WORKER_MODELS:
        import torch

        from models.temporal.inference import TemporalConfig, build_temporal_model

        torch.set_num_threads(1)
        _WORKER_MODELS.clear()
        _WORKER_MODELS[version] = build_temporal_model(TemporalConfig(**payload["config"]), payload["state"])
    return _WORKER_MODELS[version]


def user_sequence_rows(rows: pd.DataFrame, model: TemporalLSTM | None) -> pd.DataFrame:
    """One user's ``sequences`` rows: dominant label, the LSTM's forecast of each day from the
    user's earlier days and its surprise (both null on the first day and without a model),
    plus the day's exemplar posts when ``rows`` carry them (for the transitions' evidence)."""
    from models.temporal.inference import forecast_and_surprise

    sequence = to_user_sequence(rows)
    if model is None:
        surprise = np.full(len(sequence), np.nan)
        forecast: list[list[float] | None] = [None] * len(sequence)
    else:
        predicted, surprise = forecast_and_surprise(model, sequence.probs, sequence.day_gaps())
        surprise = np.round(surprise, DECIMALS)
        forecast = [None if np.isnan(row[0]) else np.round(row, DECIMALS).tolist() for row in predicted]
    frame = pd.DataFrame(
        {
            "user_id": sequence.user_id,
            "day": list(sequence.days),
            "post_count": sequence.post_counts.astype(np.int32),
            "probs": [row.tolist() for row in sequence.probs],
            "dominant_label": [LABELS[index] for index in sequence.probs.argmax(axis=1)],
            "surprise": surprise,
            "forecast": pd.Series(forecast, dtype=object),
        }
    )
    if sequence.exemplar_post_ids is not None and sequence.exemplar_probs is not None:
        frame["exemplar_post_ids"] = [list(row) for row in sequence.exemplar_post_ids]
        frame["exemplar_probs"] = [row.tolist() for row in sequence.exemplar_probs]
    return frame


def user_transition_rows(rows: pd.DataFrame, options: TransitionOptions, version: str) -> pd.DataFrame:
    """One user's ``transitions`` rows from their ``sequences`` rows (surprise included)."""
    sequence = to_user_sequence(rows)
    surprise = rows.sort_values("day")["surprise"].to_numpy(dtype=np.float64)
    found = detect_transitions(sequence, None if np.all(np.isnan(surprise)) else surprise, options=options)
    found = found.round({"magnitude": DECIMALS, "confidence": DECIMALS})
    for column in ("mean_before", "mean_after"):
        # an object Series even when empty: Arrow cannot turn an empty float column into arrays
        found[column] = pd.Series([np.round(values, DECIMALS).tolist() for values in found[column]], index=found.index, dtype=object)
    found.insert(0, "user_id", sequence.user_id)
    found.insert(found.columns.get_loc("detector") + 1, "model_version", version)
    return found.astype({"posts_before": "int32", "posts_after": "int32"})


def transform(
    daily: DataFrame,
    *,
    run_date: dt.date,
    options: DriftOptions = DriftOptions(),
    previous: pd.DataFrame | None = None,
    initial: TemporalLSTM | None = None,
) -> tuple[DataFrame, DataFrame, TemporalLSTM | None]:
    """Build the ``sequences`` and ``transitions`` rows of one as-of date.

    Args:
        daily: the window's daily user aggregates (:data:`AGGREGATES_SCHEMA`).
        run_date: the as-of date D.
        options: model and detection options.
        previous: last night's transitions (``user_id``, ``changed_at``, ``to_label``,
            ``transition_id``, ``first_flagged_dt``), or None when there is no such snapshot.
        initial: the LSTM to warm-start the fit from (the last checkpoint), or None.

    Returns:
        ``(sequences, transitions, model)`` with the table columns, ``dt`` = ``run_date``, and
        the fitted LSTM (None when there was nothing to fit); sequences
        also carry the exemplar columns (:data:`SEQUENCE_TABLE_COLUMNS` selects the table's).
        The sequences frame is persisted (transitions are computed from it); unpersist it
        after writing.
    """
    from pyspark.sql import functions as F

    spark = daily.sparkSession
    daily = daily.persist()
    model = fit_cohort_model(daily.select("user_id", "day", "post_count", "probs"), options, initial)
    payload: dict[str, Any] | None = None
    version = NO_MODEL
    if model is not None:
        from models.temporal.inference import TemporalConfig, model_state, model_version

        version = model_version(model)
        payload = {"version": version, "config": dataclasses.asdict(TemporalConfig.of(model)), "state": model_state(model)}
    broadcast = spark.sparkContext.broadcast(payload)

    def sequences_of_user(rows: pd.DataFrame) -> pd.DataFrame:
        value = broadcast.value
        return user_sequence_rows(rows, None if value is None else _worker_model(value))

    working = daily.groupBy("user_id").applyInPandas(sequences_of_user, f"{SEQUENCES_SCHEMA}, {EXEMPLAR_COLUMNS}").persist()
    transition_options = options.transitions

    def transitions_of_user(rows: pd.DataFrame) -> pd.DataFrame:
        return user_transition_rows(rows, transition_options, version)

    unlinked_schema = TRANSITIONS_SCHEMA.rsplit(", transition_id", 1)[0]
    # few rows (flagged changes, not users or days): linking them on the driver is cheap
    found = working.groupBy("user_id").applyInPandas(transitions_of_user, unlinked_schema).toPandas()
    daily.unpersist()  # ``working`` is cached now
    found = found.sort_values(["user_id", "changed_at"], ignore_index=True)
    linked = link_transitions(found, previous, run_date.isoformat())
    transitions = spark.createDataFrame(linked, TRANSITIONS_SCHEMA) if len(linked) else spark.createDataFrame([], TRANSITIONS_SCHEMA)
    stamp = F.lit(run_date.isoformat())
    return working.withColumn("dt", stamp), transitions.withColumn("dt", stamp), model


def previous_snapshot(spark: SparkSession, settings: Settings, run_date: dt.date) -> pd.DataFrame | None:
    """Last night's transitions with their ids, or None (no snapshot, or one written before
    transitions had ids)."""
    yesterday = (run_date - dt.timedelta(days=1)).isoformat()
    table_path = str(settings.table_path("transitions"))
    if yesterday not in partition_values(spark, table_path, f"dt={yesterday}"):
        return None
    frame = spark.read.parquet(f"{uri(table_path)}/dt={yesterday}")
    if "transition_id" not in frame.columns:
        return None
    return frame.select("user_id", "changed_at", "to_label", "transition_id", "first_flagged_dt").toPandas()


def load(frame: DataFrame, table_path: str, run_date: dt.date) -> int:
    """Replace the ``dt`` = ``run_date`` partition of a table with ``frame``; returns its row count.

    An empty frame still leaves an (empty, schema-carrying) partition behind, so a rerun over
    a window that lost its scores does not keep yesterday's rows.
    """
    partition = f"dt={run_date.isoformat()}"
    replace_partitions(frame, table_path, ["dt"], partition, empty_partition=partition)
    return frame.count()


def run(
    spark: SparkSession, settings: Settings, run_date: dt.date, options: DriftOptions | None = None
) -> dict[str, int]:
    """Extract, transform and load one as-of date; returns row counts.

    Args:
        spark: an active session (the backfill command reuses one across dates).
        settings: lake location and ``drift_lookback_days``; ``device`` picks the fit device
            unless ``options`` are given.
        run_date: the as-of date D.
        options: model and detection options; defaults with ``settings.device`` resolved.

    Returns:
        ``{"users": ..., "sequence_rows": ..., "transitions": ..., "aggregated_days": ...,
        "warm_started": ...}`` (``aggregated_days``: how many days of ``daily_user_aggregates``
        this run (re)wrote; ``warm_started``: 1 when the LSTM fit started from the last
        earlier checkpoint in the lake, else 0).
    """
    if options is None:
        from models.devices import resolve_device

        options = DriftOptions(device=str(resolve_device(settings.device)))
    aggregated_days = refresh_aggregates(spark, settings, run_date)
    checkpoint = last_checkpoint(spark, settings, run_date)
    initial = None if checkpoint is None else load_checkpoint(spark, checkpoint)
    sequences, transitions, model = transform(
        extract(spark, settings, run_date), run_date=run_date, options=options,
        previous=previous_snapshot(spark, settings, run_date), initial=initial,
    )
    try:
        sequence_rows = load(sequences.select(*SEQUENCE_TABLE_COLUMNS), str(settings.table_path("sequences")), run_date)
        transition_rows = load(transitions, str(settings.table_path("transitions")), run_date)
        users = sequences.select("user_id").distinct().count()
    finally:
        sequences.unpersist()
    if model is not None:
        save_checkpoint(spark, settings, run_date, model)
    return {"users": users, "sequence_rows": sequence_rows, "transitions": transition_rows,
            "aggregated_days": aggregated_days, "warm_started": int(initial is not None and model is not None)}


def main(argv: list[str] | None = None) -> int:
    """``emodrift drift --date YYYY-MM-DD [settings flags]``."""
    from jobs.stage import run_single_day

    return run_single_day(
        argv, name="drift", description=__doc__.splitlines()[0], run=run,
        output=lambda run_date, counts: json.dumps({"date": run_date.isoformat(), **counts}, sort_keys=True),
    )


if __name__ == "__main__":
    raise SystemExit(main())
