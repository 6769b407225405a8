"""Transitions per user: planted changes are recovered, stable users are left alone."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from drift.sequences import UserSequence, build_daily_sequences, piecewise_constant_cohort, user_sequences
from drift.transitions import (
    TransitionOptions,
    change_day_posterior,
    combine_p_values,
    detect_transitions,
    jensen_shannon_distance,
    link_transitions,
    most_probable_window_centre,
)


def test_jensen_shannon_distance_bounds() -> None:
    joy = np.array([0, 0, 0, 1.0, 0, 0, 0])
    sadness = np.array([0, 0, 0, 0, 1.0, 0, 0])
    assert jensen_shannon_distance(joy, joy) == 0.0
    assert jensen_shannon_distance(joy, sadness) == pytest.approx(1.0)
    # Half overlap: JS divergence = 1 - 0.5 * (1 + 0.5 * log2(... )) computed by hand = 0.3113.
    half = np.array([0, 0, 0, 0.5, 0.5, 0, 0])
    assert jensen_shannon_distance(joy, half) == pytest.approx(np.sqrt(0.31127812), abs=1e-6)


def test_combine_p_values_fisher() -> None:
    assert combine_p_values([0.3]) == pytest.approx(0.3)
    # Fisher for (0.05, 0.05): X = 11.98, chi2(4) tail = exp(-5.99) * (1 + 5.99) = 0.0175.
    assert combine_p_values([0.05, 0.05]) == pytest.approx(0.01747, abs=1e-4)


def test_options_validate_their_values() -> None:
    with pytest.raises(ValueError, match="min_confidence"):
        TransitionOptions(min_confidence=1.5)
    with pytest.raises(ValueError, match="min_confidence"):
        TransitionOptions(min_confidence=1.0)  # it sets the test level: 0 is no test
    with pytest.raises(ValueError, match="min_size"):
        TransitionOptions(min_size=0)


JOY_DAY = np.array([0.05, 0.05, 0.05, 0.6, 0.1, 0.05, 0.1])
SADNESS_DAY = np.array([0.05, 0.05, 0.05, 0.1, 0.6, 0.05, 0.1])
DAYS_22 = tuple(f"2026-01-{day:02d}" for day in range(1, 23))


def joy_then_sadness(seed: int) -> np.ndarray:
    """22 noisy days: 12 of joy, then 10 of sadness (the change starts on the 13th)."""
    rng = np.random.default_rng(seed)
    return np.vstack([rng.dirichlet(40 * JOY_DAY, size=12), rng.dirichlet(40 * SADNESS_DAY, size=10)])


def test_one_planted_change_is_described() -> None:
    probs, days = joy_then_sadness(0), DAYS_22
    sequence = UserSequence("u", days, probs, np.full(22, 2))
    found = detect_transitions(sequence)
    assert found.drop(columns=["mean_before", "mean_after"]).to_dict("records") == [
        {
            "changed_at": "2026-01-13", "from_label": "joy", "to_label": "sadness",
            "magnitude": pytest.approx(found.magnitude[0]), "confidence": pytest.approx(found.confidence[0]),
            "posts_before": 24, "posts_after": 20, "detector": "permutation_segmentation",
            "evidence_before": [], "evidence_after": [],  # no exemplars given
        }
    ]
    assert np.allclose(found.mean_before[0], probs[:12].mean(axis=0))  # equal post counts: plain means
    assert np.allclose(found.mean_after[0], probs[12:].mean(axis=0))
    assert 0.4 < found.magnitude[0] <= 1.0
    assert found.confidence[0] >= 0.99
    # Deterministic: the permutation test is seeded.
    assert detect_transitions(sequence).equals(found)


def test_a_change_in_a_silent_week_is_dated_mid_gap() -> None:
    # joy on the 1st-12th, nothing on the 13th-19th, sadness from the 20th: the change began
    # somewhere in the silent week; the first posting day after it is a week late.
    days = tuple(f"2026-01-{day:02d}" for day in [*range(1, 13), *range(20, 30)])
    sequence = UserSequence("u", days, joy_then_sadness(0), np.full(22, 2))
    found = detect_transitions(sequence)
    assert found.to_label.tolist() == ["sadness"]
    # the 13th-20th are equally likely (the split is clear): their mean, 16.5, to the day
    assert found.changed_at.tolist() == ["2026-01-17"]
    assert found.posts_before.tolist() == [24] and found.posts_after.tolist() == [20]  # the split itself is unchanged


def test_change_day_posterior_covers_every_candidate_day_and_sharpens_with_less_noise() -> None:
    days = tuple(f"2026-01-{day:02d}" for day in [1, 2, 3, 4, 8, 9, 10, 11])
    signal = np.sqrt(np.vstack([np.tile(JOY_DAY, (4, 1)), np.tile(SADNESS_DAY, (4, 1))]))
    weights = np.ones(8)
    candidate_days, probabilities = change_day_posterior(days, signal, weights, 0, 8, 2, noise_variance=0.5)
    # splits before samples 2..6: stretches (2nd, 3rd], (3rd, 4th], (4th, 8th], (8th, 9th], (9th, 10th]
    assert [dt.date.fromordinal(int(day)).day for day in candidate_days] == [3, 4, 5, 6, 7, 8, 9, 10]
    assert np.isclose(probabilities.sum(), 1.0) and np.argmax(probabilities) in (2, 3, 4, 5)
    # the silent days 5th-8th share the true split's likelihood: equal probability each
    assert np.allclose(probabilities[2:6], probabilities[2])
    _, noiseless = change_day_posterior(days, signal, weights, 0, 8, 2, noise_variance=0.0)
    assert np.allclose(noiseless, [0, 0, 0.25, 0.25, 0.25, 0.25, 0, 0])
    assert probabilities[2] < noiseless[2]


def precision_recall(seeds: range, surprise_of=None) -> tuple[float, float, int]:
    """Precision and recall of flagged transitions against the planted truth (±1 day)."""
    true_positives = flagged = planted = 0
    for seed in seeds:
        scores, truth = piecewise_constant_cohort(stable_users=40, changing_users=10, seed=seed)
        for sequence in user_sequences(build_daily_sequences(scores)):
            surprise = None if surprise_of is None else surprise_of(sequence)
            found = detect_transitions(sequence, surprise)
            flagged += len(found)
            if truth[sequence.user_id] is None:
                continue
            planted += 1
            change = dt.date.fromisoformat(truth[sequence.user_id])
            hits = [day for day, label in zip(found.changed_at, found.to_label)
                    if abs((dt.date.fromisoformat(day) - change).days) <= 1 and label == "sadness"]
            true_positives += bool(hits)
    return true_positives / max(flagged, 1), true_positives / planted, flagged


def test_precision_and_recall_on_a_synthetic_cohort() -> None:
    precision, recall, flagged = precision_recall(range(3))
    # Measured at these seeds: recall 1.0, precision 0.83 (36 flags for 30 planted changes: 6
    # false ones on 150 users with a month each, the 0.05 level of the test at work).
    assert precision >= 0.8, (precision, flagged)
    assert recall >= 0.95, recall


def test_stable_users_are_rarely_flagged_even_when_noisy() -> None:
    scores, truth = piecewise_constant_cohort(
        stable_users=60, changing_users=0, concentration=4.0, mean_posts_per_day=1.0, seed=1
    )
    flagged = [detect_transitions(sequence) for sequence in user_sequences(build_daily_sequences(scores))]
    # Measured: 2 flags on these 60 users (3.3 per 100 stable user-months; 3 expected at the
    # test's 0.05 level, a level of 0.2 would give about 12).
    assert sum(len(found) for found in flagged) <= 5


def test_evidence_cites_the_posts_that_show_each_side_best() -> None:
    rng = np.random.default_rng(1)
    probs, days = joy_then_sadness(1), DAYS_22
    ids = np.array([[f"p{day}-{label}" for label in range(7)] for day in range(22)], dtype=object)
    strengths = rng.uniform(0.1, 0.5, size=(22, 7))
    strengths[[2, 7, 9], 3] = [0.99, 0.97, 0.95]  # the three most joyful posts before the change
    strengths[[13, 20, 15], 4] = [0.98, 0.96, 0.94]  # the three saddest after it
    strengths[[14], 3] = 1.0  # a joyful post after the change is not evidence of the old mood
    sequence = UserSequence("u", days, probs, np.full(22, 2), ids, strengths)
    found = detect_transitions(sequence)
    assert found.evidence_before[0] == ["p2-3", "p7-3", "p9-3"]
    assert found.evidence_after[0] == ["p13-4", "p20-4", "p15-4"]


def test_linking_keeps_a_changes_id_while_its_date_moves() -> None:
    def rows(*items):
        return pd.DataFrame(items, columns=["user_id", "changed_at", "from_label", "to_label"])

    night1 = link_transitions(rows(("a", "2026-01-10", "joy", "sadness")), None, "2026-01-14")
    assert night1.first_flagged_dt.tolist() == ["2026-01-14"] and len(night1.transition_id[0]) == 16
    night2 = link_transitions(
        rows(("a", "2026-01-12", "joy", "sadness"), ("a", "2026-01-25", "sadness", "anger"), ("b", "2026-01-11", "joy", "fear")),
        night1, "2026-01-15",
    )
    assert night2.transition_id[0] == night1.transition_id[0]  # moved by two days: same change
    assert night2.first_flagged_dt.tolist() == ["2026-01-14", "2026-01-15", "2026-01-15"]
    assert len(set(night2.transition_id)) == 3
    night3 = link_transitions(rows(("a", "2026-01-16", "joy", "sadness")), night2, "2026-01-16")
    assert night3.transition_id[0] != night1.transition_id[0]  # four days away: another change
    # one-to-one: two rows near one old change, the nearer keeps the id
    split = link_transitions(rows(("a", "2026-01-11", "joy", "neutral"), ("a", "2026-01-12", "joy", "sadness")), night2, "2026-01-16")
    assert split.transition_id.tolist()[1] == night1.transition_id[0] and split.transition_id[0] != night1.transition_id[0]


def test_weighing_days_by_posts_still_finds_the_change() -> None:
    probs, days = joy_then_sadness(2), DAYS_22
    counts = np.where(np.arange(22) % 3 == 0, 9, 1)
    assert TransitionOptions().weigh_days_by_posts  # the default
    for weigh in (True, False):
        found = detect_transitions(UserSequence("u", days, probs, counts), options=TransitionOptions(weigh_days_by_posts=weigh))
        assert found.changed_at.tolist() == ["2026-01-13"] and found.to_label.tolist() == ["sadness"]


def test_a_heavy_posting_day_outweighs_a_one_post_day() -> None:
    # joy throughout on the 12-post days; after day 11 the one-post days in between read
    # sadness (two posts in 14 of those days): every day alike sees a shift there,
    # posts-weighted days see that most of the user's posts never moved.
    rng = np.random.default_rng(5)
    joy = np.array([0.05, 0.02, 0.02, 0.75, 0.06, 0.05, 0.05])
    sad = np.array([0.05, 0.02, 0.02, 0.06, 0.75, 0.05, 0.05])
    counts = np.where(np.arange(22) % 3 == 0, 12, 1)
    means = [sad if day >= 11 and counts[day] == 1 else joy for day in range(22)]
    probs = np.vstack([rng.dirichlet(80 * mean) for mean in means])
    sequence = UserSequence("u", DAYS_22, probs, counts)
    # every split reported, so the segmentation itself shows (the described means are
    # post-weighted either way: joy on both sides)
    unfiltered = {"require_label_change": False, "min_magnitude": 0.0}
    assert detect_transitions(sequence, options=TransitionOptions(weigh_days_by_posts=False, **unfiltered)).changed_at.tolist() == ["2026-01-12"]
    assert detect_transitions(sequence, options=TransitionOptions(**unfiltered)).empty


def test_a_shift_that_keeps_the_dominant_emotion_is_not_a_transition() -> None:
    # anger 0.45 of the day for 12 days, then anger 0.85: significant, but anger throughout
    rng = np.random.default_rng(4)
    milder = np.array([0.45, 0.15, 0.05, 0.05, 0.15, 0.05, 0.10])
    stronger = np.array([0.85, 0.05, 0.01, 0.01, 0.04, 0.01, 0.03])
    probs = np.vstack([rng.dirichlet(60 * milder, size=12), rng.dirichlet(60 * stronger, size=10)])
    sequence = UserSequence("u", DAYS_22, probs, np.full(22, 2))
    assert detect_transitions(sequence).empty
    shifts = detect_transitions(sequence, options=TransitionOptions(require_label_change=False))
    assert shifts[["changed_at", "from_label", "to_label"]].to_dict("records") == [
        {"changed_at": "2026-01-13", "from_label": "anger", "to_label": "anger"}
    ]
    assert shifts.confidence[0] >= 0.99 and shifts.magnitude[0] >= 0.1


def test_the_date_is_the_centre_of_the_most_probable_window_not_the_mean() -> None:
    # 0.6 of the mass on the 10th-12th, 0.4 on the 30th: the mean (17.9) is right for neither
    # cluster; a +-3-day window centred on the 11th-13th holds 0.6 (the 13th, nearest the
    # mean, wins the tie), any window holding the 30th 0.4.
    days = np.arange(10, 31)
    probabilities = np.zeros(days.size)
    probabilities[:3] = 0.2
    probabilities[-1] = 0.4
    assert most_probable_window_centre(days, probabilities, tolerance_days=3) == 13
    # a tolerance of 0 is the mode; ties (a flat posterior) go to the day nearest the mean
    assert most_probable_window_centre(days, probabilities, tolerance_days=0) == 30
    flat = np.full(days.size, 1.0 / days.size)
    assert most_probable_window_centre(days, flat, tolerance_days=3) == 20
    with pytest.raises(ValueError, match="tolerance_days"):
        most_probable_window_centre(days, flat, tolerance_days=-1)
    with pytest.raises(ValueError, match="dating_tolerance_days"):
        TransitionOptions(dating_tolerance_days=-1)
