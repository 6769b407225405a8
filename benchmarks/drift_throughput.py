"""Drift-stage throughput: seconds to fit the temporal LSTM per 1,000 user-days, users/s of detection.

Pure Python path (no Spark): what each applyInPandas group and the driver-side fit cost.
Run: .venv/bin/python benchmarks/drift_throughput.py [--users 500] [--days 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from drift.sequences import build_daily_sequences, piecewise_constant_cohort, user_sequences
from drift.transitions import detect_transitions
from models.temporal.inference import step_surprise
from models.temporal.training import fit_temporal_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

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
    surprises = [step_surprise(model, sequence.probs, sequence.day_gaps()) for sequence in sequences]
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
