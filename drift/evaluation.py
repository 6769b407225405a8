"""Scoring flagged transitions against planted changes: the ground-truth benchmark's rules.

Pure pandas/numpy, shared by ``benchmarks/drift_quality.py`` and its tests.

Rules:
- a planted change spans ``[changed_at, ended_at]`` (one day when abrupt, the ramp when
  gradual); a flagged transition of the same user **matches** it when its ``changed_at`` lies
  within ``margin_days`` of that span. Matching is one-to-one (each change and each flag is
  used once, nearest first), so flagging one change twice costs precision;
- **delay** of a planted change: days from the middle of its span to the first nightly
  snapshot (``dt``) holding a matching transition; changes never matched have no delay;
- **false alarms per 100 stable user-months**: flags on users without any planted change, per
  100 x (stable users x days / 30).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 30.0


@dataclasses.dataclass(frozen=True)
class Planted:
    """One planted change: the user and the first and last day of its span."""

    user_id: str
    changed_at: dt.date
    ended_at: dt.date

    @property
    def middle(self) -> dt.date:
        """The day halfway through the span (the change day when abrupt)."""
        return self.changed_at + dt.timedelta(days=(self.ended_at - self.changed_at).days // 2)

    def distance(self, day: dt.date) -> int:
        """Days from ``day`` to the span (0 inside it)."""
        if day < self.changed_at:
            return (self.changed_at - day).days
        return max(0, (day - self.ended_at).days)


@dataclasses.dataclass(frozen=True)
class Quality:
    """Precision, recall, F1 and false alarms of one snapshot's transitions."""

    flagged: int
    planted: int
    matched: int
    precision: float
    recall: float
    f1: float
    stable_false_alarms: int
    false_alarms_per_100_stable_user_months: float


def planted_from_truth(truth: dict) -> list[Planted]:
    """Planted changes from a sample's ``ground_truth.json`` (abrupt ones end where they start)."""
    return [
        Planted(
            change["user_id"],
            dt.date.fromisoformat(change["changed_at"]),
            dt.date.fromisoformat(change.get("ended_at", change["changed_at"])),
        )
        for change in truth["changes"]
    ]


def match(planted: list[Planted], flagged_days: list[dt.date], margin_days: int) -> list[tuple[int, int]]:
    """One user's one-to-one matches, as (planted index, flagged index), nearest pairs first."""
    pairs = sorted(
        (change.distance(day), change_index, flag_index)
        for change_index, change in enumerate(planted)
        for flag_index, day in enumerate(flagged_days)
        if change.distance(day) <= margin_days
    )
    used_changes: set[int] = set()
    used_flags: set[int] = set()
    result: list[tuple[int, int]] = []
    for _, change_index, flag_index in pairs:
        if change_index in used_changes or flag_index in used_flags:
            continue
        used_changes.add(change_index)
        used_flags.add(flag_index)
        result.append((change_index, flag_index))
    return result


def _by_user(planted: Iterable[Planted]) -> dict[str, list[Planted]]:
    grouped: dict[str, list[Planted]] = {}
    for change in planted:
        grouped.setdefault(change.user_id, []).append(change)
    return grouped


def _days(values: Iterable[object]) -> list[dt.date]:
    return [value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)) for value in values]


def snapshot_quality(
    transitions: pd.DataFrame, planted: list[Planted], users: list[str], days: int, margin_days: int = 3
) -> Quality:
    """Score one snapshot's transitions (``user_id``, ``changed_at``) against the planted changes.

    Args:
        transitions: flagged rows of one snapshot.
        planted: every planted change of the cohort.
        users: every user of the cohort (stable users are those without a planted change).
        days: days the cohort covers (for user-months).
        margin_days: how far from a change's span a flag still counts as finding it.
    """
    by_user = _by_user(planted)
    matched = 0
    stable_flags = 0
    for user_id, rows in transitions.groupby("user_id"):
        changes = by_user.get(str(user_id), [])
        if not changes:
            stable_flags += len(rows)
            continue
        matched += len(match(changes, _days(rows["changed_at"]), margin_days))
    flagged, total = len(transitions), len(planted)
    precision = matched / flagged if flagged else 0.0
    recall = matched / total if total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    stable_users = sum(1 for user_id in users if user_id not in by_user)
    user_months = stable_users * days / DAYS_PER_MONTH
    return Quality(
        flagged, total, matched, precision, recall, f1, stable_flags,
        100.0 * stable_flags / user_months if user_months else math.nan,
    )


def detection_delays(snapshots: pd.DataFrame, planted: list[Planted], margin_days: int = 3) -> list[int | None]:
    """Per planted change (input order): days from the middle of its span to the first
    snapshot that flags it, or None when no snapshot does.

    Args:
        snapshots: transitions of every nightly snapshot, with ``dt`` (the snapshot's as-of
            date), ``user_id`` and ``changed_at``.
    """
    first_seen: dict[int, dt.date] = {}
    index_of = {id(change): position for position, change in enumerate(planted)}
    by_user = _by_user(planted)
    for snapshot_day, rows in sorted(snapshots.groupby("dt"), key=lambda item: str(item[0])):
        as_of = dt.date.fromisoformat(str(snapshot_day))
        for user_id, user_rows in rows.groupby("user_id"):
            changes = by_user.get(str(user_id), [])
            for change_index, _ in match(changes, _days(user_rows["changed_at"]), margin_days):
                first_seen.setdefault(index_of[id(changes[change_index])], as_of)
    return [
        (first_seen[position] - change.middle).days if position in first_seen else None
        for position, change in enumerate(planted)
    ]


def calibration_table(confidences: np.ndarray, correct: np.ndarray, edges: tuple[float, ...]) -> pd.DataFrame:
    """Share of proposals that are true per confidence bin (``[edge_i, edge_i+1)``, last closed)."""
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    rows = []
    for low, high in zip(edges, edges[1:]):
        inside = (confidences >= low) & ((confidences < high) | ((high == edges[-1]) & (confidences <= high)))
        rows.append(
            {
                "confidence_from": low,
                "confidence_to": high,
                "proposals": int(inside.sum()),
                "share_true": float(correct[inside].mean()) if inside.any() else math.nan,
                "mean_confidence": float(confidences[inside].mean()) if inside.any() else math.nan,
            }
        )
    return pd.DataFrame(rows)


def pelt_change_points(signal: np.ndarray, penalty: float, min_size: int = 2) -> list[int]:
    """Penalised optimal partitioning with the L2 cost (what PELT computes, without its
    pruning: the daily series here are at most a few hundred days): indices where new
    segments start. A plain baseline for the benchmark; ``signal`` is (n,) or (n, d).
    """
    signal = np.asarray(signal, dtype=np.float64).reshape(len(signal), -1)
    n = len(signal)
    cumulative = np.vstack([np.zeros(signal.shape[1]), np.cumsum(signal, axis=0)])
    squares = np.concatenate([[0.0], np.cumsum(np.sum(signal**2, axis=1))])

    def cost(start: int, end: int) -> float:
        total = cumulative[end] - cumulative[start]
        return float(squares[end] - squares[start] - total @ total / (end - start))

    best = np.full(n + 1, np.inf)
    best[0] = -penalty
    previous = np.zeros(n + 1, dtype=int)
    for end in range(min_size, n + 1):
        for start in range(0, end - min_size + 1):
            if np.isfinite(best[start]):
                value = best[start] + cost(start, end) + penalty
                if value < best[end]:
                    best[end], previous[end] = value, start
    points: list[int] = []
    end = n
    while end > 0 and np.isfinite(best[end]):
        end = int(previous[end])
        if end > 0:
            points.append(end)
    return sorted(points)
