"""The temporal LSTM's inputs and base: gaps and post counts per step, a discounted posterior
that the (zero-initialised) correction starts from, and checkpoints of another architecture refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.temporal.inference import (
    IncompatibleCheckpoint,
    forecast_and_surprise,
    forecasts_and_surprises,
    load_temporal_model,
    predict_next,
    save_temporal_model,
    sequence_inputs,
)
from models.temporal.network import TemporalLSTM
from models.temporal.training import fit_temporal_model


def test_inputs_carry_the_day_the_gap_to_the_next_and_the_posts() -> None:
    days = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    inputs = sequence_inputs(days, np.array([1, 3, 1]), np.array([3, 1, 5]))
    assert inputs.shape == (2, 4)
    assert inputs[:, :2] == pytest.approx(days[:2])
    assert inputs[:, 2] == pytest.approx(np.log([3, 1]))  # log gap to the day predicted
    assert inputs[:, 3] == pytest.approx(np.log1p([3, 1]))
    assert sequence_inputs(days)[:, 2:] == pytest.approx(np.column_stack([[0, 0], np.log1p([1, 1])]))
    with pytest.raises(ValueError, match="post_counts"):
        sequence_inputs(days, post_counts=np.ones(2))


def test_an_unfitted_correction_forecasts_the_discounted_posterior() -> None:
    model = TemporalLSTM(num_labels=2, hidden_dim=4).eval()
    base = model.base_parameters()
    decay, prior_posts, exponent = base["decay"], base["prior_posts"], base["post_exponent"]
    days = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    counts = np.array([4, 1, 1])
    gaps = np.array([1, 1, 3])
    forecast = predict_next(model, days, gaps, counts)
    # by hand: weights 4**exponent then 1, fading by decay per day of gap, prior uniform
    first_weight = 4.0**exponent * decay
    first = (first_weight * days[0] + prior_posts * 0.5) / (first_weight + prior_posts)
    level = (first_weight * days[0] + days[1]) / (first_weight + 1.0)
    second_weight = (first_weight + 1.0) * decay**3
    second = (second_weight * level + prior_posts * 0.5) / (second_weight + prior_posts)
    np.testing.assert_allclose(forecast, [first, second], atol=1e-4)


def test_post_counts_and_gaps_change_the_forecast() -> None:
    rng = np.random.default_rng(0)
    sequences = [rng.dirichlet(np.ones(7), size=12) for _ in range(6)]
    counts = [rng.integers(1, 6, size=12) for _ in range(6)]
    model = fit_temporal_model(sequences, post_counts=counts, epochs=2, seed=0)
    first = predict_next(model, sequences[0], post_counts=counts[0])
    assert first.shape == (11, 7) and np.allclose(first.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(first, predict_next(model, sequences[0], post_counts=counts[0][::-1].copy()))
    assert not np.allclose(first, predict_next(model, sequences[0], np.full(12, 3.0), counts[0]))


def test_users_batched_through_the_network_get_their_own_forecasts(monkeypatch: pytest.MonkeyPatch) -> None:
    import models.temporal.inference as inference

    rng = np.random.default_rng(1)
    lengths = [1, 2, 9, 30, 5, 30, 17]
    sequences = [rng.dirichlet(np.ones(7), size=length) for length in lengths]
    gaps = [rng.integers(1, 4, size=length) for length in lengths]
    counts = [rng.integers(1, 9, size=length) for length in lengths]
    model = fit_temporal_model(sequences[2:], day_gaps=gaps[2:], post_counts=counts[2:], epochs=2, seed=0)
    with torch.no_grad():  # a correction that reads the LSTM, so padding would show if it leaked
        model.head.weight.normal_(0.0, 0.5)
    monkeypatch.setattr(inference, "USERS_PER_CALL", 3)  # chunks of 3, 3 and 1: padded to different lengths
    batched = forecasts_and_surprises(model, sequences, gaps, counts)
    for sequence, user_gaps, user_counts, (forecast, surprise) in zip(sequences, gaps, counts, batched, strict=True):
        alone_forecast, alone_surprise = forecast_and_surprise(model, sequence, user_gaps, user_counts)
        assert forecast.shape == (len(sequence), 7) and np.isnan(surprise[0])
        # float32 matrix products may round differently with another batch shape: 1e-6 apart at most
        np.testing.assert_allclose(forecast, alone_forecast, atol=1e-6, equal_nan=True)
        np.testing.assert_allclose(surprise, alone_surprise, atol=1e-6, equal_nan=True)
    assert forecasts_and_surprises(model, []) == []


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    old = tmp_path / "v1.safetensors"
    # what the first version wrote: its config without an architecture name
    save_file({"head.bias": torch.zeros(7)}, str(old),
              metadata={"num_labels": "7", "hidden_dim": "16", "num_layers": "1", "extra_features": "1", "mean_floor": "0.01"})
    with pytest.raises(IncompatibleCheckpoint, match="architecture"):
        load_temporal_model(old)
    current = tmp_path / "v2.safetensors"
    save_temporal_model(TemporalLSTM(hidden_dim=4), current)
    assert load_temporal_model(current).hidden_dim == 4
