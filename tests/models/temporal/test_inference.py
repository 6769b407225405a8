"""The temporal LSTM's inputs: post-weighted history, gaps and post counts, one row per step."""

from __future__ import annotations

import numpy as np
import pytest

from models.temporal.inference import predict_next, sequence_inputs
from models.temporal.training import fit_temporal_model


def test_inputs_weigh_history_by_posts_and_carry_gap_and_count() -> None:
    days = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    plain = sequence_inputs(days, np.array([1, 3, 1]))
    assert plain.shape == (2, 5)
    assert plain[1, 2:4] == pytest.approx([0.5, 0.5])  # unweighted mean of days 0 and 1
    assert plain[0, 4] == pytest.approx(np.log(3))  # log gap to the day predicted
    counted = sequence_inputs(days, np.array([1, 3, 1]), np.array([3, 1, 5]), extra_features=2)
    assert counted.shape == (2, 6)
    assert counted[1, 2:4] == pytest.approx([0.75, 0.25])  # three posts of day 0 against one of day 1
    assert counted[:, 5] == pytest.approx(np.log1p([3, 1]))
    with pytest.raises(ValueError, match="extra_features"):
        sequence_inputs(days, extra_features=3)
    with pytest.raises(ValueError, match="post_counts"):
        sequence_inputs(days, post_counts=np.ones(2))


def test_a_model_fitted_with_post_counts_reads_them() -> None:
    rng = np.random.default_rng(0)
    sequences = [rng.dirichlet(np.ones(7), size=12) for _ in range(6)]
    counts = [rng.integers(1, 6, size=12) for _ in range(6)]
    model = fit_temporal_model(sequences, post_counts=counts, epochs=2, seed=0)
    assert model.extra_features == 2
    first = predict_next(model, sequences[0], post_counts=counts[0])
    other = predict_next(model, sequences[0], post_counts=counts[0][::-1].copy())
    assert first.shape == (11, 7) and np.allclose(first.sum(axis=1), 1.0)
    assert not np.allclose(first, other)  # the counts change the forecast
