"""Drift job: daily user aggregates -> user ``sequences`` -> ``transitions``, for one as-of date.

Cost does not grow with history, and any rerun or backfill order gives the same rows: each
run for landing day D first (re)writes ``daily_user_landing_aggregates`` for the posts that
landed on D (plus, once, any landing day of the window with scores but no aggregates yet,
e.g. on a lake from before the table existed): one row per user, UTC day of the posts and
landing day, with the post count, the sum of the fused distributions and, per label, the
post that showed it most. Those rows depend on landing D's scores alone, so rewriting them
never changes another landing's. A snapshot as of D reads the window's rows of the landing
days up to D only and adds them up per user and day: rerunning an old date after later
landings brought late posts gives the snapshot it gave the first time, and one
``applyInPandas`` group still holds at most ``drift_lookback_days`` rows per user of its
bucket whatever a user posts.

extract: the landing aggregates with ``dt`` in [D - drift_lookback_days + 1, D] and
``landing_dt`` <= D (one row per user, day and landing day).
transform: a deterministic sample of users is collected to the driver (capped, users drawn by
a hash of the id) to fit the temporal LSTM; its weights are broadcast. Then two
``applyInPandas`` passes over buckets of ~:data:`USERS_PER_GROUP` users each add a user's
landing rows up per day (:func:`drift.sequences.combine_landing_rows`) and compute, one, the
``sequences`` rows (forecast and surprise) and, the other, the transitions, around the pure
functions of :mod:`drift`. Nothing of the window is cached: the JVM only reads and shuffles
rows (which spill to disk), so memory stays bounded by one bucket per task, not by the cohort
(caching the window and the sequences, and summing 7.65 million user-days with struct maxima
in the JVM, ran the 2 GiB driver heap out at 100,000 users x 90 days). Tonight's transitions
(few rows) are linked on the driver to last night's snapshot, so a change keeps its
``transition_id`` and ``first_flagged_dt`` while its date moves
(:func:`drift.transitions.link_transitions`).
load: both tables partitioned by ``dt`` = D with dynamic partition overwrite, so rerunning a
date replaces exactly that date's rows (with identical values: seeds are fixed and floats
rounded before writing); row counts are read back from the written partition (counting the
frame would compute it a second time).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from drift.sequences import LANDING_COLUMNS, UserSequence, combine_landing_rows, user_sequences
from drift.transitions import TransitionOptions, link_transitions, transition_records, transitions_frame
from jobs.lake import local_path, read_table, replace_partitions, uri
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
AGGREGATES_TABLE = "daily_user_landing_aggregates"
# What extract() hands to transform(): one row per user, day and landing day of the window
# (columns drift.sequences.LANDING_COLUMNS).
LANDING_ROWS_SCHEMA = (
    "user_id string, day string, post_count int, prob_sums array<double>, "
    "exemplar_post_ids array<string>, exemplar_probs array<double>"
)
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
# Users per applyInPandas group (user_buckets): measured with benchmarks/drift_throughput.py
# --spark; per-group overheads dominate below ~50 users, memory grows above.
USERS_PER_GROUP = 256


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


def partition_values(spark: SparkSession, table_path: str, pattern: str, column: str = "dt") -> list[str]:
    """The ``column`` values of the partition folders under ``table_path`` matching a glob such
    as ``dt=*/landing_dt=2026-01-15`` (sorted, unique; empty when the table does not exist)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(f"{uri(table_path)}/{pattern}")
    file_system = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    statuses = file_system.globStatus(hadoop_path) or []
    values = set()
    for status in statuses:
        for part in str(status.getPath().toString()).split("/"):
            if part.startswith(f"{column}="):
                values.add(part[len(column) + 1:])
    return sorted(values)


def landings_to_aggregate(spark: SparkSession, settings: Settings, run_date: dt.date) -> list[str]:
    """Landing days whose aggregates tonight's run must (re)write: D itself, and the landing
    days of the window that have scores but no aggregates yet."""
    first, last = window(run_date, settings.drift_lookback_days)
    scored = partition_values(spark, str(settings.table_path("scores")), "dt=*/landing_dt=*", "landing_dt")
    aggregated = set(partition_values(spark, str(settings.table_path(AGGREGATES_TABLE)), "dt=*/landing_dt=*", "landing_dt"))
    return sorted({last} | {landing for landing in scored if first <= landing <= last and landing not in aggregated})


def landing_aggregates(scores: DataFrame) -> DataFrame:
    """Per user, UTC day and landing day: post count, sum of the fused distributions and, per
    label, the post with the highest probability of it (ties: the larger post id).

    Sums, not means, so the rows of several landing days add up to the day's mean exactly
    (:func:`combine_landings`); computed in Spark so one row per user-day-landing leaves the
    executors.
    """
    from pyspark.sql import functions as F

    probability = [F.col("fused_probs")[index].cast("double") for index in range(NUM_LABELS)]
    strongest = [
        F.max(F.struct(probability[index].alias("p"), F.col("post_id").alias("id"))).alias(f"top_{index}")
        for index in range(NUM_LABELS)
    ]
    aggregated = (
        scores.where(F.col("fused_probs").isNotNull())
        .withColumn("day", F.date_format("created_at", "yyyy-MM-dd"))
        .groupBy("user_id", "day", "landing_dt")
        .agg(F.count(F.lit(1)).cast("int").alias("post_count"),
             *[F.sum(probability[index]).alias(f"sum_{index}") for index in range(NUM_LABELS)], *strongest)
    )
    return aggregated.select(
        "user_id",
        "day",
        "post_count",
        F.array(*[F.col(f"sum_{index}") for index in range(NUM_LABELS)]).alias("prob_sums"),
        F.array(*[F.col(f"top_{index}.id") for index in range(NUM_LABELS)]).alias("exemplar_post_ids"),
        F.array(*[F.col(f"top_{index}.p") for index in range(NUM_LABELS)]).alias("exemplar_probs"),
        F.col("day").alias("dt"),  # a late post's created_at date is its dt: each row stays in its partition
        "landing_dt",
    )


def refresh_aggregates(spark: SparkSession, settings: Settings, run_date: dt.date) -> int:
    """(Re)write the landing aggregates of :func:`landings_to_aggregate`; returns how many landing days.

    Reads only those landing days' scores. Each landing day's partitions are replaced as one
    (``dt=*/landing_dt=L``), so a landing day whose scores lost a day loses its aggregates too.
    """
    from pyspark.sql import functions as F

    landings = landings_to_aggregate(spark, settings, run_date)
    scores = read_table(spark, settings, "scores")
    if scores is None:
        return 0
    landing = F.col("landing_dt").cast("string")
    selected = scores.where(landing.isin(landings)).select(
        "post_id", "user_id", "created_at", "fused_probs", landing.alias("landing_dt")
    )
    aggregates = landing_aggregates(selected).cache()
    table_path = str(settings.table_path(AGGREGATES_TABLE))
    try:
        for landing_value in landings:
            replace_partitions(aggregates.where(F.col("landing_dt") == landing_value), table_path,
                               ["dt", "landing_dt"], f"dt=*/landing_dt={landing_value}")
    finally:
        aggregates.unpersist()
    return len(landings)


def extract(spark: SparkSession, settings: Settings, run_date: dt.date) -> DataFrame:
    """The window's landing aggregates as known on D: rows of the landing days up to D only
    (:data:`LANDING_ROWS_SCHEMA`; an empty frame when there are none). A day that landed over
    several nights has a row per landing; transform adds them up per user."""
    from pyspark.sql import functions as F

    aggregates = read_table(spark, settings, AGGREGATES_TABLE)
    if aggregates is None:
        return spark.createDataFrame([], LANDING_ROWS_SCHEMA)
    first, last = window(run_date, settings.drift_lookback_days)
    day, landing = F.col("dt").cast("string"), F.col("landing_dt").cast("string")
    return aggregates.where((day >= first) & (day <= last) & (landing <= last)).select(*LANDING_COLUMNS)


def fit_cohort_model(
    landings: DataFrame, days_per_user: DataFrame, options: DriftOptions, initial: TemporalLSTM | None = None
) -> TemporalLSTM | None:
    """Collect a deterministic sample of users' sequences and fit the temporal LSTM on them.

    Args:
        landings: the window's landing aggregates (:data:`LANDING_ROWS_SCHEMA`).
        days_per_user: ``user_id``, ``days`` (days with posts in the window), one row per user.
        options: model options.
        initial: last night's model to warm-start from (None: a seeded initialisation).

    Returns None when no user has two days in the window (nothing to learn dynamics from).
    """
    from pyspark.sql import functions as F

    from models.temporal.training import fit_temporal_model

    users = (
        days_per_user.where(F.col("days") >= 2)
        .orderBy(F.xxhash64("user_id"), "user_id")
        .limit(options.max_fit_users)
    )
    collected = landings.join(F.broadcast(users.select("user_id")), "user_id").toPandas()
    if collected.empty:
        return None
    sequences = user_sequences(combine_landing_rows(collected, DECIMALS, exemplars=False))
    return fit_temporal_model(
        [sequence.probs for sequence in sequences],
        day_gaps=[sequence.day_gaps() for sequence in sequences],
        post_counts=[sequence.post_counts for sequence in sequences],
        hidden_dim=options.hidden_dim,
        epochs=options.epochs,
        max_users=options.max_fit_users,
        max_length=options.max_fit_days,
        seed=options.seed,
        device=options.device,
        initial=initial,
    )


def checkpoint_folder(settings: Settings) -> Path:
    """``<lake>/temporal_checkpoints``: one ``dt=D/<model_version>.safetensors`` per as-of date."""
    return local_path(settings.table_path(CHECKPOINTS_FOLDER))


def last_checkpoint(settings: Settings, run_date: dt.date) -> Path | None:
    """The checkpoint of the latest as-of date before ``run_date``, or None.

    Strictly before: rerunning a date starts from the same weights as its first run did.
    """
    earlier = [
        path for path in checkpoint_folder(settings).glob("dt=*/*.safetensors")
        if path.parent.name.removeprefix("dt=") < run_date.isoformat()
    ]
    return max(earlier, key=lambda path: (path.parent.name, path.name)) if earlier else None


def save_checkpoint(settings: Settings, run_date: dt.date, model: TemporalLSTM) -> Path:
    """Write tonight's model as ``temporal_checkpoints/dt=D/<version>.safetensors``; returns its path.

    The file is written under a hidden name and renamed, so a reader never sees half of it;
    an earlier run's checkpoint for D is removed first (a crash in between leaves D without
    one, and the next night starts from the date before).
    """
    from models.temporal.inference import model_version, save_temporal_model

    folder = checkpoint_folder(settings) / f"dt={run_date.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{model_version(model)}.safetensors"
    for old in folder.glob("*.safetensors"):
        if old != target:
            old.unlink()
    hidden = folder / f".{target.name}.tmp"
    save_temporal_model(model, hidden)
    hidden.replace(target)
    return target


def warm_start_model(settings: Settings, run_date: dt.date) -> TemporalLSTM | None:
    """The model of :func:`last_checkpoint`, or None when there is none or it cannot seed
    tonight's network (written by another architecture: said on stderr, and the fit starts
    from a fresh initialisation)."""
    from models.temporal.inference import IncompatibleCheckpoint, load_temporal_model

    checkpoint = last_checkpoint(settings, run_date)
    if checkpoint is None:
        return None
    try:
        return load_temporal_model(checkpoint)
    except IncompatibleCheckpoint as error:
        print(f"emodrift drift: not warm-starting from {checkpoint}: {error}; "
              "fitting the temporal model from a fresh initialisation", file=sys.stderr)
        return None


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
    """``sequences`` rows of the users in ``rows`` (one user, or a bucket of them): dominant
    label, the LSTM's forecast of each day from the user's earlier days and its surprise (both
    null on the first day and without a model): the columns of :data:`SEQUENCES_SCHEMA`.
    Sorted by user and day; one frame is built for all the users (per-user frames cost more
    than the LSTM)."""
    sequences = user_sequences(rows)
    if not sequences:
        return pd.DataFrame({column.split()[0]: pd.Series(dtype=object) for column in SEQUENCES_SCHEMA.split(", ")})
    surprise = np.full(len(rows), np.nan)
    forecast = np.full((len(rows), NUM_LABELS), np.nan)
    if model is not None:
        predictions = _forecasts(model, sequences)
        surprise = np.concatenate([user_surprise for _, user_surprise in predictions])
        forecast = np.concatenate([user_forecast for user_forecast, _ in predictions])
    probs = np.concatenate([sequence.probs for sequence in sequences])
    frame = pd.DataFrame(
        {
            "user_id": [sequence.user_id for sequence in sequences for _ in range(len(sequence))],
            "day": [day for sequence in sequences for day in sequence.days],
            "post_count": np.concatenate([sequence.post_counts for sequence in sequences]).astype(np.int32),
            "probs": probs.tolist(),
            "dominant_label": np.asarray(LABELS, dtype=object)[probs.argmax(axis=1)],
            "surprise": np.round(surprise, DECIMALS),
            "forecast": pd.Series([None if np.isnan(row[0]) else row for row in np.round(forecast, DECIMALS).tolist()], dtype=object),
        }
    )
    return frame


def _forecasts(model: TemporalLSTM, sequences: list[UserSequence]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(forecast, surprise) of every user of a bucket, the users batched through the LSTM."""
    from models.temporal.inference import forecasts_and_surprises

    return forecasts_and_surprises(
        model,
        [sequence.probs for sequence in sequences],
        [sequence.day_gaps() for sequence in sequences],
        [sequence.post_counts for sequence in sequences],
    )


def user_transition_rows(
    sequences: list[UserSequence], options: TransitionOptions, version: str, model: TemporalLSTM | None = None
) -> pd.DataFrame:
    """``transitions`` rows of ``sequences`` (one user, or a bucket of them; one frame for all),
    with the LSTM's surprise in the confidence only when ``options.use_surprise`` and ``model``
    is given (the surprise rounded as the ``sequences`` table stores it)."""
    surprises: list[np.ndarray | None] = [None] * len(sequences)
    if options.use_surprise and model is not None:
        # the same call on the same bucket as the sequences pass: the same surprise it stores
        surprises = [np.round(user_surprise, DECIMALS) for _, user_surprise in _forecasts(model, sequences)]
    user_ids: list[str] = []
    records: list[dict[str, object]] = []
    for sequence, surprise in zip(sequences, surprises, strict=True):
        if surprise is not None and np.all(np.isnan(surprise)):  # a one-day user: nothing to combine
            surprise = None
        found = transition_records(sequence, surprise, options=options)
        user_ids += [sequence.user_id] * len(found)
        records += found
    found = transitions_frame(records).round({"magnitude": DECIMALS, "confidence": DECIMALS})
    for column in ("mean_before", "mean_after"):
        # an object Series even when empty: Arrow cannot turn an empty float column into arrays
        found[column] = pd.Series([np.round(values, DECIMALS).tolist() for values in found[column]], index=found.index, dtype=object)
    found.insert(0, "user_id", pd.Series(user_ids, dtype=object))
    found.insert(found.columns.get_loc("detector") + 1, "model_version", version)
    return found.astype({"posts_before": "int32", "posts_after": "int32"})


def user_buckets(users: int) -> int:
    """How many ``applyInPandas`` groups the drift job makes of ``users``: about
    :data:`USERS_PER_GROUP` users each (a group holds at most that many users' look-back
    windows, whatever the cohort's size), so Arrow conversion and frame building are paid once
    per bucket instead of once per user."""
    return max(1, math.ceil(users / USERS_PER_GROUP))


def transform(
    landings: DataFrame,
    *,
    run_date: dt.date,
    options: DriftOptions = DriftOptions(),
    previous: pd.DataFrame | None = None,
    initial: TemporalLSTM | None = None,
) -> tuple[DataFrame, DataFrame, TemporalLSTM | None]:
    """Build the ``sequences`` and ``transitions`` rows of one as-of date.

    Args:
        landings: the window's landing aggregates (:data:`LANDING_ROWS_SCHEMA`, from :func:`extract`).
        run_date: the as-of date D.
        options: model and detection options.
        previous: last night's transitions (``user_id``, ``changed_at``, ``to_label``,
            ``transition_id``, ``first_flagged_dt``), or None when there is no such snapshot.
        initial: the LSTM to warm-start the fit from (the last checkpoint), or None.

    Returns:
        ``(sequences, transitions, model)`` with the table columns and ``dt`` = ``run_date``,
        and the fitted LSTM (None when there was nothing to fit). The transitions are computed
        (a small frame on the driver); the sequences are a lazy frame, computed once by
        whoever writes them.
    """
    from pyspark.sql import functions as F

    spark = landings.sparkSession
    # One row per user (small, reused for the bucket count and the fit sample).
    days_per_user = landings.groupBy("user_id").agg(F.countDistinct("day").alias("days")).persist()
    try:
        users = days_per_user.count()
        model = fit_cohort_model(landings, days_per_user, options, initial)
    finally:
        days_per_user.unpersist()
    payload: dict[str, Any] | None = None
    version = NO_MODEL
    if model is not None:
        from models.temporal.inference import TemporalConfig, model_state, model_version

        version = model_version(model)
        payload = {"version": version, "config": dataclasses.asdict(TemporalConfig.of(model)), "state": model_state(model)}
    broadcast = spark.sparkContext.broadcast(payload)
    transition_options = options.transitions

    def sequences_of_users(rows: pd.DataFrame) -> pd.DataFrame:
        value = broadcast.value
        daily = combine_landing_rows(rows, DECIMALS, exemplars=False)
        return user_sequence_rows(daily, None if value is None else _worker_model(value))

    def transitions_of_users(rows: pd.DataFrame) -> pd.DataFrame:
        value = broadcast.value
        # the LSTM runs here only when its surprise enters the confidence
        model = _worker_model(value) if transition_options.use_surprise and value is not None else None
        return user_transition_rows(user_sequences(combine_landing_rows(rows, DECIMALS)), transition_options, version, model)

    # Groups of users by a hash of the id: a group is a bucket of ~USERS_PER_GROUP users, all
    # of a user's landing rows in one group. Two passes over the same shuffle input instead of
    # caching the sequences between them: the cache is what ran the driver out of memory.
    bucket = F.pmod(F.xxhash64("user_id"), F.lit(user_buckets(users)))
    grouped = landings.withColumn("bucket", bucket).groupBy("bucket")
    unlinked_schema = TRANSITIONS_SCHEMA.rsplit(", transition_id", 1)[0]
    # few rows (flagged changes, not users or days): linking them on the driver is cheap
    found = grouped.applyInPandas(transitions_of_users, unlinked_schema).toPandas()
    found = found.sort_values(["user_id", "changed_at"], ignore_index=True)
    linked = link_transitions(found, previous, run_date.isoformat())
    transitions = spark.createDataFrame(linked, TRANSITIONS_SCHEMA) if len(linked) else spark.createDataFrame([], TRANSITIONS_SCHEMA)
    stamp = F.lit(run_date.isoformat())
    sequences = grouped.applyInPandas(sequences_of_users, SEQUENCES_SCHEMA)
    return sequences.withColumn("dt", stamp), transitions.withColumn("dt", stamp), model


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
    a window that lost its scores does not keep yesterday's rows. The count is read back from
    the written files (Parquet footers), so ``frame`` is computed once.
    """
    partition = f"dt={run_date.isoformat()}"
    replace_partitions(frame, table_path, ["dt"], partition, empty_partition=partition)
    return written_partition(frame.sparkSession, table_path, run_date).count()


def written_partition(spark: SparkSession, table_path: str, run_date: dt.date) -> DataFrame:
    """The rows a table holds for ``dt`` = ``run_date``, read back from its files."""
    return spark.read.parquet(f"{uri(table_path)}/dt={run_date.isoformat()}")


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
        ``{"users": ..., "sequence_rows": ..., "transitions": ..., "aggregated_landings": ...,
        "warm_started": ...}`` (``aggregated_landings``: how many landing days of
        ``daily_user_landing_aggregates`` this run (re)wrote; ``warm_started``: 1 when the LSTM fit started from the last
        earlier checkpoint in the lake, else 0).
    """
    if options is None:
        from models.devices import resolve_device

        options = DriftOptions(device=str(resolve_device(settings.device)))
    aggregated_landings = refresh_aggregates(spark, settings, run_date)
    initial = warm_start_model(settings, run_date)
    sequences, transitions, model = transform(
        extract(spark, settings, run_date), run_date=run_date, options=options,
        previous=previous_snapshot(spark, settings, run_date), initial=initial,
    )
    sequences_path = str(settings.table_path("sequences"))
    sequence_rows = load(sequences.select(*SEQUENCE_TABLE_COLUMNS), sequences_path, run_date)
    transition_rows = load(transitions, str(settings.table_path("transitions")), run_date)
    users = written_partition(spark, sequences_path, run_date).select("user_id").distinct().count()
    if model is not None:
        save_checkpoint(settings, run_date, model)
    return {"users": users, "sequence_rows": sequence_rows, "transitions": transition_rows,
            "aggregated_landings": aggregated_landings, "warm_started": int(initial is not None and model is not None)}


def main(argv: list[str] | None = None) -> int:
    """``emodrift drift --date YYYY-MM-DD [settings flags]``."""
    from jobs.stage import run_single_day

    return run_single_day(
        argv, name="drift", description=__doc__.splitlines()[0], run=run,
        output=lambda run_date, counts: json.dumps({"date": run_date.isoformat(), **counts}, sort_keys=True),
    )


if __name__ == "__main__":
    raise SystemExit(main())
