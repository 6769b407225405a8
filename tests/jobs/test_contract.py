import json
from pathlib import Path

import jsonschema
import pytest

from jobs.contract import Post, Reason, Rejection, normalise_image_path, validate_line

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "jobs" / "schemas" / "post.schema.json"


def line(**overrides) -> str:
    record = {"post_id": "p1", "user_id": "u1", "created_at": "2026-01-15T23:30:00-05:00", "text": "hi", "image": None}
    record.update(overrides)
    return json.dumps({key: value for key, value in record.items() if value != "__drop__"})


def test_valid_post_is_normalised_to_utc_and_dated_by_utc():
    post = validate_line(line())
    assert isinstance(post, Post)
    assert post.created_at.isoformat() == "2026-01-16T04:30:00+00:00"
    assert post.dt == "2026-01-16"  # late evening in New York is the next UTC day


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", Reason.BAD_JSON),
        ("[1, 2]", Reason.NOT_AN_OBJECT),
        (line(user_id="__drop__"), Reason.MISSING_FIELD),
        (line(post_id=17), Reason.WRONG_TYPE),
        (line(text=["a"]), Reason.WRONG_TYPE),
        (line(post_id="  "), Reason.EMPTY_ID),
        (line(created_at="yesterday"), Reason.BAD_TIMESTAMP),
        (line(created_at="2026-01-15T10:00:00"), Reason.TIMESTAMP_WITHOUT_OFFSET),
        (line(text=None, image=None), Reason.EMPTY_POST),
        (line(text="   ", image=None), Reason.EMPTY_POST),
        (line(text="x" * 20_001), Reason.TEXT_TOO_LONG),
        (line(image="../../etc/passwd"), Reason.IMAGE_OUTSIDE_LANDING),
        (line(image="/etc/passwd"), Reason.IMAGE_OUTSIDE_LANDING),
        (line(image="images/../../x.png"), Reason.IMAGE_OUTSIDE_LANDING),
    ],
)
def test_bad_lines_get_a_reason_code(raw, reason):
    result = validate_line(raw)
    assert isinstance(result, Rejection)
    assert result.reason == reason
    assert result.detail


def test_image_paths_stay_inside_the_landing_folder():
    assert normalise_image_path("images/./a.png") == "images/a.png"
    assert normalise_image_path("images/sub/../a.png") == "images/a.png"
    assert normalise_image_path("C:/x.png") is None


def test_json_schema_agrees_with_the_validator_on_structure():
    if not SCHEMA_PATH.exists():
        pytest.skip("schema file not written yet")
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    good = json.loads(line(image="images/a.png"))
    assert not list(validator.iter_errors(good))
    assert isinstance(validate_line(json.dumps(good)), Post)
    for bad in (line(user_id="__drop__"), line(post_id=17), line(text=None, image=None)):
        assert list(validator.iter_errors(json.loads(bad))), bad
        assert isinstance(validate_line(bad), Rejection)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (line(text="caf").replace("caf", "caf\u00e9").encode("latin-1"), Reason.INVALID_UTF8),
        (line(created_at="2999-01-15T10:00:00+00:00"), Reason.IMPLAUSIBLE_TIMESTAMP),
        (line(created_at="0001-01-01T00:00:00+01:00"), Reason.IMPLAUSIBLE_TIMESTAMP),  # no UTC instant
        (line(created_at="2026-01-17T00:00:00Z"), Reason.IMPLAUSIBLE_TIMESTAMP),  # two days after landing
        (line(created_at="1999-12-31T23:59:59Z"), Reason.IMPLAUSIBLE_TIMESTAMP),  # before the earliest date
        ('{"post_id": "p1", "user_id": "u1", "created_at": "2026-01-15T10:00:00Z", "text": "\\ud83d", "image": null}',
         Reason.UNPAIRED_SURROGATE),
        ('{"post_id": ' + "9" * 5000 + "}", Reason.BAD_JSON),  # past Python's integer digit limit
    ],
)
def test_hostile_lines_get_their_own_reason(raw, reason):
    import datetime as dt

    from jobs.contract import PlausibleWindow

    window = PlausibleWindow.for_landing_day(dt.date(2026, 1, 15), dt.date(2000, 1, 1))
    result = validate_line(raw, window)
    assert isinstance(result, Rejection), result
    assert result.reason == reason
    assert len(result.detail) < 400 or reason == Reason.INVALID_UTF8


def test_invalid_utf8_keeps_the_exact_bytes_and_a_bom_is_not_an_error():
    import base64

    from jobs.contract import decode_line

    raw = line(text="caf").replace("caf", "caf\u00e9").encode("latin-1")
    text, detail = decode_line(raw)
    assert "caf\ufffd" in text
    assert base64.b64decode(detail.rsplit(" ", 1)[1]) == raw
    assert isinstance(validate_line(b"\xef\xbb\xbf" + line().encode()), Post)
    assert isinstance(validate_line(line(created_at="2026-01-16T23:59:59Z")), Post)  # the day after: fine
