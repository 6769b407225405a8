"""Contract and behaviour tests for every change-point detector in drift/."""

from __future__ import annotations

import math

import numpy as np
import pytest

import drift
from drift.change_points import ChangePointDetector, long_run_scale, prepare_signal, winsorize
from drift.detectors import (
    BinarySegmentation,
    PageHinkley,
    PermutationSegmentation,
    best_split_gains,
    noise_variance,
    permutation_p_value,
    split_gains,
)

DEFAULT = "pelt_long_run_mbic"
DETECTORS = [
    pytest.param(lambda: ChangePointDetector(), id=DEFAULT),
    pytest.param(lambda: BinarySegmentation(), id="binary_segmentation"),
    pytest.param(lambda: PageHinkley(), id="page_hinkley"),
    # At level 0.01 for the contract: at its default 0.05 one seeded series in twenty may get an
    # extra split, which is that level working (its rate is tested on its own below).
    pytest.param(lambda: PermutationSegmentation(alpha=0.01), id="permutation_segmentation"),
]
# (earliest, latest) reported index relative to the true change: offline detection sees both
# sides and must land within a day; a streaming test can only confirm after the change.
TOLERANCE = {
    DEFAULT: (-1, 1), "binary_segmentation": (-1, 1), "page_hinkley": (0, 3), "permutation_segmentation": (-1, 1),
}


def shifted_signal(rng: np.random.Generator, *, length: int = 30, change: int = 15, dims: int = 7) -> np.ndarray:
    """Gaussian noise (sd 0.05) whose mean jumps by 0.4 in two dimensions at ``change``."""
    signal = rng.normal(0.2, 0.05, size=(length, dims))
    signal[change:, 0] += 0.4
    signal[change:, 1] -= 0.4
    return signal


def autoregressive(rng: np.random.Generator, length: int, rho: float) -> np.ndarray:
    """Stationary AR(1) noise with unit marginal variance."""
    innovations = rng.normal(size=length) * math.sqrt(1 - rho**2)
    values = np.empty(length)
    values[0] = rng.normal()
    for index in range(1, length):
        values[index] = rho * values[index - 1] + innovations[index]
    return values


# Stationary families without a change, 100 samples each, and the share of series with any
# alarm the default may raise (measured on these 100 seeded series of each family:
# AR(1) 0.5 3, AR(1) 0.8 9, trend 1, Student t3 4); binary segmentation's trimmed
# first-difference noise estimate and the Page-Hinkley reference alarm on far more.
NO_CHANGE_FAMILIES = {
    "ar1_0.5": (lambda rng: autoregressive(rng, 100, 0.5), 0.05),
    "ar1_0.8": (lambda rng: autoregressive(rng, 100, 0.8), 0.12),
    "trend": (lambda rng: np.linspace(0.0, 3.0, 100) + rng.normal(size=100), 0.05),
    "student_t3": (lambda rng: rng.standard_t(3, size=100), 0.05),
}


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
    alarmed = sum(bool(make_detector().fit(rng.normal(0.3, 0.05, size=(30, 7))).predict()) for _ in range(50))
    # At most 4 of 50 month-long 7-d series (2.5 expected at a 0.05 level; measured here: the
    # default 2, permutation segmentation 4 (0.0425 over 400 other seeds), the others none).
    assert alarmed <= 4


@pytest.mark.parametrize("family", list(NO_CHANGE_FAMILIES))
@pytest.mark.parametrize(
    "make_detector",
    [
        DETECTORS[0],
        *(
            pytest.param(
                *case.values,
                id=case.id,
                marks=pytest.mark.xfail(strict=True, reason="noise scale ignores autocorrelation, trend and tails"),
            )
            for case in DETECTORS[1:3]
        ),
        # PermutationSegmentation assumes exchangeable samples (users' days), which these
        # families are not; its rate on i.i.d. noise of any shape is tested below.
    ],
)
def test_contract_false_alarm_rate_on_autocorrelated_trending_and_heavy_tailed_noise(make_detector, family) -> None:
    make_signal, allowed_rate = NO_CHANGE_FAMILIES[family]
    rng = np.random.default_rng(1)
    alarmed = sum(bool(make_detector().fit(make_signal(rng)).predict()) for _ in range(100))
    assert alarmed / 100 <= allowed_rate


@pytest.mark.parametrize("make_detector", DETECTORS)
def test_contract_handles_nan_and_one_dimensional_input(make_detector) -> None:
    rng = np.random.default_rng(0)
    earliest, latest = TOLERANCE[make_detector().name]
    signal = np.r_[np.zeros(15), np.ones(15)] + rng.normal(0, 0.05, 30)
    gappy = signal.copy()
    gappy[[3, 8, 20]] = np.nan  # indices still refer to the original rows
    for values in (signal, gappy):
        change_points = make_detector().fit(values).predict()
        assert len(change_points) == 1 and earliest <= change_points[0] - 15 <= latest, change_points
    # A gap right at the change: the new segment starts at the first observed row after it.
    gappy[15] = np.nan
    assert make_detector().fit(gappy).predict() in ([16], [17], [18])
    two_dimensional = shifted_signal(rng)
    two_dimensional[[4, 19], :] = np.nan
    two_dimensional[10, 3] = np.inf
    change_points = make_detector().fit(two_dimensional).predict()
    assert len(change_points) == 1 and earliest <= change_points[0] - 15 <= latest, change_points
    assert make_detector().fit(np.full((6, 2), np.nan)).predict() == []


@pytest.mark.parametrize("make_detector", DETECTORS)
def test_contract_predict_before_fit_raises(make_detector) -> None:
    with pytest.raises(RuntimeError, match="fit"):
        make_detector().predict()


@pytest.mark.parametrize(
    ("factory", "keyword", "value"),
    [
        (ChangePointDetector, "min_size", 0),
        (ChangePointDetector, "penalty", -1.0),
        (ChangePointDetector, "max_autocorrelation", 1.0),
        (ChangePointDetector, "outlier_cut", 0),
        (ChangePointDetector, "fit_trend", "yes"),
        (BinarySegmentation, "penalty", 0),
        (BinarySegmentation, "penalty", float("inf")),
        (BinarySegmentation, "min_size", 0),
        (BinarySegmentation, "max_change_points", 0),
        (BinarySegmentation, "noise_scale", -1.0),
        (PageHinkley, "warmup", 1),
        (PageHinkley, "delta", -0.1),
        (PageHinkley, "threshold", 0),
        (PageHinkley, "min_scale", 0),
        (PermutationSegmentation, "alpha", 1.0),
        (PermutationSegmentation, "min_size", 0),
        (PermutationSegmentation, "permutations", 0),
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


def test_weighted_split_gains_match_the_weighted_cost_reduction_by_hand() -> None:
    segment = np.array([[0.0], [1.0], [1.0]])
    gains = split_gains(segment, min_size=1, weights=np.array([2.0, 1.0, 1.0]))
    # weighted mean 0.5, total cost 2 * 0.25 + 2 * 0.25 = 1.0; split at 1: both sides constant.
    assert gains[1] == pytest.approx(1.0)
    # split at 2: left [0 (w 2), 1 (w 1)] mean 1/3, cost 2/9 + 4/9 = 2/3; right constant.
    assert gains[2] == pytest.approx(1.0 - 2.0 / 3.0)
    assert np.allclose(split_gains(segment, 1, np.ones(3)), split_gains(segment, 1))


def test_permutation_p_value_is_uniform_under_exchangeable_noise() -> None:
    rng = np.random.default_rng(3)
    p_values = np.array([
        permutation_p_value(rng.normal(size=(20, 3)), None, min_size=2, permutations=49, seed=seed) for seed in range(200)
    ])
    # Valid test: P(p <= a) <= a (binomial sd of the share at 0.1 is 0.021).
    assert np.mean(p_values <= 0.1) <= 0.15
    assert np.mean(p_values <= 0.5) == pytest.approx(0.5, abs=0.12)


def test_permutation_segmentation_false_alarm_rate_is_its_level_on_skewed_days() -> None:
    # One-post days: each day's distribution is one soft label, far from Gaussian.
    rng = np.random.default_rng(4)
    alarmed = 0
    for _ in range(200):
        labels = rng.choice(7, size=30, p=[0.05, 0.05, 0.1, 0.4, 0.1, 0.1, 0.2])
        days = np.full((30, 7), 0.02)
        days[np.arange(30), labels] = 0.88
        alarmed += bool(PermutationSegmentation(alpha=0.05, permutations=99).fit(np.sqrt(days)).predict())
    # Measured: 11 of 200 (0.055); the binomial sd at 0.05 is 0.015.
    assert alarmed / 200 <= 0.09


def test_permutation_segmentation_finds_two_changes_and_weights_move_the_split() -> None:
    rng = np.random.default_rng(0)
    signal = rng.normal(0.0, 0.05, size=(45, 3))
    signal[15:30, 0] += 0.5
    signal[30:, 2] += 0.3
    detector = PermutationSegmentation().fit(signal)
    assert detector.predict() == [15, 30]
    assert all(0.99 <= confidence < 1.0 for confidence in detector.confidences())
    assert PermutationSegmentation().fit(signal).p_values() == detector.p_values()  # seeded
    # A heavy day in between: with weights it sides with the days it resembles.
    ramp = np.r_[np.zeros(8), 0.45, np.ones(8)] + rng.normal(0, 0.05, 17)
    weights = np.ones(17)
    weights[8] = 0.01
    assert PermutationSegmentation().fit(ramp, weights).predict() in ([8], [9])
    with pytest.raises(ValueError, match="weights"):
        PermutationSegmentation().fit(ramp, np.zeros(17))


def test_spending_the_level_keeps_splits_beside_a_true_change_rare() -> None:
    rng = np.random.default_rng(5)
    extra = {True: 0, False: 0}
    for _ in range(60):
        signal = rng.normal(size=(40, 2))
        signal[20:, 0] += 3.0
        for spend in (True, False):
            found = PermutationSegmentation(permutations=49, spend_level=spend).fit(signal).predict()
            assert any(abs(index - 20) <= 1 for index in found), found
            extra[spend] += len(found) - 1
    # Measured: spending 2 extra splits in 60 series, a flat 0.05 per segment 3 (the halves
    # beside a change are tested at about 0.025 each instead of 0.05).
    assert extra[True] < extra[False] and extra[True] <= 3, extra


def reference_p_value(segment: np.ndarray, weights: np.ndarray | None, *, min_size: int, permutations: int, seed: int) -> float:
    """The permutation test written plainly: one shuffle at a time, every shuffle drawn."""
    observed = float(np.max(split_gains(segment, min_size, weights)))
    rng = np.random.default_rng(seed)
    stronger = 0
    for _ in range(permutations):
        order = rng.permutation(segment.shape[0])
        gain = float(np.max(split_gains(segment[order], min_size, None if weights is None else weights[order])))
        stronger += gain >= observed - 1e-12
    return (1 + stronger) / (1 + permutations)


def reference_segmentation(signal: np.ndarray, weights: np.ndarray | None, *, alpha: float, seed: int) -> dict[int, float]:
    """PermutationSegmentation's procedure written plainly (full tests, gains recomputed)."""
    found: dict[int, float] = {}
    segments = [(0, len(signal))]
    while True:
        best = None
        for start, end in segments:
            gains = split_gains(signal[start:end], 2, None if weights is None else weights[start:end])
            split = int(np.argmax(gains))
            if np.isfinite(gains[split]) and (best is None or gains[split] > best[0]):
                best = (gains[split], start, end, start + split)
        if best is None:
            return found
        _, start, end, split = best
        segments.remove((start, end))
        p_value = reference_p_value(signal[start:end], None if weights is None else weights[start:end],
                                    min_size=2, permutations=199, seed=seed + split)
        if p_value <= alpha * (end - start) / len(signal):
            found[split] = p_value
            segments += [(start, split), (split, end)]


def test_batched_best_gains_equal_the_single_segment_gains_to_the_bit() -> None:
    rng = np.random.default_rng(6)
    segments = rng.dirichlet(np.ones(7), size=(5, 23))
    weights = rng.integers(1, 9, size=(5, 23)).astype(np.float64)
    for batch_weights in (None, weights):
        expected = [np.max(split_gains(segments[row], 2, None if batch_weights is None else batch_weights[row])) for row in range(5)]
        assert best_split_gains(segments, 2, batch_weights).tolist() == expected
    assert best_split_gains(segments[:, :3], 2).tolist() == [-np.inf] * 5


def test_chunked_and_sequentially_stopped_test_decides_exactly_as_the_full_test(monkeypatch) -> None:
    rng = np.random.default_rng(7)
    shuffled: list[int] = []
    counting = best_split_gains

    def count_shuffles(segments, *args):
        shuffled.append(len(segments))
        return counting(segments, *args)

    monkeypatch.setattr("drift.detectors.best_split_gains", count_shuffles)
    for case in range(40):
        length = int(rng.integers(6, 60))
        segment = rng.normal(size=(length, 3))
        segment[length // 2:, 0] += case % 4 * 0.6  # from no change to a clear one
        weights = None if case % 2 else rng.integers(1, 5, size=length).astype(np.float64)
        full = reference_p_value(segment, weights, min_size=2, permutations=199, seed=case)
        assert permutation_p_value(segment, weights, min_size=2, permutations=199, seed=case) == full
        for level in (0.05, 0.0125, 0.001):
            shuffled.clear()
            stopped = permutation_p_value(segment, weights, min_size=2, permutations=199, seed=case, level=level)
            assert (stopped <= level) == (full <= level)
            assert stopped == full if full <= level else level < stopped <= full
            if full > 0.5:  # clearly no change: a few dozen shuffles settle it
                assert sum(shuffled) <= 64
            if level < 1 / 200:  # unreachable: nothing is shuffled
                assert shuffled == []


def test_permutation_segmentation_equals_the_plain_procedure() -> None:
    rng = np.random.default_rng(8)
    for case in range(30):
        length = int(rng.integers(8, 70))
        signal = np.sqrt(rng.dirichlet(np.full(7, 3.0), size=length))
        for change in sorted(rng.choice(np.arange(3, length - 3), size=case % 3, replace=False)):
            signal[change:] = np.sqrt(rng.dirichlet(np.full(7, 3.0))) * 0.5 + signal[change:] * 0.5
        weights = None if case % 2 else rng.integers(1, 6, size=length).astype(np.float64)
        detector = PermutationSegmentation(seed=case).fit(signal, weights)
        expected = reference_segmentation(signal, weights, alpha=0.05, seed=case)
        assert detector.predict() == sorted(expected)
        assert detector.p_values() == [expected[index] for index in sorted(expected)]
