"""Daily user sequences from post scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drift.sequences import (
    UserSequence,
    build_daily_sequences,
    combine_landing_rows,
    piecewise_constant_cohort,
    to_user_sequence,
    user_sequences,
)

JOY = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
SAD = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
MIXED = [0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2]


def scores_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["b", "a", "a", "a", "a"],
            "created_at": pd.to_datetime(
                ["2026-01-03T10:00:00Z", "2026-01-01T23:59:00Z", "2026-01-01T00:01:00Z",
                 "2026-01-04T12:00:00Z", "2026-01-04T13:00:00Z"], utc=True
            ),
            "fused_probs": [MIXED, JOY, SAD, JOY, None],
        }
    )


def test_build_daily_sequences_means_counts_and_order() -> None:
    scores = scores_frame()
    before = scores.copy(deep=True)
    daily = build_daily_sequences(scores)
    pd.testing.assert_frame_equal(scores, before)  # the input is not modified
    assert list(daily.columns) == ["user_id", "day", "post_count", "probs", "dominant_label"]
    assert daily[["user_id", "day", "post_count"]].values.tolist() == [
        ["a", "2026-01-01", 2], ["a", "2026-01-04", 1], ["b", "2026-01-03", 1],
    ]
    assert daily.loc[0, "probs"] == pytest.approx([0, 0, 0, 0.5, 0.5, 0, 0])
    assert daily.loc[1, "dominant_label"] == "joy"
    # A tie goes to the first label in LABELS order; b's three 0.2s: sadness comes first.
    assert daily.loc[2, "dominant_label"] == "sadness"


def test_build_daily_sequences_of_nothing_has_the_columns() -> None:
    empty = build_daily_sequences(scores_frame().iloc[:0])
    assert empty.empty and list(empty.columns) == ["user_id", "day", "post_count", "probs", "dominant_label"]


def test_user_sequence_gaps_and_validation() -> None:
    sequence = to_user_sequence(build_daily_sequences(scores_frame()).query("user_id == 'a'"))
    assert sequence.days == ("2026-01-01", "2026-01-04")
    assert sequence.probs.shape == (2, 7)
    assert sequence.day_gaps().tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="increasing"):
        UserSequence("x", ("2026-01-02", "2026-01-01"), np.zeros((2, 7)), np.ones(2, dtype=int))
    with pytest.raises(ValueError, match="one user"):
        to_user_sequence(build_daily_sequences(scores_frame()))


def test_synthetic_cohort_truth_matches_its_sequences() -> None:
    scores, truth = piecewise_constant_cohort(stable_users=3, changing_users=2, days=20, seed=0)
    sequences = user_sequences(build_daily_sequences(scores))
    assert [sequence.user_id for sequence in sequences] == sorted(truth)
    for sequence in sequences:
        if truth[sequence.user_id] is None:
            continue
        change = sequence.days.index(truth[sequence.user_id])
        assert np.all(sequence.probs[:change, 3] > sequence.probs[:change, 4])  # joy before
        assert sequence.probs[change:, 4].mean() > 0.4  # sadness after


def test_user_sequences_of_many_users_equal_each_users_own_sequence() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for user in ("u2", "u10", "u1"):
        for day in rng.choice(np.arange(1, 29), size=int(rng.integers(1, 12)), replace=False):
            probs = rng.dirichlet(np.ones(7))
            rows.append((user, f"2026-02-{day:02d}", int(rng.integers(1, 5)), probs, [f"{user}-{day}-{label}" for label in range(7)], probs * 0.9))
    daily = pd.DataFrame(rows, columns=["user_id", "day", "post_count", "probs", "exemplar_post_ids", "exemplar_probs"])
    shuffled = daily.sample(frac=1.0, random_state=1)
    found = user_sequences(shuffled)
    assert [sequence.user_id for sequence in found] == ["u1", "u10", "u2"]
    for sequence in found:
        expected = to_user_sequence(daily[daily["user_id"] == sequence.user_id])
        assert sequence.days == expected.days
        np.testing.assert_array_equal(sequence.probs, expected.probs)
        np.testing.assert_array_equal(sequence.post_counts, expected.post_counts)
        np.testing.assert_array_equal(sequence.exemplar_post_ids, expected.exemplar_post_ids)
        np.testing.assert_array_equal(sequence.exemplar_probs, expected.exemplar_probs)
    assert user_sequences(daily.iloc[:0]) == []
    assert user_sequences(daily.drop(columns=["exemplar_probs"]))[0].exemplar_post_ids is None


def landing_row(user_id: str, day: str, posts: list[list[float]], post_ids: list[str]) -> dict[str, object]:
    """What one landing night writes for a user-day: count, sums and the strongest post per label."""
    matrix = np.asarray(posts)
    strongest = [max(zip(matrix[:, label], post_ids)) for label in range(matrix.shape[1])]
    return {"user_id": user_id, "day": day, "post_count": len(posts), "prob_sums": matrix.sum(axis=0).tolist(),
            "exemplar_post_ids": [post_id for _, post_id in strongest], "exemplar_probs": [p for p, _ in strongest]}


def test_landing_rows_add_up_to_the_day_as_if_it_landed_at_once() -> None:
    rng = np.random.default_rng(3)
    posts = {(user, day): rng.dirichlet(np.ones(7), size=int(rng.integers(1, 6))).tolist()
             for user in ("u2", "u1") for day in ("2026-01-02", "2026-01-01", "2026-01-05")}
    ids = {key: [f"{key[0]}-{key[1]}-{index}" for index in range(len(value))] for key, value in posts.items()}
    # the whole day in one landing, against the day split over up to three landing nights (late posts)
    at_once = pd.DataFrame([landing_row(*key, posts[key], ids[key]) for key in posts])
    split_rows = []
    for key in posts:
        cuts = sorted(rng.choice(np.arange(1, len(posts[key]) + 1), size=min(2, len(posts[key])), replace=False))
        for start, end in zip([0, *cuts], [*cuts, len(posts[key])]):
            if end > start:
                split_rows.append(landing_row(*key, posts[key][start:end], ids[key][start:end]))
    split = pd.DataFrame(split_rows).sample(frac=1.0, random_state=0)
    assert len(split) > len(at_once)
    combined, reference = combine_landing_rows(split), combine_landing_rows(at_once)
    assert list(combined["user_id"]) == ["u1"] * 3 + ["u2"] * 3
    assert list(combined["day"]) == ["2026-01-01", "2026-01-02", "2026-01-05"] * 2
    pd.testing.assert_frame_equal(combined, reference)
    # the means are the posts' own means, per label the strongest post wins
    first = posts[("u1", "2026-01-01")]
    assert np.allclose(combined["probs"].iloc[0], np.mean(first, axis=0), atol=1e-6)
    assert combined["post_count"].iloc[0] == len(first)
    best = int(np.argmax(np.asarray(first)[:, 3]))
    assert combined["exemplar_post_ids"].iloc[0][3] == f"u1-2026-01-01-{best}"
    # what user_sequences takes
    assert [sequence.user_id for sequence in user_sequences(combined)] == ["u1", "u2"]
    # without exemplars: the same days and sums, no exemplar columns, sequences without evidence
    bare = combine_landing_rows(split, exemplars=False)
    assert list(bare.columns) == ["user_id", "day", "post_count", "probs"]
    pd.testing.assert_frame_equal(bare, combined[list(bare.columns)])
    assert all(sequence.exemplar_post_ids is None for sequence in user_sequences(bare))


def test_landing_rows_tie_goes_to_the_larger_post_id_and_nothing_gives_the_columns() -> None:
    rows = pd.DataFrame([landing_row("u", "2026-01-01", [JOY], ["p-1"]), landing_row("u", "2026-01-01", [JOY], ["p-2"])])
    combined = combine_landing_rows(rows)
    assert combined["exemplar_post_ids"].iloc[0][3] == "p-2" and combined["post_count"].iloc[0] == 2
    empty = combine_landing_rows(rows.iloc[0:0])
    assert empty.empty and list(empty.columns) == ["user_id", "day", "post_count", "probs", "exemplar_post_ids", "exemplar_probs"]
    assert list(combine_landing_rows(rows.iloc[0:0], exemplars=False).columns) == ["user_id", "day", "post_count", "probs"]
