"""Drift-stage throughput: the nightly Spark run over daily aggregates (wall, peak memory), and
the pure-Python costs inside it (LSTM fit per 1,000 user-days, users/s of detection).

``--spark``: writes ``daily_user_landing_aggregates`` for ``--users`` x ``--days`` (synthetic: a base
distribution per user, a fifth of them switching mid-window, 15 % of days without posts) into
a temporary lake, then times ``jobs.detect_drift.run`` for the last day with
``drift_lookback_days = --days``, sampling the resident memory of the whole process tree
(driver, JVM, Python workers; ``score_spark.PeakMemory``), and prints each step's wall and CPU.
Run: .venv/bin/python benchmarks/drift_throughput.py [--users 500] [--days 30] [--threads 1]
     .venv/bin/python benchmarks/drift_throughput.py --spark --users 10000 --days 90 [--spark-master local[2]] [--partitions 8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drift.sequences import build_daily_sequences, piecewise_constant_cohort, user_sequences  # noqa: E402
from drift.transitions import detect_transitions  # noqa: E402
from models.labels import NUM_LABELS  # noqa: E402
from models.temporal.inference import forecasts_and_surprises  # noqa: E402
from models.temporal.training import fit_temporal_model  # noqa: E402
from score_spark import PeakMemory, tree_cpu_seconds  # noqa: E402  (benchmarks/ is on the path when run as a script)


def write_synthetic_aggregates(table: Path, users: int, days: int, start: dt.date, seed: int) -> int:
    """Write ``daily_user_landing_aggregates`` partitions as the drift job would (every post
    landing on its own day); returns the rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    bases = rng.dirichlet(np.ones(NUM_LABELS), size=users) * 0.5 + np.eye(NUM_LABELS)[rng.integers(NUM_LABELS, size=users)] * 0.5
    switched = np.eye(NUM_LABELS)[rng.integers(NUM_LABELS, size=users)] * 0.5 + bases * 0.5
    changing = rng.random(users) < 0.2
    user_ids = np.array([f"user-{index:07d}" for index in range(users)], dtype=object)
    rows = 0
    for day_index in range(days):
        day = (start + dt.timedelta(days=day_index)).isoformat()
        posting = rng.random(users) >= 0.15
        mean = np.where((changing & (day_index >= days // 2))[:, None], switched, bases)[posting]
        # Dirichlet(20 mean + 0.1) per row, drawn as normalised gammas (one call for the day).
        draws = rng.standard_gamma(20 * mean + 0.1)
        probs = (draws / draws.sum(axis=1, keepdims=True)).round(6)
        count = len(probs)
        post_counts = (1 + rng.poisson(1.5, size=count)).astype(np.int32)
        ids = np.char.add(np.char.add(user_ids[posting].astype(str)[:, None], f"-{day_index}-"), np.arange(NUM_LABELS).astype(str)[None, :])
        offsets = pa.array(np.arange(0, NUM_LABELS * (count + 1), NUM_LABELS, dtype=np.int32))

        def lists(values: np.ndarray, kind: pa.DataType) -> pa.ListArray:
            return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1), kind))

        frame = pa.table({
            "user_id": pa.array(user_ids[posting].tolist(), pa.string()),
            "day": pa.array([day] * count, pa.string()),
            "post_count": pa.array(post_counts),
            "prob_sums": lists(probs * post_counts[:, None], pa.float64()),
            "exemplar_post_ids": lists(ids, pa.string()),
            "exemplar_probs": lists(np.minimum(1.0, probs * 1.3).round(6), pa.float64()),
        })
        partition = table / f"dt={day}" / f"landing_dt={day}"
        partition.mkdir(parents=True, exist_ok=True)
        pq.write_table(frame, partition / "part-0.parquet")
        rows += count
    return rows


class StageClock:
    """Wall and process-tree CPU seconds between the drift job's steps: wraps the job module's
    ``fit_cohort_model`` (the fit sample is collected in it), ``link_transitions`` (called once
    the transitions pass is done) and ``load`` (the sequences pass runs as its table is written)."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float, float]] = []

    def mark(self, name: str) -> None:
        self.marks.append((name, time.perf_counter(), tree_cpu_seconds()))

    def wrap(self, module: object, attribute: str, before: str | None, after: str | Callable[..., str]) -> None:
        inner = getattr(module, attribute)

        def timed(*args: object, **kwargs: object) -> object:
            if before:
                self.mark(before)
            result = inner(*args, **kwargs)
            self.mark(after(*args) if callable(after) else after)
            return result

        setattr(module, attribute, timed)

    def report(self) -> str:
        return "\n".join(
            f"  {name:<52} {end - start:7.1f} s wall {cpu_end - cpu_start:7.1f} CPU-s"
            for (_, start, cpu_start), (name, end, cpu_end) in zip(self.marks, self.marks[1:])
        )


def spark_run(args: argparse.Namespace) -> None:
    """Time the nightly drift run (Spark, daily aggregates) on a synthetic cohort."""
    import jobs.detect_drift as drift_job
    from jobs.detect_drift import AGGREGATES_TABLE, run
    from jobs.settings import Settings
    from jobs.spark import build_session

    start = dt.date(2026, 1, 1)
    run_date = start + dt.timedelta(days=args.days - 1)
    with tempfile.TemporaryDirectory(prefix="emodrift-throughput-") as folder:
        settings = Settings(
            lake=Path(folder) / "lake", landing=Path(folder) / "landing", spark_master=args.spark_master,
            drift_lookback_days=args.days, shuffle_partitions=args.partitions,
        )
        started = time.perf_counter()
        rows = write_synthetic_aggregates(settings.table_path(AGGREGATES_TABLE), args.users, args.days, start, args.seed)
        print(f"wrote {rows:,} user-day aggregates ({args.users:,} users x {args.days} days) in {time.perf_counter() - started:.0f} s")
        load_before = os.getloadavg()[0]
        with PeakMemory() as memory:
            spark = build_session(settings, "emodrift-drift-throughput")
            try:
                clock = StageClock()
                clock.wrap(drift_job, "fit_cohort_model", "refresh aggregates, previous snapshot, users", "fit sample + LSTM fit on the driver")
                clock.wrap(drift_job, "link_transitions", None, "transitions pass (per-user detection)")
                clock.wrap(drift_job, "load", None, lambda frame, table, day: (
                    "sequences pass (forecasts) + write sequences" if Path(table).name == "sequences" else f"write {Path(table).name}"))
                started = time.perf_counter()
                cpu_before = tree_cpu_seconds()
                clock.mark("start")
                counts = run(spark, settings, run_date)
                clock.mark("user count, checkpoint")
                wall = time.perf_counter() - started
                cpu = tree_cpu_seconds() - cpu_before  # before stop: the Python workers are still alive
            finally:
                spark.stop()
        print(f"nightly drift run ({args.spark_master}, {args.partitions} shuffle partitions): {wall:.0f} s wall, "
              f"{args.users / wall:.0f} users/s, peak resident memory of the process tree {memory.peak_bytes / 2**30:.2f} GiB")
        print(f"CPU seconds of the process tree (driver, JVM, workers): {cpu:.0f}; "
              f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (the machine is shared)")
        print(f"counts: {counts}")
        print(f"steps:\n{clock.report()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spark", action="store_true", help="time the Spark drift run over daily aggregates")
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.spark:
        spark_run(args)
        return

    changing = args.users // 5
    scores, truth = piecewise_constant_cohort(
        stable_users=args.users - changing, changing_users=changing, days=args.days, seed=args.seed
    )
    started = time.perf_counter()
    sequences = user_sequences(build_daily_sequences(scores))
    build_seconds = time.perf_counter() - started
    user_days = sum(len(sequence) for sequence in sequences)

    started = time.perf_counter()
    model = fit_temporal_model(
        [sequence.probs for sequence in sequences],
        day_gaps=[sequence.day_gaps() for sequence in sequences],
        seed=args.seed,
        num_threads=args.threads,
    )
    fit_seconds = time.perf_counter() - started

    started = time.perf_counter()
    # batched through the LSTM as the drift job runs it
    surprises = [surprise for _, surprise in forecasts_and_surprises(
        model, [sequence.probs for sequence in sequences], [sequence.day_gaps() for sequence in sequences])]
    surprise_seconds = time.perf_counter() - started
    started = time.perf_counter()
    found = [detect_transitions(sequence, surprise) for sequence, surprise in zip(sequences, surprises)]
    detect_seconds = time.perf_counter() - started

    flagged = sum(len(frame) for frame in found)
    hits = sum(
        any(abs(sequence.days.index(day) - sequence.days.index(truth[sequence.user_id])) <= 1 for day in frame.changed_at)
        for sequence, frame in zip(sequences, found)
        if truth[sequence.user_id] is not None
    )
    total_seconds = surprise_seconds + detect_seconds
    print(f"users {len(sequences)}  user-days {user_days}  posts {len(scores)}  threads {args.threads}")
    print(f"build sequences (pandas): {build_seconds:.2f} s")
    print(f"fit LSTM (40 epochs, hidden 16): {fit_seconds:.2f} s = {1000 * fit_seconds / user_days:.3f} s per 1,000 user-days")
    print(f"surprise: {len(sequences) / surprise_seconds:.0f} users/s; transitions: {len(sequences) / detect_seconds:.0f} users/s; "
          f"both: {len(sequences) / total_seconds:.0f} users/s")
    print(f"precision {hits / max(flagged, 1):.3f}  recall {hits / changing:.3f}  ({flagged} flagged, {changing} planted)")
    print(f"median days per user {np.median([len(sequence) for sequence in sequences]):.0f}")


if __name__ == "__main__":
    main()
