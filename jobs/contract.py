"""The landing input contract: one JSON post per line, validated into a row or a reason code.

Everything here is pure (no Spark, no file system) so the ingest job and the tests share one
definition of a valid post. ``jobs/schemas/post.schema.json`` documents the same contract as
a JSON Schema; a test keeps the two in agreement.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import posixpath
from typing import Any

REQUIRED_FIELDS: tuple[str, ...] = ("post_id", "user_id", "created_at", "text", "image")
MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 256
# a detail quotes at most this much of an offending value: a 10 MB field must not make a
# 10 MB detail next to the 10 MB raw line that already keeps it
MAX_DETAIL_VALUE_CHARS = 120
# posts may be stamped up to a day after their landing day ends (clock skew, time zones east
# of UTC); later than that the clock is wrong, not the calendar
LATEST_AFTER_LANDING_DAY = dt.timedelta(days=2)
UTF8_BOM = "\ufeff"


class Reason:
    """Quarantine reason codes (stable strings: dashboards and alerts key on them)."""

    BAD_JSON = "bad_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    EMPTY_ID = "empty_id"
    BAD_TIMESTAMP = "bad_timestamp"
    TIMESTAMP_WITHOUT_OFFSET = "timestamp_without_offset"
    EMPTY_POST = "empty_post"
    TEXT_TOO_LONG = "text_too_long"
    IMAGE_OUTSIDE_LANDING = "image_outside_landing"
    IMAGE_MISSING = "image_missing"
    INVALID_UTF8 = "invalid_utf8"
    UNPAIRED_SURROGATE = "unpaired_surrogate"
    IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"

    ALL: tuple[str, ...] = (
        BAD_JSON, NOT_AN_OBJECT, MISSING_FIELD, WRONG_TYPE, EMPTY_ID, BAD_TIMESTAMP,
        TIMESTAMP_WITHOUT_OFFSET, EMPTY_POST, TEXT_TOO_LONG, IMAGE_OUTSIDE_LANDING, IMAGE_MISSING,
        INVALID_UTF8, UNPAIRED_SURROGATE, IMPLAUSIBLE_TIMESTAMP,
    )


@dataclasses.dataclass(frozen=True)
class PlausibleWindow:
    """The instants a post's ``created_at`` may fall in: ``[not_before, not_after)``, both UTC.

    A ``created_at`` outside it is quarantined as ``implausible_timestamp``: a year-2999 or
    year-1 stamp is a broken clock, and (besides meaning nothing) it does not fit the
    nanosecond timestamps of Arrow and pandas.
    """

    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def for_landing_day(cls, landing_date: dt.date, earliest: dt.date) -> PlausibleWindow:
        """From ``earliest`` 00:00 UTC up to the end of the day after the landing day."""
        def midnight(day: dt.date) -> dt.datetime:
            return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)

        return cls(midnight(earliest), midnight(landing_date) + LATEST_AFTER_LANDING_DAY)

    def __contains__(self, instant: dt.datetime) -> bool:
        return self.not_before <= instant < self.not_after


# Without a landing day (tests, scoring files outside the pipeline) only the range every
# timestamp type downstream can hold is enforced.
UNBOUNDED = PlausibleWindow(
    dt.datetime(1678, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2262, 1, 1, tzinfo=dt.timezone.utc)
)


@dataclasses.dataclass(frozen=True)
class Post:
    """A valid post, timestamps normalised to UTC."""

    post_id: str
    user_id: str
    created_at: dt.datetime  # timezone-aware, UTC
    text: str | None
    image: str | None  # normalised path relative to the landing day folder

    @property
    def dt(self) -> str:
        """The UTC calendar date the post belongs to (its partition)."""
        return self.created_at.date().isoformat()


@dataclasses.dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str


def parse_timestamp(value: str) -> dt.datetime:
    """Parse an ISO-8601 timestamp that carries an offset and return it in UTC.

    Raises:
        ValueError: unparsable, or without an offset (a local time without an offset cannot
            be placed on the UTC calendar, so guessing would silently move posts between days).
    """
    parsed = dt.datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise LookupError(value)
    return parsed.astimezone(dt.timezone.utc)


def decode_line(raw_line: bytes | str) -> tuple[str, str | None]:
    """The text of a landing line and, when its bytes are not UTF-8, why not.

    Returns:
        ``(text, None)`` for valid UTF-8 (a leading byte-order mark dropped), else
        ``(text with U+FFFD replacement characters, detail)`` where the detail names the first
        bad byte and carries the exact raw bytes in base64, so nothing of the line is lost.
    """
    if isinstance(raw_line, str):
        return raw_line.removeprefix(UTF8_BOM), None
    raw_bytes = bytes(raw_line)
    try:
        return raw_bytes.decode("utf-8").removeprefix(UTF8_BOM), None
    except UnicodeDecodeError as error:
        detail = (
            f"byte 0x{raw_bytes[error.start]:02x} at offset {error.start} is not UTF-8; "
            f"raw bytes (base64): {base64.b64encode(raw_bytes).decode('ascii')}"
        )
        return raw_bytes.decode("utf-8", errors="replace"), detail


def has_unpaired_surrogate(text: str) -> bool:
    """True when ``text`` holds a lone UTF-16 surrogate (JSON allows ``"\\ud800"``; UTF-8,
    Arrow and Parquet do not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _shown(value: Any) -> str:
    """``repr`` of a value for a detail message, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= MAX_DETAIL_VALUE_CHARS else text[:MAX_DETAIL_VALUE_CHARS] + "...'"


def normalise_image_path(image: str) -> str | None:
    """Return the image path normalised inside the landing folder, or None if it escapes it."""
    if image.startswith(("/", "\\")) or "\\" in image or ":" in image.split("/")[0]:
        return None
    normalised = posixpath.normpath(image)
    if normalised.startswith("..") or normalised in {".", ""}:
        return None
    return normalised


def validate_line(raw_line: str | bytes, window: PlausibleWindow = UNBOUNDED) -> Post | Rejection:
    """Validate one landing line against the contract; never raises, whatever the line holds.

    Args:
        raw_line: one line of a landing ``.jsonl`` file, without its newline, as bytes (the
            job's way: the bytes may not be UTF-8) or as text.
        window: the plausible ``created_at`` range (see :class:`PlausibleWindow`).

    Returns:
        A :class:`Post` when valid, else a :class:`Rejection` with a :class:`Reason` code and a
        human-readable detail. The image file's existence is checked later, by the job, since
        that needs the file system.
    """
    text_line, decode_error = decode_line(raw_line)
    if decode_error is not None:
        return Rejection(Reason.INVALID_UTF8, decode_error)
    try:
        record: Any = json.loads(text_line)
    except (ValueError, RecursionError) as error:
        # ValueError covers JSONDecodeError and integers longer than Python's digit limit
        return Rejection(Reason.BAD_JSON, f"not valid JSON: {str(error)[:MAX_DETAIL_VALUE_CHARS]}")
    if not isinstance(record, dict):
        return Rejection(Reason.NOT_AN_OBJECT, f"expected a JSON object, got {type(record).__name__}")
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if missing:
        return Rejection(Reason.MISSING_FIELD, f"missing field(s): {', '.join(missing)}")
    for name in ("post_id", "user_id", "created_at"):
        if not isinstance(record[name], str):
            return Rejection(Reason.WRONG_TYPE, f"{name} must be a string, got {type(record[name]).__name__}")
    for name in ("text", "image"):
        if record[name] is not None and not isinstance(record[name], str):
            return Rejection(Reason.WRONG_TYPE, f"{name} must be a string or null, got {type(record[name]).__name__}")
    for name in REQUIRED_FIELDS:
        if isinstance(record[name], str) and has_unpaired_surrogate(record[name]):
            return Rejection(Reason.UNPAIRED_SURROGATE, f"{name} holds an unpaired UTF-16 surrogate escape")
    post_id, user_id = record["post_id"].strip(), record["user_id"].strip()
    if not post_id or not user_id or len(post_id) > MAX_ID_CHARS or len(user_id) > MAX_ID_CHARS:
        return Rejection(Reason.EMPTY_ID, f"post_id and user_id must be 1-{MAX_ID_CHARS} characters")
    try:
        created_at = parse_timestamp(record["created_at"])
    except LookupError:
        return Rejection(Reason.TIMESTAMP_WITHOUT_OFFSET, f"created_at has no UTC offset: {_shown(record['created_at'])}")
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC instant in datetime's range
        return Rejection(Reason.IMPLAUSIBLE_TIMESTAMP, f"created_at {_shown(record['created_at'])} is outside every plausible range")
    except ValueError:
        return Rejection(Reason.BAD_TIMESTAMP, f"created_at is not ISO-8601: {_shown(record['created_at'])}")
    if created_at not in window:
        return Rejection(
            Reason.IMPLAUSIBLE_TIMESTAMP,
            f"created_at {created_at.isoformat()} is outside [{window.not_before.isoformat()}, {window.not_after.isoformat()})",
        )
    text, image = record["text"], record["image"]
    if (text is None or not text.strip()) and not image:
        return Rejection(Reason.EMPTY_POST, "post has neither text nor image")
    if text is not None and len(text) > MAX_TEXT_CHARS:
        return Rejection(Reason.TEXT_TOO_LONG, f"text has {len(text)} characters (max {MAX_TEXT_CHARS})")
    normalised_image = None
    if image:
        normalised_image = normalise_image_path(image)
        if normalised_image is None:
            return Rejection(Reason.IMAGE_OUTSIDE_LANDING, f"image path leaves the landing folder: {_shown(image)}")
    return Post(post_id=post_id, user_id=user_id, created_at=created_at, text=text, image=normalised_image)
