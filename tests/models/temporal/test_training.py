"""The temporal LSTM learns cohort dynamics, deterministically, and its surprise marks changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import torch

from drift.sequences import build_daily_sequences, piecewise_constant_cohort, user_sequences
from drift.transitions import detect_transitions
from models.temporal.network import TemporalLSTM
from models.temporal.inference import (
    forecast_and_surprise,
    load_temporal_model,
    mean_kl,
    model_version,
    predict_next,
    save_temporal_model,
    step_surprise,
)
from models.temporal.training import fit_temporal_model


@pytest.fixture(scope="module")
def cohort() -> list:
    scores, _ = piecewise_constant_cohort(stable_users=80, changing_users=0, seed=0)
    return user_sequences(build_daily_sequences(scores))


def fit(sequences: list, **keywords) -> TemporalLSTM:
    return fit_temporal_model(
        [sequence.probs for sequence in sequences], day_gaps=[sequence.day_gaps() for sequence in sequences], **keywords
    )


def test_network_shapes_and_argument_checks() -> None:
    model = TemporalLSTM(num_labels=7, hidden_dim=8)
    inputs = torch.rand(3, 5, 9)
    assert model(inputs).shape == (3, 5, 7)
    with pytest.raises(ValueError, match="hidden_dim"):
        TemporalLSTM(hidden_dim=0)


def test_lstm_beats_naive_baselines_on_held_out_users(cohort: list) -> None:
    train, held_out = cohort[:50], cohort[50:]
    model = fit(train)
    observed = np.concatenate([sequence.probs[1:] for sequence in held_out])
    predicted = np.concatenate([predict_next(model, sequence.probs, sequence.day_gaps()) for sequence in held_out])
    yesterday = np.concatenate([sequence.probs[:-1] for sequence in held_out])
    # The yesterday baseline gets its best smoothing towards uniform (zeros would make KL infinite).
    yesterday_loss = min(mean_kl(weight * yesterday + (1 - weight) / 7, observed) for weight in np.linspace(0.5, 1.0, 11))
    cohort_mean = np.concatenate([sequence.probs for sequence in train]).mean(axis=0)
    cohort_loss = mean_kl(np.tile(cohort_mean, (len(observed), 1)), observed)
    lstm_loss = mean_kl(predicted, observed)
    # Measured: LSTM 0.169 (the first version: 0.168), best-smoothed yesterday 0.241, cohort mean 0.770.
    assert lstm_loss < 0.85 * yesterday_loss
    assert lstm_loss < 0.5 * cohort_loss


def test_fit_is_deterministic_with_a_seed(cohort: list) -> None:
    first, second = fit(cohort[:20], epochs=5), fit(cohort[:20], epochs=5)
    assert model_version(first) == model_version(second)
    assert model_version(first) != model_version(fit(cohort[:20], epochs=5, seed=1))


def test_fit_rejects_a_cohort_without_dynamics() -> None:
    with pytest.raises(ValueError, match="2 or more days"):
        fit_temporal_model([np.full((1, 7), 1 / 7)])
    with pytest.raises(ValueError, match="epochs"):
        fit_temporal_model([np.full((3, 7), 1 / 7)], epochs=0)


def test_capped_fit_uses_a_deterministic_sample(cohort: list) -> None:
    capped = fit(cohort, epochs=3, max_users=10, max_length=10)
    assert model_version(capped) == model_version(fit(cohort, epochs=3, max_users=10, max_length=10))


def test_surprise_is_highest_right_after_a_planted_change(cohort: list) -> None:
    model = fit(cohort[:50])
    scores, truth = piecewise_constant_cohort(stable_users=0, changing_users=10, seed=5)
    ranks = []
    for sequence in user_sequences(build_daily_sequences(scores)):
        surprise = step_surprise(model, sequence.probs, sequence.day_gaps())
        assert surprise.shape == (len(sequence),) and np.isnan(surprise[0]) and np.all(surprise[1:] >= 0)
        change = sequence.days.index(truth[sequence.user_id])
        ranks.append(int(np.sum(surprise[1:] > surprise[change])))
    # The first post-change day is the most surprising day of most users (measured: 9 of 10;
    # the tenth ranks 6th, its change spread over a noisy first day).
    assert sum(rank == 0 for rank in ranks) >= 8, ranks


def test_surprise_keeps_precision_and_recall_high(cohort: list) -> None:
    model = fit(cohort[:50])
    true_positives = flagged = planted = 0
    for seed in (10, 11):
        scores, truth = piecewise_constant_cohort(stable_users=40, changing_users=10, seed=seed)
        for sequence in user_sequences(build_daily_sequences(scores)):
            found = detect_transitions(sequence, step_surprise(model, sequence.probs, sequence.day_gaps()))
            flagged += len(found)
            if truth[sequence.user_id] is not None:
                planted += 1
                change = dt.date.fromisoformat(truth[sequence.user_id])
                true_positives += any(abs((dt.date.fromisoformat(day) - change).days) <= 1 for day in found.changed_at)
    # Measured: 20 of 25 flags true, all 20 changes found; the 5 others fall on 80 stable users
    # with a month each, the transitions' false-alarm level of 0.05 (tests/drift/test_transitions.py).
    assert true_positives / max(flagged, 1) >= 0.75
    assert true_positives / planted >= 0.95


def test_safetensors_round_trip(cohort: list, tmp_path: Path) -> None:
    model = fit(cohort[:10], epochs=2, hidden_dim=4)
    path = tmp_path / "temporal.safetensors"
    save_temporal_model(model, path)
    loaded = load_temporal_model(path)
    assert loaded.hidden_dim == 4 and model_version(loaded) == model_version(model)
    np.testing.assert_allclose(
        step_surprise(loaded, cohort[0].probs), step_surprise(model, cohort[0].probs), equal_nan=True
    )


def test_warm_start_begins_from_the_given_weights(cohort: list) -> None:
    yesterday = fit(cohort[:20], epochs=5)
    before = model_version(yesterday)
    # A step far too small to move anything: a warm start stays at yesterday's weights.
    warm = fit(cohort[:20], epochs=1, learning_rate=1e-7, initial=yesterday)
    cold = fit(cohort[:20], epochs=1, learning_rate=1e-7)
    for name, tensor in yesterday.state_dict().items():
        assert torch.allclose(warm.state_dict()[name], tensor, atol=1e-5), name
    assert not all(torch.allclose(cold.state_dict()[name], tensor, atol=1e-3) for name, tensor in yesterday.state_dict().items())
    assert model_version(yesterday) == before  # the initial model is not modified
    # Another architecture cannot seed the fit: it starts cold, as without one.
    other = fit(cohort[:20], epochs=1, hidden_dim=4)
    assert model_version(fit(cohort[:20], epochs=1, initial=other)) == model_version(fit(cohort[:20], epochs=1))


def test_forecast_uses_earlier_days_only(cohort: list) -> None:
    model = fit(cohort[:20], epochs=3)
    probs, gaps = cohort[0].probs, cohort[0].day_gaps()
    forecast, surprise = forecast_and_surprise(model, probs, gaps)
    assert np.isnan(forecast[0]).all() and np.isnan(surprise[0])
    np.testing.assert_allclose(forecast[1:].sum(axis=1), 1.0, atol=1e-6)  # float32 softmax
    np.testing.assert_allclose(surprise, step_surprise(model, probs, gaps), equal_nan=True)
    changed = probs.copy()
    changed[-1] = np.eye(7)[0]  # a different last day changes no forecast before it
    np.testing.assert_allclose(forecast_and_surprise(model, changed, gaps)[0][:-1], forecast[:-1], equal_nan=True)
    changed[5] = np.eye(7)[1]
    assert not np.allclose(forecast_and_surprise(model, changed, gaps)[0][6], forecast[6])


def _smoothing_loss(sequences: list, rate: float) -> float:
    """Mean next-day KL of exponential smoothing at ``rate`` (level starts at the first day)."""
    predicted, observed = [], []
    for sequence in sequences:
        level = sequence.probs[0]
        for index in range(len(sequence) - 1):
            level = level if index == 0 else (1 - rate) * level + rate * sequence.probs[index]
            predicted.append(level)
            observed.append(sequence.probs[index + 1])
    return mean_kl(np.array(predicted), np.array(observed))


@pytest.fixture(scope="module")
def changing_cohort() -> list:
    """Noisy posts (concentration 3), half the users change: a forecaster must adapt, and
    one post says little."""
    scores, _ = piecewise_constant_cohort(stable_users=40, changing_users=40, mean_posts_per_day=3.0, concentration=3.0, seed=3)
    return user_sequences(build_daily_sequences(scores))


def test_model_beats_fitted_smoothing_on_held_out_users_with_changes(changing_cohort: list) -> None:
    train, held_out = changing_cohort[0::2], changing_cohort[1::2]
    model = fit(train, post_counts=[sequence.post_counts for sequence in train])
    predicted = np.concatenate([predict_next(model, s.probs, s.day_gaps(), s.post_counts) for s in held_out])
    model_loss = mean_kl(predicted, np.concatenate([sequence.probs[1:] for sequence in held_out]))
    rate = min((0.1, 0.2, 0.3, 0.5, 0.7), key=lambda value: _smoothing_loss(train, value))
    # Measured: model 0.322, smoothing (rate 0.3 fitted on the training users) 0.373.
    assert model_loss < 0.92 * _smoothing_loss(held_out, rate)


def test_a_fit_that_only_gets_worse_returns_its_starting_weights(changing_cohort: list) -> None:
    # Absurd steps ruin every epoch on the held-out fitting users: the fit keeps the start,
    # which forecasts the base alone.
    ruined = fit(changing_cohort[0::2], epochs=3, learning_rate=50.0)
    torch.manual_seed(0)
    assert model_version(ruined) == model_version(TemporalLSTM())
