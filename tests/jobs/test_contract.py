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
