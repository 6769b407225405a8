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
- count-aware smoothing: gain ``sigmoid(a + b log1p(posts))`` chosen on the fitting fold;
- smoothing shrunk to the cohort: exponential smoothing mixed with the fitting fold's mean
  distribution, rate and mix chosen on the fitting fold (a one-post day is mostly noise: the
  strongest simple baseline here);
- the LSTM's base alone: the network's discounted posterior mean (decay, prior weight, post
  exponent and a 7-label cohort prior: 10 numbers fitted by gradient), without the LSTM's
  correction (``fit_temporal_model(correction=False)``);
- temporal model: :func:`models.temporal.training.fit_temporal_model` with day gaps and post
  counts, as the drift stage fits it (the base, plus the LSTM's correction when that clears
  its test on the fit's own held-out users);
- base + LSTM correction always kept: the same without that test (what the LSTM adds).

Is the temporal model's margin clear? A paired bootstrap over held-out users (users resampled with
replacement, each keeping all its days, every forecaster scored on the same resample) gives
the 95 % interval of the difference in mean KL between the temporal model and each baseline;
an interval entirely below 0 means the model is better beyond the users' sampling noise. The
fit time per 1,000 user-days (one thread) says what the nightly fit costs.

Run: .venv/bin/python benchmarks/temporal_forecast.py --lake /tmp/emodrift-drift-quality/lake [--epochs 40]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drift.sequences import UserSequence, build_daily_sequences, user_sequences  # noqa: E402
from models.temporal.inference import PROBABILITY_FLOOR, normalised, predict_next  # noqa: E402
from models.temporal.training import fit_temporal_model  # noqa: E402

SMOOTHING_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.7)
COHORT_MIX_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
# count-aware gains: the one-post gain and the slope on log1p(posts) (0: plain smoothing)
GAIN_GRID = tuple(itertools.product((0.1, 0.2, 0.3, 0.4, 0.5), (-0.5, 0.0, 0.5, 1.0)))
Forecaster = Callable[[UserSequence], np.ndarray]


def running_average(sequence: UserSequence, weighted: bool) -> np.ndarray:
    probs = normalised(sequence.probs)
    weights = sequence.post_counts.astype(np.float64) if weighted else np.ones(len(probs))
    return (np.cumsum(probs * weights[:, None], axis=0) / np.cumsum(weights)[:, None])[:-1]


def smoothed(sequence: UserSequence, one_post_gain: float, slope: float = 0.0) -> np.ndarray:
    """Exponential smoothing whose gain grows with the day's posts (``slope`` 0: plain)."""
    probs = normalised(sequence.probs)
    logit = np.log(one_post_gain / (1 - one_post_gain))
    gains = 1.0 / (1.0 + np.exp(-(logit + slope * (np.log1p(sequence.post_counts) - np.log(2.0)))))
    forecasts = np.empty_like(probs[:-1])
    level = probs[0]
    for index in range(len(probs) - 1):
        if index > 0:
            level = level + gains[index] * (probs[index] - level)
        forecasts[index] = level
    return forecasts


def day_kl(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """KL(observed || predicted) per row (the floor as in :func:`models.temporal.inference.mean_kl`)."""
    predicted = np.maximum(predicted, PROBABILITY_FLOOR)
    predicted = predicted / predicted.sum(axis=1, keepdims=True)
    safe = np.maximum(observed, PROBABILITY_FLOOR)
    return np.sum(np.where(observed > 0, observed * np.log(safe / predicted), 0.0), axis=1)


def user_losses(forecaster: Forecaster, sequences: list[UserSequence]) -> list[np.ndarray]:
    """Per user, the KL of each forecast day (days 1..T-1)."""
    return [day_kl(forecaster(sequence), normalised(sequence.probs)[1:]) for sequence in sequences]


def pooled(losses: list[np.ndarray]) -> float:
    return float(np.concatenate(losses).mean())


def fold_of(user_id: str) -> int:
    return hashlib.sha256(user_id.encode()).digest()[0] % 2


def paired_bootstrap(first: list[np.ndarray], second: list[np.ndarray], rounds: int, seed: int) -> tuple[float, float, float]:
    """95 % interval of mean KL(first) - mean KL(second) over users resampled with replacement,
    and the share of resamples where ``first`` is better (lower)."""
    sums = np.array([losses.sum() for losses in first]) - np.array([losses.sum() for losses in second])
    days = np.array([len(losses) for losses in first], dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(sums), size=(rounds, len(sums)))
    differences = sums[draws].sum(axis=1) / days[draws].sum(axis=1)
    low, high = np.quantile(differences, [0.025, 0.975])
    return float(low), float(high), float(np.mean(differences < 0))


def nightly_fit_cost(users: int, args: argparse.Namespace) -> None:
    """CPU seconds of one fit as the drift stage runs it, on a seeded synthetic cohort."""
    from drift.sequences import piecewise_constant_cohort

    scores, _ = piecewise_constant_cohort(stable_users=users - users // 5, changing_users=users // 5, days=60,
                                          mean_posts_per_day=3.0, seed=args.seed)
    cohort = user_sequences(build_daily_sequences(scores))
    started = time.process_time()
    fit_temporal_model([sequence.probs for sequence in cohort], day_gaps=[sequence.day_gaps() for sequence in cohort],
                       post_counts=[sequence.post_counts for sequence in cohort],
                       hidden_dim=args.hidden_dim, epochs=args.epochs, seed=args.seed)
    seconds = time.process_time() - started
    user_days = sum(len(sequence) for sequence in cohort)
    print(f"nightly-size fit: {users} synthetic users, {user_days} user-days: {seconds:.1f} CPU-s, "
          f"{1000 * seconds / user_days:.2f} CPU-s per 1,000 user-days (1 thread)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=Path("/tmp/emodrift-drift-quality/lake"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden-dim", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples of the held-out users")
    parser.add_argument("--cost-users", type=int, default=0,
                        help="also time one fit on a synthetic cohort of this many users x 60 days (the nightly cap is 2000)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.cost_users:
        nightly_fit_cost(args.cost_users, args)
    scores = pd.read_parquet(args.lake / "scores", columns=["user_id", "created_at", "fused_probs"])
    sequences = [sequence for sequence in user_sequences(build_daily_sequences(scores)) if len(sequence) >= 2]
    folds = [[sequence for sequence in sequences if fold_of(sequence.user_id) == fold] for fold in (0, 1)]
    losses: dict[str, list[np.ndarray]] = {}
    chosen: dict[str, list[str]] = {}
    fit_seconds = fit_days = 0.0

    def add(name: str, forecaster: Forecaster, held: list[UserSequence]) -> None:
        losses.setdefault(name, []).extend(user_losses(forecaster, held))

    for fit_fold, held_fold in ((0, 1), (1, 0)):
        fit, held = folds[fit_fold], folds[held_fold]
        add("running average", lambda s: running_average(s, False), held)
        add("post-weighted running average", lambda s: running_average(s, True), held)
        add("predict yesterday", lambda s: normalised(s.probs)[:-1], held)
        rate = min(SMOOTHING_GRID, key=lambda value: pooled(user_losses(lambda s: smoothed(s, value), fit)))
        add("exponential smoothing (rate fitted)", lambda s: smoothed(s, rate), held)
        gain, slope = min(GAIN_GRID, key=lambda pair: pooled(user_losses(lambda s: smoothed(s, *pair), fit)))
        add("count-aware smoothing (gain fitted)", lambda s: smoothed(s, gain, slope), held)
        cohort = np.concatenate([normalised(sequence.probs) for sequence in fit]).mean(axis=0)
        rate_mix = min(itertools.product(SMOOTHING_GRID, COHORT_MIX_GRID), key=lambda pair: pooled(
            user_losses(lambda s: (1 - pair[1]) * smoothed(s, pair[0]) + pair[1] * cohort, fit)))
        add("smoothing shrunk to the cohort (fitted)", lambda s: (1 - rate_mix[1]) * smoothed(s, rate_mix[0]) + rate_mix[1] * cohort, held)
        chosen.setdefault("smoothing rate", []).append(f"{rate}")
        chosen.setdefault("shrunk smoothing rate, cohort share", []).append(f"{rate_mix[0]}, {rate_mix[1]}")
        chosen.setdefault("count-aware gain, slope", []).append(f"{gain}, {slope}")
        base_model = fit_temporal_model(
            [sequence.probs for sequence in fit],
            day_gaps=[sequence.day_gaps() for sequence in fit],
            post_counts=[sequence.post_counts for sequence in fit],
            hidden_dim=args.hidden_dim, epochs=args.epochs, seed=args.seed, correction=False,
        )
        add("LSTM's base alone (no LSTM correction)",
            lambda s: predict_next(base_model, s.probs, s.day_gaps(), s.post_counts), held)
        started = time.process_time()
        model = fit_temporal_model(
            [sequence.probs for sequence in fit],
            day_gaps=[sequence.day_gaps() for sequence in fit],
            post_counts=[sequence.post_counts for sequence in fit],
            hidden_dim=args.hidden_dim, epochs=args.epochs, seed=args.seed,
        )
        fit_seconds += time.process_time() - started
        fit_days += sum(len(sequence) for sequence in fit)
        base = model.base_parameters()
        chosen.setdefault("LSTM base: decay, prior posts, post exponent", []).append(
            f"{base['decay']:.2f}, {base['prior_posts']:.2f}, {base['post_exponent']:.2f}")
        chosen.setdefault("LSTM correction kept (cleared its held-out test)", []).append(
            str(bool(model.head.weight.abs().sum() > 0)))
        add("temporal model (as the drift stage fits it)", lambda s: predict_next(model, s.probs, s.day_gaps(), s.post_counts), held)
        always = fit_temporal_model(
            [sequence.probs for sequence in fit],
            day_gaps=[sequence.day_gaps() for sequence in fit],
            post_counts=[sequence.post_counts for sequence in fit],
            hidden_dim=args.hidden_dim, epochs=args.epochs, seed=args.seed, require_clear_gain=False,
        )
        add("base + LSTM correction always kept", lambda s: predict_next(always, s.probs, s.day_gaps(), s.post_counts), held)

    print(f"{len(sequences)} users, {sum(len(s) for s in sequences)} user-days; two folds by user-id hash "
          f"({len(folds[0])} / {len(folds[1])} users), each model fitted on one and scored on the other")
    for name, values in chosen.items():
        print(f"fitted {name} (fold 0 / fold 1 fitting): {' | '.join(values)}")
    print(f"temporal model fit: {1000 * fit_seconds / fit_days:.2f} CPU-s per 1,000 user-days "
          f"({args.epochs} epochs, hidden {args.hidden_dim}, 1 thread)")
    print(f"{'forecaster':<44} {'held-out mean KL':>17}")
    for name, values in losses.items():
        print(f"{name:<44} {pooled(values):>17.4f}")
    lstm = losses["temporal model (as the drift stage fits it)"]
    print(f"\npaired bootstrap over {len(lstm)} held-out users ({args.bootstrap} resamples): temporal model minus baseline")
    print(f"{'baseline':<44} {'difference':>11} {'95% interval':>22} {'share model better':>19} {'relative':>9}")
    for name, values in losses.items():
        if values is lstm:
            continue
        low, high, share = paired_bootstrap(lstm, values, args.bootstrap, args.seed)
        difference = pooled(lstm) - pooled(values)
        print(f"{name:<44} {difference:>11.4f} {f'[{low:.4f}, {high:.4f}]':>22} {share:>19.3f} "
              f"{100 * difference / pooled(values):>8.1f}%")


if __name__ == "__main__":
    main()
