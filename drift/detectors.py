"""Change-point detectors as numpy estimators, in the manner of ruptures and river.

Every detector has ``fit(signal) -> Self`` on a (T, d) or (T,) array and ``predict() ->
list[int]``: the indices of the first sample of each new segment (0 < index < T, sorted; T
itself is not listed). Missing values (NaN/inf) are handled as in
:func:`drift.change_points.prepare_signal`: empty rows are skipped and indices refer to the
original rows. Streaming detectors also take one sample at a time with ``update(x)`` and
expose ``drift_detected``; their ``fit`` simply streams the signal.

The default detector for a generic series is :class:`drift.change_points.ChangePointDetector`
(behind ``drift.detect_change_points``). :class:`PermutationSegmentation` is the one the
pipeline's transitions use: users' daily emotion distributions are short, skewed and of
uneven precision, and a permutation test states its false-alarm rate directly (see
:mod:`drift.transitions`). ``BinarySegmentation`` and ``PageHinkley`` are kept for comparison:
the former's trimmed first-difference noise estimate is too small on autocorrelated,
trending and heavy-tailed series (see ``benchmarks/change_points.py``).

Numpy in, plain Python out: no I/O, no pandas, no Spark.
"""

from __future__ import annotations

import heapq
import math
from typing import Self

import numpy as np

from drift.change_points import prepare_signal

__all__ = [
    "BinarySegmentation",
    "PageHinkley",
    "PermutationSegmentation",
    "noise_variance",
    "permutation_p_value",
    "split_gains",
]


def noise_variance(signal: np.ndarray, *, trim: float = 0.1) -> float:
    """Robust noise variance of a piecewise-constant signal, summed over its dimensions.

    Half the mean squared norm of first differences, after dropping the largest ``trim``
    share of them: a mean shift moves one difference only, so trimming keeps the estimate
    from being inflated by the very change being looked for (a plain variance would be).
    Summing over dimensions matches the split gain, which is summed over dimensions too.

    Args:
        signal: (T, d) array, T >= 2.
        trim: share of the largest differences to drop, in [0, 0.5).

    The trim biases the estimate low (by about 45% for one Gaussian dimension, less with
    more dimensions); the default penalty of :class:`BinarySegmentation` is calibrated on it.
    """
    squared_steps = np.sort(np.sum(np.diff(signal, axis=0) ** 2, axis=1))
    keep = max(1, int(math.ceil(len(squared_steps) * (1.0 - trim))))
    return float(np.mean(squared_steps[:keep]) / 2.0)


def split_gains(signal: np.ndarray, min_size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Reduction of the (weighted) squared-error cost for every split of one segment.

    Args:
        signal: (n, d) segment.
        min_size: smallest allowed length of either side.
        weights: optional (n,) positive weight per sample (e.g. posts per day); None weighs
            every sample 1.

    Returns:
        (n + 1,) array: ``gains[k]`` is cost(all) - cost(:k) - cost(k:) for splitting before
        sample k, ``-inf`` where either side would be shorter than ``min_size``.
    """
    length = signal.shape[0]
    gains = np.full(length + 1, -np.inf)
    if length < 2 * min_size:
        return gains
    weights = np.ones(length) if weights is None else np.asarray(weights, dtype=np.float64)
    cumulative_weights = np.cumsum(weights)
    cumulative = np.cumsum(signal * weights[:, None], axis=0)
    split_points = np.arange(min_size, length - min_size + 1)
    left_weights = cumulative_weights[split_points - 1]
    right_weights = cumulative_weights[-1] - left_weights
    left_sums = cumulative[split_points - 1]
    right_sums = cumulative[-1] - left_sums
    # Cost(all) - cost(left) - cost(right) equals W_l * W_r / W * ||mean_l - mean_r||^2.
    mean_difference = left_sums / left_weights[:, None] - right_sums / right_weights[:, None]
    gains[split_points] = left_weights * right_weights / cumulative_weights[-1] * np.sum(mean_difference**2, axis=1)
    return gains


def best_split_gains(
    segments: np.ndarray, min_size: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Best :func:`split_gains` of each of a batch of segments, in one numpy pass.

    Args:
        segments: (B, n, d) batch of segments of the same length (e.g. shuffles of one).
        min_size: smallest allowed length of either side.
        weights: optional (B, n) positive weight per sample; None weighs every sample 1.

    Returns:
        (B,) array: the largest gain of each segment, ``-inf`` when none fits ``min_size``.
        Same arithmetic as :func:`split_gains` (cumulative sums along the time axis), so each
        entry equals ``max(split_gains(segments[b], ...))`` to the last bit.
    """
    batch, length = segments.shape[0], segments.shape[1]
    if length < 2 * min_size:
        return np.full(batch, -np.inf)
    if weights is None:
        # Unit weights, without multiplying by them: x * 1.0 and sums of ones are exact.
        cumulative_weights = np.broadcast_to(np.arange(1.0, length + 1.0), (batch, length))
        cumulative = np.cumsum(segments, axis=1)
    else:
        weights = np.asarray(weights, dtype=np.float64)
        cumulative_weights = np.cumsum(weights, axis=1)
        cumulative = np.cumsum(segments * weights[:, :, None], axis=1)
    # Splits before samples min_size .. length - min_size: a slice, not a gather.
    left = slice(min_size - 1, length - min_size)
    left_weights = cumulative_weights[:, left]
    total_weights = cumulative_weights[:, -1:]
    right_weights = total_weights - left_weights
    left_sums = cumulative[:, left]
    right_sums = cumulative[:, -1:] - left_sums
    mean_difference = left_sums / left_weights[:, :, None] - right_sums / right_weights[:, :, None]
    gains = left_weights * right_weights / total_weights * np.sum(mean_difference**2, axis=2)
    return np.max(gains, axis=1)


# Fewest shuffles drawn in one numpy pass (see permutation_p_value for the chunk sizes).
MIN_SHUFFLE_CHUNK = 8


def permutation_p_value(
    segment: np.ndarray,
    weights: np.ndarray | None,
    *,
    min_size: int,
    permutations: int,
    seed: int,
    level: float | None = None,
) -> float:
    """p-value of the strongest mean shift in ``segment`` ((n, d)) under exchangeable samples.

    The statistic is the best split gain over every position, recomputed on each shuffle
    (samples move with their weights), so the test accounts for the split having been chosen
    as the best one (testing only the chosen split would make every proposal look significant).
    The p-value is ``(1 + shuffles at least as strong) / (1 + permutations)``.

    Shuffles are drawn in chunks and scored in one numpy pass per chunk. The chunks take the
    same random stream as drawing one permutation at a time (``Generator.permuted`` row by row
    equals successive ``Generator.permutation`` calls; tested), so the counts, and the p-value,
    do not depend on the chunking.

    Args:
        segment: (n, d) samples.
        weights: optional (n,) weights moving with their samples.
        min_size: smallest side of a split.
        permutations: shuffles of the full test.
        seed: seeds the shuffles.
        level: when given, only the decision ``p <= level`` is wanted beyond that level: the
            shuffling stops as soon as enough shuffles beat the observed gain that the full test
            could no longer reach ``level`` (Besag & Clifford 1991's sequential Monte Carlo test,
            stopped at the full test's own count, so the decision is exactly the full test's),
            and the p-value returned is then the smallest the full test could have given, which
            is above ``level``. A level below ``1 / (1 + permutations)`` cannot be met: nothing
            is shuffled. Significant segments always run every shuffle (their p-value is exact).
    """
    length = segment.shape[0]
    # Counts above this make (1 + count) / (1 + permutations) exceed the level: the test has failed.
    allowed = permutations if level is None else math.floor(level * (1 + permutations) + 1e-9) - 1
    if allowed < 0:
        return 1.0 / (1 + permutations)  # the smallest p-value there is, and still above the level
    observed = float(np.max(split_gains(segment, min_size, weights)))
    rng = np.random.default_rng(seed)
    at_least_as_strong = 0
    drawn = 0
    # First chunk: what settles a segment whose p-value is about one half (twice the count that
    # fails it); then doubling. The draws are one stream whatever the chunking.
    size = max(MIN_SHUFFLE_CHUNK, 2 * (allowed + 1))
    while drawn < permutations:
        size = min(size, permutations - drawn)
        orders = rng.permuted(np.broadcast_to(np.arange(length), (size, length)), axis=1)
        shuffled_weights = None if weights is None else weights[orders]
        gains = best_split_gains(segment[orders], min_size, shuffled_weights)
        at_least_as_strong += int(np.count_nonzero(gains >= observed - 1e-12))
        drawn += size
        size *= 2
        if at_least_as_strong > allowed:
            return (1 + at_least_as_strong) / (1 + permutations)
    return (1 + at_least_as_strong) / (1 + permutations)


class PermutationSegmentation:
    """Binary segmentation whose every split must pass a permutation test; ``alpha`` spent per sample.

    The divisive procedure of Matteson & James (2014, "A nonparametric approach for multiple
    change point analysis of multivariate data", JASA 109(505)), with the squared-error split
    gain instead of the energy distance: the segment with the largest best-split gain is
    tested by shuffling its samples (:func:`permutation_p_value`); a split is kept when its
    p-value is at most ``alpha`` times the segment's share of the series, and both halves
    become candidates; a segment that fails is final. The whole series is tested at
    ``alpha``; disjoint segments share it by length, so on a series without a change the
    chance of any flag stays about ``alpha`` when samples are exchangeable, whatever their
    distribution (skewed shares of one-post days included), and a found change does not
    reopen the budget for spurious splits beside it. The sensitivity is a stated false-alarm
    rate, not a penalty fitted to data.

    Args:
        alpha: level of the test of the whole series: the chance of a false alarm on an
            unchanging exchangeable series.
        min_size: fewest samples on either side of a change.
        permutations: shuffles per test (the smallest p-value is 1 / (1 + permutations)).
        seed: seeds the shuffles (each split's from ``seed`` + its position), so a rerun gives
            identical results.
        spend_level: share ``alpha`` among segments by length (the default); False tests
            every segment at ``alpha`` (more flags beside a true change; kept for comparison).
    """

    def __init__(
        self, *, alpha: float = 0.05, min_size: int = 2, permutations: int = 199, seed: int = 0, spend_level: bool = True
    ) -> None:
        if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        if not (isinstance(min_size, int) and min_size >= 1):
            raise ValueError(f"min_size must be an integer >= 1, got {min_size!r}")
        if not (isinstance(permutations, int) and permutations >= 1):
            raise ValueError(f"permutations must be an integer >= 1, got {permutations!r}")
        self.alpha = float(alpha)
        self.min_size = min_size
        self.permutations = permutations
        self.seed = int(seed)
        self.spend_level = bool(spend_level)
        self._change_points: list[int] | None = None
        self._p_values: list[float] | None = None

    @property
    def name(self) -> str:
        """Short stable name written to the ``detector`` column of transitions."""
        return "permutation_segmentation"

    def fit(self, signal: np.ndarray, weights: np.ndarray | None = None) -> Self:
        """Find the change points of ``signal`` ((T, d) or (T,); NaN rows are skipped).

        Args:
            signal: the series.
            weights: optional (T,) positive weight per sample (its precision, e.g. posts per
                day); None weighs every sample 1.
        """
        array, observed_rows = prepare_signal(signal)
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != (np.asarray(signal).shape[0],) or not np.all(weights[observed_rows] > 0):
                raise ValueError(f"weights must be {np.asarray(signal).shape[0]} positive numbers, got shape {weights.shape}")
            weights = weights[observed_rows]
        found: dict[int, float] = {}
        length = array.shape[0]
        # Each open segment's best split (gain, position), computed once when it is opened.
        segments: dict[tuple[int, int], tuple[float, int]] = {}

        def open_segment(start: int, end: int) -> None:
            gains = split_gains(array[start:end], self.min_size, None if weights is None else weights[start:end])
            split = int(np.argmax(gains))
            if np.isfinite(gains[split]):
                segments[(start, end)] = (float(gains[split]), start + split)

        open_segment(0, length)
        while segments:
            # The strongest open segment first (the first opened among equals, as before).
            start, end = max(segments, key=lambda bounds: segments[bounds][0])
            _, split = segments.pop((start, end))
            level = self.alpha * ((end - start) / length if self.spend_level else 1.0)
            p_value = permutation_p_value(
                array[start:end], None if weights is None else weights[start:end],
                min_size=self.min_size, permutations=self.permutations, seed=self.seed + split, level=level,
            )
            if p_value > level:
                continue  # final: no change inside at this segment's share of the level
            found[split] = p_value
            open_segment(start, split)
            open_segment(split, end)
        self._change_points = [int(observed_rows[index]) for index in sorted(found)]
        self._p_values = [found[index] for index in sorted(found)]
        return self

    def predict(self) -> list[int]:
        """Change indices found by :meth:`fit` (first index of each new segment)."""
        if self._change_points is None:
            raise RuntimeError("call fit(signal) before predict()")
        return list(self._change_points)

    def p_values(self) -> list[float]:
        """Permutation p-value of each change of :meth:`predict`, in the same order."""
        if self._p_values is None:
            raise RuntimeError("call fit(signal) before p_values()")
        return list(self._p_values)

    def confidences(self) -> list[float]:
        """1 - p-value of each change of :meth:`predict`, in the same order."""
        return [1.0 - p_value for p_value in self.p_values()]


class BinarySegmentation:
    """Offline multivariate mean-shift detection by binary segmentation with a penalty.

    A split is kept when it lowers the squared-error cost by more than
    ``penalty * noise_variance * log(T)``, where the noise variance is estimated robustly
    from the signal itself (or given as ``noise_scale**2``), so one penalty suits both daily
    distributions averaged over many posts and noisier single-post days.

    Args:
        penalty: multiple of ``noise_variance * log(T)`` a split must beat; higher flags less.
        min_size: smallest segment length in samples (days).
        max_change_points: stop after this many change points; None for no limit.
        noise_scale: known noise standard deviation per dimension; None to estimate it.
    """

    def __init__(
        self,
        *,
        penalty: float = 4.0,
        min_size: int = 3,
        max_change_points: int | None = None,
        noise_scale: float | None = None,
    ) -> None:
        if not (isinstance(penalty, (int, float)) and penalty > 0 and math.isfinite(penalty)):
            raise ValueError(f"penalty must be a finite number > 0, got {penalty!r}")
        if not (isinstance(min_size, int) and min_size >= 1):
            raise ValueError(f"min_size must be an integer >= 1, got {min_size!r}")
        if max_change_points is not None and not (isinstance(max_change_points, int) and max_change_points >= 1):
            raise ValueError(f"max_change_points must be None or an integer >= 1, got {max_change_points!r}")
        if noise_scale is not None and not (isinstance(noise_scale, (int, float)) and noise_scale > 0):
            raise ValueError(f"noise_scale must be None or > 0, got {noise_scale!r}")
        self.penalty = float(penalty)
        self.min_size = min_size
        self.max_change_points = max_change_points
        self.noise_scale = noise_scale
        self._change_points: list[int] | None = None

    @property
    def name(self) -> str:
        """Short stable name written to the ``detector`` column of transitions."""
        return "binary_segmentation"

    def fit(self, signal: np.ndarray) -> Self:
        """Find the change points of ``signal`` ((T, d) or (T,); NaN rows are skipped)."""
        array, observed_rows = prepare_signal(signal)
        length = array.shape[0]
        change_points: list[int] = []
        if length >= 2 * self.min_size and length >= 3:
            variance = self.noise_scale**2 if self.noise_scale is not None else noise_variance(array)
            # A floor keeps a noiseless signal (variance 0) from splitting on rounding error.
            threshold = self.penalty * max(variance, 1e-8) * math.log(length)
            candidates: list[tuple[float, int, int, int]] = []

            def push(start: int, end: int) -> None:
                gains = split_gains(array[start:end], self.min_size)
                best = int(np.argmax(gains))
                if gains[best] > threshold:
                    heapq.heappush(candidates, (-float(gains[best]), start + best, start, end))

            push(0, length)
            # Best-gain-first, so a max_change_points cap keeps the strongest changes.
            while candidates and (self.max_change_points is None or len(change_points) < self.max_change_points):
                _, split, start, end = heapq.heappop(candidates)
                change_points.append(split)
                push(start, split)
                push(split, end)
        self._change_points = sorted(int(observed_rows[index]) for index in change_points)
        return self

    def predict(self) -> list[int]:
        """Change indices found by :meth:`fit` (first index of each new segment)."""
        if self._change_points is None:
            raise RuntimeError("call fit(signal) before predict()")
        return list(self._change_points)


class PageHinkley:
    """Streaming change detector: a Page-Hinkley/CUSUM test on standardised squared deviations.

    The first ``warmup`` samples fix a reference mean and scale per dimension; afterwards each
    sample scores ``z = mean_d(((x - mean) / scale)^2) - 1`` (about 0 while nothing changes)
    and the statistic ``g = max(0, g + z - delta)`` accumulates evidence. A drift is reported
    when ``g > threshold``; the detector then starts a new warm-up from the next sample.
    On the LSTM surprise (a (T,) signal) it fires on bursts of unexpected days.

    Args:
        warmup: samples used to fix the reference; no drift is reported during warm-up.
        delta: evidence discounted per sample; higher tolerates more noise.
        threshold: statistic level that reports a drift. The defaults were set on seeded
            simulations: no alarm in 200 streams of 30 stationary 7-d Gaussian days, an
            alarm in 8% of 40-step skewed (gamma) scalar streams, a 0.4 jump in two of seven
            dimensions (8 noise sd) confirmed within 2 samples in 99 of 100 streams.
        min_scale: floor on the reference scale so a near-constant warm-up cannot make every
            later wiggle look huge.
    """

    def __init__(
        self,
        *,
        warmup: int = 10,
        delta: float = 2.0,
        threshold: float = 30.0,
        min_scale: float = 1e-2,
    ) -> None:
        if not (isinstance(warmup, int) and warmup >= 2):
            raise ValueError(f"warmup must be an integer >= 2, got {warmup!r}")
        if not (isinstance(delta, (int, float)) and delta >= 0):
            raise ValueError(f"delta must be >= 0, got {delta!r}")
        if not (isinstance(threshold, (int, float)) and threshold > 0):
            raise ValueError(f"threshold must be > 0, got {threshold!r}")
        if not (isinstance(min_scale, (int, float)) and min_scale > 0):
            raise ValueError(f"min_scale must be > 0, got {min_scale!r}")
        self.warmup = warmup
        self.delta = float(delta)
        self.threshold = float(threshold)
        self.min_scale = float(min_scale)
        self.reset()
        self._change_points: list[int] | None = None

    @property
    def name(self) -> str:
        return "page_hinkley"

    def reset(self) -> Self:
        """Forget the reference and the statistic; the next samples form a new warm-up."""
        self._reference: list[np.ndarray] = []
        self._mean: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self._statistic = 0.0
        self._drift_detected = False
        return self

    @property
    def drift_detected(self) -> bool:
        """Whether the last :meth:`update` reported a drift."""
        return self._drift_detected

    @property
    def statistic(self) -> float:
        """The current cumulative evidence ``g``."""
        return self._statistic

    def update(self, x: float | np.ndarray) -> Self:
        """Take one sample (a float or a (d,) vector); a sample with NaN/inf is ignored."""
        sample = np.atleast_1d(np.asarray(x, dtype=np.float64))
        if self._drift_detected:
            self.reset()
        if not np.all(np.isfinite(sample)):
            return self
        if self._mean is None:
            self._reference.append(sample)
            if len(self._reference) == self.warmup:
                reference = np.stack(self._reference)
                # Frozen after warm-up: a running mean would chase the very shift we look for.
                self._mean = reference.mean(axis=0)
                self._scale = np.maximum(reference.std(axis=0, ddof=1), self.min_scale)
            return self
        score = float(np.mean(((sample - self._mean) / self._scale) ** 2)) - 1.0
        self._statistic = max(0.0, self._statistic + score - self.delta)
        self._drift_detected = self._statistic > self.threshold
        return self

    def fit(self, signal: np.ndarray) -> Self:
        """Stream a whole (T, d) or (T,) signal from a fresh state, recording detections.

        Rows with no finite value are skipped (a missing day carries no evidence).

        A detection at sample t is reported as change index t: a streaming test can only
        confirm a change some samples after it starts, so the index is an upper bound.
        """
        array, observed_rows = prepare_signal(signal)
        self.reset()
        change_points: list[int] = []
        for index, sample in zip(observed_rows, array, strict=True):
            self.update(sample)
            if self._drift_detected:
                change_points.append(int(index))
        self._change_points = change_points
        return self

    def predict(self) -> list[int]:
        """Indices at which :meth:`fit` reported a drift."""
        if self._change_points is None:
            raise RuntimeError("call fit(signal) before predict()")
        return list(self._change_points)
