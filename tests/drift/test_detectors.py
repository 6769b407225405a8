"""Contract and behaviour tests for every change-point detector in drift.detectors."""

from __future__ import annotations

import numpy as np
import pytest

from drift.detectors import BinarySegmentation, PageHinkley, noise_variance, split_gains

DETECTORS = [
    pytest.param(lambda: BinarySegmentation(), id="binary_segmentation"),
    pytest.param(lambda: PageHinkley(), id="page_hinkley"),
]
# (earliest, latest) reported index relative to the true change: offline detection sees both
# sides and must land within a day; a streaming test can only confirm after the change.
TOLERANCE = {"binary_segmentation": (-1, 1), "page_hinkley": (0, 3)}


def shifted_signal(rng: np.random.Generator, *, length: int = 30, change: int = 15, dims: int = 7) -> np.ndarray:
    """Gaussian noise (sd 0.05) whose mean jumps by 0.4 in two dimensions at ``change``."""
    signal = rng.normal(0.2, 0.05, size=(length, dims))
    signal[change:, 0] += 0.4
    signal[change:, 1] -= 0.4
    return signal


@pytest.mark.parametrize("make_detector", DETECTORS)
def test_contract_fit_returns_self_and_predict_returns_sorted_ints(make_detector) -> None:
    detector = make_detector()
    signal = shifted_signal(np.random.default_rng(0))
    assert detector.fit(signal) is detector
    change_points = detector.predict()
    assert isinstance(change_points, list)
    assert all(type(index) is int and 0 < index < len(signal) for index in change_points)
    assert change_points == sorted(change_points)
    assert isinstance(detector.name, str) and detector.name


@pytest.mark.parametrize("make_detector", DETECTORS)
def test_contract_recovers_a_planted_mean_shift(make_detector) -> None:
    rng = np.random.default_rng(0)
    detector = make_detector()
    earliest, latest = TOLERANCE[detector.name]
    for change in (12, 15, 22):  # after PageHinkley's 10-day warm-up
        change_points = detector.fit(shifted_signal(rng, change=change)).predict()
        assert len(change_points) == 1, change_points
        assert earliest <= change_points[0] - change <= latest


@pytest.mark.parametrize("make_detector", DETECTORS)
def test_contract_no_false_alarm_on_stationary_noise(make_detector) -> None:
    rng = np.random.default_rng(0)
    false_alarms = sum(len(make_detector().fit(rng.normal(0.3, 0.05, size=(30, 7))).predict()) for _ in range(50))
    assert false_alarms == 0


@pytest.mark.parametrize("make_detector", DETECTORS)
def test_contract_accepts_one_dimensional_signal_and_rejects_nan(make_detector) -> None:
    signal = np.r_[np.zeros(15), np.ones(15)] + np.random.default_rng(0).normal(0, 0.05, 30)
    assert make_detector().fit(signal).predict()
    with pytest.raises(ValueError, match="NaN"):
        make_detector().fit(np.r_[signal[:5], np.nan, signal[6:]])


@pytest.mark.parametrize("make_detector", DETECTORS)
def test_contract_predict_before_fit_raises(make_detector) -> None:
    with pytest.raises(RuntimeError, match="fit"):
        make_detector().predict()


@pytest.mark.parametrize(
    ("factory", "keyword", "value"),
    [
        (BinarySegmentation, "penalty", 0),
        (BinarySegmentation, "penalty", float("inf")),
        (BinarySegmentation, "min_size", 0),
        (BinarySegmentation, "max_change_points", 0),
        (BinarySegmentation, "noise_scale", -1.0),
        (PageHinkley, "warmup", 1),
        (PageHinkley, "delta", -0.1),
        (PageHinkley, "threshold", 0),
        (PageHinkley, "min_scale", 0),
    ],
)
def test_invalid_parameters_are_named_in_the_error(factory, keyword: str, value: object) -> None:
    with pytest.raises(ValueError, match=keyword):
        factory(**{keyword: value})


def test_binary_segmentation_finds_two_changes_and_respects_the_cap() -> None:
    rng = np.random.default_rng(0)
    signal = rng.normal(0.0, 0.05, size=(45, 3))
    signal[15:30, 0] += 0.5
    signal[30:, 2] += 0.3
    assert BinarySegmentation().fit(signal).predict() == [15, 30]
    # The cap keeps the strongest change (the 0.5 jump at 15 plus its return at 30 are
    # equally sized; any single kept point must still be one of the true ones).
    capped = BinarySegmentation(max_change_points=1).fit(signal).predict()
    assert len(capped) == 1 and capped[0] in (15, 30)


def test_binary_segmentation_noise_scale_controls_sensitivity() -> None:
    signal = shifted_signal(np.random.default_rng(0))
    assert BinarySegmentation(noise_scale=10.0).fit(signal).predict() == []
    assert BinarySegmentation(noise_scale=0.05).fit(signal).predict() == [15]


def test_split_gains_match_the_cost_reduction_by_hand() -> None:
    segment = np.array([[0.0], [0.0], [1.0], [1.0]])
    gains = split_gains(segment, min_size=1)
    # total cost 1.0 (mean 0.5); split at 2 leaves two constant halves (cost 0).
    assert gains[2] == pytest.approx(1.0)
    # split at 1: left [0] cost 0, right [0,1,1] mean 2/3 cost 2/3.
    assert gains[1] == pytest.approx(1.0 - 2.0 / 3.0)
    assert np.isneginf(gains[0]) and np.isneginf(gains[4])


def test_noise_variance_ignores_a_single_jump() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.1, size=(200, 1))
    jumped = noise.copy()
    jumped[100:] += 5.0
    # The trim biases the estimate low (chi-square tail dropped); penalties are calibrated on it.
    assert 0.004 < noise_variance(noise) <= 0.01
    assert noise_variance(jumped) == pytest.approx(noise_variance(noise), rel=0.1)


def test_page_hinkley_streams_a_surprise_spike_and_rearms() -> None:
    rng = np.random.default_rng(0)
    surprise = rng.gamma(4.0, 0.05, size=40)
    surprise[20] = 3.0
    detector = PageHinkley()
    flagged = []
    for index, value in enumerate(surprise):
        if detector.update(value).drift_detected:
            flagged.append(index)
    assert flagged == [20]
    # After a detection the detector re-warms: the next samples cannot fire at once.
    assert not detector.update(surprise[21]).drift_detected
