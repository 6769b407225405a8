"""Drift job: scores in the look-back window -> user ``sequences`` -> ``transitions``, for one as-of date.

extract: the ``scores`` rows with ``dt`` in [D - drift_lookback_days + 1, D].
transform: daily means per user in Spark; the cohort's sequences are collected to the driver
(capped, users drawn deterministically) to fit the temporal LSTM; its weights are broadcast
and each user's surprise, then transitions, are computed with ``groupBy("user_id")
.applyInPandas`` around the pure functions of :mod:`drift`.
load: both tables partitioned by ``dt`` = D with dynamic partition overwrite, so rerunning a
date replaces exactly that date's rows (with identical values: seeds are fixed and floats
rounded before writing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from drift.sequences import to_user_sequence, user_sequences
from drift.transitions import TransitionOptions, detect_transitions
from jobs.lake import read_table, replace_partitions
from jobs.settings import Settings
from models.labels import LABELS, NUM_LABELS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from models.temporal.network import TemporalLSTM

SEQUENCES_SCHEMA = (
    "user_id string, day string, post_count int, probs array<double>, dominant_label string, surprise double"
)
TRANSITIONS_SCHEMA = (
    "user_id string, changed_at string, from_label string, to_label string, magnitude double, "
    "confidence double, posts_before int, posts_after int, detector string, model_version string"
)
SCORES_SCHEMA = "post_id string, user_id string, created_at timestamp, fused_probs array<float>, dt string"
NO_MODEL = "none"
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


def extract(spark: SparkSession, settings: Settings, run_date: dt.date) -> DataFrame:
    """The scores of the look-back window (an empty frame when the table does not exist)."""
    from pyspark.sql import functions as F

    scores = read_table(spark, settings, "scores")
    if scores is None:
        return spark.createDataFrame([], SCORES_SCHEMA)
    first, last = window(run_date, settings.drift_lookback_days)
    day = F.col("dt").cast("string")
    return scores.where((day >= first) & (day <= last)).select(
        "post_id", "user_id", "created_at", "fused_probs", day.alias("dt")
    )


def daily_sequences(scores: DataFrame) -> DataFrame:
    """Per user per UTC day: post count and mean fused distribution (renormalised, rounded).

    Same definition as :func:`drift.sequences.build_daily_sequences`, computed in Spark so
    only one row per user-day leaves the executors.
    """
    from pyspark.sql import functions as F

    means = [F.avg(F.col("fused_probs")[index].cast("double")).alias(f"mean_{index}") for index in range(NUM_LABELS)]
    aggregated = (
        scores.where(F.col("fused_probs").isNotNull())
        .withColumn("day", F.date_format("created_at", "yyyy-MM-dd"))
        .groupBy("user_id", "day")
        .agg(F.count(F.lit(1)).cast("int").alias("post_count"), *means)
    )
    total = sum((F.col(f"mean_{index}") for index in range(1, NUM_LABELS)), F.col("mean_0"))
    return aggregated.select(
        "user_id",
        "day",
        "post_count",
        F.array(*[F.round(F.col(f"mean_{index}") / total, DECIMALS) for index in range(NUM_LABELS)]).alias("probs"),
    )


def fit_cohort_model(daily: DataFrame, options: DriftOptions) -> TemporalLSTM | None:
    """Collect a deterministic sample of users' sequences and fit the temporal LSTM on them.

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
    )


# One rebuilt model per Python worker and model version: workers are reused across tasks,
# and rebuilding per group would dominate the cost of scoring a 60-day user.
_WORKER_MODELS: dict[str, Any] = {}


def _worker_model(payload: dict[str, Any]) -> TemporalLSTM:
    version = payload["version"]
    if version not in _WORKER_MODELS:
        import torch

        from models.temporal.training import TemporalConfig, build_temporal_model

        torch.set_num_threads(1)
        _WORKER_MODELS.clear()
        _WORKER_MODELS[version] = build_temporal_model(TemporalConfig(**payload["config"]), payload["state"])
    return _WORKER_MODELS[version]


def user_sequence_rows(rows: pd.DataFrame, model: TemporalLSTM | None) -> pd.DataFrame:
    """One user's ``sequences`` rows: dominant label and LSTM surprise per day (null first day)."""
    from models.temporal.training import step_surprise

    sequence = to_user_sequence(rows)
    if model is None:
        surprise = np.full(len(sequence), np.nan)
    else:
        surprise = np.round(step_surprise(model, sequence.probs, sequence.day_gaps()), DECIMALS)
    return pd.DataFrame(
        {
            "user_id": sequence.user_id,
            "day": list(sequence.days),
            "post_count": sequence.post_counts.astype(np.int32),
            "probs": [row.tolist() for row in sequence.probs],
            "dominant_label": [LABELS[index] for index in sequence.probs.argmax(axis=1)],
            "surprise": surprise,
        }
    )


def user_transition_rows(rows: pd.DataFrame, options: TransitionOptions, version: str) -> pd.DataFrame:
    """One user's ``transitions`` rows from their ``sequences`` rows (surprise included)."""
    sequence = to_user_sequence(rows)
    surprise = rows.sort_values("day")["surprise"].to_numpy(dtype=np.float64)
    found = detect_transitions(sequence, None if np.all(np.isnan(surprise)) else surprise, options=options)
    found = found.round({"magnitude": DECIMALS, "confidence": DECIMALS})
    found.insert(0, "user_id", sequence.user_id)
    found["model_version"] = version
    return found.astype({"posts_before": "int32", "posts_after": "int32"})


def transform(
    scores: DataFrame, *, run_date: dt.date, options: DriftOptions = DriftOptions()
) -> tuple[DataFrame, DataFrame]:
    """Build the ``sequences`` and ``transitions`` rows of one as-of date.

    Returns:
        ``(sequences, transitions)`` with the table columns, ``dt`` = ``run_date``. The
        sequences frame is persisted (transitions are computed from it); unpersist it after
        writing.
    """
    from pyspark.sql import functions as F

    spark = scores.sparkSession
    daily = daily_sequences(scores).persist()
    model = fit_cohort_model(daily, options)
    payload: dict[str, Any] | None = None
    version = NO_MODEL
    if model is not None:
        from models.temporal.training import TemporalConfig, model_state, model_version

        version = model_version(model)
        payload = {"version": version, "config": dataclasses.asdict(TemporalConfig.of(model)), "state": model_state(model)}
    broadcast = spark.sparkContext.broadcast(payload)

    def sequences_of_user(rows: pd.DataFrame) -> pd.DataFrame:
        value = broadcast.value
        return user_sequence_rows(rows, None if value is None else _worker_model(value))

    sequences = daily.groupBy("user_id").applyInPandas(sequences_of_user, SEQUENCES_SCHEMA).persist()
    daily.unpersist()
    transition_options = options.transitions

    def transitions_of_user(rows: pd.DataFrame) -> pd.DataFrame:
        return user_transition_rows(rows, transition_options, version)

    transitions = sequences.groupBy("user_id").applyInPandas(transitions_of_user, TRANSITIONS_SCHEMA)
    stamp = F.lit(run_date.isoformat())
    return sequences.withColumn("dt", stamp), transitions.withColumn("dt", stamp)


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
        ``{"users": ..., "sequence_rows": ..., "transitions": ...}``.
    """
    if options is None:
        from models.devices import resolve_device

        options = DriftOptions(device=str(resolve_device(settings.device)))
    sequences, transitions = transform(extract(spark, settings, run_date), run_date=run_date, options=options)
    try:
        sequence_rows = load(sequences, str(settings.table_path("sequences")), run_date)
        transition_rows = load(transitions, str(settings.table_path("transitions")), run_date)
        users = sequences.select("user_id").distinct().count()
    finally:
        sequences.unpersist()
    return {"users": users, "sequence_rows": sequence_rows, "transitions": transition_rows}


def main(argv: list[str] | None = None) -> int:
    """``emodrift drift --date YYYY-MM-DD [settings flags]``."""
    from jobs.stage import run_single_day

    return run_single_day(
        argv, name="drift", description=__doc__.splitlines()[0], run=run,
        output=lambda run_date, counts: json.dumps({"date": run_date.isoformat(), **counts}, sort_keys=True),
    )


if __name__ == "__main__":
    raise SystemExit(main())
