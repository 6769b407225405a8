"""Sample landing data with planted emotion changes: the pipeline's end-to-end fixture.

``emodrift sample --users 40 --days 14 --seed 7`` writes, under the landing folder::

    dt=2026-01-01/posts.jsonl          one JSON post per line (jobs/schemas/post.schema.json)
    dt=2026-01-01/images/<post_id>.png images beside them (no real faces: shapes and noise)
    ground_truth.json                  planted changes per user + planted defects per day

:func:`generate_sample` is the pure core (seed in, in-memory records out, no I/O);
:func:`write_sample` is the edge that puts them on disk. The same seed gives the same bytes.

What is planted:
- each user posts 0-4 times a day, from a home UTC offset, so a post's local date in
  ``created_at`` can differ from the UTC date it lands under; a few posts arrive one day late;
- about half the users switch, on one day, from one dominant emotion (70-80 % of their posts)
  to another; the rest keep one dominant emotion throughout;
- text-only, text+image and a few image-only posts;
- a few malformed lines per landing day (one kind per contract reason code) and exact
  duplicate lines, counted per day in the ground truth so ingest counts can be reconciled.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jobs.sample.pools import FacePool, TextPool, load_face_pool, load_text_pool, render_face_photo
from jobs.sample.texts import compose_post
from jobs.settings import Settings
from models.labels import LABEL_INDEX, LABELS

DEFAULT_START = dt.date(2026, 1, 1)
FACE_PIXELS = 48  # FER faces are 48x48 grey

# reason codes as jobs/contract.py's Reason spells them, so ingest counts reconcile by key
MALFORMED_KINDS: tuple[str, ...] = (
    "bad_json",
    "missing_field",
    "bad_timestamp",
    "timestamp_without_offset",
    "image_outside_landing",
    "image_missing",
    "wrong_type",
)
MALFORMED_PER_DAY = 3  # a rotating window over MALFORMED_KINDS: every kind within 3 days

# home offsets in minutes; the far ones put many local dates on another UTC date
UTC_OFFSETS_MINUTES: tuple[int, ...] = (-480, -300, -240, 0, 60, 120, 330, 540, 600)
POSTS_PER_DAY_PROBABILITIES: tuple[float, ...] = (0.25, 0.30, 0.22, 0.14, 0.09)  # 0..4 posts
LATE_ARRIVAL_PROBABILITY = 0.04
TEXT_ONLY_SHARE, TEXT_AND_IMAGE_SHARE = 0.60, 0.32  # the remaining 8 % are image-only
DOMINANT_SHARE_RANGE = (0.70, 0.80)
# plausible switches; the first label is the user's mood before, the second after
CHANGE_PAIRS: tuple[tuple[str, str], ...] = (
    ("joy", "sadness"), ("anger", "joy"), ("neutral", "fear"), ("sadness", "joy"),
    ("joy", "anger"), ("neutral", "sadness"), ("fear", "neutral"), ("surprise", "disgust"),
    ("neutral", "joy"), ("sadness", "anger"),
)
# stable users lean to the moods most posts have
BASELINE_WEIGHTS: dict[str, float] = {
    "anger": 0.10, "disgust": 0.05, "fear": 0.10, "joy": 0.25, "sadness": 0.15, "surprise": 0.10, "neutral": 0.25,
}
HANDLE_ADJECTIVES = ("quiet", "rusty", "lucky", "sleepy", "brave", "salty", "tiny", "cosmic", "urban", "mellow")
HANDLE_NOUNS = ("otter", "falcon", "teapot", "cactus", "walrus", "comet", "pixel", "badger", "maple", "lantern")


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """Everything needed to draw one synthetic image; :func:`render_image` draws it."""

    width: int
    height: int
    image_format: str  # "PNG" or "JPEG"
    seed: int
    face: bytes | None = None  # a 48x48 grey face (row-major) to paste; None draws a face-free picture

    @property
    def extension(self) -> str:
        """File extension for the format ("png" or "jpg")."""
        return "png" if self.image_format == "PNG" else "jpg"


@dataclasses.dataclass(frozen=True)
class PlantedChange:
    """One user's planted switch of dominant emotion.

    ``strength`` is the total-variation distance between the user's label distribution before
    and after (0 = no change, 1 = disjoint), so a detector's magnitude can be compared with it.
    """

    user_id: str
    changed_at: dt.date  # first UTC date drawn from the new distribution
    from_label: str
    to_label: str
    strength: float
    ramp_days: int = 0  # gradual changes mix the two distributions over this many more days

    @property
    def span(self) -> tuple[dt.date, dt.date]:
        """First and last day of the change: one day when abrupt, the ramp when gradual."""
        return self.changed_at, self.changed_at + dt.timedelta(days=self.ramp_days)


@dataclasses.dataclass(frozen=True)
class SampleUser:
    """One generated user: home offset, planned label distributions and planted change."""

    user_id: str
    utc_offset_minutes: int
    baseline_label: str
    label_distribution_before: tuple[float, ...]  # LABELS order
    label_distribution_after: tuple[float, ...]  # equal to before for stable users
    change: PlantedChange | None
    later_changes: tuple[PlantedChange, ...] = ()  # a second change (ground-truth cohorts only)
    posts_per_day: float | None = None  # mean posts a day (ground-truth cohorts); None: the default mix
    regimes: tuple[tuple[float, ...], ...] = ()  # every regime's distribution, in time order (ground-truth cohorts)


@dataclasses.dataclass(frozen=True)
class SamplePost:
    """A valid post as it will appear on its landing line, plus its planted truth."""

    post_id: str
    user_id: str
    created_at: str  # ISO-8601 with the user's offset, as written
    created_at_utc: dt.datetime
    landing_dt: dt.date  # UTC date, or the day after for a late arrival
    text: str | None
    image: str | None  # relative to the landing day folder
    image_spec: ImageSpec | None
    intended_label: str
    text_source: str | None = None  # the pool's comment id when the text is a real post
    face_source: int | None = None  # the pool's npz row when the image pastes a real face

    def record(self) -> dict[str, Any]:
        """The landing JSON object."""
        return {
            "post_id": self.post_id,
            "user_id": self.user_id,
            "created_at": self.created_at,
            "text": self.text,
            "image": self.image,
        }


@dataclasses.dataclass(frozen=True)
class LandingDay:
    """One landing folder: its lines in file order and what was planted in them."""

    landing_dt: dt.date
    lines: tuple[str, ...]
    valid_posts: int
    late_arrivals: int
    duplicates: int
    malformed: dict[str, int]  # reason code -> lines
    images: tuple[tuple[str, ImageSpec], ...]  # (relative path, spec) of files to write

    def summary(self) -> dict[str, Any]:
        """Counts an ingest run of this day should reproduce."""
        quarantined = sum(self.malformed.values())
        return {
            "landing_dt": self.landing_dt.isoformat(),
            "read": len(self.lines),
            "accepted": self.valid_posts,
            "quarantined": quarantined,
            "duplicates": self.duplicates,
            "late_arrivals": self.late_arrivals,
            "images": len(self.images),
            "quarantine_reasons": dict(sorted(self.malformed.items())),
        }


@dataclasses.dataclass(frozen=True)
class SampleData:
    """A whole generated sample, in memory."""

    seed: int
    start: dt.date
    days: int
    users: tuple[SampleUser, ...]
    posts: tuple[SamplePost, ...]
    landing_days: tuple[LandingDay, ...]

    sources: dict[str, str] | None = None  # pool files when texts and faces are real

    @property
    def changes(self) -> tuple[PlantedChange, ...]:
        """The planted changes, in user order (a user's changes in time order)."""
        return tuple(
            change for user in self.users if user.change is not None for change in (user.change, *user.later_changes)
        )

    def ground_truth(self) -> dict[str, Any]:
        """The JSON-ready ground truth: users, planted changes, per-day planted defects."""
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
            "labels": list(LABELS),
            "strength": "total-variation distance between the label distributions before and after",
            "users": [
                {
                    "user_id": user.user_id,
                    "utc_offset_minutes": user.utc_offset_minutes,
                    "baseline_label": user.baseline_label,
                    "changed": user.change is not None,
                    "change_count": (user.change is not None) + len(user.later_changes),
                    **({"posts_per_day": user.posts_per_day} if user.posts_per_day is not None else {}),
                    "label_distribution_before": [round(value, 4) for value in user.label_distribution_before],
                    "label_distribution_after": [round(value, 4) for value in user.label_distribution_after],
                    "posts": sum(1 for post in self.posts if post.user_id == user.user_id),
                }
                for user in self.users
            ],
            "changes": [
                {
                    "user_id": change.user_id,
                    "changed_at": change.changed_at.isoformat(),
                    "from_label": change.from_label,
                    "to_label": change.to_label,
                    "strength": change.strength,
                    "ramp_days": change.ramp_days,
                    "ended_at": change.span[1].isoformat(),
                }
                for change in self.changes
            ],
            "landing_days": [day.summary() for day in self.landing_days],
            **(self._pool_truth() if self.sources else {}),
        }

    def _pool_truth(self) -> dict[str, Any]:
        """Where real texts and faces came from, and each post's planted label and sources."""
        return {
            "sources": self.sources,
            "posts": {
                post.post_id: {"label": post.intended_label, "text": post.text_source, "face": post.face_source}
                for post in self.posts
            },
        }


def _label_distribution(dominant: str, rng: np.random.Generator) -> np.ndarray:
    """A distribution over LABELS with ``dominant`` at 70-80 % and the rest spread at random."""
    share = rng.uniform(*DOMINANT_SHARE_RANGE)
    rest = rng.dirichlet(np.full(len(LABELS) - 1, 2.0)) * (1.0 - share)
    distribution = np.insert(rest, LABEL_INDEX[dominant], share)
    return distribution / distribution.sum()


def _draw_label(distribution: tuple[float, ...], drawn: int, dominant_drawn: int, rng: np.random.Generator) -> str:
    """Draw a post's label, nudged toward the planned dominant share.

    Independent draws leave a user with 7 posts and a 75 % mood showing it in only 2 of them
    about once in 80 users; the nudge keeps every phase close to its plan, so the ground truth
    describes what a reader of the posts would actually see.
    """
    probabilities = np.asarray(distribution)
    dominant = int(np.argmax(probabilities))
    share = probabilities[dominant]
    deficit = share * (drawn + 1) - dominant_drawn  # > share when behind plan, < share when ahead
    if rng.random() < float(np.clip(deficit, 0.05, 0.98)):
        return LABELS[dominant]
    rest = probabilities.copy()
    rest[dominant] = 0.0
    return LABELS[int(rng.choice(len(LABELS), p=rest / rest.sum()))]


def _format_created_at(moment_utc: dt.datetime, offset_minutes: int, rng: np.random.Generator) -> str:
    """ISO-8601 in the user's offset; UTC users sometimes write 'Z', as many clients do."""
    local = moment_utc.astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    text = local.isoformat(timespec="seconds")
    if offset_minutes == 0 and rng.random() < 0.5:
        text = text.replace("+00:00", "Z")
    return text


def _make_users(users: int, days: int, start: dt.date, rng: np.random.Generator) -> list[SampleUser]:
    labels = list(BASELINE_WEIGHTS)
    weights = np.array(list(BASELINE_WEIGHTS.values()))
    # a change needs days on both sides; with fewer than 4 days every user is stable
    changed_count = (users + 1) // 2 if days >= 4 else 0
    changed_indices = set(rng.permutation(users)[:changed_count].tolist())
    margin = max(1, days // 4)
    # deal the pairs like cards, not independent draws: a cohort of 20 changes then covers
    # every pair twice instead of clumping six users on one pair and none on others
    pair_order = rng.permutation(len(CHANGE_PAIRS)).tolist()
    changes_dealt = 0
    result: list[SampleUser] = []
    for index in range(users):
        handle = (
            f"{HANDLE_ADJECTIVES[int(rng.integers(len(HANDLE_ADJECTIVES)))]}_"
            f"{HANDLE_NOUNS[int(rng.integers(len(HANDLE_NOUNS)))]}_{index:03d}"
        )
        offset = UTC_OFFSETS_MINUTES[int(rng.integers(len(UTC_OFFSETS_MINUTES)))]
        if index in changed_indices:
            from_label, to_label = CHANGE_PAIRS[pair_order[changes_dealt % len(CHANGE_PAIRS)]]
            changes_dealt += 1
            before = _label_distribution(from_label, rng)
            after = _label_distribution(to_label, rng)
            change_day = int(rng.integers(margin, days - margin + 1)) if days - margin > margin else days // 2
            strength = round(float(0.5 * np.abs(before - after).sum()), 4)
            change = PlantedChange(handle, start + dt.timedelta(days=change_day), from_label, to_label, strength)
            baseline = from_label
        else:
            baseline = labels[int(rng.choice(len(labels), p=weights / weights.sum()))]
            before = after = _label_distribution(baseline, rng)
            change = None
        result.append(
            SampleUser(handle, offset, baseline, tuple(before.tolist()), tuple(after.tolist()), change)
        )
    return result


def _sample_post(
    post_id: str,
    user: SampleUser,
    moment: dt.datetime,
    last_day: dt.date,
    text: str | None,
    image_spec: ImageSpec | None,
    label: str,
    rng: np.random.Generator,
    text_source: str | None = None,
    face_source: int | None = None,
) -> SamplePost:
    """A post at ``moment`` (UTC), landing a day late now and then, written in the user's offset."""
    day = moment.date()
    late = day < last_day and rng.random() < LATE_ARRIVAL_PROBABILITY
    return SamplePost(
        post_id=post_id,
        user_id=user.user_id,
        created_at=_format_created_at(moment, user.utc_offset_minutes, rng),
        created_at_utc=moment,
        landing_dt=day + dt.timedelta(days=1) if late else day,
        text=text,
        image=f"images/{post_id}.{image_spec.extension}" if image_spec is not None else None,
        image_spec=image_spec,
        intended_label=label,
        text_source=text_source,
        face_source=face_source,
    )


def _make_posts(
    users: list[SampleUser], days: int, start: dt.date, seed: int, rng: np.random.Generator
) -> list[SamplePost]:
    posts: list[SamplePost] = []
    last_day = start + dt.timedelta(days=days - 1)
    counter = 0
    phase_counts: dict[tuple[str, bool], tuple[int, int]] = {}  # (user, after change) -> (posts, dominant)
    for day_index in range(days):
        day = start + dt.timedelta(days=day_index)
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        for user in users:
            after_change = user.change is not None and day >= user.change.changed_at
            distribution = user.label_distribution_after if after_change else user.label_distribution_before
            count = int(rng.choice(len(POSTS_PER_DAY_PROBABILITIES), p=POSTS_PER_DAY_PROBABILITIES))
            for second in sorted(rng.integers(0, 86_400, size=count).tolist()):
                counter += 1
                post_id = f"p{seed}-{counter:06d}"
                moment = midnight + dt.timedelta(seconds=second)
                phase = (user.user_id, after_change)
                label = _draw_label(distribution, *phase_counts.get(phase, (0, 0)), rng)
                drawn, dominant_drawn = phase_counts.get(phase, (0, 0))
                phase_counts[phase] = (drawn + 1, dominant_drawn + (label == LABELS[int(np.argmax(distribution))]))
                kind = rng.random()
                has_text = kind < TEXT_ONLY_SHARE + TEXT_AND_IMAGE_SHARE
                has_image = kind >= TEXT_ONLY_SHARE
                # the text draws from its own generator, keyed by (seed, post number): editing
                # the sentence bank then changes texts only, never who posts when
                text = compose_post(label, np.random.default_rng((seed, counter))) if has_text else None
                image_spec = None
                if has_image:
                    image_spec = ImageSpec(
                        width=int(rng.integers(64, 321)),
                        height=int(rng.integers(64, 321)),
                        image_format="PNG" if rng.random() < 0.6 else "JPEG",
                        seed=int(rng.integers(0, 2**31 - 1)),
                    )
                posts.append(_sample_post(post_id, user, moment, last_day, text, image_spec, label, rng))
    return posts


# Ground-truth cohorts (``--text-pool`` / ``--face-pool``): a mix a detector must hold on.
COHORT_CHANGE_COUNT_SHARES: tuple[float, ...] = (0.35, 0.40, 0.25)  # users with 0, 1, 2 changes
GRADUAL_SHARE = 0.5
RAMP_DAYS_RANGE = (3, 10)  # a gradual change spreads over this many days
POSTS_PER_DAY_RANGE = (0.3, 15.0)  # drawn log-uniformly: light and heavy posters
IMAGE_ONLY_DAY_PROBABILITY = 0.06  # a day on which every post is a photo without text
POOL_TEXT_ONLY_SHARE, POOL_TEXT_AND_IMAGE_SHARE = 0.75, 0.17  # the remaining 8 % are image-only
EDGE_DAYS = 7  # no change starts this close to the first or last day: both sides need posts
SECOND_CHANGE_GAP = 10  # days between the end of a first change and the start of a second


def _make_regime_users(users: int, days: int, start: dt.date, rng: np.random.Generator) -> list[SampleUser]:
    """Users with 0, 1 or 2 planted changes, abrupt or gradual, posting 0.3-15 times a day."""
    result: list[SampleUser] = []
    pair_order = rng.permutation(len(CHANGE_PAIRS)).tolist()
    changes_dealt = 0
    for index in range(users):
        handle = (
            f"{HANDLE_ADJECTIVES[int(rng.integers(len(HANDLE_ADJECTIVES)))]}_"
            f"{HANDLE_NOUNS[int(rng.integers(len(HANDLE_NOUNS)))]}_{index:03d}"
        )
        offset = UTC_OFFSETS_MINUTES[int(rng.integers(len(UTC_OFFSETS_MINUTES)))]
        rate = float(np.exp(rng.uniform(np.log(POSTS_PER_DAY_RANGE[0]), np.log(POSTS_PER_DAY_RANGE[1]))))
        wanted = int(rng.choice(len(COHORT_CHANGE_COUNT_SHARES), p=COHORT_CHANGE_COUNT_SHARES))
        changes: list[PlantedChange] = []
        distributions: list[np.ndarray] = []
        earliest = EDGE_DAYS
        for number in range(wanted):
            ramp = int(rng.integers(RAMP_DAYS_RANGE[0], RAMP_DAYS_RANGE[1] + 1)) if rng.random() < GRADUAL_SHARE else 0
            # leave room for one more abrupt change when one follows
            reserve = (number + 1 < wanted) * (SECOND_CHANGE_GAP + EDGE_DAYS)
            room = days - EDGE_DAYS - reserve - earliest  # latest start of an abrupt change, minus earliest
            if room < 0:
                break
            if ramp > room:  # a short history fits a shorter ramp, or an abrupt change
                ramp = ramp if ramp <= room else (room if room >= RAMP_DAYS_RANGE[0] else 0)
            latest = earliest + room - ramp
            if changes:
                from_label = changes[-1].to_label
                to_label = LABELS[int(rng.choice([i for i in range(len(LABELS)) if LABELS[i] != from_label]))]
            else:
                from_label, to_label = CHANGE_PAIRS[pair_order[changes_dealt % len(CHANGE_PAIRS)]]
                changes_dealt += 1
                distributions.append(_label_distribution(from_label, rng))
            distributions.append(_label_distribution(to_label, rng))
            day = int(rng.integers(earliest, latest + 1))
            strength = round(float(0.5 * np.abs(distributions[-2] - distributions[-1]).sum()), 4)
            changes.append(
                PlantedChange(handle, start + dt.timedelta(days=day), from_label, to_label, strength, ramp)
            )
            earliest = day + ramp + SECOND_CHANGE_GAP
        if not changes:
            baseline = str(rng.choice(list(BASELINE_WEIGHTS), p=np.array(list(BASELINE_WEIGHTS.values()))))
            distributions = [_label_distribution(baseline, rng)]
        result.append(
            SampleUser(
                handle, offset, changes[0].from_label if changes else baseline,
                tuple(distributions[0].tolist()), tuple(distributions[-1].tolist()),
                changes[0] if changes else None, tuple(changes[1:]), round(rate, 3),
                tuple(tuple(distribution.tolist()) for distribution in distributions),
            )
        )
    return result


def _regime_distribution(user: SampleUser, day: dt.date) -> np.ndarray:
    """The user's label distribution on ``day``: linear mixes across gradual ramps."""
    changes = [user.change, *user.later_changes] if user.change is not None else []
    regimes = [np.asarray(distribution) for distribution in user.regimes]
    current = regimes[0]
    for position, change in enumerate(changes):
        elapsed = (day - change.changed_at).days
        if elapsed < 0:
            break
        weight = min(1.0, (elapsed + 1) / (change.ramp_days + 1))
        current = (1.0 - weight) * current + weight * regimes[position + 1]
    return current / current.sum()


def _make_regime_posts(
    users: list[SampleUser],
    days: int,
    start: dt.date,
    seed: int,
    rng: np.random.Generator,
    text_pool: TextPool | None,
    face_pool: FacePool | None,
) -> list[SamplePost]:
    """Posts of a ground-truth cohort: labels drawn from each day's regime, Poisson counts,
    real texts and faces from the pools (the generator's own sentences and pictures when a
    pool is not given)."""
    posts: list[SamplePost] = []
    last_day = start + dt.timedelta(days=days - 1)
    counter = 0
    for day_index in range(days):
        day = start + dt.timedelta(days=day_index)
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        for user in users:
            distribution = _regime_distribution(user, day)
            count = int(rng.poisson(user.posts_per_day))
            image_only_day = rng.random() < IMAGE_ONLY_DAY_PROBABILITY
            for second in sorted(rng.integers(0, 86_400, size=count).tolist()):
                counter += 1
                post_id = f"p{seed}-{counter:06d}"
                label = LABELS[int(rng.choice(len(LABELS), p=distribution))]
                kind = 1.0 if image_only_day else rng.random()
                has_text = kind < POOL_TEXT_ONLY_SHARE + POOL_TEXT_AND_IMAGE_SHARE
                has_image = kind >= POOL_TEXT_ONLY_SHARE
                # texts and faces draw from generators keyed by (seed, post number), as above
                content_rng = np.random.default_rng((seed, counter))
                text = text_source = None
                if has_text and text_pool is not None:
                    text_source, text = text_pool.draw(label, content_rng)
                elif has_text:
                    text = compose_post(label, content_rng)
                image_spec = None
                face_source = None
                if has_image:
                    face = None
                    if face_pool is not None:
                        face_source, pixels = face_pool.draw(label, content_rng)
                        face = pixels.tobytes()
                    image_spec = ImageSpec(
                        width=int(rng.integers(64, 321)),
                        height=int(rng.integers(64, 321)),
                        image_format="JPEG" if face is not None or rng.random() >= 0.6 else "PNG",
                        seed=int(rng.integers(0, 2**31 - 1)),
                        face=face,
                    )
                moment = midnight + dt.timedelta(seconds=second)
                posts.append(
                    _sample_post(post_id, user, moment, last_day, text, image_spec, label, rng, text_source, face_source)
                )
    return posts


def _malformed_line(kind: str, post_id: str, user_id: str, day: dt.date, rng: np.random.Generator) -> str:
    """One line that breaks the landing contract in exactly the way ``kind`` names."""
    moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc) + dt.timedelta(
        seconds=int(rng.integers(0, 86_400))
    )
    record: dict[str, Any] = {
        "post_id": post_id,
        "user_id": user_id,
        "created_at": moment.isoformat(timespec="seconds"),
        "text": "this line is one of the planted defects",
        "image": None,
    }
    if kind == "bad_json":
        return json.dumps(record)[:-20]  # cut mid-value, as a crashed writer leaves it
    if kind == "missing_field":
        del record["created_at"]
    elif kind == "bad_timestamp":
        record["created_at"] = ("yesterday at 5pm", f"{day.year}-13-45T25:61:00+00:00", "")[int(rng.integers(3))]
    elif kind == "timestamp_without_offset":
        record["created_at"] = moment.replace(tzinfo=None).isoformat(timespec="seconds")
    elif kind == "image_outside_landing":
        record["image"] = "../../etc/passwd"
    elif kind == "image_missing":
        record["image"] = f"images/{post_id}.png"  # never written
    elif kind == "wrong_type":
        record["user_id"] = int(rng.integers(1, 100_000))
    else:
        raise ValueError(f"unknown malformed kind {kind!r}; known: {', '.join(MALFORMED_KINDS)}")
    return json.dumps(record, ensure_ascii=False)


def _make_landing_days(
    posts: list[SamplePost], users: list[SampleUser], days: int, start: dt.date, seed: int, rng: np.random.Generator
) -> list[LandingDay]:
    result: list[LandingDay] = []
    for day_index in range(days):
        day = start + dt.timedelta(days=day_index)
        day_posts = [post for post in posts if post.landing_dt == day]
        lines = [json.dumps(post.record(), ensure_ascii=False) for post in day_posts]
        duplicates = min(len(lines), int(rng.integers(1, 3)))
        lines += [lines[int(index)] for index in rng.choice(len(lines), size=duplicates, replace=False)] if lines else []
        malformed: dict[str, int] = {}
        for offset in range(MALFORMED_PER_DAY):
            kind = MALFORMED_KINDS[(day_index * MALFORMED_PER_DAY + offset) % len(MALFORMED_KINDS)]
            user_id = users[int(rng.integers(len(users)))].user_id if users else "nobody"
            lines.append(_malformed_line(kind, f"p{seed}-bad-{day:%Y%m%d}-{offset}", user_id, day, rng))
            malformed[kind] = malformed.get(kind, 0) + 1
        order = rng.permutation(len(lines))
        result.append(
            LandingDay(
                landing_dt=day,
                lines=tuple(lines[int(index)] for index in order),
                valid_posts=len(day_posts),
                late_arrivals=sum(1 for post in day_posts if post.created_at_utc.date() != day),
                duplicates=duplicates,
                malformed=malformed,
                images=tuple((post.image, post.image_spec) for post in day_posts if post.image_spec is not None),
            )
        )
    return result


def generate_sample(
    users: int,
    days: int,
    seed: int,
    start: dt.date = DEFAULT_START,
    *,
    text_pool: TextPool | None = None,
    face_pool: FacePool | None = None,
) -> SampleData:
    """Generate a sample in memory; the same arguments always give the same sample.

    Args:
        users: number of users (>= 1).
        days: number of landing days (>= 1), starting at ``start``.
        seed: seed of the one random generator everything is drawn from.
        start: first landing day (a UTC date).
        text_pool, face_pool: real labelled texts / held-out faces. Giving either makes a
            ground-truth cohort (users with 0, 1 or 2 changes, abrupt or gradual over 3-10
            days, 0.3-15 posts a day, image-only days) whose posts use the pools.

    Returns:
        The users with their planted changes, the valid posts, and each landing day's lines
        (valid posts, duplicates and malformed lines, shuffled) with its planted counts.
    """
    if users < 1:
        raise ValueError(f"users must be >= 1, got {users}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    rng = np.random.default_rng(seed)
    sources = None
    if text_pool is None and face_pool is None:
        sample_users = _make_users(users, days, start, rng)
        posts = _make_posts(sample_users, days, start, seed, rng)
    else:
        sample_users = _make_regime_users(users, days, start, rng)
        posts = _make_regime_posts(sample_users, days, start, seed, rng, text_pool, face_pool)
        sources = {
            "text_pool": text_pool.source if text_pool is not None else None,
            "face_pool": face_pool.source if face_pool is not None else None,
        }
    landing_days = _make_landing_days(posts, sample_users, days, start, seed, rng)
    return SampleData(seed, start, days, tuple(sample_users), tuple(posts), tuple(landing_days), sources)


def render_image(spec: ImageSpec) -> bytes:
    """Draw a face-free picture (gradient, shapes, noise) and encode it; deterministic per spec.

    A spec that carries a face pastes it into a photo instead (:func:`render_face_photo`).
    """
    from PIL import Image, ImageDraw

    if spec.face is not None:
        face = np.frombuffer(spec.face, dtype=np.uint8).reshape(FACE_PIXELS, FACE_PIXELS)
        return render_face_photo(face, spec.seed, spec.image_format)

    rng = np.random.default_rng(spec.seed)
    top, bottom = rng.integers(0, 256, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, spec.height)[:, None, None]
    pixels = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (spec.height, spec.width, 3)).copy()
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 8))):
        x0, x1 = sorted(rng.integers(0, spec.width, size=2).tolist())
        y0, y1 = sorted(rng.integers(0, spec.height, size=2).tolist())
        colour = tuple(int(value) for value in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    noisy = np.asarray(image, dtype=np.int16) + rng.integers(-12, 13, size=(spec.height, spec.width, 3))
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=spec.image_format, **({"quality": 85} if spec.image_format == "JPEG" else {}))
    return buffer.getvalue()


def write_sample(sample: SampleData, landing: Path, progress: Callable[[str], None] = print) -> Path:
    """Write a generated sample under ``landing``; returns the ground-truth file's path.

    Files are overwritten, never deleted: a rerun with the same seed rewrites the same bytes.
    """
    landing.mkdir(parents=True, exist_ok=True)
    for day in sample.landing_days:
        folder = landing / f"dt={day.landing_dt.isoformat()}"
        (folder / "images").mkdir(parents=True, exist_ok=True)
        for relative_path, spec in day.images:
            (folder / relative_path).write_bytes(render_image(spec))
        (folder / "posts.jsonl").write_text("".join(line + "\n" for line in day.lines), encoding="utf-8")
        summary = day.summary()
        progress(
            f"{folder}: {summary['read']} lines ({summary['accepted']} posts, {summary['late_arrivals']} late, "
            f"{summary['duplicates']} duplicates, {summary['quarantined']} malformed), {summary['images']} images"
        )
    ground_truth = landing / "ground_truth.json"
    ground_truth.write_text(json.dumps(sample.ground_truth(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return ground_truth


def main(argv: list[str] | None = None) -> int:
    """``emodrift sample``: generate and write sample landing folders plus their ground truth."""
    parser = argparse.ArgumentParser(prog="emodrift sample", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40, help="number of users (default 40)")
    parser.add_argument("--days", type=int, default=14, help="number of landing days (default 14)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=DEFAULT_START,
                        help=f"first landing day, YYYY-MM-DD (default {DEFAULT_START})")
    parser.add_argument("--text-pool", type=Path, default=None,
                        help="GoEmotions Ekman TSV (labels.txt beside it; use the dev split): planted regimes "
                        "emit its single-label texts, and the cohort becomes a ground-truth cohort")
    parser.add_argument("--face-pool", type=Path, default=None,
                        help="FER npz: planted regimes paste its faces, only those the face model held out "
                        "for validation, into photos")
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings.from_args(args)
    try:
        text_pool = load_text_pool(args.text_pool) if args.text_pool is not None else None
        face_pool = load_face_pool(args.face_pool, settings.image_model) if args.face_pool is not None else None
        sample = generate_sample(args.users, args.days, args.seed, args.start, text_pool=text_pool, face_pool=face_pool)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    ground_truth = write_sample(sample, settings.landing)
    print(
        f"wrote {len(sample.posts)} posts from {len(sample.users)} users over {sample.days} days, "
        f"{len(sample.changes)} planted changes; ground truth: {ground_truth}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
