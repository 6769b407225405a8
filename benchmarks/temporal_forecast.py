"""Does the temporal LSTM earn its place? Next-day forecasts on held-out users against baselines.

Users' daily sequences come from a lake's ``scores`` (the pipeline's fused distributions,
e.g. the ground-truth cohort ``benchmarks/drift_quality.py`` leaves in its work folder).
Users are split in two folds by a hash of their id; every model is fitted on one fold and
scored on the other (both ways), so every user is scored once, as a held-out user. The score
is the mean KL(observed next day || forecast) over held-out days (lower is better):

- running average: the mean of the user's days so far (every day alike);
- post-weighted running average: the same, days weighted by their posts;
- predict yesterday: the last day with posts;
- exponential smoothing: rate chosen on the fitting fold;
- LSTM (gaps): the network with the day gaps only (the earlier model);
- LSTM (gaps + post counts): post-weighted history mean and the day's post count as inputs.

Run: .venv/bin/python benchmarks/temporal_forecast.py --lake /tmp/emodrift-drift-quality/lake [--epochs 40]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drift.sequences import UserSequence, build_daily_sequences, user_sequences  # noqa: E402
from models.temporal.inference import mean_kl, normalised, predict_next  # noqa: E402
from models.temporal.training import fit_temporal_model  # noqa: E402

SMOOTHING_GRID = (0.1, 0.2, 0.3, 0.5, 0.7)


def running_average(sequence: UserSequence, weighted: bool) -> np.ndarray:
    probs = normalised(sequence.probs)
    weights = sequence.post_counts.astype(np.float64) if weighted else np.ones(len(probs))
    return (np.cumsum(probs * weights[:, None], axis=0) / np.cumsum(weights)[:, None])[:-1]


def smoothed(sequence: UserSequence, rate: float) -> np.ndarray:
    probs = normalised(sequence.probs)
    forecasts = np.empty_like(probs[:-1])
    level = probs[0]
    for index in range(len(probs) - 1):
        level = probs[0] if index == 0 else (1 - rate) * level + rate * probs[index]
        forecasts[index] = level
    return forecasts


def score(forecaster, sequences: list[UserSequence]) -> float:
    predicted = np.concatenate([forecaster(sequence) for sequence in sequences])
    observed = np.concatenate([normalised(sequence.probs)[1:] for sequence in sequences])
    return mean_kl(predicted, observed)


def fold_of(user_id: str) -> int:
    return hashlib.sha256(user_id.encode()).digest()[0] % 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=Path("/tmp/emodrift-drift-quality/lake"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden-dim", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    scores = pd.read_parquet(args.lake / "scores", columns=["user_id", "created_at", "fused_probs"])
    sequences = [sequence for sequence in user_sequences(build_daily_sequences(scores)) if len(sequence) >= 2]
    folds = [[sequence for sequence in sequences if fold_of(sequence.user_id) == fold] for fold in (0, 1)]
    results: dict[str, list[float]] = {}

    def add(name: str, value: float, weight: int) -> None:
        results.setdefault(name, []).append((value, weight))

    for fit_fold, held_fold in ((0, 1), (1, 0)):
        fit, held = folds[fit_fold], folds[held_fold]
        days = sum(len(sequence) - 1 for sequence in held)
        add("running average", score(lambda s: running_average(s, False), held), days)
        add("post-weighted running average", score(lambda s: running_average(s, True), held), days)
        add("predict yesterday", score(lambda s: normalised(s.probs)[:-1], held), days)
        rate = min(SMOOTHING_GRID, key=lambda value: score(lambda s: smoothed(s, value), fit))
        add("exponential smoothing (rate fitted)", score(lambda s: smoothed(s, rate), held), days)
        for name, with_counts in (("LSTM (gaps)", False), ("LSTM (gaps + post counts)", True)):
            model = fit_temporal_model(
                [sequence.probs for sequence in fit],
                day_gaps=[sequence.day_gaps() for sequence in fit],
                post_counts=[sequence.post_counts for sequence in fit] if with_counts else None,
                hidden_dim=args.hidden_dim, epochs=args.epochs, seed=args.seed,
            )
            add(name, score(lambda s: predict_next(model, s.probs, s.day_gaps(), s.post_counts if with_counts else None), held), days)
    print(f"{len(sequences)} users, {sum(len(s) for s in sequences)} user-days; two folds by user-id hash, "
          f"each model fitted on one and scored on the other")
    print(f"{'forecaster':<40} {'held-out mean KL':>17}")
    for name, values in results.items():
        total = sum(weight for _, weight in values)
        print(f"{name:<40} {sum(value * weight for value, weight in values) / total:>17.4f}")


if __name__ == "__main__":
    main()
