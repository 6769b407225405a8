"""Per-user emotion sequences: one row per user per day with posts, in LABELS order.

Pure pandas/numpy. A day without posts is absent from a sequence (not filled with zeros or
carried forward): the gap itself is information, and :meth:`UserSequence.day_gaps` hands it
to whoever needs it (the temporal LSTM takes it as an input feature).

``piecewise_constant_cohort`` generates post-level data with planted changes of known truth,
like ``ruptures.pw_constant``: tests and benchmarks share it so they measure the same thing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from models.labels import LABEL_INDEX, LABELS, NUM_LABELS

SEQUENCE_COLUMNS: tuple[str, ...] = ("user_id", "day", "post_count", "probs", "dominant_label")


def build_daily_sequences(scores: pd.DataFrame) -> pd.DataFrame:
    """Aggregate post scores into one row per user per UTC day.

    Args:
        scores: one row per post with ``user_id``, ``created_at`` (timestamp, naive values are
            taken as UTC) and ``fused_probs`` (sequence of 7 floats in LABELS order, rows
            where it is missing are skipped).

    Returns:
        Columns ``user_id``, ``day`` (``YYYY-MM-DD``), ``post_count`` (int), ``probs`` (list of
        7 floats, the mean fused distribution renormalised to sum to 1) and
        ``dominant_label``; sorted by user then day, with a fresh index. The input is not
        modified.
    """
    usable = scores.loc[scores["fused_probs"].notna(), ["user_id", "created_at", "fused_probs"]]
    if usable.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in SEQUENCE_COLUMNS}).astype(
            {"post_count": "int64"}
        )
    matrix = np.asarray(usable["fused_probs"].tolist(), dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != NUM_LABELS:
        raise ValueError(f"fused_probs must hold {NUM_LABELS} values per post, got shape {matrix.shape}")
    frame = pd.DataFrame(matrix, columns=list(LABELS))
    frame["user_id"] = usable["user_id"].astype(str).to_numpy()
    frame["day"] = pd.to_datetime(usable["created_at"], utc=True).dt.strftime("%Y-%m-%d").to_numpy()
    grouped = frame.groupby(["user_id", "day"], sort=True)
    means = grouped[list(LABELS)].mean().to_numpy()
    means = means / means.sum(axis=1, keepdims=True)
    keys = grouped.size()
    return pd.DataFrame(
        {
            "user_id": keys.index.get_level_values("user_id").to_numpy(),
            "day": keys.index.get_level_values("day").to_numpy(),
            "post_count": keys.to_numpy().astype(np.int64),
            "probs": [row.tolist() for row in means],
            "dominant_label": [LABELS[index] for index in means.argmax(axis=1)],
        }
    )


LANDING_COLUMNS: tuple[str, ...] = ("user_id", "day", "post_count", "prob_sums", "exemplar_post_ids", "exemplar_probs")


def combine_landing_rows(rows: pd.DataFrame, decimals: int = 6, *, exemplars: bool = True) -> pd.DataFrame:
    """Add up per user and day the rows that several landing days wrote for it.

    A day's posts can land over several nights (late posts), and each landing night wrote its
    own row: post count, the sum of the posts' fused distributions and, per label, the post
    that showed it most. Their sum is the day as if all its posts had landed at once.

    Args:
        rows: :data:`LANDING_COLUMNS`: ``prob_sums``, ``exemplar_post_ids`` and
            ``exemplar_probs`` hold 7 values each (LABELS order). Any other column is ignored.
        decimals: the mean distribution and the exemplar probabilities are rounded to this
            many decimals (so sums taken in another order write the same values).
        exemplars: False leaves the exemplar columns out (and their per-label maxima
            uncomputed): the sequences pass and the LSTM's fit sample never cite posts, and at
            100,000 users building those object arrays cost more than the sums.

    Returns:
        One row per user and day, sorted by user then day, with ``user_id``, ``day``,
        ``post_count``, ``probs`` (the day's mean distribution, renormalised),
        ``exemplar_post_ids`` and ``exemplar_probs`` (per label, the strongest post over all the
        landing rows; ties go to the larger post id; absent when ``exemplars`` is False). What
        ``user_sequences`` takes.
    """
    columns = ("user_id", "day", "post_count", "probs") + (("exemplar_post_ids", "exemplar_probs") if exemplars else ())
    if rows.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns}).astype({"post_count": "int64"})
    ordered = rows.sort_values(["user_id", "day"], kind="stable", ignore_index=True)
    user_ids = ordered["user_id"].to_numpy(dtype=object)
    days = ordered["day"].astype(str).to_numpy(dtype=object)
    new_group = np.r_[True, (user_ids[1:] != user_ids[:-1]) | (days[1:] != days[:-1])]
    starts = np.flatnonzero(new_group)
    ends = np.r_[starts[1:], len(ordered)]
    sums = np.add.reduceat(np.asarray(ordered["prob_sums"].tolist(), dtype=np.float64).reshape(-1, NUM_LABELS), starts, axis=0)
    post_counts = np.add.reduceat(ordered["post_count"].to_numpy(dtype=np.int64), starts)
    means = np.round(sums / sums.sum(axis=1, keepdims=True), decimals)
    daily = {"user_id": user_ids[starts], "day": days[starts], "post_count": post_counts, "probs": means.tolist()}
    if not exemplars:
        return pd.DataFrame(daily)
    exemplar_ids = np.array([list(row) for row in ordered["exemplar_post_ids"]], dtype=object).reshape(-1, NUM_LABELS)
    exemplar_probs = np.asarray(ordered["exemplar_probs"].tolist(), dtype=np.float64).reshape(-1, NUM_LABELS)
    if len(starts) < len(ordered):  # some day landed more than once: the strongest post of each label
        group = np.cumsum(new_group) - 1
        chosen = np.empty((len(starts), NUM_LABELS), dtype=np.int64)
        for label in range(NUM_LABELS):
            # sorted by group, then probability, then id: each group's last row is its maximum
            order = np.lexsort((exemplar_ids[:, label].astype(str), exemplar_probs[:, label], group))
            chosen[:, label] = order[ends - 1]
        exemplar_ids = np.take_along_axis(exemplar_ids, chosen, axis=0)
        exemplar_probs = np.take_along_axis(exemplar_probs, chosen, axis=0)
    return pd.DataFrame(
        daily | {"exemplar_post_ids": exemplar_ids.tolist(), "exemplar_probs": np.round(exemplar_probs, decimals).tolist()}
    )


@dataclasses.dataclass(frozen=True)
class UserSequence:
    """One user's days with posts, in time order.

    Attributes:
        user_id: the (pseudonymous) user.
        days: ``YYYY-MM-DD`` strings, strictly increasing, length T.
        probs: (T, 7) mean fused distribution per day, LABELS order.
        post_counts: (T,) posts per day.
        exemplar_post_ids: optional (T, 7) object array: per day and label, the id of the
            post that showed that label most (what a transition cites as evidence).
        exemplar_probs: optional (T, 7): that post's probability of the label.
    """

    user_id: str
    days: tuple[str, ...]
    probs: np.ndarray
    post_counts: np.ndarray
    exemplar_post_ids: np.ndarray | None = None
    exemplar_probs: np.ndarray | None = None

    def __post_init__(self) -> None:
        length = len(self.days)
        if self.probs.shape != (length, NUM_LABELS):
            raise ValueError(f"probs must have shape ({length}, {NUM_LABELS}), got {self.probs.shape}")
        if self.post_counts.shape != (length,):
            raise ValueError(f"post_counts must have shape ({length},), got {self.post_counts.shape}")
        for name in ("exemplar_post_ids", "exemplar_probs"):
            value = getattr(self, name)
            if value is not None and value.shape != (length, NUM_LABELS):
                raise ValueError(f"{name} must have shape ({length}, {NUM_LABELS}), got {value.shape}")
        if any(later <= earlier for earlier, later in zip(self.days, self.days[1:])):
            raise ValueError(f"days of user {self.user_id!r} must be strictly increasing")

    def __len__(self) -> int:
        return len(self.days)

    def day_gaps(self) -> np.ndarray:
        """(T,) calendar days since the previous day with posts; 1 for the first day."""
        ordinals = np.array([dt.date.fromisoformat(day).toordinal() for day in self.days], dtype=np.int64)
        gaps = np.ones(len(ordinals), dtype=np.float64)
        gaps[1:] = np.diff(ordinals)
        return gaps


def to_user_sequence(rows: pd.DataFrame) -> UserSequence:
    """Turn one user's rows of :func:`build_daily_sequences` output into a :class:`UserSequence`.

    Rows may come in any order; they are sorted by day. Columns ``exemplar_post_ids`` and
    ``exemplar_probs`` (7 values per row), when present, become the exemplar arrays.
    """
    user_ids = rows["user_id"].unique()
    if len(user_ids) != 1:
        raise ValueError(f"expected the rows of exactly one user, got {len(user_ids)} users")
    ordered = rows.sort_values("day")
    probs = np.asarray(ordered["probs"].tolist(), dtype=np.float64).reshape(len(ordered), NUM_LABELS)
    exemplar_ids = exemplar_probs = None
    if "exemplar_post_ids" in ordered and "exemplar_probs" in ordered:
        exemplar_ids = np.array([list(row) for row in ordered["exemplar_post_ids"]], dtype=object).reshape(len(ordered), NUM_LABELS)
        exemplar_probs = np.asarray(ordered["exemplar_probs"].tolist(), dtype=np.float64).reshape(len(ordered), NUM_LABELS)
    return UserSequence(
        user_id=str(user_ids[0]),
        days=tuple(str(day) for day in ordered["day"]),
        probs=probs,
        post_counts=ordered["post_count"].to_numpy(dtype=np.int64),
        exemplar_post_ids=exemplar_ids,
        exemplar_probs=exemplar_probs,
    )


def user_sequences(daily: pd.DataFrame) -> list[UserSequence]:
    """Split :func:`build_daily_sequences` output into one sequence per user, sorted by user.

    Same sequences as :func:`to_user_sequence` on each user's rows (exemplar columns
    included when present), with one sort and one conversion of the list columns for the
    whole frame: the drift job calls it on a bucket of users per ``applyInPandas`` group, and
    per-user pandas work cost more than detecting the user's changes.
    """
    if daily.empty:
        return []
    ordered = daily.sort_values(["user_id", "day"], kind="stable")
    user_ids = ordered["user_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, user_ids[1:] != user_ids[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    days = [str(day) for day in ordered["day"]]
    post_counts = ordered["post_count"].to_numpy(dtype=np.int64)

    def matrix(column: str, dtype: type) -> np.ndarray:
        values = np.array([list(row) for row in ordered[column]], dtype=dtype) if dtype is object else (
            np.asarray(ordered[column].tolist(), dtype=dtype))
        return values.reshape(len(ordered), NUM_LABELS)

    probs = matrix("probs", np.float64)
    with_exemplars = "exemplar_post_ids" in ordered and "exemplar_probs" in ordered
    exemplar_ids = matrix("exemplar_post_ids", object) if with_exemplars else None
    exemplar_probs = matrix("exemplar_probs", np.float64) if with_exemplars else None
    return [
        UserSequence(
            user_id=str(user_ids[start]),
            days=tuple(days[start:end]),
            probs=probs[start:end],
            post_counts=post_counts[start:end],
            exemplar_post_ids=None if exemplar_ids is None else exemplar_ids[start:end],
            exemplar_probs=None if exemplar_probs is None else exemplar_probs[start:end],
        )
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def piecewise_constant_cohort(
    *,
    stable_users: int = 40,
    changing_users: int = 10,
    days: int = 30,
    start: dt.date = dt.date(2026, 1, 1),
    change_day_range: tuple[int, int] = (10, 20),
    from_label: str = "joy",
    to_label: str = "sadness",
    dominant_share: float = 0.55,
    concentration: float = 10.0,
    mean_posts_per_day: float = 2.0,
    missing_day_rate: float = 0.15,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """Synthetic post scores for a cohort with planted emotional transitions of known truth.

    Every user has a base distribution with ``dominant_share`` on one label (stable users draw
    their label at random; changing users start on ``from_label``) and the rest spread at
    random. Each post's fused distribution is drawn from a Dirichlet around the base with the
    given ``concentration`` (lower means noisier posts). Changing users switch their base to
    ``to_label`` from a day drawn in ``change_day_range``. Each day has no post with
    probability ``missing_day_rate`` (a gap), else 1 + Poisson(``mean_posts_per_day`` - 1).

    Returns:
        ``(scores, truth)``: scores has ``post_id``, ``user_id``, ``created_at`` (UTC
        timestamps), ``fused_probs`` (list of 7 floats), ``dt``; truth maps every user to the
        ``YYYY-MM-DD`` day of the first post-change day that has posts, or None for stable
        users.
    """
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    truth: dict[str, str | None] = {}

    def base_distribution(dominant: int) -> np.ndarray:
        rest = rng.dirichlet(np.ones(NUM_LABELS - 1)) * (1.0 - dominant_share)
        return np.insert(rest, dominant, dominant_share)

    total_users = stable_users + changing_users
    for user_number in range(total_users):
        user_id = f"user-{user_number:04d}"
        changing = user_number >= stable_users
        first_label = LABEL_INDEX[from_label] if changing else int(rng.integers(NUM_LABELS))
        bases = [base_distribution(first_label)]
        change_day = days + 1
        if changing:
            bases.append(base_distribution(LABEL_INDEX[to_label]))
            change_day = int(rng.integers(change_day_range[0], change_day_range[1] + 1))
        truth[user_id] = None
        for day_number in range(days):
            if rng.random() < missing_day_rate:
                continue
            day = start + dt.timedelta(days=day_number)
            base = bases[1] if day_number >= change_day else bases[0]
            if changing and day_number >= change_day and truth[user_id] is None:
                truth[user_id] = day.isoformat()
            post_count = 1 + int(rng.poisson(max(mean_posts_per_day - 1.0, 0.0)))
            for post_number in range(post_count):
                probs = rng.dirichlet(concentration * base + 1e-3)
                seconds = int(rng.integers(0, 86_400))
                rows.append(
                    {
                        "post_id": f"{user_id}-{day_number:03d}-{post_number}",
                        "user_id": user_id,
                        "created_at": pd.Timestamp(day, tz="UTC") + pd.Timedelta(seconds=seconds),
                        "fused_probs": probs.tolist(),
                        "dt": day.isoformat(),
                    }
                )
    return pd.DataFrame(rows), truth
