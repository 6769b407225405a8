"""The landing input contract: one JSON post per line, validated into a row or a reason code.

Everything here is pure (no Spark, no file system) so the ingest job and the tests share one
definition of a valid post. ``jobs/schemas/post.schema.json`` documents the same contract as
a JSON Schema; a test keeps the two in agreement.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import posixpath
from typing import Any

REQUIRED_FIELDS: tuple[str, ...] = ("post_id", "user_id", "created_at", "text", "image")
MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 256


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

    ALL: tuple[str, ...] = (
        BAD_JSON, NOT_AN_OBJECT, MISSING_FIELD, WRONG_TYPE, EMPTY_ID, BAD_TIMESTAMP,
        TIMESTAMP_WITHOUT_OFFSET, EMPTY_POST, TEXT_TOO_LONG, IMAGE_OUTSIDE_LANDING, IMAGE_MISSING,
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


def normalise_image_path(image: str) -> str | None:
    """Return the image path normalised inside the landing folder, or None if it escapes it."""
    if image.startswith(("/", "\\")) or "\\" in image or ":" in image.split("/")[0]:
        return None
    normalised = posixpath.normpath(image)
    if normalised.startswith("..") or normalised in {".", ""}:
        return None
    return normalised


def validate_line(raw_line: str) -> Post | Rejection:
    """Validate one landing line against the contract.

    Args:
        raw_line: one line of a landing ``.jsonl`` file, without its newline.

    Returns:
        A :class:`Post` when valid, else a :class:`Rejection` with a :class:`Reason` code and a
        human-readable detail. The image file's existence is checked later, by the job, since
        that needs the file system.
    """
    try:
        record: Any = json.loads(raw_line)
    except (json.JSONDecodeError, RecursionError) as error:
        return Rejection(Reason.BAD_JSON, f"not valid JSON: {error}")
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
    post_id, user_id = record["post_id"].strip(), record["user_id"].strip()
    if not post_id or not user_id or len(post_id) > MAX_ID_CHARS or len(user_id) > MAX_ID_CHARS:
        return Rejection(Reason.EMPTY_ID, f"post_id and user_id must be 1-{MAX_ID_CHARS} characters")
    try:
        created_at = parse_timestamp(record["created_at"])
    except LookupError:
        return Rejection(Reason.TIMESTAMP_WITHOUT_OFFSET, f"created_at has no UTC offset: {record['created_at']!r}")
    except ValueError:
        return Rejection(Reason.BAD_TIMESTAMP, f"created_at is not ISO-8601: {record['created_at']!r}")
    text, image = record["text"], record["image"]
    if (text is None or not text.strip()) and not image:
        return Rejection(Reason.EMPTY_POST, "post has neither text nor image")
    if text is not None and len(text) > MAX_TEXT_CHARS:
        return Rejection(Reason.TEXT_TOO_LONG, f"text has {len(text)} characters (max {MAX_TEXT_CHARS})")
    normalised_image = None
    if image:
        normalised_image = normalise_image_path(image)
        if normalised_image is None:
            return Rejection(Reason.IMAGE_OUTSIDE_LANDING, f"image path leaves the landing folder: {image!r}")
    return Post(post_id=post_id, user_id=user_id, created_at=created_at, text=text, image=normalised_image)
